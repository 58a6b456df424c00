"""`parity check` on the command line: exit codes 0/1/2, one-line errors, unsafe or broken .npy files,
the JSON report and the PNG difference map."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import conv_oracle as oracle
from parity.cli.main import main

PARITY = Path(sys.executable).with_name("parity")
RNG = np.random.default_rng(7)


@pytest.fixture
def files(tmp_path):
    """x (1, 3, 12, 12), w (4, 3, 3, 3) and a Y that is their true convolution (SAME padding)."""
    x, w = RNG.standard_normal((1, 3, 12, 12)).astype(np.float32), RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    paths = {name: tmp_path / f"{name}.npy" for name in ("x", "w", "y", "good")}
    np.save(paths["x"], x)
    np.save(paths["w"], w)
    np.save(paths["y"], oracle.forward(x, w, (1, 1), ((1, 1), (1, 1)), reverse=(0, 1)).astype(np.float32))
    np.save(paths["good"], oracle.forward(x, w, (1, 1), ((1, 1), (1, 1))).astype(np.float32))
    return paths


def _args(files, output="y", *extra):
    return ["check", "--input", str(files["x"]), "--kernel", str(files["w"]), "--output", str(files[output]),
            "--padding", "SAME", *extra]


def test_matching_output_exits_0(files, capsys):
    assert main(_args(files, "good")) == 0
    out = capsys.readouterr().out
    assert "matches: max_abs" in out and "bound_ratio" in out


@pytest.mark.parametrize("option, value", [("--layout", "NCHW "), ("--layout", " nchw"), ("--kernel-layout", " OIHW"),
                                           ("--kernel-layout", "oihw ")])
def test_layouts_are_read_without_case_or_surrounding_spaces(files, capsys, option, value):
    """Both layout options take their letters the same way: case and surrounding spaces do not matter."""
    assert main(_args(files, "good", option, value)) == 0
    assert "conventions: NCHW data, OIHW kernel" in capsys.readouterr().out


def test_mismatch_exits_1_and_names_the_flip(files, capsys):
    assert main(_args(files)) == 1
    out = capsys.readouterr().out
    assert "does not match" in out and "1. [flip]" in out and "w = w[:, :, ::-1, ::-1]" in out


def test_json_report(files, tmp_path):
    report = tmp_path / "report.json"
    assert main(_args(files, "y", "--json", str(report))) == 1
    payload = json.loads(report.read_text())
    assert payload["matches"] is False and payload["bound_ratio"] > 1
    assert payload["max_abs"] > 0 and payload["max_ulp"] > 0
    first = payload["explanations"][0]
    assert first["changes"] == ["flip"] and first["matches"] is True and first["bound_ratio"] <= 1
    assert first["sentence"] and first["fix"] and first["max_abs"] >= 0


def _png_chunks(data: bytes) -> dict[bytes, bytes]:
    chunks, offset = {}, 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    return chunks


def test_plot_writes_a_valid_png(files, tmp_path):
    plot = tmp_path / "diff.png"
    assert main(_args(files, "y", "--plot", str(plot))) == 1
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = _png_chunks(data)
    assert list(chunks)[0] == b"IHDR" and b"IEND" in chunks
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert width >= 12 and height >= 12 and (depth, colour) == (8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()  # filter byte "none" on every row
    assert len(np.unique(rows[:, 1:])) > 2  # the map shows varying error, not a flat image


def _decode(path: Path) -> np.ndarray:
    chunks = _png_chunks(path.read_bytes())
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    return rows[:, 1:].reshape(height, width, 3)


def test_edge_only_error_lights_only_the_tile_edge(tmp_path):
    from parity.core import png

    error = np.zeros((2, 1, 8, 10))
    error[1, 0, :, 0] = 3.0  # one batch element, left column only: a padding-like error
    png.write(tmp_path / "edge.png", png.error_map(error))
    image = _decode(tmp_path / "edge.png")
    lit = np.argwhere(image.sum(axis=2) == 3 * 255)  # white: the largest error
    assert len(lit) and lit[:, 1].max() < image.shape[1] // 4  # all near the left edge
    assert lit[:, 0].min() < image.shape[0] // 4 and lit[:, 0].max() > 3 * image.shape[0] // 4  # full height


@pytest.mark.parametrize("shape", [(1, 3, 20), (2, 2, 3, 4, 5)])
def test_error_map_of_1d_and_3d_outputs(tmp_path, shape):
    from parity.core import png

    png.write(tmp_path / "map.png", png.error_map(RNG.random(shape)))
    image = _decode(tmp_path / "map.png")
    assert image.shape[0] > 8 and image.shape[1] > 8 and len(np.unique(image)) > 2


def test_png_writer_rejects_non_rgb_images(tmp_path):
    from parity.core import png

    with pytest.raises(ValueError, match="must be an"):
        png.write(tmp_path / "bad.png", np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("payload, message", [
    (lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True), "never loaded"),
    (lambda path: path.write_bytes(_npy(np.ones((1, 3, 12, 12), np.float32))[:100]), "must have a valid .npy header"),
    (lambda path: path.write_bytes(_npy(np.ones((1, 3, 12, 12), np.float32))[:200]), "truncated"),
    (lambda path: path.write_bytes(b"not an npy file at all"), "must be a .npy file"),
    (lambda path: np.save(path, np.ones((1, 3, 12, 12), np.int64)), "must be a float16, bfloat16, float32"),
])
def test_unsafe_or_broken_input_exits_2_with_one_line(files, tmp_path, payload, message):
    bad = tmp_path / "bad.npy"
    payload(bad)
    done = subprocess.run([str(PARITY), "check", "--input", str(bad), "--kernel", str(files["w"]), "--output",
                           str(files["y"])], capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parity: error: --input") and message in lines[0]


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_missing_file_and_bad_flags_exit_2(files, tmp_path, capsys):
    assert main(["check", "--input", str(tmp_path / "nope.npy"), "--kernel", str(files["w"]),
                 "--output", str(files["y"])]) == 2
    assert main(_args(files, "y", "--strides", "two")) == 2
    assert main(_args(files, "y", "--layout", "NCW")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("parity: error: ") for line in err)
    assert "--strides must be integers" in err[1] and "for rank 2" in err[2]


def test_impossible_shapes_exit_2(files, tmp_path, capsys):
    np.save(tmp_path / "odd.npy", np.zeros((2, 7, 5, 5), np.float32))  # batch 2, 7 channels: no reading fits
    files = {**files, "odd": tmp_path / "odd.npy"}
    assert main(_args(files, "odd")) == 2
    err = capsys.readouterr().err
    assert err.startswith("parity: error: Y must have shape") and "no convention change tried" in err


def test_bfloat16_npy_saved_as_void_is_read_as_bfloat16(tmp_path, files, capsys):
    x, w = np.load(files["x"]), np.load(files["w"])
    y = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1))).astype(ml_dtypes.bfloat16)
    np.save(tmp_path / "bf16.npy", y)
    assert np.load(tmp_path / "bf16.npy").dtype.kind == "V"  # how numpy stores it
    files = {**files, "bf16": tmp_path / "bf16.npy"}
    assert main(_args(files, "bf16")) == 0
    assert "Y is bfloat16" in capsys.readouterr().out


def test_infeasible_stated_conventions_skip_the_plot_with_a_note(tmp_path, capsys):
    x, w_tf = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32), RNG.standard_normal((3, 3, 3, 5)).astype(np.float32)
    y = oracle.forward(x, np.transpose(w_tf, (3, 2, 0, 1)), (1, 1), ((0, 0), (0, 0))).astype(np.float32)
    for name, array in (("x", x), ("w", w_tf), ("y", y)):
        np.save(tmp_path / f"{name}.npy", array)
    plot = tmp_path / "p.png"
    code = main(["check", "--input", str(tmp_path / "x.npy"), "--kernel", str(tmp_path / "w.npy"), "--output",
                 str(tmp_path / "y.npy"), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 1 and "[kernel-layout:HWIO]" in captured.out
    assert not plot.exists() and "--plot skipped" in captured.err


# --- printed arrays on the command line -------------------------------------------------------------------
EXAMPLE = Path(__file__).parent.parent / "examples" / "porting"


def test_printed_arrays_are_read_and_said(capsys):
    args = ["check", "--input", str(EXAMPLE / "x.txt"), "--kernel", str(EXAMPLE / "w.txt"), "--output",
            str(EXAMPLE / "y.txt"), "--layout", "HWC", "--kernel-layout", "HWI"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "read: x: numpy printout, shape (5, 5, 3), float64 (numpy's default), printed to 8 decimals" in out
    assert "read: w: Julia printout" in out and "float64 (declared), printed to 6 significant digits" in out
    assert "printing: " in out and "Y was printed to 6 significant digits; compared within that rounding" in out
    assert "1. [flip]" in out and "fix: w = w[::-1, ::-1]" in out


def test_standard_input_format_and_digits(tmp_path, monkeypatch, capsys):
    import io

    x = np.arange(1, 11, dtype=np.float32).reshape(1, 1, 10) / 8  # exact in 4 decimals
    w = np.array([0.5, -0.25, 0.125], np.float32)
    y = np.convolve(x[0, 0], w, mode="valid")  # a true convolution, printed to 4 decimals below
    (tmp_path / "x.txt").write_text(" ".join(f"{v:.4f}" for v in x.reshape(-1)))
    (tmp_path / "w.txt").write_text("0.5 -0.25 0.125")
    monkeypatch.setattr("sys.stdin", io.StringIO(" ".join(f"{v:.4f}" for v in y)))
    code = main(["check", "--input", str(tmp_path / "x.txt"), "--kernel", str(tmp_path / "w.txt"), "--output", "-",
                 "--layout", "W", "--kernel-layout", "W", "--format", "table", "--digits", ".4"])
    out = capsys.readouterr().out
    assert code == 1 and "printed to 4 decimals (given)" in out and "1. [flip]" in out


def test_malformed_printout_exits_2_naming_the_line(tmp_path, files, capsys):
    (tmp_path / "y.txt").write_text("array([[1., 2.],\n       [3., oops]])")
    assert main(["check", "--input", str(files["x"]), "--kernel", str(files["w"]), "--output",
                 str(tmp_path / "y.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["parity: error: --output '" + str(tmp_path / "y.txt") + "' must be a printed array, got: "
                   "line 2: element must be a number, got 'oops'"]


def test_two_arrays_from_standard_input_exit_2(files, capsys):
    assert main(["check", "--input", "-", "--kernel", "-", "--output", str(files["y"])]) == 2
    assert "standard input (-) must be given to one of" in capsys.readouterr().err


def test_a_y_only_a_pad_beyond_the_kernel_could_give_exits_2(files, tmp_path, capsys):
    np.save(tmp_path / "big.npy", RNG.standard_normal((1, 4, 100, 100)).astype(np.float32))  # x is 12x12
    files = {**files, "big": tmp_path / "big.npy"}
    assert main(_args(files, "big")) == 2
    assert capsys.readouterr().err.strip().endswith("got (1, 4, 100, 100); no convention change tried gives Y's "
                                                   "shape either")


def test_an_npz_archive_is_named_as_one(tmp_path, files, capsys):
    """It was read as a printed array and its zip bytes shown as a bad number (helper-36)."""
    archive = tmp_path / "x.npz"
    np.savez(archive, x=np.load(files["x"]))
    files["x"] = archive
    assert main(_args(files)) == 2
    assert capsys.readouterr().err == (f"parity: error: --input {str(archive)!r} must be a .npy file or a printed "
                                       "array, got a zip archive (.npz): save the one array with np.save\n")
