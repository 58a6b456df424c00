"""Legacy backends (tf1, tflearn, theano) run out of process, their translations, and env creation.

The backend tests skip with the reason where the environment is absent; build them with
``parity env create tf1`` / ``theano``, or ``tox -e legacy``.
"""
import numpy as np
import pytest

import parity
from parity import adapters
from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.legacy import theano as theano_adapter
from parity.adapters.legacy import tf1 as tf1_adapter
from parity.core.spec import ConvSpec
from parity.adapters.base import Refused
from parity.adapters.legacy.worker import call_in_env, for_env

needs_tf1 = pytest.mark.skipif(envs.missing("tf1") is not None, reason=str(envs.missing("tf1")))
needs_theano = pytest.mark.skipif(envs.missing("theano") is not None, reason=str(envs.missing("theano")))


def _passes(backend: str, spec: ConvSpec) -> parity.Comparison:
    x, w, dy = *parity.generate(spec), parity.cotangent(spec)
    adapter = adapters.get(backend)
    assert adapter.supports(spec) is None
    comparison = parity.compare(adapter.run(spec, x, w, dy), parity.exact(spec, x, w, dy), spec.dtype)
    assert comparison.passed, comparison
    return comparison


# --- translations (no environment needed) ------------------------------------------------------------------
def test_tflearn_conv_1d_kernel_is_width_1_in_out():
    from parity.adapters.legacy.tflearn import kernel_translation

    w = np.arange(2 * 3 * 5).reshape(2, 3, 5)  # (O, I, W)
    spec = ConvSpec(spatial=(7,), kernel=5, in_channels=3, out_channels=2, layout="NWC")
    to_layer, from_layer = kernel_translation("conv_1d", convert.dimensions_for(spec, kernel="spatial_first"), 1)
    k = to_layer(w)
    assert k.shape == (5, 1, 3, 2) and k[4, 0, 1, 0] == w[0, 1, 4]
    np.testing.assert_array_equal(from_layer(k), w)


@pytest.mark.parametrize("pads, kernel, dilations, expected", [
    (((0, 0), (0, 0)), (3, 3), (1, 1), "valid"),
    (((2, 2), (4, 4)), (3, 3), (1, 2), "full"),
    (((1, 1), (1, 1)), (3, 2), (1, 1), "half"),  # Theano pads a 2-wide kernel by 2 // 2 = 1 on both sides
    (((1, 1), (2, 2)), (3, 3), (1, 1), (1, 2)),
    (((0, 1), (1, 1)), (2, 3), (1, 1), ((0, 1), (1, 1))),
])
def test_theano_border_mode(pads, kernel, dilations, expected):
    assert convert.theano_border_mode(pads, kernel, dilations) == expected


def test_tf1_conv_args_and_height1():
    assert convert.tf1_conv_args(1, (2,), (3,)) == {"stride": 2, "dilations": 3}
    assert convert.tf1_conv_args(3, (1, 2, 1), (1, 1, 1))["strides"] == [1, 1, 2, 1, 1]
    a = np.zeros((2, 3, 7))
    assert convert.as_height1(a).shape == (2, 3, 1, 7) and convert.from_height1(convert.as_height1(a)).shape == a.shape


def test_theano_takes_channels_first_data_only():
    spec = ConvSpec(spatial=(8, 8), kernel=3)
    assert theano_adapter.ADAPTER.supports(spec) is None and theano_adapter.ADAPTER.filter_flip
    assert theano_adapter.ADAPTER.supports(ConvSpec(**{**spec.as_dict(), "layout": "NHWC"})) == \
        theano_adapter.CHANNELS_FIRST


# --- environments ------------------------------------------------------------------------------------------
def test_missing_environment_is_the_adapters_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PARITY_ENV_DIR", str(tmp_path))
    for name, env in (("tf1", "tf1"), ("tflearn", "tf1"), ("theano", "theano")):
        assert adapters.get(name).available() == f"{env} environment missing: run `parity env create {env}`"


def test_missing_interpreter_says_which_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match=r"^python 3.7 must be installed, got none in pyenv .* on PATH: install it "
                                         r"with `pyenv install 3.7`"):
        envs.find_interpreter("3.7")
    with pytest.raises(ValueError, match="environment must be one of tf1, theano, got 'tf2'"):
        envs.create("tf2")


def test_pyenv_interpreter_newest_patch_first(monkeypatch, tmp_path):
    for version in ("3.7.9", "3.7.16", "3.8.18"):
        binary = tmp_path / "versions" / version / "bin" / f"python{version[:3]}"
        binary.parent.mkdir(parents=True)
        binary.touch()
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert envs.find_interpreter("3.7") == tmp_path / "versions/3.7.16/bin/python3.7"


# --- tf1 and tflearn ---------------------------------------------------------------------------------------
@needs_tf1
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(11,), kernel=3, in_channels=4, out_channels=5, strides=2, padding="SAME", layout="NWC"),
    ConvSpec(spatial=(11,), kernel=4, in_channels=2, out_channels=3, dilations=2, padding="CAUSAL", layout="NWC",
             dtype="float64"),  # tf.pad + VALID
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=3, out_channels=4, strides=2, dilations=2,
             padding=((2, 1), (0, 3)), layout="NHWC", dtype="float16"),  # explicit padding list
    ConvSpec(spatial=(5, 6, 7), kernel=(3, 2, 3), in_channels=2, out_channels=3, padding="SAME_LOWER", layout="NDHWC"),
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=3, out_channels=4, strides=2, padding="SAME", layout="NHWC",
             quantity="grad_input"),
    ConvSpec(spatial=(11,), kernel=3, in_channels=3, out_channels=2, padding="FULL", layout="NWC",
             quantity="grad_weight", dtype="float64"),
], ids=lambda spec: spec.slug())
def test_tf1_matches_reference(spec):
    _passes("tf1", spec)


@needs_tf1
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(11,), kernel=4, in_channels=3, out_channels=5, strides=2, padding="SAME", layout="NWC"),
    ConvSpec(spatial=(9, 8), kernel=(3, 2), in_channels=3, out_channels=4, strides=(2, 1), padding="VALID",
             layout="NHWC"),
], ids=lambda spec: spec.slug())
def test_tflearn_matches_reference(spec):
    _passes("tflearn", spec)


@needs_tf1
def test_tf1_and_tflearn_share_one_worker():
    worker = for_env("tf1", "tf1_worker.py")
    before = worker.started
    for backend in ("tf1", "tflearn", "tf1"):
        _passes(backend, ConvSpec(spatial=(8, 8), kernel=3, in_channels=2, out_channels=2, layout="NHWC"))
    assert worker.started == max(before, 1)


def _raw_tf1(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    x = parity.generate(spec)[0]
    call = {"framework": "tf1", "op": f"conv{spec.rank}d", "pad": None, "crop": None, "quantity": "output",
            "kwargs": {**convert.tf1_conv_args(spec.rank, spec.strides, spec.dilations), "padding": "VALID"}}
    shape = (spec.batch, *spec.output_spatial, spec.out_channels)
    return call_in_env("tf1", "tf1_worker.py", call, {"x": convert.to_channels_last(x), "w": w}, shape, spec.dtype)


@needs_tf1
def test_tf1_grouped_conv2d_is_refused_in_tfs_words():
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NHWC")
    with pytest.raises(Refused, match=r"^TensorFlow 1.15.5 \(Conv2D\): 'The Conv2D op currently does not support "
                                      r"grouped convolutions on the CPU.'$"):
        _raw_tf1(spec, np.moveaxis(parity.generate(spec)[1], (0, 1), (-1, -2)))


@needs_tf1
def test_tf1_grouped_conv3d_is_silently_wrong():
    """Finding: TF 1.15's CPU Conv3D takes a filter shallower than the input without an error and returns
    wrong values (TF 2.21 refuses it); the adapter declares grouped conv3d unsupported."""
    spec = ConvSpec(spatial=(5, 6, 7), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NDHWC",
                    dtype="float64")
    x, w = parity.generate(spec)
    y = convert.to_channels_first(_raw_tf1(spec, np.moveaxis(w, (0, 1), (-1, -2))))
    comparison = parity.compare(y, parity.exact(spec, x, w), spec.dtype)
    assert comparison.status == "fail" and comparison.bound_ratio > 1e6
    assert adapters.get("tf1").supports(spec) == tf1_adapter.CONV3D_GROUPS


# --- theano ------------------------------------------------------------------------------------------------
@needs_theano
@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(11,), kernel=4, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME"),
    ConvSpec(spatial=(9, 8), kernel=(3, 2), in_channels=4, out_channels=8, groups=4, strides=(2, 1), dilations=2,
             padding=((2, 1), (0, 3)), dtype="float64"),
    ConvSpec(spatial=(5, 6, 7), kernel=3, in_channels=4, out_channels=4, groups=2, padding="FULL"),
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME",
             quantity="grad_input"),
    ConvSpec(spatial=(9, 8), kernel=(3, 2), in_channels=4, out_channels=6, groups=2, dilations=2, padding="VALID",
             quantity="grad_weight", dtype="float64"),
], ids=lambda spec: spec.slug())
def test_theano_matches_reference_with_both_filter_flips(spec, flip):
    _passes_theano(spec, flip)


def _passes_theano(spec: ConvSpec, flip: bool) -> None:
    x, w, dy = *parity.generate(spec), parity.cotangent(spec)
    adapter = theano_adapter.TheanoAdapter(filter_flip=flip)
    assert adapter.supports(spec) is None
    comparison = parity.compare(adapter.run(spec, x, w, dy), parity.exact(spec, x, w, dy), spec.dtype)
    assert comparison.passed, comparison


@needs_theano
def test_theano_float16_reason_quotes_theano():
    spec = ConvSpec(spatial=(6, 6), kernel=3, dtype="float16")
    call = {"op": "conv2d", "quantity": "output", "kwargs": {"border_mode": "valid", "subsample": [1, 1],
                                                             "filter_flip": False, "filter_dilation": [1, 1],
                                                             "num_groups": 1}}
    x, w = parity.generate(spec)
    with pytest.raises(RuntimeError) as info:
        for_env("theano", "theano_worker.py").call(call, {"x": x, "w": w}, spec.output_shape,
                                                   x.dtype)
    assert theano_adapter.FLOAT16.split("'")[1] in str(info.value)
