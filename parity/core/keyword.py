"""``-k`` expressions like pytest's: substrings combined with ``and``, ``or``, ``not`` and parentheses."""
from __future__ import annotations

import re
from typing import Callable

Matcher = Callable[[str], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_MAX_DEPTH = 100  # the recursive-descent parser recurses once per level


def matcher(expression: str) -> Matcher:
    """Compile ``expression``; ``ValueError`` naming the problem if it does not parse."""
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise ValueError(f"-k expression must not be empty, got {expression!r}")
    depth = _nesting(tokens)
    if depth > _MAX_DEPTH:
        raise ValueError(f"-k expression must nest at most {_MAX_DEPTH} parentheses or 'not's, got {depth}")
    match, rest = _or(tokens, expression)
    if rest:
        raise ValueError(f"-k expression must be well formed, got unexpected {rest[0]!r} in {expression!r}")
    return match


def _nesting(tokens: list[str]) -> int:
    """The deepest nesting of parentheses plus a run of 'not's: how deep the parser will recurse."""
    deepest = parens = nots = 0
    for token in tokens:
        parens += (token == "(") - (token == ")")
        nots = nots + 1 if token == "not" else 0
        deepest = max(deepest, parens + nots)
    return deepest


def _or(tokens: list[str], text: str) -> tuple[Matcher, list[str]]:
    return _chain(tokens, text, "or", _and, any)


def _and(tokens: list[str], text: str) -> tuple[Matcher, list[str]]:
    return _chain(tokens, text, "and", _not, all)


def _chain(tokens: list[str], text: str, word: str, operand: Callable, combine: Callable) -> tuple[Matcher, list[str]]:
    """``operand (word operand)*``, its matchers combined with ``any`` (or) or ``all`` (and)."""
    first, tokens = operand(tokens, text)
    parts = [first]
    while tokens and tokens[0] == word:
        part, tokens = operand(tokens[1:], text)
        parts.append(part)
    return (first if len(parts) == 1 else lambda s: combine(p(s) for p in parts)), tokens


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
    needle = head.lower()  # as pytest's -k: case-insensitive
    return (lambda s: needle in s.lower()), rest
