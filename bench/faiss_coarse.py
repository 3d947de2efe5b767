"""Faiss's IVF coarse k-means for bench/coarse.js: the Clustering that IndexIVF.train runs (cp.niter, cp.seed, L2).

usage: /usr/bin/python3 bench/faiss_coarse.py SPEC.json
SPEC = {"x": path.fvecs, "k", "niter",
        "starts": [path.fvecs, ...]   each a k x d start: Clustering.train from those centroids (Faiss uses preset
                                      centroids as the start instead of its random draw),
        "seeds": [int, ...]           each a run with Faiss's own random start, cp.seed = seed,
        "out_centroids": path.fvecs}  the final centroids of every run, stacked (starts first, then seeds; k rows each)
Prints ONE JSON object: results = [{"start" | "seed", "obj": objective of every iteration}] in the same order.
"""

import numpy as np

from faiss_common import emit_results, load_spec, read_fvecs, setup_faiss, write_vecs


def run(faiss, x, k, niter, seed, start=None):
    cp = faiss.ClusteringParameters()
    cp.niter = niter
    cp.seed = seed
    clus = faiss.Clustering(x.shape[1], k, cp)
    if start is not None:
        faiss.copy_array_to_vector(np.ascontiguousarray(start, dtype=np.float32).ravel(), clus.centroids)
    index = faiss.IndexFlatL2(x.shape[1])
    clus.train(x, index)
    stats = clus.iteration_stats
    obj = [float(stats.at(i).obj) for i in range(stats.size())]
    cent = faiss.vector_to_array(clus.centroids).reshape(k, -1)
    return obj, cent


def main():
    spec = load_spec()
    faiss = setup_faiss()
    x = read_fvecs(spec["x"])
    k, niter = spec["k"], spec["niter"]
    results, cents = [], []
    for path in spec["starts"]:
        obj, cent = run(faiss, x, k, niter, 1234, read_fvecs(path))
        results.append({"start": path, "obj": obj})
        cents.append(cent)
    for seed in spec["seeds"]:
        obj, cent = run(faiss, x, k, niter, seed)
        results.append({"seed": seed, "obj": obj})
        cents.append(cent)
    write_vecs(spec["out_centroids"], np.concatenate(cents, axis=0))
    emit_results(faiss, results)


if __name__ == "__main__":
    main()
