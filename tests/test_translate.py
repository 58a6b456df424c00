"""parity translate: every printed program runs on seeded inputs and matches the exact reference; the
vocabulary comes from the adapters (a new adapter with snippet() is a new target); exit codes 0/1/2."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import conv_oracle as oracle
import parity
from parity import adapters
from parity.core import convert
from parity.porting import translate
from parity.cli.main import main
from parity.core.spec import ConvSpec
from refusals import refusal

SPECS = {
    "tf-same-s2": ConvSpec(spatial=(11, 12), kernel=3, in_channels=4, out_channels=6, strides=2, padding="SAME",
                           layout="NHWC"),
    "causal-1d": ConvSpec(spatial=(15,), kernel=3, in_channels=4, out_channels=4, dilations=2, groups=2,
                          padding="CAUSAL"),
    "depthwise": ConvSpec(spatial=(9, 9), kernel=3, in_channels=3, out_channels=6, groups=3, padding="SAME",
                          layout="NHWC"),
    "explicit-3d": ConvSpec(spatial=(5, 6, 4), kernel=2, in_channels=2, out_channels=3,
                            padding=((1, 0), (0, 1), (1, 1))),
    "f16-symmetric": ConvSpec(spatial=(10, 10), kernel=5, in_channels=3, out_channels=2, padding=((2, 2), (2, 2)),
                              dtype="float16"),
    "transposed-torch": ConvSpec(op="conv_transpose", spatial=(6, 5), kernel=3, in_channels=4, out_channels=6,
                                 strides=2, padding=((1, 1), (1, 1)), output_padding=1),
    "transposed-same": ConvSpec(op="conv_transpose", spatial=(7,), kernel=4, in_channels=2, out_channels=3,
                                strides=2, padding="SAME", layout="NWC"),
    "transposed-crop": ConvSpec(op="conv_transpose", spatial=(5, 5), kernel=3, in_channels=4, out_channels=4,
                                strides=2, dilations=2, groups=2, padding=((0, 1), (1, 0))),
}
INSTALLED = [name for name in adapters.names() if adapters.get(name).available() is None]
TARGETS = [name for name in adapters.names() if hasattr(adapters.get(name), "snippet")]


def _inputs(spec: ConvSpec, kernel: convert.KernelLayout):
    x, w = parity.generate(spec)
    x_user = convert.to_channels_last(x) if spec.layout == "channels_last" else x
    return x, w, x_user.copy(), convert.kernel_from_canonical(w, kernel, spec.groups).copy()


def _run(program: str, x, w) -> np.ndarray:
    space = {"x": x, "w": w}
    exec(program, space)
    return np.asarray(space["y"])


@pytest.mark.parametrize("case", SPECS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_printed_program_matches_the_exact_reference(case, target):
    spec = SPECS[case]
    natural = "tensorflow" if spec.layout == "channels_last" else "torch"
    source = natural if natural in INSTALLED else "numpy"
    if target not in INSTALLED:
        pytest.skip(f"{target} is not installed")
    if target == "tensorflow" and spec.transposed and spec.groups > 1:
        with pytest.raises(ValueError, match="groups=1 for a transposed conv"):
            translate.translate(source, target, spec, verify=False)
        return
    result = translate.translate(source, target, spec, verify=False)
    reason = None
    if target == "tensorflow":  # declared, or refused by TF on this CPU (its 16-bit kernels depend on it)
        reason = adapters.get(target).supports(dataclasses.replace(spec, layout="channels_last")) \
            or refusal(target, spec)
    if reason:
        pytest.skip(reason)
    x, w, x_user, w_user = _inputs(spec, translate.snippet(source, spec).kernel_layout)
    exact = parity.exact(spec, x, w)
    for program in result.programs:
        y = _run(program, x_user.copy(), w_user.copy())
        y = convert.to_channels_first(y) if spec.layout == "channels_last" else y
        comparison = parity.compare(y, exact, spec.dtype)
        assert comparison.passed, (program, comparison.reason)


def test_numpy_torch_and_tensorflow_are_targets():
    assert {"numpy", "torch", "tensorflow"} <= set(TARGETS)


def test_numpy_program_matches_independent_loops():
    spec = SPECS["transposed-crop"]
    result = translate.translate("numpy", "numpy", spec, verify=False)
    x, w = parity.generate(spec)
    y = _run(result.programs[1], x.copy(), w.copy())
    expected = oracle.transposed(x, w, spec.strides, spec.pads, spec.output_padding, spec.dilations, spec.groups)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    spec = SPECS["tf-same-s2"]
    x, w = parity.generate(spec)
    program = translate.translate("numpy", "numpy", spec, verify=False).programs[1]
    y = convert.to_channels_first(_run(program, convert.to_channels_last(x), w))
    expected = oracle.forward(x, w, spec.strides, (oracle.same_pads(11, 3, 2), oracle.same_pads(12, 3, 2)))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_tensorflow_same_to_torch_pads_asymmetrically():
    spec = dataclasses.replace(SPECS["tf-same-s2"], spatial=(224, 224), kernel=(7, 7), in_channels=3)
    code = translate.translate("tensorflow", "torch", spec, verify=False).code
    assert "F.pad(xt, (2, 3, 2, 3))" in code and "tf.nn.conv2d(x, w, strides=[2, 2], padding='SAME'" in code
    assert "x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW" in code
    assert "w = w.transpose(3, 2, 0, 1)  # HWIO -> OIHW" in code



@pytest.mark.parametrize("spec, note", [
    (ConvSpec(spatial=(8, 8), kernel=3, strides=2, padding="SAME"), "SAME pads (0, 1), (0, 1) (lo, hi per axis) here"),
    (ConvSpec(spatial=(8, 8), kernel=3, strides=2, padding="SAME", op="conv_transpose"),
     "padding/output_padding cannot express this crop"),
    (ConvSpec(spatial=(8, 8), kernel=3, padding=((1, 1), (1, 1))), ""),
    (ConvSpec(spatial=(8, 8), kernel=3, strides=2, padding=((1, 1), (1, 1)), output_padding=(1, 1),
              op="conv_transpose"), ""),
], ids=["forward-pad", "transposed-crop", "forward-native", "transposed-native"])
def test_torch_snippet_says_why_it_pads_only_where_it_pads(spec, note):
    snippet = adapters.get("torch").snippet(spec)
    assert snippet.note.startswith(note) and bool(note) == any("F.pad(" in line for line in snippet.lines)


def test_a_torch_source_that_torch_cannot_call_natively_says_so():
    spec = ConvSpec(spatial=(16, 16), kernel=3, strides=2, output_padding=2, op="conv_transpose")
    code = translate.translate("torch", "tensorflow", spec, verify=False).code.splitlines()
    source = code[:code.index("")]
    assert source[-2:] == ["y = yt.numpy()", "# padding/output_padding cannot express this crop (PyTorch needs symmetric "
                           "padding and output_padding < max(stride, dilation)): the full output is cut or extended by "
                           "F.pad"]

@pytest.mark.parametrize("pair", [("tensorflow", "torch"), ("torch", "tensorflow"), ("numpy", "torch")])
def test_verification_passes_when_both_are_installed(pair):
    for name in pair:
        if name not in INSTALLED:
            pytest.skip(f"{name} is not installed")
    result = translate.translate(*pair, SPECS["tf-same-s2"])
    assert result.passed is True, result.verification
    assert "max_abs" in result.verification and "bound_ratio" in result.verification


def test_a_verification_that_could_not_have_failed_says_not_verified():
    spec = ConvSpec(spatial=(8, 8), kernel=3, in_channels=64, out_channels=8, padding=((1, 1), (1, 1)),
                    dtype="bfloat16")
    result = translate.translate("numpy", "numpy", spec)
    assert result.passed is None, result.verification
    assert "# not verified: insensitive: a reference with the kernel flipped passes this bound too" in \
        result.verification
    assert translate.translate("numpy", "numpy", dataclasses.replace(spec, dtype="float32")).passed is True
    assert result.verification.endswith("; the code is the same in float32: --dtype float32")


def test_an_insensitive_float32_verification_points_to_float64():
    """It said '--dtype float32', the dtype it already had (helper-31's review)."""
    spec = ConvSpec(spatial=(3, 3), kernel=3, in_channels=400_000, out_channels=1, padding="VALID", dtype="float32")
    result = translate.translate("numpy", "numpy", spec)
    assert result.passed is None, result.verification
    assert result.verification.endswith("; the code is the same in float64: --dtype float64")


def test_missing_framework_is_not_verified(monkeypatch):
    monkeypatch.setattr(adapters.get("torch"), "available", lambda: "torch is not installed (pip install ...)")
    result = translate.translate("numpy", "torch", SPECS["causal-1d"])
    assert result.passed is None and result.verification.startswith("# not verified: torch is not installed")
    assert "F.conv1d" in result.code


class _Fake:
    """A stand-in for a new adapter module: it renders its own snippet (numpy's, with a detour)."""

    name = "fake"

    def available(self):
        return None

    def supports(self, spec):
        return None

    def snippet(self, spec):
        inner = adapters.get("numpy").snippet(spec)
        lines = ("x = x.transpose(0, 2, 3, 1).transpose(0, 3, 1, 2)  # fake's own detour", *inner.lines)
        return dataclasses.replace(inner, lines=lines)


def _with_fake(monkeypatch, adapter):
    real = adapters.get

    def get(name):
        return adapter if name == "fake" else real(name)

    monkeypatch.setattr(adapters, "get", get)
    monkeypatch.setattr(adapters, "names", lambda: sorted(["fake", "numpy"]))


def test_a_new_adapter_module_is_a_new_target(monkeypatch, capsys):
    _with_fake(monkeypatch, _Fake())
    assert main(["translate", "--from", "numpy", "--to", "fake", "--op", "conv2d", "--padding", "SAME"]) == 0
    out = capsys.readouterr().out
    assert "# fake, the same convolution" in out and "fake's own detour" in out and "# verified" in out


def test_disagreeing_programs_exit_1(monkeypatch, capsys):
    class Flipped(_Fake):
        def snippet(self, spec):
            inner = adapters.get("numpy").snippet(spec)
            return dataclasses.replace(inner, lines=("w = w[:, :, ::-1, ::-1]", *inner.lines))

    _with_fake(monkeypatch, Flipped())
    assert main(["translate", "--from", "numpy", "--to", "fake", "--op", "conv2d", "--kernel", "3"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_adapter_without_snippet_is_a_value_error(monkeypatch):
    class Bare:
        name = "fake"

    _with_fake(monkeypatch, Bare())
    with pytest.raises(ValueError, match=r"backend must be one that writes its call \(numpy.*\), got .fake., whose adapter has no snippet"):
        translate.snippet("fake", SPECS["causal-1d"])


@pytest.mark.parametrize("argv, message", [
    (["--from", "numpy", "--to", "nope", "--op", "conv2d"], "--to must name backends among"),
    (["--from", "numpy,torch", "--to", "numpy", "--op", "conv2d"], "--from must name one backend, got 'numpy,torch'"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--strides", "0"], "--strides must contain only ints"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--input-size", "3,3,3"],
     "--input-size must be one size >= 1 or 2 for conv2d, got '3,3,3'"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv1d", "--output-padding", "1"],
     "--output-padding must come with --transposed, got '1' without"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--in-channels", "0"], "--in-channels must be"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--padding", "CAUSAL"], "rank 1"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--groups", "3"], "groups=3 must divide"),
    (["--from", "numpy", "--to", "numpy", "--op", "conv2d", "--layout", "NCW"], "for rank 2"),
])
def test_bad_translate_input_exits_2(argv, message, capsys):
    assert main(["translate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("parity: error: ") and message in err[0]


def test_translate_cli_prints_both_programs(capsys):
    assert main(["translate", "--from", "numpy", "--to", "numpy", "--op", "conv1d", "--padding", "FULL"]) == 0
    out = capsys.readouterr().out
    assert out.count("np.einsum") == 2 and "# verified on seeded inputs" in out
