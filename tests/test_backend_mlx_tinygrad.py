"""The mlx and tinygrad adapters: skips when absent, their translations, targeted cases against the exact
reference, and the behaviour of MLX 0.32 and tinygrad 0.14 they route around or report (each test skips with
the reason where its framework cannot run).

If a pinned finding starts failing after an upgrade, the framework changed: update the adapter's routing
or declared limits and the reported finding, not the assertion.
"""
from __future__ import annotations

from importlib.machinery import ModuleSpec

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters import mlx as mlx_adapter
from parity.adapters import tinygrad as tinygrad_adapter
from parity.adapters.base import default_accumulation, missing_module, opt_in
from parity.core.spec import ConvSpec

BACKENDS = ("mlx", "tinygrad")


def _needs(backend: str) -> None:
    reason = adapters.get(backend).available()
    if reason:
        pytest.skip(reason)


def _mx():
    _needs("mlx")
    return mlx_adapter._mx()


def _comparison(backend: str, spec: ConvSpec) -> parity.Comparison:
    """``spec`` run on ``backend`` against the exact reference, after checking shape and dtype, with the
    bound of float32 sums for 16-bit cases (what the runner's probes find for these cases here)."""
    _needs(backend)
    adapter = adapters.get(backend)
    assert adapter.supports(spec) is None, adapter.supports(spec)
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    y = adapter.run(spec, x, w, dy)
    assert y.shape == spec.result_shape and y.dtype == x.dtype
    return parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype, accumulation=default_accumulation(spec))


# --- availability -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BACKENDS)
def test_missing_framework_is_a_skip_with_reason(monkeypatch, name):
    monkeypatch.setattr("importlib.util.find_spec", lambda module, *a: None)
    reason = adapters.get(name).available()
    assert reason and name in reason and f"parity-conv[{name}]" in reason


def test_mlx_without_its_backend_wheel_is_unavailable(monkeypatch, tmp_path):
    """On Linux ``pip install mlx`` brings the Python module only; libmlx.so comes with mlx-cpu."""
    (tmp_path / "mlx").mkdir()
    spec = ModuleSpec("mlx", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "mlx")]
    monkeypatch.setattr(mlx_adapter.util, "find_spec", lambda module, *a: spec)
    assert "parity-conv[mlx]" in mlx_adapter.backend_missing() and "libmlx" in mlx_adapter.backend_missing()
    (tmp_path / "mlx" / "lib").mkdir()
    (tmp_path / "mlx" / "lib" / "libmlx.so").touch()
    assert mlx_adapter.backend_missing() is None


def test_tinygrad_without_a_c_compiler_is_unavailable(monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-here")
    reason = tinygrad_adapter.compiler_missing()
    assert reason and "no-such-compiler-here" in reason and "not on PATH" in reason
    assert adapters.get("tinygrad").available() in (missing_module("tinygrad", "tinygrad"), reason)


# --- translations (no framework needed) -------------------------------------------------------------------
@pytest.mark.parametrize("transposed, groups", [(False, 1), (False, 2), (True, 1), (True, 2)])
def test_mlx_kernel_and_its_gradient_map_are_adjoint(transposed, groups):
    spec = ConvSpec(spatial=(5, 6), kernel=(2, 3), in_channels=4, out_channels=6, groups=groups,
                    op="conv_transpose" if transposed else "conv")
    rng = np.random.default_rng(0)
    w = rng.standard_normal(spec.kernel_shape)
    native = mlx_adapter.to_mlx_kernel(spec, w)
    assert native.shape == (6, 2, 3, 4 // groups)  # (O, *k, I/groups) either way
    g = rng.standard_normal(native.shape)
    assert np.isclose(np.sum(native * g), np.sum(w * mlx_adapter.from_mlx_kernel(spec, g)))
    assert np.array_equal(mlx_adapter.from_mlx_kernel(spec, native), w)


@pytest.mark.parametrize("kernel, strides, dilations, padding, extra, expected", [
    (4, 2, 1, ((1, 1),), 0, ((1,), (0,))),  # DCGAN: crop 1 at both ends
    (3, 2, 1, "SAME", 0, None),  # crop (0, 1): output_padding 0 - 1 < 0, which MLX has no meaning for
    (3, 2, 1, ((1, 0),), 0, ((1,), (1,))),
    (3, 1, 1, ((2, 0),), 0, ((2,), (2,))),  # output_padding 2 >= stride: PyTorch refuses it, MLX takes it
    (1, 2, 1, ((1, 1),), 0, None),  # padding 1 > dilation * (kernel - 1) = 0 with stride 2: MLX errs
    (3, 2, 1, "VALID", 1, None),  # extends the full output with stride 2: MLX's input gradient errs
    (3, 1, 1, "VALID", 1, ((0,), (1,))),  # the same at stride 1 is right
    (3, 2, 1, ((0, 2),), 0, None),  # output_padding would be negative
])
def test_mlx_native_transpose_args(kernel, strides, dilations, padding, extra, expected):
    spec = ConvSpec(op="conv_transpose", spatial=(5,), kernel=kernel, strides=strides, dilations=dilations,
                    padding=padding, output_padding=extra)
    assert mlx_adapter.native_transpose_args(spec) == expected


# --- targeted cases against the exact reference -----------------------------------------------------------
CASES = [
    dict(spatial=(11,), kernel=3, strides=2, padding="SAME", groups=2),
    dict(spatial=(11,), kernel=2, dilations=3, padding="CAUSAL"),
    dict(spatial=(7, 8), kernel=(3, 2), strides=(2, 1), dilations=(1, 2), padding=((1, 2), (0, 1))),
    dict(spatial=(7, 8), kernel=3, groups=4, in_channels=4, out_channels=8, padding="SAME", strides=2),
    dict(spatial=(4, 5, 4), kernel=2, strides=(1, 2, 1), padding="VALID"),
]
TRANSPOSED = [
    dict(spatial=(5,), kernel=1, strides=2, padding=((1, 1),)),  # padding beyond dilation*(kernel-1)
    dict(spatial=(6,), kernel=3, strides=2, padding="VALID", output_padding=1),  # extended full output
    dict(spatial=(6, 5), kernel=2, padding=((0, 0), (1, 0)), output_padding=(2, 1)),  # the same at stride 1
    dict(spatial=(5, 6), kernel=4, strides=2, padding=((1, 1), (1, 1)), groups=2),
    dict(spatial=(5, 6), kernel=3, strides=(2, 3), dilations=(2, 1), padding="SAME"),
    dict(spatial=(3, 4, 3), kernel=2, strides=2, padding=((1, 0), (0, 0), (0, 1))),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("quantity", ["output", "grad_input", "grad_weight"])
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("case", range(len(CASES) + len(TRANSPOSED)))
def test_targeted_cases_match_the_reference(backend, quantity, layout, case):
    transposed = case >= len(CASES)
    fields = {"in_channels": 4, "out_channels": 6, "batch": 2, **(TRANSPOSED[case - len(CASES)] if transposed
                                                                   else CASES[case])}
    spec = ConvSpec(**fields, op="conv_transpose" if transposed else "conv", quantity=quantity, layout=layout)
    assert _comparison(backend, spec).passed


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_every_dtype_on_integers_is_correctly_rounded(backend, dtype):
    spec = ConvSpec(spatial=(6, 7), kernel=3, in_channels=4, out_channels=4, padding="SAME", dtype=dtype,
                    distribution="int")
    comparison = _comparison(backend, spec)
    assert comparison.passed and comparison.max_ulp == 0


# --- MLX 0.32 findings --------------------------------------------------------------------------------------
def _mx_transpose_1d(x: np.ndarray, w: np.ndarray):
    """MLX arrays for ``mx.conv_transpose1d``: channels-first ``x`` and a canonical (C_in, C_out, k) kernel."""
    mx = _mx()
    spec = ConvSpec(op="conv_transpose", spatial=x.shape[2:], kernel=w.shape[2:], in_channels=w.shape[0],
                    out_channels=w.shape[1])
    return mx.array(np.moveaxis(x, 1, -1)), mx.array(mlx_adapter.to_mlx_kernel(spec, w))


def test_mlx_conv_transpose_errs_for_padding_beyond_the_dilated_kernel_with_stride():
    """MLX turns padding p into the input padding d*(k-1) - p, negative here, which ``conv_general`` applies
    by slicing the undilated input: 5 outputs where PyTorch's formula (and MLX's own at stride 1) gives 7.
    The adapter crops the full output instead, which is right."""
    x, w = _mx_transpose_1d(np.ones((1, 1, 5), np.float32), np.ones((1, 1, 1), np.float32))
    assert _mx().conv_transpose1d(x, w, stride=2, padding=1).shape == (1, 5, 1)  # (n-1)*s + 1 - 2p = 7
    spec = ConvSpec(op="conv_transpose", spatial=(5,), kernel=1, strides=2, padding=((1, 1),))
    assert spec.output_shape == (1, 1, 7) and mlx_adapter.native_transpose_args(spec) is None
    assert _comparison("mlx", spec).passed


def test_mlx_input_gradient_of_an_extended_transposed_output_is_short():
    """Asking ``conv_transpose1d`` for output_padding beyond its crop (a longer output than the full one)
    computes the output right, but ``mx.vjp`` returns an input gradient one element short."""
    mx = _mx()
    x, w = _mx_transpose_1d(np.ones((2, 4, 6), np.float32), np.ones((4, 6, 3), np.float32))
    y = mx.conv_transpose1d(x, w, stride=2, output_padding=1)
    assert y.shape == (2, 14, 6)  # full (6-1)*2 + 3 = 13, extended by 1: right
    _, (gradient,) = mx.vjp(lambda a: mx.conv_transpose1d(a, w, stride=2, output_padding=1), [x], [mx.ones(y.shape)])
    assert x.shape == (2, 6, 4) and gradient.shape == (2, 5, 4)
    spec = ConvSpec(op="conv_transpose", spatial=(6,), kernel=3, strides=2, output_padding=1, in_channels=4,
                    out_channels=6, batch=2, quantity="grad_input")
    assert mlx_adapter.native_transpose_args(spec) is None and _comparison("mlx", spec).passed


def test_mlx_groups_need_rank_1_or_2_as_declared():
    mx = _mx()
    with pytest.raises(ValueError) as info:
        mx.conv_general(mx.ones((1, 4, 4, 4, 4)), mx.ones((4, 2, 2, 2, 2)), groups=2)
    assert str(info.value) in mlx_adapter.GROUPS_3D
    assert adapters.get("mlx").supports(ConvSpec(spatial=(4, 4, 4), kernel=2, in_channels=4, out_channels=4,
                                                 groups=2)) == mlx_adapter.GROUPS_3D


def _mlx_float64(spec: ConvSpec) -> tuple[np.ndarray, np.ndarray]:
    """MLX's float64 result for ``spec`` and its float32 result on the same numbers rounded to float32."""
    _needs("mlx")
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    single = ConvSpec(**{**spec.as_dict(), "padding": spec.padding, "dtype": "float32"})
    as32 = (None if a is None else a.astype(np.float32) for a in (x, w, dy))
    return mlx_adapter.ADAPTER.run(spec, x, w, dy), mlx_adapter.ADAPTER.run(single, *as32)


@pytest.mark.parametrize("fields", [dict(), dict(quantity="grad_input"), dict(quantity="grad_weight", dilations=2),
                                    dict(op="conv_transpose", quantity="grad_input", strides=2)])
def test_mlx_float64_convolution_is_a_float32_one(fields):
    """MLX's CPU Convolution primitive copies float64 operands to float32 for cblas_sgemm: the result is
    MLX's float32 result bit for bit, 1e7 times the float64 bound (measured 3.0e7, 2.7e7, 1.5e7, 2.4e7)."""
    spec = ConvSpec(**{"spatial": (9, 9), "kernel": 3, "in_channels": 4, "out_channels": 6, "dtype": "float64",
                       "padding": "SAME", **fields})
    y64, y32 = _mlx_float64(spec)
    assert np.array_equal(y64, y32.astype(np.float64))
    x, w = parity.generate(spec)
    comparison = parity.compare(y64, parity.exact(spec, x, w, parity.cotangent(spec)), "float64")
    assert comparison.bound_ratio > 1e6
    assert adapters.get("mlx").supports(spec) is None and adapters.get("mlx").known(spec) == mlx_adapter.FLOAT64


@pytest.mark.parametrize("fields", [dict(dilations=2), dict(groups=2), dict(op="conv_transpose", strides=2)])
def test_mlx_float64_direct_convolution_is_refused_in_mlx_words(fields):
    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=4, out_channels=6, dtype="float64", **fields)
    with pytest.raises(parity.adapters.base.Refused) as info:
        _mlx_float64(spec)
    assert str(info.value) == "MLX on CPU: '[Convolution::eval] got unsupported data type.'"


def test_mlx_float64_weight_gradient_of_a_forward_conv_runs_in_float64():
    """Undilated and ungrouped, it is a matmul of input patches, not the Convolution primitive: the one float64
    route MLX runs right."""
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, strides=2, dtype="float64",
                    quantity="grad_weight", distribution="wide")
    comparison = _comparison("mlx", spec)
    assert comparison.passed and comparison.bound_ratio < 0.5  # 0.17 measured: a pass, whatever is declared


# --- tinygrad 0.14 findings ---------------------------------------------------------------------------------
def test_tinygrad_rounds_bfloat16_products_to_bfloat16_before_summing():
    """tinygrad multiplies in the inputs' dtype and sums in float32 (``sum_acc_dtype``); its CPU device
    emulates bfloat16 in float32 registers and rounds every bfloat16 result, the products included. Two
    terms, a*a - 1 with a = 1 + 3/128: the exact 6/128 + 9/16384 rounds once to 0.04736328125, tinygrad
    gives 0.046875, the bfloat16 product rounded first."""
    _needs("tinygrad")
    import ml_dtypes

    a = float(1 + 3 / 128)
    spec = ConvSpec(spatial=(2,), kernel=2, dtype="bfloat16")
    x = np.array([[[a, -1.0]]]).astype(ml_dtypes.bfloat16)
    w = np.array([[[a, 1.0]]]).astype(ml_dtypes.bfloat16)
    y = float(adapters.get("tinygrad").run(spec, x, w)[0, 0, 0])
    assert (y, float(ml_dtypes.bfloat16(a * a - 1))) == (0.046875, 0.04736328125)
    assert y == float(ml_dtypes.bfloat16(float(ml_dtypes.bfloat16(a * a)) - 1))


def test_tinygrad_bfloat16_product_rounding_fails_the_float32_bound():
    """What the product rounding does to a default-tier case (conv2d-dw-nchw-same-s2-d1-g2-k3x3-n2c4x9x8-o6-
    bf16-normal: 137 times the bound of float32 sums, whose canary probe finds float32); the float16 case
    of the same geometry is correctly rounded here (clang promotes __fp16 products to float)."""
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, batch=2, strides=2, groups=2,
                    padding="SAME", quantity="grad_weight", dtype="bfloat16")
    assert spec.slug() == "conv2d-dw-nchw-same-s2-d1-g2-k3x3-n2c4x9x8-o6-bf16-normal"
    assert _comparison("tinygrad", spec).bound_ratio > 50
    assert adapters.get("tinygrad").known(spec) == tinygrad_adapter.BFLOAT16_PRODUCTS
    assert adapters.get("tinygrad").known(ConvSpec(**{**spec.as_dict(), "dtype": "float16"})) is None


def test_tinygrad_is_opt_in_for_its_compile_time():
    """Each new geometry compiles for 0.2 to 2.5 s of CPU; the default tier takes 20 to 30 minutes here."""
    assert "compiles every new geometry" in opt_in(adapters.get("tinygrad"))
    assert "tinygrad" not in adapters.installed() and "tinygrad" in adapters.parse("numpy,tinygrad")
