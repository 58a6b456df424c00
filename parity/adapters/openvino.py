"""OpenVINO on its CPU plugin, in a worker process of its own (:mod:`parity.adapters._openvino`, the precision
hint set to the case's dtype): in a process shared with TensorFlow, PyTorch and JAX, OpenVINO's infer()
crashed the process (SIGSEGV) once in CI's property tests."""
from parity.adapters._in_worker import InWorker

ADAPTER = InWorker("openvino", "parity.adapters._openvino:IN_PROCESS")
