"""Worker for ``parity run --isolate``: runs parity's own (in-process) adapters in a child process, so
that one which hangs or kills its process costs only that case. Same protocol as the legacy workers;
the request's ``call`` carries the backend name, the spec, and whether bfloat16 travels as uint16 bits
(``.npy`` files cannot hold ml_dtypes' bfloat16 without pickling)."""
import numpy as np
from worker_protocol import serve

from parity import adapters
from parity.core.dtypes import DTYPES
from parity.core.inputs import generate
from parity.core.spec import ConvSpec


def compute(call, arrays):
    if call.get("warmup"):
        return warm_up(adapters.get(call["backend"]))
    spec = ConvSpec(**call["spec"])
    operands = [arrays[name] for name in ("x", "w", "dy") if name in arrays]
    if call["bits"]:
        operands = [a.view(DTYPES["bfloat16"]) for a in operands]
    output = np.asarray(adapters.get(call["backend"]).run(spec, *operands))
    return output.view(np.uint16) if call["bits"] and output.dtype == DTYPES["bfloat16"] else output


def warm_up(adapter):
    """A fresh process: load the backend through its own path (its framework's import and first call) on a
    tiny float32 conv, where it can run one; what it raises is left to the cases. Answers one number."""
    spec = ConvSpec(spatial=(4,), kernel=1)
    try:
        if adapter.available() is None and adapter.supports(spec) is None:
            adapter.run(spec, *generate(spec))
    except Exception:  # noqa: BLE001 (the cases report the backend's failures)
        pass
    return np.zeros(1)


if __name__ == "__main__":
    serve(compute)
