"""OpenVINO's CPU plugin findings that hypothesis found (tests/test_properties.py), pinned with their figures."""
import numpy as np
import pytest

import parity
from parity import adapters
from parity.core.spec import ConvSpec
from parity.running.registry import Case
from parity.running.runner import run_case


def _openvino():
    pytest.importorskip("openvino")
    from parity.adapters._openvino import _openvino as imported  # with its telemetry switched off

    return imported()


@pytest.mark.parametrize("spatial, crop", [((2,), ((1, 0),)), ((3,), ((1, 0),)), ((2, 2), ((1, 0), (1, 0)))])
def test_finding_kernel_1_transposed_conv_ignores_pads_begin_when_the_output_keeps_the_input_size(spatial, crop):
    """ConvolutionBackpropData, kernel 1, stride 1, pads_begin 1, output_padding 1: the output is as long as the
    input and should be the input shifted by one (the first element cropped, a zero at the end); OpenVINO
    2026.4.1 returns the input unshifted, exactly (exact small integers, so no rounding is involved)."""
    openvino, opset = _openvino()
    rank = len(spatial)
    x = np.arange(1, np.prod(spatial) + 1, dtype=np.float32).reshape(1, 1, *spatial)
    data, kernel = opset.parameter(list(x.shape), np.float32), opset.parameter([1, 1] + [1] * rank, np.float32)
    y = opset.convolution_backprop_data(data, kernel, [1] * rank, pads_begin=[lo for lo, _ in crop],
                                        pads_end=[hi for _, hi in crop], dilations=[1] * rank,
                                        output_padding=[1] * rank)
    got = openvino.Core().compile_model(openvino.Model([y], [data, kernel]), "CPU")(
        {0: x, 1: np.ones([1, 1] + [1] * rank, np.float32)})[0]
    spec = ConvSpec(spatial=spatial, kernel=1, padding=crop, op="conv_transpose", output_padding=(1,) * rank)
    expected = parity.exact(spec, x, np.ones(spec.kernel_shape, np.float32)).value
    shifted = np.zeros_like(x)  # by hand: element j is x[j + 1], zeros past the end
    shifted[(..., *[slice(None, -1)] * rank)] = x[(..., *[slice(1, None)] * rank)]
    np.testing.assert_array_equal(expected, shifted)
    if np.array_equal(got, shifted):  # measured with openvino 2026.4.1 on an AVX-512 BF16 CPU only
        pytest.skip("OpenVINO crops this transposed conv right on this CPU or version: not a finding here")
    np.testing.assert_array_equal(got, x)
    assert not np.array_equal(got, expected)
    declared = {(r.backend, r.against): r for r in run_case(Case("uncropped", spec), ["numpy", "openvino"])}
    assert declared["openvino", "reference"].status == "known", declared["openvino", "reference"]
    assert declared["numpy", "reference"].status == "pass"


def test_the_kernel_1_declaration_is_limited_to_the_measured_pattern():
    """Declared only where kernel and stride are 1, the output keeps the input's size and something is cropped
    at the start: the pattern a sweep of 1487 rank-1 geometries found, and nothing around it."""
    from parity.adapters._openvino import _uncropped

    shifted = ConvSpec(spatial=(3,), kernel=1, padding=((1, 0),), op="conv_transpose", output_padding=(1,))
    assert _uncropped(shifted)
    for change in (dict(padding=((0, 0),), output_padding=(0,)), dict(kernel=2), dict(strides=2),
                   dict(output_padding=(0,))):
        assert not _uncropped(ConvSpec(**{**shifted.as_dict(), **change})), change
    assert adapters.get("openvino").known(ConvSpec(spatial=(3,), kernel=1, padding=((1, 1),), op="conv_transpose",
                                                   output_padding=(2,))) is not None


def test_finding_openvino_crashes_on_short_end_padded_16_bit_1d_convolutions():
    """Found by hypothesis: infer() kills the process (SIGSEGV); in its worker that is a `known` result with
    the worker's exit code, and every other backend's run goes on."""
    _openvino()
    spec = ConvSpec(spatial=(1,), kernel=1, padding=((0, 1),), dtype="bfloat16")
    results = {(r.backend, r.against): r for r in run_case(Case("crash", spec), ["numpy", "openvino"])}
    if results["openvino", "reference"].status == "pass":  # measured on an AVX-512 BF16 CPU; others may not crash
        pytest.skip("OpenVINO ran this case on this CPU: the crash was measured on an AVX-512 BF16 CPU")
    assert results["openvino", "reference"].status == "known", results["openvino", "reference"]
    assert "exit code -11" in results["openvino", "reference"].reason
    assert results["numpy", "reference"].status == "pass"
