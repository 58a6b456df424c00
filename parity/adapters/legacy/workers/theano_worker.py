"""Worker for the ``theano`` backend: ``T.nnet.conv2d`` / ``T.nnet.conv3d`` of Theano 1.0.5.

Runs under the theano environment's Python 3.8 (see parity.adapters.legacy.envs); imports nothing from parity. Data and
kernels arrive in Theano's own layout, which is parity's canonical one ((N, C, *S) and
(O, C/groups, *k)), already flipped by the harness when ``filter_flip`` is true. Request ``call`` fields:
``op`` ("conv2d", "conv3d"), ``kwargs`` (border_mode, subsample, filter_flip, filter_dilation,
num_groups) and ``quantity`` ("output", or "grad_input" / "grad_weight" by ``theano.grad`` of
``sum(y * dy)``). Compiled functions do not depend on shapes, so they are cached per call and dtype.
"""
import json
import warnings

warnings.filterwarnings("ignore")

import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from theano.tensor import nnet  # noqa: E402

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
    y = getattr(nnet, call["op"])(x, w, **kwargs)
    if call["quantity"] != "output":
        target = x if call["quantity"] == "grad_input" else w
        y = theano.grad(T.sum(y * dy), target)
    return theano.function([x, w, dy][:count], y, on_unused_input="ignore")


def border_mode(value):
    """JSON lists back to the tuples Theano wants: (1, 2) or ((1, 2), (0, 1))."""
    if isinstance(value, list):
        return tuple(tuple(item) if isinstance(item, list) else item for item in value)
    return value


if __name__ == "__main__":
    serve(compute)
