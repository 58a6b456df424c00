"""Property tests over hypothesis-drawn specs (strategies from ``parity.running.strategies``)."""
import pytest
from hypothesis_profiles import given

from parity import adapters
from parity.running.registry import Case
from parity.running.runner import run_case
from parity.core.spec import ConvSpec
from parity.running.strategies import invalid_specs, valid_specs

INSTALLED = adapters.installed()


@given(valid_specs())
def test_every_valid_spec_runs_on_every_installed_backend(spec):
    """No harness crash and no undeclared refusal: each result passes, is a declared skip or a declared known
    deviation of its framework, or is ``insensitive`` (a tiny drawn case whose mutants the bound cannot tell
    apart is reported so, with its reason; the built-in default tier has none)."""
    results = run_case(Case(spec.slug(), spec), INSTALLED)
    assert len(results) == len(INSTALLED) * (len(INSTALLED) + 1) // 2
    wrong = [r for r in results if r.status not in ("pass", "skip", "known", "insensitive") or not (r.status == "pass" or r.reason)]
    assert not wrong, f"{spec!r}: " + "; ".join(f"{r.backend} vs {r.against}: {r.status}: {r.reason}" for r in wrong)


@given(valid_specs())
def test_valid_specs_round_trip_through_their_dict(spec):
    assert ConvSpec(**spec.as_dict()) == spec
    assert spec.result_shape == {"output": spec.output_shape, "grad_input": spec.input_shape,
                                 "grad_weight": spec.kernel_shape}[spec.quantity]


@given(invalid_specs())
def test_every_invalid_spec_raises_naming_the_field(invalid):
    kwargs, field = invalid
    with pytest.raises(ValueError) as info:
        ConvSpec(**kwargs)
    message = str(info.value)
    assert field in message and "\n" not in message
