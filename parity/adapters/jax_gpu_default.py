"""JAX on the first CUDA device with its default precision, which on Ampere and newer GPUs computes float32
convolutions with TF32 inputs (the canary cases expose it). Unavailable where no CUDA device is visible."""
from parity.adapters.jax import JaxAdapter

ADAPTER = JaxAdapter("jax_gpu_default", platform="gpu")
