"""torch_compile (torch.compile, inductor, CPU), keras_jax and keras_torch (Keras 3 on JAX and on PyTorch, each
in its own worker process): skips when absent, targeted cases against the exact reference, and their
findings (each skipped where its framework is not installed)."""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import types

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters import _in_worker as in_worker
from parity.adapters import _keras_backends as keras_backends
from parity.core.spec import ConvSpec

KERAS = {"keras_jax": "jax", "keras_torch": "torch"}


def _need(backend: str) -> None:
    reason = adapters.get(backend).available()
    if reason:
        pytest.skip(reason)


def _compared(backend: str, spec: ConvSpec) -> parity.Comparison:
    _need(backend)
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    y = adapters.get(backend).run(spec, x, w, *(() if dy is None else (dy,)))
    assert y.shape == spec.result_shape and y.dtype == x.dtype
    return parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype)


# --- availability --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, module", [("torch_compile", "torch"), ("keras_jax", "jax"), ("keras_jax", "keras"),
                                          ("keras_torch", "torch")])
def test_missing_framework_is_a_skip_with_reason(monkeypatch, name, module):
    real = importlib.util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda m, *a: None if m == module else real(m, *a))
    reason = adapters.get(name).available()
    assert reason and module in reason and "pip install" in reason


def test_torch_compile_without_a_cxx_compiler_is_a_skip_with_reason(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("CXX", "no-such-compiler++")
    assert "'no-such-compiler++' is not on PATH" in adapters.get("torch_compile").available()


# --- torch_compile -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 9), kernel=4, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME"),
    ConvSpec(spatial=(7, 6), kernel=3, in_channels=3, out_channels=4, padding="SAME", layout="NHWC",
             quantity="grad_input"),
    ConvSpec(spatial=(5, 5, 4), kernel=2, in_channels=2, out_channels=3, dilations=2, padding="FULL",
             quantity="grad_weight", dtype="float64"),
    ConvSpec(op="conv_transpose", spatial=(5,), kernel=3, in_channels=2, out_channels=4, strides=2,
             padding="SAME", output_padding=1, dtype="bfloat16"),
], ids=["same-s2-groups", "nhwc-grad-input", "conv3d-full-grad-weight-f64", "transpose-crop-bf16"])
def test_torch_compile_matches_reference(spec):
    assert _compared("torch_compile", spec).passed


def test_torch_compile_compiles_once_per_geometry():
    _need("torch_compile")
    import torch

    from parity.adapters import torch_compile

    spec = ConvSpec(spatial=(11, 10), kernel=3, in_channels=3, out_channels=5, strides=(1, 2), padding=((2, 0), (1, 1)))
    graphs = torch._dynamo.utils.counters["stats"]
    before = graphs["unique_graphs"]
    for distribution in ("normal", "int", "wide"):  # same geometry, other data: one graph
        x, w = parity.generate(ConvSpec(**{**spec.as_dict(), "distribution": distribution}))
        torch_compile.ADAPTER.run(spec, x, w)
    assert graphs["unique_graphs"] == before + 1
    wider = ConvSpec(**{**spec.as_dict(), "spatial": (12, 10)})
    torch_compile.ADAPTER.run(wider, *parity.generate(wider))
    assert graphs["unique_graphs"] == before + 2


def test_dynamo_runs_eagerly_past_its_recompile_limit_unless_raised():
    """Dynamo's default: past 8 compiled graphs of one function (one per geometry here) it runs the function
    eagerly, with only a log warning. The adapter raises the limit and makes hitting it an error."""
    torch = pytest.importorskip("torch")
    from parity.adapters import torch_compile

    graphs = torch._dynamo.utils.counters["stats"]

    def geometries(double) -> int:
        before = graphs["unique_graphs"]
        for n in range(1, 11):
            double(torch.ones(n))
        return graphs["unique_graphs"] - before

    assert geometries(torch.compile(lambda x: x * 2, backend="eager", dynamic=False)) == 8
    with torch_compile._limits():
        assert geometries(torch.compile(lambda x: x * 2, backend="eager", dynamic=False)) == 10


def test_torch_compile_convolution_is_aten_on_channels_last_copies():
    """What inductor (torch 2.13, CPU) makes of a 2-D conv: no generated convolution but the extern aten call,
    on copies its layout optimization makes channels-last (C++ kernels generated for the copies only)."""
    _need("torch_compile")
    from torch._inductor.utils import run_and_get_code

    from parity.adapters import torch_compile

    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=4, out_channels=6, dtype="float64")
    x, w = parity.generate(spec)
    _, codes = run_and_get_code(lambda: torch_compile.ADAPTER.run(spec, x, w))
    code = "\n".join(codes)
    assert re.findall(r"extern_kernels\.\w+", code) == ["extern_kernels.convolution"]
    assert re.search(r"assert_size_stride\(buf\d+, \(1, 6, 7, 7\), \(294, 1, 42, 6\)", code)  # NHWC strides
    assert "cpp_fused_convolution_0 = async_compile" in code


def test_torch_compile_runs_channels_first_2d_convs_as_eager_torch_runs_channels_last():
    """Finding (torch 2.13 CPU): the layout change moves the bits. Measured: float64, 2x4x9x8 input, groups 2:
    214 of 336 outputs differ from eager torch on the same channels-first tensors, by up to 256 ULP (both within
    the bound, ratios 0.08 and 0.12), and equal eager torch's result on channels-last tensors bit for bit (52
    of the 53 channels-first default-tier cases where torch_compile and torch differ)."""
    _need("torch_compile")
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=4, groups=2, batch=2, dtype="float64")
    x, w = parity.generate(spec)
    compiled = adapters.get("torch_compile").run(spec, x, w)
    eager = adapters.get("torch").run(spec, x, w)
    eager_nhwc = adapters.get("torch").run(ConvSpec(**{**spec.as_dict(), "layout": "channels_last"}), x, w)
    assert np.array_equal(compiled, eager_nhwc)
    assert 0 < parity.ulp_distance(compiled, eager).max() <= 1024
    assert parity.compare(compiled, parity.exact(spec, x, w), spec.dtype).passed


@pytest.mark.filterwarnings("ignore:Dynamo detected a call")
@pytest.mark.parametrize("quantity, error", [("grad_input", "Invalid ranges"),
                                             ("grad_weight", "Exponent must be non-negative")])
def test_torch_compile_dynamic_shapes_fail_to_lower_channels_last_conv_gradients(quantity, error):
    """Finding (torch 2.13 CPU): with ``dynamic=True`` inductor cannot lower the backward of these 2-D
    channels-last convs (LoweringException). ``dynamo``'s default (``dynamic=None``) turns shapes dynamic
    after a recompile, so in a process that compiled other geometries first the same cases fail; the
    adapter compiles with ``dynamic=False``, which runs them."""
    torch = pytest.importorskip("torch")
    from parity.adapters import torch as eager
    from parity.adapters._call import execute

    padding, strides = ("VALID", 1) if quantity == "grad_input" else ("SAME", 2)
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, batch=2, strides=strides,
                    padding=padding, layout="NHWC", quantity=quantity)
    assert _compared("torch_compile", spec).passed
    x, w = parity.generate(spec)

    def conv(steps, xt, wt):  # its own code object: no compiled graph of the adapter's is reused
        return execute(steps, {"F": torch.nn.functional, "xt": xt, "wt": wt})

    xt = torch.from_numpy(np.moveaxis(x, 1, -1).copy()).movedim(-1, 1).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    # InductorError wrapping the lowering's error; for grad_weight, since the call became steps, the bare
    # AssertionError of the same sympy check ('exponent must be non-negative, got -1')
    with pytest.raises((torch._inductor.exc.InductorError, AssertionError), match=f"(?i){error}"):
        y = torch.compile(conv, dynamic=True, fullgraph=True)(eager.steps(spec), xt, wt)
        torch.autograd.grad(y, xt if quantity == "grad_input" else wt, torch.ones_like(y))


# Three default-tier cases in a fresh process and a fresh inductor cache, compiled by one function with dynamo's
# default dynamic=None (the second compile turns the shapes dynamic).
FX_CACHE_SCRIPT = """
import parity, torch
from parity.adapters import torch_compile
from parity.adapters._call import execute
from parity.core.spec import ConvSpec
compiled = torch.compile(lambda steps, xt, wt: execute(steps, {"F": torch.nn.functional, "xt": xt, "wt": wt}),
                         fullgraph=True)
torch_compile._compiled = lambda: compiled
for spec in (ConvSpec(spatial=(9, 8), kernel=4, in_channels=4, out_channels=4, batch=2, dilations=2, groups=2,
                      padding=((1, 0), (0, 2)), layout="NHWC"),
             ConvSpec(spatial=(224, 224), kernel=7, in_channels=3, out_channels=8, strides=2, padding="SAME",
                      layout="NHWC"),
             ConvSpec(spatial=(56, 56), kernel=7, in_channels=3, out_channels=64, strides=2, padding="SAME",
                      layout="NHWC")):
    try:
        torch_compile.ADAPTER.run(spec, *parity.generate(spec))
        print("ok")
    except AssertionError as error:
        print("AssertionError:", str(error).splitlines()[0])
"""


def test_torch_compile_fx_graph_cache_hands_a_dynamic_graph_the_wrong_size(tmp_path):
    """Finding (torch 2.13 CPU), with dynamo's default ``dynamic=None``: after the two cases above, the
    ResNet-50 stem's forward conv stops on inductor's own size check, ``expected size 64==8, stride 147==147
    at dim=0``, when inductor's FX graph cache is on (its default), and runs with the cache off. The adapter
    compiles with ``dynamic=False``: the default tier runs these cases, in this order, and passes them."""
    _need("torch_compile")
    import subprocess

    def run(**environment: str) -> list[str]:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / str(len(environment))), **environment}
        done = subprocess.run([sys.executable, "-c", FX_CACHE_SCRIPT], env=env, capture_output=True, text=True)
        return done.stdout.splitlines()

    assert run() == ["ok", "ok", "AssertionError: expected size 64==8, stride 147==147 at dim=0"]
    assert run(TORCHINDUCTOR_FX_GRAPH_CACHE="0") == ["ok", "ok", "ok"]


# --- keras_jax, keras_torch ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", KERAS)
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME"),
    ConvSpec(spatial=(9,), kernel=3, in_channels=4, out_channels=8, groups=4, strides=2, dilations=2,
             layout="NWC", dtype="float64"),
    ConvSpec(spatial=(6, 5, 4), kernel=2, in_channels=2, out_channels=3, padding="SAME", layout="NDHWC",
             quantity="grad_weight"),
    ConvSpec(spatial=(7, 6), kernel=3, in_channels=3, out_channels=3, groups=3, padding="SAME",
             quantity="grad_input", dtype="bfloat16"),
    ConvSpec(op="conv_transpose", spatial=(5, 4), kernel=3, in_channels=2, out_channels=4, strides=2,
             padding="SAME", layout="NHWC", quantity="grad_input"),
], ids=["same-s2-groups", "depthwise1d-strided-dilated-f64", "conv3d-ncdhw-grad-weight", "depthwise-grad-input-bf16",
        "transpose-nhwc-grad-input"])
def test_keras_backends_match_reference(backend, spec):
    assert _compared(backend, spec).passed


@pytest.mark.parametrize("backend", KERAS)
def test_keras_backends_declare_the_layer_api_limits(backend):
    strided_dilated = ConvSpec(spatial=(9, 9), kernel=3, strides=2, dilations=2)
    lower = ConvSpec(spatial=(9, 9), kernel=4, padding="SAME_LOWER")
    assert adapters.get(backend).supports(strided_dilated) == adapters.get("keras").supports(strided_dilated)
    assert "padding must be 'valid' or 'same'" in adapters.get(backend).supports(lower)


def test_keras_backend_refuses_a_process_whose_keras_runs_elsewhere(monkeypatch):
    fake = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "tensorflow"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    keras_backends._keras.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="imported on tensorflow .* its own worker"):
            keras_backends._keras("jax")
    finally:
        keras_backends._keras.cache_clear()


@pytest.mark.parametrize("backend, library", [("keras_jax", "jaxlib"), ("keras_torch", "libtorch_cpu")])
def test_keras_backend_runs_keras_on_its_backend_in_a_worker(backend, library):
    _need(backend)
    if not sys.platform.startswith("linux"):
        pytest.skip("reads the worker's /proc/PID/maps")
    adapter = adapters.get(backend)
    spec = ConvSpec(spatial=(4,), kernel=1)
    adapter.run(spec, *parity.generate(spec))
    worker = in_worker._worker(adapter.inner)
    loaded = open(f"/proc/{worker._process.pid}/maps").read()
    assert library in loaded and "tensorflow" not in loaded
