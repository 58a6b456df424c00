"""Layers named on the command line: ``path/to/file.py:NAME`` or ``package.module:NAME``.

The file or module is run (it is the user's code); NAME is one of its attributes, called with no
arguments when it is a function (so that a file can build its layers on demand). Every failure is one
line naming the argument.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Final

_NAME: Final = re.compile(r"[A-Za-z_]\w*")


def load(text: str, label: str) -> Any:
    where, _, name = text.rpartition(":")
    if not where or not _NAME.fullmatch(name):
        raise ValueError(f"{label} must be FILE.py:NAME or module:NAME, got {text!r}")
    try:
        module = _file(where, label) if where.endswith(".py") else importlib.import_module(where)
    except SystemExit as stop:
        raise ValueError(f"{label} {text!r} must load, got a call to sys.exit({stop.code!r}) while running it") \
            from None
    except ValueError:
        raise
    except ImportError as error:
        raise ValueError(f"{label} {text!r} must name an importable module, got: {error}") from None
    except Exception as error:  # noqa: BLE001 (the user's code: any failure is theirs to see, in one line)
        raise ValueError(f"{label} {text!r} must run, got {type(error).__name__}: {error}") from None
    if not hasattr(module, name):
        raise ValueError(f"{label} {text!r} must name an attribute of {where!r}, got none called {name!r}")
    value = getattr(module, name)
    if not inspect.isfunction(value):
        return value
    try:
        return value()
    except (Exception, SystemExit) as error:  # noqa: BLE001 (the user's factory: its failure is theirs, in one line)
        raise ValueError(f"{label} {text!r} must return a layer, got {type(error).__name__} from {name}(): "
                         f"{error}") from None


def _file(path: str, label: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{label} file {path!r} must exist, got {'a folder' if file.is_dir() else 'no such file'}")
    spec = importlib.util.spec_from_file_location(f"_parity_layers_{label}_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
