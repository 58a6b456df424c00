"""PyTorch on the first CUDA device with TF32 off in cuDNN and cuBLAS and deterministic cuDNN algorithms:
what a float32 reference run on a GPU should be. Gradients run twice and must be bit-identical.
Unavailable (with the reason) where no CUDA device is visible. Deterministic algorithms include cuDNN's FFT
ones, outside any summation bound: on an H200 (cuDNN 9.19) the NCHW 3x3 layer of 512 channels on a 7x7 image
runs by FFT and fails, as does the same layer at 256 channels (the NHWC one runs implicit GEMM): see the
README's GPU section."""
from parity.adapters.torch import TorchAdapter

ADAPTER = TorchAdapter("torch_cuda", device="cuda", tf32=False, deterministic=True)
