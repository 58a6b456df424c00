"""`parity record` never overwrites a recording (its output may have been recomputed elsewhere), names a path
clash as that case's note instead of aborting, and writes to a new $PARITY_RECORDED folder as to a new --out
(helper-23)."""
from __future__ import annotations

import numpy as np

from parity.cli.main import main

CASE = "conv1d-nwc-valid-s1-d1-g1-k3-n2c3x11-o5-f32-normal"
ARGS = ["record", "--backend", "numpy", "--tier", "smoke"]


def test_a_recording_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "recs"
    assert main([*ARGS, "-k", CASE, "--out", str(out)]) == 0
    output = out / f"{CASE}-numpy" / "output.npy"
    np.save(output, np.load(output) + 1)  # recomputed elsewhere and copied back
    before = output.read_bytes()
    capsys.readouterr()
    assert main([*ARGS, "-k", CASE, "--out", str(out)]) == 2
    assert "must not exist yet, got a folder with files there" in capsys.readouterr().err
    assert output.read_bytes() == before


def test_a_path_clash_is_one_case_s_note_and_the_others_are_recorded(tmp_path, capsys):
    (tmp_path / f"{CASE}-numpy").write_text("")
    assert main([*ARGS, "-k", "conv1d and valid", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert f"parity: note: not recorded: {CASE}: " in err and "got a file there" in err
    assert out.strip() and CASE not in out


def test_a_new_parity_recorded_folder_is_made(tmp_path, monkeypatch, capsys):
    target = tmp_path / "new" / "recs"
    monkeypatch.setenv("PARITY_RECORDED", str(target))
    assert main([*ARGS, "-k", CASE]) == 0
    assert (target / f"{CASE}-numpy" / "spec.json").is_file()


def test_a_new_parity_recorded_folder_is_removed_when_nothing_is_recorded(tmp_path, monkeypatch, capsys):
    """A -k that matches nothing (or no case the backend can record) is an error that leaves nothing behind;
    a folder that existed before stays."""
    target = tmp_path / "new" / "recs"
    monkeypatch.setenv("PARITY_RECORDED", str(target))
    assert main([*ARGS, "-k", "nothing_matches_this"]) == 2
    assert "must match at least one case" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    monkeypatch.setenv("PARITY_RECORDED", str(tmp_path / "kept"))
    assert main([*ARGS, "-k", "nothing_matches_this"]) == 2 and (tmp_path / "kept").is_dir()


def test_an_existing_folder_behind_dots_stays_and_an_interrupt_cleans_up_too(tmp_path, monkeypatch, capsys):
    """helper-29: x/../e with e there counted e as made and removed it; an interrupt left the new folder."""
    from parity.cli import legacy

    (tmp_path / "e").mkdir()
    monkeypatch.setenv("PARITY_RECORDED", str(tmp_path / "x" / ".." / "e"))
    assert main([*ARGS, "-k", "nothing_matches_this"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]

    def interrupted(cases, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(legacy, "record", interrupted)
    monkeypatch.setenv("PARITY_RECORDED", str(tmp_path / "new" / "recs"))
    assert main([*ARGS, "-k", CASE]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]


def test_a_run_s_report_may_not_replace_a_file_of_the_recordings_it_replays(tmp_path, monkeypatch, capsys):
    out = tmp_path / "recs"
    assert main([*ARGS, "-k", CASE, "--out", str(out)]) == 0
    monkeypatch.setenv("PARITY_RECORDED", str(out))  # --recorded sets it for this process: undone after the test
    target = out / f"{CASE}-numpy" / "input.npy"
    before = target.read_bytes()
    capsys.readouterr()
    assert main(["run", "--tier", "smoke", "--recorded", str(out), "-k", "recorded", "--backends", "numpy",
                 "--html", str(target)]) == 2
    assert capsys.readouterr().err == (f"parity: error: --html must be outside the folder of recordings "
                                       f"{str(out.resolve())!r} (a file of it would be lost), got {str(target)!r}\n")
    assert target.read_bytes() == before


def test_a_kernel_layout_of_another_rank_is_each_case_s_note_under_the_option_s_name(tmp_path, capsys):
    """--kernel-layout OIW fits the 1-D cases; each 2-D case's note names the option as the user typed it."""
    assert main([*ARGS, "-k", "valid and f32", "--kernel-layout", "OIW", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert ("parity: note: not recorded: conv2d-nchw-valid-s1-d1-g1-k3x3-n2c3x9x8-o5-f32-normal: --kernel-layout must "
            "be a permutation of O, I and HW (or I, M and HW for a depthwise kernel) for rank 2, got 'OIW'") in err
    assert (tmp_path / f"{CASE}-numpy" / "spec.json").is_file()
