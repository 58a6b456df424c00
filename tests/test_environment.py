"""The environment every report carries: versions of every backend's distributions (read from their metadata),
each adapter's numerics settings, the frameworks' own switches, and nothing printed while reading them."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from types import SimpleNamespace

import numpy as np
import pytest

from parity import adapters
from parity.cli.main import main
from parity.running import environment

FRAMEWORKS = ("torch", "tensorflow", "jax", "keras", "onnxruntime", "onnx", "openvino", "paddle", "scipy",
              "pytensor", "mlx", "tinygrad", "ai_edge_litert")


def _installed(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


def test_describe_names_python_threads_and_numpy(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    described = environment.describe(["numpy"])
    assert described["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert described["threads"]["OMP_NUM_THREADS"] == "3"
    assert described["frameworks"] == {"numpy": {"versions": {"numpy": np.__version__}}}


_VARIANTS = ("import json, sys; from parity.running import environment; "
             "print(json.dumps(environment.describe(['onnxruntime_noopt', 'scipy_fft', 'openvino_default', "
             "'litert_ref'])['frameworks'])); "
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))")


def test_variants_record_their_settings_and_versions_without_importing_a_framework():
    _installed("onnxruntime", "scipy", "openvino", "ai_edge_litert")
    done = subprocess.run([sys.executable, "-c", _VARIANTS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frameworks, imported = done.stdout.splitlines()
    found = json.loads(frameworks)
    assert found["onnxruntime_noopt"]["settings"]["graph_optimization"] == "ORT_DISABLE_ALL"
    assert found["onnxruntime_noopt"]["versions"] == {"onnxruntime": metadata.version("onnxruntime"),
                                                      "onnx": metadata.version("onnx")}
    assert found["scipy_fft"] == {"versions": {"scipy": metadata.version("scipy")}, "settings": {"method": "fft"}}
    assert found["openvino_default"]["settings"]["inference_precision"] == "the plugin's default"
    assert found["litert_ref"]["settings"] == {"op_resolver": "BUILTIN_REF"}
    assert found["litert_ref"]["versions"]["ai-edge-litert"] == metadata.version("ai-edge-litert")
    tensorflow = "tensorflow-cpu" if "tensorflow-cpu" in found["litert_ref"]["versions"] else "tensorflow"
    assert set(found["litert_ref"]["versions"]) == {"ai-edge-litert", tensorflow}  # as pip spells them
    assert imported == "[]"


def test_another_packages_adapter_records_that_packages_version(monkeypatch):
    point = SimpleNamespace(dist=SimpleNamespace(name="mine-conv", version="1.2.3"))
    monkeypatch.setattr(adapters, "plugins", lambda: {"mine": point})
    monkeypatch.setattr(adapters, "get", lambda name: SimpleNamespace(name=name))
    assert environment.describe(["mine"])["frameworks"] == {"mine": {"versions": {"mine-conv": "1.2.3"}}}


def test_a_module_attribute_adapter_records_its_modules_distribution(monkeypatch):
    _installed("scipy")
    monkeypatch.setattr(adapters, "plugins", lambda: {})
    monkeypatch.setattr(adapters, "get", lambda name: SimpleNamespace(name=name))
    found = environment.describe(["scipy:Adapter", "scipy.signal:Adapter"])["frameworks"]
    assert found == dict.fromkeys(["scipy.signal:Adapter", "scipy:Adapter"], {"versions": {"scipy": metadata.version("scipy")}})


def test_a_reader_that_raises_is_recorded_not_raised(monkeypatch):
    def broken():
        raise RuntimeError("no introspection here")

    monkeypatch.setitem(environment._READERS, "numpy", broken)
    assert environment.describe(["numpy"])["frameworks"]["numpy"] == {"error": "RuntimeError: no introspection here"}


@pytest.mark.parametrize("backend", ["tensorflow", "keras", "pytensor"])
def test_reading_the_environment_prints_nothing(backend):
    """TensorFlow's oneDNN notice (where the reader imports it first) and PyTensor's BLAS warning (on reading
    blas__ldflags) reached the terminal."""
    _installed(backend)
    code = f"from parity.running import environment; print(list(environment.describe([{backend!r}])['frameworks']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"[{backend!r}]\n", "")


def test_the_json_report_carries_the_versions(tmp_path, capsys):
    _installed("torch")
    out = tmp_path / "run.json"
    assert main(["run", "--tier", "smoke", "-k", "conv1d and f32", "--backends", "numpy,torch", "--json", str(out)]) == 0
    capsys.readouterr()
    torch = json.loads(out.read_text())["environment"]["frameworks"]["torch"]
    assert torch["versions"] == {"torch": metadata.version("torch")}
    assert torch["settings"] == {"device": "cpu", "tf32": "framework default", "deterministic": False}


def test_the_headline_names_whose_version_it_shows():
    from parity.running.environment import headline

    frameworks = {"torch": {"versions": {"torch": "2.13.0"}}, "tensorflow": {"versions": {"tensorflow-cpu": "2.21.0"}},
                  "mine:ADAPTER": {"versions": {"scipy": "1.17.1"}}, "bare": {}}
    line = headline({"frameworks": frameworks})
    assert line.endswith("; torch 2.13.0, tensorflow 2.21.0, mine:ADAPTER (scipy 1.17.1), bare")


@pytest.mark.parametrize("settings, recorded", [
    (lambda: {"tf32": np.bool_(True), "eps": np.float32(0.5), "n": np.int64(3), 7: float("nan"), "shape": (2, 3),
              "where": object}, {"tf32": True, "eps": 0.5, "n": 3, "7": "nan", "shape": [2, 3], "where": str(object)}),
    (lambda: ["tf32"], {"error": "settings() must return a dict, got list"}),
    (lambda: 1 / 0, {"error": "settings() raised ZeroDivisionError: division by zero"}),
])
def test_an_adapters_settings_are_recorded_as_plain_json_whatever_it_returns(monkeypatch, settings, recorded):
    """numpy scalars in settings() made every report fail to write (TypeError at json.dumps), and a raising
    settings() replaced the backend's versions with the error."""
    point = SimpleNamespace(dist=SimpleNamespace(name="mine-conv", version="1.2.3"))
    monkeypatch.setattr(adapters, "plugins", lambda: {"mine": point})
    monkeypatch.setattr(adapters, "get", lambda name: SimpleNamespace(name=name, settings=settings))
    found = environment.describe(["mine"])["frameworks"]["mine"]
    assert found == {"versions": {"mine-conv": "1.2.3"}, "settings": recorded}
    json.dumps(found, allow_nan=False)


def test_a_frameworks_string_is_recorded_as_the_adapter_s_error(monkeypatch):
    """``frameworks = ("numpy")`` is a str: the report recorded no versions and said nothing (helper-35)."""
    monkeypatch.setattr(adapters, "get", lambda name: SimpleNamespace(name=name, frameworks=("numpy")))
    found = environment.describe(["mine"])["frameworks"]["mine"]
    assert found == {"error": "ValueError: frameworks must be a tuple of module names, got 'numpy'"}
