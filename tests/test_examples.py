"""The documented CI recipes call parity as it is: every ``parity`` command in ``examples/ci/parity.yml`` and
``tox.ini`` parses with the CLI's own parser (a renamed or removed option fails here, not in a user's CI)."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from parity.cli.main import _parser

ROOT = Path(__file__).resolve().parents[1]
# What the recipes leave to the shell or to tox, filled in as a user's CI would.
_FILLED = {"$against": "--baseline baseline/baseline.json", "{env:PARITY_BASELINE:baseline.json}": "baseline.json",
           "{posargs}": ""}


def _commands(path: Path) -> list[str]:
    found = []
    for line in path.read_text().splitlines():
        words = line.strip().removeprefix("run:").removeprefix("commands =").strip()
        if words.startswith("parity "):
            for placeholder, value in _FILLED.items():
                words = words.replace(placeholder, value)
            found.append(words)
    return found


COMMANDS = [(name, command) for name in ("examples/ci/parity.yml", "tox.ini") for command in _commands(ROOT / name)]


def test_the_recipes_hold_the_commands_the_readme_describes():
    subcommands = {(name, shlex.split(command)[1]) for name, command in COMMANDS}
    assert {("examples/ci/parity.yml", "run"), ("examples/ci/parity.yml", "report"), ("tox.ini", "run"),
            ("tox.ini", "env")} <= subcommands


@pytest.mark.parametrize("name, command", COMMANDS)
def test_every_parity_command_of_a_recipe_parses(name, command):
    try:
        _parser().parse_args(shlex.split(command)[1:])
    except SystemExit as stop:
        pytest.fail(f"{name}: {command!r} does not parse (exit {stop.code})")
