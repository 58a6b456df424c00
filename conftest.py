"""Repository-wide pytest configuration. The parity plugin itself is loaded from its ``pytest11`` entry
point (installing the package registers it), so a plain ``pytest`` here uses exactly what users get."""
import pytest


@pytest.fixture
def install_backends(monkeypatch):
    """``install_backends(table)`` makes ``parity.adapters.get``/``names`` serve exactly ``table``."""
    from parity import adapters

    def install(table):
        def get(name):
            if name not in table:
                raise ValueError(f"backend must be one of {', '.join(sorted(table))}, got {name!r}")
            return table[name]

        monkeypatch.setattr(adapters, "get", get)
        monkeypatch.setattr(adapters, "names", lambda: sorted(table))
        return table

    return install
