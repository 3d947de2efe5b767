// What the product-quantization benches (pq.js, fastscan.js) share: their data sets (MovieLens d64, the seeded
// Gaussian mixture and its exact ground truth), the timing rule for searches and the plain-JS ADC scan. Kept here so
// that both benches measure on the same data with the same rules.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as C from './common.js';

export const sum = (a) => a.reduce((s, v) => s + v, 0);

/** Median of at least 3 timed runs, more while their total stays under minSeconds (the same rule as faiss_pq.py). */
export function timedRuns(fn, { minRuns = 3, minSeconds = 0.5, maxRuns = 100, maxSeconds = Infinity } = {}) {
  const times = [];
  let out;
  while (times.length < minRuns || (sum(times) < minSeconds && times.length < maxRuns)) {
    const t0 = C.now();
    out = fn();
    times.push(C.now() - t0);
    if (sum(times) > maxSeconds) break;
  }
  return { out, seconds: C.median(times), runs: times.length };
}

// ---------------------------------------------------------------------------------------------------------------------
// Plain-JS ADC scan: one distance table per query (m x ksub), then the sum of m table entries per code with a
// bounded max-heap of the k best. Codes are one byte per sub-quantizer (u8[nb][m]) whatever nbits is.

export function jsAdcSearch(centroids, m, ksub, dsub, codes, nb, q, nq, k, metric) {
  const d = m * dsub;
  const ip = metric === 'ip';
  const table = new Float32Array(m * ksub);
  const hk = new Float64Array(k); // max-heap of keys (l2: distance; ip: -inner product)
  const hi = new Int32Array(k);
  const ids = new Int32Array(nq * k).fill(-1);
  for (let qi = 0; qi < nq; qi++) {
    const qo = qi * d;
    for (let j = 0; j < m; j++) {
      for (let c = 0; c < ksub; c++) {
        const co = (j * ksub + c) * dsub;
        let s = 0;
        for (let t = 0; t < dsub; t++) {
          const x = q[qo + j * dsub + t];
          const y = centroids[co + t];
          if (ip) s -= x * y;
          else s += (x - y) * (x - y);
        }
        table[j * ksub + c] = s;
      }
    }
    let size = 0;
    for (let i = 0; i < nb; i++) {
      const o = i * m;
      let s = 0;
      for (let j = 0; j < m; j++) s += table[j * ksub + codes[o + j]];
      if (size < k) {
        // sift up
        let p = size++;
        while (p > 0) {
          const parent = (p - 1) >> 1;
          if (hk[parent] >= s) break;
          hk[p] = hk[parent];
          hi[p] = hi[parent];
          p = parent;
        }
        hk[p] = s;
        hi[p] = i;
      } else if (s < hk[0]) {
        // replace the worst, sift down
        let p = 0;
        for (;;) {
          let c = 2 * p + 1;
          if (c >= k) break;
          if (c + 1 < k && hk[c + 1] > hk[c]) c++;
          if (hk[c] <= s) break;
          hk[p] = hk[c];
          hi[p] = hi[c];
          p = c;
        }
        hk[p] = s;
        hi[p] = i;
      }
    }
    const order = Array.from({ length: size }, (_, r) => r).sort((a, b) => hk[a] - hk[b] || hi[a] - hi[b]);
    for (let r = 0; r < size; r++) ids[qi * k + r] = hi[order[r]];
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------------------------
// Data sets

/** MovieLens d64 from SHARED_DATA (items: training and base set; users: queries), or null with a note if missing. */
export function loadMovieLens({ jsNq, minSearchSeconds = 0.3 } = {}) {
  const dir = join(C.SHARED_DATA, 'ml', 'd64');
  const files = ['items.fvecs', 'users.fvecs', 'gt_mips_top100.ivecs', 'gt_l2_top100.ivecs'].map((f) => join(dir, f));
  if (!files.every(existsSync)) {
    console.log(`real data: MovieLens d64 rows skipped (${dir} not found or incomplete)`);
    return null;
  }
  const items = C.readFvecs(files[0]);
  const users = C.readFvecs(files[1]);
  return {
    key: 'ml64',
    label: 'MovieLens d64',
    train: items.data,
    nt: items.n,
    base: items.data,
    nb: items.n,
    q: users.data,
    nq: users.n,
    d: items.d,
    trainPath: files[0],
    basePath: files[0],
    qPath: files[1],
    gt: { ip: C.readIvecs(files[2]), l2: C.readIvecs(files[3]) },
    jsNq: jsNq ?? users.n,
    minSearchSeconds,
  };
}

/** The synthetic set of the PQ benches: a mixture of 256 Gaussians (noise 0.7), d = 64. */
export const PQ_SYNTH = { nt: 50_000, nb: 100_000, nq: 1000, d: 64, nCenters: 256, centerStd: 1, noiseStd: 0.7, centerSeed: 21 };

/**
 * The synthetic training, base and query sets (seeds 22, 23, 24), also written as .fvecs for Faiss; gtPath is where
 * the exact L2 top-k is expected (written by Faiss, else see synthGroundTruthWithoutFaiss).
 */
export function makePqSynthetic({ k, jsNq, minSearchSeconds = 1 }) {
  const { nt, nb, nq, d, nCenters, centerStd, noiseStd, centerSeed } = PQ_SYNTH;
  const gen = (n, seed) => C.gaussianMixture({ n, d, nCenters, centerStd, noiseStd, centerSeed, seed });
  const tag = `c${nCenters}_s${noiseStd}_d${d}`;
  const ds = {
    key: 'synth',
    label: `synthetic GMM ${nb / 1000}k`,
    train: gen(nt, 22),
    nt,
    base: gen(nb, 23),
    nb,
    q: gen(nq, 24),
    nq,
    d,
    trainPath: join(C.DATA_DIR, `pq_synth_train_n${nt}_${tag}.fvecs`),
    basePath: join(C.DATA_DIR, `pq_synth_base_n${nb}_${tag}.fvecs`),
    qPath: join(C.DATA_DIR, `pq_synth_query_n${nq}_${tag}.fvecs`),
    gtPath: join(C.DATA_DIR, `pq_synth_gt_l2_top${k}_${tag}.ivecs`),
    gt: {},
    jsNq,
    minSearchSeconds,
  };
  C.writeFvecs(ds.trainPath, ds.train, nt, d);
  C.writeFvecs(ds.basePath, ds.base, nb, d);
  C.writeFvecs(ds.qPath, ds.q, nq, d);
  return ds;
}

/** Exact L2 top-k of the synthetic queries when Faiss is not there to compute it: vqwasm FlatIndex, else plain JS. */
export function synthGroundTruthWithoutFaiss(ours, ds, k, log) {
  if (ours) {
    const flat = new ours.FlatIndex({ d: ds.d, metric: 'l2' });
    try {
      flat.add(ds.base);
      return { d: k, n: ds.nq, data: flat.search(ds.q, k).ids, source: 'vqwasm FlatIndex' };
    } finally {
      flat.dispose();
    }
  }
  log('ground truth by the plain-JS scan (slow)');
  return { d: k, n: ds.nq, data: C.jsSearch(ds.base, ds.nb, ds.d, ds.q, ds.nq, k, 'l2').ids, source: 'plain-JS scan' };
}
