"""Memory: a case whose operands alone exceed the budget is refused up front, with the estimate."""
import math

from parity.running.registry import Case
from parity.core.limits import memory_refusal
from parity.running.runner import CaseRun
from parity.core.spec import ConvSpec

HUGE = ConvSpec(spatial=(512, 512, 256), kernel=3, in_channels=16, out_channels=16, batch=2)


def test_refusal_names_the_estimate_and_the_budget():
    need = 8 * sum(math.prod(s) for s in (HUGE.input_shape, HUGE.kernel_shape, HUGE.output_shape)) / 2**30
    reason = memory_refusal(HUGE, budget_gib=8)
    assert f"{need:.1f} GiB" in reason and "8 GiB" in reason and "PARITY_MEMORY_GIB" in reason
    assert memory_refusal(HUGE, budget_gib=64) == ""


def test_refused_case_is_a_skip_and_never_generates_inputs():
    run = CaseRun(Case("huge", HUGE))
    result = run.against_reference("numpy")
    assert result.status == "skip" and "refused" in result.reason
    assert "inputs" not in run.__dict__ and "reference" not in run.__dict__  # cached_property never ran


def test_gradient_refusal_counts_the_cotangent():
    output_only = memory_refusal(HUGE, budget_gib=0.001)
    gradient = memory_refusal(ConvSpec(**{**HUGE.as_dict(), "quantity": "grad_input"}), budget_gib=0.001)
    assert float(gradient.split()[4]) > float(output_only.split()[4])
