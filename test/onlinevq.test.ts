// codebookStats, the stats reported by training, and OnlineVQ (EMA codebook with dead-code replacement and the
// straight-through gradient) against the float64 reference of test/reference/onlinevq.ts, on seeded synthetic data:
// the EMA step from any saved state, replacement, a drifting stream, determinism, save / load mid-stream, errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { codebookStats, init, KMeans, memoryStats, OnlineVQ, ProductQuantizer } from '../dist/index.js';
import { readContainer } from '../dist/io/format.js';
import { clustered, floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { expectRefusal } from './helpers/refusals.js';
import { TestRng } from './helpers/rng.js';
import * as R from './reference/onlinevq.js';

beforeAll(async () => {
  await init();
});
const track = disposeAfterEach();

/** The state inside a saved OnlineVQ. */
function stateOf(vq: OnlineVQ): R.VQState {
  const c = readContainer('test', vq.save(), 'OnlineVQ');
  const view = (tag: string, T: typeof Float32Array | typeof Float64Array) => {
    const b = c.sections.get(tag)!;
    return new T(b.slice().buffer);
  };
  return { codebook: view('CODE', Float32Array) as Float32Array, size: view('SIZE', Float64Array) as Float64Array, sum: view('ESUM', Float64Array) as Float64Array };
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i] - b[i]) > tol * (1 + Math.abs(b[i]))) throw new Error(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/** Batches of a mixture of `centres` (rows of d), unit noise. */
function mixtureBatch(centres: Float32Array, d: number, n: number, rng: TestRng): Float32Array {
  const C = centres.length / d;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = rng.int(0, C - 1);
    for (let t = 0; t < d; t++) x[i * d + t] = centres[c * d + t] + rng.gauss();
  }
  return x;
}

describe('codebookStats', () => {
  it('counts, utilization, perplexity, dead codes and the largest cluster of known labels', () => {
    const s = codebookStats(Int32Array.from([0, 0, 1, 3, 3, 3]), 5);
    expect(s.used).toBe(3);
    expect(s.deadCodes).toBe(2);
    expect(s.utilization).toBeCloseTo(0.6, 12);
    expect(s.maxClusterFraction).toBeCloseTo(0.5, 12);
    const p = [2 / 6, 1 / 6, 3 / 6];
    expect(s.perplexity).toBeCloseTo(Math.exp(-p.reduce((a, v) => a + v * Math.log(v), 0)), 12);
    expect(Array.from(s.counts)).toEqual([2, 1, 0, 3, 0]);
    expect(codebookStats(Int32Array.from({ length: 64 }, (_, i) => i % 16), 16).perplexity).toBeCloseTo(16, 10);
    expect(codebookStats(new Int32Array(10).fill(2), 8).perplexity).toBeCloseTo(1, 12);
  });

  it('refuses labels out of range, a wrong array type and a bad k', () => {
    expectRefusal(() => codebookStats(Int32Array.from([0, 4]), 4), 'INVALID_OPTION', 'codebookStats', ['labels[1]', /got 4\b/]);
    expectRefusal(() => codebookStats(Int32Array.from([-1]), 4), 'INVALID_OPTION', 'codebookStats', ['labels[0]']);
    expectRefusal(() => codebookStats([0, 1] as unknown as Int32Array, 4), 'INVALID_TYPE', 'codebookStats', ['Int32Array']);
    expectRefusal(() => codebookStats(new Int32Array(2), 0), 'INVALID_OPTION', 'codebookStats', ['k']);
  });

  it('k-means and PQ training report them, consistent with their assignments', () => {
    const { x } = clustered(8, 50, 6, 3);
    const km = track(new KMeans({ d: 6, k: 8, seed: 2 }));
    const res = km.train(x);
    expect(res.stats.used).toBe(Array.from(res.clusterSizes).filter((v) => v > 0).length);
    expect(Array.from(res.stats.counts)).toEqual(Array.from(res.clusterSizes));
    const pq = track(new ProductQuantizer({ d: 6, m: 3, nbits: 3 }));
    const pres = pq.train(x);
    expect(pres.stats).toHaveLength(3);
    for (const s of pres.stats) expect(s.counts.reduce((a, b) => a + b, 0)).toBe(pres.nTrain);
  });
});

describe('OnlineVQ', () => {
  for (const cosine of [false, true]) {
    it(`${cosine ? 'cosine' : 'l2'}: every update is the reference EMA step from the state before it`, () => {
      const d = 7, k = 12;
      const rng = new TestRng(cosine ? 5 : 4);
      const centres = floatVectors(20, d, 9, 3);
      const vq = track(new OnlineVQ({ d, k, decay: 0.9, epsilon: 1e-3, cosine, seed: 3 }));
      vq.update(mixtureBatch(centres, d, 100, rng));
      for (let step = 0; step < 5; step++) {
        const before = stateOf(vq);
        const batch = mixtureBatch(centres, d, 40 + 13 * step, rng);
        const x = cosine ? batch.map((_, i) => batch[i] / Math.hypot(...batch.subarray(i - (i % d), i - (i % d) + d))) : batch;
        const ref = R.assign(x, before.codebook, k, d, cosine);
        const res = vq.update(batch);
        expect(Array.from(res.labels)).toEqual(Array.from(ref.labels));
        expect(res.commitmentLoss).toBeCloseTo(ref.sq.reduce((a, b) => a + b, 0) / (x.length), 5);
        const want = R.emaStep(before, x, ref.labels, k, d, 0.9, 1e-3, cosine);
        const got = stateOf(vq);
        expectClose(got.size, want.size, 1e-12, 'size');
        expectClose(got.sum, want.sum, 1e-6, 'sum');
        expectClose(got.codebook, want.codebook, 1e-5, 'codebook');
        expect(res.stats.used).toBe(new Set(res.labels).size);
      }
      if (cosine) for (let c = 0; c < k; c++) expect(Math.hypot(...vq.codebook.subarray(c * d, (c + 1) * d))).toBeCloseTo(1, 5);
    });
  }

  it('kmeansInit: the first batch seeds the codebook with k-means (sizes = cluster sizes, then one EMA step)', () => {
    const { x } = clustered(6, 30, 5, 8, 20);
    const vq = track(new OnlineVQ({ d: 5, k: 6, decay: 0.5, seed: 11 }));
    const res = vq.update(x);
    expect(res.initialized).toBe(true);
    expect(res.stats.used).toBe(6); // six separated clusters, six codes
    expect(res.commitmentLoss).toBeLessThan(1.5);
    const sizes = vq.clusterSizes;
    expect(sizes.reduce((a, b) => a + b, 0)).toBeCloseTo(180, 6); // 0.5 * 180 (k-means) + 0.5 * 180 (batch)
  });

  it('kmeansInit: a cluster k-means leaves empty keeps its centroid through the first update (not the origin)', () => {
    // two distinct points, four codes: k-means splits the clusters, and two of the copies end up with no point
    const batch = new Float32Array(40);
    for (let i = 0; i < 20; i++) batch.fill(i % 2 ? 5 : 3, 2 * i, 2 * i + 2);
    const vq = track(new OnlineVQ({ d: 2, k: 4, seed: 1 }));
    vq.update(batch);
    const cb = vq.codebook;
    for (let c = 0; c < 4; c++) {
      const [a, b] = [cb[2 * c], cb[2 * c + 1]];
      const near = Math.min(Math.hypot(a - 3, b - 3), Math.hypot(a - 5, b - 5));
      expect(near, `codeword ${c} = (${a}, ${b})`).toBeLessThan(0.1);
    }
  });

  it('dead codes take batch vectors, with size reset to the threshold; without a threshold nothing is replaced', () => {
    const d = 4, k = 8;
    const rng = new TestRng(2);
    const far = floatVectors(8, d, 1, 1, 50); // a first batch far from everything that follows
    const vq = track(new OnlineVQ({ d, k, decay: 0.5, deadCodeThreshold: 3, kmeansInit: false, seed: 1 }));
    vq.update(mixtureBatch(far, d, 64, rng));
    const near = floatVectors(2, d, 3);
    const batch = mixtureBatch(near, d, 64, rng);
    const res = vq.update(batch);
    const after = stateOf(vq);
    expect(res.replaced).toBeGreaterThan(0);
    let replaced = 0;
    for (let c = 0; c < k; c++) {
      if (after.size[c] !== 3) continue;
      replaced++;
      const row = Array.from(after.codebook.subarray(c * d, (c + 1) * d));
      const found = Array.from({ length: 64 }, (_, i) => Array.from(batch.subarray(i * d, (i + 1) * d))).some((r) => r.every((v, t) => v === row[t]));
      expect(found, `code ${c} is a batch vector`).toBe(true);
      for (let t = 0; t < d; t++) expect(after.sum[c * d + t]).toBeCloseTo(row[t] * 3, 5);
    }
    expect(replaced).toBe(res.replaced);
    const off = track(new OnlineVQ({ d, k, decay: 0.5, kmeansInit: false, seed: 1 }));
    off.update(mixtureBatch(far, d, 64, new TestRng(2)));
    expect(off.update(batch).replaced).toBe(0);
  });

  it('a drifting stream: without replacement the codebook collapses after the shift; with it >= 90 % of codes stay in use', () => {
    const d = 16, k = 64, B = 512;
    const rng0 = new TestRng(8);
    const a = Float32Array.from({ length: 64 * d }, () => rng0.gauss() * 4);
    const b = a.map((v, i) => v + (i % d === 0 ? 40 : 0)); // the distribution moves far away halfway
    const runStream = (threshold: number) => {
      const rng = new TestRng(9);
      const vq = track(new OnlineVQ({ d, k, decay: 0.95, deadCodeThreshold: threshold, seed: 1 }));
      const util: number[] = [];
      for (let it = 0; it < 120; it++) util.push(vq.update(mixtureBatch(it < 40 ? a : b, d, B, rng)).stats.utilization);
      return { before: util.slice(30, 40), after: util.slice(110) };
    };
    const off = runStream(0);
    const on = runStream(2);
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    expect(mean(off.before)).toBeGreaterThan(0.9);
    expect(mean(off.after)).toBeLessThan(0.2);
    expect(mean(on.before)).toBeGreaterThan(0.9);
    expect(mean(on.after)).toBeGreaterThanOrEqual(0.9);
  });

  it('same seed, same bytes; save / load mid-stream continues exactly as without the break', () => {
    const d = 6, k = 10;
    const centres = floatVectors(12, d, 4, 3);
    const make = () => track(new OnlineVQ({ d, k, decay: 0.8, deadCodeThreshold: 2, kmeansInit: false, seed: 77 }));
    const r1 = new TestRng(5), r2 = new TestRng(5);
    const a = make(), b = make();
    for (let i = 0; i < 4; i++) {
      a.update(mixtureBatch(centres, d, 30, r1));
      b.update(mixtureBatch(centres, d, 30, r2));
    }
    expect(a.save()).toEqual(b.save());
    const c = track(OnlineVQ.load(b.save()));
    b.dispose();
    for (let i = 0; i < 4; i++) {
      const batch = mixtureBatch(centres.map((v) => v + i * 5), d, 30, r1);
      a.update(batch);
      c.update(batch);
    }
    expect(c.save()).toEqual(a.save());
    expect(c.updateCount).toBe(8);
  });

  it('quantize gives the nearest codewords; backward is the straight-through gradient plus the commitment term', () => {
    const d = 5, k = 7;
    const vq = track(new OnlineVQ({ d, k, seed: 4 }));
    vq.update(floatVectors(50, d, 6, 2));
    const x = floatVectors(9, d, 7, 2);
    const { labels, quantized } = vq.quantize(x);
    const cb = vq.codebook;
    expect(Array.from(labels)).toEqual(Array.from(R.assign(x, cb, k, d, false).labels));
    for (let i = 0; i < 9; i++) expect(Array.from(quantized.subarray(i * d, (i + 1) * d))).toEqual(Array.from(cb.subarray(labels[i] * d, (labels[i] + 1) * d)));
    const g = floatVectors(9, d, 8);
    const beta = 0.4;
    const grad = vq.backward(x, g, { beta });
    // the commitment term's gradient, by central differences with the codeword held fixed (stop-gradient)
    const commit = (xs: ArrayLike<number>) => (beta * Array.from(xs).reduce((s, v, i) => s + (v - quantized[i]) ** 2, 0)) / xs.length;
    const h = 1e-3;
    for (const i of [0, 7, 23, 44]) {
      const up = Float64Array.from(x), dn = Float64Array.from(x);
      up[i] += h;
      dn[i] -= h;
      expect(grad[i] - g[i]).toBeCloseTo((commit(up) - commit(dn)) / (2 * h), 4);
    }
  });

  it('refuses bad options and input with VQError before touching the codebook', () => {
    const W = 'new OnlineVQ';
    expectRefusal(() => new OnlineVQ({ d: 4, k: 3, decay: 1 }), 'INVALID_OPTION', W, ['decay', /\(0, 1\)/]);
    expectRefusal(() => new OnlineVQ({ d: 4, k: 3, epsilon: 0 }), 'INVALID_OPTION', W, ['epsilon']);
    expectRefusal(() => new OnlineVQ({ d: 4, k: 3, deadCodeThreshold: -1 }), 'INVALID_OPTION', W, ['deadCodeThreshold']);
    expectRefusal(() => new OnlineVQ({ d: 4, k: 0 }), 'INVALID_OPTION', W, ['k']);
    expectRefusal(() => new OnlineVQ({ d: 4, k: 3, cosine: 'yes' as unknown as boolean }), 'INVALID_OPTION', W, ['cosine']);
    const vq = track(new OnlineVQ({ d: 4, k: 3 }));
    expectRefusal(() => vq.quantize(new Float32Array(4)), 'NOT_TRAINED', 'OnlineVQ.quantize');
    expectRefusal(() => vq.update(new Float32Array(8)), 'TOO_FEW_POINTS', 'OnlineVQ.update', [/n >= k = 3/]);
    expectRefusal(() => vq.update(new Float32Array([1, 2, 3, NaN, 1, 1, 1, 1, 2, 2, 2, 2])), 'NON_FINITE', 'OnlineVQ.update');
    expectRefusal(() => vq.update(new Float64Array(12) as unknown as Float32Array), 'INVALID_TYPE', 'OnlineVQ.update');
    expectRefusal(() => vq.update(new Float32Array(13)), 'INVALID_SIZE', 'OnlineVQ.update');
    expect(vq.isInitialized).toBe(false);
    vq.update(floatVectors(6, 4, 1));
    expectRefusal(() => vq.backward(new Float32Array(8), new Float32Array(4)), 'INVALID_SIZE', 'OnlineVQ.backward');
    expectRefusal(() => vq.backward(new Float32Array(4), new Float32Array(4), { beta: -1 }), 'INVALID_OPTION', 'OnlineVQ.backward', ['beta']);
    const bytes = vq.save();
    expectRefusal(() => OnlineVQ.load(bytes.slice(0, bytes.length - 3)), 'CORRUPT_DATA', 'OnlineVQ.load');
    const flipped = bytes.slice();
    flipped[flipped.length - 9] ^= 0x40;
    expectRefusal(() => OnlineVQ.load(flipped), 'CORRUPT_DATA', 'OnlineVQ.load');
    vq.dispose();
    expectRefusal(() => vq.update(floatVectors(6, 4, 1)), 'DISPOSED', 'OnlineVQ.update');
  });

  it('repeated create / update / dispose does not grow wasm memory', () => {
    const run = () => {
      const vq = new OnlineVQ({ d: 8, k: 16, deadCodeThreshold: 1 });
      vq.update(floatVectors(64, 8, 1));
      vq.update(floatVectors(64, 8, 2));
      OnlineVQ.load(vq.save()).dispose();
      vq.dispose();
    };
    run();
    const base = memoryStats();
    for (let i = 0; i < 20; i++) run();
    const after = memoryStats();
    expect(after.liveBytes).toBe(base.liveBytes);
    expect(after.liveAllocations).toBe(base.liveAllocations);
    expect(after.memoryBytes).toBe(base.memoryBytes);
  });
});
