"""The OpenVINO backends (``openvino``: inference precision hint = the case's dtype; ``openvino_default``: the
CPU plugin's default) and the PaddlePaddle backend, and what they found, checked against the installed
frameworks (each test skips without its framework).

Findings pinned here with their measured figures (openvino 2026.4.1, AMD EPYC with AVX-512 BF16, no AVX-512
FP16 or AMX). Each test that depends on the CPU choosing bf16 reads the compiled model's precision first and
skips, with the reason, where this CPU makes another choice. If one of them fails after an upgrade, OpenVINO
changed: update the notes and the figures, not the margins.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters.base import Refused
from parity.core.spec import ConvSpec
from parity.reference.conv import compute
from parity.verdict.fingerprint import fingerprint, round_to_bits

BACKENDS = ("openvino", "openvino_default")
LAYER = dict(spatial=(7, 7), kernel=3, in_channels=64, out_channels=8, padding="SAME")  # n = 576


def _openvino():
    return pytest.importorskip("openvino")


def _run(backend: str, spec: ConvSpec):
    """(comparison with the exact reference, fingerprint or None, output) of ``backend`` on ``spec``."""
    x, w = parity.generate(spec)
    ref = parity.exact(spec, x, w)
    y = adapters.get(backend).run(spec, x, w)
    comparison = parity.compare(y, ref, spec.dtype, accumulation=adapters.base.accumulation(adapters.get(backend), spec)
                                if spec.dtype in ("float32", "float64") else "float32")
    return comparison, fingerprint(spec, ref, y, [x, w]), y


def _compiled_as(backend: str, spec: ConvSpec, precision: str) -> None:
    """Skip unless the CPU plugin compiles ``spec`` for ``precision`` here (the finding needs that CPU)."""
    got = adapters.get(backend).inference_precision(spec)
    if got != precision:
        pytest.skip(f"OpenVINO compiles {spec.dtype} models for {got} on this CPU, not {precision}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_openvino_is_a_skip_with_reason(monkeypatch, backend):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    reason = adapters.get(backend).available()
    assert "openvino is not installed" in reason and "pip install" in reason


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("quantity", ["grad_input", "grad_weight"])
def test_gradients_are_declared_unsupported_in_openvinos_words(backend, quantity):
    spec = ConvSpec(spatial=(6,), kernel=3, quantity=quantity)
    assert "inference" in adapters.get(backend).supports(spec)
    assert adapters.get(backend).supports(ConvSpec(spatial=(6,), kernel=3)) is None


@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, strides=2, dilations=2, padding="SAME"),
    ConvSpec(spatial=(9, 8), kernel=(2, 3), in_channels=4, out_channels=4, groups=4, padding=((2, 0), (1, 3)),
             layout="NHWC"),
    ConvSpec(spatial=(11,), kernel=4, in_channels=4, out_channels=6, groups=2, padding="SAME_LOWER", layout="NWC"),
    ConvSpec(spatial=(5, 6, 4), kernel=3, in_channels=3, out_channels=4, strides=(2, 1, 2), padding="SAME",
             layout="NDHWC"),
    ConvSpec(spatial=(11,), kernel=3, in_channels=4, out_channels=6, strides=2, padding="SAME", op="conv_transpose"),
    ConvSpec(spatial=(5, 6), kernel=4, in_channels=4, out_channels=6, groups=2, strides=2, padding=((1, 2), (0, 0)),
             op="conv_transpose", layout="NHWC"),
    ConvSpec(spatial=(5, 6), kernel=3, in_channels=4, out_channels=2, strides=2, output_padding=(3, 1),
             op="conv_transpose"),  # output_padding >= stride: OpenVINO takes it (PyTorch and ORT do not)
    ConvSpec(spatial=(4, 5, 3), kernel=2, in_channels=2, out_channels=4, groups=2, strides=3, dilations=2,
             padding="SAME", op="conv_transpose", layout="NDHWC"),
], ids=lambda spec: spec.slug())
def test_openvino_float32_geometries_match_the_reference(spec):
    _openvino()
    comparison, _, y = _run("openvino", spec)
    assert y.shape == spec.output_shape and comparison.passed, comparison.reason


def test_float64_is_refused_in_openvinos_words():
    _openvino()
    spec = ConvSpec(spatial=(6,), kernel=3, dtype="float64")
    with pytest.raises(Refused, match="Wrong value f64 for property key INFERENCE_PRECISION_HINT"):
        adapters.get("openvino").run(spec, *parity.generate(spec))


def test_finding_float64_with_an_f32_hint_is_computed_in_float32():
    """What the refusal spares: a float64 model at the strongest hint OpenVINO takes (f32) comes back in
    float64 with float32 errors: 6.2e6 times the float64 bound on this layer (measured), 0.011 of a
    float32-accumulation bound."""
    _openvino()
    from parity.adapters import _openvino as adapter

    spec = ConvSpec(**LAYER, dtype="float64")
    x, w = parity.generate(spec)
    request = adapter._compiled(adapter._geometry(spec), "f32").create_infer_request()
    request.infer({"X": x, "W": w})
    y = request.get_output_tensor(0).data
    assert y.dtype == np.float64
    comparison = parity.compare(y, parity.exact(spec, x, w), "float64")
    assert comparison.bound_ratio > 1e5
    assert parity.compare(y, parity.exact(spec, x, w), "float64", accumulation="float32").passed


def test_finding_default_precision_rounds_float32_convolution_inputs_to_bfloat16():
    """The CPU plugin's default INFERENCE_PRECISION_HINT here is bf16: a float32 Convolution runs oneDNN's
    bf16 kernel (inputs rounded to bfloat16, float32 sums). Measured: 49x the bound on a 64-channel 3x3 layer
    (normal data), and on the canary exactly the exact result of bfloat16-rounded inputs."""
    _openvino()
    spec = ConvSpec(**LAYER)
    _compiled_as("openvino_default", spec, "bf16")
    comparison, _, _ = _run("openvino_default", spec)
    assert comparison.bound_ratio > 10
    _, label, _ = _run("openvino_default", ConvSpec(**LAYER, distribution="canary"))
    assert label == "bfloat16 inputs"
    assert _run("openvino", spec)[0].passed  # the f32 hint fixes it


def test_finding_default_precision_leaves_transposed_convolution_in_float32():
    """ConvolutionBackpropData is not lowered to bf16 under the same default hint: its float32 canary is
    correctly rounded (the runtime model shows Deconvolution at f32, Convolution at bf16)."""
    _openvino()
    spec = ConvSpec(**LAYER, strides=2, op="conv_transpose", distribution="canary")
    _compiled_as("openvino_default", spec, "bf16")
    comparison, label, _ = _run("openvino_default", spec)
    assert comparison.passed and label == "correctly rounded"


def test_finding_default_precision_computes_float64_in_bfloat16():
    """A float64 model under the default hint: 6.4e10 times the float64 bound on the same layer (measured)."""
    _openvino()
    spec = ConvSpec(**LAYER, dtype="float64")
    _compiled_as("openvino_default", spec, "bf16")
    assert _run("openvino_default", spec)[0].bound_ratio > 1e9


def test_finding_an_f16_hint_compiles_to_bfloat16_and_rounds_the_output_to_bfloat16():
    """Asked for f16 on a CPU without float16 arithmetic, the plugin compiles for bf16 without a word. A
    float16 Convolution then takes bfloat16 inputs and writes a bfloat16 result that is widened to float16:
    40x the float32-accumulation bound on normal data (measured 40.1, 20660 ULP); on the canary the output is
    exactly the exact result rounded to bfloat16, then to float16."""
    _openvino()
    spec = ConvSpec(**LAYER, dtype="float16")
    _compiled_as("openvino", spec, "bf16")
    assert _run("openvino", spec)[0].bound_ratio > 10
    canary = ConvSpec(**LAYER, dtype="float16", distribution="canary")
    x, w = parity.generate(canary)
    y = adapters.get("openvino").run(canary, x, w)
    rounded = [round_to_bits(a.astype(np.float64), 8) for a in (x, w)]
    twice = round_to_bits(compute(canary, *rounded, scaled=False)[0], 8).astype(np.float16)
    np.testing.assert_array_equal(y, twice)
    assert not np.array_equal(y, parity.exact(canary, x, w).value.astype(np.float16))


def test_finding_backprop_data_same_upper_crops_the_odd_element_at_the_start():
    """ConvolutionBackpropData with ``output_shape``: same_upper crops total - total // 2 at the start (its
    spec's formula, and measured), where ONNX ConvTranspose's SAME_UPPER and TF's SAME crop the odd element
    at the end: the adapter spells the case's crop as same_lower."""
    openvino = _openvino()
    import openvino.opset16 as opset

    from parity.adapters._openvino import _transposed_same

    same = ConvSpec(spatial=(5,), kernel=3, strides=2, padding="SAME", op="conv_transpose")  # 10 of the full 11
    x, w = parity.generate(same)
    data, kernel = opset.parameter([1, 1, 5], np.float32), opset.parameter([1, 1, 3], np.float32)
    y = opset.convolution_backprop_data(data, kernel, [2], output_shape=np.array([10]), pads_begin=[0],
                                        pads_end=[0], dilations=[1], auto_pad="same_upper")
    model = openvino.Core().compile_model(openvino.Model([y], [data, kernel]), "CPU",
                                          {"INFERENCE_PRECISION_HINT": "f32"})
    got = model({0: x, 1: w})[0]
    assert same.pads == ((0, 1),) and _transposed_same(same) == "same_lower"
    assert parity.compare(got, parity.exact(ConvSpec(**{**same.as_dict(), "padding": ((1, 0),)}), x, w),
                          "float32").passed  # crop (1, 0)
    assert not parity.compare(got, parity.exact(same, x, w), "float32").passed


# --- PaddlePaddle ----------------------------------------------------------------------------------------------
def _paddle() -> None:
    """Skip without paddle. Never imported here: PaddlePaddle 3.3.1 crashes a process that imported TensorFlow
    first, so the backend runs it in a worker and the finding below in a subprocess."""
    if importlib.util.find_spec("paddle") is None:
        pytest.skip("paddle is not installed")


def _passes(backend: str, spec: ConvSpec) -> parity.Comparison:
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    y = adapters.get(backend).run(spec, x, w, dy)
    assert y.shape == spec.result_shape and y.dtype == x.dtype
    return parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype)


def test_missing_paddle_is_a_skip_with_reason(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    reason = adapters.get("paddle").available()
    assert "paddle is not installed" in reason and "pip install" in reason


@pytest.mark.parametrize("quantity", ["output", "grad_input", "grad_weight"])
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, dilations=2, padding="SAME"),
    ConvSpec(spatial=(9, 8), kernel=(2, 3), in_channels=4, out_channels=4, groups=4, strides=2,
             padding=((2, 0), (1, 3)), layout="NHWC"),
    ConvSpec(spatial=(11,), kernel=2, in_channels=4, out_channels=6, groups=2, dilations=3, padding="CAUSAL",
             layout="NWC", dtype="float64"),
    ConvSpec(spatial=(5, 6, 4), kernel=3, in_channels=2, out_channels=4, strides=(2, 1, 2), padding="SAME",
             layout="NDHWC"),
    ConvSpec(spatial=(11,), kernel=3, in_channels=4, out_channels=6, strides=2, padding="SAME", op="conv_transpose"),
    ConvSpec(spatial=(5, 6), kernel=4, in_channels=4, out_channels=6, groups=2, strides=2, padding=((1, 2), (0, 0)),
             output_padding=(1, 1), op="conv_transpose", layout="NHWC"),
], ids=lambda spec: spec.slug())
def test_paddle_geometries_and_gradients_match_the_reference(spec, quantity):
    _paddle()
    comparison = _passes("paddle", ConvSpec(**{**spec.as_dict(), "quantity": quantity}))
    assert comparison.passed, comparison.reason


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_paddle_16_bit_cpu_kernels_are_asked_of_paddle(dtype):
    """Refused in Paddle's own words where its CPU build has no kernel (paddlepaddle 3.3.1: 'Paddle support
    following DataTypes: float64, float32.'); compared like any case where it has one."""
    _paddle()
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, padding="SAME", dtype=dtype)
    try:
        comparison = _passes("paddle", spec)
    except Refused as refusal:
        assert "is not registered" in str(refusal) and dtype in str(refusal)
    else:
        assert comparison.passed, comparison.reason


@pytest.mark.parametrize("dilation, output_padding, quote", [  # Paddle's words differ by case and axis
    (1, 1, r"output_padding of Op\(ConvTransposeOp\) should be less than either stride"),
    (2, 1, r"Output_height and padding\(padding_up, padding_down\) are inconsistent"),
    (3, 2, r"The size of output_padding should not be greater than stride"),
])
def test_paddle_output_padding_not_below_the_stride_is_refused_in_paddles_words(dilation, output_padding, quote):
    """Found by hypothesis: conv_transpose's shape inference raises ValueError (not RuntimeError), and Paddle
    refuses output_padding below the dilation but not below the stride, which its docs allow (torch takes it)."""
    _paddle()
    spec = ConvSpec(spatial=(1,), kernel=1, padding="VALID", op="conv_transpose", dilations=dilation,
                    output_padding=(output_padding,))
    with pytest.raises(Refused, match=quote):
        _passes("paddle", spec)



def test_paddle_refuses_output_padding_at_the_depth_stride_in_other_words():
    """Found by hypothesis (the property test's first failing draw): the 3-D check names the depth axis."""
    _paddle()
    spec = ConvSpec(spatial=(4, 4, 10), kernel=(2, 1, 3), in_channels=1, out_channels=2, batch=2, strides=(1, 2, 3),
                    dilations=(2, 2, 3), padding="VALID", layout="NDHWC", op="conv_transpose",
                    output_padding=(1, 1, 0))
    with pytest.raises(Refused, match=r"input_depth\(5\) and output_depth\(4\) are mismatching"):
        _passes("paddle", spec)


def test_only_output_padding_at_a_stride_counts_as_paddles_refusal():
    from parity.adapters._paddle import _beyond_stride

    def spec(strides, output_padding):
        return ConvSpec(spatial=(5, 5), kernel=3, strides=strides, dilations=2, padding="VALID",
                        op="conv_transpose", output_padding=output_padding)
    assert _beyond_stride(spec((1, 2), (1, 0))) and _beyond_stride(spec((1, 1), (0, 1)))
    assert not _beyond_stride(spec((2, 2), (1, 1))) and not _beyond_stride(spec((1, 1), (0, 0)))
    assert not _beyond_stride(ConvSpec(spatial=(5, 5), kernel=3))

SAME_DILATED = """
import json, sys
import numpy as np
import paddle
import parity
from parity.core.spec import ConvSpec

transposed = sys.argv[1] == "1"
spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, dilations=2, padding="SAME")
x, w = parity.generate(spec)
functional = paddle.nn.functional
conv = functional.conv2d_transpose if transposed else functional.conv2d
kernel = paddle.to_tensor(np.ascontiguousarray(w.transpose(1, 0, 2, 3)) if transposed else w)
calls = [conv(paddle.to_tensor(x), kernel, padding="SAME", dilation=d, **({"stride": 2} if transposed else {})).numpy()
         for d in (2, 1)]
ratio = None if transposed else parity.compare(calls[0], parity.exact(spec, x, w), "float32").bound_ratio
print(json.dumps({"identical": bool(np.array_equal(*calls)), "ratio": ratio}))
"""


@pytest.mark.parametrize("transposed", [False, True])
def test_finding_paddle_same_padding_drops_the_dilation(transposed):
    """``padding="SAME"`` sets every dilation to 1 without a word (``UpdatePaddingAndDilation``,
    phi/kernels/cpu/conv_util.h): the dilated call returns the undilated result, same shape. Measured
    7.5e5 times the bound on this case; the adapter passes dilated SAME as explicit pads instead."""
    _paddle()
    done = subprocess.run([sys.executable, "-c", SAME_DILATED, "1" if transposed else "0"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["identical"]
    if not transposed:
        assert measured["ratio"] > 1e4
        spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, dilations=2, padding="SAME")
        assert _passes("paddle", spec).passed


def test_paddle_runs_in_a_worker_in_a_process_that_imported_tensorflow():
    _paddle()
    pytest.importorskip("tensorflow")
    spec = ConvSpec(spatial=(6, 5), kernel=3, in_channels=2, out_channels=3)
    assert _passes("paddle", spec).passed and "paddle" not in sys.modules


NO_FORK = """
import os
import threading
forks = []
def refuse():
    forks.append(threading.current_thread().name)  # the telemetry forks from a pool thread: recorded, not raised
    raise OSError("no fork in this test")
os.fork = refuse
import parity
from parity.core.spec import ConvSpec
spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=2, out_channels=2)
x, w = parity.generate(spec)
from parity.adapters._openvino import IN_PROCESS  # in this process: the import is what is tested
assert parity.compare(IN_PROCESS.run(spec, x, w), parity.exact(spec, x, w), "float32").passed
assert "CI" not in os.environ
for thread in threading.enumerate():
    if thread is not threading.current_thread() and not thread.daemon:
        thread.join(30)
assert not forks, forks
"""


def test_importing_openvino_sends_no_telemetry_from_a_forked_process():
    """openvino 2026.4's import sends a telemetry event from a forked process unless CI=true at import."""
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run([sys.executable, "-c", NO_FORK], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
