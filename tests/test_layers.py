"""parity.porting.layers: two framework layers checked against each other (and a wrong port's cause named), and
layers converted between PyTorch and Keras (and from Flax), each checked against independent loops
(conv_oracle) with TensorFlow's SAME written out from its documented formula."""
from __future__ import annotations

import json

import numpy as np
import pytest

import conv_oracle as oracle

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from parity.porting.layers import check_layers, convert_layer  # noqa: E402

RNG = np.random.default_rng(17)


def _keras(layer, channels, rank=2):
    layer.build((None, *(None,) * rank, channels))
    layer.set_weights([RNG.standard_normal(np.shape(w)).astype(np.float32) for w in layer.get_weights()])
    return layer


def _torch_out(layer, x):
    with torch.no_grad():
        return layer(torch.from_numpy(x)).numpy()


def _same(n, k, s, d=1):
    return oracle.same_pads(n, k, s, d)


# --- the acceptance case: Keras Conv2D(padding="same", strides=2) to PyTorch ---------------------------------
@pytest.mark.parametrize("size", [16, 17])
def test_keras_same_stride_2_converts_to_a_torch_layer_that_matches(size):
    layer = _keras(keras.layers.Conv2D(8, 3, strides=2, padding="same"), 3)
    converted = convert_layer(layer, to="torch")
    kernel, bias = layer.get_weights()
    x = RNG.standard_normal((2, 3, size, size)).astype(np.float32)
    expected = oracle.forward(x, kernel.transpose(3, 2, 0, 1), (2, 2), (_same(size, 3, 2),) * 2) + \
        bias.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(_torch_out(converted, x), expected, rtol=1e-5, atol=1e-5)
    keras_out = np.asarray(layer(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(keras_out, expected, rtol=1e-5, atol=1e-5)
    assert check_layers(layer, converted, input_size=size).passed


def test_fixed_input_size_gives_plain_torch_modules():
    layer = _keras(keras.layers.Conv2D(4, 3, strides=2, padding="same"), 3)
    converted = convert_layer(layer, to="torch", input_size=16)
    assert [type(m).__name__ for m in converted] == ["ZeroPad2d", "Conv2d"] and converted[0].padding == (0, 1, 0, 1)


# --- a deliberately wrong port: the cause is named ------------------------------------------------------------
def test_wrong_manual_conversion_names_the_kernel_transposition_and_the_padding():
    layer = _keras(keras.layers.Conv2D(8, 3, strides=2, padding="same"), 3)
    kernel, bias = layer.get_weights()
    port = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    with torch.no_grad():
        port.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 1, 0).copy()))  # swaps H and W
        port.bias.copy_(torch.from_numpy(bias))
    result = check_layers(layer, port)
    assert not result.passed and not result.sizes[0].pair.passed
    assert any(d.startswith("padding (lo, hi) per axis at 16x16: a ((0, 1), (0, 1)), b ((1, 1), (1, 1))")
               for d in result.differences)
    assert not any(d.startswith("padding (lo, hi) per axis at 17x17") for d in result.differences)  # (1, 1) both
    assert "padding: a's depends on the input size (TF SAME at strides > 1), so a fix with fixed pads holds at one " \
           "size only; parity.convert_layer(a, to='torch') builds one for every size" in result.differences
    first = result.diagnosis.explanations[0]
    assert first.changes == ("kernel-layout:OIWH", "padding:SAME") and first.matches
    assert "w = w.transpose(0, 1, 3, 2)  # OIWH -> OIHW" in first.fix
    assert "b does not compute what a computes" in result.format()


def test_forgotten_bias_is_a_difference_and_the_convolution_still_matches():
    layer = _keras(keras.layers.Conv2D(4, 3, padding="valid"), 2)
    port = convert_layer(layer, to="torch")
    with torch.no_grad():
        port.bias.zero_()
    result = check_layers(layer, port, input_size=9)
    assert not result.passed and any(d.startswith("bias: max |a - b|") for d in result.differences)
    assert result.diagnosis.matches  # the convolutions agree: only the bias differs


# --- kinds of layers ----------------------------------------------------------------------------------------
def test_depthwise_converts_both_ways():
    layer = _keras(keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), 4)
    converted = convert_layer(layer, to="torch")
    assert isinstance(converted, torch.nn.Conv2d) and converted.groups == 4 and converted.out_channels == 8
    kernel, bias = layer.get_weights()  # (3, 3, 4, 2): output channel c*2 + m
    x = RNG.standard_normal((1, 4, 9, 9)).astype(np.float32)
    canonical = kernel.transpose(2, 3, 0, 1).reshape(8, 1, 3, 3)
    expected = oracle.forward(x, canonical, (1, 1), ((1, 1), (1, 1)), groups=4) + bias.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(_torch_out(converted, x), expected, rtol=1e-5, atol=1e-5)
    back = convert_layer(converted, to="keras")
    assert type(back).__name__ == "DepthwiseConv2D"


@pytest.mark.parametrize("make, to", [
    (lambda: _keras(keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same"), 4), "torch"),
    (lambda: _keras(keras.layers.Conv2DTranspose(5, 4, strides=2, padding="valid", output_padding=1), 4), "torch"),
    (lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), "keras"),
    (lambda: torch.nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), "keras"),
    (lambda: torch.nn.ConvTranspose1d(3, 2, 5, stride=3, padding=2), "keras"),
    (lambda: torch.nn.ConvTranspose3d(2, 2, 2, stride=1, padding=1, dilation=2), "keras"),
])
def test_transposed_layers_convert(make, to):
    layer = make()
    assert check_layers(layer, convert_layer(layer, to=to)).passed


def test_torch_transposed_conv_matches_independent_loops_after_conversion():
    layer = _keras(keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same"), 2)
    converted = convert_layer(layer, to="torch")
    kernel, bias = layer.get_weights()  # (3, 3, out, in)
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    # TF SAME for 10 outputs: the forward SAME conv of 10 pads (0, 1), so crop 0 at the start, 1 at the end
    expected = oracle.transposed(x, kernel.transpose(3, 2, 0, 1), (2, 2), ((0, 1), (0, 1)), (0, 0)) + \
        bias.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(_torch_out(converted, x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: _keras(keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), 3, rank=1),
    lambda: _keras(keras.layers.Conv3D(2, 2, strides=2, padding="same"), 2, rank=3),
    lambda: torch.nn.Conv2d(4, 6, 3, stride=2, padding=(1, 2), groups=2),
    lambda: torch.nn.Conv1d(2, 3, 4, padding="same", bias=False),
])
def test_forward_layers_convert_to_the_other_framework(make):
    layer = make()
    to = "keras" if type(layer).__module__.startswith("torch") else "torch"
    assert check_layers(layer, convert_layer(layer, to=to)).passed


def test_padding_mode_differences_are_named_and_refused_by_keras():
    reflect = torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")
    zeros = torch.nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        zeros.weight.copy_(reflect.weight)
        zeros.bias.copy_(reflect.bias)
    result = check_layers(reflect, zeros)
    assert not result.passed and "padding_mode: a reflect, b zeros" in result.differences
    assert "overlaps the padding" in result.diagnosis.location
    with pytest.raises(ValueError, match="padding_mode must be 'zeros' to convert to keras") as raised:
        convert_layer(reflect, to="keras")
    assert "\n" not in str(raised.value)
    assert check_layers(reflect, convert_layer(reflect, to="torch")).passed


def test_what_keras_cannot_build_is_a_one_line_error():
    layer = torch.nn.ConvTranspose1d(3, 2, 5, stride=3, padding=2, dilation=2)
    with pytest.raises(ValueError, match="must be expressible by keras, got: .*dilation_rate") as raised:
        convert_layer(layer, to="keras")
    assert "\n" not in str(raised.value)


def test_activation_is_a_difference_and_cannot_be_converted():
    layer = _keras(keras.layers.Conv2D(2, 3, activation="relu"), 2)
    with pytest.raises(ValueError, match="activation must be linear"):
        convert_layer(layer, to="torch")
    port = torch.nn.Conv2d(2, 2, 3)
    kernel, bias = layer.get_weights()
    with torch.no_grad():
        port.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        port.bias.copy_(torch.from_numpy(bias))
    result = check_layers(layer, port)
    assert result.passed and "activation: a relu, b linear" in result.differences  # convolutions compared


@pytest.mark.parametrize("a, b, message", [
    (lambda: torch.nn.Linear(2, 3), lambda: torch.nn.Conv2d(2, 3, 3), r"^a: layer must be a torch.nn.Conv\*d"),
    (lambda: torch.nn.Conv2d(2, 3, 3), lambda: torch.nn.Linear(2, 3), r"^b: layer must be a torch.nn.Conv\*d"),
    (lambda: torch.nn.Conv2d(2, 3, 3), lambda: torch.nn.Conv2d(4, 3, 3), "same in_channels"),
    (lambda: keras.layers.Conv2D(2, 3), lambda: torch.nn.Conv2d(2, 2, 3), "must be built"),
    (lambda: "conv", lambda: torch.nn.Conv2d(2, 2, 3), "^a: layer must be a torch, keras or flax"),
    (lambda: torch.nn.Conv2d(2, 2, 3), lambda: torch.nn.Conv2d(2, 2, 3).double(), "same dtype"),
])
def test_bad_layers_are_one_line_errors(a, b, message):
    with pytest.raises(ValueError, match=message) as raised:
        check_layers(a(), b())
    assert "\n" not in str(raised.value)


def test_flax_conv_checks_and_converts():
    jax = pytest.importorskip("jax")
    nn = pytest.importorskip("flax.linen")
    module = nn.Conv(features=4, kernel_size=(3, 3), strides=2, padding="SAME")
    variables = module.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 3), np.float32))
    converted = convert_layer((module, variables), to="torch")
    x = RNG.standard_normal((1, 3, 10, 10)).astype(np.float32)
    kernel, bias = (np.asarray(variables["params"][k]) for k in ("kernel", "bias"))
    expected = oracle.forward(x, kernel.transpose(3, 2, 0, 1), (2, 2), (_same(10, 3, 2),) * 2) + \
        bias.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(_torch_out(converted, x), expected, rtol=1e-5, atol=1e-5)
    assert check_layers(module.bind(variables), converted).passed


# --- the command line ---------------------------------------------------------------------------------------
def test_parity_layers_cli(tmp_path, capsys):
    from parity.cli.main import main

    path = "examples/porting/layers.py"
    report = tmp_path / "layers.json"
    assert main(["layers", f"{path}:keras_layer", f"{path}:torch_port", "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "b does not compute what a computes" in out and "[kernel-layout:OIWH, padding:SAME]" in out
    payload = json.loads(report.read_text())
    assert payload["passed"] is False and payload["diagnosis"]["explanations"][0]["changes"] == \
        ["kernel-layout:OIWH", "padding:SAME"]
    assert main(["layers", f"{path}:keras_layer", f"{path}:torch_fixed", "--input-size", "12"]) == 0
    assert "b computes what a computes" in capsys.readouterr().out
    assert main(["layers", f"{path}:nope", f"{path}:torch_fixed"]) == 2
    assert main(["layers", "missing.py:a", f"{path}:torch_fixed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "got none called 'nope'" in err[0] and "must exist" in err[1]


def test_parity_layers_refuses_a_json_report_over_a_layer_file(tmp_path, capsys):
    from parity.cli.main import main

    source = tmp_path / "ly.py"
    source.write_text("a = b = None\n")
    assert main(["layers", f"{source}:a", f"{source}:b", "--json", str(source)]) == 2
    assert capsys.readouterr().err == (f"parity: error: --json must name a file of its own, got {str(source)!r}, "
                                       "which is also layer A's file\n")
    assert source.read_text() == "a = b = None\n"


def test_a_flipped_float16_kernel_disagrees_where_the_bound_would_admit_it():
    a = torch.nn.Conv2d(256, 8, 3, padding=1, bias=False).half()
    b = torch.nn.Conv2d(256, 8, 3, padding=1, bias=False).half()
    with torch.no_grad():
        b.weight.copy_(a.weight.flip(2, 3))
    result = check_layers(a, b, input_size=8)
    size = result.sizes[0]
    assert size.pair.passed and not size.conventions.passed  # float16 over 2304 terms admits the flip
    assert not result.passed and "the float16 bound admits this difference, the conventions differ" in result.format()
    with torch.no_grad():
        b.weight.copy_(a.weight)
    assert check_layers(a, b, input_size=8).passed


def test_bfloat16_torch_layers_are_read_and_run():
    a = torch.nn.Conv2d(4, 8, 3, padding=1).bfloat16()
    b = torch.nn.Conv2d(4, 8, 3, padding=1).bfloat16()
    with torch.no_grad():
        b.weight.copy_(a.weight.flip(2, 3))
        b.bias.copy_(a.bias)
    assert not check_layers(a, b).passed
    with torch.no_grad():
        b.weight.copy_(a.weight)
    assert check_layers(a, b).passed


def test_a_bfloat16_keras_layer_converts_to_torch():
    """Its weights reach torch through float32 (torch.from_numpy has no bfloat16); this raised "must be
    expressible by torch, got: can't convert np.ndarray of type ml_dtypes.bfloat16"."""
    keras.utils.set_random_seed(3)
    layer = keras.layers.Conv2D(8, 3, padding="same", dtype="bfloat16")
    layer.build((None, None, None, 16))
    converted = convert_layer(layer, "torch")
    assert converted.weight.dtype == torch.bfloat16
    assert np.array_equal(converted.weight.detach().float().numpy(), np.asarray(layer.kernel, np.float32).transpose(3, 2, 0, 1))


def test_torch_tensors_are_checked_as_they_are():
    from parity.porting.checking import check

    x, w = torch.randn(1, 2, 6, 6, requires_grad=True), torch.randn(3, 2, 3, 3)
    assert check(x, w, torch.nn.functional.conv2d(x, w)).matches  # requires_grad, float32
    xb, wb = x.detach().bfloat16(), w.bfloat16()
    result = check(xb, wb, torch.nn.functional.conv2d(xb.float(), wb.float()).bfloat16())
    assert result.matches and result.dtype == "bfloat16"


@pytest.mark.parametrize("call, message", [
    (lambda: check_layers(torch.nn.Conv2d(4, 8, 3), torch.nn.Conv2d(4, 8, 3), input_size="16"),
     "input_size must be 2 sizes >= 1, got '16'"),
    (lambda: __import__("parity").check(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.ones((1, 1, 6, 6)),
                                         transposed="no"), "transposed must be True or False, got 'no'"),
])
def test_bad_arguments_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_factory_that_raises_is_exit_2_naming_it(tmp_path, capsys):
    from parity.cli.main import main

    (tmp_path / "ly.py").write_text('def boom():\n    raise RuntimeError("kaboom")\n')
    assert main(["layers", f"{tmp_path / 'ly.py'}:boom", f"{tmp_path / 'ly.py'}:boom"]) == 2
    assert capsys.readouterr().err.endswith("must return a layer, got RuntimeError from boom(): kaboom\n")


def test_a_tensor_numpy_cannot_read_is_a_one_line_error():
    from parity.porting.checking import check

    for tensor in (torch.ones(1, 1, 4, 4).to_sparse(), torch.ones(1, 1, 4, 4, device="meta")):
        with pytest.raises(ValueError, match="^input must be a dense torch tensor numpy can read, got torch.float32"):
            check(tensor, torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))


def test_layers_on_repeated_products_cannot_tell_instead_of_agreeing(monkeypatch):
    """Constant activations through constant weights: b (inputs rounded to TF32, channels summed one by one)
    fits the bound widened for repeated products as well as a correct layer would; before that bound existed
    as a verdict, this said "b computes what a computes" (helper-28)."""
    from parity.porting import layer_run, layers
    from parity.verdict.fingerprint import round_to_bits

    a, b = (torch.nn.Conv1d(4096, 2, 1) for _ in range(2))
    with torch.no_grad():
        for layer in (a, b):
            layer.weight.fill_(1 / 3)
            layer.bias.fill_(0.25)
    monkeypatch.setattr(layers, "generate", lambda spec: (np.full(spec.input_shape, 0.37, np.float32), None))
    plain = layer_run.run

    def run(layer, conv, x):
        y = plain(layer, conv, x)
        if layer is not b:
            return y
        products = round_to_bits(x.astype(np.float64), 11) * round_to_bits(np.float64(1 / 3), 11)
        summed = np.cumsum(np.moveaxis(products.astype(np.float32), 1, -1), axis=-1, dtype=np.float32)[..., -1]
        return (summed[:, None] + np.float32(0.25)) * np.ones_like(y)

    monkeypatch.setattr(layer_run, "run", run)
    result = check_layers(a, b, input_size=4)
    assert not result.passed and result.verdict == "cannot tell whether b computes what a computes"
    assert result.as_dict()["verdict"] == result.verdict and "cannot tell: the sums repeat products" in result.format()


def test_convert_layer_says_cannot_tell_not_a_parity_bug(monkeypatch):
    from types import SimpleNamespace

    from parity.porting import layers

    size = SimpleNamespace(passed=False, reason="the sums repeat products")
    monkeypatch.setattr(layers, "check_layers", lambda *a, **k: SimpleNamespace(
        passed=False, verdict="cannot tell whether b computes what a computes", sizes=(size,)))
    with pytest.raises(ValueError, match="got: cannot tell: the sums repeat products$"):
        convert_layer(torch.nn.Conv1d(2, 2, 3), "keras")


def test_convert_layer_names_a_source_layer_that_misses_its_own_convolution(monkeypatch):
    """keras 3.15's Conv2D with channels_first adds the bias along the width wherever the output is as wide as
    it has filters (its TF ops.add takes a (1, C, 1, 1) bias for NHWC's); converting such a layer said 'a parity
    bug: please report it'. Here the source layer's output is off by one where it is wider than 8."""
    from parity.porting import layer_run

    source = torch.nn.Conv2d(3, 4, 3)
    plain = layer_run.run
    monkeypatch.setattr(layer_run, "run", lambda layer, conv, x: plain(layer, conv, x) + (
        1.0 if layer is source and x.shape[-1] > 8 else 0.0))
    with pytest.raises(ValueError, match=r"^torch.nn.Conv2d must compute its own stated convolution to be converted, "
                                         r"got max_abs 1 .* against its exact reference at input \(2, 3, 16, 16\) \(a "
                                         r"framework fault, or a convention parity does not read\), where the converted "
                                         r"torch layer computes it \(max_abs"):
        convert_layer(source, "torch")
    result = check_layers(source, torch.nn.Conv2d(3, 4, 3), input_size=16)
    assert "  a does not compute its own stated convolution here" in result.format()
