"""Faiss 1-thread k-means timings for bench/kmeans.js.

usage: /usr/bin/python3 bench/faiss_kmeans.py SPEC.json
SPEC = {"tasks": [{"name", "x": path.fvecs, "n": rows to use (optional, first n), "k", "niter", "seed",
                   "repeats", "out_centroids": path.fvecs}, ...]}
Times km.train(x) only (data loading is setup), median of `repeats` runs of a fresh faiss.Kmeans with seeds seed,
seed + 1, ... (fewer runs when their total passes the optional "max_seconds"); writes the final centroids of every run,
stacked (runs * k rows). cpu_over_wall ~ 1 confirms a single thread. Prints ONE JSON object on stdout.
"""

import statistics
import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs


def main():
    spec = load_spec()
    faiss = setup_faiss()
    results = []
    warmed = False
    for task in spec["tasks"]:
        x = read_fvecs(task["x"])
        if task.get("n"):
            x = x[: task["n"]].copy()
        n, d = x.shape
        k, niter, seed = task["k"], task["niter"], task["seed"]
        if not warmed:  # page in the library and BLAS once before any timed run
            w = faiss.Kmeans(d, k, niter=2, seed=seed, verbose=False)
            w.train(x[: min(n, 40 * k)])
            warmed = True
        times = []
        cpu = []
        km = None
        max_seconds = task.get("max_seconds", float("inf"))
        runs = []
        for r in range(task["repeats"]):
            km = faiss.Kmeans(d, k, niter=niter, seed=seed + r, verbose=False)
            c0 = time.process_time()
            t0 = time.perf_counter()
            km.train(x)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            runs.append(km.centroids.copy())
            if sum(times) > max_seconds:
                break
        write_vecs(task["out_centroids"], np.concatenate(runs, axis=0))
        results.append(
            {
                "name": task["name"],
                "n": int(n),
                "d": int(d),
                "k": int(k),
                "niter": int(niter),
                "times": times,
                "median": statistics.median(times),
                "cpu_over_wall": sum(cpu) / sum(times),
                "iterations": int(len(km.obj)),
                "faiss_obj_last": float(km.obj[-1]),
            }
        )
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
