"""Faiss 1-thread range_search timings for bench/range.js: IndexFlatL2 / IndexFlatIP over the base, range_search of
the queries with the given radius, median of the runs (after one untimed warm-up).

usage: /usr/bin/python3 bench/faiss_range.py SPEC.json
SPEC = {"base", "train", "queries" (paths .fvecs), "runs", "tasks": [{"name", "metric": "l2"|"ip", "radius", "out_lims", "out_ids"
  (paths .ivecs), optional "nlist" + "nprobe": an IndexIVFFlat trained on "train" instead of the flat index, and with
  "m" as well an IndexIVFPQ (m x 8 bits, by residual); optional "spherical": the IVF's cp.spherical (Faiss sets it
  for inner product); optional "knn" + "out_knn": also time index.search(queries, knn) and write its ids}]}
Prints ONE JSON object: per task the seconds of each run and the number of hits; the hits go to out_lims / out_ids.
"""

import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs


def run(faiss, task, xt, xb, xq, runs):
    d = xb.shape[1]
    metric = faiss.METRIC_L2 if task["metric"] == "l2" else faiss.METRIC_INNER_PRODUCT
    if task.get("nlist"):
        quantizer = faiss.IndexFlatL2(d) if task["metric"] == "l2" else faiss.IndexFlatIP(d)
        if task.get("m"):
            index = faiss.IndexIVFPQ(quantizer, d, task["nlist"], task["m"], 8, metric)
        else:
            index = faiss.IndexIVFFlat(quantizer, d, task["nlist"], metric)
        if "spherical" in task:
            # IndexIVF turns on spherical k-means for METRIC_INNER_PRODUCT (unit-norm centroids); False trains the
            # coarse centroids as vqwasm does
            index.cp.spherical = task["spherical"]
        index.train(xt)
        index.nprobe = task["nprobe"]
    else:
        index = faiss.IndexFlatL2(d) if task["metric"] == "l2" else faiss.IndexFlatIP(d)
    index.add(xb)
    index.range_search(xq[:8], task["radius"])
    times = []
    lims = ids = None
    for _ in range(runs):
        t0 = time.perf_counter()
        lims, _, ids = index.range_search(xq, task["radius"])
        times.append(time.perf_counter() - t0)
    write_vecs(task["out_lims"], lims.astype(np.int32).reshape(1, -1))
    write_vecs(task["out_ids"], ids.astype(np.int32).reshape(1, -1))
    out = {"name": task["name"], "times": times, "hits": int(lims[-1])}
    if task.get("knn"):
        # the k-nearest search of the same index: one untimed call, then the median of the runs
        index.search(xq[:8], task["knn"])
        knn_times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            _, knn_ids = index.search(xq, task["knn"])
            knn_times.append(time.perf_counter() - t0)
        write_vecs(task["out_knn"], knn_ids.astype(np.int32))
        out["knn_times"] = knn_times
    return out


def main():
    spec = load_spec()
    faiss = setup_faiss()
    xt = read_fvecs(spec["train"])
    xb = read_fvecs(spec["base"])
    xq = read_fvecs(spec["queries"])
    emit_results(faiss, [run(faiss, t, xt, xb, xq, spec["runs"]) for t in spec["tasks"]])


if __name__ == "__main__":
    main()
