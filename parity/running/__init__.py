"""Running cases: the case registry, the runner and its results, accumulation probes, fault isolation and worker
processes, legacy environments, recorded outputs, benchmarks and fuzzing."""

ISOLATE_TIMEOUT = 120.0  # seconds an isolated backend gets per case unless --timeout / --parity-timeout says
# Thread-pool variables the pytest plugin sets to 1 in each xdist worker (one worker per core).
WORKER_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                  "TF_NUM_INTEROP_THREADS")
