"""Backend registry. A backend is a module ``parity/adapters/<name>.py`` defining ``ADAPTER``; an adapter
living elsewhere is named ``package.module:ATTRIBUTE`` (e.g. ``--backends numpy,mylab.adapters:ADAPTER``)."""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from parity.adapters.base import Adapter

_NOT_BACKENDS = frozenset({"base"})


def names() -> list[str]:
    """Every backend parity ships, installed or not (no framework is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_BACKENDS
                  and not m.name.startswith("_"))


@cache
def get(name: str) -> Adapter:
    """The adapter called ``name``; ``ValueError`` for an unknown name."""
    if ":" in name:
        return _external(name)
    if name not in names():
        raise ValueError(f"backend must be one of {', '.join(names())} or module:ATTRIBUTE, got {name!r}")
    return importlib.import_module(f"parity.adapters.{name}").ADAPTER


def _external(name: str) -> Adapter:
    module, _, attribute = name.partition(":")
    if not all(part.isidentifier() for part in module.split(".")) or not attribute.isidentifier():
        raise ValueError(f"backend must be a shipped name or module:ATTRIBUTE with Python identifiers, got {name!r}")
    try:
        adapter = getattr(importlib.import_module(module), attribute)
    except SystemExit as stop:
        raise ValueError(f"backend must name an importable module:ATTRIBUTE, got {name!r}, whose import called "
                         f"sys.exit({stop.code!r})") from None
    except Exception as error:  # any failure while importing the user's module is a usage error
        raise ValueError(f"backend {name!r} must name an importable module:ATTRIBUTE, got "
                         f"{type(error).__name__}: {error}") from None
    if not isinstance(adapter, Adapter):
        raise ValueError(f"backend {name!r} must have name, available, supports and run, got {type(adapter).__name__}")
    return adapter


def installed() -> list[str]:
    """Backends whose framework can be imported here. A backend whose module or ``available()`` raises is
    listed too, so that its cases report the error instead of the backend vanishing from the run."""
    return [name for name in names() if _available(name)]


def _available(name: str) -> bool:
    try:
        return get(name).available() is None
    except Exception:
        return True


def parse(text: str | None) -> list[str]:
    """``"numpy,torch"`` -> ["numpy", "torch"] (validated); None -> every installed backend."""
    if text is None:
        return installed()
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen:
        raise ValueError(f"backends must name at least one of {', '.join(names())}, got {text!r}")
    for name in chosen:
        if ":" in name or name not in names():  # shipped adapters are imported when their cases run
            get(name)
    return list(dict.fromkeys(chosen))
