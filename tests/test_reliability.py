"""Reliability of the command line: every bad input is one line on stderr and exit 2, every fault of a
backend or a recording is contained, and nothing finished is lost (see also test_reliability_faults.py).

Each parametrized list is a class of bad inputs; most run ``parity.cli.main.main`` in this process.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from parity.cli import main as cli
from parity.core import files
from parity.adapters.legacy import recordings as recorded
from parity.cli.main import main

SMOKE = ["--tier", "smoke", "-k", "conv1d-nwc", "--backends", "numpy"]  # 4 cases
DEEP = "(" * 5000 + "conv" + ")" * 5000


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """Whatever a command sets (PARITY_RECORDED) is undone; runs happen in an empty folder, with an empty
    folder of legacy environments (whether this machine has built them is not what these tests are about)."""
    for name in ("PARITY_RECORDED", "PARITY_MEMORY_GIB", "PARITY_WORKER_TIMEOUT"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PARITY_ENV_DIR", str(tmp_path / "no-envs"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def arrays(tmp_path):
    """x (1, 2, 8, 8), w (3, 2, 3, 3) and the y they give (VALID), as .npy files, plus a plain text file."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 8, 8)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (3, 3), axis=(2, 3))
    y = np.einsum("nchwij,ocij->nohw", windows, w.astype(np.float64)).astype(np.float32)
    for name, array in (("x", x), ("w", w), ("y", y)):
        np.save(tmp_path / f"{name}.npy", array)
    (tmp_path / "t.txt").write_text("hello")
    return tmp_path


def one_error_line(capsys, code: int, expected: int = 2) -> str:
    err = capsys.readouterr().err
    assert code == expected and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parity: error: "), err
    return lines[0]


CHECK = ["check", "--input", "x.npy", "--kernel", "w.npy", "--output", "y.npy"]
USAGE = [  # (argv, words the one line must hold: the field, the value and the rule)
    (["run", *SMOKE, "--timeout", "nan"], "--timeout must be a finite number of seconds > 0", "'nan'"),
    (["run", *SMOKE, "--timeout", "0", "--isolate"], "--timeout must", "'0'"),
    (["run", *SMOKE, "--timeout", "-1"], "--timeout must", "'-1'"),
    (["run", *SMOKE, "--timeout", "inf"], "--timeout must", "'inf'"),
    (["run", *SMOKE, "--timeout", "soon"], "--timeout must", "'soon'"),
    (["fuzz", "--examples", "0"], "--examples must be an integer from 1", "'0'"),
    (["fuzz", "--examples", "-5"], "--examples must", "'-5'"),
    (["fuzz", "--seed", "-1"], "--seed must be an integer from 0", "'-1'"),
    (["bench", "--repeats", "0"], "--repeats must be an integer from 1", "'0'"),
    (["bench", "--repeats", "many"], "--repeats must", "'many'"),
    (["list", "-k", ""], "-k must not be empty", "''"),
    (["list", "-k", DEEP], "-k expression must nest at most 100", "got 5000"),
    (["list", "-k", "zzz-none"], "-k 'zzz-none' must match at least one case", "got none"),
    (["run", *SMOKE[:2], "-k", "zzz-none"], "-k 'zzz-none' must match", "got none"),
    (["bench", "-k", "zzz-none"], "-k 'zzz-none' must match", "got none"),
    (["record", "--backend", "numpy", "-k", "zzz-none"], "-k 'zzz-none' must match", "got none"),
    (["list", "--tier", "huge"], "--tier must be one of smoke, default, full", "'huge'"),
    (["run", *SMOKE, "--by", "colour"], "--by must be one of dtype", "'colour'"),
    (["run", *SMOKE[:4], "--backends", ""], "--backends must name at least one", "''"),
    (["run", *SMOKE[:4], "--backends", ","], "--backends must name at least one", "','"),
    (["run", *SMOKE[:4], "--backends", ":X"], "--backends must name backends or module:ATTRIBUTE", "':X'"),
    (["run", *SMOKE[:4], "--backends", "a.:b"], "--backends must name backends or module:ATTRIBUTE", "'a.:b'"),
    (["run", *SMOKE[:4], "--backends", "nope"], "--backends must name backends among", "'nope'"),
    (["run", *SMOKE[:4], "--backends", "numpy,"], "--backends must be names separated by single commas", "'numpy,'"),
    (["run", *SMOKE[:4], "--backends", "parity.adapters.numpy:NumpyAdapter"],
     "must name an adapter instance, got the class NumpyAdapter", "NumpyAdapter()"),
    (["run", *SMOKE, "--timeout", "5"], "--timeout must come with --isolate", "--timeout 5 alone"),
    (["run", *SMOKE[:4], "--backends", "tf1"], "--backends must include one that can run here", "tf1 environment"),
    (["run", *SMOKE, "--json", ""], "--json must be a file path", "''"),
    (["run", *SMOKE, "--json", "."], "--json must be a file path", "it is a folder"),
    (["run", *SMOKE, "--json", "new/"], "--json must be a file path", "'new/'"),
    (["run", *SMOKE, "--json", "no/such/r.json"], "--json must be in an existing folder", "'no/such/r.json'"),
    (["run", *SMOKE, "--html", "t.txt/r.html"], "--html must be in an existing folder", "'t.txt/r.html'"),
    (["run", *SMOKE, "--json", "r.x", "--html", "r.x"], "--html must name a file of its own", "'r.x'"),
    (["run", *SMOKE, "--recorded", ""], "--recorded must be a folder", "''"),
    (["run", *SMOKE, "--recorded", "absent"], "--recorded must be an existing folder", "'absent'"),
    (["list", "--recorded", "t.txt"], "--recorded must be an existing folder", "it is a file"),
    (["record", "--backend", "numpy", *SMOKE[:4], "--out", ""], "--out must be a folder path", "''"),
    (["record", "--backend", "numpy", *SMOKE[:4], "--out", "t.txt/r"], "--out must be a folder path", "is a file"),
    (["record", "--backend", "numpy", *SMOKE[:4], "--kernel-layout", "XYZ"], "--kernel-layout must", "'XYZ'"),
    (["record", "--backend", "", *SMOKE[:4]], "--backend must not be empty", "''"),
    ([*CHECK, "--layout", ""], "--layout must be one of NCHW, NHWC, channels_first", "''"),
    ([*CHECK, "--format", "julia"], "--format must come with a printed array (a text file)",
     "--format julia with .npy files only"),
    ([*CHECK, "--layout", "NWC"], "--layout must be one of", "'NWC'"),
    ([*CHECK, "--kernel-layout", ""], "--kernel-layout must be a permutation", "''"),
    ([*CHECK, "--kernel-layout", "OIHWW"], "--kernel-layout must be a permutation of O, I and HW", "'OIHWW'"),
    ([*CHECK, "--strides", "99999999999999999999"], "--strides must be at most 2147483647", "99999999999999999999"),
    ([*CHECK, "--strides", ""], "--strides must be integers", "''"),
    ([*CHECK, "--strides", "0"], "--strides must contain only ints >= 1", "0"),
    ([*CHECK, "--groups", "1.5"], "--groups must be integers", "'1.5'"),
    ([*CHECK, "--padding", "-1:-1,0:0"], "--padding must be followed by a value (write --padding=VALUE", "none"),
    ([*CHECK, "--dilations", "1000"], "the search must list at most 50000 readings", "estimated"),
    ([*CHECK, "--strides", "2147483647", "--transposed"], "the search's full output must fit the memory", "GiB"),
    ([*CHECK, "--json", "x.npy"], "--json must name a file of its own", "also --input"),
    ([*CHECK, "--plot", "."], "--plot must be a file path", "it is a folder"),
    ([*CHECK[:-1], ""], "--output must not be empty", "''"),
    (CHECK[:-2], "--output must be given", "nothing"),
    (["translate", "--from", "torch", "--to", "numpy", "--op", "conv2d", "--layout", ""], "--layout must not", "''"),
    (["translate", "--from", ":X", "--to", "numpy", "--op", "conv2d"], "--from must name backends", "':X'"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--input-size", "100000"],
     "must fit the memory budget to verify", "GiB"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--kernel", "9" * 23, "--no-verify"],
     "--kernel must be at most 2147483647", "9" * 23),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv4d"], "--op must be one of conv1d", "'conv4d'"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--dtype", "f33"], "--dtype must be one of",
     "'f33'"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--layout", "NCDHW"],
     "--layout must be one of NCHW, NHWC, channels_first, channels_last for rank 2", "'NCDHW'"),
    ([*CHECK, "--dilations", "0,1"], "--dilations must contain only ints >= 1", "(0, 1)"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--input-size", "-1"],
     "--input-size must be one size >= 1 or 2 for conv2d", "'-1'"),
    (["translate", "--from", "numpy", "--to", "torch", "--op", "conv2d", "--kernel", "2147483647", "--input-size",
      "2147483647", "--no-verify"], "the input must have fewer than 2**62 elements", "2147483647"),
    ([*CHECK[:2], "/dev/zero", *CHECK[3:]], "--input '/dev/zero' must be a regular .npy file", "a device"),
    ([*CHECK, "--json", "/dev/full"], "--json must be a regular file path", "'/dev/full'"),
    (["env", "create", "tf2"], "name must be one of tf1, theano", "'tf2'"),
    (["frobnicate"], "command must be one of list, backends, run", "'frobnicate'"),
    (["run", "--frobnicate"], "arguments must be ones --help lists", "--frobnicate"),
]


@pytest.mark.parametrize("argv, rule, value", USAGE, ids=[f"{i}-{a[0]}" for i, (a, _, _) in enumerate(USAGE)])
def test_usage_errors_are_one_line_naming_field_value_and_rule(arrays, capsys, argv, rule, value):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors exit from inside parse_args
        code = stop.code
    line = one_error_line(capsys, code)
    assert rule in line and value in line, line


@pytest.mark.parametrize("variable, value, words", [
    ("PARITY_MEMORY_GIB", "abc", "PARITY_MEMORY_GIB must be a finite number"),
    ("PARITY_MEMORY_GIB", "nan", "PARITY_MEMORY_GIB must be a finite number"),
    ("PARITY_WORKER_TIMEOUT", "0", "PARITY_WORKER_TIMEOUT must be a finite number of seconds > 0"),
    ("PARITY_RECORDED", "absent", "PARITY_RECORDED must be an existing folder"),
])
def test_bad_environment_variables_stop_before_any_work(arrays, capsys, monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    line = one_error_line(capsys, main(["run", *SMOKE, "--json", "r.json"]))
    assert line.startswith(f"parity: error: {words}") and repr(value) in line
    assert not Path("r.json").exists() and "reference" not in capsys.readouterr().out


def test_a_tier_whose_generators_yield_nothing_is_an_error(capsys, monkeypatch):
    monkeypatch.setattr(cli, "collect", lambda tier: [])
    for command in (["list"], ["run", "--backends", "numpy"], ["bench"], ["record", "--backend", "numpy"]):
        assert "--tier 'default' must have at least one case" in one_error_line(capsys, main(command))


def _header(shape: tuple, dtype: str = "<f4", data: bytes = b"\0" * 64) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


BAD_NPY = [  # (bytes of --input, or None for a folder; words of the error)
    (b"hello", "must be a .npy file (starting with b'\\x93NUMPY'), got a file starting with b'hello'"),
    (b"PK\x03\x04zip", "got a .npz archive"),
    (b"", "got a file starting with b''"),
    (_npy(np.ones((1, 2, 8, 8), np.float32))[:100], "must have a valid .npy header"),
    (_npy(np.ones((1, 2, 8, 8), np.float32))[:300], "truncated"),
    (_header((10**5,) * 4), "must hold the 100000000000000000000 elements its header declares"),
    (_header((1, 3, 10**5, 10**5)), "must hold the 30000000000 elements"),
    (_header((1, -3, 4, 4)), "must have a header shape of sizes >= 0"),
    (_header((2,), "|O"), "must hold numbers, got dtype '|O'"),
    (_npy(np.array([{"a": 1}], dtype=object)), "must hold numbers"),
    (_npy(np.ones((1, 2, 8, 8), np.int32)), "must be a float16, bfloat16, float32, float64 array, got dtype '<i4'"),
    (_npy(np.ones((1, 2, 8, 8), np.complex64)), "got dtype '<c8'"),
    (_npy(np.zeros((1, 2, 8, 8), [("a", "<f4")])), "got dtype '|V4'"),
    (_npy(np.ones((1, 0, 8, 8), np.float32)), "input must have at least one element on every axis"),
    (_npy(np.float32(1)), "input must have 3 to 5 dimensions"),
    (_npy(np.ones((1,) * 6, np.float32)), "input must have 3 to 5 dimensions"),
    (None, "must be a .npy file, got a folder"),
]


@pytest.mark.parametrize("content, words", BAD_NPY, ids=range(len(BAD_NPY)))
def test_bad_npy_files_are_one_line_errors(arrays, capsys, monkeypatch, content, words):
    monkeypatch.setenv("PARITY_MEMORY_GIB", "1")
    bad = arrays / "bad.npy"
    bad.mkdir() if content is None else bad.write_bytes(content)
    line = one_error_line(capsys, main(["check", "--input", str(bad), "--kernel", "w.npy", "--output", "y.npy"]))
    assert words in line, line


def test_npy_over_the_memory_budget_is_refused_before_loading(arrays, capsys, monkeypatch):
    monkeypatch.setenv("PARITY_MEMORY_GIB", "1e-7")
    line = one_error_line(capsys, main(CHECK))
    assert "--input 'x.npy' must fit the memory budget (PARITY_MEMORY_GIB)" in line


@pytest.mark.parametrize("where, value, words", [
    ((0, 0, 1, 1), np.nan, "NaN in output only: 1 element(s), first at (0, 0, 1, 1)"),
    ((0, 2, 3, 4), -np.inf, "Inf in output only: 1 element(s), first at (0, 2, 3, 4)"),
    (..., np.nan, "NaN in output only: 108 element(s), first at (0, 0, 0, 0)"),
])
def test_nan_and_inf_in_y_are_a_named_mismatch(arrays, capsys, where, value, words):
    y = np.load("y.npy")
    y[where] = value
    np.save("y.npy", y)
    code = main([*CHECK, "--json", "r.json"])
    captured = capsys.readouterr()
    assert code == 1 and captured.err == "", captured.err
    assert words in captured.out and "which no convention gives" in captured.out
    assert json.loads(Path("r.json").read_text())["nonfinite"].startswith(words.split(":")[0])


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    files.write_atomic(target, "old")
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        files.write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _recordings(folder: Path) -> dict[str, str]:
    """One good recording and one of each kind of bad one; returns the expected reason per bad case id."""
    from parity.running.registry import collect, select

    (case,) = select(collect("smoke"), "conv1d-nwc-valid-s1-d1-g1-k3-n2c3x11-o5-f32-normal")
    recorded.record(case.spec, "numpy", folder / "good")
    bad = {"json": ("{bad", "must be a readable JSON file"),
           "deep": ("[" * 100000 + "]" * 100000, "maximum recursion depth"),
           "types": (None, "must state valid conventions"),
           "nospec": ("", "No such file"),
           "dirnpy": (None, "must be a .npy file, got a folder")}
    for name, (text, _) in bad.items():
        if name in ("types", "dirnpy"):
            recorded.record(case.spec, "numpy", folder / name)
        if name == "types":
            meta = json.loads((folder / name / "spec.json").read_text())
            (folder / name / "spec.json").write_text(json.dumps({**meta, "groups": "many", "strides": [1]}))
        elif name == "dirnpy":
            (folder / name / "input.npy").unlink()
            (folder / name / "input.npy").mkdir()
        else:
            (folder / name).mkdir()
            if text:
                (folder / name / "spec.json").write_text(text)
    (folder / "dangling").symlink_to(folder / "nowhere")
    return {f"recorded-{name}": words for name, (_, words) in bad.items()} | {"recorded-dangling": "dangling link"}


def test_bad_recordings_are_errors_of_their_own_and_the_others_run(tmp_path, capsys):
    expected = _recordings(tmp_path / "recs")
    code = main(["run", "--tier", "smoke", "-k", "recorded", "--backends", "recorded,numpy", "--recorded",
                 str(tmp_path / "recs"), "--json", "r.json"])
    assert code == 1 and "Traceback" not in capsys.readouterr().err
    results = json.loads(Path("r.json").read_text())["results"]
    good = [r for r in results if r["case"] == "recorded-good"]
    assert len(good) == 3 and {r["status"] for r in good} == {"pass"}
    errors = {r["case"]: r["reason"] for r in results if r["status"] == "error"}
    assert errors.keys() == expected.keys() and all(expected[c] in errors[c] for c in expected), errors
    assert main(["list", "--tier", "smoke", "-k", "recorded", "--recorded", str(tmp_path / "recs")]) == 1
    out, err = capsys.readouterr()
    assert out.split() == ["recorded-good"] and len(err.strip().splitlines()) == len(expected)


def test_only_unreadable_recordings_are_errors_not_an_empty_selection(tmp_path, capsys):
    (tmp_path / "recs" / "bad").mkdir(parents=True)
    argv = ["--tier", "smoke", "-k", "recorded", "--recorded", str(tmp_path / "recs")]
    assert main(["run", *argv, "--backends", "numpy", "--json", "r.json"]) == 1
    assert [r["case"] for r in json.loads(Path("r.json").read_text())["results"]] == ["recorded-bad"]
    capsys.readouterr()
    assert main(["list", *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("parity: error: recorded-bad: unreadable recording: ")


def test_recordings_are_never_read_implicitly(tmp_path, capsys):
    _recordings(tmp_path / "recorded")  # ./recorded, broken
    assert main(["list", "--tier", "smoke"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "recorded-" not in out


def test_pytest_option_reads_recordings_and_fails_only_the_bad_ones(tmp_path):
    import subprocess
    import sys

    expected = _recordings(tmp_path / "recs")
    (tmp_path / "test_rec.py").write_text(
        "def test_case(parity_case, parity_backend, parity_session, parity_verify):\n"
        "    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_rec.py", "-k",
                           "recorded", "--parity-recorded", "recs", "--parity-tier", "smoke", "--parity-backends", "numpy"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and f"{len(expected)} failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert all(f"{case}: unreadable recording: " in done.stdout for case in expected)
