"""Faiss 1-thread residual quantization for bench/rq.js: ResidualQuantizer training / encoding and IndexResidualQuantizer
search, plus exact ground truth by IndexFlat.

usage: /usr/bin/python3 bench/faiss_rq.py SPEC.json
SPEC = {"tasks": [
  {"name", "kind": "gt", "base", "queries", "k", "metric": "l2"|"ip", "out_ids"},
  {"name", "kind": "rq", "train", "base", "queries" (paths .fvecs), "metric", "levels", "nbits", "beam", "seed", "niter",
   "train_type": "default"|"progressive", "k", "encode_repeats", "encode_min_seconds", "encode_max_seconds", "search_repeats",
   "search_min_seconds", "search_max_repeats", "out_ids": path.ivecs, "out_decoded": path.fvecs}, ...]}

An "rq" task builds IndexResidualQuantizer(d, levels, nbits, metric, search_type) with search_type ST_norm_qint8 for l2
(the norm of the reconstruction as one extra uniformly quantized byte, what vqwasm's RQIndex does) and ST_LUT_nonorm for
ip; its rq gets max_beam_size = beam (training and encoding), train_type (Train_default = plain k-means per level, as
vqwasm; Faiss's own default is Train_progressive_dim), cp.niter and cp.seed.

Timed: train (once); encode = rq.compute_codes of the base set (median of runs; for l2 it includes the norm byte,
a decode and a norm per vector, under 1 % of the beam search); search = index.search(queries, k) after a warm-up, median
of at least search_repeats runs (more while their total stays under search_min_seconds). Not timed: add, and the
decode written to out_decoded (rq.decode of the base codes, for the reconstruction error computed by bench/rq.js).
Prints ONE JSON object on stdout.
"""

import statistics
import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs

_cache = {}


def load(path):
    if path not in _cache:
        _cache[path] = read_fvecs(path)
    return _cache[path]


def run_gt(faiss, task):
    xb, xq = load(task["base"]), load(task["queries"])
    d = xb.shape[1]
    index = faiss.IndexFlatIP(d) if task["metric"] == "ip" else faiss.IndexFlatL2(d)
    index.add(xb)
    t0 = time.perf_counter()
    _, ids = index.search(xq, task["k"])
    write_vecs(task["out_ids"], ids.astype(np.int32))
    return {"name": task["name"], "kind": "gt", "seconds": time.perf_counter() - t0}


def run_rq(faiss, task):
    xt, xb, xq = load(task["train"]), load(task["base"]), load(task["queries"])
    nb, d = xb.shape
    k = task["k"]
    AQ = faiss.AdditiveQuantizer
    ip = task["metric"] == "ip"
    st = AQ.ST_LUT_nonorm if ip else AQ.ST_norm_qint8
    metric = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
    index = faiss.IndexResidualQuantizer(d, task["levels"], task["nbits"], metric, st)
    rq = index.rq
    rq.max_beam_size = task["beam"]
    rq.train_type = faiss.ResidualQuantizer.Train_progressive_dim if task.get("train_type") == "progressive" else faiss.ResidualQuantizer.Train_default
    rq.cp.niter = task["niter"]
    rq.cp.seed = task["seed"]

    c0 = time.process_time()
    t0 = time.perf_counter()
    index.train(xt)
    train_s = time.perf_counter() - t0
    train_cpu = time.process_time() - c0

    rq.compute_codes(xb[:64])  # warm-up
    times = []
    codes = None
    cpu0 = time.process_time()
    # at least encode_repeats runs and encode_min_seconds in all (short encodes: many runs, a stable median)
    while True:
        t0 = time.perf_counter()
        codes = rq.compute_codes(xb)
        times.append(time.perf_counter() - t0)
        if sum(times) > task.get("encode_max_seconds", 5.0):
            break
        if len(times) >= task.get("encode_repeats", 3) and sum(times) >= task.get("encode_min_seconds", 0.0):
            break
    enc_cpu = time.process_time() - cpu0
    write_vecs(task["out_decoded"], rq.decode(codes).astype(np.float32))

    index.add(xb)
    index.search(xq[: min(len(xq), 32)], k)
    stimes = []
    ids = None
    scpu0 = time.process_time()
    while len(stimes) < task.get("search_repeats", 3) or (sum(stimes) < task.get("search_min_seconds", 0.0) and len(stimes) < task.get("search_max_repeats", 100)):
        t0 = time.perf_counter()
        _, ids = index.search(xq, k)
        stimes.append(time.perf_counter() - t0)
    scpu = time.process_time() - scpu0
    write_vecs(task["out_ids"], ids.astype(np.int32))
    return {
        "name": task["name"],
        "kind": "rq",
        "nb": int(nb),
        "train_n": int(len(xt)),
        "train_seconds": train_s,
        "train_cpu_over_wall": train_cpu / train_s if train_s > 0 else None,
        "encode_times": times,
        "encode_median": statistics.median(times),
        "encode_cpu_over_wall": enc_cpu / sum(times),
        "code_size": int(index.code_size),
        "rq_code_size": int(rq.code_size),
        "max_beam_size": int(rq.max_beam_size),
        "train_type": int(rq.train_type),
        "search_times": stimes,
        "search_median": statistics.median(stimes),
        "search_cpu_over_wall": scpu / sum(stimes),
    }


def main():
    spec = load_spec()
    faiss = setup_faiss()
    results = []
    for task in spec["tasks"]:
        results.append(run_gt(faiss, task) if task["kind"] == "gt" else run_rq(faiss, task))
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
