"""PyTorch on the first CUDA device with the framework's defaults: cuDNN convolutions may use TF32 on Ampere
and newer GPUs (``torch.backends.cudnn.allow_tf32`` is True by default) and pick nondeterministic
algorithms. The canary cases expose TF32 (fingerprint ``TF32 inputs``, or ``TF32 inputs, ties away`` for
four NCHW layers on an H200, where cuDNN converts the data for its TF32 kernel)."""
from parity.adapters.torch import TorchAdapter

ADAPTER = TorchAdapter("torch_cuda_tf32", device="cuda")
