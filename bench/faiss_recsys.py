"""Faiss 1-thread side of bench/recsys.js: the MovieLens recommendation task (items = base and training set, users =
queries), each user's seen items (train_items) excluded from the top-k by over-fetching and filtering, which is what a
Faiss user does (Faiss's IDSelector applies to the whole batch, not per query).

usage: /usr/bin/python3 bench/faiss_recsys.py SPEC.json
SPEC = {"items", "users" (paths .fvecs), "train_items" (ragged .ivecs: one row of seen ids per user), "k", "seed",
        "search_min_seconds", "search_max_seconds", "plain_min_seconds", "plain_max_seconds",
        "tasks": [{"name", "kind": "flat"|"pq"|"pqfs"|"opq"|"ivfpq"|"rq"|"sq8", "m", "nbits" (pq, pqfs, opq, ivfpq),
                   "opq_iters" (opq), "nlist", "coarse_iters", "nprobes" (ivfpq), "levels" (rq),
                   "reranks" (candidate counts re-ranked by IndexRefineFlat, optional)}, ...]}

Indexes, all with METRIC_INNER_PRODUCT: IndexFlatIP; IndexPQ, OPQMatrix + IndexPQ, IndexIVFPQ (by residual) as
bench/faiss_pq.py builds them (faiss_pq.build); IndexPQFastScan as bench/faiss_fastscan.py (build_fastscan);
IndexResidualQuantizer (ST_LUT_nonorm, beam 1, Train_default, 25 iterations, as bench/faiss_rq.py);
IndexScalarQuantizer QT_8bit. IndexRefineFlat wraps the index before add when the task has reranks.

Exclusion (the same rule as bench/lib/recsys.js searchExcluding): users grouped by |seen| rounded up to a power of two;
each group is one search of k + E results (E = the group's largest |seen|; with rerank R, IndexRefineFlat re-ranks
R + E), seen ids dropped (numpy, vectorised), first k kept. Timed: the whole excluded search of all users, median of
runs (at least 3, more while their total stays under search_min_seconds). Also one plain top-k search (no exclusion)
for MIPS recall, timed the same way (plain_min_seconds, plain_max_seconds). Prints ONE JSON object on stdout with the ids; bench/recsys.js computes every metric.
"""

import statistics
import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss
from faiss_fastscan import build_fastscan
from faiss_pq import build


def read_ragged_ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    rows = []
    o = 0
    while o < raw.size:
        n = int(raw[o])
        rows.append(raw[o + 1 : o + 1 + n].astype(np.int64))
        o += 1 + n
    return rows


def pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def make_groups(seen, nb):
    """[(user rows, E, sorted keys row_in_group * nb + seen id)] per power-of-two bucket of |seen|."""
    buckets = {}
    for qi, s in enumerate(seen):
        buckets.setdefault(pow2(len(s)), []).append(qi)
    groups = []
    for members in buckets.values():
        members = np.array(members, dtype=np.int64)
        e = max(len(seen[qi]) for qi in members)
        keys = np.concatenate([r * nb + seen[qi] for r, qi in enumerate(members)]) if e else np.zeros(0, np.int64)
        groups.append((members, e, np.sort(keys)))
    return groups


def search_excluding(index, refine, xq, k, groups, nb, rerank):
    """Top-k ids (nq x k, -1 padded) of every user without its seen items, by over-fetch and filter."""
    out = np.full((len(xq), k), -1, dtype=np.int64)
    for members, e, keys in groups:
        kk = k + e
        if rerank:
            # IndexRefine::search takes k * k_factor (truncated) candidates from the base index
            refine.k_factor = (rerank + e + 0.5) / kk
            _, ids = refine.search(xq[members], kk)
        else:
            _, ids = index.search(xq[members], kk)
        rowkey = np.arange(len(members), dtype=np.int64)[:, None] * nb + ids
        keep = (ids >= 0) & ~np.isin(rowkey, keys, assume_unique=False)
        pos = np.cumsum(keep, axis=1) - 1
        sel = keep & (pos < k)
        r, c = np.nonzero(sel)
        out[members[r], pos[r, c]] = ids[r, c]
    return out


def timed(fn, min_s, max_s):
    fn()  # warm-up
    times = []
    out = None
    while len(times) < 3 or (sum(times) < min_s and len(times) < 100):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > max_s:
            break
    return out, times


def make_index(faiss, task, d, seed):
    kind = task["kind"]
    t = {**task, "metric": "ip", "seed": seed}
    if kind == "flat":
        return faiss.IndexFlatIP(d), []
    if kind in ("pq", "opq", "ivfpq"):
        return build(faiss, t, d)
    if kind == "pqfs":
        return build_fastscan(faiss, t, d)
    if kind == "rq":
        AQ = faiss.AdditiveQuantizer
        index = faiss.IndexResidualQuantizer(d, task["levels"], task["nbits"], faiss.METRIC_INNER_PRODUCT, AQ.ST_LUT_nonorm)
        index.rq.max_beam_size = 1
        index.rq.train_type = faiss.ResidualQuantizer.Train_default
        index.rq.cp.niter = 25
        index.rq.cp.seed = seed
        return index, []
    if kind == "sq8":
        return faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT), []
    raise ValueError(f"unknown kind {kind}")


def run_task(faiss, spec, task, xb, xq, groups):
    nb, d = xb.shape
    k = spec["k"]
    index, refs = make_index(faiss, task, d, spec.get("seed", 1234))
    t0 = time.perf_counter()
    index.train(xb)
    train_s = time.perf_counter() - t0
    reranks = task.get("reranks") or []
    refine = faiss.IndexRefineFlat(index) if reranks else None
    t0 = time.perf_counter()
    (refine or index).add(xb)
    add_s = time.perf_counter() - t0

    searches = []
    for nprobe in task.get("nprobes") or [None]:
        if nprobe is not None:
            index.nprobe = nprobe
        for rerank in [None] + reranks:
            excluded, times = timed(
                lambda: search_excluding(index, refine, xq, k, groups, nb, rerank),
                spec.get("search_min_seconds", 0.25),
                spec.get("search_max_seconds", 3.0),
            )
            if rerank:
                refine.k_factor = rerank / k
            plain, plain_times = timed(
                lambda: (refine if rerank else index).search(xq, k)[1],
                spec.get("plain_min_seconds", 0.1),
                spec.get("plain_max_seconds", 1.0),
            )
            searches.append(
                {
                    "nprobe": nprobe,
                    "rerank": rerank,
                    "times": times,
                    "median": statistics.median(times),
                    "plain_median": statistics.median(plain_times),
                    "excluded_ids": excluded.astype(int).tolist(),
                    "plain_ids": plain.astype(int).tolist(),
                }
            )
    result = {"name": task["name"], "kind": task["kind"], "train_seconds": train_s, "add_seconds": add_s, "code_size": code_size(faiss, index), "searches": searches}
    del refine, refs
    return result


def code_size(faiss, index):
    """Bytes of one vector's code (the PQ code for PQ / IVFPQ / fast-scan, without IVF ids; 4 d for IndexFlat)."""
    idx = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexPreTransform):
        idx = faiss.downcast_index(idx.index)
    if hasattr(idx, "pq"):
        return int(idx.pq.code_size)
    return int(idx.code_size)


def main():
    spec = load_spec()
    faiss = setup_faiss()
    xb = read_fvecs(spec["items"])
    xq = read_fvecs(spec["users"])
    seen = read_ragged_ivecs(spec["train_items"])
    if len(seen) != len(xq):
        raise ValueError(f"{len(xq)} users but {len(seen)} rows of train_items")
    groups = make_groups(seen, len(xb))
    results = []
    for task in spec["tasks"]:
        try:
            results.append(run_task(faiss, spec, task, xb, xq, groups))
        except Exception as err:  # one unsupported index type costs one row, not the run
            results.append({"name": task["name"], "error": f"{type(err).__name__}: {err}"})
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
