"""Writes the printouts of a porting question: Knet's ``conv4`` (Julia, a true convolution) ported to
``tf.nn.conv2d`` (a cross-correlation). The asker pasted the input as numpy printed it (batch axis
dropped: 5x5x3, HWC), and the kernel and Julia's output as the Julia REPL printed them (6 significant
digits; the kernel without its size-1 output-channel axis, the output without batch and channel axes).

    python examples/porting/make_printouts.py   # rewrites x.txt, w.txt, y.txt here
    parity check --input x.txt --kernel w.txt --output y.txt --layout HWC --kernel-layout HWI
"""
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def julia(a: np.ndarray) -> str:
    """``display(a)`` in the Julia REPL: a header, then each [:, :, k] slice, elements to 6 significant digits."""
    def number(v: float) -> str:
        text = f"{v:.6g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{int(exponent)}"
        return text if "." in text else text + ".0"

    def rows(m: np.ndarray) -> list[str]:
        return [" " + "  ".join(number(v) for v in row) for row in m]

    dims = "×".join(map(str, a.shape))
    if a.ndim == 2:
        return "\n".join([f"{dims} Matrix{{Float64}}:", *rows(a)]) + "\n"
    lines = [f"{dims} Array{{Float64, 3}}:"]
    for k in range(a.shape[2]):
        lines += [f"[:, :, {k + 1}] =", *rows(a[:, :, k]), ""]
    return "\n".join(lines)


def main() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((5, 5, 3)), rng.standard_normal((3, 3, 3))  # HWC, HWI (one output channel)
    y = np.zeros((3, 3))
    for i in range(3):  # conv4's default mode: the kernel reversed on both spatial axes
        for j in range(3):
            y[i, j] = np.sum(x[i:i + 3, j:j + 3, :] * w[::-1, ::-1, :])
    (HERE / "x.txt").write_text(repr(x) + "\n")
    (HERE / "w.txt").write_text(julia(w))
    (HERE / "y.txt").write_text(julia(y))


if __name__ == "__main__":
    main()
