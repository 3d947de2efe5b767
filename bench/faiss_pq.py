"""Faiss 1-thread product quantization timings for bench/pq.js: IndexPQ, OPQMatrix + IndexPQ (IndexPreTransform) and
IndexIVFPQ (by_residual), plus exact ground truth by IndexFlat.

usage: /usr/bin/python3 bench/faiss_pq.py SPEC.json
SPEC = {"tasks": [
  {"name", "kind": "gt", "base", "queries", "k", "metric": "l2"|"ip", "out_ids"},
  {"name", "kind": "pq"|"opq"|"ivfpq", "train", "base", "queries" (paths .fvecs), "metric", "m", "nbits", "seed",
   "nlist" (ivfpq), "coarse_iters" (ivfpq, optional), "opq_iters" (opq), "k", "nprobes" (ivfpq: list),
   "encode_repeats", "encode_max_seconds", "search_repeats", "search_min_seconds", "search_max_repeats",
   "out_ids": path.ivecs (pq/opq) or a pattern with {nprobe} (ivfpq), "out_decoded": path.fvecs,
   "out_codes": raw uint8 n * code_size (pq, optional), "out_centroids": path.fvecs (pq, optional; m * ksub rows of
   dsub)}, ...]}
"seed" goes to pq.cp.seed (the PQ k-means and its subsample), index.cp.seed (ivfpq: the coarse k-means) and, for opq
with a seed other than 1234, to the OPQ rotation's sub-quantizer and start rotation (see build()). bench/pq.js's
multi-seed mode (VQ_BENCH_QUALITY_SEEDS) sends one task per seed, the extra ones with 1 encode and 1 search run.

Objects are built explicitly, not by index_factory: the factory's "PQ16" / "IVF..,PQ16" turn on polysemous training
(do_polysemous_training), which is not product quantization proper and takes ~100x longer to train.

Timed: train (once, the index's full training on "train"); encode = sa_encode of the base set (pq, opq: median of
runs) or add of the base set into the trained, emptied index (ivfpq: median of runs, reset in between); search =
index.search(queries, k) after a warm-up, median of at least search_repeats runs (more while their total stays under
search_min_seconds), per nprobe for ivfpq. Not timed: add for pq/opq (setup), the decode written to out_decoded
(sa_decode of the base codes: x-hat in the original space, for the reconstruction error computed by bench/pq.js).
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


def metric_of(faiss, name):
    return faiss.METRIC_INNER_PRODUCT if name == "ip" else faiss.METRIC_L2


def timed_search(index, xq, k, task):
    """Warm-up, then the median of repeated searches of all queries. Returns (ids, times, cpu seconds)."""
    index.search(xq[: min(len(xq), 32)], k)
    times = []
    total = 0.0
    cpu0 = time.process_time()
    ids = None
    reps = task.get("search_repeats", 3)
    min_s = task.get("search_min_seconds", 0.0)
    max_reps = task.get("search_max_repeats", 100)
    while len(times) < reps or (total < min_s and len(times) < max_reps):
        t0 = time.perf_counter()
        _, ids = index.search(xq, k)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return ids, times, time.process_time() - cpu0


def repeat_timed(fn, reps, max_seconds):
    """Runs fn() reps times (fewer when the total passes max_seconds). Returns (last result, times, cpu seconds)."""
    times = []
    out = None
    cpu0 = time.process_time()
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > max_seconds:
            break
    return out, times, time.process_time() - cpu0


def build(faiss, task, d):
    """The untrained index of a task, and the Python references that keep its sub-objects alive."""
    metric = metric_of(faiss, task["metric"])
    m, nbits = task["m"], task.get("nbits", 8)
    seed = task.get("seed", 1234)
    kind = task["kind"]
    if kind == "pq":
        index = faiss.IndexPQ(d, m, nbits, metric)
        index.pq.cp.seed = seed
        return index, []
    if kind == "opq":
        opq = faiss.OPQMatrix(d, m)
        opq.niter = task["opq_iters"]
        refs = [opq]
        if seed != 1234:
            # OPQMatrix has no seed: its sub-quantizer k-means uses the seed of opq.pq (default: a ProductQuantizer(d, m,
            # 8) with cp.seed 1234) and its initial random rotation is float_randn(..., 1234), hard-coded. For another
            # seed, give it both: a ProductQuantizer with that cp.seed, and a random orthogonal start rotation (QR of a
            # numpy Gaussian matrix drawn with that seed; OPQMatrix.train uses a preset A as its start). Seed 1234 keeps
            # Faiss's own defaults, so the single-seed run is unchanged. The max_train_points subsample stays seed 1234.
            opq_pq = faiss.ProductQuantizer(d, m, nbits)
            opq_pq.cp.seed = seed
            opq.pq = opq_pq
            g = np.random.default_rng(seed).standard_normal((d, d))
            q, _ = np.linalg.qr(g)
            faiss.copy_array_to_vector(np.ascontiguousarray(q, dtype=np.float32).ravel(), opq.A)
            refs.append(opq_pq)
        pq = faiss.IndexPQ(d, m, nbits, metric)
        pq.pq.cp.seed = seed
        index = faiss.IndexPreTransform(opq, pq)
        return index, refs + [pq]
    if kind == "ivfpq":
        quantizer = faiss.IndexFlatIP(d) if task["metric"] == "ip" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFPQ(quantizer, d, task["nlist"], m, nbits, metric)
        index.by_residual = True
        index.cp.seed = seed
        if task.get("coarse_iters"):
            index.cp.niter = task["coarse_iters"]
        index.pq.cp.seed = seed
        return index, [quantizer]
    raise ValueError(f"unknown kind {kind}")


def run_gt(faiss, task):
    xb, xq = load(task["base"]), load(task["queries"])
    d = xb.shape[1]
    index = faiss.IndexFlatIP(d) if task["metric"] == "ip" else faiss.IndexFlatL2(d)
    index.add(xb)
    t0 = time.perf_counter()
    _, ids = index.search(xq, task["k"])
    write_vecs(task["out_ids"], ids.astype(np.int32))
    return {"name": task["name"], "kind": "gt", "seconds": time.perf_counter() - t0}


def run_quantizer(faiss, task):
    xt, xb, xq = load(task["train"]), load(task["base"]), load(task["queries"])
    nb, d = xb.shape
    k = task["k"]
    kind = task["kind"]
    index, refs = build(faiss, task, d)

    c0 = time.process_time()
    t0 = time.perf_counter()
    index.train(xt)
    train_s = time.perf_counter() - t0
    train_cpu = time.process_time() - c0

    reps = task.get("encode_repeats", 3)
    max_s = task.get("encode_max_seconds", 5.0)
    codes = index.sa_encode(xb[:64])  # warm-up
    if kind == "ivfpq":

        def add_all():
            index.reset()
            index.add(xb)

        _, enc_times, enc_cpu = repeat_timed(add_all, reps, max_s)
        codes = index.sa_encode(xb)  # list number + residual code, for the decode below
        add_s = None
    else:
        codes, enc_times, enc_cpu = repeat_timed(lambda: index.sa_encode(xb), reps, max_s)
        t0 = time.perf_counter()
        index.add(xb)
        add_s = time.perf_counter() - t0
    decoded = index.sa_decode(codes)
    write_vecs(task["out_decoded"], decoded.astype(np.float32))

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
        "encode_times": enc_times,
        "encode_median": statistics.median(enc_times),
        "encode_cpu_over_wall": enc_cpu / sum(enc_times),
        "add_seconds": add_s,
        "sa_code_size": int(index.sa_code_size()),
    }

    if kind == "pq":
        result["code_size"] = int(index.pq.code_size)
        result["bytes_per_vector"] = int(index.pq.code_size)
        if task.get("out_codes"):
            stored = faiss.vector_to_array(index.codes).astype(np.uint8)
            stored.tofile(task["out_codes"])
        if task.get("out_centroids"):
            pq = index.pq
            cent = faiss.vector_to_array(pq.centroids).reshape(pq.M * pq.ksub, pq.dsub)
            write_vecs(task["out_centroids"], cent.astype(np.float32))
    elif kind == "opq":
        inner = faiss.downcast_index(index.index)
        result["code_size"] = int(inner.pq.code_size)
        result["bytes_per_vector"] = int(inner.pq.code_size)
        result["opq_niter"] = int(refs[0].niter)
        result["opq_niter_pq"] = int(refs[0].niter_pq)
        result["opq_niter_pq_0"] = int(refs[0].niter_pq_0)
        result["opq_max_train_points"] = int(refs[0].max_train_points)
    else:
        result["code_size"] = int(index.code_size)
        result["bytes_per_vector"] = int(index.code_size) + 8  # + the int64 id kept in the inverted list
        result["coarse_niter"] = int(index.cp.niter)
        result["coarse_spherical"] = bool(index.cp.spherical)
        result["use_precomputed_table"] = int(index.use_precomputed_table)

    searches = []
    if kind == "ivfpq":
        for nprobe in task["nprobes"]:
            index.nprobe = nprobe
            ids, times, cpu = timed_search(index, xq, k, task)
            write_vecs(task["out_ids"].replace("{nprobe}", str(nprobe)), ids.astype(np.int32))
            searches.append({"nprobe": nprobe, "times": times, "median": statistics.median(times), "cpu_over_wall": cpu / sum(times)})
    else:
        ids, times, cpu = timed_search(index, xq, k, task)
        write_vecs(task["out_ids"], ids.astype(np.int32))
        searches.append({"times": times, "median": statistics.median(times), "cpu_over_wall": cpu / sum(times)})
    result["searches"] = searches
    del refs
    return result


def main():
    spec = load_spec()
    faiss = setup_faiss()
    results = []
    for task in spec["tasks"]:
        if task["kind"] == "gt":
            results.append(run_gt(faiss, task))
        else:
            results.append(run_quantizer(faiss, task))
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
