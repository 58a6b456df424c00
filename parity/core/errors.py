"""The error of a value that breaks the rule of a named field."""
from __future__ import annotations


class FieldError(ValueError):
    """``field`` (as the API names it) and the ``rule`` that follows it in the message, so that a front end
    taking the field under another name (a command-line option) can say the same with its own name."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field} {rule}")
        self.field, self.rule = field, rule
