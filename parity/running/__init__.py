"""Running cases: the case registry, the runner and its results, accumulation probes, fault isolation and worker
processes, legacy environments, recorded outputs, benchmarks and fuzzing."""

ISOLATE_TIMEOUT = 120.0  # seconds an isolated backend gets per case unless --timeout / --parity-timeout says
