"""TensorFlow 2 backend: ``tf.nn.conv1d/conv2d/conv3d``, ``tf.nn.depthwise_conv2d`` and
``tf.nn.conv1d/2d/3d_transpose``; gradients through ``tf.GradientTape`` with the seeded cotangent.

TF takes ``[k..., in/groups, out]`` kernels (depthwise: ``[kh, kw, in, mult]``). "SAME"/"VALID" are passed
natively when they mean exactly the case's padding; other paddings go as TF's explicit padding list where
the op takes one (conv2d, depthwise_conv2d) and as ``tf.pad`` + VALID where it does not (conv1d, conv3d).
Rank-1 depthwise runs ``depthwise_conv2d`` on a height-1 image; depthwise cases its kernel cannot take run
as grouped ``conv1d/conv2d``. Transposed convs pass ``output_shape`` with native SAME/VALID when TF's crop
rule gives the case's crop (see ``convert.tf_transpose_padding``), else run VALID on the full output and
crop it.

What TF's CPU kernels accept depends on the build and the CPU (oneDNN on AVX-512 machines runs calls
that its Eigen kernels refuse elsewhere), so nothing here is hard-coded from one machine:

- Layout: the ``layout`` field is what TF is handed where TF takes it. Channels-last cases go as
  NWC/NHWC/NDHWC. Channels-first cases go natively (``data_format="NCHW"`` ...) unless TF refuses their
  route channels-first here (tried once per route and process); then the adapter transposes the data to
  channels-last and back, as a TF user on that CPU must, and the case measures TF's channels-last kernel
  on the same numbers (``probes.run_routed``).
- Refusals: a call TF refuses raises ``Refused`` with TF's own first sentence (``probes.tf_reason``): the
  case is a skip in TF's words. Only the missing ``groups`` argument of ``conv*_transpose`` is declared by
  ``supports``: it is the API, not the CPU.
- Accumulation: ``accumulation`` returns ``PROBE`` for 16-bit cases: the runner measures it per case geometry
  and declares the 16-bit type itself if any element misses the exact sum rounded once, else float32.
"""
from __future__ import annotations

from functools import cache, lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Sequence

import numpy as np

from parity.core import convert, geometry
from parity.adapters import _probes as probes
from parity.adapters._call import Name, Step, execute, render, sliced, step
from parity.adapters.base import PROBE, missing_module
from parity.core.spec import ConvSpec

if TYPE_CHECKING:
    from parity.adapters.base import Snippet

TRANSPOSE_GROUPS = "TensorFlow: tf.nn.conv*_transpose has no groups argument (no grouped transposed conv)"


@cache
def _tf() -> ModuleType:
    return probes.import_tensorflow()


class TensorFlowAdapter:
    name = "tensorflow"
    frameworks = ("tensorflow",)

    def available(self) -> str | None:
        return missing_module("tensorflow", "tensorflow")

    def supports(self, spec: ConvSpec) -> str | None:
        return TRANSPOSE_GROUPS if spec.transposed and spec.groups > 1 else None

    def accumulation(self, spec: ConvSpec) -> str:
        """16-bit cases: measured on this machine by the runner (``PROBE``, see the evidence below)."""
        return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype

    def snippet(self, spec: ConvSpec) -> "Snippet":
        """The native call for ``spec``, for ``parity translate``."""
        return _snippet(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        with probes.quiet_stderr():
            return probes.run_routed(spec, route, lambda channels_first: compute(spec, x, w, dy, channels_first),
                                     _tf().errors.OpError)


# Why the accumulation is probed (tensorflow-cpu 2.21, AMD EPYC with AVX-512 and avx512_bf16; integer
# canaries, elements off the exact sum rounded once): bfloat16 runs on oneDNN and sums in float32 on every
# route (0 off). float16 falls back to Eigen ("oneDNN supports DT_HALF only on platforms with AVX-512"; this
# CPU has no avx512_fp16), which sums in float32 for forward conv1d/conv2d, grouped or not, and for the input
# gradient of 1-D/2-D transposed convs (a forward conv): 0 of 38 to 200 off; but in float16 for conv3d
# (46/150 off), depthwise_conv2d (36/36, 103/200, 324/324 for output, grad_input, grad_weight),
# conv*_transpose outputs (37/42 to 306/810) and every other gradient (40/200 to 2196/3888). With
# TF_ENABLE_ONEDNN_OPTS=0 (Eigen, as on CPUs without AVX-512) bfloat16 sums in bfloat16 on those same routes
# (e.g. conv2d grad_input 200/200 off). So it depends on the CPU and the build: never hard-coded.


def route(spec: ConvSpec) -> ConvSpec:
    """TF's route for ``spec`` (:func:`probes.route_key`): its op, quantity, dtype, layout, channels, groups,
    kernel, strides and dilations and the same kind of TF padding (:func:`padding_kind`)."""
    kind = padding_kind(spec)
    return probes.route_key(spec, ((1, 0),) * spec.rank if kind == "explicit" else kind)  # lo > hi: never SAME


def padding_kind(spec: ConvSpec) -> str:
    """The padding TF is passed: "SAME", "VALID", or "explicit" (a padding list, or tf.pad then VALID)."""
    if spec.transposed:
        return transpose_call(spec)[0] or "VALID"  # an inexpressible crop is cut after a VALID call
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=True)
    return padding if isinstance(padding, str) else "explicit"


def compute(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None, channels_first: bool) -> np.ndarray:
    """The spec's quantity from TF handed channels-first (``data_format="NC..."``) or channels-last data."""
    tf = _tf()
    data, kernel, *cotangent = map(tf.constant, operands(spec, x, w, dy, channels_first))
    fmt = dimensions(spec, channels_first).data
    target = {"grad_input": data, "grad_weight": kernel}.get(spec.quantity)
    if target is None:
        return from_tf(spec, forward(tf, spec, data, kernel, fmt).numpy(), channels_first)
    with tf.GradientTape() as tape:
        tape.watch(target)
        y = forward(tf, spec, data, kernel, fmt)
    return from_tf(spec, tape.gradient(y, target, output_gradients=cotangent[0]).numpy(), channels_first)


def dimensions(spec: ConvSpec, channels_first: bool) -> convert.DimensionNumbers:
    """TF's layouts: the data as handed, kernels ``[k..., in/g, out]`` (transposed ``[k..., out, in]``,
    depthwise ``[kh, kw, in, mult]``)."""
    kernel = "depthwise" if uses_depthwise_op(spec) else "spatial_first"
    return convert.dimensions_for(spec, "channels_first" if channels_first else "channels_last", kernel)


def operands(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None,
             channels_first: bool) -> list[np.ndarray]:
    """(data, kernel[, cotangent]) in TF's layouts (:func:`dimensions`)."""
    dims = dimensions(spec, channels_first)
    data = [x] if dy is None else [x, dy]
    return [dims.data_from_canonical(data[0]), dims.kernel_from_canonical(w, spec.groups),
            *map(dims.data_from_canonical, data[1:])]


def from_tf(spec: ConvSpec, result: np.ndarray, channels_first: bool) -> np.ndarray:
    """TF's result (an output or input gradient in the data layout, a kernel gradient in the kernel layout) as
    the canonical contiguous array."""
    return dimensions(spec, channels_first).result_to_canonical(result, spec.quantity)


def forward(tf: ModuleType, spec: ConvSpec, data, kernel, fmt: str):
    """The op's output from TF tensors ``data`` and ``kernel`` in layout ``fmt``: :func:`steps` executed."""
    return execute(steps(spec, fmt), {"tf": tf, "x": data, "w": kernel})


@lru_cache(maxsize=2048)
def steps(spec: ConvSpec, fmt: str) -> tuple[Step, ...]:
    """The ``tf.nn`` call for ``spec`` on ``x`` and ``w`` in data layout ``fmt``, giving ``y``: what ``run``
    executes and ``parity translate`` prints."""
    if spec.transposed:
        return _transposed(spec, fmt)
    return _depthwise(spec, fmt) if uses_depthwise_op(spec) else _conv(spec, fmt)


def uses_depthwise_op(spec: ConvSpec) -> bool:
    """Whether ``tf.nn.depthwise_conv2d`` computes this case; other grouped cases use grouped conv.

    It is not given unequal strides over its two axes (a rank-1 case with stride > 1 is (1, s)), which
    TF's Eigen kernel refuses (oneDNN's runs them), nor strides > 1 together with dilations > 1, documented
    as unsupported: TF 2.21 only warns and returns wrong values (measured: errors 1e2 to 1e15 times the
    bound, see tests/test_findings.py). Grouped conv computes both everywhere.
    """
    if not spec.is_depthwise or spec.rank == 3:
        return False
    strides = (1, *spec.strides) if spec.rank == 1 else spec.strides
    return len(set(strides)) == 1 and not (strides[0] > 1 and max(spec.dilations) > 1)


def _full(fmt: str, values: Sequence[int]) -> list[int]:
    """Per-spatial-axis ``values`` with 1 on the batch and channel axes, in the order of layout ``fmt``."""
    return [1, 1, *values] if fmt[1] == "C" else [1, *values, 1]


def _padding(spec: ConvSpec, fmt: str, explicit_ok: bool) -> tuple[tuple[Step, ...], str | list]:
    """(steps padding ``x``, the padding argument): native SAME/VALID, an explicit list, or tf.pad + VALID."""
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=fmt[-1] == "C")
    if isinstance(padding, str) or explicit_ok:
        return (), padding
    return (step("x", "tf.pad", Name("x"), padding),), "VALID"


def _conv(spec: ConvSpec, fmt: str) -> tuple[Step, ...]:
    pad, padding = _padding(spec, fmt, explicit_ok=spec.rank == 2)  # only conv2d takes an explicit list
    x, w = Name("x"), Name("w")
    if spec.rank == 1:
        call = step("y", "tf.nn.conv1d", x, w, stride=spec.strides[0], padding=padding, data_format=fmt,
                    dilations=spec.dilations[0])
    elif spec.rank == 2:
        call = step("y", "tf.nn.conv2d", x, w, strides=list(spec.strides), padding=padding, data_format=fmt,
                    dilations=list(spec.dilations))
    else:
        call = step("y", "tf.nn.conv3d", x, w, strides=_full(fmt, spec.strides), padding=padding, data_format=fmt,
                    dilations=_full(fmt, spec.dilations))
    return (*pad, call)


def _depthwise(spec: ConvSpec, fmt: str) -> tuple[Step, ...]:
    if spec.rank == 1:  # as a height-1 image, the way Keras runs Conv1D
        height1 = ConvSpec(**{**spec.as_dict(), "spatial": (1, *spec.spatial), "kernel": (1, *spec.kernel),
                              "strides": (1, *spec.strides), "dilations": (1, *spec.dilations),
                              "padding": ((0, 0), *spec.pads), "output_padding": (0, *spec.output_padding)})
        axis = fmt.index("W")
        return (step("x", "tf.expand_dims", Name("x"), axis), step("w", "tf.expand_dims", Name("w"), 0),
                *_depthwise(height1, fmt.replace("W", "HW")), step("y", "tf.squeeze", Name("y"), axis))
    pad, padding = _padding(spec, fmt, explicit_ok=True)
    return (*pad, step("y", "tf.nn.depthwise_conv2d", Name("x"), Name("w"), strides=_full(fmt, spec.strides),
                       padding=padding, data_format=fmt, dilations=list(spec.dilations)))


def transpose_call(spec: ConvSpec) -> tuple[str | None, tuple[int, ...]]:
    """TF's native padding mode for this transposed conv (None: not expressible) and the spatial
    ``output_shape`` to ask for: the case's output, or the full output to crop afterwards."""
    mode = convert.tf_transpose_padding(spec.pads, spec.output_padding, spec.spatial, spec.kernel, spec.strides,
                                        spec.dilations)
    full = geometry.full_transposed(spec.spatial, spec.kernel, spec.strides, spec.dilations)
    return mode, spec.output_spatial if mode else full


def _transposed(spec: ConvSpec, fmt: str) -> tuple[Step, ...]:
    mode, spatial = transpose_call(spec)
    shape = [spec.batch, spec.out_channels, *spatial] if fmt[1] == "C" else [spec.batch, *spatial, spec.out_channels]
    call = step("y", f"tf.nn.conv{spec.rank}d_transpose", Name("x"), Name("w"), output_shape=shape,
                strides=list(spec.strides), padding=mode or "VALID", data_format=fmt, dilations=list(spec.dilations))
    if mode:
        return (call,)
    # TF's output_shape cannot express this crop: crop (or extend) the full output
    return (call, *_pad_or_crop(convert.crop_full_transpose(spec.pads, spec.output_padding), fmt))


def _pad_or_crop(pads: convert.Pads, fmt: str) -> tuple[Step, ...]:
    """``convert.pad_array`` on ``y`` in layout ``fmt``: tf.pad the positive pads, then slice the crops."""
    channels_last = fmt[-1] == "C"
    widths, crops = convert.numpy_pad_arg(convert.growth(pads), channels_last), convert.crop_slices(pads)
    index = (slice(None), *crops, slice(None)) if channels_last else (slice(None), slice(None), *crops)
    return ((step("y", "tf.pad", Name("y"), widths),) if any(map(any, widths)) else ()) + \
        ((sliced("y", "y", index),) if any(c != slice(None) for c in crops) else ())


def _snippet(spec: ConvSpec) -> "Snippet":
    """``tf.nn`` call for ``spec`` (``parity translate``): channels-last, the steps ``run`` executes."""
    from parity.adapters.base import Snippet

    if spec.transposed and spec.groups > 1:
        raise ValueError(f"tensorflow must have groups=1 for a transposed conv, got groups={spec.groups}: "
                         f"{TRANSPOSE_GROUPS}")
    letters = convert.layout_name("channels_last", spec.rank)
    suffix = "OI" if spec.transposed else "IM" if uses_depthwise_op(spec) else "IO"
    kernel = convert.KernelLayout(letters[1:-1] + suffix, spec.transposed)
    return Snippet(("import tensorflow as tf",), letters, kernel, (*render(steps(spec, letters)), "y = y.numpy()"))


ADAPTER = TensorFlowAdapter()
