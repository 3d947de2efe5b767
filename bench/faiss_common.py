"""Helpers shared by the Faiss benchmark scripts (run by /usr/bin/python3, which has Debian's python3-faiss)."""

import json
import os
import sys

import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise ValueError(f"{path}: empty file")
    d = int(raw[0])
    if raw.size % (d + 1) != 0:
        raise ValueError(f"{path}: not a uniform-dimension vecs file")
    rows = raw.reshape(-1, d + 1)
    if not np.all(rows[:, 0] == d):
        raise ValueError(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def read_fvecs(path):
    return read_vecs(path, np.float32)


def read_ivecs(path):
    return read_vecs(path, np.int32)


def write_vecs(path, a):
    a = np.ascontiguousarray(a)
    n, d = a.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = a.view(np.int32)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    out.tofile(path)


def load_spec():
    if len(sys.argv) != 2:
        sys.stderr.write(f"usage: /usr/bin/python3 {sys.argv[0]} SPEC.json\n")
        sys.exit(2)
    with open(sys.argv[1]) as f:
        return json.load(f)


def setup_faiss():
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def emit_results(faiss, results):
    """The one JSON object a Faiss script prints: its results and what Faiss ran on (version, build, threads, BLAS)."""
    emit(
        {
            "faiss_version": faiss.__version__,
            # e.g. "OPTIMIZE GENERIC" (Debian's build) vs "OPTIMIZE AVX2": which SIMD Faiss's kernels were compiled for
            "compile_options": faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else None,
            "omp_max_threads": int(faiss.omp_get_max_threads()),
            "blas": blas_libraries(),
            "thread_env": env_threads(),
            "results": results,
        }
    )


def blas_libraries():
    """Shared libraries with 'blas' in their path mapped into this process (which BLAS Faiss really uses)."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                path = parts[-1] if len(parts) >= 6 else ""
                if "blas" in os.path.basename(path) and path not in found:
                    found.append(os.path.realpath(path))
    except OSError:
        pass
    return sorted(set(found))


def env_threads():
    return {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if os.environ.get(k)}
