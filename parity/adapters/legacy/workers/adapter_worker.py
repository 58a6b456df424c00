"""Worker for ``parity run --isolate``: runs parity's own (in-process) adapters in a child process, so
that one which hangs or kills its process costs only that case. Same protocol as the legacy workers;
the request's ``call`` carries the backend name, the spec, and whether bfloat16 travels as uint16 bits
(``.npy`` files cannot hold ml_dtypes' bfloat16 without pickling)."""
import numpy as np
from worker_protocol import serve

from parity import adapters
from parity.core.dtypes import DTYPES
from parity.core.spec import ConvSpec


def compute(call, arrays):
    if call.get("warmup"):  # a fresh process: load the backend (its framework's import), answer one number
        adapters.get(call["backend"]).available()
        return np.zeros(1)
    spec = ConvSpec(**call["spec"])
    operands = [arrays[name] for name in ("x", "w", "dy") if name in arrays]
    if call["bits"]:
        operands = [a.view(DTYPES["bfloat16"]) for a in operands]
    output = np.asarray(adapters.get(call["backend"]).run(spec, *operands))
    return output.view(np.uint16) if call["bits"] and output.dtype == DTYPES["bfloat16"] else output


if __name__ == "__main__":
    serve(compute)
