"""Faiss 1-thread 4-bit fast-scan timings for bench/fastscan.js: IndexPQFastScan and IndexIVFPQFastScan (by_residual),
beside IndexPQ / IndexIVFPQ with 8-bit codes at the same bytes per vector, optional IndexRefineFlat re-ranking, plus
exact ground truth by IndexFlat.

usage: /usr/bin/python3 bench/faiss_fastscan.py SPEC.json
SPEC = {"tasks": [
  {"name", "kind": "gt", "base", "queries", "k", "metric": "l2"|"ip", "out_ids"},
  {"name", "kind": "pq"|"pqfs"|"ivfpq"|"ivfpqfs", "train", "base", "queries" (paths .fvecs), "metric", "m", "nbits",
   "seed", "bbs" (fast-scan), "nlist", "coarse_iters" (ivf), "k", "nprobes" (ivf: list), "reranks" (list of candidate
   counts re-ranked by IndexRefineFlat, optional), "search_repeats", "search_min_seconds", "search_max_repeats",
   "out_ids": a pattern with {variant} (e.g. "plain", "rr100", "np8", "np8_rr100")}, ...]}

Built explicitly: "pq" and "ivfpq" exactly as bench/faiss_pq.py builds them (no polysemous training); the fast-scan
indexes with bbs 32 (Faiss's default block) and, for IVF, by_residual switched on before training (IndexIVFPQFastScan
defaults to by_residual = false in 1.7.3, which is a different, coarser method than vqwasm's), an IndexFlatL2 /
IndexFlatIP coarse quantizer as faiss_pq.py, cp.seed / pq.cp.seed = seed.

Timed: train (once), add (once, of the base set), search = index.search(queries, k) after a warm-up, median of runs
(faiss_pq.timed_search, the same rule as bench/lib/pq-common.js timedRuns), per nprobe for IVF, and the same through
IndexRefineFlat with k_factor = rerank / k. Prints ONE JSON object on stdout.
"""

import statistics
import time

from faiss_common import emit_results, load_spec, setup_faiss, write_vecs
from faiss_pq import build, load, metric_of, run_gt, timed_search


def build_fastscan(faiss, task, d):
    """The untrained fast-scan index of a task, and the Python references that keep its sub-objects alive."""
    metric = metric_of(faiss, task["metric"])
    seed = task.get("seed", 1234)
    bbs = task.get("bbs", 32)
    if task["kind"] == "pqfs":
        index = faiss.IndexPQFastScan(d, task["m"], task["nbits"], metric, bbs)
        index.pq.cp.seed = seed
        return index, []
    quantizer = faiss.IndexFlatIP(d) if task["metric"] == "ip" else faiss.IndexFlatL2(d)
    index = faiss.IndexIVFPQFastScan(quantizer, d, task["nlist"], task["m"], task["nbits"], metric, bbs)
    index.by_residual = True  # must precede train: it decides whether the PQ learns residuals
    index.cp.seed = seed
    if task.get("coarse_iters"):
        index.cp.niter = task["coarse_iters"]
    index.pq.cp.seed = seed
    return index, [quantizer]


def search_entry(index, xq, task, path, **extra):
    ids, times, cpu = timed_search(index, xq, task["k"], task)
    write_vecs(path, ids.astype("int32"))
    return {**extra, "times": times, "median": statistics.median(times), "cpu_over_wall": cpu / sum(times)}


def run_index(faiss, task):
    xt, xb, xq = load(task["train"]), load(task["base"]), load(task["queries"])
    nb, d = xb.shape
    k = task["k"]
    kind = task["kind"]
    if kind in ("pqfs", "ivfpqfs"):
        index, refs = build_fastscan(faiss, task, d)
    else:
        index, refs = build(faiss, task, d)

    c0 = time.process_time()
    t0 = time.perf_counter()
    index.train(xt)
    train_s = time.perf_counter() - t0
    train_cpu = time.process_time() - c0

    reranks = task.get("reranks") or []
    # IndexRefineFlat must wrap the index while it is empty; its add fills both the index and the exact vectors
    refine = faiss.IndexRefineFlat(index) if reranks else None
    t0 = time.perf_counter()
    (refine or index).add(xb)
    add_s = time.perf_counter() - t0

    out = task["out_ids"]
    searches = []
    for nprobe in task.get("nprobes") or [None]:
        prefix = ""
        if nprobe is not None:
            index.nprobe = nprobe
            prefix = f"np{nprobe}_"
        searches.append(search_entry(index, xq, task, out.replace("{variant}", f"{prefix}plain"), nprobe=nprobe, rerank=None))
        for r in reranks:
            refine.k_factor = r / k
            path = out.replace("{variant}", f"{prefix}rr{r}")
            searches.append(search_entry(refine, xq, task, path, nprobe=nprobe, rerank=r))

    result = {
        "name": task["name"],
        "kind": kind,
        "nb": int(nb),
        "nq": int(len(xq)),
        "d": int(d),
        "k": int(k),
        "train_n": int(len(xt)),
        "train_seconds": train_s,
        "train_cpu_over_wall": train_cpu / train_s if train_s > 0 else None,
        "add_seconds": add_s,
        "code_size": int(index.code_size) if hasattr(index, "code_size") else int(index.pq.code_size),
        "searches": searches,
    }
    if kind == "pqfs" or kind == "ivfpqfs":
        result["bbs"] = int(index.bbs)
        result["implem"] = int(index.implem)
    if kind.startswith("ivf"):
        result["by_residual"] = bool(index.by_residual)
        result["coarse_niter"] = int(index.cp.niter)
        result["use_precomputed_table"] = int(index.use_precomputed_table)
    del refine, refs
    return result


def main():
    spec = load_spec()
    faiss = setup_faiss()
    results = []
    for task in spec["tasks"]:
        results.append(run_gt(faiss, task) if task["kind"] == "gt" else run_index(faiss, task))
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
