"""JAX on the first CUDA device with ``precision=HIGHEST`` (true float32 convolutions, no TF32).
Unavailable (with the reason) where no CUDA device is visible to JAX."""
from parity.adapters.jax import JaxAdapter

ADAPTER = JaxAdapter("jax_gpu", platform="gpu", precision="highest")
