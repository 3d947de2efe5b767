"""Faiss 1-thread remove_ids timings for bench/remove.js: the same indexes trained and filled as there, then
index.remove_ids(IDSelectorBatch(ids)) timed (a fresh copy of the filled index each run, copied untimed).

usage: /usr/bin/python3 bench/faiss_remove.py SPEC.json
SPEC = {"train", "base" (paths .fvecs), "remove" (path .ivecs: one row of ids), "runs",
  "tasks": [{"name", "factory" (faiss.index_factory string), "metric": "l2"|"ip"}, ...]}
Prints ONE JSON object: per task the seconds of each run and the number removed.
"""

import time

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, read_ivecs, setup_faiss


def run(faiss, task, xt, xb, ids, runs):
    metric = faiss.METRIC_INNER_PRODUCT if task["metric"] == "ip" else faiss.METRIC_L2
    index = faiss.index_factory(xb.shape[1], task["factory"], metric)
    index.train(xt)
    index.add(xb)
    blob = faiss.serialize_index(index)
    times = []
    removed = None
    for _ in range(runs):
        copy = faiss.deserialize_index(blob)
        sel = faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids))
        t0 = time.perf_counter()
        removed = copy.remove_ids(sel)
        times.append(time.perf_counter() - t0)
        assert copy.ntotal == index.ntotal - removed
    return {"name": task["name"], "times": times, "removed": int(removed)}


def main():
    spec = load_spec()
    faiss = setup_faiss()
    xt = read_fvecs(spec["train"])
    xb = read_fvecs(spec["base"])
    ids = np.ascontiguousarray(read_ivecs(spec["remove"])[0].astype(np.int64))
    results = [run(faiss, t, xt, xb, ids, spec["runs"]) for t in spec["tasks"]]
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
