"""Transposed convolution and gradients: the reference against independent definitions, and the
PyTorch <-> TensorFlow crop translations. numpy only."""
from itertools import product

import numpy as np
import pytest

from parity.core import convert
from parity.core.inputs import cotangent, generate
from parity.reference.conv import compute, conv
from parity.core.spec import ConvSpec

GEOMETRIES = [  # (spatial, kernel, strides, dilations, groups, padding, output_padding)
    ((5,), 3, 2, 1, 1, "VALID", 1), ((6,), 4, 2, 1, 2, "SAME", 0), ((4,), 1, 3, 1, 1, "SAME", 0),
    ((5,), 3, 1, 2, 1, ((1, 0),), 0), ((4, 5), (3, 2), (2, 3), (1, 2), 2, "SAME", (1, 0)),
    ((3, 4), 2, 2, 1, 1, ((1, 1), (0, 1)), 1), ((3, 3, 2), 2, (1, 2, 2), 1, 1, "VALID", 0),
]


def spec_for(geometry, op="conv_transpose", quantity="output"):
    spatial, kernel, strides, dilations, groups, padding, extra = geometry
    return ConvSpec(spatial=spatial, kernel=kernel, strides=strides, dilations=dilations, groups=groups,
                    padding=padding, output_padding=extra if op == "conv_transpose" else 0, op=op,
                    quantity=quantity, in_channels=2 * groups, out_channels=2 * groups, batch=2, dtype="float64")


def scatter_transpose(x, w, spec):
    """Definition: y[n, g*Og + o, i*s + j*d - lo] += x[n, g*Cg + c, i] * w[g*Cg + c, o, j]."""
    y = np.zeros(spec.output_shape)
    per_in, per_out = spec.in_channels // spec.groups, spec.out_channels // spec.groups
    for n, c, *i in np.ndindex(*x.shape):
        group = c // per_in
        for o, *j in np.ndindex(per_out, *spec.kernel):
            at = [a * s + b * d - lo for a, b, s, d, (lo, _) in zip(i, j, spec.strides, spec.dilations, spec.pads)]
            if all(0 <= p < size for p, size in zip(at, spec.output_spatial)):
                y[(n, group * per_out + o, *at)] += x[(n, c, *i)] * w[(c, o, *j)]
    return y


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_transposed_reference_matches_scatter_definition(geometry):
    spec = spec_for(geometry)
    x, w = generate(spec)
    value, _, _ = compute(spec, x, w, exact=True)
    np.testing.assert_allclose(value, scatter_transpose(x, w, spec), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_gradients_satisfy_the_adjoint_identity(geometry, op):
    """<f(x, w), dy> = <x, df/dx^T dy> = <w, df/dw^T dy> for the bilinear f: checks both VJPs."""
    spec = spec_for(geometry, op)
    x, w = generate(spec)
    dy = cotangent(ConvSpec(**{**spec.as_dict(), "quantity": "grad_input"}))
    forward = np.vdot(compute(spec, x, w)[0], dy)
    for quantity, operand in (("grad_input", x), ("grad_weight", w)):
        vjp, _, _ = compute(ConvSpec(**{**spec.as_dict(), "quantity": quantity}), x, w, dy, exact=True)
        assert vjp.shape == operand.shape
        assert np.vdot(operand, vjp) == pytest.approx(forward, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("mode", ["SAME", "VALID"])
@pytest.mark.parametrize("n, k, s, d", [(5, 3, 2, 1), (6, 4, 2, 1), (4, 1, 3, 1), (7, 2, 3, 1), (5, 3, 1, 2)])
def test_tf_mode_crop_is_the_adjoint_of_the_forward_conv(mode, n, k, s, d):
    """TF's conv_transpose(padding=mode) is the gradient of the forward conv with that padding on an
    input of the transposed output's size: check <T(x), y> = <x, C(y)> with C padded by explicit_pads."""
    spec = ConvSpec(spatial=(n,), kernel=k, strides=s, dilations=d, padding=mode, op="conv_transpose",
                    dtype="float64")
    x, w = generate(spec)
    y = np.random.default_rng(0).standard_normal(spec.output_shape)
    pads = convert.explicit_pads(mode, spec.output_spatial, spec.kernel, spec.strides, spec.dilations)
    forward, _, _ = conv(y, convert.flip(convert.flip(w)).swapaxes(0, 1), spec.strides, pads, spec.dilations)
    assert forward.shape == x.shape
    assert np.vdot(compute(spec, x, w)[0], y) == pytest.approx(np.vdot(x, forward), rel=1e-12)
    native = convert.tf_transpose_padding(spec.pads, spec.output_padding, spec.spatial, spec.kernel,
                                          spec.strides, spec.dilations)
    # With a kernel no longer than the stride, SAME and VALID with the same output_shape crop alike.
    assert native == mode if d * (k - 1) + 1 > s else native in ("SAME", "VALID")


@pytest.mark.parametrize("lo, hi, e, s, d", list(product((0, 1, 2), (0, 1, 2), (0, 1), (1, 2), (1, 2))))
def test_torch_transpose_args_reproduce_the_crop(lo, hi, e, s, d):
    """PyTorch: out = full - 2p + op with 0 <= op < max(s, d); the crop starts at p."""
    args = convert.torch_transpose_args(((lo, hi),), (e,), (s,), (d,))
    full = 9
    if args is None:
        assert not 0 <= lo - hi + e < max(s, d)
        return
    (p,), (op,) = args
    assert p == lo and 0 <= op < max(s, d)
    assert full - 2 * p + op == full - lo - hi + e


def test_crop_full_transpose_crops_and_extends():
    full = np.arange(10.0).reshape(1, 1, 10)
    cropped = convert.pad_array(full, convert.crop_full_transpose(((2, 3),), (1,)))
    np.testing.assert_array_equal(cropped[0, 0], np.arange(2.0, 8.0))
    extended = convert.pad_array(full, convert.crop_full_transpose(((1, 0),), (2,)))
    np.testing.assert_array_equal(extended[0, 0], [*range(1, 10), 0, 0])


@pytest.mark.parametrize("n, k, s", [(5, 3, 2), (6, 4, 2), (4, 1, 3), (7, 5, 1)])
def test_transpose_same_output_is_n_times_s(n, k, s):
    spec = ConvSpec(spatial=(n,), kernel=k, strides=s, padding="SAME", op="conv_transpose")
    assert spec.output_spatial == (n * s,)
    assert spec.pads[0][0] == max(k - s, 0) // 2


@pytest.mark.parametrize("kwargs, words", [
    (dict(op="conv_transpose", padding="FULL"), ["padding='FULL'", "VALID, SAME or explicit"]),
    (dict(output_padding=1), ["output_padding=(1,)", "op='conv'"]),
    (dict(op="deconv"), ["op must be one of", "'deconv'"]),
    (dict(quantity="grad_bias"), ["quantity must be one of", "'grad_bias'"]),
    (dict(op="conv_transpose", output_padding=-1), ["output_padding", "-1"]),
])
def test_transposed_spec_validation(kwargs, words):
    with pytest.raises(ValueError) as info:
        ConvSpec(spatial=(6,), kernel=3, **kwargs)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_gradient_results_have_operand_shapes():
    spec = ConvSpec(spatial=(7, 6), kernel=3, in_channels=4, out_channels=6, groups=2, strides=2,
                    op="conv_transpose", quantity="grad_weight")
    assert spec.result_shape == spec.kernel_shape == (4, 3, 3, 3)
    assert ConvSpec(**{**spec.as_dict(), "quantity": "grad_input"}).result_shape == spec.input_shape
