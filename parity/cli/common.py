"""Helpers shared by the command-line modules: output, argument types, and the checks made before any work.

Every usage error is one line, ``<field> must <rule>, got <value>``: argument types raise
``argparse.ArgumentTypeError`` with the rule, and :func:`usage_message` rewrites argparse's own messages
into the same form.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from parity.adapters.legacy.worker import MAX_SECONDS
from parity.core.errors import FieldError

_EXTERNAL = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def print_lines(lines: Iterable[str]) -> None:
    """Print lines (nothing for none); a reader that left (``parity list | head``) is not an error."""
    text = "\n".join(lines)
    try:
        if text:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def one_line(text: object) -> str:
    return " ".join(str(text).split("\n")).strip()


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (nan, inf, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0 and <= {MAX_SECONDS:g}, got {text!r}")
    return value


def integer(minimum: int, maximum: int) -> Callable[[str], int]:
    """argparse type: an integer in [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer from {minimum} to {maximum}, got {text!r}")
        return value

    return parse


def text(value: str) -> str:
    """argparse type: a non-blank string."""
    if not value.strip():
        raise argparse.ArgumentTypeError(f"must not be empty, got {value!r}")
    return value


_REWRITES: tuple[tuple[re.Pattern, Callable[[re.Match], str]], ...] = (
    (re.compile(r"argument (?P<f>.+?): (?P<rule>must .*)"), lambda m: f"{m['f']} {m['rule']}"),
    (re.compile(r"argument (?P<f>.+?): invalid choice: (?P<v>.*) \(choose from (?P<c>.*)\)"),
     lambda m: f"{m['f']} must be one of {m['c'].replace(chr(39), '')}, got {m['v']}"),
    (re.compile(r"argument (?P<f>.+?): invalid (?P<t>\w+) value: (?P<v>.*)"),
     lambda m: f"{m['f']} must be {'an integer' if m['t'] == 'int' else 'a number'}, got {m['v']}"),
    (re.compile(r"argument (?P<f>.+?): expected one argument"), 
     lambda m: f"{m['f']} must be followed by a value (write {m['f']}=VALUE for one starting with '-'), got none"),
    (re.compile(r"the following arguments are required: (?P<f>.*)"), lambda m: f"{m['f']} must be given, got nothing"),
    (re.compile(r"unrecognized arguments: (?P<v>.*)"), lambda m: f"arguments must be ones --help lists, got {m['v']}"),
)


@contextmanager
def as_options(*fields: str) -> Iterator[None]:
    """A :class:`~parity.core.errors.FieldError` of one of ``fields``, which the user gave as options of the
    same names, said with the option's name (``--output-padding`` for ``output_padding``)."""
    try:
        yield
    except FieldError as error:
        if error.field not in fields:
            raise
        raise ValueError(said_as_option(error, *fields)) from None


def said_as_option(error: ValueError, *fields: str) -> str:
    """``error``'s message, with the option's name where it is a FieldError of one of ``fields``."""
    if isinstance(error, FieldError) and error.field in fields:
        return f"--{error.field.replace('_', '-')} {error.rule}"
    return str(error)


def usage_message(message: str) -> str:
    """argparse's error messages in parity's one form: ``<field> must <rule>, got <value>``."""
    for pattern, rewrite in _REWRITES:
        found = pattern.fullmatch(message)
        if found:
            return rewrite(found)
    return one_line(message)


def backend_name(name: str, flag: str) -> str:
    """``ValueError`` unless ``name`` is a plain backend name or ``module:ATTRIBUTE`` with both parts given."""
    if not name.strip() or (":" in name and not _EXTERNAL.fullmatch(name.strip())):
        raise ValueError(f"{flag} must name backends or module:ATTRIBUTE (a dotted module and an attribute), "
                         f"got {name!r}")
    return name.strip()


def adapter(name: str, flag: str) -> object:
    """The adapter called ``name`` (``ValueError`` for a bad name, or a module that fails to import, even
    by calling ``sys.exit``)."""
    from parity import adapters

    chosen = adapters.parse(backend_name(name, flag), flag)
    if len(chosen) != 1:
        raise ValueError(f"{flag} must name one backend, got {name!r}")
    return adapters.get(chosen[0])


def backends(text: str | None) -> list[str]:
    """The backends of ``--backends`` (validated; every installed one when not given), never empty."""
    from parity import adapters

    for name in (text or "").split(","):
        if ":" in name:  # the user's module is imported now, so that its failure is a usage error
            adapter(name, "--backends")
    chosen = adapters.parse(text, "--backends")
    if not chosen:
        raise ValueError("--backends must include an installed backend, got none installed")
    return chosen


def unavailable(names: list[str]) -> dict[str, str]:
    """Why each backend that cannot run here cannot (a backend whose adapter raises counts as available:
    its cases report the error)."""
    from parity import adapters
    from parity.adapters.base import checked_reason

    reasons = {}
    for name in names:
        try:
            reason = checked_reason(adapters.get(name).available(), "available()")
        except (Exception, SystemExit):
            continue
        if reason:
            reasons[name] = one_line(reason)
    return reasons


def require_available(names: list[str]) -> dict[str, str]:
    """Why each backend that cannot run here cannot; ``ValueError`` naming every reason when none can
    (nothing would be compared)."""
    reasons = unavailable(names)
    if len(reasons) == len(names):
        listed = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        raise ValueError(f"--backends must include one that can run here, got none: {listed}")
    return reasons
