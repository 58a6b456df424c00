"""Compiled PyTorch: ``torch.compile`` (inductor, CPU, ``dynamic=False``, ``fullgraph=True``) around the
torch adapter's own ``F.conv*d`` / ``F.conv_transpose*d`` call (:func:`parity.adapters.torch.steps`, padding
included, executed by :func:`parity.adapters._call.execute`); gradients by ``torch.autograd.grad`` through the compiled graph, so
the backward is AOTAutograd's compiled backward.

What inductor makes of a convolution on CPU (torch 2.13, ``TORCH_LOGS=output_code``): the convolution
itself is no generated code. It stays ``aten.convolution`` (``extern_kernels.convolution``), and its
backward ``aten.convolution_backward``; inductor generates C++ only around it: the ``F.pad``/crop and, for
2-D convolutions, copies into the channels-last memory format its layout optimization picks (the extern
call then runs on channels-last tensors even for channels-first cases) and back.

One compiled function; dynamo's guards (on the tensors' dtype, sizes, strides and requires_grad, and on the
call's steps: the op, padding, strides, dilations, groups) keep one compiled graph per geometry, shared by the cases that differ only in their data. Inductor needs a C++ compiler
(``g++``, or ``$CXX``).
"""
from __future__ import annotations

import os
import shutil
import warnings
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from typing import Callable, Iterator

from parity.adapters import torch as eager
from parity.adapters._call import Step, execute
from parity.adapters.base import PROBE, missing_module
from parity.core.spec import ConvSpec

# Every geometry is a recompile of the same two functions; dynamo's defaults (8 per function, 256 in all)
# would then silently run the rest eagerly. Raised, and hitting them is made an error.
RECOMPILE_LIMIT = 100_000


@cache
def _compiled() -> Callable:
    torch = eager._torch()

    def convolve(steps: tuple[Step, ...], xt, wt):
        return execute(steps, {"F": torch.nn.functional, "xt": xt, "wt": wt})

    return torch.compile(convolve, backend="inductor", dynamic=False, fullgraph=True)


def _limits() -> AbstractContextManager:
    return eager._torch()._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True,
                                               accumulated_recompile_limit=RECOMPILE_LIMIT)


class TorchCompileAdapter(eager.TorchAdapter):
    """The torch adapter's run, its conv call compiled."""

    opt_in = ("inductor compiles every new geometry (about 2 s of CPU each, g++ included: the default tier took "
              "45 min cold, 5 min with a warm TORCHINDUCTOR_CACHE_DIR, on the 2-core machine)")

    def __init__(self) -> None:
        super().__init__("torch_compile")

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "compile": "inductor, dynamic=False, fullgraph=True",
                "cxx": _compiler()}

    def available(self) -> str | None:
        missing, compiler = missing_module("torch", "torch"), _compiler()
        if missing is None and shutil.which(compiler) is None:
            return f"torch.compile (inductor, CPU) needs a C++ compiler: {compiler!r} is not on PATH (set $CXX)"
        return missing

    def accumulation(self, spec: ConvSpec) -> str:
        # The extern aten kernels, on the copies inductor makes (channels-last for 2-D convs): which CPU
        # kernel runs depends on the CPU and the memory format, so probed per geometry. Measured here
        # (torch 2.13, AVX-512 EPYC): eager torch's fingerprints, float16-taps on float16 conv gradients
        # and conv_transpose outputs.
        return PROBE

    def _convolve(self, spec: ConvSpec, xt, wt):
        return _compiled()(eager.steps(spec), xt, wt)

    @contextmanager
    def _context(self) -> Iterator[None]:
        with _limits():  # run() enters it inside warnings.catch_warnings(): the filter ends with the call
            # Dynamo traces through the torch adapter's functools.cache'd _torch() (it returns the module).
            warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")
            yield


ADAPTER = TorchCompileAdapter()


def _compiler() -> str:
    """The C++ compiler inductor runs: ``$CXX``, default g++."""
    return os.environ.get("CXX", "g++")
