"""Theano 1.0.5 backend, out of process: ``T.nnet.conv2d`` / ``T.nnet.conv3d`` compiled by
``parity/adapters/legacy/workers/theano_worker.py`` under the ``theano`` environment (``parity env create theano``).

Theano's data and kernel layouts are parity's canonical ones ((N, C, *S), (O, C/groups, *k)); rank 1 runs
as a height-1 image (``convert.as_height1``). Padding goes to ``border_mode`` natively
(``convert.theano_border_mode``: "valid", "full", "half", ints, or (lo, hi) pairs in 2-D), strides to
``subsample``, dilation to ``filter_dilation``, groups to ``num_groups``; gradients by ``theano.grad``.

Both kernel conventions are exercised. Theano takes channels-first data only, so a case's layout variant
has no Theano meaning and selects the flip instead: channels-first cases run Theano's default
``filter_flip=True`` (true convolution) on the kernel reversed by ``convert.flip``, channels-last cases run
``filter_flip=False`` (cross-correlation) on the kernel as it is.
"""
from __future__ import annotations

import numpy as np

from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.base import first_refusal
from parity.adapters.legacy.tf1 import NO_BFLOAT16
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import for_env, translated_shape

FLOAT16 = "Theano on CPU: 'On the CPU we do not support float16.'"
TRANSPOSED = "theano backend: forward convolution only (conv2d_grad_wrt_inputs is not run out of process)"
ASYMMETRIC_3D = "Theano conv3d: 'Asymmetric padding not implemented for 3D'"


class TheanoAdapter:
    name = "theano"

    def available(self) -> str | None:
        return envs.missing("theano")

    def supports(self, spec: ConvSpec) -> str | None:
        checks = ((spec.dtype == "bfloat16", NO_BFLOAT16), (spec.dtype == "float16", FLOAT16),
                  (spec.transposed, TRANSPOSED),
                  (spec.rank == 3 and convert.symmetric_pads(spec.pads) is None, ASYMMETRIC_3D))
        return first_refusal(checks)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        flip = filter_flip(spec)
        arrays = {"x": x, "w": convert.flip(w) if flip else w, **({"dy": dy} if dy is not None else {})}
        geometry = (spec.pads, spec.kernel, spec.strides, spec.dilations)
        if spec.rank == 1:
            arrays = {name: convert.as_height1(a) for name, a in arrays.items()}
            geometry = (((0, 0), *spec.pads), (1, *spec.kernel), (1, *spec.strides), (1, *spec.dilations))
        pads, kernel, strides, dilations = geometry
        kwargs = {"border_mode": convert.theano_border_mode(pads, kernel, dilations), "subsample": list(strides),
                  "filter_flip": flip, "filter_dilation": list(dilations), "num_groups": spec.groups}
        call = {"op": f"conv{max(spec.rank, 2)}d", "kwargs": kwargs, "quantity": spec.quantity}
        shape = translated_shape(convert.as_height1, spec.result_shape) if spec.rank == 1 else spec.result_shape
        result = for_env("theano", "theano_worker.py").call(call, arrays, shape, x.dtype)
        result = convert.from_height1(result) if spec.rank == 1 else result
        # with filter_flip the weight gradient is that of the reversed kernel: reverse it back
        return np.ascontiguousarray(convert.flip(result) if flip and spec.quantity == "grad_weight" else result)


def filter_flip(spec: ConvSpec) -> bool:
    """Theano's ``filter_flip`` for a case: True (its default) for channels-first cases, else False."""
    return spec.layout == "channels_first"


ADAPTER = TheanoAdapter()
