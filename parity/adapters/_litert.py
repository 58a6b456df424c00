"""LiteRT (TensorFlow Lite) backends: the ``tensorflow`` adapter's calls traced as a ``tf.function`` with the
kernel as a constant, converted by TensorFlow's TFLite converter (``tf.lite.TFLiteConverter``) to a one-op
model, and run by ``ai_edge_litert.interpreter.Interpreter``: ``litert_xnnpack`` with the default op
resolver (builtin kernels, the XNNPACK delegate applied), ``litert_ref`` with
``OpResolverType.BUILTIN_REF`` (TFLite's reference kernels, no delegate).

What the converter makes of the calls (tensorflow-cpu 2.21, ai-edge-litert 2.3): ``tf.nn.conv2d`` ->
``CONV_2D`` (grouped too), ``tf.nn.conv1d`` -> ``RESHAPE``, ``CONV_2D`` on a height-1 image, ``RESHAPE``;
``tf.nn.depthwise_conv2d`` -> ``DEPTHWISE_CONV_2D``; ``tf.nn.conv3d`` -> ``CONV_3D``; ``conv*_transpose`` ->
``TRANSPOSE_CONV`` / ``CONV_3D_TRANSPOSE``. TFLite has no autodiff, but the converter lowers TF's input
gradients (``Conv2DBackpropInput`` -> ``TRANSPOSE_CONV``, ``Conv3DBackpropInputV2`` -> ``CONV_3D_TRANSPOSE``),
so ``grad_input`` runs; weight gradients need TF Select ops. TFLite's kernels are NHWC: a channels-first
graph converts with ``TRANSPOSE`` ops around the conv, and one the converter refuses (channels-first conv1d,
depthwise and Conv3D in 2.21) is converted channels-last, the adapter transposing the data as a TFLite user
must. Whatever the converter or the interpreter refuses (float64 and float16 graphs: 'op is neither a
custom op nor a flex op'; bfloat16 inputs; weight gradients) raises ``Refused`` in their own words.

float16: the converter lowers no float16 convolution to a TFLite op (the float16 graph is refused as above).
TFLite's float16 models are float32 models whose weights are stored in float16 (``Optimize.DEFAULT`` with
``supported_types=[tf.float16]``) and dequantized by a ``DEQUANTIZE`` op; data, arithmetic and outputs are
float32. float16 cases run as such a model: the float16 data is fed as float32 (exact), and the float32
result is rounded once to float16 here. Accumulation is the default (float32): every float16 canary of the
default tier came out correctly rounded on both backends here; a CPU on which XNNPACK computed them in
float16 would fail those canaries, not pass them.

One conversion per geometry, shared by both backends: the kernel constant is a placeholder (1, 2, ..., K in
float32, exact), and each case writes its own kernel into the converted model's filter buffers, in the order
the placeholder values show the converter put them (it transposes, reshapes and slices kernels, never
computes on them: a buffer that is not placeholder values is an error). XNNPACK takes only constant
filters (a filter given as a model input runs on the builtin kernel), hence constants.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from types import ModuleType

import numpy as np

from parity.adapters import _probes as probes
from parity.adapters import tensorflow as eager
from parity.adapters import tensorflow_xla as xla
from parity.adapters.base import Refused, missing_module
from parity.core import convert
from parity.core.collector import paused
from parity.core.spec import ConvSpec

CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "TRANSPOSE_CONV", "CONV_3D_TRANSPOSE")
DILATED_DEPTHWISE = ("the TFLite converter folds tf.nn.depthwise_conv2d's SpaceToBatchND/BatchToSpaceND of a "
                     "dilated depthwise conv into DEPTHWISE_CONV_2D with SAME padding whatever the explicit "
                     "padding was: the output has the input's size and wrong values (TensorFlow 2.21; found by "
                     "hypothesis, pinned in tests/test_backend_xla_litert.py)")


@cache
def _litert() -> ModuleType:
    with paused():
        import ai_edge_litert.interpreter
        import ai_edge_litert.schema_py_generated

    return ai_edge_litert


@dataclass(frozen=True)
class Converted:
    """A converted model, per filter buffer (in operator order) the flat index into the canonical kernel of
    each of its elements, and the layout of its data."""

    content: bytes
    orders: tuple[np.ndarray, ...]
    channels_first: bool

    def with_kernel(self, kernel: np.ndarray) -> bytes:
        """The model with the canonical ``kernel`` written into its filter buffers."""
        content = bytearray(self.content)
        views = filter_buffers(content)
        for view, order in zip(views, self.orders, strict=True):
            view[...] = kernel.ravel()[order].astype(view.dtype)
        return bytes(content)


class LiteRtAdapter:
    """LiteRT's interpreter with ``resolver`` ("AUTO": builtin kernels and the XNNPACK delegate, or
    "BUILTIN_REF": the reference kernels)."""

    def __init__(self, name: str, resolver: str) -> None:
        self.name, self.resolver = name, resolver

    frameworks = ("ai_edge_litert", "tensorflow")

    def settings(self) -> dict[str, object]:
        return {"op_resolver": self.resolver}

    def available(self) -> str | None:
        return missing_module("ai_edge_litert", "litert") or missing_module("tensorflow", "litert")

    def supports(self, spec: ConvSpec) -> str | None:
        return eager.ADAPTER.supports(spec)

    def known(self, spec: ConvSpec) -> str | None:
        return DILATED_DEPTHWISE if explicit_dilated_depthwise(spec) else None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        model = converted(xla.geometry(spec))
        if isinstance(model, str):
            raise Refused(model)
        dims = eager.dimensions(spec, model.channels_first)
        operands = {"data": dims.data_from_canonical(x),
                    **({} if dy is None else {"cotangent": dims.data_from_canonical(dy)})}
        with probes.quiet_stderr():
            result = self._invoke(model.with_kernel(w), operands).astype(spec.dtype)
        return dims.result_to_canonical(result, spec.quantity)

    def _invoke(self, content: bytes, operands: dict[str, np.ndarray]) -> np.ndarray:
        litert = _litert()
        resolver = getattr(litert.interpreter.OpResolverType, self.resolver)
        interpreter = litert.interpreter.Interpreter(model_content=content, experimental_op_resolver_type=resolver)
        try:
            interpreter.allocate_tensors()
            for detail in interpreter.get_input_details():
                name = next(key for key in operands if key in detail["name"])
                interpreter.set_tensor(detail["index"], operands[name].astype(detail["dtype"]))
            interpreter.invoke()
        except RuntimeError as error:
            raise Refused(f"LiteRT interpreter ({self.resolver}): '{str(error).strip().splitlines()[0]}'") from None
        self._check(interpreter)
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    def _check(self, interpreter) -> None:
        """With the default resolver, ``Refused`` when the XNNPACK delegate left a convolution to the builtin
        kernels (the interpreter falls back silently; this backend measures XNNPACK)."""
        if self.resolver != "AUTO":
            return
        ops = interpreter._get_ops_details()
        left = [op["op_name"] for op in ops if op["op_name"] in CONVOLUTIONS and op["index"] not in delegated(ops)]
        if left:
            raise Refused(f"LiteRT: the XNNPACK delegate did not take {', '.join(left)}: the default interpreter "
                          "runs TFLite's builtin kernel for it")


def explicit_dilated_depthwise(spec: ConvSpec) -> bool:
    """Whether the case's TF call is a dilated ``tf.nn.depthwise_conv2d`` with explicit padding (neither
    "SAME" nor "VALID"): the converter's dilated-conv fusion then assumes SAME (a rank-1 case's reshape
    is refused by the interpreter instead, in its words)."""
    if spec.quantity != "output" or max(spec.dilations) == 1 or not eager.uses_depthwise_op(spec):
        return False
    return not isinstance(convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                             channels_last=True), str)


def delegated(ops: list[dict]) -> set[int]:
    """Indices of the nodes a ``DELEGATE`` node replaced: those between its inputs and its outputs."""
    producer = {int(t): op for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    replaced: set[int] = set()
    for delegate in (op for op in ops if op["op_name"] == "DELEGATE"):
        boundary, pending = set(map(int, delegate["inputs"])), list(map(int, delegate["outputs"]))
        while pending:
            tensor = pending.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node["index"] in replaced:
                continue
            replaced.add(node["index"])
            pending.extend(int(t) for t in node["inputs"] if t >= 0)
    return replaced


def filter_buffers(content: bytearray) -> list[np.ndarray]:
    """Writable views (typed) of the constant filter of each convolution in ``content``, in operator order;
    a filter produced by ``DEQUANTIZE`` (float16 weights) is that op's constant input."""
    schema = _litert().schema_py_generated
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    kind = [names[model.OperatorCodes(op.OpcodeIndex()).BuiltinCode()] for op in operators]
    producer = {int(op.Outputs(0)): (name, op) for name, op in zip(kind, operators)}
    views = []
    for name, op in zip(kind, operators):
        if name not in CONVOLUTIONS:
            continue
        tensor = int(op.Inputs(1))
        if producer.get(tensor, ("",))[0] == "DEQUANTIZE":
            tensor = int(producer[tensor][1].Inputs(0))
        description = graph.Tensors(tensor)
        data = model.Buffers(description.Buffer()).DataAsNumpy()
        dtype = np.dtype(types[description.Type()].lower())
        views.append(data.view(dtype) if isinstance(data, np.ndarray) else np.empty(0, dtype))
    return views


@lru_cache(maxsize=256)
def converted(spec: ConvSpec) -> Converted | str:
    """The converted model for a geometry, or the converter's refusal in its words. A channels-first graph
    the converter refuses is converted channels-last instead (the adapter then transposes the data, as a
    TFLite user must)."""
    model = _converted(spec, spec.layout == "channels_first")
    if isinstance(model, str) and spec.layout == "channels_first":
        return _converted(spec, False)
    return model


@lru_cache(maxsize=256)
def _converted(spec: ConvSpec, channels_first: bool) -> Converted | str:
    """float16: the float16-weights model, its buffers ordered as the float32 model of the same geometry
    and layout shows."""
    if spec.dtype != "float16":
        content = conversion(spec, spec.dtype, channels_first)
        if isinstance(content, str):
            return content
        orders = tuple(_placeholder_order(view) for view in filter_buffers(bytearray(content)))
        return Converted(content, orders, channels_first)
    float32 = _converted(ConvSpec(**{**spec.as_dict(), "dtype": "float32"}), channels_first)
    content = conversion(spec, "float16-weights", channels_first)
    for refusal in (content, float32):
        if isinstance(refusal, str):
            return refusal
    return Converted(content, float32.orders, channels_first)


def _placeholder_order(view: np.ndarray) -> np.ndarray:
    order = view.astype(np.float64) - 1
    if not view.size or np.any(order != np.round(order)) or order.min() < 0:
        raise RuntimeError(f"TFLite converter changed the kernel's values, not only their order: {view[:8]}")
    return order.astype(np.int64)


def conversion(spec: ConvSpec, weights: str, channels_first: bool) -> bytes | str:
    """The TFLite model of ``spec`` with the placeholder kernel, converted from a ``dtype`` graph (float32 with
    float16 weights for "float16-weights"), or the converter's words refusing it."""
    tf = eager._tf()
    dtype = "float32" if weights == "float16-weights" else weights
    shape = spec.kernel_shape
    if np.prod(shape) > 2 ** 24:  # float32 holds the placeholder's integers exactly up to 2**24
        raise ValueError(f"kernel must have at most 2**24 elements for LiteRT's placeholder, got {np.prod(shape)}")
    placeholder = np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape)
    kernel = tf.constant(eager.dimensions(spec, channels_first).kernel_from_canonical(placeholder, spec.groups)
                         .astype(dtype))
    program = xla.program(spec, channels_first)
    signature = [tf.TensorSpec(_tf_shape(spec.input_shape, channels_first), dtype, name="data")]
    if spec.quantity == "output":
        function = tf.function(lambda data: program(data, kernel))
    else:
        signature.append(tf.TensorSpec(_tf_shape(spec.output_shape, channels_first), dtype, name="cotangent"))
        function = tf.function(lambda data, cotangent: program(data, kernel, cotangent))
    try:
        concrete = function.get_concrete_function(*signature)
    except ValueError as error:  # TF's graph construction refusing the call while tracing
        return f"TensorFlow graph construction (for the TFLite converter): '{xla.trace_words(error)}'"
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], function)
    if weights == "float16-weights":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    with probes.quiet_stderr():
        try:
            return converter.convert()
        except (ValueError, _converter_error()) as error:  # ValueError: its input checks (bfloat16)
            return converter_words(error, tf.__version__)


def _tf_shape(shape: tuple[int, ...], channels_first: bool) -> tuple[int, ...]:
    return shape if channels_first else (shape[0], *shape[2:], shape[1])


def _converter_error() -> type[Exception]:
    from tensorflow.lite.python.convert_phase import ConverterError

    return ConverterError


def converter_words(error: Exception, version: str) -> str:
    """``TFLite converter (TensorFlow <version>): '<its first line>' (<error code>)``."""
    details = getattr(error, "errors", None)
    if details:
        code = type(details[0]).ErrorCode.Name(details[0].error_code)
        return f"TFLite converter (TensorFlow {version}): '{details[0].error_message.splitlines()[0]}' ({code})"
    lines = [line.split("error: ", 1)[-1] for line in str(error).splitlines() if "error: " in line]
    words = (lines or str(error).splitlines() or [type(error).__name__])[0]
    return f"TFLite converter (TensorFlow {version}): '{words}'"
