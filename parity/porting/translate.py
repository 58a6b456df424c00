"""`parity translate`: the same convolution written for another framework, verified when both are installed.

Each adapter renders its own native call for a spec through an optional ``snippet(spec) -> Snippet``
method, so a new adapter module is a new translation target. A snippet's lines read numpy ``x`` and
``w`` in the snippet's native layouts and assign numpy ``y`` in its data layout; :func:`translate` wraps
each side with the layout conversions from the user's arrays (the source framework's native layouts
unless told otherwise), so both programs take the same x and w and give the same y. Verification runs
both printed programs on seeded inputs (:func:`parity.generate`) and compares them with each other and
with the exact reference.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

import numpy as np

from parity import adapters
from parity.adapters import _codegen as codegen
from parity.core import convert
from parity.reference import conv as ref
from parity.verdict.comparison import Comparison, compare, total_bound
from parity.verdict.sensitivity import indistinct, mutants, near
from parity.core.convert import KernelLayout
from parity.core.inputs import generate
from parity.adapters.base import Snippet
from parity.core.spec import ConvSpec

_NAMES: Final = {"numpy": "numpy", "torch": "PyTorch", "tensorflow": "TensorFlow"}


@dataclass(frozen=True)
class Translation:
    source: str
    target: str
    spec: ConvSpec
    code: str  # the source call and its translation, runnable on numpy x and w
    programs: tuple[str, str]  # (source, target): each reads x, w and assigns y, in the user's layouts
    verification: str  # figures, or why there are none
    passed: bool | None  # None: not verified


def snippet(backend: str, spec: ConvSpec) -> Snippet:
    adapter = adapters.get(backend)
    render = getattr(adapter, "snippet", None)
    if render is None:
        able = [name for name in adapters.names() if name in adapters.shipped()
                and getattr(adapters.get(name), "snippet", None) is not None]
        raise ValueError(f"backend must be one that writes its call ({', '.join(able)}), got {backend!r}, "
                         f"whose adapter has no snippet(spec)")
    return render(spec)


def translate(source: str, target: str, spec: ConvSpec, *, verify: bool = True) -> Translation:
    """The ``target`` framework's program for what ``source`` computes, on the user's arrays (laid out as
    ``spec.layout`` says, kernel as the source framework stores it)."""
    first, second = snippet(source, spec), snippet(target, spec)
    data = convert.layout_name(spec.layout, spec.rank)
    programs = [_program(s, data, first.kernel_layout, spec) for s in (first, second)]
    shapes = _shapes(spec, data, first.kernel_layout)
    code = [f"# {_NAMES.get(source, source)}, what you have ({shapes}):", *programs[0],
            *([f"# {first.note}"] if first.note else []), "",
            f"# {_NAMES.get(target, target)}, the same convolution on the same arrays:", *programs[1]]
    code += [f"# {second.note}"] if second.note else []
    texts = tuple("\n".join(p) for p in programs)
    if not verify:
        return Translation(source, target, spec, "\n".join(code), texts, "", None)
    verdict, passed = _verify(spec, source, target, list(texts), first.kernel_layout)
    return Translation(source, target, spec, "\n".join(code), texts, verdict, passed)


def _program(part: Snippet, data: str, kernel: KernelLayout, spec: ConvSpec) -> list[str]:
    imports = list(dict.fromkeys(("import numpy as np", *part.imports)))
    convert_in = codegen.transpose("x", data, part.data_layout) + \
        codegen.kernel(kernel, part.kernel_layout, spec.kernel_shape, spec.groups)
    return imports + convert_in + list(part.lines) + codegen.transpose("y", part.data_layout, data)


def _shapes(spec: ConvSpec, data: str, kernel: KernelLayout) -> str:
    batch, channels, *spatial = spec.input_shape
    out_batch, out_channels, *out = spec.output_shape
    w = convert.kernel_from_canonical(np.broadcast_to(np.int8(0), spec.kernel_shape), kernel, spec.groups)
    if spec.layout == "channels_last":
        x, y = (batch, *spatial, channels), (out_batch, *out, out_channels)
    else:
        x, y = spec.input_shape, spec.output_shape
    return f"x {data} {x}, w {kernel.name} {w.shape}, y {data} {y}"


def _to_layout(a: np.ndarray, spec: ConvSpec) -> np.ndarray:
    return convert.to_channels_last(a) if spec.layout == "channels_last" else a


def _verify(spec: ConvSpec, source: str, target: str, programs: list[str],
            kernel: KernelLayout) -> tuple[str, bool | None]:
    for name in (source, target):
        reason = adapters.get(name).available() or adapters.get(name).supports(_native(spec, name))
        if reason:
            return f"# not verified: {reason}", None
    x, w = generate(spec)
    outputs = []
    for name, program in zip((source, target), programs):
        space = {"x": _to_layout(x, spec).copy(), "w": convert.kernel_from_canonical(w, kernel, spec.groups).copy()}
        try:
            exec(program, space)  # noqa: S102 (the program printed above)
        except Exception as error:  # noqa: BLE001 (any framework error is the verdict)
            return f"# verification failed: the {name} program raised {type(error).__name__}: {error}", False
        y = np.asarray(space["y"])
        outputs.append(convert.to_channels_first(y) if spec.layout == "channels_last" else y)
    return _figures(spec, x, w, source, target, outputs)


def _native(spec: ConvSpec, backend: str) -> ConvSpec:
    """The spec in the layout the backend's snippet takes (the snippet converts the user's arrays)."""
    family = convert.layout_family(snippet(backend, spec).data_layout, spec.rank)
    return dataclasses.replace(spec, layout=family)


def _figures(spec: ConvSpec, x: np.ndarray, w: np.ndarray, source: str, target: str,
             outputs: list[np.ndarray]) -> tuple[str, bool]:
    exact = ref.reference(spec, x, w)
    against = [compare(y, exact, spec.dtype) for y in outputs]
    pair = compare(outputs[1], exact, spec.dtype, expected=outputs[0], computations=2)
    passed = pair.passed and all(c.passed for c in against)
    text = (f"# verified on seeded inputs (parity.generate), {spec.dtype}: {target} vs {source}: {_line(pair)}\n"
            f"# against the exact reference: {source} {_line(against[0])}; {target} {_line(against[1])}")
    if any(c.status == "fail" for c in (pair, *against)):
        return text + "\n# MISMATCH: " + (pair.reason or against[0].reason or against[1].reason), False
    if not passed:  # insensitive: within a bound widened for repeated products
        return text + "\n# not verified: " + next(c.reason for c in (pair, *against) if not c.passed), None
    bound = total_bound(exact, spec.dtype)
    close = near(mutants(spec, exact, x, w), exact, spec.dtype, bound)
    doubt = (indistinct(close, outputs[1], exact.value, bound, spec.dtype)
             or indistinct(close, outputs[0], exact.value, bound, spec.dtype))
    if doubt:  # a verification that could not have failed verifies nothing
        wider = {"float32": "float64", "float16": "float32", "bfloat16": "float32"}.get(spec.dtype)
        hint = f"; the code is the same in {wider}: --dtype {wider}" if wider else ""
        return text + f"\n# not verified: {doubt}{hint}", None
    return text, True


def _line(comparison: Comparison) -> str:
    return (f"max_abs {comparison.max_abs:.3g}, max_ulp {comparison.max_ulp}, "
            f"bound_ratio {comparison.bound_ratio:.3g}")
