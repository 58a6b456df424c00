"""parity.reference.conv against a deliberately naive, exact (Fraction) convolution written here."""
from __future__ import annotations

import importlib
import importlib.util
import math
import subprocess
import sys
from fractions import Fraction
from itertools import product

import ml_dtypes
import numpy as np
import pytest

from parity.core.spec import ConvSpec

# ``parity.reference.conv`` the attribute is the function re-exported by parity/__init__; get the module itself.
R = importlib.import_module("parity.reference.conv")
G = importlib.import_module("parity.reference.gather")
NP_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}


def naive_conv(x, w, strides, pads, dilations, groups):
    """Exact cross-correlation: one Fraction sum per output element; returns (exact, sum of |terms|)."""
    batch, channels, *size = x.shape
    out_channels, per_group, *kernel = w.shape
    out = [(n + lo + hi - d * (k - 1) - 1) // s + 1
           for n, k, s, d, (lo, hi) in zip(size, kernel, strides, dilations, pads)]
    exact = np.empty((batch, out_channels, *out), dtype=object)
    absolute = np.empty_like(exact)
    for n, o, *position in np.ndindex(*exact.shape):
        group = o // (out_channels // groups)
        total, total_abs = Fraction(0), Fraction(0)
        for c in range(per_group):
            for taps in np.ndindex(*kernel):
                where = [p * s + j * d - lo for p, s, j, d, (lo, _) in zip(position, strides, taps, dilations, pads)]
                if all(0 <= q < m for q, m in zip(where, size)):
                    term = Fraction(float(x[(n, group * per_group + c, *where)])) * Fraction(float(w[(o, c, *taps)]))
                    total += term
                    total_abs += abs(term)
        exact[(n, o, *position)] = total
        absolute[(n, o, *position)] = total_abs
    return exact, absolute


def conv(x, w, strides, pads, dilations, groups, exact=False):
    """(value, low) from parity.reference.conv.conv (which may also return the scale as a third item)."""
    value, low, *_ = R.conv(np.asarray(x, np.float64), np.asarray(w, np.float64), strides, pads, dilations, groups,
                            exact=exact)
    return value, low


def draw(spec: ConvSpec, seed: int, wide: bool = False):
    """Inputs of the spec's dtype from our own generator (not parity.core.inputs)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in ((spec.batch, spec.in_channels, *spec.spatial),
                  (spec.out_channels, spec.in_channels // spec.groups, *spec.kernel)):
        values = rng.standard_normal(shape)
        if wide:
            values = np.ldexp(values, rng.integers(-30, 31, shape))
        arrays.append(values.astype(NP_DTYPES[spec.dtype]))
    return arrays


def random_specs() -> list[ConvSpec]:
    rng = np.random.default_rng(20240601)
    specs = []
    for rank, dtype in product((1, 2, 3), NP_DTYPES):
        modes = ["VALID", "SAME", "SAME_LOWER", "FULL", "explicit"] + (["CAUSAL"] if rank == 1 else [])
        for mode in modes:
            size = (7, 6, 5)[rank - 1]
            grouping = rng.integers(3)  # plain, grouped, depthwise
            in_channels = (1, 2, 4)[rank - 1] if grouping == 0 else 2
            groups = 1 if grouping == 0 else 2
            out_channels = (2 if grouping == 0 else 4) if rank < 3 else 2
            kernel = tuple(int(k) for k in rng.integers(1, 4 if rank < 3 else 3, rank))
            padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (rank, 2))) if mode == "explicit" \
                else mode
            spec = ConvSpec(spatial=tuple(int(s) for s in rng.integers(size - 1, size + 1, rank)), kernel=kernel,
                            strides=tuple(int(s) for s in rng.integers(1, 3, rank)),
                            dilations=tuple(int(d) for d in rng.integers(1, 3, rank)), padding=padding,
                            in_channels=in_channels, out_channels=out_channels, groups=groups,
                            batch=int(rng.integers(1, 3)), dtype=dtype)
            specs.append(spec)
    return specs


SPECS = random_specs()


def test_random_specs_cover_the_space():
    assert {s.rank for s in SPECS} == {1, 2, 3}
    assert {s.padding if isinstance(s.padding, str) else "explicit" for s in SPECS} == \
        {"VALID", "SAME", "SAME_LOWER", "FULL", "CAUSAL", "explicit"}
    assert any(s.is_depthwise for s in SPECS) and any(s.groups == 1 for s in SPECS)
    assert any(max(s.strides) > 1 for s in SPECS) and any(max(s.dilations) > 1 for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.slug())
def test_reference_matches_naive_exact_convolution(spec):
    x, w = draw(spec, seed=len(spec.slug()))
    ref = R.reference(spec, x, w)
    exact, absolute = naive_conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups)
    assert ref.value.shape == ref.scale.shape == exact.shape == spec.output_shape
    assert ref.value.dtype == np.float64
    assert ref.accumulation_length == spec.in_channels // spec.groups * math.prod(spec.kernel)
    n = ref.accumulation_length
    gamma = n * 2.0 ** -53 / (1 - n * 2.0 ** -53)  # float64 accumulation of exact products
    for index in np.ndindex(*exact.shape):
        tolerance = gamma * absolute[index]
        assert abs(Fraction(ref.scale[index]) - absolute[index]) <= tolerance, index
        if spec.dtype == "float64":
            total = Fraction(ref.value[index]) + Fraction(ref.low[index])
            assert abs(total - exact[index]) <= Fraction(2) ** -60 * absolute[index], index
        else:
            assert abs(Fraction(ref.value[index]) - exact[index]) <= tolerance, index
    assert (ref.low is None) == (spec.dtype != "float64")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.dtype == "float64"], ids=lambda s: s.slug())
def test_exact_float64_path_on_wide_inputs(spec):
    """Inputs spanning 2**±30: value + low is the exact sum to 2**-60 of the |term| sum, value is its rounding."""
    x, w = draw(spec, seed=7, wide=True)
    value, low = conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups, exact=True)
    exact, absolute = naive_conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups)
    largest = max(absolute.flat)
    for index in np.ndindex(*exact.shape):
        error = abs(Fraction(value[index]) + Fraction(low[index]) - exact[index])
        assert error <= Fraction(2) ** -60 * largest, index
        assert error <= Fraction(2) ** -60 * absolute[index], index
        rounded = float(exact[index])
        assert abs(Fraction(value[index]) - exact[index]) <= abs(Fraction(rounded) - exact[index]) + error, index


@pytest.mark.parametrize("narrow", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("spec", [s for s in SPECS if s.dtype == "float64"][::2], ids=lambda s: s.slug())
def test_exact_float64_path_on_inputs_with_few_significant_bits(spec, narrow):
    """float64 inputs holding narrower values split into fewer slices: every slice pair must still count."""
    x, w = (a.astype(NP_DTYPES[narrow]).astype(np.float64) for a in draw(spec, seed=5))
    value, low = conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups, exact=True)
    exact, absolute = naive_conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups)
    for index in np.ndindex(*exact.shape):
        error = abs(Fraction(value[index]) + Fraction(low[index]) - exact[index])
        assert error <= Fraction(2) ** -60 * absolute[index], index


@pytest.mark.parametrize("kind", ["tails", "subnormal"])
def test_exact_conv_with_sparse_tail_slices(kind):
    """A few inputs far below their image's largest (their last bits in sparse tail slices, contracted only
    where they are nonzero) or subnormal: value + low is still the exact sum."""
    rng = np.random.default_rng(len(kind))
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2))
    if kind == "tails":  # a corner whose windows hold only values 2**-40 below the image's largest
        x[0, :, :4, :4] *= 2.0 ** -40
    else:
        x[1, :, :4, :4] = rng.integers(-2 ** 20, 2 ** 20, (3, 4, 4)) * 2.0 ** -1074
    w[2, 0, 1, 1] = 2.0 ** -1070
    pads, strides, dilations = ((1, 1), (0, 1)), (1, 2), (1, 1)
    value, low = conv(x, w, strides, pads, dilations, 1, exact=True)
    exact, absolute = naive_conv(x, w, strides, pads, dilations, 1)
    for index in np.ndindex(*exact.shape):
        error = abs(Fraction(value[index]) + Fraction(low[index]) - exact[index])
        assert error <= Fraction(2) ** -60 * absolute[index] + Fraction(2) ** -1070, index


@pytest.mark.parametrize("spec", SPECS[::3], ids=lambda s: s.slug())
def test_scale_is_conv_of_absolute_values(spec):
    x, w = draw(spec, seed=3)
    ref = R.reference(spec, x, w)
    expected, _ = conv(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), spec.strides, spec.pads,
                       spec.dilations, spec.groups)
    np.testing.assert_allclose(ref.scale, expected, rtol=1e-14, atol=0)
    _, absolute = naive_conv(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), spec.strides,
                             spec.pads, spec.dilations, spec.groups)
    np.testing.assert_allclose(ref.scale, absolute.astype(np.float64), rtol=1e-14, atol=0)
    n = ref.accumulation_length
    assert (ref.scale * (1 + 2 * n * 2.0 ** -53) >= np.abs(ref.value)).all()


# --- chunking ------------------------------------------------------------------------------------------------
# (x shape, w shape, groups, strides, dilations, branch the 256-byte chunk takes)
CHUNKED = {
    "batch-1d": ((10, 1, 6), (2, 1, 3), 1, (1,), (1,), "batch"),
    "batch-1d-grouped": ((6, 2, 5), (2, 1, 2), 2, (1,), (1,), "batch"),
    "out0-2d-step1": ((2, 2, 9, 7), (4, 1, 3, 3), 2, (1, 1), (1, 1), "out0"),
    "out0-2d-step4": ((2, 1, 10, 3), (3, 1, 2, 2), 1, (1, 1), (1, 1), "out0"),
    "out0-2d-strided": ((2, 2, 11, 9), (2, 2, 3, 2), 1, (2, 1), (1, 2), "out0"),
    "out0-3d": ((1, 2, 6, 5, 4), (2, 2, 2, 2, 2), 1, (1, 1, 1), (1, 1, 1), "out0"),
}


@pytest.mark.parametrize("exact", [False, True], ids=["float", "exact"])
@pytest.mark.parametrize("x_shape, w_shape, groups, strides, dilations, branch", CHUNKED.values(), ids=CHUNKED.keys())
def test_chunking_gives_the_same_results(monkeypatch, x_shape, w_shape, groups, strides, dilations, branch, exact):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape).astype(np.float32).astype(np.float64)
    w = rng.standard_normal(w_shape).astype(np.float32).astype(np.float64)
    pads = ((1, 0),) * (x.ndim - 2)
    whole, whole_low = conv(x, w, strides, pads, dilations, groups, exact=exact)

    seen = []
    original = G.chunks

    def recording(shape, itemsize):
        chunks = original(shape, 8)  # the exact path asks for its slices' bytes: the same branches per float64
        seen.append(chunks)
        return chunks

    monkeypatch.setattr(G, "CHUNK_BYTES", 256)
    monkeypatch.setattr(G, "chunks", recording)
    parts, parts_low = conv(x, w, strides, pads, dilations, groups, exact=exact)
    (chunks,) = seen
    assert len(chunks) > 1
    if branch == "batch":
        assert all(out0 == slice(None) for _, out0 in chunks)
        assert any(batch.stop - batch.start > 1 for batch, _ in chunks[:-1]) or len(chunks) == x.shape[0]
    else:
        assert all(batch.stop - batch.start == 1 and out0 != slice(None) for batch, out0 in chunks)
    if exact:  # exact sums do not depend on BLAS blocking; plain float64 GEMMs of other shapes may round apart
        np.testing.assert_array_equal(parts, whole)
        np.testing.assert_array_equal(parts_low, whole_low)
    exact_sum, absolute = naive_conv(x, w, strides, pads, dilations, groups)
    n = w[0].size
    assert (np.abs(parts - exact_sum.astype(np.float64)) <= 2 * n * 2.0 ** -53 * absolute.astype(np.float64)).all()


# --- no framework --------------------------------------------------------------------------------------------
BLOCKING_IMPORT = r"""
import sys
BLOCKED = ("torch", "tensorflow", "jax", "keras")

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Blocker())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"blocker failed for {name}")
import parity.reference.conv
module = sys.modules["parity.reference.conv"]
assert hasattr(module, "conv") and hasattr(module, "reference")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("loaded:", loaded)
"""


def test_reference_imports_with_frameworks_blocked():
    result = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


# --- start-up: ml_dtypes only for bfloat16 ------------------------------------------------------------------
DTYPES_ALONE = r"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("dtypes_alone", sys.argv[1])
dtypes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dtypes)
facts = [dtypes.precision_bits(d) for d in dtypes.DTYPES] + ["bfloat16" in dtypes.DTYPES]
facts += [float(dtypes.ulp(np.array([1.0]), "bfloat16")[0]), dtypes.np_dtype("f32").name, dtypes.canonical_name("bf16")]
before = "ml_dtypes" in sys.modules
bfloat16 = dtypes.np_dtype("bfloat16")
print(facts, before, "ml_dtypes" in sys.modules, bfloat16.name)
"""


def test_dtypes_import_ml_dtypes_only_for_a_bfloat16_dtype():
    path = importlib.import_module("parity.core.dtypes").__file__
    result = subprocess.run([sys.executable, "-c", DTYPES_ALONE, path], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == "[11, 8, 24, 53, True, 0.0078125, 'float32', 'bfloat16'] False True bfloat16".split()


LIST_IMPORTS = r"""
import sys
from parity.cli.main import main
main(["list"])
print(sorted({m.split(".")[0] for m in sys.modules} & {"ml_dtypes", "torch", "tensorflow", "jax", "keras", "onnxruntime", "pytensor", "theano"}), file=sys.stderr)
"""


def test_parity_list_imports_no_framework_and_no_ml_dtypes():
    result = subprocess.run([sys.executable, "-c", LIST_IMPORTS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"
