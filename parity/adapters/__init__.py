"""Backend registry. A backend is a module ``parity/adapters/<name>.py`` (or ``legacy/<name>.py``) defining
``ADAPTER``; another package adds one by declaring it in the ``parity.adapters`` entry-point group
(``name = "package.module:ATTRIBUTE"``); a one-off adapter is named ``package.module:ATTRIBUTE`` on the
command line (e.g. ``--backends numpy,mylab.adapters:ADAPTER``)."""
from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Callable

from parity.adapters.base import Adapter, checked_reason, opt_in

GROUP = "parity.adapters"
_NOT_BACKENDS = frozenset({"base", "legacy"})
_LEGACY_HELPERS = frozenset({"envs", "recordings", "worker", "workers"})
_NAME = re.compile(r"[a-z][a-z0-9_]*")
RESERVED = frozenset({"reference"})  # the exact result's column in every report


@cache
def shipped() -> dict[str, str]:
    """Name -> module of every backend parity ships (modules starting with ``_`` are helpers)."""
    top = {m.name: f"parity.adapters.{m.name}" for m in pkgutil.iter_modules(__path__)
           if m.name not in _NOT_BACKENDS and not m.name.startswith("_")}
    legacy = {m.name: f"parity.adapters.legacy.{m.name}"
              for m in pkgutil.iter_modules([str(Path(__file__).parent / "legacy")]) if m.name not in _LEGACY_HELPERS}
    return {**top, **legacy}


@cache
def plugins() -> dict[str, metadata.EntryPoint]:
    """Name -> entry point of every adapter another installed package declares under ``parity.adapters``;
    ``ValueError`` for a name that is not a lowercase identifier or that a shipped backend already has."""
    found = {}
    for point in metadata.entry_points(group=GROUP):
        rule = ("a lowercase identifier" if not _NAME.fullmatch(point.name) else
                "a name no backend parity ships has" if point.name in shipped() else
                f"another name than {point.name!r}, which reports give the exact result" if point.name in RESERVED
                else "")
        if rule:
            package = point.dist.name if point.dist else "an installed package"
            raise ValueError(f"entry point {GROUP} {point.name!r} of {package} ({point.value}) must be {rule}; "
                             f"uninstall or fix {package}")
        found[point.name] = point
    return found


def names() -> list[str]:
    """Every backend parity ships and every one an installed package declares, installed or not (no
    framework is imported)."""
    return sorted([*shipped(), *plugins()])


@cache
def get(name: str) -> Adapter:
    """The adapter called ``name``; ``ValueError`` for an unknown name."""
    if ":" in name:
        return _external(name)
    if name in shipped():
        return importlib.import_module(shipped()[name]).ADAPTER
    if name in plugins():
        point = plugins()[name]
        return _checked(name, f"entry point {GROUP} {name} = {point.value!r}", point.load)
    raise ValueError(f"backend must be one of {', '.join(names())} or module:ATTRIBUTE, got {name!r}")


def _external(name: str) -> Adapter:
    module, _, attribute = name.partition(":")
    if not all(part.isidentifier() for part in module.split(".")) or not attribute.isidentifier():
        raise ValueError(f"backend must be a shipped name or module:ATTRIBUTE with Python identifiers, got {name!r}")
    return _checked(name, "module:ATTRIBUTE", lambda: getattr(importlib.import_module(module), attribute))


def _checked(name: str, source: str, load: Callable[[], object]) -> Adapter:
    """The adapter ``load`` returns; ``ValueError`` naming ``source`` (what was to be imported) when its
    import fails or what it names is no adapter."""
    try:
        adapter = load()
    except SystemExit as stop:
        raise ValueError(f"backend must name an importable {source}, got {name!r}, whose import called "
                         f"sys.exit({stop.code!r})") from None
    except Exception as error:  # any failure while importing the user's module is a usage error
        raise ValueError(f"backend {name!r} must name an importable {source}, got "
                         f"{type(error).__name__}: {error}") from None
    if isinstance(adapter, type) and all(hasattr(adapter, name) for name in ("available", "supports", "run")):
        raise ValueError(f"backend {name!r} must name an adapter instance, got the class {adapter.__name__} "
                         f"(an instance: {adapter.__name__}())")
    if not isinstance(adapter, Adapter):
        missing = [member for member in ("name", "available", "supports", "run") if not hasattr(adapter, member)]
        raise ValueError(f"backend {name!r} must have name, available, supports and run, got "
                         f"{type(adapter).__name__} without {', '.join(missing) or 'them callable'}")
    return adapter


def origin(name: str) -> str:
    """Where backend ``name`` comes from: ``parity``, ``parity (legacy)``, or the
    distribution and ``module:ATTRIBUTE`` of its entry point."""
    if name in shipped():
        return "parity (legacy)" if ".legacy." in shipped()[name] else "parity"
    point = plugins()[name]
    return f"{point.dist.name if point.dist else 'an installed package'} ({point.value})"


def status(name: str) -> tuple[str, str]:
    """(``installed``, ``opt-in``, ``missing`` or ``error``, and why) for backend ``name``: ``error`` when
    loading it or asking it raises, or it answers against the contract."""
    try:
        adapter = get(name)
        why, chosen = checked_reason(adapter.available(), "available()"), opt_in(adapter)
    except Exception as error:
        return "error", f"{type(error).__name__}: {error}"
    if why is not None:
        return "missing", why
    return ("opt-in", f"runs where named (--backends): {chosen}") if chosen else ("installed", "")


def reason(name: str) -> str | None:
    """None if backend ``name`` can run here, else why not: its ``available()`` or the error loading it or
    asking it (then starting with ``error:``)."""
    state, why = status(name)
    return {"missing": why, "error": f"error: {why}"}.get(state)


def installed() -> list[str]:
    """Backends whose framework can be imported here, less the opt-in ones (they run where they are named).
    A backend whose module or ``available()`` raises is listed too, so that its cases report the error
    instead of the backend vanishing from the run."""
    return [name for name in names() if status(name)[0] in ("installed", "error")]


def parse(text: str | None, flag: str = "backends") -> list[str]:
    """``"numpy,torch"`` -> ["numpy", "torch"] (validated; errors name ``flag``, the option it came from);
    None -> every installed backend."""
    if text is None:
        return installed()
    chosen = [part.strip() for part in text.split(",")]
    if not any(chosen):
        raise ValueError(f"{flag} must name at least one of {', '.join(names())}, got {text!r}")
    if not all(chosen):
        raise ValueError(f"{flag} must be names separated by single commas, got {text!r} (an empty name)")
    for name in chosen:
        if ":" not in name and name not in names():
            raise ValueError(f"{flag} must name backends among {', '.join(names())} or module:ATTRIBUTE, "
                             f"got {name!r}")
        if ":" in name:  # named adapters are imported when their cases run
            get(name)
    return list(dict.fromkeys(chosen))
