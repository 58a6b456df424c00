"""OpenVINO on its CPU plugin with the plugin's default inference precision (no hint set): bf16 on CPUs with
bfloat16 arithmetic, whatever the model's element type, so float32 models there run on bfloat16 inputs. In a
worker process of its own, as ``openvino``."""
from parity.adapters._in_worker import InWorker

ADAPTER = InWorker("openvino_default", "parity.adapters._openvino:DEFAULT")
