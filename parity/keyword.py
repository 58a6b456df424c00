"""``-k`` expressions like pytest's: substrings combined with ``and``, ``or``, ``not`` and parentheses."""
from __future__ import annotations

import re
from typing import Callable

Matcher = Callable[[str], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def matcher(expression: str) -> Matcher:
    """Compile ``expression``; ``ValueError`` naming the problem if it does not parse."""
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise ValueError(f"-k expression must not be empty, got {expression!r}")
    match, rest = _or(tokens, expression)
    if rest:
        raise ValueError(f"-k expression must be well formed, got unexpected {rest[0]!r} in {expression!r}")
    return match


def _or(tokens: list[str], text: str) -> tuple[Matcher, list[str]]:
    left, tokens = _and(tokens, text)
    while tokens and tokens[0] == "or":
        right, tokens = _and(tokens[1:], text)
        left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
    return left, tokens


def _and(tokens: list[str], text: str) -> tuple[Matcher, list[str]]:
    left, tokens = _not(tokens, text)
    while tokens and tokens[0] == "and":
        right, tokens = _not(tokens[1:], text)
        left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
    return left, tokens


def _not(tokens: list[str], text: str) -> tuple[Matcher, list[str]]:
    if not tokens:
        raise ValueError(f"-k expression must be well formed, got a dangling operator in {text!r}")
    head, rest = tokens[0], tokens[1:]
    if head == "not":
        inner, rest = _not(rest, text)
        return (lambda s: not inner(s)), rest
    if head == "(":
        inner, rest = _or(rest, text)
        if not rest or rest[0] != ")":
            raise ValueError(f"-k expression must close every '(', got {text!r}")
        return inner, rest[1:]
    if head in ("and", "or", ")"):
        raise ValueError(f"-k expression must be well formed, got unexpected {head!r} in {text!r}")
    return (lambda s: head in s), rest
