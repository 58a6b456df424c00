"""ONNX Runtime with every graph optimization off (``GraphOptimizationLevel.ORT_DISABLE_ALL``): the case's
one-node model runs as written, on the CPU EP's plain ``Conv`` / ``ConvTranspose`` kernels, where
``onnxruntime`` (``ORT_ENABLE_ALL``) lets the optimizer rewrite it first."""
from parity.adapters.onnxruntime import OnnxRuntimeAdapter

ADAPTER = OnnxRuntimeAdapter("onnxruntime_noopt", level="ORT_DISABLE_ALL")
