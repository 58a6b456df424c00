"""Running cases: the case registry, the runner and its results, accumulation probes, fault isolation and worker
processes, legacy environments, recorded outputs, benchmarks and fuzzing."""
