"""Worker for the ``theano`` backend: ``T.nnet.conv2d`` / ``T.nnet.conv3d`` of Theano 1.0.5, and transposed
convolutions as ``conv2d_grad_wrt_inputs`` / ``conv3d_grad_wrt_inputs``.

Runs under the theano environment's Python 3.8 (see parity.adapters.legacy.envs); imports nothing from parity. Data and
kernels arrive in Theano's own layout, which is parity's canonical one ((N, C, *S) and (O, C/groups, *k);
a transposed conv's (C_in, C_out/groups, *k) kernel is the kernel of the forward conv it is the gradient
of), already flipped by the harness when ``filter_flip`` is true. Request ``call`` fields:

- ``op``: "conv2d", "conv3d", "conv2d_grad_wrt_inputs" or "conv3d_grad_wrt_inputs" (of
  ``theano.tensor.nnet.abstract_conv``, with the data as ``output_grad``);
- ``kwargs``: border_mode, subsample, filter_flip, filter_dilation, num_groups;
- ``input_shape``: the ``*_grad_wrt_inputs`` functions' ``input_shape`` (absent for forward convs);
- ``crop``: (lo, hi) widths per spatial axis applied to the result, padding first, negative entries
  cropping (a transposed conv's crop that ``border_mode`` cannot express), or null;
- ``quantity``: "output", or "grad_input" / "grad_weight" by ``theano.grad`` of ``sum(y * dy)``.

Compiled functions do not depend on the data, so they are cached per call, dtype and rank.
"""
import json
import warnings

warnings.filterwarnings("ignore")

import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from theano.tensor.nnet import abstract_conv  # noqa: E402

from worker_protocol import serve  # noqa: E402

COMPILED = {}


def compute(call, arrays):
    operands = [arrays[name] for name in ("x", "w", "dy") if name in arrays]
    key = (json.dumps(call, sort_keys=True), operands[0].dtype.name, operands[0].ndim)
    if key not in COMPILED:
        COMPILED[key] = compile_call(call, operands[0].dtype.name, operands[0].ndim, len(operands))
    return COMPILED[key](*operands)


def compile_call(call, dtype, ndim, count):
    x, w, dy = [T.TensorType(dtype, (False,) * ndim)() for _ in range(3)]
    kwargs = dict(call["kwargs"])
    kwargs["border_mode"] = border_mode(kwargs["border_mode"])
    for name in ("subsample", "filter_dilation"):
        kwargs[name] = tuple(kwargs[name])
    op = getattr(abstract_conv, call["op"])
    y = op(x, w, call["input_shape"], **kwargs) if "input_shape" in call else op(x, w, **kwargs)
    if call.get("crop"):
        y = pad_or_crop(y, call["crop"])
    if call["quantity"] != "output":
        target = x if call["quantity"] == "grad_input" else w
        y = theano.grad(T.sum(y * dy), target)
    return theano.function([x, w, dy][:count], y, on_unused_input="ignore")


def border_mode(value):
    """JSON lists back to the tuples Theano wants: (1, 2) or ((1, 2), (0, 1))."""
    if isinstance(value, list):
        return tuple(tuple(item) if isinstance(item, list) else item for item in value)
    return value


def pad_or_crop(y, widths):
    """Zero-pad the spatial axes of (N, C, *S) ``y`` by the positive widths, then cut the negative ones off."""
    grow = [(max(0, lo), max(0, hi)) for lo, hi in widths]
    if any(lo or hi for lo, hi in grow):
        sizes = [y.shape[2 + axis] for axis in range(len(widths))]
        shape = [y.shape[0], y.shape[1]] + [n + lo + hi for n, (lo, hi) in zip(sizes, grow)]
        inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(sizes, grow))
        y = T.set_subtensor(T.zeros(shape, dtype=y.dtype)[(slice(None), slice(None)) + inner], y)
    cut = tuple(slice(max(0, -lo), y.shape[2 + axis] - max(0, -hi)) for axis, (lo, hi) in enumerate(widths))
    return y[(slice(None), slice(None)) + cut]


if __name__ == "__main__":
    serve(compute)
