"""Faiss 1-thread exact search timings (IndexFlatL2 / IndexFlatIP) for bench/search.js and the assignment part of
bench/kmeans.js (k = 1 search of the points over the centroids).

usage: /usr/bin/python3 bench/faiss_search.py SPEC.json
SPEC = {"tasks": [{"name", "base": path.fvecs, "queries": path.fvecs, "k", "metric": "l2"|"ip",
                   "repeats", "min_seconds" (optional), "out_ids": path.ivecs, "out_dist": path.fvecs (optional)}, ...]}
The index build (add) is timed apart as setup; search is warmed up on a few queries, then timed: median of at least
`repeats` runs (more runs while their total stays under `min_seconds`). Prints ONE JSON object on stdout.
"""

import statistics
import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs


def main():
    spec = load_spec()
    faiss = setup_faiss()
    results = []
    for task in spec["tasks"]:
        xb = read_fvecs(task["base"])
        xq = read_fvecs(task["queries"])
        nb, d = xb.shape
        nq = xq.shape[0]
        k = task["k"]
        t0 = time.perf_counter()
        index = faiss.IndexFlatIP(d) if task["metric"] == "ip" else faiss.IndexFlatL2(d)
        index.add(xb)
        add_s = time.perf_counter() - t0

        index.search(xq[: min(nq, 64)], k)  # warm-up (also takes the BLAS path: > 20 queries)
        times = []
        total = 0.0
        min_seconds = task.get("min_seconds", 0.0)
        max_repeats = task.get("max_repeats", 200)
        D = I = None
        c0 = time.process_time()
        while len(times) < task["repeats"] or (total < min_seconds and len(times) < max_repeats):
            t0 = time.perf_counter()
            D, I = index.search(xq, k)
            dt = time.perf_counter() - t0
            times.append(dt)
            total += dt
        cpu = time.process_time() - c0
        write_vecs(task["out_ids"], I.astype(np.int32))
        if task.get("out_dist"):
            write_vecs(task["out_dist"], D.astype(np.float32))
        results.append(
            {
                "name": task["name"],
                "metric": task["metric"],
                "nb": int(nb),
                "nq": int(nq),
                "d": int(d),
                "k": int(k),
                "add_seconds": add_s,
                "times": times,
                "median": statistics.median(times),
                "cpu_over_wall": cpu / total,
            }
        )
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
