"""Plain sentences and concrete fixes for convention changes, and where an unexplained error sits.

A fix makes the stated conventions reproduce Y: code on the user's x and w, the stated call's changed
arguments, then code on the call's result. Its lines run in a fixed order whatever the changes: first
the layout conversions (x and w from the layouts Y was computed with into the stated ones), then the
lines that index the stated layouts (kernel flips, padding), the call, the lines on its result in the
stated layout (crops), and last the result's conversion back to Y's layout.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Final, Sequence

import numpy as np

from parity.adapters import _codegen as codegen
from parity.core import convert
from parity.porting.changes import Change, spatial_letters
from parity.core.reading import Frame, Reading

_MODES: Final = {"VALID": "VALID: no padding", "SAME": "TF SAME: the odd extra element at the end",
                 "SAME_LOWER": "SAME_LOWER: the odd extra element at the start",
                 "FULL": "FULL: (k-1)*d on both sides", "CAUSAL": "causal: (k-1)*d on the left only"}
_VALID: Final = 'padding="VALID"'
UNCHANGED: Final = "# the call, unchanged"  # where the call goes when the fix changes none of its arguments
_KERNELS: Final = {("IO", False): "TensorFlow's [k..., in, out]",
                   ("IM", False): "TensorFlow's depthwise [k..., in, multiplier]",
                   ("OI", True): "TensorFlow conv_transpose's [k..., out, in]"}


@dataclass(frozen=True)
class _Fix:
    """``convert``: lines taking x and w from Y's layouts to the stated ones; ``before``: lines on x and w
    in the stated layouts; ``arguments``: the call's changed arguments; ``after``: lines on its result in
    the stated layout; ``restore``: lines taking the result to Y's layout."""

    convert: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    restore: tuple[str, ...] = ()


def describe(changes: Sequence[Change], stated: Reading, fr: Frame) -> tuple[str, str]:
    """(sentence, fix) for an explanation: ``fr`` is the frame its changes give. The fix reproduces Y
    with the stated conventions (see the module docstring for the order of its lines)."""
    parts = [_RENDER[change.category](change, stated, fr, changes) for change in changes]
    fixes = [fix for _, fix in parts]
    arguments = [argument for fix in fixes for argument in fix.arguments]
    after = [line for stage in ("after", "restore") for fix in fixes for line in getattr(fix, stage)]
    spelling = " (PyTorch: padding=0)" if _VALID in arguments else ""  # PyTorch refuses "VALID" (it reads "valid")
    call = ["; ".join(arguments) + f"  # in the call{spelling}"] if arguments else [UNCHANGED] if after else []
    lines = [line for stage in ("convert", "before") for fix in fixes for line in getattr(fix, stage)]
    return " ".join(sentence for sentence, _ in parts), "\n".join(lines + call + after)


def _flip(change: Change, stated: Reading, fr: Frame, changes: Sequence[Change]) -> tuple[str, _Fix]:
    axes = dict(change.fields)["flips"]
    layout = stated.kernel_layout
    letters = spatial_letters(stated.rank)
    reversed_axes = {layout.name.index(letters[a]): "::-1" for a in axes}
    fix = _Fix(before=("w = w" + codegen.index(len(layout.name), reversed_axes),))
    if change.id == "flip":
        return ("The kernel is reversed on every spatial axis: Y is a true convolution (np.convolve, "
                "scipy.signal, Theano, Flux, Knet's conv4), where the stated conventions cross-correlate."), fix
    return f"The kernel is reversed along {letters[axes[0]]} only.", fix


def _layout(change: Change, stated: Reading, fr: Frame, changes: Sequence[Change]) -> tuple[str, _Fix]:
    rank = stated.rank
    actual, told = (convert.layout_name(f, rank) for f in (fr.reading.layout, stated.layout))
    family = fr.reading.layout.replace("_", "-")
    sentence, kernel_lines = f"x and Y are {actual} ({family}), not {told}.", []
    kernel, stated_kernel = fr.reading.kernel_layout, stated.kernel_layout
    kernel_changed = any(other.category == "kernel-layout" for other in changes)  # its own lines convert w
    if kernel != stated_kernel and dict(change.fields).get("kernel_layout") == kernel and not kernel_changed:
        sentence += f" The kernel, whose layout was not given, is then {kernel.name}, not {stated_kernel.name}."
        kernel_lines = codegen.kernel(kernel, stated_kernel, fr.w.shape, stated.groups)
    return sentence, _Fix(tuple(codegen.transpose("x", actual, told) + kernel_lines),
                          restore=tuple(codegen.transpose("y", told, actual)))


def _kernel_layout(change: Change, stated: Reading, fr: Frame, changes: Sequence[Change]) -> tuple[str, _Fix]:
    actual, told = fr.reading.kernel_layout, stated.kernel_layout
    fix = _Fix(convert=tuple(codegen.kernel(actual, told, fr.w.shape, stated.groups)))
    if actual == told:  # kept with a layout change that would take an unstated kernel layout along
        return f"The kernel, whose layout was not given, stays {told.name} (it does not follow the data).", fix
    if actual.name.translate(str.maketrans("OI", "IO")) == told.name:
        return f"The kernel's in and out channel axes are swapped: it is {actual.name}, not {told.name}.", fix
    if actual.spatial != told.spatial and actual.name.replace(actual.spatial, told.spatial) == told.name:
        return f"The kernel's spatial axes are transposed: it is {actual.name}, not {told.name}.", fix
    suffix = actual.name[len(actual.spatial):] if actual.name.startswith(actual.spatial) else ""
    hint = _KERNELS.get((suffix, actual.transposed))
    sentence = f"The kernel is stored {actual.name}{f' ({hint})' if hint else ''}, not {told.name}."
    if actual.depthwise and fr.spec.groups != stated.groups:
        sentence += f" A depthwise kernel has one group per input channel: groups={fr.spec.groups}, not {stated.groups}."
        fix = replace(fix, arguments=(f"groups={fr.spec.groups}",))
    return sentence, fix


def _padding(change: Change, stated: Reading, fr: Frame, changes: Sequence[Change]) -> tuple[str, _Fix]:
    spec = fr.spec
    padding = dict(change.fields)["padding"]
    geometry = (spec.spatial, spec.kernel, stated.strides, stated.dilations)
    resolve = convert.transpose_crops if stated.transposed else convert.explicit_pads
    told = resolve(stated.padding, *geometry)
    what = "cropped" if stated.transposed else "padded"
    sentence = (f"Y was {what} {_pads(spec.pads)} ({_mode(padding)}), not {_pads(told)} "
                f"({_mode(stated.padding)}).")
    sized = spec.output_shape[2:]
    # TF takes an output_shape m for n inputs only where its forward SAME conv maps m back to n = ceil(m / s)
    shaped = all(-(-m // s) == n for m, s, n in zip(sized, stated.strides, spec.spatial))
    if stated.transposed and stated.padding == "SAME" and shaped and spec.pads == resolve("SAME", *geometry,
                                                                                          outputs=sized):
        sentence = (f"Y was cropped {_pads(spec.pads)}: TF SAME with an output_shape of {'x'.join(map(str, sized))} "
                    f"(without output_shape, SAME gives n*s elements, cropped {_pads(told)}).")
    channels_last = stated.layout == "channels_last"
    return sentence, _crop_fix(fr, channels_last) if stated.transposed else _pad_fix(fr, channels_last)


def _pad_fix(fr: Frame, channels_last: bool) -> _Fix:
    pad = codegen.pad("x", fr.spec.pads, channels_last)
    torch = "" if channels_last else f"  # PyTorch: x = F.pad(x, {convert.torch_pad_arg(fr.spec.pads)})"
    return _Fix(before=(pad + torch,), arguments=(_VALID,))


def _crop_fix(fr: Frame, channels_last: bool) -> _Fix:
    spec = fr.spec
    native = convert.torch_transpose_args(spec.pads, spec.output_padding, spec.strides, spec.dilations)
    if native:
        return _Fix(arguments=(f"padding={codegen.call(native[0])}", f"output_padding={codegen.call(native[1])}"))
    crop = codegen.pad("y", convert.crop_full_transpose(spec.pads, spec.output_padding), channels_last)
    return _Fix(arguments=("padding=0", "output_padding=0"), after=(crop,))


def _geometry(change: Change, stated: Reading, fr: Frame, changes: Sequence[Change]) -> tuple[str, _Fix]:
    field, values = change.fields[0]
    told, fix = getattr(stated, field), _Fix(arguments=(f"{field}={codegen.call(values)}",))
    if field == "output_padding":
        return f"output_padding {codegen.call(values)} was added at the end, not {codegen.call(told)}.", fix
    return f"Y was computed with {field} {codegen.call(values)}, not {codegen.call(told)}.", fix


def _mode(padding: object) -> str:
    if isinstance(padding, str):
        return _MODES[padding]
    return "symmetric, like PyTorch's integer padding" if all(lo == hi for lo, hi in padding) else "explicit"


def _pads(pads: convert.Pads) -> str:
    pairs = [f"({lo}, {hi})" for lo, hi in pads]
    if len(set(pairs)) == 1:
        return pairs[0] + (" on every spatial axis" if len(pairs) > 1 else "")
    letters = spatial_letters(len(pads))
    return ", ".join(f"{pair} along {letter}" for pair, letter in zip(pairs, letters))


_RENDER: Final[dict[str, Callable[[Change, Reading, Frame, Sequence[Change]], tuple[str, _Fix]]]] = {
    "flip": _flip, "layout": _layout, "kernel-layout": _kernel_layout, "padding": _padding,
    "strides": _geometry, "dilations": _geometry, "output-padding": _geometry}


def locate(fr: Frame, value: np.ndarray, low: np.ndarray | None, bound: np.ndarray) -> str:
    """Where the error sits against ``bound`` (per element): NaN/Inf where the reference has none (and the
    reverse), how many outputs exceed the bound, whether only where the window overlaps the padding or
    only in some channels, and the worst element."""
    y = np.asarray(fr.y, np.float64)
    expected = value + (0 if low is None else low)
    both = np.isfinite(y) & np.isfinite(expected)
    with np.errstate(invalid="ignore"):
        err = np.where(both, np.abs(y - value - (0 if low is None else low)), 0.0)
    bad = both & ~(err <= bound)
    parts, nonfinite = _nonfinite(y, expected)
    count, total = int(bad.sum()), bad.size
    parts.append(f"{count} of {total} outputs ({100 * count / total:.3g}%) exceed the bound")
    wrong = bad | nonfinite
    interior = wrong[(slice(None), slice(None), *_interior(fr))]  # outputs whose window misses the padding
    if not fr.spec.transposed and count and interior.size and not interior.any():
        parts.append("all where the kernel window overlaps the padding (the padding differs: its values, e.g. "
                     "reflect or replicate padding, if no padding change explains Y)")
    channels = np.flatnonzero(wrong.any(axis=tuple(a for a in range(wrong.ndim) if a != 1)))
    if 0 < len(channels) < fr.y.shape[1]:
        listed = ", ".join(map(str, channels[:8])) + (" ..." if len(channels) > 8 else "")
        parts.append(f"only in output channels {listed}")
    if count:
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = _index(np.argmax(np.where(bad, err / bound, -1)), err.shape)
        parts.append(f"worst at {worst} (canonical N, C, *spatial): got {y[worst]:.9g}, expected {value[worst]:.9g}")
    return "; ".join(parts)


def _nonfinite(y: np.ndarray, expected: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sentences naming NaN/Inf in Y where the reference has none (and the reverse), with the mask of them."""
    parts, mask = [], np.zeros(y.shape, bool)
    for label, test in (("NaN", np.isnan), ("Inf", np.isinf)):
        for side, here, there in (("Y", y, expected), ("the reference", expected, y)):
            wrong = test(here) & ~test(there)
            if wrong.any():
                first = _index(np.flatnonzero(wrong)[0], y.shape)
                parts.append(f"{side} holds {label} at {int(wrong.sum())} of {y.size} outputs where "
                             f"{'the reference' if side == 'Y' else 'Y'} does not, first at {first} "
                             "(canonical N, C, *spatial)")
                mask |= wrong
    return parts, mask


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat), shape))


def _interior(fr: Frame) -> tuple[slice, ...]:
    """Output positions whose kernel window lies inside the unpadded input, per spatial axis."""
    spec = fr.spec
    region = []
    for n, (lo, _), span, s, m in zip(spec.spatial, spec.pads, spec.dilated_kernel, spec.strides, spec.output_spatial):
        first = -(-lo // s)  # o*s >= lo
        last = (n - span + lo) // s  # o*s - lo + span - 1 <= n - 1
        region.append(slice(first, max(first, min(last + 1, m))))
    return tuple(region)
