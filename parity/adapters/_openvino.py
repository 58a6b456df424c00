"""OpenVINO backend: a one-op ``openvino.Model`` built with the opset API (``openvino.opset16``, the newest
complete opset: ``openvino.opset17`` only holds its new ops so far) and compiled for the CPU plugin, cached per
geometry and precision. Inference only: no gradients.

The ops are ``Convolution``, ``GroupConvolution``, ``ConvolutionBackpropData`` and
``GroupConvolutionBackpropData`` (OpenVINO's transposed conv), channels-first like ONNX. Kernels are parity's
canonical ones, reshaped to ``(groups, O/groups, I/groups, *k)`` for ``GroupConvolution`` and
``(groups, I/groups, O/groups, *k)`` for ``GroupConvolutionBackpropData``. Channels-last cases run the graph a
converter emits for NHWC data: ``Transpose``, the conv, ``Transpose`` back. Padding is ``auto_pad`` valid /
same_upper / same_lower where that means exactly the case's padding, else explicit ``pads_begin`` /
``pads_end``; a transposed conv crops ``pads_*`` from the full output and adds ``output_padding`` at the end
(the ONNX spellings, ``convert.onnx_conv_padding`` / ``convert.onnx_transpose_padding``).

Precision: the CPU plugin runs a model at its ``INFERENCE_PRECISION_HINT``, which by default is bf16 on CPUs
with bfloat16 arithmetic (AVX-512 BF16 or AMX), whatever the model's element type. The ``openvino`` backend
sets the hint to the case's dtype (OpenVINO refuses f64: that refusal is the case's skip); ``openvino_default``
leaves the plugin's default, what a deployment that sets nothing gets.
"""
from __future__ import annotations

import os
from functools import cache, lru_cache
from types import ModuleType

import numpy as np

from parity.adapters.base import PROBE, Refused, missing_module
from parity.adapters._onnx import geometry as _geometry  # the spec less its data: one compiled model per geometry
from parity.core import convert
from parity.core.collector import paused
from parity.core.spec import ConvSpec

NO_GRADIENTS = ("OpenVINO: inference only ('OpenVINO is an open-source toolkit for optimizing and deploying AI "
                "inference'): the Runtime has no automatic differentiation, no gradients")
HINTS = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
HINT = "INFERENCE_PRECISION_HINT"
# Measured with openvino 2026.4.1 on an AVX-512 BF16 CPU: infer() kills the process (SIGSEGV) on 16-bit 1-D
# convolutions padded more at the end than at the start on short inputs (lengths 1 and 2, kernel 1, pads
# (0, 1); length 5 runs). Found by hypothesis; the backend runs in a worker, so it is a result, not a crash.
CRASH = ("OpenVINO 2026.4.1's CPU plugin crashes (SIGSEGV in infer()) on 16-bit 1-D convolutions padded more at "
         "the end than at the start on short inputs")
# Measured with openvino 2026.4.1 (every dtype, ranks 1 and 2): a ConvolutionBackpropData with kernel 1 and
# stride 1 whose output is as long as its input on every axis returns its input times the kernel, ignoring a
# pads_begin that output_padding (>= stride, which OpenVINO accepts) makes up for. Found by hypothesis.
UNCROPPED = ("OpenVINO 2026.4.1's CPU plugin ignores pads_begin on a kernel-1 stride-1 ConvolutionBackpropData "
             "whose output_padding keeps the output the input's size")


@cache
def _openvino() -> tuple[ModuleType, ModuleType]:
    # `import openvino` sends a telemetry event (openvino/tools/ovc/__init__.py) from a process it forks in a
    # thread: a fork of a multithreaded process (JAX warns of deadlocks) that reaches for the network.
    # openvino_telemetry's only switch short of a consent file in $HOME is CI=true, read when it starts.
    previous = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        with paused():
            import openvino
            import openvino.opset16 as opset
    finally:
        if previous is None:
            del os.environ["CI"]
        else:
            os.environ["CI"] = previous
    return openvino, opset


@cache
def _core():
    return _openvino()[0].Core()


class OpenVinoAdapter:
    """OpenVINO on its CPU plugin; ``explicit_precision``: the inference precision hint is set to the case's
    dtype (False: the plugin's default)."""

    def __init__(self, name: str = "openvino", explicit_precision: bool = True) -> None:
        self.name, self.explicit_precision = name, explicit_precision

    frameworks = ("openvino",)

    def settings(self) -> dict[str, object]:
        return {"device": "CPU", "inference_precision": "the case's dtype" if self.explicit_precision
                else "the plugin's default"}

    def available(self) -> str | None:
        return missing_module("openvino", "openvino")

    def supports(self, spec: ConvSpec) -> str | None:
        return NO_GRADIENTS if spec.quantity != "output" else None

    def accumulation(self, spec: ConvSpec) -> str:
        # 16-bit models run on kernels the plugin picks per CPU (bf16/f16 arithmetic where the CPU has it), so
        # the runner measures them. Here (avx512_bf16, openvino 2026.4.1): bfloat16 conv and transposed conv are
        # correctly rounded (float32 sums); float16 Convolution runs the bf16 kernel with a bf16 output, which
        # the probe misreads as float16(-taps) accumulation on 90 of 150 default-tier cases (see the notes).
        return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        openvino = _openvino()[0]
        hint = HINTS[spec.dtype] if self.explicit_precision else None
        dims = convert.dimensions_for(spec)
        data = np.ascontiguousarray(dims.data_from_canonical(x))
        kernel = np.ascontiguousarray(w.reshape(_kernel_shape(spec)))
        request = _compiled(_geometry(spec), hint).create_infer_request()
        request.infer({"X": _tensor(openvino, data), "W": _tensor(openvino, kernel)})
        y = _array(request.get_output_tensor(0), x.dtype)
        return dims.output_to_canonical(y)

    def known(self, spec: ConvSpec) -> str | None:
        """The conv node of the compiled model running at another precision than the case's dtype, as the
        plugin's runtime model reports it (bf16 for float32 cases without a hint, and for float16 cases on
        CPUs without float16 arithmetic: see the findings in tests/test_backend_openvino_paddle.py)."""
        if spec.dtype in ("float16", "bfloat16") and spec.rank == 1 and any(hi > lo for lo, hi in spec.pads):
            return CRASH
        if _uncropped(spec):
            return UNCROPPED
        layer, precision, primitive = self.runtime(spec)
        if precision == HINTS[spec.dtype]:
            return None
        hint = HINTS[spec.dtype] if self.explicit_precision else "the default"
        return (f"OpenVINO's CPU plugin runs this {spec.dtype} {layer} in {precision} ({primitive}) at "
                f"{HINT} {hint} on this CPU")

    def runtime(self, spec: ConvSpec) -> tuple[str, str, str]:
        """(layer type, runtime precision, primitive) of the conv node the CPU plugin compiled for ``spec``."""
        hint = HINTS[spec.dtype] if self.explicit_precision else None
        for node in _compiled(_geometry(spec), hint).get_runtime_model().get_ordered_ops():
            info = node.get_rt_info()
            layer = info["layerType"].astype(str) if "layerType" in info else ""
            if layer in ("Convolution", "Deconvolution"):
                return layer, info["runtimePrecision"].astype(str), info["primitiveType"].astype(str)
        raise RuntimeError("OpenVINO's runtime model has no Convolution or Deconvolution node")

    def inference_precision(self, spec: ConvSpec) -> str:
        """The precision the CPU plugin compiled ``spec``'s model for (its ``INFERENCE_PRECISION_HINT``: "bf16",
        "f16", "f32")."""
        hint = HINTS[spec.dtype] if self.explicit_precision else None
        return _compiled(_geometry(spec), hint).get_property(HINT).get_type_name()


def _kernel_shape(spec: ConvSpec) -> tuple[int, ...]:
    """The kernel as the op takes it: canonical, or split into groups for the Group* ops."""
    if spec.groups == 1:
        return spec.kernel_shape
    first, second, *k = spec.kernel_shape
    return (spec.groups, first // spec.groups, second, *k)


def _tensor(openvino: ModuleType, a: np.ndarray):
    if a.dtype.name == "bfloat16":  # numpy has no bfloat16: hand OpenVINO the bits
        return openvino.Tensor(a.view(np.uint16), a.shape, openvino.Type.bf16)
    return openvino.Tensor(a)


def _array(tensor, dtype: np.dtype) -> np.ndarray:
    # A bf16 tensor's .data is a float16 view of its bits: reinterpret them.
    data = np.array(tensor.data)
    return data.view(np.uint16).view(dtype) if dtype.name == "bfloat16" else data


def _padding(spec: ConvSpec) -> dict[str, object]:
    """``auto_pad`` (lowercase, OpenVINO's spelling) or explicit ``pads_begin``/``pads_end``; for a transposed
    conv also ``output_padding``, and ``output_shape`` where ``auto_pad`` is same_upper/same_lower."""
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed and (same := _transposed_same(spec)):
        return {"auto_pad": same, "output_shape": np.array(spec.output_spatial), "pads_begin": [0] * spec.rank,
                "pads_end": [0] * spec.rank}
    onnx = (convert.onnx_transpose_padding(spec.pads, spec.output_padding, *geometry) if spec.transposed
            else convert.onnx_conv_padding(spec.pads, *geometry))
    pads = onnx.get("pads", [0] * 2 * spec.rank)
    padding = {"pads_begin": pads[:spec.rank], "pads_end": pads[spec.rank:],
               "auto_pad": str(onnx.get("auto_pad", "explicit")).lower()}
    if spec.transposed:
        padding["output_padding"] = list(onnx.get("output_padding", [0] * spec.rank))
    return padding


def _uncropped(spec: ConvSpec) -> bool:
    """Whether ``spec`` is a case OpenVINO computes as if ``pads_begin`` were 0 (see UNCROPPED)."""
    return (spec.transposed and set(spec.kernel) == {1} and set(spec.strides) == {1}
            and spec.output_spatial == spec.spatial and any(lo for lo, _ in spec.pads))


def _transposed_same(spec: ConvSpec) -> str | None:
    """The ``auto_pad`` whose crop, given ``output_shape``, is the case's, by ConvolutionBackpropData's spec:
    total = full - output_shape, cropped ``total - total // 2`` at the start for same_upper and ``total // 2``
    for same_lower. So OpenVINO's same_upper puts the odd element at the *start* (measured too), where ONNX's
    ConvTranspose SAME_UPPER and TensorFlow's SAME put it at the end: ONNX's SAME_UPPER is OpenVINO's
    same_lower here. None: no auto_pad gives this crop (output_padding, or a crop that extends)."""
    if any(spec.output_padding) or any(lo < 0 or hi < 0 for lo, hi in spec.pads) or not any(map(any, spec.pads)):
        return None
    for mode, start in (("same_upper", lambda total: total - total // 2), ("same_lower", lambda total: total // 2)):
        if all(lo == start(lo + hi) for lo, hi in spec.pads):
            return mode
    return None


def _op(opset: ModuleType, spec: ConvSpec):
    name = "convolution_backprop_data" if spec.transposed else "convolution"
    return getattr(opset, f"group_{name}" if spec.groups > 1 else name)


@lru_cache(maxsize=256)
def _compiled(spec: ConvSpec, hint: str | None):
    openvino, opset = _openvino()
    element = openvino.Type.bf16 if spec.dtype == "bfloat16" else openvino.Type(np.dtype(spec.dtype))
    channels_last = spec.layout == "channels_last"
    shape = (spec.batch, *spec.spatial, spec.in_channels) if channels_last else spec.input_shape
    x = opset.parameter(list(shape), element, name="X")
    w = opset.parameter(list(_kernel_shape(spec)), element, name="W")
    first, last = (convert.layout_name(family, spec.rank) for family in ("channels_first", "channels_last"))
    data = opset.transpose(x, np.array(convert.letter_permutation(last, first))) if channels_last else x
    y = _op(opset, spec)(data, w, strides=list(spec.strides), dilations=list(spec.dilations), **_padding(spec))
    if channels_last:
        y = opset.transpose(y, np.array(convert.letter_permutation(first, last)))
    model = openvino.Model([y], [x, w], "parity")
    try:
        return _core().compile_model(model, "CPU", {} if hint is None else {HINT: hint})
    except RuntimeError as error:  # the hint alone can be refused: Refused with OpenVINO's words, never guessed
        lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("Exception from")]
        if hint is not None and lines and HINT in lines[-1]:
            raise Refused(f"OpenVINO CPU plugin: '{lines[-1].strip()}'") from None
        raise


# What the openvino backends' workers run (see parity.adapters.openvino): in a process shared with TensorFlow,
# PyTorch and JAX, OpenVINO's infer() crashed the process (SIGSEGV) once in CI's property tests.
IN_PROCESS = OpenVinoAdapter()
DEFAULT = OpenVinoAdapter("openvino_default", explicit_precision=False)
