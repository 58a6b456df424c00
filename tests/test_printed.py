"""parity.porting.printed: arrays as people paste them, hand-written printouts with known values, the shape and
dtype read, how precisely each element was printed, and one-line errors naming the line."""
from __future__ import annotations

import numpy as np
import pytest

from parity.porting.printed import parse

JULIA_3D = """2×3×2 Array{Float64, 3}:
[:, :, 1] =
 1.5   2.25  -3.0
 4.125  5.0  6.75

[:, :, 2] =
 -0.5  0.25  0.125
 10.0  20.5  30.0
"""


def _values(text, **options):
    return np.asarray(parse(text, **options).array, np.float64)


# --- formats: shape, values (hand-written), dtype -----------------------------------------------------------
def test_numpy_repr_with_dtype():
    printed = parse("array([[ 0.12573022, -0.13210486],\n       [ 1.304     ,  0.94708097]], dtype=float32)")
    assert printed.format == "numpy" and printed.dtype == "float32" and printed.array.dtype == np.float32
    assert printed.array.shape == (2, 2)
    np.testing.assert_array_equal(printed.array, np.array([[0.12573022, -0.13210486], [1.304, 0.94708097]],
                                                          np.float32))


def test_numpy_repr_without_dtype_is_float64_and_str_is_a_nested_list():
    assert parse("array([1.5, -2. ,  3.25])").dtype == "float64"
    printed = parse("[[[ 1.  2.]\n  [ 3.  4.]]\n\n [[ 5.  6.]\n  [ 7. -8.]]]")
    assert printed.format == "list" and printed.array.shape == (2, 2, 2)
    assert _values("[[[ 1.  2.]\n  [ 3.  4.]]\n\n [[ 5.  6.]\n  [ 7. -8.]]]")[1, 1, 1] == -8.0


def test_numpy_scientific_repr_with_dtype_on_its_own_line():
    text = ("array([[ 9.99999997e-07, -1.32104859e-01],\n       [ 1.30400002e+00,  4.13259789e-02]],\n"
            "      dtype=float32)")
    printed = parse(text)
    assert printed.dtype == "float32" and printed.digits == "printed to 9 significant digits"
    assert printed.array[0, 0] == np.float32(9.99999997e-07)


def test_torch_tensor_with_dtype_requires_grad_and_grad_fn():
    printed = parse("tensor([[ 0.1257, -0.1321],\n        [ 1.3040,  0.9471]], dtype=torch.float64,\n"
                    "       requires_grad=True)")
    assert printed.format == "torch" and printed.dtype == "float64" and printed.array[1, 0] == 1.304
    relu = parse("tensor([[0.1257, 0.0000, 0.6404]], grad_fn=<ReluBackward0>)")
    assert relu.dtype == "float32" and relu.array.shape == (1, 3) and relu.digits == "printed to 4 decimals"
    parameter = parse("Parameter containing:\ntensor([[[[ 0.2500, -0.5000]]]], requires_grad=True)")
    assert parameter.array.shape == (1, 1, 1, 2) and parameter.array[0, 0, 0, 1] == -0.5


def test_tensorflow_tensor_variable_and_repr():
    printed = parse("tf.Tensor(\n[[ 0.5  -1.25]\n [ 2.    3.5 ]], shape=(2, 2), dtype=float32)")
    assert printed.format == "tensorflow" and printed.dtype == "float32"
    np.testing.assert_array_equal(printed.array, [[0.5, -1.25], [2.0, 3.5]])
    text = "<tf.Tensor: shape=(2,), dtype=float64, numpy=array([1.5, 2.5])>"
    assert parse(text).dtype == "float64" and list(parse(text).array) == [1.5, 2.5]
    variable = "<tf.Variable 'conv/kernel:0' shape=(1, 2) dtype=float16, numpy=array([[0.25, 0.75]], dtype=float16)>"
    assert parse(variable).dtype == "float16" and parse(variable).array.shape == (1, 2)


def test_julia_keeps_julias_indices():
    printed = parse(JULIA_3D)
    assert printed.format == "julia" and printed.dtype == "float64" and printed.array.shape == (2, 3, 2)
    a = printed.array
    # Julia a[1, 3, 1] == -3.0, a[2, 1, 1] == 4.125, a[1, 2, 2] == 0.25, a[2, 3, 2] == 30.0
    assert (a[0, 2, 0], a[1, 0, 0], a[0, 1, 1], a[1, 2, 1]) == (-3.0, 4.125, 0.25, 30.0)


def test_julia_vector_matrix_float32_and_slices_without_a_header():
    assert list(_values("3-element Vector{Float64}:\n 0.5\n -1.0e-5\n 2.0")) == [0.5, -1.0e-5, 2.0]
    matrix = parse("2×2 Matrix{Float32}:\n 0.405618  0.291567\n 0.806066  -0.0419457")
    assert matrix.dtype == "float32" and matrix.array[1, 1] == np.float32(-0.0419457)
    bare = parse("[:, :, 1] =\n 1.0  2.0\n\n[:, :, 2] =\n 3.0  4.0\n")
    assert bare.format == "julia" and bare.array.shape == (1, 2, 2) and bare.array[0, 1, 1] == 4.0
    four = parse("1×1×1×2 Array{Float32, 4}:\n[:, :, 1, 1] =\n 1.5f0\n\n[:, :, 1, 2] =\n 2.5f-1\n")
    assert four.array.shape == (1, 1, 1, 2) and list(four.array.reshape(-1)) == [1.5, 0.25]


def test_matlab_and_octave_slices():
    text = "a(:,:,1) =\n\n    0.8147    0.1270\n    0.9058    0.9134\n\n\na(:,:,2) =\n\n    0.6324    0.2785\n" \
           "    0.0975    0.5469\n"
    printed = parse(text)
    assert printed.format == "matlab" and printed.array.shape == (2, 2, 2)
    assert (printed.array[1, 0, 0], printed.array[0, 1, 1]) == (0.9058, 0.2785)  # a(2,1,1), a(1,2,2)
    assert printed.digits == "printed to 4 decimals"
    octave = parse("ans =\n\nans(:,:,1) =\n\n   1   2\n\nans(:,:,2) =\n\n   3   4\n")
    assert octave.array.shape == (1, 2, 2) and octave.array[0, 1, 1] == 4


def test_matlab_common_scale_factor_and_column_blocks():
    scaled = parse("a =\n\n   1.0e-03 *\n\n    1.2340    0.0050\n    2.0000    3.1000\n")
    np.testing.assert_array_equal(scaled.array, [[1.234e-3, 5e-6], [2e-3, 3.1e-3]])
    blocks = parse("a =\n\n  Columns 1 through 3\n\n    1.1    2.2    3.3\n    4.4    5.5    6.6\n\n"
                   "  Columns 4 and 5\n\n    7.7    8.8\n    9.9    1.5\n")
    np.testing.assert_array_equal(blocks.array, [[1.1, 2.2, 3.3, 7.7, 8.8], [4.4, 5.5, 6.6, 9.9, 1.5]])


def test_tables_and_nested_lists():
    assert parse("1, 2, 3\n4, 5, 6\n").array.shape == (2, 3)
    blocks = parse("0.5 0.25\n0.125 1\n\n1 2\n3 4\n")
    assert blocks.array.shape == (2, 2, 2) and blocks.array[1, 0, 1] == 2
    assert parse("0.5 0.25 0.125").array.shape == (3,)
    nested = parse("[[1.0, 2.0], [3.0, 4.5]]")
    assert nested.format == "list" and nested.array[1, 1] == 4.5 and nested.dtype == "float32"


@pytest.mark.parametrize("text, format, values", [
    ("Out[3]: array([1.5, 2.5], dtype=float32)", "numpy", [1.5, 2.5]),
    (">>> tensor([0.5000, 1.2500])", "torch", [0.5, 1.25]),
    ("y = [[1.5, 2.0], [3.0, 4.0]]", "list", [[1.5, 2.0], [3.0, 4.0]]),
    ("[np.float32(0.125), np.float32(-0.5)]", "list", [0.125, -0.5]),  # numpy 2's list of scalars
])
def test_prompts_assignments_and_numpy_scalars(text, format, values):
    printed = parse(text)
    assert printed.format == format and printed.array.tolist() == values
    if "np.float32" in text:
        assert printed.dtype == "float32" and printed.dtype_note == "declared"


def test_format_overrides_detection():
    assert parse("array([1.5, 2.5])").format == "numpy"
    as_numpy = parse("[1.5, 2.5]", format="numpy")  # numpy's str: numpy's default dtype, not a list's
    assert as_numpy.format == "numpy" and as_numpy.dtype == "float64" and parse("[1.5, 2.5]").dtype == "float32"
    with pytest.raises(ValueError, match="a list printout must hold a bracketed array"):
        parse("1.5 2.5", format="list")
    with pytest.raises(ValueError, match="format must be one of"):
        parse("1 2", format="excel")


# --- precision ----------------------------------------------------------------------------------------------
def test_julia_six_significant_digits_round_each_element():
    printed = parse("2×2 Matrix{Float64}:\n 0.123457  12.3457\n 0.5  -0.00123457")
    assert printed.digits == "printed to 6 significant digits"
    # 6 significant digits: 0.123457 +- 5e-7, 12.3457 +- 5e-5, 0.5 +- 5e-7 (trailing zeros dropped), 0.00123457 +- 5e-9
    expected = np.array([[5e-7, 5e-5], [5e-7, 5e-9]])
    np.testing.assert_allclose(printed.rounding, expected, rtol=1e-6)


def test_fixed_decimals_round_by_the_last_decimal():
    printed = parse("tensor([[ 0.1257, 12.3457],\n        [ 0.5000, -0.0012]])")
    assert printed.digits == "printed to 4 decimals"
    values = np.float32([[0.1257, 12.3457], [0.5, -0.0012]])
    half_ulp = np.abs(np.spacing(values)).astype(np.float64) / 2
    np.testing.assert_allclose(printed.rounding, 5e-5 + half_ulp, rtol=1e-12)


def test_whole_numbers_are_exact_and_digits_can_be_given():
    assert not parse("tensor([1., 2., -3.])").rounding.any()
    assert parse("tensor([1., 2., -3.])").digits == ("printed as whole numbers: read as exact (if they were rounded "
                                                     "to whole numbers, say --digits .0)")
    given = parse("1.0 2.0 3.0", digits=3)
    half_ulp = np.spacing(np.float32([1, 2, 3])).astype(np.float64) / 2
    np.testing.assert_allclose(given.rounding, 5e-3 + half_ulp, rtol=1e-12)
    assert given.digits == "printed to 3 significant digits (given)"
    np.testing.assert_allclose(parse("0.25 100.5", digits=".2").rounding, 5e-3 + np.array([2**-25, 2**-17]) / 2)
    assert not parse("0.123 0.5", digits="exact").rounding.any()
    np.testing.assert_allclose(parse("3. -1.", digits=".0").rounding, 0.5 + np.array([2**-22, 2**-24]) / 2)
    for bad in ("six", "0", ".41"):
        with pytest.raises(ValueError, match=r"digits must be N \(significant digits, 1 to 40\), \.N \(decimals, 0 to "
                                             r"40\) or 'exact', got "):
            parse("1 2", digits=bad)


def test_numpys_printout_of_a_bfloat16_array_declares_bfloat16():
    """numpy prints an ml_dtypes array's dtype as dtype=dtype(bfloat16); this was 'line 1: the dtype must be a
    float or integer type, got 'dtype''."""
    printed = parse("array([[1.5, -2.25],\n       [0.5, 3]], dtype=dtype(bfloat16))")
    assert printed.array.dtype.name == "bfloat16" and printed.array.shape == (2, 2)


def test_nan_and_inf_are_read_and_not_rounded():
    printed = parse("array([nan, -inf, 0.5])")
    assert np.isnan(printed.array[0]) and printed.array[1] == -np.inf
    assert printed.rounding[0] == 0 and printed.rounding[1] == 0 and printed.rounding[2] > 0


# --- errors ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("[[1, 2],\n [3]]", "line 2: every row must have shape (2,) like the first, got (1,)"),
    ("array([1., 2., ..., 9.])", "line 1: the printout is elided"),
    ("2×2 Matrix{Float64}:\n 1.0  2.0\n ⋮\n", "line 3: the printout is elided"),
    ("array([1., x])", "line 1: element must be a number, got 'x'"),
    ("[[1, 2],\n [3, 4]", "must end with ']'"),
    ("1 2\n3\n", "line 2: every row must have 2 numbers like the first, got 1"),
    ("3×2 Matrix{Float64}:\n 1.0  2.0\n 3.0  4.0", "the header says 3x2, the slices hold (2, 2)"),
    ("tensor(0.5000)", "line 1: a torch printout must hold a bracketed array"),
    ("tensor([1, 2], dtype=torch.bool)", "dtype must be a float or integer type"),
    ("[__import__('os').system('false')]", "element must be a number"),
])
def test_malformed_text_is_a_one_line_error_naming_the_line(text, message):
    with pytest.raises(ValueError) as raised:
        parse(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)
