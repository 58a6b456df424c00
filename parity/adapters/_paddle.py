"""PaddlePaddle backend (CPU): ``paddle.nn.functional.conv1d/2d/3d`` and ``conv1d/2d/3d_transpose`` with
``groups`` and ``dilation``; gradients by ``paddle.grad`` with the seeded cotangent.

Both layouts go natively through ``data_format`` (NCL/NLC, NCHW/NHWC, NCDHW/NDHWC); Paddle's kernels are
``(O, I/groups, *k)`` for conv and ``(I, O/groups, *k)`` for conv_transpose in either data format, parity's
canonical forms. Padding: "SAME"/"VALID" are passed as Paddle's strings where they mean exactly the case's
padding (``convert.tf_padding``), else as Paddle's per-side list ``[lo_1, hi_1, lo_2, hi_2, ...]``; "SAME" is
never passed with dilations > 1, which Paddle then drops without a word (tests pin it). A
transposed conv's crop goes the same way (Paddle crops ``padding`` from the full output), with
``output_padding`` where the output reaches past the full length (``convert.onnx_transpose_padding``).

What Paddle's CPU kernels accept is asked of Paddle, never listed: a call whose kernel is not registered
(float16 and bfloat16 in paddlepaddle 3.3.1's CPU build), or a transposed conv whose output_padding is not
below its stride (whatever its dilation: ``_beyond_stride``), raises ``Refused`` with Paddle's own first line.
"""
from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np

from parity.adapters.base import Refused, missing_module
from parity.core import convert
from parity.core.collector import paused
from parity.core.spec import ConvSpec

# Paddle's refusal of a dtype, by the start of its first line: a CPU kernel missing for it.
_REFUSALS = ("(NotFound) The kernel with key",)
_FORMATS = {1: ("NCL", "NLC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


@cache
def _paddle() -> ModuleType:
    with paused():
        import paddle

    paddle.set_device("cpu")
    return paddle


class PaddleAdapter:
    name = "paddle"
    frameworks = ("paddle",)

    def available(self) -> str | None:
        return missing_module("paddle", "paddle")

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        try:
            return _compute(spec, x, w, dy)
        except (RuntimeError, ValueError) as error:
            first = (str(error).strip().splitlines() or [""])[0]
            if first.startswith(_REFUSALS) or _beyond_stride(spec):
                raise Refused(f"PaddlePaddle CPU: '{first}'") from None
            raise


def _compute(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None) -> np.ndarray:
    paddle = _paddle()
    dims = convert.dimensions_for(spec)
    data = _tensor(dims.data_from_canonical(x), spec.dtype)
    kernel = _tensor(w, spec.dtype)
    target = {"grad_input": data, "grad_weight": kernel}.get(spec.quantity)
    if target is not None:
        target.stop_gradient = False
    y = (_transposed if spec.transposed else _forward)(spec, data, kernel)
    if target is None:
        result = y
    else:
        cotangent = _tensor(dims.data_from_canonical(dy), spec.dtype)
        (result,) = paddle.grad([y], [target], grad_outputs=[cotangent])
    return dims.result_to_canonical(_numpy(result, x.dtype), spec.quantity)


def _forward(spec: ConvSpec, data, kernel):
    functional = _paddle().nn.functional
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=spec.layout == "channels_last")
    # Paddle's "SAME" sets every dilation to 1 and pads for the undilated kernel, silently
    # (UpdatePaddingAndDilation in phi/kernels/cpu/conv_util.h): dilated cases go as explicit pads.
    native = isinstance(padding, str) and (padding == "VALID" or max(spec.dilations) == 1)
    padding = padding if native else _per_side(spec.pads)
    conv = getattr(functional, f"conv{spec.rank}d")
    return conv(data, kernel, stride=list(spec.strides), padding=padding, dilation=list(spec.dilations),
                groups=spec.groups, data_format=_format(spec))


def _transposed(spec: ConvSpec, data, kernel):
    """Paddle crops ``padding`` (lo, hi) per axis from the full output and adds ``output_padding`` at the
    end; the ONNX spelling of the crop says which: explicit pads and output_padding, or a VALID/SAME mode
    (SAME there is the case's own crop, without output_padding)."""
    functional = _paddle().nn.functional
    onnx = _onnx(spec)
    if "pads" in onnx:
        crops = tuple(zip(onnx["pads"][:spec.rank], onnx["pads"][spec.rank:]))
    else:
        crops = ((0, 0),) * spec.rank if onnx["auto_pad"] == "VALID" else spec.pads
    conv = getattr(functional, f"conv{spec.rank}d_transpose")
    return conv(data, kernel, stride=list(spec.strides), padding=_per_side(crops),
                output_padding=list(onnx.get("output_padding", [0] * spec.rank)), dilation=list(spec.dilations),
                groups=spec.groups, data_format=_format(spec))


def _onnx(spec: ConvSpec) -> dict:
    return convert.onnx_transpose_padding(spec.pads, spec.output_padding, spec.spatial, spec.kernel, spec.strides,
                                          spec.dilations)


def _beyond_stride(spec: ConvSpec) -> bool:
    """Whether the output_padding handed to Paddle reaches its stride on an axis: Paddle's docs allow it below
    the dilation instead (as torch does), but paddlepaddle 3.3.1 refuses it, in words that name the axis
    ('Output_height and padding(...) are inconsistent', 'input_depth(5) and output_depth(4) are
    mismatching', 'output_padding ... should be less than either stride or dilation', ...)."""
    extra = _onnx(spec).get("output_padding", ()) if spec.transposed else ()
    return any(e >= s for e, s in zip(extra, spec.strides))


def _per_side(pads: convert.Pads) -> list[int]:
    """Paddle's per-side padding list: [lo_1, hi_1, lo_2, hi_2, ...] in spatial-axis order."""
    return [side for pair in pads for side in pair]


def _format(spec: ConvSpec) -> str:
    return _FORMATS[spec.rank][spec.layout == "channels_last"]


def _tensor(a: np.ndarray, dtype: str):
    # paddle.to_tensor has no numpy bfloat16: float32 -> bfloat16 is exact for bfloat16 values.
    source = a.astype(np.float32) if a.dtype.name == "bfloat16" else np.ascontiguousarray(a)
    return _paddle().to_tensor(source).astype(dtype)


def _numpy(t, dtype: np.dtype) -> np.ndarray:
    if dtype.name == "bfloat16":
        return t.astype("float32").numpy().astype(dtype)
    return t.numpy()


IN_PROCESS = PaddleAdapter()  # what the paddle backend's worker runs (see parity.adapters.paddle)
