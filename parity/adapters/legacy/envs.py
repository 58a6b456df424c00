"""Virtual environments for the legacy backends, built from the machine's older interpreters.

``tf1`` (TensorFlow 1.15.5 + tflearn 0.5.0) needs Python 3.7, ``theano`` (Theano 1.0.5) Python 3.8: their
wheels exist for nothing newer. Environments live in ``$PARITY_ENV_DIR/<name>``, by default
``~/.cache/parity/envs/<name>``. The interpreter is looked up in pyenv (``$(pyenv root)/versions/3.7.*``,
newest patch release first), then on PATH (``python3.7``). ``parity env create NAME`` (or ``python -m
parity.adapters.legacy.envs create NAME``) calls :func:`create`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from parity.core import files


@dataclass(frozen=True)
class Environment:
    """What one legacy environment is built from, and how to tell that it works."""

    name: str
    python: str  # major.minor
    packages: tuple[str, ...]
    smoke: str  # a Python statement that must run in the finished environment


ENVIRONMENTS: Final = {
    "tf1": Environment("tf1", "3.7", ("tensorflow==1.15.5", "tflearn==0.5.0", "protobuf<3.21"),
                       "import tensorflow, tflearn; assert tensorflow.__version__ == '1.15.5'"),
    "theano": Environment("theano", "3.8", ("theano==1.0.5", "numpy<1.21", "scipy<1.8"),
                          "import theano; assert theano.__version__.startswith('1.0.5'); assert theano.config.cxx, "
                          "'Theano must find a C++ compiler (g++): its CPU convolutions are compiled C'"),
}


def environment(name: str) -> Environment:
    if name not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}, got {name!r}")
    return ENVIRONMENTS[name]


def root() -> Path:
    """Where environments are built: ``$PARITY_ENV_DIR`` or ``~/.cache/parity/envs``."""
    configured = os.environ.get("PARITY_ENV_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "parity" / "envs"


def python_path(name: str) -> Path:
    """The environment's interpreter (it exists once :func:`create` has succeeded)."""
    return root() / environment(name).name / "bin" / "python"


def missing(name: str) -> str | None:
    """None if the environment is built, else the adapters' 'not available' reason."""
    if python_path(name).exists():
        return None
    return f"{name} environment missing: run `parity env create {name}`"


def find_interpreter(version: str) -> Path:
    """Python ``version`` (e.g. "3.7") from pyenv, else from PATH; ``ValueError`` says how to get it."""
    pyenv_root = _pyenv_root()
    if pyenv_root is not None:
        candidates = sorted((pyenv_root / "versions").glob(f"{version}.*/bin/python{version}"),
                            key=lambda p: _patch(p.parent.parent.name), reverse=True)
        if candidates:
            return candidates[0]
    found = shutil.which(f"python{version}")
    if found:
        return Path(found)
    where = f"in pyenv ({pyenv_root}/versions) or " if pyenv_root else ""
    raise ValueError(f"python {version} must be installed, got none {where}on PATH: install it with "
                     f"`pyenv install {version}` (https://github.com/pyenv/pyenv) and run this again")


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv") or (str(Path.home() / ".pyenv/bin/pyenv") if (Path.home() / ".pyenv").exists()
                                      else None)
    if pyenv is None:
        return None
    done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _patch(name: str) -> tuple[int, ...]:
    """"3.7.16" -> (3, 7, 16); non-numeric releases (3.7.0rc1, 3.7-dev) sort first."""
    parts = name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (-1,)


def create(name: str) -> Path:
    """Build (or rebuild) environment ``name`` and return its interpreter; ``ValueError`` on failure.

    The new environment is built beside the old one, in a temporary folder, and swapped in only once its
    smoke test passed: a failed (or interrupted) rebuild leaves a working environment as it was.
    """
    env = environment(name)
    interpreter = find_interpreter(env.python)
    target = root() / env.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{env.name}-new-", dir=target.parent))
        os.chmod(building, 0o777 & ~files.umask())
    except OSError as error:
        raise ValueError(f"PARITY_ENV_DIR must be a writable folder, got {str(target.parent)!r}: "
                         f"{error.strerror or error}") from None
    try:
        _build(env, interpreter, building)
        _swap(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target / "bin" / "python"


def _build(env: Environment, interpreter: Path, folder: Path) -> None:
    python = str(folder / "bin" / "python")
    steps = ([str(interpreter), "-m", "venv", str(folder)],
             [python, "-m", "pip", "install", "--quiet", *env.packages],
             [python, "-c", env.smoke])
    for step in steps:
        print("+ " + " ".join(step), file=sys.stderr, flush=True)
        try:
            done = subprocess.run(step, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, check=False,
                                  env=_own_env())
        except OSError as error:
            raise ValueError(f"environment {env.name} must build, got `{step[0]}`: {error.strerror or error}") from None
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            lines = done.stderr.strip().splitlines() or ["no output"]
            raise ValueError(f"environment {env.name} must build, got exit code {done.returncode} from "
                             f"`{' '.join(step[:4])}`: {lines[-1]}")


def _swap(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is; the old environment is removed only once the new one is in place."""
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _own_env() -> dict[str, str]:
    """The environment for building: without the harness's pip constraints (tox sets PIP_CONSTRAINT) and
    Python path, which belong to the harness's interpreter, not to the legacy one."""
    return {k: v for k, v in os.environ.items() if k not in ("PIP_CONSTRAINT", "PYTHONPATH", "PYTHONHOME")}
