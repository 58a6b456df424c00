"""The package's layers: no module imports from a layer above its own (function-level and TYPE_CHECKING
imports included), so that each folder can be read with only what lies below it. Layers, bottom up:"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = ("core", "reference", "verdict", "adapters", "running", "cases", "report", "porting", "cli", "plugin")
PACKAGE = Path(__file__).parents[1] / "parity"


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "parity" and len(parts) > 1 and parts[1] in LAYERS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    own = _layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    if own is None:  # parity/__init__.py: the public names, loaded lazily from every layer
        return
    upward = [f"line {line}: {target}" for line, target in _imports(path)
              if (other := _layer(target)) is not None and LAYERS.index(other) > LAYERS.index(own)]
    assert not upward, f"{path.name} ({own}) imports from above: {upward}"


def test_every_module_is_in_a_layer():
    """Besides the layers: the public names (``__init__``) and ``python -m parity`` (``__main__``, the CLI)."""
    assert {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.glob("*")
            if p.name not in ("__init__.py", "__main__.py", "__pycache__")} == set(LAYERS)
