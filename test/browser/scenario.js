// The fixed workload that the browser page and the Node tests both run, through the same public API, so that their
// results can be compared value for value. Plain ES module with no imports: the page loads it as is from the static
// server, the Node tests import it from the file system, and each passes in its own copy of the library.
//
// Exact agreement between runtimes needs inputs where every build computes exactly: Chromium picks the relaxed-SIMD
// build (fused multiply-add) and Node 20 the plain SIMD one, and the two may round differently on general floats.
// With small integers every product and partial sum is an integer far below 2^24, so both are exact.

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n * d integers drawn uniformly from [lo, hi], as a Float32Array. */
export function intMatrix(n, d, seed, lo = -8, hi = 8) {
  const rand = mulberry32(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = lo + Math.floor(rand() * (hi - lo + 1));
  return out;
}

// d = 23 takes every path of the distance kernels: a 16-wide block, a 4-wide step and a scalar tail of 3.
export const SEARCH_CASE = Object.freeze({ n: 300, d: 23, nq: 7, k: 6, baseSeed: 20240601, querySeed: 77, idBase: 1000, idStep: 3 });

export function searchData(c = SEARCH_CASE) {
  const base = intMatrix(c.n, c.d, c.baseSeed);
  const queries = intMatrix(c.nq, c.d, c.querySeed);
  const ids = new Int32Array(c.n);
  for (let i = 0; i < c.n; i++) ids[i] = c.idBase + c.idStep * i;
  return { base, queries, ids };
}

/**
 * Exact search with FlatIndex for the integer-valued metrics ('l2' and 'ip'; cosine normalizes, so it is not exact).
 * Returns plain arrays (structured-clone and JSON friendly).
 */
/** @typedef {{ ids: number[], distances: number[] }} PlainResult */
/** @returns {{ l2: PlainResult, ip: PlainResult }} */
export function runSearch(api, c = SEARCH_CASE) {
  const { base, queries, ids } = searchData(c);
  const out = /** @type {{ l2: PlainResult, ip: PlainResult }} */ ({});
  for (const metric of ['l2', 'ip']) {
    const index = new api.FlatIndex({ d: c.d, metric });
    try {
      index.add(base, ids);
      if (index.size !== c.n) throw new Error(`FlatIndex.size is ${index.size} after adding ${c.n} vectors`);
      const res = index.search(queries, c.k);
      out[metric] = { ids: Array.from(res.ids), distances: Array.from(res.distances) };
    } finally {
      index.dispose();
    }
  }
  return out;
}

// Four clusters far apart (centres at +-60 on different axes), each point its centre plus integer noise in [-2, 2]:
// any sane k-means finds them, and the labels must not depend on the build.
export const KMEANS_CASE = Object.freeze({ d: 6, k: 4, perCluster: 40, seed: 7, dataSeed: 99 });

export function kmeansData(c = KMEANS_CASE) {
  const rand = mulberry32(c.dataSeed);
  const n = c.k * c.perCluster;
  const x = new Float32Array(n * c.d);
  const truth = new Int32Array(n);
  // interleave clusters so that row order says nothing about the cluster
  for (let i = 0; i < n; i++) {
    const cl = i % c.k;
    truth[i] = cl;
    for (let j = 0; j < c.d; j++) {
      const centre = j === cl % c.d ? (cl < c.d ? 60 : -60) : 0;
      x[i * c.d + j] = centre + (Math.floor(rand() * 5) - 2);
    }
  }
  return { x, truth, n };
}

/** Seeded k-means on the separated clusters; returns labels (exact) and centroids (for a tolerant comparison). */
export function runKMeans(api, c = KMEANS_CASE) {
  const { x } = kmeansData(c);
  const warnings = [];
  const km = new api.KMeans({ d: c.d, k: c.k, seed: c.seed, onWarning: (m) => warnings.push(m) });
  try {
    const trained = km.train(x);
    const { labels } = km.assign(x);
    return {
      labels: Array.from(labels),
      centroids: Array.from(km.centroids),
      clusterSizes: Array.from(trained.clusterSizes),
      warnings,
    };
  } finally {
    km.dispose();
  }
}

// 4-bit fast-scan (PQIndex nbits 4): every sub-vector of the base is one of 16 integer patterns of its sub-space, so
// the k-means++-seeded codebook is exactly those patterns in every build, the codes decode to the base exactly, the
// distance tables of integer queries are integers, and the quantized tables and u16 sums are then the same bits in
// the browser (relaxed build: i8x16.relaxed_swizzle) and in Node (plain build: i8x16.swizzle). n = 200 leaves a
// partial last block of 8 vectors.
export const FASTSCAN_CASE = Object.freeze({ n: 200, d: 12, m: 6, nq: 5, k: 8, seed: 31, querySeed: 32 });

export function fastScanData(c = FASTSCAN_CASE) {
  const rand = mulberry32(c.seed);
  const dsub = c.d / c.m;
  const base = new Float32Array(c.n * c.d);
  for (let i = 0; i < c.n; i++) {
    for (let j = 0; j < c.m; j++) {
      // every pattern appears at least once (the first 16 rows cycle through them)
      const p = i < 16 ? (i + j) % 16 : Math.floor(rand() * 16);
      for (let t = 0; t < dsub; t++) base[i * c.d + j * dsub + t] = t === 0 ? (p % 4) * 3 - 4 + j : Math.floor(p / 4) * 3 - 5 + t;
    }
  }
  return { base, queries: intMatrix(c.nq, c.d, c.querySeed, -6, 6) };
}

/** Fast-scan search, l2 and ip; `exactCodes`: the codes decode to the base exactly (the premise of exact agreement). */
export function runFastScan(api, c = FASTSCAN_CASE) {
  const { base, queries } = fastScanData(c);
  const out = { exactCodes: true };
  for (const metric of ['l2', 'ip']) {
    const index = new api.PQIndex({ d: c.d, m: c.m, nbits: 4, metric, pqInit: 'kmeans++', seed: 5 });
    try {
      if (!index.fastScan) throw new Error('PQIndex with nbits 4 is not using fast-scan');
      index.train(base);
      index.add(base);
      const rec = index.reconstruct(Array.from({ length: c.n }, (_, i) => i));
      for (let i = 0; i < rec.length; i++) if (rec[i] !== base[i]) out.exactCodes = false;
      const res = index.search(queries, c.k);
      out[metric] = { ids: Array.from(res.ids), distances: Array.from(res.distances) };
    } finally {
      index.dispose();
    }
  }
  return out;
}
