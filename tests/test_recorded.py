"""Recorded cases: the format, record -> replay round trips, validation, and the recorded backend as a case."""
import json
from pathlib import Path

import numpy as np
import pytest

import parity
from parity import adapters
from parity.core import convert
from parity.adapters.legacy import recordings as recorded
from parity.running import runner
from parity.adapters.legacy.recorded import NO_RECORDING
from parity.running.registry import Case, collect
from parity.core.spec import ConvSpec

EXAMPLES = Path(__file__).parent.parent / "examples" / "recorded"
NHWC = ConvSpec(spatial=(7, 9), kernel=(3, 2), in_channels=3, out_channels=4, strides=2, padding="SAME",
                layout="NHWC")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_RECORDED", str(tmp_path))
    return tmp_path


def _statuses(case: Case, backends: list[str]) -> dict[tuple[str, str], str]:
    return {(r.backend, r.against): r.status for r in runner.run_case(case, backends)}


def test_record_writes_the_stated_layouts(folder):
    rec = recorded.record(NHWC, "numpy", folder / "a", kernel_layout="HWIO", flip=True)
    x, w = parity.generate(NHWC)
    meta = json.loads((folder / "a" / "spec.json").read_text())
    assert {k: meta[k] for k in ("layout", "kernel_layout", "flip", "padding", "strides")} == \
        {"layout": "NHWC", "kernel_layout": "HWIO", "flip": True, "padding": "SAME", "strides": [2, 2]}
    stored = np.load(folder / "a" / "kernel.npy", allow_pickle=False)
    np.testing.assert_array_equal(stored, np.moveaxis(w, (0, 1), (-1, -2))[::-1, ::-1])  # HWIO, reversed
    np.testing.assert_array_equal(np.load(folder / "a" / "input.npy"), convert.to_channels_last(x))
    assert rec.spec == NHWC and np.array_equal(rec.x, x) and np.array_equal(rec.w, w)


def test_round_trip_replays_as_a_case_and_passes(folder):
    recorded.record(NHWC, "numpy", folder / "nhwc-flipped", kernel_layout="HWIO", flip=True)
    cases = [case for case in collect("smoke") if case.id.startswith("recorded-")]
    assert [case.id for case in cases] == ["recorded-nhwc-flipped"] and cases[0].spec == NHWC
    statuses = _statuses(cases[0], ["recorded", "numpy"])
    assert statuses == {("recorded", "reference"): "pass", ("numpy", "reference"): "pass",
                        ("recorded", "numpy"): "pass"}


def test_tampered_output_fails(folder):
    recorded.record(NHWC, "numpy", folder / "a", kernel_layout="HWIO", flip=True)
    path = folder / "a" / "output.npy"
    y = np.load(path)
    y[0, 1, 2, 3] += 1e-3
    np.save(path, y)
    assert _statuses(Case("a", NHWC), ["recorded", "numpy"])[("recorded", "reference")] == "fail"


def test_forgotten_flip_is_caught(folder):
    """A kernel stored reversed but recorded as not flipped replays as an error:
    its canonical kernel is no longer the case's."""
    recorded.record(NHWC, "numpy", folder / "a", kernel_layout="HWIO", flip=True)
    meta = json.loads((folder / "a" / "spec.json").read_text())
    (folder / "a" / "spec.json").write_text(json.dumps({**meta, "flip": False}))
    with pytest.raises(ValueError, match="must hold this case's inputs"):
        adapters.get("recorded").run(NHWC, *parity.generate(NHWC))


def test_uncovered_case_has_no_recording(folder):
    recorded.record(NHWC, "numpy", folder / "a")
    other = ConvSpec(spatial=(7, 9), kernel=3)
    assert adapters.get("recorded").supports(other) == NO_RECORDING
    assert adapters.get("recorded").supports(NHWC) is None


def test_no_folder_no_backend_no_cases(tmp_path, monkeypatch):
    monkeypatch.delenv("PARITY_RECORDED", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recorded" / "bad").mkdir(parents=True)  # never read implicitly
    assert "--recorded DIR" in adapters.get("recorded").available()
    assert not [case for case in collect("smoke") if case.id.startswith("recorded-")]


def test_absent_folder_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_RECORDED", str(tmp_path / "absent"))
    assert "PARITY_RECORDED must be an existing folder" in adapters.get("recorded").available()
    with pytest.raises(ValueError, match="it does not exist"):
        collect("smoke")


def test_examples_pass_against_reference_and_numpy(monkeypatch):
    monkeypatch.setenv("PARITY_RECORDED", str(EXAMPLES))
    cases = [case for case in collect("smoke") if case.id.startswith("recorded-")]
    assert len(cases) == 3
    for case in cases:
        statuses = _statuses(case, ["recorded", "numpy"])
        assert set(statuses.values()) == {"pass"}, (case.id, statuses)


def test_transposed_and_bfloat16_round_trip(folder):
    spec = ConvSpec(spatial=(4, 5), kernel=3, in_channels=2, out_channels=4, groups=2, strides=2, op="conv_transpose",
                    padding=((1, 0), (0, 1)), output_padding=(1, 0), dtype="bfloat16", layout="NHWC")
    recorded.record(spec, "numpy", folder / "t", kernel_layout="OIHW")
    assert set(_statuses(Case("t", spec), ["recorded", "numpy"]).values()) == {"pass"}


def _corrupt(folder: Path, name: str, value) -> Path:
    recorded.record(NHWC, "numpy", folder / "a")
    path = folder / "a" / name
    if name.endswith(".json"):
        path.write_text(value)
    else:
        np.save(path, value, allow_pickle=True)
    return folder / "a"


@pytest.mark.parametrize("name, value, message", [
    ("output.npy", np.array([{"a": 1}], dtype=object), r"output.npy' must hold numbers, got dtype '\|O'"),
    ("output.npy", np.zeros((1, 4, 5, 4), np.float64), r"output.npy must have dtype float32 \(spec.json\), got "
                                                       r"float64"),
    ("output.npy", np.zeros((1, 4, 5, 3), np.float32), r"Y must have shape \(1, 4, 5, 4\) for these conventions"),
    ("kernel.npy", np.zeros((3, 2, 3), np.float32), r"kernel.npy must have 4 dimensions for 2 strides"),
    ("spec.json", "{not json", r"spec.json must be a readable JSON file"),
    ("spec.json", '{"format": "parity-recorded/1"}', r"spec.json must have the keys .* got none for backend"),
])
def test_bad_files_are_one_line_value_errors(folder, name, value, message):
    directory = _corrupt(folder, name, value)
    with pytest.raises(ValueError, match=message) as info:
        recorded.load(directory)
    assert "\n" not in str(info.value)
    recorded.record(NHWC, "numpy", folder / "b")
    good, bad = recorded.scan(folder)  # the bad recording is reported, the good one still loads
    assert [r.path.name for r in good] == ["b"] and [(u.path.name, u.reason) for u in bad] == [("a", str(info.value))]


def test_bad_conventions_name_the_file(folder):
    recorded.record(NHWC, "numpy", folder / "a")
    meta = json.loads((folder / "a" / "spec.json").read_text())
    (folder / "a" / "spec.json").write_text(json.dumps({**meta, "kernel_layout": "OIDHW"}))
    with pytest.raises(ValueError, match=r"a/spec.json must state valid conventions, got: kernel_layout must be"):
        recorded.load(folder / "a")


def test_record_refuses_what_it_cannot_record(folder):
    with pytest.raises(ValueError, match="quantity must be output for a recording, got 'grad_input'"):
        recorded.record(ConvSpec(spatial=(6,), kernel=3, quantity="grad_input"), "numpy", folder / "g")
    done, skipped = recorded.record_cases([("ok", NHWC), ("dx", ConvSpec(spatial=(6,), kernel=3,
                                                                                 quantity="grad_input"))],
                                          "numpy", folder)
    assert [r.path.name for r in done] == ["ok-numpy"] and skipped[0].startswith("dx: quantity must be output")


def test_record_command_writes_what_the_backend_can_run(folder, capsys):
    import argparse

    from parity.cli import legacy as cli_legacy

    parser = argparse.ArgumentParser()
    cli_legacy.record_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["record", "--backend", "numpy", "--kernel-layout", "HWIO", "--flip"])
    cases = [Case("nhwc", NHWC), Case("dx", ConvSpec(spatial=(6,), kernel=3, quantity="grad_input"))]
    assert cli_legacy.record(cases, args) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(folder / "nhwc-numpy") and "not recorded: dx: quantity must be output" in err
    assert json.loads((folder / "nhwc-numpy" / "spec.json").read_text())["flip"] is True
    with pytest.raises(ValueError, match="cases must include one that numpy can record, got none of 1"):
        cli_legacy.record(cases[1:], args)
