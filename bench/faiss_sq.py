"""Faiss 1-thread scalar quantization timings for bench/sq.js: IndexScalarQuantizer QT_8bit, QT_4bit and QT_fp16, alone
or inside IndexRefineFlat (the originals kept; search re-ranks k * k_factor candidates exactly).

usage: /usr/bin/python3 bench/faiss_sq.py SPEC.json
SPEC = {"tasks": [{"name", "qtype": "QT_8bit"|"QT_4bit"|"QT_fp16", "refine_k_factor": 0 (none) or k_factor, "train", "base", "queries" (paths .fvecs), "metric": "l2"|"ip",
  "k", "search_repeats", "search_min_seconds", "search_max_repeats", "out_ids": path.ivecs}, ...]}

Timed: train (per-dimension min-max for QT_8bit / QT_4bit), add (encode) of the base set, search = index.search(queries, k)
after a warm-up, median of at least search_repeats runs (more while their total stays under search_min_seconds).
Also the reconstruction MSE (mean over base vectors of ||x - sa_decode(sa_encode(x))||^2). Prints ONE JSON object.
"""

import statistics
import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs


def run(faiss, task):
    xt = read_fvecs(task["train"])
    xb = read_fvecs(task["base"])
    xq = read_fvecs(task["queries"])
    d = xb.shape[1]
    metric = faiss.METRIC_INNER_PRODUCT if task["metric"] == "ip" else faiss.METRIC_L2
    qtype = getattr(faiss.ScalarQuantizer, task["qtype"])
    sq = faiss.IndexScalarQuantizer(d, qtype, metric)
    kf = task.get("refine_k_factor", 0)
    index = sq
    if kf:
        index = faiss.IndexRefineFlat(sq)
        index.k_factor = kf
    t0 = time.perf_counter()
    index.train(xt)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.add(xb)
    add_s = time.perf_counter() - t0
    rec = sq.sa_decode(sq.sa_encode(xb))
    mse = float(((xb.astype(np.float64) - rec) ** 2).sum(axis=1).mean())
    k = task["k"]
    index.search(xq[: min(len(xq), 32)], k)
    times = []
    ids = None
    cpu0 = time.process_time()
    while len(times) < task.get("search_repeats", 3) or (sum(times) < task.get("search_min_seconds", 0) and len(times) < task.get("search_max_repeats", 100)):
        t0 = time.perf_counter()
        _, ids = index.search(xq, k)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    write_vecs(task["out_ids"], ids.astype(np.int32))
    return {
        "name": task["name"],
        "train_seconds": train_s,
        "add_seconds": add_s,
        "code_size": int(sq.code_size),
        "mse": mse,
        "times": times,
        "median": statistics.median(times),
        "cpu_over_wall": cpu / sum(times),
    }


def main():
    spec = load_spec()
    faiss = setup_faiss()
    emit_results(faiss, [run(faiss, t) for t in spec["tasks"]])


if __name__ == "__main__":
    main()
