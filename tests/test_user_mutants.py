"""The discriminating-power acceptance run, as a user would do it: adapters of one's own that wrap torch with
one mistake each fail ``parity run --tier default`` on realistic layers (accumulation length >= 2304) in the
dtype they break, while torch itself fails nothing and has no insensitive comparison."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

ADAPTERS = textwrap.dedent('''
    import numpy as np
    import torch
    import torch.nn.functional as F
    from parity.adapters import get
    from parity.verdict.fingerprint import round_to_bits

    TORCH = get("torch")

    class Wrapper:
        """torch with one change; declares torch's accumulation unless told otherwise."""
        def __init__(self, name, change, declared=None):
            self.name, self.change, self.declared = name, change, declared
        def available(self):
            return None
        def supports(self, spec):
            return None
        def accumulation(self, spec):
            return self.declared or TORCH.accumulation(spec)
        def run(self, spec, x, w, dy=None):
            return self.change(spec, x, w, dy)

    def _torch(spec, x, w, dy):
        return TORCH.run(spec, x, w, *(() if dy is None else (dy,)))

    def flipless16(spec, x, w, dy):
        if spec.dtype in ("float16", "bfloat16"):
            w = np.ascontiguousarray(np.flip(w, tuple(range(2, w.ndim))))
        return _torch(spec, x, w, dy)

    def rounded(bits):
        def run(spec, x, w, dy):
            if spec.dtype == "float32":
                x, w = (round_to_bits(a.astype(np.float64), bits).astype(np.float32) for a in (x, w))
            return _torch(spec, x, w, dy)
        return run

    def f16_channels(spec, x, w, dy):
        if spec.dtype != "float16" or spec.quantity != "output" or spec.groups != 1 or spec.transposed:
            return _torch(spec, x, w, dy)
        total = torch.zeros(spec.output_shape, dtype=torch.float16)
        for c in range(spec.in_channels):  # each input channel's conv, added in float16
            one = F.conv2d(torch.from_numpy(x[:, c:c + 1]).float(), torch.from_numpy(w[:, c:c + 1]).float(),
                           padding="same")
            total = total + one.half()
        return total.numpy()

    def same_at_start(spec, x, w, dy):
        if spec.padding != "SAME" or spec.rank != 2 or spec.transposed:
            return _torch(spec, x, w, dy)
        pads = [p for lo, hi in reversed(spec.pads) for p in (hi, lo)]  # the odd element before, not after
        xt = F.pad(torch.from_numpy(x.astype(np.float32)), pads)
        y = F.conv2d(xt, torch.from_numpy(w.astype(np.float32)), stride=spec.strides, groups=spec.groups)
        return y.numpy().astype(x.dtype)

    FLIPLESS16 = Wrapper("flipless16", flipless16)
    TF32 = Wrapper("tf32", rounded(11))
    BF16IN = Wrapper("bf16in", rounded(8))
    F16ACC = Wrapper("f16acc", f16_channels, declared="float32")  # believes it sums in float32
    SAMESTART = Wrapper("samestart", same_at_start)
''')
# backend -> the dtypes it breaks (it must fail there, and only there)
BROKEN = {"flipless16": {"float16", "bfloat16"}, "tf32": {"float32"}, "bf16in": {"float32"},
          "f16acc": {"float16"}, "samestart": {"float16", "bfloat16", "float32", "float64"}}


def test_user_adapters_with_one_mistake_fail_realistic_layers(tmp_path):
    (tmp_path / "mistakes.py").write_text(ADAPTERS)
    backends = ["torch"] + [f"mistakes:{name.upper()}" for name in BROKEN]
    out = tmp_path / "run.json"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--tier", "default", "-k",
                           "realistic and c256 and not dw", "--backends", ",".join(backends),
                           "--json", str(out)], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 1, done.stderr[-2000:]
    results = [r for r in json.loads(out.read_text())["results"] if r["against"] == "reference"]
    assert results
    for result in results:
        name = result["backend"].partition(":")[2].lower() or result["backend"]
        if name == "torch":
            assert result["status"] == "pass", result
    for name, dtypes in BROKEN.items():
        failed = {r["spec"]["dtype"] for r in results if r["backend"].endswith(name.upper()) and r["status"] == "fail"}
        assert failed == dtypes, (name, failed)
