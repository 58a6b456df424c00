"""Layers, not only calls: do two framework layers compute the same convolution, and the other framework's
equivalent of a layer.

:func:`check_layers` reads both layers (:mod:`parity.porting.layer_read`: weights, bias, strides, padding,
dilation, groups), runs both on the same seeded input (:func:`parity.generate`) in each one's layout,
compares them with each other and each with its own exact reference, lists the conventions in which
they differ, and, when they disagree, asks `parity check` which change of ``b``'s conventions gives
``a``'s output. :func:`convert_layer` builds the equivalent layer in another framework
(:mod:`parity.porting.layer_build`) and returns it only once :func:`check_layers` agrees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from parity.core import convert
from parity.porting import layer_build
from parity.porting import layer_run
from parity.porting.check_report import figures
from parity.porting.checking import CheckResult, check
from parity.verdict.comparison import Comparison, compare
from parity.core.inputs import generate
from parity.porting.layer_read import LayerConv, read
from parity.core import geometry
from parity.core.limits import memory_refusal


@dataclass(frozen=True)
class SizeCheck:
    """Both layers on one seeded input: b against a, and each against its own exact reference."""

    input_shape: tuple[int, ...]  # canonical (N, C, *spatial)
    pair: Comparison
    a_exact: Comparison
    b_exact: Comparison
    # b's exact result against a's (float64): the conventions themselves, which a short type's bound over long
    # sums cannot test (bfloat16 over 64 channels admits a flipped kernel, or zeros)
    conventions: Comparison

    @property
    def passed(self) -> bool:
        return self.pair.passed and self.conventions.passed

    @property
    def verdict(self) -> str:
        """agree, DISAGREE, or cannot tell: b vs a within a bound widened for repeated products only."""
        if self.passed:
            return "agree"
        return "DISAGREE" if "fail" in (self.pair.status, self.conventions.status) else "cannot tell"

    @property
    def reason(self) -> str:
        """Why b vs a did not pass (the pair's reason, else the conventions')."""
        return self.pair.reason or self.conventions.reason


@dataclass(frozen=True, eq=False)
class LayerCheck:
    a: LayerConv
    b: LayerConv
    sizes: tuple[SizeCheck, ...]
    differences: tuple[str, ...]  # conventions in which the layers differ, in words
    diagnosis: CheckResult | None  # `parity check` with b's conventions stated and a's output as Y

    @property
    def passed(self) -> bool:
        return all(size.passed for size in self.sizes)

    @property
    def verdict(self) -> str:
        verdicts = {size.verdict for size in self.sizes}
        if verdicts == {"agree"}:
            return "b computes what a computes"
        return "b does not compute what a computes" if "DISAGREE" in verdicts else \
            "cannot tell whether b computes what a computes"

    def as_dict(self) -> dict[str, Any]:
        def figures(c: Comparison) -> dict[str, Any]:
            return {"passed": c.passed, "max_abs": c.max_abs, "max_ulp": c.max_ulp, "bound_ratio": c.bound_ratio,
                    "reason": c.reason}

        return {"passed": self.passed, "verdict": self.verdict, "a": self.a.describe(), "b": self.b.describe(),
                "sizes": [{"input_shape": list(s.input_shape), "b_vs_a": figures(s.pair),
                           "a_vs_exact": figures(s.a_exact), "b_vs_exact": figures(s.b_exact),
                           "b_exact_vs_a_exact": figures(s.conventions)} for s in self.sizes],
                "differences": list(self.differences),
                "diagnosis": None if self.diagnosis is None else self.diagnosis.as_dict()}

    def format(self) -> str:
        lines = [f"a: {self.a.describe()}", f"b: {self.b.describe()}"]
        for size in self.sizes:
            dtype = self.a.dtype
            lines += [f"input {size.input_shape} (N, C, *spatial), seeded, {dtype}: {size.verdict}",
                      f"  b vs a: {_figures(size.pair, dtype)}",
                      f"  a vs its exact reference: {_figures(size.a_exact, dtype)}; b vs its own: "
                      f"{_figures(size.b_exact, dtype)}"]
            if size.verdict == "cannot tell":
                lines.append(f"  cannot tell: {size.reason}")
            for name, own in (("a", size.a_exact), ("b", size.b_exact)):
                if own.status == "fail":
                    lines.append(f"  {name} does not compute its own stated convolution here (a framework fault, "
                                 "or a convention parity does not read)")
            if size.pair.passed and not size.conventions.passed:
                lines.append(f"  b's exact result vs a's (float64): {_figures(size.conventions, 'float64')}: the "
                             f"{dtype} bound admits this difference, the conventions differ")
        lines += [f"differs: {difference}" for difference in self.differences]
        if self.diagnosis is not None:
            lines.append("diagnosis (b's conventions stated, b's weight as it stores it, a's output without its "
                         "bias as Y):")
            lines += ["  " + line for line in self.diagnosis.format().splitlines()]
        lines.append(self.verdict)
        return "\n".join(lines)


def _figures(comparison: Comparison, dtype: str = "float32") -> str:
    if comparison.kind == "shape":
        return comparison.reason
    return figures(comparison.max_abs, comparison.max_ulp, comparison.bound_ratio, dtype)


def _read(layer: Any, label: str) -> Any:
    """:func:`read`, its refusal naming which layer it is about (``a`` or ``b``)."""
    try:
        return read(layer)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None


def check_layers(a: Any, b: Any, *, input_size: int | Sequence[int] | None = None, batch: int = 2) -> LayerCheck:
    """Whether layer ``b`` computes what layer ``a`` computes (``a`` is the one to match), on seeded input of
    ``input_size`` per spatial axis (default: an even and an odd size, where TF's SAME pads differ)."""
    first, second = _read(a, "a"), _read(b, "b")
    _check_compatible(first, second)
    sizes, outputs = [], None
    for spatial in _sizes(first, input_size):
        spec = layer_run.spec(first, spatial, batch)
        refusal = memory_refusal(spec)
        if refusal:
            raise ValueError(f"input_size must fit the memory budget, got {'x'.join(map(str, spatial))} with batch "
                             f"{batch}: {refusal.removeprefix('refused: ')}")
        x = generate(spec)[0]
        ya, yb = layer_run.run(a, first, x), layer_run.run(b, second, x)
        ref_a, ref_b = layer_run.exact(first, x), layer_run.exact(second, x)
        pair = compare(yb, ref_a, first.dtype, expected=ya, computations=2) if ya.shape == yb.shape else \
            compare(yb, ref_a, first.dtype)
        size = SizeCheck(x.shape, pair, compare(ya, ref_a, first.dtype), compare(yb, ref_b, second.dtype),
                         compare(ref_b.value, ref_a, "float64", computations=2))
        sizes.append(size)
        if not size.passed and outputs is None:
            outputs = (x, ya)
    differences = tuple(_differences(first, second, [size.input_shape[2:] for size in sizes]))
    diagnosis = None if outputs is None else _diagnose(first, second, *outputs)
    return LayerCheck(first, second, tuple(sizes), differences, diagnosis)


def _check_compatible(a: LayerConv, b: LayerConv) -> None:
    for field in ("rank", "in_channels", "out_channels", "transposed", "dtype"):
        if getattr(a, field) != getattr(b, field):
            raise ValueError(f"layers must have the same {field}: a ({a.kind}) has {getattr(a, field)}, "
                             f"b ({b.kind}) has {getattr(b, field)}")


def _sizes(conv: LayerConv, given: int | Sequence[int] | None) -> list[tuple[int, ...]]:
    if given is not None:
        sizes = (given,) * conv.rank if isinstance(given, int) else tuple(given) if isinstance(given, (list, tuple)) \
            else (given,)
        if len(sizes) != conv.rank or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise ValueError(f"input_size must be {conv.rank} sizes >= 1, got {given!r}")
        return [sizes]
    spans = geometry.spans(conv.kernel, conv.dilations)
    even = max(16, 2 * max(spans)) // 2 * 2 if conv.rank < 3 else max(8, 2 * max(spans)) // 2 * 2
    return [(even,) * conv.rank, (even + 1,) * conv.rank]


def _differences(a: LayerConv, b: LayerConv, sizes: list[tuple[int, ...]]) -> list[str]:
    """The conventions in which the layers differ, resolved for inputs of the first of ``sizes`` (the padding
    for each of them, where it differs)."""
    found, spatial = [], sizes[0]
    for field in ("strides", "dilations", "groups", "padding_mode", "activation"):
        if getattr(a, field) != getattr(b, field):
            found.append(f"{field}: a {getattr(a, field)}, b {getattr(b, field)}")
    size = "x".join(map(str, spatial))
    if a.transposed and a.crops(spatial) != b.crops(spatial):
        found.append(f"crop (lo, hi) and output_padding at {size}: a {a.crops(spatial)}, b {b.crops(spatial)}")
    if not a.transposed:
        found += [f"padding (lo, hi) per axis at {'x'.join(map(str, n))}: a {a.pads(n)}, b {b.pads(n)}"
                  for n in sizes if a.pads(n) != b.pads(n)]
        if len({a.pads(n) for n in sizes}) > 1 and any(a.pads(n) != b.pads(n) for n in sizes):
            found.append("padding: a's depends on the input size (TF SAME at strides > 1), so a fix with fixed pads "
                         f"holds at one size only; parity.convert_layer(a, to={b.framework!r}) builds one for every size")
    if a.kernel != b.kernel:
        found.append(f"kernel size: a {a.kernel}, b {b.kernel}")
    elif not np.array_equal(a.weight, b.weight):
        delta = float(np.max(np.abs(np.asarray(a.weight, np.float64) - np.asarray(b.weight, np.float64))))
        found.append(f"weights (canonical order): max |a - b| {delta:.3g}")
    found += _bias_difference(a, b)
    return found


def _bias_difference(a: LayerConv, b: LayerConv) -> list[str]:
    if (a.bias is None) != (b.bias is None):
        return [f"bias: a {'has one' if a.bias is not None else 'has none'}, b "
                f"{'has one' if b.bias is not None else 'has none'}"]
    if a.bias is not None and not np.array_equal(a.bias, b.bias):
        delta = float(np.max(np.abs(np.asarray(a.bias, np.float64) - np.asarray(b.bias, np.float64))))
        return [f"bias: max |a - b| {delta:.3g}"]
    return []


def _diagnose(a: LayerConv, b: LayerConv, x: np.ndarray, ya: np.ndarray) -> CheckResult | None:
    """`parity check` with b's conventions stated (its layouts, its weight as stored) and a's output as Y."""
    y = np.asarray(ya, np.float64) - (0 if a.bias is None else a.bias.reshape(1, -1, *(1,) * a.rank))
    rank, last = b.rank, b.channels_last
    letters = convert.layout_name("channels_first", rank)[2:]
    if b.transposed:
        kernel, groups = (letters + "OI", 1) if last else ("IO" + letters, b.groups)
        crops, extra = b.crops(x.shape[2:])
        padding, options = crops, dict(transposed=True, output_padding=extra)
    else:
        kernel, groups = (letters + "IO" if last else "OI" + letters), b.groups
        padding, options = b.pads(x.shape[2:]), {}
    if last and not b.transposed and b.groups == b.in_channels and b.framework == "keras" and "Depthwise" in b.kind:
        kernel = letters + "IM"
    layout = convert.kernel_layout(kernel, rank, b.transposed)
    w = convert.kernel_from_canonical(b.weight, layout, groups if not layout.depthwise else b.groups)
    move = convert.to_channels_last if last else (lambda array: array)
    try:
        return check(move(x), w, move(y).astype(ya.dtype), layout="channels_last" if last else "channels_first",
                     kernel_layout=kernel, padding=padding, strides=b.strides, dilations=b.dilations,
                     groups=b.groups, **options)
    except ValueError:
        return None


def convert_layer(layer: Any, to: str = "torch", *, input_size: int | Sequence[int] | None = None) -> Any:
    """The ``to`` framework's layer ("torch" or "keras") computing what ``layer`` computes, weights and bias
    converted, returned once :func:`check_layers` agrees with it (at ``input_size``, default an even and an
    odd size). ``input_size`` also fixes TF SAME's pads at strides above 1, which otherwise become
    :class:`parity.porting.torch_same.SamePad`. ``ValueError`` (one line) for what the target cannot express."""
    conv = read(layer)
    size = None if input_size is None else _sizes(conv, input_size)[0]
    built = layer_build.build(conv, to, size)
    verdict = check_layers(layer, built, input_size=input_size)
    if not verdict.passed and verdict.verdict.startswith("cannot tell"):
        reason = next(size.reason for size in verdict.sizes if not size.passed)
        raise ValueError(f"the converted {to} layer must be checked against {conv.kind}, got: cannot tell: {reason}")
    own = next((s for s in verdict.sizes if not s.passed and s.a_exact.status == "fail" and s.b_exact.passed), None)
    if own is not None:
        raise ValueError(f"{conv.kind} must compute its own stated convolution to be converted, got "
                         f"{_figures(own.a_exact)} against its exact reference at input {own.input_shape} (a "
                         f"framework fault, or a convention parity does not read), where the converted {to} layer "
                         f"computes it ({_figures(own.b_exact)})")
    if not verdict.passed:
        worst = max(verdict.sizes, key=lambda item: item.pair.bound_ratio)
        raise ValueError(f"the converted {to} layer must compute what {conv.kind} computes, got "
                         f"{_figures(worst.pair)} at input {worst.input_shape} (a parity bug: please report it)")
    return built
