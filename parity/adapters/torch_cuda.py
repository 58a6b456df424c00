"""PyTorch on the first CUDA device with TF32 off in cuDNN and cuBLAS and deterministic cuDNN algorithms:
what a float32 reference run on a GPU should be. Gradients run twice and must be bit-identical.
Unavailable (with the reason) where no CUDA device is visible."""
from parity.adapters.torch import TorchAdapter

ADAPTER = TorchAdapter("torch_cuda", device="cuda", tf32=False, deterministic=True)
