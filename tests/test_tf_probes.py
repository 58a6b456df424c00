"""What the TensorFlow and Keras adapters learn of the machine (``parity.adapters._probes``): the refusal reasons, the
routes, the layout fallback, and the real frameworks (where TensorFlow is installed), including TF's Eigen kernels
(TF_ENABLE_ONEDNN_OPTS=0), the ones CPUs without AVX-512 get; and their 16-bit accumulation, measured by the
runner."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import parity
from parity.core import convert
from parity.adapters import _probes as probes
from parity.adapters import keras as keras_adapter
from parity.adapters import tensorflow as tf_adapter
from parity.adapters.base import Refused
from parity.core.spec import ConvSpec


# --- routes: cases with one key take one call ----------------------------------------------------------------------
def _keras_mode(spec: ConvSpec) -> str:
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        return convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry)[0]
    return convert.keras_padding(spec.pads, *geometry)


def test_route_keys_take_the_cases_routes():
    """Same op, quantity, dtype, layout, channels, kernel, strides and dilations, and the same call: kind
    of padding, depthwise op or not (TF), layer and padding mode (Keras); one image of a few pixels."""
    for case in parity.collect("default"):
        spec, probe = case.spec, tf_adapter.route(case.spec)
        assert (probe.batch, tf_adapter.padding_kind(probe), tf_adapter.uses_depthwise_op(probe)) == \
            (1, tf_adapter.padding_kind(spec), tf_adapter.uses_depthwise_op(spec)), case.id
        assert probe.kernel == spec.kernel and probe.strides == spec.strides and probe.groups == spec.groups
        if keras_adapter._padding_reason(spec) is None:
            probe = keras_adapter.route(spec)
            assert keras_adapter._padding_reason(probe) is None, case.id
            assert (keras_adapter._layer_name(probe), _keras_mode(probe)) == \
                (keras_adapter._layer_name(spec), _keras_mode(spec)), case.id


# --- refusal reasons -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("message, via, reason", [
    ("{{function_node __wrapped__Conv2D_device_/job:localhost/replica:0/task:0/device:CPU:0}} The Conv2D op "
     "currently only supports the NHWC tensor format on the CPU. The op was given the format: NCHW [Op:Conv2D] name: ",
     "", "TensorFlow on CPU (Conv2D): 'The Conv2D op currently only supports the NHWC tensor format on the CPU.'"),
    ("{{function_node __wrapped___MklNativeConv3D_device_/job:localhost/replica:0/task:0/device:CPU:0}} input and "
     "filter must have the same depth: 4 vs 2 [Op:Conv3D] name: ",
     "", "TensorFlow on CPU (Conv3D): 'input and filter must have the same depth: 4 vs 2'"),
    ("Exception encountered when calling Conv2DTranspose.call().\n\n\x1b[1m{{function_node __wrapped__Conv2DBackprop"
     "Input_device_/job:localhost/replica:0/task:0/device:CPU:0}} Current CPU implementations do not yet support "
     "dilation rates larger than 1. [Op:Conv2DBackpropInput]\x1b[0m\n\nArguments received by Conv2DTranspose.call():",
     "Keras Conv2DTranspose", "TensorFlow on CPU (Keras Conv2DTranspose, Conv2DBackpropInput): 'Current CPU "
     "implementations do not yet support dilation rates larger than 1.'"),
])
def test_reason_is_one_line_quoting_tf(message, via, reason):
    assert probes.tf_reason(RuntimeError(message), via) == reason


class _OpError(Exception):
    pass


def _fake(refused_layouts: set[bool], calls: list[bool]):
    def compute(channels_first: bool) -> np.ndarray:
        calls.append(channels_first)
        if channels_first in refused_layouts:
            raise _OpError("{{function_node x_device_/job:l/device:CPU:0}} No. [Op:Conv2D]")
        return np.zeros(1)
    return compute


def test_channels_first_refused_once_per_route_then_converted():
    spec, calls = ConvSpec(spatial=(5, 5), kernel=3, layout="NCHW"), []
    route = ("test-only route", 1)
    for _ in range(2):
        probes.run_routed(spec, lambda _: route, _fake({True}, calls), _OpError)
    assert calls == [True, False, False] and probes.channels_first_refused(route)
    probes.run_routed(spec, lambda _: ("test-only route", 2), _fake(set(), calls), _OpError)
    assert calls[3:] == [True] and not probes.channels_first_refused(("test-only route", 2))


def _no_route(spec: ConvSpec):
    raise AssertionError("a channels-last case needs no route")


def test_refusal_is_a_skip_quoting_the_framework_and_other_errors_propagate():
    spec = ConvSpec(spatial=(5,), kernel=3, layout="NWC")
    with pytest.raises(Refused, match=r"^TensorFlow on CPU \(Conv2D\): 'No.'$"):
        probes.run_routed(spec, _no_route, _fake({False}, []), _OpError)

    def crash(channels_first: bool) -> np.ndarray:
        raise TypeError("a bug")
    with pytest.raises(TypeError):
        probes.run_routed(spec, _no_route, crash, _OpError)


# --- the real probes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["tensorflow", "keras"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_sixteen_bit_accumulation_is_measured_by_the_runner(backend, dtype):
    """The adapters declare PROBE for 16-bit cases; the runner's canary run turns it into a known type, used
    where the comparison under the default (float32) fails or the fingerprint names 16-bit sums."""
    pytest.importorskip(backend)
    from parity.adapters.base import PROBE
    from parity.running.registry import Case
    from parity.running.runner import CaseRun

    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=64, out_channels=8, dtype=dtype, layout="NHWC")
    assert parity.adapters.get(backend).accumulation(spec) == PROBE
    assert parity.adapters.get(backend).accumulation(ConvSpec(**{**spec.as_dict(), "dtype": "float64"})) == "float64"
    run = CaseRun(Case(spec.slug(), spec))
    result = run.against_reference(backend)
    if result.status == "skip" and result.reason.startswith("TensorFlow"):  # refused on this CPU, in TF's words
        pytest.skip(result.reason)
    assert run.probed(backend) in (dtype, f"{dtype}-taps", "float32")
    assert result.accumulation in ("float32", f"{run.probed(backend)} (probed)")
    assert result.status == "pass"


_EIGEN_SCRIPT = """
import json, parity
from parity.adapters import _probes as probes
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.core.spec import ConvSpec
from parity.adapters import keras, tensorflow
specs = {
    "nchw": ConvSpec(spatial=(7, 6), kernel=3, in_channels=3, out_channels=4, padding="SAME", layout="NCHW"),
    "conv3d_dilated": ConvSpec(spatial=(5, 5, 5), kernel=2, in_channels=2, out_channels=2, dilations=2, layout="NDHWC"),
    "grouped_grad": ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NHWC",
                             quantity="grad_weight"),
    "keras_depthwise_strides": ConvSpec(spatial=(7, 7), kernel=3, in_channels=2, out_channels=2, groups=2,
                                        strides=(1, 2), layout="NHWC"),
}
out = {}
for name, spec in specs.items():
    module = keras if name.startswith("keras") else tensorflow
    result = CaseRun(Case(name, spec)).against_reference(module.ADAPTER.name)
    native = (module.native_channels_first(spec) if module is keras
              else not probes.channels_first_refused(module.route(spec)))
    out[name] = [result.reason or None, native, result.status]
print(json.dumps(out))
"""


def test_eigen_kernels_refusals_are_declared_and_channels_first_is_converted():
    """TF's Eigen CPU kernels (oneDNN off: what CPUs without AVX-512 run) refuse these calls: the runs must
    skip them in TF's words, and compute the channels-first case by converting its layout."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _EIGEN_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["nchw"] == [None, False, "pass"]
    assert out["conv3d_dilated"][0] == ("TensorFlow on CPU (Conv3D): "
                                        "'CPU implementation of Conv3D currently only supports dilated rates of 1.'")
    assert out["grouped_grad"][0] == ("TensorFlow on CPU (Conv2DBackpropInput): "
                                      "'Gradients for grouped convolutions are not supported on CPU.'")
    assert out["keras_depthwise_strides"][0] == (
        "TensorFlow on CPU (Keras DepthwiseConv2D, DepthwiseConv2dNative): "
        "'Current implementation only supports equal length strides in the row and column dimensions.'")


def test_weight_gradient_probe_tries_signs_until_its_few_results_show_16_bit_sums():
    """Found by hypothesis: TF 2.21's bfloat16 depthwise weight gradient rounds products and sums to bfloat16
    (5 ULP, 11x the float32 bound on this case's normal data); its 2 results came out correctly rounded on
    the positive canary and on the first signed one, so the probe said float32 and the case failed."""
    pytest.importorskip("tensorflow")
    from parity.running.registry import Case
    from parity.running.runner import CaseRun

    spec = ConvSpec(spatial=(2,), kernel=1, in_channels=2, out_channels=2, batch=2, groups=2, padding=((1, 0),),
                    dtype="bfloat16", quantity="grad_weight", seed=3)
    run = CaseRun(Case(spec.slug(), spec))
    result = run.against_reference("tensorflow")
    if result.status == "skip":
        pytest.skip(result.reason)
    assert result.status == "pass", result
    if not run.probed("tensorflow").startswith("bfloat16"):  # another CPU's kernel may sum in float32
        pytest.skip(f"TensorFlow's bfloat16 depthwise weight gradient passes as {result.accumulation} here")


# --- imports: what TensorFlow's import would pull in needlessly is kept out of it ----------------------------------
def test_kept_out_packages_are_absent_during_the_import_and_importable_after(tmp_path, monkeypatch):
    """A package kept out looks uninstalled to the import (its optional use is skipped), imports normally
    afterwards; one already imported is left as it is."""
    (tmp_path / "heavy_optional.py").write_text("LOADED = True\n")
    (tmp_path / "needs_optional.py").write_text(
        "try:\n    import heavy_optional\nexcept ImportError:\n    heavy_optional = None\n"
        "import already_there\nSEEN = already_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    already = type(sys)("already_there")
    monkeypatch.setitem(sys.modules, "already_there", already)
    for name in ("needs_optional", "heavy_optional"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = probes.quiet_import("needs_optional", without=("heavy_optional", "already_there"))
    assert module.heavy_optional is None and module.SEEN is already
    assert "heavy_optional" not in sys.modules and sys.modules["already_there"] is already
    assert importlib.import_module("heavy_optional").LOADED  # importable again


_IMPORT_SCRIPT = """
import sys
from parity.adapters import tensorflow as adapter
tf = adapter._tf()
print("jax" in sys.modules)
from tensorflow.keras import layers
print(layers.Conv2D.__name__)
import jax.numpy as jnp
converter = tf.lite.TFLiteConverter.experimental_from_jax([lambda x: x * 2], [[("x", jnp.zeros((2,), jnp.float32))]])
print(len(converter.convert()) > 0)
"""


def test_tensorflow_is_imported_without_jax_and_loses_nothing():
    """tensorflow-cpu 2.21's import loads JAX when it is installed (about 110 MiB of peak RSS that a TensorFlow
    run never uses): the adapter's import leaves it out. Nothing of TensorFlow is lost for the rest of the
    process: ``tensorflow.keras`` imports (keeping Keras out too had broken it) and tf.lite's JAX converter
    converts (it had bound jax.jit as None)."""
    if not all(importlib.util.find_spec(name) for name in ("tensorflow", "keras", "jax")):
        pytest.skip("needs tensorflow, keras and jax installed")
    done = subprocess.run([sys.executable, "-c", _IMPORT_SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "Conv2D", "True"]


def test_keras_on_tensorflow_is_imported_without_jax():
    """Keras on TensorFlow imports TensorFlow, which would load JAX: the Keras adapter keeps it out too."""
    if not all(importlib.util.find_spec(name) for name in ("tensorflow", "keras")):
        pytest.skip("needs tensorflow and keras installed")
    script = ("import sys; from parity.adapters import keras as adapter; adapter._keras(); "
              "print('jax' in sys.modules, adapter._keras().backend.backend())")
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "tensorflow"]
