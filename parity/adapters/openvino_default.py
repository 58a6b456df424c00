"""OpenVINO on its CPU plugin with the plugin's default inference precision (no hint set): bf16 on CPUs with
bfloat16 arithmetic, whatever the model's element type, so float32 models there run on bfloat16 inputs."""
from parity.adapters.openvino import OpenVinoAdapter

ADAPTER = OpenVinoAdapter("openvino_default", explicit_precision=False)
