// The recommendation task of bench/recsys.js (MovieLens: items are the base, users the queries): ragged .ivecs
// (train_items / test_items), the search that leaves out each user's seen items, and the held-out metrics.
// No imports beyond node:fs, so that test/recsys-metrics.test.ts can load it without the benchmark dependencies.

import { readFileSync } from 'node:fs';

/**
 * A ragged .ivecs file (each row: int32 n, then n int32; n may differ by row and may be 0) as one Int32Array per row.
 */
export function readRaggedIvecs(path) {
  const file = readFileSync(path);
  if (file.byteLength % 4 !== 0) throw new Error(`${path}: length ${file.byteLength} is not a multiple of 4`);
  const words = new Int32Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
  const rows = [];
  for (let o = 0; o < words.length; ) {
    const n = words[o];
    if (n < 0 || o + 1 + n > words.length) throw new Error(`${path}: row ${rows.length} claims ${n} values past the end`);
    rows.push(words.slice(o + 1, o + 1 + n));
    o += 1 + n;
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------------
// Search with seen items excluded

/**
 * Which implementation searchExcluding uses. 'native' (default): the library's own `index.search(q, k, { exclude })`
 * (one Int32Array of ids per query). 'overfetch' (VQ_RECSYS_EXCLUDE=overfetch): the bench-side emulation below, the
 * same rule the Faiss side uses in numpy.
 */
export const EXCLUDE_MODE = process.env.VQ_RECSYS_EXCLUDE === 'overfetch' ? 'overfetch' : 'native';

export const EXCLUDE_MODE_NOTE = {
  overfetch:
    'seen items excluded by over-fetch + filter in bench/lib/recsys.js searchExcluding: queries grouped by |seen| rounded up to a power of two, each group searched with k + (its largest |seen|) (and rerank R + that), seen ids dropped, first k kept (exact for the exclusion)',
  native: "seen items excluded by the library's search(q, k, { exclude })",
}[EXCLUDE_MODE];

/** Smallest power of two >= n (1 for n <= 1). */
function pow2(n) {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Top-k of each query with the ids of exclude[qi] (an Int32Array per query) left out: { ids, distances }, row-major
 * nq * k, padded with -1 / NaN when fewer than k remain. `index` is anything with search(q, k, options) returning
 * { ids, distances } (vqwasm indexes; options such as { rerank, nprobe } are passed on).
 *
 * Over-fetch emulation: queries are grouped by |exclude[qi]| rounded up to a power of two (so that one user with 2000
 * seen items does not make all 500 searches keep 2000 candidates), each group is one batch searched with
 * k' = k + E (E = the group's largest |exclude|), and the first k ids not excluded are kept; at most E of the k' are
 * excluded, so the result is the top-k of the non-excluded items, exactly as the index ranks them. With rerank R the
 * group re-ranks R + E candidates, so at least R non-excluded ones: at least the candidates a native exclusion with
 * rerank R would re-rank (its recall can only be lower or equal).
 */
export function searchExcluding(index, q, k, exclude, options = {}) {
  if (EXCLUDE_MODE === 'native') return index.search(q, k, { ...options, exclude });
  return searchOverfetch(index, q, k, exclude, options);
}

/** The over-fetch emulation of searchExcluding (described above), whatever EXCLUDE_MODE says. */
export function searchOverfetch(index, q, k, exclude, options = {}) {
  const nq = exclude.length;
  const d = q.length / nq;
  const ids = new Int32Array(nq * k).fill(-1);
  const distances = new Float32Array(nq * k).fill(NaN);
  const groups = new Map();
  for (let qi = 0; qi < nq; qi++) {
    const g = pow2(exclude[qi].length);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(qi);
  }
  for (const members of groups.values()) {
    let e = 0;
    for (const qi of members) e = Math.max(e, exclude[qi].length);
    const kk = k + e;
    const gq = new Float32Array(members.length * d);
    members.forEach((qi, r) => gq.set(q.subarray(qi * d, (qi + 1) * d), r * d));
    const opts = options.rerank !== undefined ? { ...options, rerank: options.rerank + e } : options;
    const res = index.search(gq, kk, opts);
    members.forEach((qi, r) => {
      const seen = new Set(exclude[qi]);
      let out = 0;
      for (let j = 0; j < kk && out < k; j++) {
        const id = res.ids[r * kk + j];
        if (id < 0 || seen.has(id)) continue;
        ids[qi * k + out] = id;
        distances[qi * k + out] = res.distances[r * kk + j];
        out++;
      }
    });
  }
  return { ids, distances };
}

/**
 * Exact re-ranking in the bench for an index that has none (RQIndex): wraps `index` so that search(q, k, { rerank })
 * asks it for max(k, rerank) candidates and re-scores them by the exact inner product with the float vectors `base`
 * (f32[nb][d], ids = rows), best first. Without rerank it passes through.
 */
export function withExactRerank(index, base, d) {
  return {
    search(q, k, options = {}) {
      const { rerank, ...rest } = options;
      if (rerank === undefined) return index.search(q, k, rest);
      const kk = Math.max(k, rerank);
      const cand = index.search(q, kk, rest);
      const nq = q.length / d;
      const ids = new Int32Array(nq * k).fill(-1);
      const distances = new Float32Array(nq * k).fill(-Infinity);
      const score = new Float64Array(kk);
      const order = new Int32Array(kk);
      for (let qi = 0; qi < nq; qi++) {
        let n = 0;
        for (let j = 0; j < kk; j++) {
          const id = cand.ids[qi * kk + j];
          if (id < 0) continue;
          let s = 0;
          for (let t = 0; t < d; t++) s += q[qi * d + t] * base[id * d + t];
          score[n] = s;
          order[n] = id;
          n++;
        }
        const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b] - score[a] || order[a] - order[b]);
        for (let r = 0; r < Math.min(k, n); r++) {
          ids[qi * k + r] = order[idx[r]];
          distances[qi * k + r] = score[idx[r]];
        }
      }
      return { ids, distances };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Held-out metrics (binary relevance: an item is relevant to a user when it is in the user's test_items)

/**
 * Mean over the queries with at least one held-out item of score(ranks, |test|), where ranks lists the 0-based ranks
 * r < k of the first k ids (row width `width` >= k) that are held out for that user (-1 never is; an id counts once).
 */
function meanOverUsers(ids, width, test, k, score) {
  let sum = 0;
  let count = 0;
  for (let qi = 0; qi < test.length; qi++) {
    const t = test[qi];
    if (t.length === 0) continue;
    const rel = new Set(t);
    const seen = new Set();
    const ranks = [];
    for (let r = 0; r < k; r++) {
      const id = ids[qi * width + r];
      if (id >= 0 && rel.has(id) && !seen.has(id)) ranks.push(r);
      seen.add(id);
    }
    sum += score(ranks, t.length);
    count++;
  }
  return count ? sum / count : NaN;
}

/**
 * Mean over the queries with at least one held-out item of hits / denominator, hits = |first k of ids ∩ test[qi]|
 * (ids row-major with row width `width` >= k; -1 never hits). denominator 'min' = min(k, |test|) (the data README's
 * definition: 1.0 means the top-k is as full of held-out items as it can be), 'all' = |test| (plain recall).
 */
export function heldOutRecall(ids, width, test, k, denominator = 'min') {
  return meanOverUsers(ids, width, test, k, (ranks, nt) => ranks.length / (denominator === 'all' ? nt : Math.min(k, nt)));
}

/**
 * Mean NDCG@k over the queries with at least one held-out item: DCG = sum over ranks r = 0..k-1 of rel_r / log2(r + 2)
 * (rel 1 when the id is held out for the user, an id counted once), divided by the ideal DCG, that of min(k, |test|)
 * relevant items at the top.
 */
export function ndcgAtK(ids, width, test, k) {
  return meanOverUsers(ids, width, test, k, (ranks, nt) => {
    let dcg = 0;
    for (const r of ranks) dcg += 1 / Math.log2(r + 2);
    let idcg = 0;
    for (let r = 0; r < Math.min(k, nt); r++) idcg += 1 / Math.log2(r + 2);
    return dcg / idcg;
  });
}
