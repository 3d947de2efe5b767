// 4-bit fast-scan in PQIndex and IVFPQIndex (the kernels themselves: fastscan-kernels.test.ts).
//
// The contract checked here: fast-scan ranks by quantized tables, so against the float ADC distance (the distance
// to the decoded vector) each returned distance is off by at most m / 2 quantization steps, and nothing left out
// beats the worst returned by more than m steps, where a step is (largest row span of the query's float table) /
// qmax. The codes are the float index's codes (same seed), re-ranking is exact, adds in pieces, save / load and
// reconstruct give the same index. On MovieLens (when ../shared/data is present): recall@10 within 0.01 of the
// float 4-bit scan, and >= 0.95 with re-ranking.
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFPQIndex, type OPQ, PQIndex, type ProductQuantizer, type SearchResult } from '../dist/index.js';
import { readContainer } from '../dist/io/format.js';
import { clustered, floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { movieLensOrSkip } from './helpers/movielens.js';
import { expectRefusal } from './helpers/refusals.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();
type Metric = 'l2' | 'ip';

/** Float64 score of a query against a vector: squared L2, or the negated inner product (smaller is better). */
function score(q: Float32Array, qi: number, x: Float32Array, i: number, d: number, metric: Metric): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const a = q[qi * d + t], b = x[i * d + t];
    s += metric === 'l2' ? (a - b) * (a - b) : -a * b;
  }
  return s;
}

/**
 * One quantization step of a query's table: the largest row span of the float64 table over the codebook
 * cb: f32[m][16][dsub], for the query sub-vectors q - offset (offset: an IVF centroid for l2 residual tables).
 */
function quantStep(q: Float32Array, qi: number, offset: Float32Array | null, oi: number, cb: Float32Array, m: number, dsub: number, metric: Metric): number {
  const qmax = m <= 257 ? 255 : Math.floor(65535 / m);
  let span = 0;
  for (let j = 0; j < m; j++) {
    let lo = Infinity, hi = -Infinity;
    for (let c = 0; c < 16; c++) {
      let s = 0;
      for (let t = 0; t < dsub; t++) {
        const qv = q[qi * m * dsub + j * dsub + t] - (offset ? offset[oi * m * dsub + j * dsub + t] : 0);
        const cv = cb[(j * 16 + c) * dsub + t];
        s += metric === 'l2' ? (qv - cv) * (qv - cv) : -qv * cv;
      }
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    span = Math.max(span, hi - lo);
  }
  return span / qmax;
}

/**
 * The fast-scan contract against the float ADC scores of every vector (scores of the reconstructions rec):
 * returned distances within m/2 steps (plus float32 rounding), and the worst returned, by float score, beats the
 * best left out within m steps.
 */
function expectWithinQuantization(res: SearchResult, rec: Float32Array, q: Float32Array, d: number, m: number, k: number, metric: Metric, steps: number[]): void {
  const nq = q.length / d;
  const n = rec.length / d;
  for (let qi = 0; qi < nq; qi++) {
    const s = Float64Array.from({ length: n }, (_, i) => score(q, qi, rec, i, d, metric));
    const kept = new Set<number>();
    let worstKept = -Infinity;
    for (let j = 0; j < k; j++) {
      const id = res.ids[qi * k + j];
      expect(id, `query ${qi} rank ${j}`).toBeGreaterThanOrEqual(0);
      kept.add(id);
      worstKept = Math.max(worstKept, s[id]);
      const dist = metric === 'l2' ? res.distances[qi * k + j] : -res.distances[qi * k + j];
      const round = 1e-5 * (1 + Math.abs(s[id]));
      expect(Math.abs(dist - s[id]), `query ${qi} rank ${j}: quantized vs float ADC`).toBeLessThanOrEqual((m / 2) * steps[qi] * 1.001 + round);
    }
    let bestLeft = Infinity;
    for (let i = 0; i < n; i++) if (!kept.has(i)) bestLeft = Math.min(bestLeft, s[i]);
    expect(worstKept, `query ${qi}: a better vector was left out`).toBeLessThanOrEqual(bestLeft + m * steps[qi] * 1.001 + 1e-5 * (1 + Math.abs(bestLeft)));
  }
}

function sameResults(a: SearchResult, b: SearchResult): void {
  expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
  expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
}

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('options', () => {
  it('nbits 4 scans with fast-scan by default; other widths keep the float scan; fastScan: false opts out', () => {
    expect(track(new PQIndex({ d: 8, m: 4, nbits: 4 })).fastScan).toBe(true);
    expect(track(new PQIndex({ d: 8, m: 4, nbits: 8 })).fastScan).toBe(false);
    expect(track(new PQIndex({ d: 8, m: 4, nbits: 4, fastScan: false })).fastScan).toBe(false);
    expect(track(new IVFPQIndex({ d: 8, m: 4, nbits: 4, nlist: 2 })).fastScan).toBe(true);
    expect(track(new IVFPQIndex({ d: 8, m: 4, nlist: 2 })).fastScan).toBe(false);
  });

  it('fastScan with another code width, or not a boolean, is refused', () => {
    expectRefusal(() => new PQIndex({ d: 8, m: 4, nbits: 8, fastScan: true }), 'INVALID_OPTION', 'new PQIndex', ['fastScan', 'nbits = 8']);
    expectRefusal(() => new IVFPQIndex({ d: 8, m: 4, nbits: 5, nlist: 2, fastScan: true }), 'INVALID_OPTION', 'new IVFPQIndex', ['nbits = 5']);
    expectRefusal(() => new PQIndex({ d: 8, m: 4, nbits: 4, fastScan: 1 as unknown as boolean }), 'INVALID_OPTION', 'new PQIndex', ['fastScan']);
  });
});

describe('PQIndex fast-scan', () => {
  for (const metric of ['l2', 'ip'] as const) {
    for (const [d, m] of [[16, 8], [15, 5], [64, 32], [34, 17], [100, 100]] as const) {
      it(`${metric}, d = ${d}, m = ${m}: within the quantization error of the float scan, on the float index's codes`, () => {
        const n = 1000; // 31 full blocks and a partial one
        const x = floatVectors(n, d, d + m, 1, metric === 'ip' ? 0.3 : 0);
        const q = floatVectors(15, d, 5 * d);
        const fast = track(new PQIndex({ d, m, nbits: 4, metric, seed: 3 }));
        fast.train(x);
        fast.add(x);
        const float = track(new PQIndex({ d, m, nbits: 4, metric, seed: 3, fastScan: false }));
        float.train(x);
        float.add(x);
        const rec = fast.reconstruct(all(n));
        expect(Array.from(rec)).toEqual(Array.from(float.reconstruct(all(n))));
        const cb = (fast.quantizer as ProductQuantizer).centroids;
        const steps = Array.from({ length: 15 }, (_, qi) => quantStep(q, qi, null, 0, cb, m, d / m, metric));
        for (const k of [1, 10]) expectWithinQuantization(fast.search(q, k), rec, q, d, m, k, metric, steps);
        // and it mostly agrees with the float scan (measured >= 0.9; a broken scan gives about k / n)
        const a = fast.search(q, 10).ids, b = float.search(q, 10).ids;
        let same = 0;
        for (let qi = 0; qi < 15; qi++) {
          const s = new Set(Array.from(b.subarray(qi * 10, qi * 10 + 10)));
          for (let j = 0; j < 10; j++) if (s.has(a[qi * 10 + j])) same++;
        }
        expect(same / 150).toBeGreaterThan(0.8);
      });
    }
  }

  it('m = 300 (entries capped at 218 so that sums fit 16 bits): still within the quantization error', () => {
    const d = 300, m = 300, n = 200;
    const x = floatVectors(n, d, 8);
    const q = floatVectors(5, d, 9);
    const index = track(new PQIndex({ d, m, nbits: 4 }));
    index.train(x);
    index.add(x);
    const rec = index.reconstruct(all(n));
    const steps = Array.from({ length: 5 }, (_, qi) => quantStep(q, qi, null, 0, (index.quantizer as ProductQuantizer).centroids, m, 1, 'l2'));
    expectWithinQuantization(index.search(q, 10), rec, q, d, m, 10, 'l2', steps);
  });

  it('with opq: the same contract in the rotated space (scores of the reconstructions)', () => {
    const d = 16, n = 700;
    const base = floatVectors(n, d, 12);
    const x = base.map((v, i) => v * 0.2 + base[Math.floor(i / d) * d + (i % 4)]);
    const q = x.slice(0, 10 * d).map((v) => v + 0.05);
    const index = track(new PQIndex({ d, m: 8, nbits: 4, opq: true, opqIterations: 4 }));
    index.train(x);
    index.add(x);
    const res = index.search(q, 10);
    // rotation preserves distances: score the reconstructions in the original space, steps from the rotated query
    const rec = index.reconstruct(all(n));
    const opq = index.quantizer as OPQ;
    const qr = opq.rotate(q);
    const steps = Array.from({ length: 10 }, (_, qi) => quantStep(qr, qi, null, 0, opq.pqFor('test').centroids, 8, 2, 'l2'));
    expectWithinQuantization(res, rec, q, d, 8, 10, 'l2', steps.map((s) => s * 1.01));
  });

  for (const metric of ['l2', 'ip'] as const) {
    it(`${metric}: rerank over every vector equals exact search`, () => {
      const d = 24, n = 500;
      const x = floatVectors(n, d, 40);
      const q = floatVectors(12, d, 41);
      const index = track(new PQIndex({ d, m: 12, nbits: 4, metric, refine: true }));
      index.train(x);
      index.add(x);
      const flat = track(new FlatIndex({ d, metric }));
      flat.add(x);
      const exact = flat.search(q, 10);
      const got = index.search(q, 10, { rerank: n });
      expect(Array.from(got.ids)).toEqual(Array.from(exact.ids));
      for (let i = 0; i < got.distances.length; i++) expect(got.distances[i]).toBeCloseTo(exact.distances[i], 3);
    });
  }

  it('adding in pieces that end mid-block gives the index of one add: same results, same saved bytes', () => {
    const d = 16, n = 400;
    const x = floatVectors(n, d, 50);
    const q = floatVectors(10, d, 51);
    const ids = Int32Array.from({ length: n }, (_, i) => 10_000 + 3 * i);
    const one = track(new PQIndex({ d, m: 8, nbits: 4, metric: 'ip' }));
    one.train(x);
    one.add(x, ids);
    const pieces = track(new PQIndex({ d, m: 8, nbits: 4, metric: 'ip' }));
    pieces.train(x);
    let at = 0;
    for (const size of [1, 31, 33, 7, 100, 228]) {
      pieces.add(x.subarray(at * d, (at + size) * d), ids.subarray(at, at + size));
      at += size;
    }
    expect(at).toBe(n);
    sameResults(pieces.search(q, 20), one.search(q, 20));
    expect(pieces.save()).toEqual(one.save());
    expect(Array.from(pieces.reconstruct(ids.subarray(0, 50)))).toEqual(Array.from(one.reconstruct(ids.subarray(0, 50))));
  });

  it('save / load: same results and reconstructions; the file holds the packed codes of the float index', () => {
    const d = 20, n = 333;
    const x = floatVectors(n, d, 60);
    const q = floatVectors(8, d, 61);
    for (const [metric, refine] of [['l2', false], ['ip', true]] as const) {
      const index = track(new PQIndex({ d, m: 10, nbits: 4, metric, refine }));
      index.train(x);
      index.add(x);
      const bytes = index.save();
      const back = track(PQIndex.load(bytes));
      expect(back.fastScan).toBe(true);
      sameResults(back.search(q, 10), index.search(q, 10));
      if (refine) sameResults(back.search(q, 10, { rerank: 50 }), index.search(q, 10, { rerank: 50 }));
      expect(Array.from(back.reconstruct(all(n)))).toEqual(Array.from(index.reconstruct(all(n))));
      // the float index with the same seed stores the same codes: its file differs only in the fastScan flag
      const float = track(new PQIndex({ d, m: 10, nbits: 4, metric, refine, fastScan: false }));
      float.train(x);
      float.add(x);
      const a = readContainer('test', bytes, 'PQIndex');
      const b = readContainer('test', float.save(), 'PQIndex');
      expect(a.params.fastScan).toBe(true);
      expect({ ...a.params, fastScan: false }).toEqual(b.params);
      expect(a.sections).toEqual(b.sections);
      back.add(x.subarray(0, 5 * d)); // a loaded index takes more vectors
      expect(back.size).toBe(n + 5);
    }
  });
});

describe('IVFPQIndex fast-scan', () => {
  for (const metric of ['l2', 'ip'] as const) {
    it(`${metric}: nprobe = nlist is within the quantization error of the float scores of every vector`, () => {
      const d = 16, m = 8, nlist = 6;
      const { x } = clustered(nlist, 150, d, 70, 4, 1);
      const n = x.length / d;
      const q = floatVectors(10, d, 71, 3);
      const index = track(new IVFPQIndex({ d, m, nbits: 4, nlist, metric }));
      index.train(x);
      index.add(x);
      const float = track(new IVFPQIndex({ d, m, nbits: 4, nlist, metric, fastScan: false }));
      float.train(x);
      float.add(x);
      const rec = index.reconstruct(all(n));
      expect(Array.from(rec)).toEqual(Array.from(float.reconstruct(all(n))));
      const cb = index.quantizer.centroids;
      const cents = index.centroids;
      // l2 tables are per list (residual of q), ip tables per query: the largest step over the lists bounds them all
      const steps = Array.from({ length: 10 }, (_, qi) => {
        if (metric === 'ip') return quantStep(q, qi, null, 0, cb, m, 2, metric);
        let s = 0;
        for (let l = 0; l < nlist; l++) s = Math.max(s, quantStep(q, qi, cents, l, cb, m, 2, metric));
        return s;
      });
      expectWithinQuantization(index.search(q, 10, { nprobe: nlist }), rec, q, d, m, 10, metric, steps);
    });

    it(`${metric}: rerank over every list equals exact search; adds in pieces, save / load and user ids keep results`, () => {
      const d = 12, nlist = 5;
      const { x } = clustered(nlist, 90, d, 80, 4, 1);
      const n = x.length / d;
      const q = floatVectors(9, d, 81, 3);
      const ids = Int32Array.from({ length: n }, (_, i) => 7 * i + 1);
      const index = track(new IVFPQIndex({ d, m: 6, nbits: 4, nlist, metric, refine: true }));
      index.train(x);
      let at = 0;
      for (const size of [3, 40, 97, n - 140]) {
        index.add(x.subarray(at * d, (at + size) * d), ids.subarray(at, at + size));
        at += size;
      }
      const flat = track(new FlatIndex({ d, metric }));
      flat.add(x);
      const exact = flat.search(q, 10);
      const got = index.search(q, 10, { nprobe: nlist, rerank: n });
      expect(Array.from(got.ids)).toEqual(Array.from(exact.ids).map((i) => ids[i]));
      const one = track(new IVFPQIndex({ d, m: 6, nbits: 4, nlist, metric, refine: true }));
      one.train(x);
      one.add(x, ids);
      for (const nprobe of [1, 2, nlist]) sameResults(index.search(q, 10, { nprobe }), one.search(q, 10, { nprobe }));
      const back = track(IVFPQIndex.load(index.save()));
      expect(back.fastScan).toBe(true);
      for (const nprobe of [1, 3]) sameResults(back.search(q, 10, { nprobe }), index.search(q, 10, { nprobe }));
      expect(Array.from(back.reconstruct(ids.subarray(0, 40)))).toEqual(Array.from(index.reconstruct(ids.subarray(0, 40))));
      expect(back.save()).toEqual(index.save());
    });
  }

  it('a larger nprobe never worsens the k-th distance (each list is scored the same whoever else is probed)', () => {
    // the result of nprobe = p is the best k of the union of the p nearest lists: a superset of lists can only improve it
    const d = 16, nlist = 8;
    const { x } = clustered(nlist, 100, d, 90, 4, 1);
    const q = floatVectors(10, d, 91, 3);
    const index = track(new IVFPQIndex({ d, m: 8, nbits: 4, nlist }));
    index.train(x);
    index.add(x);
    let prev: SearchResult | null = null;
    for (const nprobe of [1, 2, 4, 8]) {
      const r = index.search(q, 5, { nprobe });
      if (prev) for (let qi = 0; qi < 10; qi++) expect(r.distances[qi * 5 + 4]).toBeLessThanOrEqual(prev.distances[qi * 5 + 4]);
      prev = r;
    }
  });
});

describe('MovieLens (../shared/data): fast-scan recall', () => {
  const ml = movieLensOrSkip('fastscan.test');
  if (!ml) return;
  const { x, q, d, nq } = ml;
  const recall = (ids: Int32Array, gt: Int32Array) => {
    let hit = 0;
    for (let i = 0; i < nq; i++) {
      const truth = new Set(Array.from(gt.subarray(i * 100, i * 100 + 10)));
      for (let j = 0; j < 10; j++) if (truth.has(ids[i * 10 + j])) hit++;
    }
    return hit / (nq * 10);
  };
  for (const metric of ['ip', 'l2'] as const) {
    it(`${metric}: m = 32 x 4 bits: recall@10 within 0.01 of the float 4-bit scan; >= 0.95 with rerank`, () => {
      const gt = ml.gt(metric);
      const fast = track(new PQIndex({ d, m: 32, nbits: 4, metric, refine: true }));
      fast.train(x);
      fast.add(x);
      const float = track(new PQIndex({ d, m: 32, nbits: 4, metric, fastScan: false }));
      float.train(x);
      float.add(x);
      const rf = recall(fast.search(q, 10).ids, gt);
      const rF = recall(float.search(q, 10).ids, gt);
      const rr = recall(fast.search(q, 10, { rerank: 200 }).ids, gt);
      const ivf = track(new IVFPQIndex({ d, nlist: 64, m: 32, nbits: 4, metric, refine: true }));
      ivf.train(x);
      ivf.add(x);
      const ri = recall(ivf.search(q, 10, { nprobe: 16, rerank: 200 }).ids, gt);
      console.log(`MovieLens ${metric} PQ32x4: fast-scan R@10 ${rf.toFixed(3)}, float ${rF.toFixed(3)}, +rerank 200 ${rr.toFixed(3)}; IVF64 nprobe 16 +rerank 200 ${ri.toFixed(3)}`);
      expect(Math.abs(rf - rF)).toBeLessThanOrEqual(0.01);
      expect(rr).toBeGreaterThanOrEqual(0.95);
      expect(ri).toBeGreaterThanOrEqual(0.95);
    });
  }
});
