"""Theano 1.0.5 backend, out of process: ``T.nnet.conv2d`` / ``T.nnet.conv3d``, and transposed convs as
``conv2d_grad_wrt_inputs`` / ``conv3d_grad_wrt_inputs`` (what ``T.nnet.conv2d_transpose`` wraps), compiled by
``parity/adapters/legacy/workers/theano_worker.py`` under the ``theano`` environment (``parity env create theano``).

Theano's data and kernel layouts are parity's canonical ones ((N, C, *S), (O, C/groups, *k); a transposed
conv's (C_in, C_out/groups, *k) kernel is the kernel of the forward conv whose input gradient it computes);
rank 1 runs as a height-1 image (``convert.as_height1``). Padding goes to ``border_mode`` natively
(``convert.theano_border_mode``: "valid", "full", "half", ints, or (lo, hi) pairs in 2-D), strides to
``subsample``, dilation to ``filter_dilation``, groups to ``num_groups``; gradients by ``theano.grad``. A
transposed conv's crop is the ``border_mode`` of that forward conv, with ``input_shape`` the case's output,
where Theano can express it (non-negative, symmetric in 3-D, giving back the case's input length); else the
full output (``border_mode="valid"``) is cropped in the graph.

Theano takes channels-first data only: channels-last cases are a skip in its docs' words. The backend runs
Theano's default ``filter_flip=True`` (true convolution) on the kernel reversed by ``convert.flip``;
``TheanoAdapter(filter_flip=False)`` runs cross-correlation on the kernel as it is (both are tested).
"""
from __future__ import annotations

import numpy as np

from parity.core import convert, geometry
from parity.adapters.legacy import envs
from parity.adapters.base import first_refusal
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import for_env, translated_shape

BFLOAT16 = ("Theano has no bfloat16: TensorType's dtypes are float16/32/64 and the integer and complex types "
            "('Unsupported dtype for TensorType: bfloat16')")
FLOAT16 = "Theano on CPU: 'On the CPU we do not support float16.'"
ASYMMETRIC_3D = "Theano conv3d: 'Asymmetric padding not implemented for 3D'"
CHANNELS_FIRST = ("Theano takes channels-first data only (T.nnet.conv2d's input: 'Mini-batch of feature map stacks, "
                  "of shape (batch size, input channels, input rows, input columns)')")


class TheanoAdapter:
    name = "theano"

    def __init__(self, filter_flip: bool = True) -> None:
        self.filter_flip = filter_flip

    def available(self) -> str | None:
        return envs.missing("theano")

    def supports(self, spec: ConvSpec) -> str | None:
        checks = ((spec.layout == "channels_last", CHANNELS_FIRST),
                  (spec.dtype == "bfloat16", BFLOAT16), (spec.dtype == "float16", FLOAT16),
                  (spec.rank == 3 and not spec.transposed and convert.symmetric_pads(spec.pads) is None,
                   ASYMMETRIC_3D))
        return first_refusal(checks)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        flip = self.filter_flip
        arrays = {"x": x, "w": convert.flip(w) if flip else w, **({"dy": dy} if dy is not None else {})}
        if spec.rank == 1:
            arrays = {name: convert.as_height1(a) for name, a in arrays.items()}
        axes = _geometry(spec)
        spatial, pads, kernel, strides, dilations, _ = axes
        op, border, more = (transposed(spec, axes) if spec.transposed else
                            (f"conv{len(spatial)}d", convert.theano_border_mode(pads, kernel, dilations), {}))
        kwargs = {"border_mode": border, "subsample": list(strides), "filter_flip": flip,
                  "filter_dilation": list(dilations), "num_groups": spec.groups}
        call = {"op": op, "kwargs": kwargs, "quantity": spec.quantity, **more}
        shape = translated_shape(convert.as_height1, spec.result_shape) if spec.rank == 1 else spec.result_shape
        result = for_env("theano", "theano_worker.py").call(call, arrays, shape, x.dtype)
        result = convert.from_height1(result) if spec.rank == 1 else result
        # with filter_flip the weight gradient is that of the reversed kernel: reverse it back
        return np.ascontiguousarray(convert.flip(result) if flip and spec.quantity == "grad_weight" else result)


def transposed(spec: ConvSpec, axes: tuple) -> tuple[str, object, dict[str, object]]:
    """(op, border_mode, {"input_shape", "crop"}) of ``conv{2,3}d_grad_wrt_inputs`` for a transposed conv
    (``axes``: :func:`_geometry`'s): the crop as ``border_mode`` and the case's output length as
    ``input_shape`` where that forward conv gives back the input's length, else the full output ("valid")
    and the crop for the worker to apply."""
    spatial, crops, kernel, strides, dilations, extra = axes
    full = geometry.full_transposed(spatial, kernel, strides, dilations)
    out = [f - lo - hi + e for f, (lo, hi), e in zip(full, crops, extra)]
    borders = tuple((lo, max(hi, 0)) for lo, hi in crops)  # a negative hi: zeros past the end, none to pad
    native = (geometry.output_lengths(out, kernel, strides, dilations, borders) == tuple(spatial)
              and (len(spatial) == 2 or convert.symmetric_pads(borders) is not None))
    op, channels = f"conv{len(spatial)}d_grad_wrt_inputs", [spec.batch, spec.out_channels]
    if native:
        return op, convert.theano_border_mode(borders, kernel, dilations), {"input_shape": channels + out, "crop": None}
    return op, "valid", {"input_shape": channels + list(full), "crop": convert.crop_full_transpose(crops, extra)}


def _geometry(spec: ConvSpec) -> tuple:
    """(spatial, pads, kernel, strides, dilations, output_padding) as Theano sees them: rank 1 as a height-1
    image (a transposed conv's pads are its crops, whose hi may be negative)."""
    values = (spec.spatial, spec.pads, spec.kernel, spec.strides, spec.dilations, spec.output_padding)
    if spec.rank == 1:
        return tuple((first, *value) for first, value in zip((1, (0, 0), 1, 1, 1, 0), values))
    return values


ADAPTER = TheanoAdapter()
