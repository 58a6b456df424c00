"""A framework call described once: the steps an adapter executes on the framework's objects are the lines
``parity translate`` prints, so the two cannot drift.

A step is ``target = function(*args, **kwargs)`` (``function`` dotted, looked up among the call's names:
``F.conv2d``, ``tf.nn.conv2d``) or ``target = source[index]``; an argument that is a :class:`Name` is an
earlier target or an input of the call, every other argument is a literal printed with ``repr``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Name:
    """A variable of the call: one of its inputs, or an earlier step's target."""

    text: str


@dataclass(frozen=True)
class Step:
    target: str
    function: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    index: tuple[slice | int, ...] | None = None  # set: ``target = function[index]``, function a variable


def step(target: str, function: str, *args: Any, **kwargs: Any) -> Step:
    """``target = function(*args, **kwargs)``."""
    return Step(target, function, args, tuple(kwargs.items()))


def sliced(target: str, source: str, index: Sequence[slice | int]) -> Step:
    """``target = source[index]``."""
    return Step(target, source, index=tuple(index))


def execute(steps: Sequence[Step], names: Mapping[str, Any]) -> Any:
    """Run ``steps`` with ``names`` (the framework's modules and the inputs); the last target's value."""
    scope = dict(names)
    for s in steps:
        if s.index is not None:
            scope[s.target] = scope[s.function][s.index]
            continue
        function = scope[s.function.split(".")[0]]
        for part in s.function.split(".")[1:]:
            function = getattr(function, part)
        scope[s.target] = function(*(_value(a, scope) for a in s.args),
                                   **{key: _value(value, scope) for key, value in s.kwargs})
    return scope[steps[-1].target]


def render(steps: Sequence[Step]) -> list[str]:
    """The steps as Python source lines."""
    lines = []
    for s in steps:
        if s.index is not None:
            lines.append(f"{s.target} = {s.function}[{', '.join(map(slice_text, s.index))}]")
            continue
        arguments = [*map(_text, s.args), *(f"{key}={_text(value)}" for key, value in s.kwargs)]
        lines.append(f"{s.target} = {s.function}({', '.join(arguments)})")
    return lines


def _value(argument: Any, scope: Mapping[str, Any]) -> Any:
    return scope[argument.text] if isinstance(argument, Name) else argument


def _text(argument: Any) -> str:
    return argument.text if isinstance(argument, Name) else repr(argument)


def slice_text(part: slice | int) -> str:
    """``slice(1, -2)`` -> ``"1:-2"``, ``slice(None)`` -> ``":"``."""
    if isinstance(part, int):
        return str(part)
    start, stop = ("" if v is None else str(v) for v in (part.start, part.stop))
    return f"{start}:{stop}" + ("" if part.step is None else f":{part.step}")
