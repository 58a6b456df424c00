"""Every fix `parity check` can print, executed as printed: for each change and each pair of changes the
search lists, arrays are built in the changed conventions with the independent loops of conv_oracle, the
fix runs on them, the stated call (also conv_oracle, in the stated layouts, with the fix's arguments)
runs, and the result must be Y. This is what caught the flip printed before a transposition."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import conv_oracle as oracle
from parity.porting import changes as vocab
from parity.core import convert
from parity.porting import diagnose
from parity.porting import explain
from parity.core import reading as rd
from parity.porting.checking import check
from parity.core.spec import ConvSpec

RNG = np.random.default_rng(11)
STATED = {
    "1d": dict(rank=1),
    "2d": dict(rank=2),
    "2d-nhwc-same-s2": dict(rank=2, layout="NHWC", padding="SAME", strides=2),
    "2d-hwio-given": dict(rank=2, kernel_layout="HWIO", padding="1:1,1:1"),
    "2d-depthwise": dict(rank=2, layout="NHWC", kernel_layout="HWIM", groups=2, padding="SAME"),
    "2d-transposed": dict(rank=2, transposed=True, strides=2, padding="1:1,1:1", output_padding=1),
    "3d": dict(rank=3, padding="SAME"),
}


def _stated(case: dict) -> rd.Reading:
    options = {k: v for k, v in case.items() if k != "rank"}
    return rd.stated(case["rank"], **options)


def _spec(reading: rd.Reading, channels: int, spatial: int, kernel: int) -> ConvSpec:
    """Canonical geometry for arrays stored as ``reading`` says (depthwise: multiplier 2)."""
    out = channels * 2 if channels == reading.groups else 4
    return ConvSpec(spatial=(spatial,) * reading.rank, kernel=kernel, in_channels=channels, out_channels=out,
                    strides=reading.strides, dilations=reading.dilations, groups=reading.groups,
                    padding=reading.padding, op="conv_transpose" if reading.transposed else "conv",
                    output_padding=reading.output_padding if reading.transposed else 0)


def _compute(spec: ConvSpec, xc: np.ndarray, wc: np.ndarray) -> np.ndarray:
    if spec.transposed:
        return oracle.transposed(xc, wc, spec.strides, spec.pads, spec.output_padding, spec.dilations, spec.groups)
    return oracle.forward(xc, wc, spec.strides, spec.pads, spec.dilations, spec.groups)


def _stored(reading: rd.Reading, spec: ConvSpec) -> tuple[np.ndarray, ...]:
    """Raw x, w and Y as a user holding ``reading``'s conventions has them (Y from conv_oracle)."""
    xc, wc = RNG.standard_normal(spec.input_shape), RNG.standard_normal(spec.kernel_shape)
    yc = _compute(spec, xc, wc)
    last = reading.layout == "channels_last"
    x, y = (convert.to_channels_last(a) if last else a for a in (xc, yc))
    w = convert.kernel_from_canonical(convert.flip_axes(wc, reading.flips), reading.kernel_layout, spec.groups)
    return x, np.ascontiguousarray(w), y


def _call(stated: rd.Reading, x: np.ndarray, w: np.ndarray, arguments: dict) -> np.ndarray:
    """The stated convolution on arrays in the stated layouts, with the call's arguments changed."""
    last = stated.layout == "channels_last"
    xc = convert.to_channels_first(x) if last else x
    wc = convert.kernel_to_canonical(w, stated.kernel_layout)
    fields = {"strides": arguments.get("strides", stated.strides),
              "dilations": arguments.get("dilations", stated.dilations)}
    padding = arguments.get("padding", stated.padding)
    if stated.transposed:
        padding = (padding,) * stated.rank if isinstance(padding, int) else padding
        padding = tuple((p, p) if isinstance(p, int) else p for p in padding) if not isinstance(padding, str) \
            else padding
        fields["output_padding"] = arguments.get("output_padding", stated.output_padding)
    groups = arguments.get("groups", stated.groups)
    out_channels = wc.shape[1] * groups if stated.transposed else wc.shape[0]
    spec = ConvSpec(spatial=xc.shape[2:], kernel=wc.shape[2:], in_channels=xc.shape[1], out_channels=out_channels,
                    groups=groups, padding=padding, op="conv_transpose" if stated.transposed else "conv",
                    **fields)
    y = _compute(spec, xc, wc)
    return convert.to_channels_last(y) if last else y


def run_fix(fix: str, stated: rd.Reading, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The printed fix, run as printed: its lines before the call, the call with the '# in the call'
    arguments, then its lines on the result."""
    lines = fix.splitlines()
    marker = next((i for i, line in enumerate(lines) if "  # in the call" in line or line == explain.UNCHANGED),
                  None)
    before, call, after = (lines, "", []) if marker is None else (lines[:marker], lines[marker], lines[marker + 1:])
    space = {"np": np, "x": x.copy(), "w": w.copy()}
    exec("\n".join(before), space)
    arguments: dict = {}
    exec(call, {}, arguments)
    space["y"] = _call(stated, space["x"], space["w"], arguments)
    exec("\n".join(after), space)
    return space["y"]


def _listed(stated: rd.Reading, case: dict) -> list[tuple]:
    """Every change and pair of changes the search lists for arrays stored as stated."""
    x, w, y = _stored(stated, _spec(stated, 2 if stated.kernel_layout.depthwise else 2 * stated.groups, 7, 3))
    raw = diagnose._Raw(x, w, y, False)
    return [combo for depth in (1, 2) for combo in diagnose._combinations(stated, raw, depth)]


@pytest.mark.parametrize("name", STATED)
def test_every_listed_fix_reproduces_y_when_run_as_printed(name):
    stated = _stated(STATED[name])
    combos = _listed(stated, STATED[name])
    tried = 0
    for combo in combos:
        reading = vocab.apply(stated, combo)
        try:
            depthwise = reading.kernel_layout.depthwise or stated.kernel_layout.depthwise
            spec = _spec(reading, reading.groups if depthwise else 2 * reading.groups, 7, 3)
            x, w, y = _stored(reading, spec)
            fr = rd.frame(reading, x, w, y)
        except ValueError:
            continue  # conventions no array of these sizes has (e.g. an output with no element)
        sentence, fix = explain.describe(combo, stated, fr)
        got = run_fix(fix, stated, x, w)
        ids = [c.id for c in combo]
        assert got.shape == y.shape, (ids, fix)
        np.testing.assert_allclose(got, y, rtol=1e-12, atol=1e-12, err_msg=f"{ids}\n{fix}")
        tried += 1
    assert tried > len(combos) // 2, (tried, len(combos))


@pytest.mark.parametrize("rank", [1, 2])
def test_flip_with_a_layout_change_flips_after_the_transposition(rank):
    """The reported bug: [flip, layout:NWC] printed the flip first, so it landed on a channel axis."""
    stated = rd.stated(rank)
    layout = "layout:NWC" if rank == 1 else "layout:NHWC"
    reading = vocab.apply(stated, [c for c in vocab.core_changes(stated) if c.id in ("flip", layout)])
    spec = _spec(reading, 3, 6, 3)
    x, w, y = _stored(reading, spec)
    result = check(x.astype(np.float32), w.astype(np.float32), y.astype(np.float32))
    first = result.explanations[0]
    assert sorted(first.changes) == ["flip", layout], result.format()
    lines = first.fix.splitlines()
    flip = next(i for i, line in enumerate(lines) if "::-1" in line)
    assert all(i < flip for i, line in enumerate(lines) if line.startswith("w = w.transpose"))
    expected = "w = w[:, :, ::-1]" if rank == 1 else "w = w[:, :, ::-1, ::-1]"
    assert lines[flip] == expected
    np.testing.assert_allclose(run_fix(first.fix, stated, x, w), y, rtol=1e-5, atol=1e-5)


def test_check_explanations_run_as_printed_on_framework_built_arrays():
    """End to end through `check`: every explanation it confirms, run as printed, gives Y."""
    stated = rd.stated(2, layout="NHWC", padding="SAME", strides=2)
    reading = dataclasses.replace(stated, flips=(0, 1), padding=((1, 1), (1, 1)))
    spec = _spec(reading, 2, 8, 3)
    x, w, y = _stored(reading, spec)
    result = check(x.astype(np.float32), w.astype(np.float32), y.astype(np.float32), layout="NHWC",
                   padding="SAME", strides=2)
    assert result.explanations and not result.matches
    for item in result.explanations:
        np.testing.assert_allclose(run_fix(item.fix, stated, x, w), y, rtol=1e-5, atol=1e-5, err_msg=item.fix)
