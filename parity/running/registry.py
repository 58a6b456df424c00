"""Case registry: generator functions (in the ``parity.cases`` package, or in another package that declares
them under the ``parity.cases`` entry-point group) yield named cases per tier."""
from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from dataclasses import dataclass
from typing import Callable, Final, Iterable, Iterator, Union

from parity.core.spec import ConvSpec

TIERS: Final = ("smoke", "default", "full")
CASES_GROUP: Final = "parity.cases"


@dataclass(frozen=True)
class Case:
    """A spec with a stable, readable id (the spec's slug unless a generator names it)."""

    id: str
    spec: ConvSpec


Generator = Callable[[], Iterable[Union[Case, ConvSpec]]]
_GENERATORS: list[tuple[int, Generator]] = []


def generator(tier: str = "default") -> Callable[[Generator], Generator]:
    """Register a case generator for ``tier`` and every larger tier (smoke < default < full)."""
    level = _tier_level(tier)

    def register(fn: Generator) -> Generator:
        _GENERATORS.append((level, fn))
        return fn

    return register


def _tier_level(tier: str) -> int:
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
    return TIERS.index(tier)


def collect(tier: str = "default") -> list[Case]:
    """Every case of ``tier``, in generator order; a duplicate id is a ``ValueError``."""
    level = _tier_level(tier)
    _load_generators()
    seen: dict[str, str] = {}
    cases = []
    for fn_level, fn in _GENERATORS:
        if fn_level > level:
            continue
        for case in _cases(fn):
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} must be unique, got it from {seen[case.id]} and {fn.__name__}")
            seen[case.id] = fn.__name__
            cases.append(case)
    return cases


def _cases(fn: Generator) -> Iterator[Case]:
    try:
        items = list(fn())
    except Exception as error:  # a broken generator is named, not a traceback
        raise ValueError(f"case generator {fn.__module__}.{fn.__name__} must yield cases, got "
                         f"{type(error).__name__}: {error}") from None
    for item in items:
        if not isinstance(item, (Case, ConvSpec)):
            raise ValueError(f"case generator {fn.__module__}.{fn.__name__} must yield Case or ConvSpec objects, "
                             f"got {type(item).__name__}")
        yield item if isinstance(item, Case) else Case(item.slug(), item)


def _load_generators() -> None:
    """Import parity's case modules, then every entry point of the ``parity.cases`` group (a module, or a
    generator in one, whose ``@generator`` registers it)."""
    package = importlib.import_module("parity.cases")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"parity.cases.{module.name}")
    for point in metadata.entry_points(group=CASES_GROUP):
        try:
            point.load()
        except Exception as error:  # another package's broken cases are named, not a traceback
            raise ValueError(f"entry point {CASES_GROUP} {point.name!r} ({point.value}) must import, got "
                             f"{type(error).__name__}: {error}") from None


def select(cases: list[Case], expression: str | None) -> list[Case]:
    """Cases whose id matches a ``-k`` expression (see :mod:`parity.core.keyword`)."""
    if not expression:
        return cases
    from parity.core.keyword import matcher
    match = matcher(expression)
    return [case for case in cases if match(case.id)]
