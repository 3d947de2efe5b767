// KMeans: the Lloyd properties (the objective never rises, the same seed gives the same bytes), the degenerate inputs
// (duplicates, k == n), assignment against a brute-force nearest centroid, recovery of planted clusters, the options
// (subsampling, k-means++ on a subsample, warnings, progress, restarts, spherical), and every iteration against the reference Lloyd step: KMeans
// skips points with Hamerly's bounds, and the skipping must never change what a plain Lloyd iteration computes.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { init, IVFFlatIndex, KMeans, memoryStats, VQError, type KMeansOptions, type KMeansProgress } from '../dist/index.js';
import { engine } from '../dist/wasm/engine.js';
import { dot64, l2sq64, normalizeRows } from './reference/distance.js';
import { assignNearest, cumulativeSearch, lloydIteration, minL2Update } from './reference/kmeans.js';
import { Rng } from '../dist/util/rng.js';
import { readContainer, writeContainer } from '../dist/io/format.js';
import { clustered, concat, distinctIntVectors, floatVectors, intVectors } from './helpers/data.js';

beforeAll(async () => {
  await init();
});

const live: KMeans[] = [];
function kmeans(options: KMeansOptions): KMeans {
  const km = new KMeans(options);
  live.push(km);
  return km;
}
afterEach(() => {
  for (const km of live.splice(0)) km.dispose();
});

const INITS = ['kmeans++', 'random'] as const;

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** Sum over points of the squared distance to the nearest of the centroids (float64). */
function cost(x: Float32Array, d: number, centroids: Float32Array, k: number): number {
  const { dist } = assignNearest(x, x.length / d, d, centroids, k);
  return dist.reduce((s, v) => s + v, 0);
}

// ---------------------------------------------------------------------------------------------------------------

describe('KMeans: Lloyd properties', () => {
  const blobs = clustered(10, 100, 16, 1, 3, 1); // overlapping blobs: several iterations of real movement
  const uniform = floatVectors(1500, 7, 2, 1);

  it.each(INITS)('the objective never increases beyond float rounding (init %s)', (initMode) => {
    for (const [x, d, k] of [[blobs.x, 16, 12], [uniform, 7, 20]] as const) {
      const km = kmeans({ d, k, init: initMode, iterations: 30, seed: 11 });
      const res = km.train(x);
      expect(res.objective).toHaveLength(30);
      expect(res.iterations).toBe(30);
      expect(allFinite(res.objective)).toBe(true);
      for (let i = 1; i < res.objective.length; i++) {
        expect(res.objective[i], `iteration ${i + 1} (k=${k})`).toBeLessThanOrEqual(res.objective[i - 1] * (1 + 1e-5));
      }
      // and training did something: the last objective is well below the first
      expect(res.objective[29]).toBeLessThan(res.objective[0]);
      // one more step from the final centroids does not rise either
      expect(cost(x, d, km.centroids, k)).toBeLessThanOrEqual(res.objective[29] * (1 + 1e-5));
    }
  });

  it.each(INITS)('the same seed gives the same centroid bytes, another seed other centroids (init %s)', (initMode) => {
    const opts = { d: 16, k: 12, init: initMode, iterations: 8 } as const;
    const a = kmeans({ ...opts, seed: 5 });
    const b = kmeans({ ...opts, seed: 5 });
    const c = kmeans({ ...opts, seed: 6 });
    const ra = a.train(blobs.x);
    const rb = b.train(blobs.x);
    c.train(blobs.x);
    expect(bytes(b.centroids)).toEqual(bytes(a.centroids));
    expect(rb.objective).toEqual(ra.objective);
    expect(bytes(c.centroids)).not.toEqual(bytes(a.centroids));
    // retraining the same object from scratch repeats itself too
    a.train(blobs.x);
    expect(bytes(a.centroids)).toEqual(bytes(b.centroids));
  });

  // d = 64, k = 256: the steps' top-2 rescans go through the int16 prefilter (kmeansBlock.ts STEP_PREFILTER_MIN_KD)
  const wide = clustered(256, 16, 64, 7, 2, 1);
  const LLOYD_CASES = [
    // (k-means++ with seed 7: with seeds 3-6, 8 and 9 its seeds either leave a point within float rounding of two
    // centroids or settle in two iterations, which the preconditions below rule out)
    ...INITS.map((initMode) => ({ initMode, x: blobs.x, d: 16, k: 10, T: 9, seed: initMode === 'kmeans++' ? 7 : 3 })),
    // (random seeding leaves a cluster empty there, which the reference step does not repair)
    { initMode: 'kmeans++' as const, x: wide.x, d: 64, k: 256, T: 5 },
    // unclustered points: most centroids settle while a few still move, so the late iterations settle most points
    // against the moved centroids only (movedOnly, hamerlyPartial), which this case requires
    { initMode: 'random' as const, x: floatVectors(1200, 33, 77), d: 33, k: 48, T: 14, movedOnly: true },
  ];
  it.each(LLOYD_CASES)('every iteration is a Lloyd iteration: the reference step from our centroids after t iterations gives ours after t + 1 (init $initMode, d $d, k $k)', ({ initMode, x, d, k, T, movedOnly, seed }) => {
    // KMeans skips points with Hamerly's bounds; this checks that the skipping never changes the assignment: for
    // t = 1..T-1, one reference Lloyd iteration from the centroids of a t-iteration run must give the objective at
    // iteration t + 1 and the centroids of a (t + 1)-iteration run with the same seed.
    const n = x.length / d;
    const runs = Array.from({ length: T }, (_, t) => {
      const km = kmeans({ d, k, init: initMode, iterations: t + 1, seed: seed ?? 3, onWarning: () => {} });
      const res = km.train(x);
      return { res, centroids: km.centroids };
    });
    let moved = 0;
    for (let t = 1; t < T; t++) {
      const prev = runs[t - 1];
      const next = runs[t];
      // the same seed repeats the first t iterations bit for bit
      expect(next.res.objective.slice(0, t)).toEqual(prev.res.objective);
      const ref = lloydIteration(x, n, d, prev.centroids, k);
      // precondition: no empty cluster (no repair), and no near-tie between the two nearest centroids of any point,
      // so that float32 rounding cannot change the assignment
      expect(ref.empty).toBe(0);
      for (let i = 0; i < n; i++) {
        const ds = Array.from({ length: k }, (_, j) => l2sq64(x, i, prev.centroids, j, d)).sort((a, b) => a - b);
        expect(ds[1] - ds[0], `t=${t}: margin of point ${i}`).toBeGreaterThan(1e-5 * (ds[0] + 2 * dot64(x, i, x, i, d)));
      }
      expect(Math.abs(next.res.objective[t] - ref.objective), `objective at iteration ${t + 1}`).toBeLessThanOrEqual(1e-5 * ref.objective);
      expect(Array.from(next.res.clusterSizes), `sizes at iteration ${t + 1}`).toEqual(Array.from(ref.counts));
      for (let i = 0; i < k * d; i++) {
        expect(Math.abs(next.centroids[i] - ref.centroids[i]), `t=${t} centroid value ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref.centroids[i])));
      }
      if (ref.objective < runs[t - 1].res.objective[t - 1] * (1 - 1e-4)) moved++;
    }
    expect(moved).toBeGreaterThan(2); // precondition: the iterations did real work
    // precondition of the unclustered case: iterations settled points against the moved centroids only
    if (movedOnly) expect(runs[T - 1].res.movedOnly.filter((c) => c > n / 2).length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    { failing: 'ids', bytes: (k: number) => Math.floor(k * 0.6) * 4 },
    { failing: 'panels', bytes: (k: number, d: number) => Math.ceil(Math.floor(k * 0.6) / 8) * 8 * d * 4 },
  ])('no room for the moved-centroid buffers ($failing): every step scans all k, same centroids bit for bit', ({ bytes: size }) => {
    // the scan of the moved centroids only saves time (CentroidSide): where its optional buffers cannot be had
    // (OUT_OF_MEMORY, e.g. in a worker's arena), the steps take the full scan and must give the same result
    const d = 33, k = 48;
    const x = floatVectors(1200, d, 77);
    const o = { d, k, init: 'random' as const, iterations: 14, seed: 3, onWarning: () => {} };
    const a = kmeans(o);
    const ra = a.train(x);
    expect(ra.movedOnly.some((c) => c > 0)).toBe(true); // precondition: the path is taken when there is room
    const eng = engine('test') as unknown as { alloc(bytes: number, where: string): number };
    const alloc = eng.alloc;
    let refused = 0;
    eng.alloc = function (this: unknown, bytes: number, where: string): number {
      if (bytes === size(k, d) && /new CentroidSide/.test(new Error().stack ?? '')) {
        refused++;
        throw new VQError('OUT_OF_MEMORY', `${where}: refused by the test`);
      }
      return alloc.call(this, bytes, where);
    };
    let rb;
    const b = kmeans(o);
    try {
      rb = b.train(x);
    } finally {
      delete (eng as { alloc?: unknown }).alloc;
    }
    expect(eng.alloc).toBe(alloc);
    expect(refused).toBe(1);
    expect(rb.movedOnly.every((c) => c === 0)).toBe(true);
    expect(rb.objective).toEqual(ra.objective);
    expect(bytes(b.centroids)).toEqual(bytes(a.centroids));
    expect(rb.rescanned.reduce((s, c) => s + c, 0)).toBeGreaterThan(ra.rescanned.reduce((s, c) => s + c, 0));
  });

  it.each([
    { name: 'blobs, d 16, k 10', data: () => blobs.x.slice(), d: 16, k: 10, T: 6, seed: 8, init: 'kmeans++' as const, movedOnly: false },
    // unclustered: the late iterations settle most points against the moved centroids only (movedOnly, required)
    { name: 'unclustered, d 33, k 48', data: () => floatVectors(1200, 33, 77), d: 33, k: 48, T: 14, seed: 3, init: 'random' as const, movedOnly: true },
  ])('spherical: every iteration is a Lloyd iteration followed by normalization ($name)', ({ data, d, k, T, seed, init, movedOnly }) => {
    const x = data();
    const n = x.length / d;
    normalizeRows(x, n, d); // spherical k-means is meant for data on the sphere
    const runs = Array.from({ length: T }, (_, t) => {
      const km = kmeans({ d, k, spherical: true, iterations: t + 1, seed, init, onWarning: () => {} });
      const res = km.train(x);
      return { res, centroids: km.centroids };
    });
    if (movedOnly) expect(runs[T - 1].res.movedOnly.filter((c) => c > n / 2).length).toBeGreaterThanOrEqual(2);
    for (let t = 1; t < T; t++) {
      const prev = runs[t - 1].centroids;
      const ref = lloydIteration(x, n, d, prev, k);
      expect(ref.empty).toBe(0); // precondition, as for the margins below
      for (let i = 0; i < n; i++) {
        const ds = Array.from({ length: k }, (_, j) => l2sq64(x, i, prev, j, d)).sort((a, b) => a - b);
        expect(ds[1] - ds[0], `t=${t}: margin of point ${i}`).toBeGreaterThan(1e-5 * (ds[0] + 4));
      }
      normalizeRows(ref.centroids, k, d);
      expect(Math.abs(runs[t].res.objective[t] - ref.objective)).toBeLessThanOrEqual(1e-5 * ref.objective);
      const next = runs[t].centroids;
      for (let i = 0; i < k * d; i++) expect(Math.abs(next[i] - ref.centroids[i]), `t=${t} value ${i}`).toBeLessThanOrEqual(1e-5);
    }
  });

  it.each(INITS)('with empty-cluster repairs, the objective at every iteration is the true cost of the previous centroids (init %s)', (initMode) => {
    // duplicated points make random seeding pick the same point twice: the copy gets no points and is repaired by
    // a split; the bounds must stay valid across the split (a point kept in the wrong cluster costs more)
    const d = 4;
    const distinct = clustered(30, 1, d, 10, 5, 1).x;
    const rows: Float32Array[] = [];
    for (let c = 0; c < 20; c++) for (let p = 0; p < 30; p++) rows.push(distinct.subarray(p * d, (p + 1) * d));
    const x = concat(...rows, floatVectors(100, d, 11, 5));
    const k = 24;
    const T = 8;
    let repaired = 0;
    const runs = Array.from({ length: T }, (_, t) => {
      const km = kmeans({ d, k, init: initMode, iterations: t + 1, seed: 12, minPointsPerCentroid: 0 });
      const res = km.train(x);
      repaired = Math.max(repaired, res.emptyClustersRepaired);
      return { res, centroids: km.centroids };
    });
    if (initMode === 'random') expect(repaired).toBeGreaterThan(0); // precondition
    for (let t = 1; t < T; t++) {
      const want = cost(x, d, runs[t - 1].centroids, k);
      expect(Math.abs(runs[t].res.objective[t] - want), `objective at iteration ${t + 1}`).toBeLessThanOrEqual(1e-5 * want);
    }
  });

  it('a cluster split to repair an empty one really divides at the next iteration (the bounds see the split)', () => {
    // 200 spread points around 0 and 200 copies of (50, 50); random seeding often puts two centroids on the copies,
    // one of which gets nothing. The repair splits a cluster drawn by size: when it is the spread one, Lloyd gives each
    // half its points and no more repairs are needed; if the split were invisible to the bounds, the spread points
    // would all stay with the old centroid and the new one would be empty (and repaired) at every iteration.
    const d = 2;
    const x = concat(floatVectors(200, d, 13), new Float32Array(400).fill(50));
    const iterations = 10;
    const counts: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const res = kmeans({ d, k: 3, init: 'random', iterations, seed, minPointsPerCentroid: 0 }).train(x);
      counts.push(res.emptyClustersRepaired);
    }
    expect(counts.filter((c) => c > 0).length).toBeGreaterThanOrEqual(5); // precondition: repairs happen
    for (const c of counts) expect(c).toBeLessThan(iterations);
  });

  it('Hamerly bounds: every point is scanned in iteration 1, far fewer once the clusters settle', () => {
    const data = clustered(8, 100, 8, 9, 100, 1);
    const km = kmeans({ d: 8, k: 8, iterations: 10, seed: 1 });
    const res = km.train(data.x);
    expect(res.rescanned).toHaveLength(10);
    expect(res.rescanned[0]).toBe(res.nTrain);
    for (const r of res.rescanned) expect(r >= 0 && r <= res.nTrain).toBe(true);
    expect(res.rescanned[9]).toBeLessThan(res.nTrain / 10);
  });

  it.each(INITS)('a fixed point ends the run early with the result the remaining iterations would give (init %s)', (initMode) => {
    // well-separated blobs settle within a few iterations; the iterations after the fixed point are not run but
    // reported: the objective repeated, no points rescanned, one onProgress call each
    const data = clustered(12, 60, 9, 4, 8, 1);
    const d = 9;
    const k = 12;
    const seen: KMeansProgress[] = [];
    const km = kmeans({ d, k, init: initMode, iterations: 40, seed: 2, onProgress: (p) => seen.push(p) });
    const res = km.train(data.x);
    expect(res.objective).toHaveLength(40);
    expect(seen.map((p) => p.iteration)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(seen.map((p) => p.objective)).toEqual(res.objective);
    // the first iteration whose update left the centroids as they were: the objective stays put from there on
    const c = res.objective.findIndex((v, i) => i > 0 && v === res.objective[i - 1]) - 1;
    expect(c, 'precondition: the run reaches a fixed point well before its 40 iterations').toBeGreaterThanOrEqual(0);
    expect(c).toBeLessThan(20);
    for (let i = c + 1; i < 40; i++) expect(res.objective[i]).toBe(res.objective[c]);
    for (let i = c + 2; i < 40; i++) expect(res.rescanned[i]).toBe(0);
    // a shorter run stops at the same centroids, to the bit
    const short = kmeans({ d, k, init: initMode, iterations: c + 2, seed: 2 });
    const rs = short.train(data.x);
    expect(bytes(short.centroids)).toEqual(bytes(km.centroids));
    expect(rs.objective).toEqual(res.objective.slice(0, c + 2));
    // and a real iteration from the final centroids (a fresh run, nothing skipped) changes nothing: same centroid
    // bytes, same objective, same cluster sizes
    const again = kmeans({ d, k, iterations: 1, seed: 2 });
    const ra = again.train(data.x, { initialCentroids: km.centroids });
    expect(bytes(again.centroids)).toEqual(bytes(km.centroids));
    expect(ra.objective[0]).toBe(res.objective[39]);
    expect(Array.from(ra.clusterSizes)).toEqual(Array.from(res.clusterSizes));
  });
});

describe('KMeans: degenerate inputs', () => {
  it.each(INITS)('all points identical: no NaN, every point on a centroid up to the split perturbation (init %s)', (initMode) => {
    const d = 5;
    const n = 60;
    const v = [1.5, -2, 3, 0.25, 7];
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) x.set(v, i * d);
    const km = kmeans({ d, k: 6, init: initMode, iterations: 5, minPointsPerCentroid: 0 });
    const res = km.train(x);
    expect(allFinite(res.objective)).toBe(true);
    const c = km.centroids;
    expect(allFinite(c)).toBe(true);
    const vv = dot64(v, 0, v, 0, d);
    // centroids are copies of the point, moved by at most the relative split step (1/1024) per repair
    for (let j = 0; j < 6; j++) expect(l2sq64(c, j, v, 0, d)).toBeLessThanOrEqual(vv * 1e-4);
    const a = km.assign(x);
    expect(allFinite(a.distances)).toBe(true);
    for (const dist of a.distances) expect(dist).toBeLessThanOrEqual(vv * 1e-4);
    for (const l of a.labels) expect(l >= 0 && l < 6).toBe(true);
    expect(Array.from(res.clusterSizes).reduce((s, c2) => s + c2, 0)).toBe(n);
  });

  it('all points zero: centroids stay exactly zero', () => {
    const x = new Float32Array(40 * 3);
    for (const initMode of INITS) {
      const km = kmeans({ d: 3, k: 4, init: initMode, iterations: 3, minPointsPerCentroid: 0 });
      const res = km.train(x);
      expect(res.objective).toEqual([0, 0, 0]);
      expect(Array.from(km.centroids)).toEqual(new Array(12).fill(0));
    }
  });

  it('many duplicated points: k-means++ puts one centroid on each distinct point; random init stays finite', () => {
    const d = 6;
    const distinct = distinctIntVectors(10, d, 20, -8, 8);
    const rows: Float32Array[] = [];
    for (let c = 0; c < 40; c++) for (let p = 0; p < 10; p++) rows.push(distinct.subarray(((p * 7 + c) % 10) * d, (((p * 7 + c) % 10) + 1) * d));
    const x = concat(...rows);
    const pp = kmeans({ d, k: 10, init: 'kmeans++', iterations: 4 });
    const res = pp.train(x);
    // D^2 seeding never picks a point that already has a centroid on it, so all 10 are hit at once
    expect(res.objective).toEqual([0, 0, 0, 0]);
    const c = pp.centroids;
    const found = new Set<string>();
    for (let j = 0; j < 10; j++) found.add(Array.from(c.subarray(j * d, (j + 1) * d)).join(','));
    const want = new Set<string>();
    for (let p = 0; p < 10; p++) want.add(Array.from(distinct.subarray(p * d, (p + 1) * d)).join(','));
    expect(found).toEqual(want);
    expect(Array.from(pp.assign(x).distances).every((v) => v === 0)).toBe(true);

    const rnd = kmeans({ d, k: 10, init: 'random', iterations: 10 });
    const rr = rnd.train(x);
    expect(allFinite(rr.objective)).toBe(true);
    expect(allFinite(rnd.centroids)).toBe(true);
    for (let i = 1; i < 10; i++) expect(rr.objective[i]).toBeLessThanOrEqual(rr.objective[i - 1] * (1 + 1e-5) + 1e-9);
  });

  it.each(INITS)('k == n with distinct points: every point is its own centroid, at distance 0 (init %s)', (initMode) => {
    const d = 3;
    const n = 40;
    const x = distinctIntVectors(n, d, 30);
    const km = kmeans({ d, k: n, init: initMode, iterations: 3, minPointsPerCentroid: 0 });
    const res = km.train(x);
    expect(res.objective).toEqual([0, 0, 0]);
    expect(res.emptyClustersRepaired).toBe(0);
    const a = km.assign(x);
    expect(Array.from(a.distances)).toEqual(new Array(n).fill(0));
    expect(new Set(a.labels).size).toBe(n);
    expect(Array.from(res.clusterSizes)).toEqual(new Array(n).fill(1));
  });

  it('k == n == 1 and k == 1 work', () => {
    const one = kmeans({ d: 4, k: 1, iterations: 2, minPointsPerCentroid: 0 });
    const res1 = one.train(new Float32Array([1, 2, 3, 4]));
    expect(res1.objective).toEqual([0, 0]);
    expect(Array.from(one.centroids)).toEqual([1, 2, 3, 4]);
    const x = intVectors(33, 4, 31);
    const mean = kmeans({ d: 4, k: 1, iterations: 2, minPointsPerCentroid: 0 });
    mean.train(x);
    const c = mean.centroids;
    for (let t = 0; t < 4; t++) {
      let s = 0;
      for (let i = 0; i < 33; i++) s += x[i * 4 + t];
      expect(c[t]).toBe(Math.fround(s / 33));
    }
  });
});

/** Live blocks and bytes of the engine (the scratch block included: it is reused, not grown, by these runs). */
const memoryStatsNow = () => { const m = memoryStats(); return { blocks: m.liveAllocations, bytes: m.liveBytes }; };

describe('KMeans: dispose() from its own callbacks', () => {
  it('train() then rejects DISPOSED and keeps nothing: no block leaks over repeated runs (onProgress and onWarning)', () => {
    const x = floatVectors(3000, 16, 81);
    const before = memoryStatsNow();
    for (let i = 0; i < 10; i++) {
      for (const hook of ['onProgress', 'onWarning'] as const) {
        let km: KMeans | null = null;
        // (onWarning fires for 3000 points and k = 32 at 200 points a centroid)
        km = new KMeans({ d: 16, k: 32, iterations: 3, seed: i, minPointsPerCentroid: 200, [hook]: () => km!.dispose() });
        let e: unknown;
        try {
          km.train(x);
        } catch (err) {
          e = err;
        }
        expect(e, hook).toBeInstanceOf(VQError);
        expect((e as VQError).code).toBe('DISPOSED');
        expect(km.disposed).toBe(true);
      }
    }
    expect(memoryStatsNow()).toEqual(before);
  });
});

describe('KMeans: seeds', () => {
  it('|seed| <= 2^52: the restarts near the limit are distinct runs; beyond it INVALID_OPTION naming the range', () => {
    const x = floatVectors(600, 3, 77);
    for (const seed of [2 ** 52, -(2 ** 52)]) {
      const km = new KMeans({ d: 3, k: 6, seed, nredo: 3, iterations: 3, init: 'random' });
      try {
        const r = km.train(x);
        // seed, seed + 1, seed + 2: three different random inits (at 2^53 - 1 they were one number, and one run)
        expect(new Set(r.redoObjectives).size, `seed ${seed}`).toBe(3);
      } finally {
        km.dispose();
      }
    }
    for (const seed of [2 ** 52 + 2, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5]) {
      let e: unknown;
      try {
        new KMeans({ d: 3, k: 6, seed }).dispose();
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(VQError);
      expect((e as VQError).code).toBe('INVALID_OPTION');
      expect((e as VQError).message).toMatch(/seed must be an integer in \[-4503599627370496, 4503599627370496\]/);
      // an IVFFlatIndex hands its seed to its coarse KMeans: the same range, refused at construction
      expect(() => new IVFFlatIndex({ d: 3, nlist: 2, seed }).dispose()).toThrow(/new IVFFlatIndex: seed must be an integer in/);
    }
  });
});

describe('KMeans far from the origin', () => {
  const afterDispose: KMeans[] = [];
  afterEach(() => afterDispose.splice(0).forEach((m) => m.dispose()));
  // an audit's case: tight clusters around a common offset; ||x||^2 - 2 <x, c> + ||c||^2 in float32 lost the
  // distances (16 % of assign()'s labels wrong at offset 300, 93 % at 1000, and a training objective near one
  // cluster's); the points are now trained and assigned around their mean
  it.each([100, 1000, 1e5])('offset %d: assign() labels are the exact nearest centroids, the objective that of an exact Lloyd run', (offset) => {
    const d = 32;
    const k = 16;
    const { x: raw } = clustered(50, 60, d, 77, 1, 0.1);
    const x = raw.map((v) => v + offset);
    const n = x.length / d;
    const start = x.slice(0, k * d);
    const km = new KMeans({ d, k, iterations: 10, minPointsPerCentroid: 0 });
    afterDispose.push(km);
    const r = km.train(x, { initialCentroids: start });
    // an exact (float64) Lloyd run from the same start
    let c = Float32Array.from(start);
    let obj = 0;
    for (let it = 0; it < 10; it++) {
      const step = lloydIteration(x, n, d, c, k);
      obj = step.objective;
      c = step.centroids;
    }
    expect(Math.abs(r.objective[9] - obj) / obj).toBeLessThan(1e-3);
    const cent = km.centroids;
    const got = km.assign(x).labels;
    const want = assignNearest(x, n, d, cent, k).labels;
    expect(Array.from(got)).toEqual(Array.from(want));
    // saved and loaded: the same bytes, centroids and labels
    const back = KMeans.load(km.save());
    afterDispose.push(back);
    expect(back.save()).toEqual(km.save());
    expect(back.centroids).toEqual(cent);
    expect(back.assign(x).labels).toEqual(got);
  });

  it('near the origin nothing changes: no center is saved (the model trains on the points as they are)', () => {
    const d = 8;
    const x = floatVectors(2000, d, 5);
    const km = new KMeans({ d, k: 8, iterations: 5 });
    afterDispose.push(km);
    km.train(x);
    expect(readContainer('t', km.save(), 'KMeans').sections.has('CNTR')).toBe(false);
    const far = new KMeans({ d, k: 8, iterations: 5 });
    afterDispose.push(far);
    far.train(x.map((v) => v + 500));
    const c = readContainer('t', far.save(), 'KMeans');
    expect(c.sections.has('CNTR') && c.sections.has('CENC')).toBe(true);
    // CENT keeps its meaning (the centroids) for a reader that knows neither
    const cent = c.sections.get('CENT')!;
    expect(new Float32Array(cent.buffer.slice(cent.byteOffset, cent.byteOffset + cent.byteLength))).toEqual(far.centroids);
  });
});

describe('KMeans.assign', () => {
  it('equals the brute-force nearest centroid, lowest index on ties, exactly on integer centroids', () => {
    // k == n on distinct integer points makes the centroids the (integer) points themselves; integer queries then
    // hit many exact ties, which must go to the lowest centroid index
    const d = 3;
    const n = 40;
    const x = distinctIntVectors(n, d, 40, -4, 4);
    const km = kmeans({ d, k: n, iterations: 2, minPointsPerCentroid: 0 });
    km.train(x);
    const c = km.centroids;
    expect(c.every((v) => Number.isInteger(v))).toBe(true);
    const q = intVectors(2000, d, 41, -5, 5);
    const a = km.assign(q);
    const ref = assignNearest(q, 2000, d, c, n);
    expect(Array.from(a.labels)).toEqual(Array.from(ref.labels));
    expect(Array.from(a.distances)).toEqual(Array.from(ref.dist));
    // ties really happened
    let ties = 0;
    for (let i = 0; i < 2000; i++) {
      let hits = 0;
      for (let j = 0; j < n; j++) if (l2sq64(q, i, c, j, d) === ref.dist[i]) hits++;
      if (hits > 1) ties++;
    }
    expect(ties).toBeGreaterThan(100);
  });

  it('on trained float centroids, returns a nearest centroid and its distance (within 1e-5)', () => {
    for (const d of [1, 5, 16, 33]) {
      const data = clustered(6, 80, d, 50 + d, 4, 1);
      const k = 9;
      const km = kmeans({ d, k, iterations: 10 });
      km.train(data.x);
      const c = km.centroids;
      const q = floatVectors(301, d, 60 + d, 5);
      const a = km.assign(q);
      expect(a.labels).toBeInstanceOf(Int32Array);
      expect(a.distances).toBeInstanceOf(Float32Array);
      expect(a.labels.length).toBe(301);
      const ref = assignNearest(q, 301, d, c, k);
      for (let i = 0; i < 301; i++) {
        const l = a.labels[i];
        const scale = dot64(q, i, q, i, d) + dot64(c, l, c, l, d);
        expect(Math.abs(l2sq64(q, i, c, l, d) - ref.dist[i]), `d=${d} point ${i}`).toBeLessThanOrEqual(1e-5 * scale);
        expect(Math.abs(a.distances[i] - ref.dist[i]), `d=${d} point ${i}`).toBeLessThanOrEqual(1e-5 * scale);
        expect(a.distances[i]).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

describe('KMeans: planted clusters', () => {
  it('8 well-separated blobs: the objective reaches the planted optimum and each blob gets its own centroid', () => {
    const d = 8;
    const k = 8;
    const per = 200;
    const data = clustered(k, per, d, 70, 100, 1);
    // precondition: centres far apart relative to the noise
    for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) expect(Math.sqrt(l2sq64(data.centers, a, data.centers, b, d))).toBeGreaterThan(30);
    const n = k * per;
    // the planted optimum: every point to the empirical mean of its blob
    const means = new Float64Array(k * d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) means[data.labels[i] * d + t] += data.x[i * d + t] / per;
    let planted = 0;
    for (let i = 0; i < n; i++) planted += l2sq64(data.x, i, means, data.labels[i], d);

    const km = kmeans({ d, k, seed: 1 });
    const res = km.train(data.x);
    const final = res.objective[res.objective.length - 1];
    expect(final).toBeLessThanOrEqual(planted * 1.03);
    expect(final).toBeGreaterThanOrEqual(planted * (1 - 1e-4));
    const a = km.assign(data.x);
    const blobToCentroid = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const b = data.labels[i];
      if (!blobToCentroid.has(b)) blobToCentroid.set(b, a.labels[i]);
      expect(a.labels[i], `point ${i} of blob ${b}`).toBe(blobToCentroid.get(b));
    }
    expect(new Set(blobToCentroid.values()).size).toBe(k);
    expect(Array.from(res.clusterSizes).sort()).toEqual(new Array(k).fill(per));
  });
});

describe('KMeans options', () => {
  it('maxPointsPerCentroid subsamples the training set (nTrain reported, with a warning)', () => {
    const d = 4;
    const x = floatVectors(1000, d, 80);
    const warnings: string[] = [];
    const km = kmeans({ d, k: 4, maxPointsPerCentroid: 100, onWarning: (m) => warnings.push(m), iterations: 3 });
    const res = km.train(x);
    expect(res.nTrain).toBe(400);
    expect(Array.from(res.clusterSizes).reduce((s, v) => s + v, 0)).toBe(400);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('sampling 400 of 1000');
    expect(res.warnings).toEqual(warnings);
    // the objective sums over the 400 sampled points only: well below the cost of all 1000 points
    const all = cost(x, d, km.centroids, 4);
    expect(res.objective[2]).toBeLessThan(all * 0.6);

    const full = kmeans({ d, k: 4, iterations: 3 }); // default 256 per centroid: 1000 <= 1024, no sampling
    const rf = full.train(x);
    expect(rf.nTrain).toBe(1000);
    expect(rf.warnings).toEqual([]);
    expect(Array.from(rf.clusterSizes).reduce((s, v) => s + v, 0)).toBe(1000);
  });

  it('warns through onWarning when n < minPointsPerCentroid * k (39 by default), and only then', () => {
    const d = 3;
    const got: string[] = [];
    const km = kmeans({ d, k: 5, iterations: 2, onWarning: (m) => got.push(m) });
    const res = km.train(floatVectors(100, d, 90));
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('100 training points for 5 centroids');
    expect(got[0]).toContain('195');
    expect(res.warnings).toEqual(got);

    got.length = 0;
    expect(km.train(floatVectors(195, d, 91)).warnings).toEqual([]); // exactly 39 per centroid
    expect(got).toEqual([]);
    const quiet = kmeans({ d, k: 5, iterations: 2, minPointsPerCentroid: 0, onWarning: (m) => got.push(m) });
    quiet.train(floatVectors(20, d, 92));
    expect(got).toEqual([]);
  });

  it('onProgress is called once per iteration of every run, with the objectives of the run', () => {
    const d = 5;
    const x = clustered(4, 60, d, 100, 5, 1).x;
    const calls: KMeansProgress[] = [];
    const km = kmeans({ d, k: 4, iterations: 7, nredo: 2, init: 'random', onProgress: (p) => calls.push({ ...p }) });
    const res = km.train(x);
    expect(calls.map((c) => [c.redo, c.iteration, c.iterations])).toEqual([
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => [0, i, 7]),
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => [1, i, 7]),
    ]);
    const kept = calls.filter((c) => c.redo === res.bestRedo).map((c) => c.objective);
    expect(kept).toEqual(res.objective);
    expect(calls.filter((c) => c.iteration === 7).map((c) => c.objective)).toEqual(res.redoObjectives);
  });

  it('nredo keeps the best run: final objective = min of redoObjectives, and its centroids', () => {
    const d = 8;
    // random init on blobs often merges two of them: runs end in different local optima
    const data = clustered(8, 50, d, 110, 20, 1);
    const km = kmeans({ d, k: 8, nredo: 6, init: 'random', iterations: 15, seed: 2 });
    const res = km.train(data.x);
    expect(res.redoObjectives).toHaveLength(6);
    const best = Math.min(...res.redoObjectives);
    expect(new Set(res.redoObjectives).size).toBeGreaterThan(1); // precondition: the runs differ
    expect(res.redoObjectives[res.bestRedo]).toBe(best);
    expect(res.objective[res.objective.length - 1]).toBe(best);
    // the kept centroids are the best run's: one more assignment costs no more than its final objective
    expect(cost(data.x, d, km.centroids, 8)).toBeLessThanOrEqual(best * (1 + 1e-5));
  });

  it('nredo runs are the runs of seeds seed, seed + 1, ... (as KMeansOptions.nredo documents)', () => {
    const d = 8;
    const data = clustered(8, 50, d, 120, 20, 1);
    const opts = { d, k: 8, init: 'random', iterations: 6 } as const;
    const multi = kmeans({ ...opts, nredo: 3, seed: 40 });
    const res = multi.train(data.x);
    for (let r = 0; r < 3; r++) {
      const single = kmeans({ ...opts, seed: 40 + r }).train(data.x);
      expect(res.redoObjectives[r], `run ${r} vs seed ${40 + r}`).toBe(single.objective[5]);
    }
  });

  it('spherical gives unit-norm centroids', () => {
    const d = 12;
    const x = floatVectors(600, d, 130, 1, 0.3);
    for (const initMode of INITS) {
      const km = kmeans({ d, k: 7, spherical: true, init: initMode, iterations: 6 });
      km.train(x);
      const c = km.centroids;
      for (let j = 0; j < 7; j++) expect(Math.abs(Math.sqrt(dot64(c, j, c, j, d)) - 1), `centroid ${j}`).toBeLessThan(1e-5);
    }
    // and not without it
    const plain = kmeans({ d, k: 7, iterations: 6 });
    plain.train(x);
    const c = plain.centroids;
    expect(Array.from({ length: 7 }, (_, j) => Math.abs(Math.sqrt(dot64(c, j, c, j, d)) - 1)).some((e) => e > 1e-2)).toBe(true);
  });
});

describe('KMeans: k-means++ on a subsample (initPointsPerCentroid)', () => {
  /**
   * The seeds as KMeans documents them, in plain TypeScript: run 0 draws with Rng(seed + 1) a sorted uniform sample
   * of min(n, initPointsPerCentroid * k) points (none when that is all of them), centroid 0 uniformly from it, then
   * k - 1 D^2 draws from it.
   */
  function referenceSeeds(x: Float32Array, d: number, k: number, seed: number, perCentroid: number): Float32Array {
    const n = x.length / d;
    const rng = new Rng(seed + 1);
    const ns = Math.min(n, perCentroid * k);
    let xs = x;
    if (ns < n) {
      const idx = rng.sortedSample(n, ns);
      xs = new Float32Array(ns * d);
      idx.forEach((i, r) => xs.set(x.subarray(i * d, (i + 1) * d), r * d));
    }
    const cent = new Float32Array(k * d);
    const row = (i: number) => xs.subarray(i * d, (i + 1) * d);
    cent.set(row(rng.nextInt(ns)), 0);
    const min = new Float32Array(ns);
    let total = minL2Update(xs, ns, d, cent.subarray(0, d), min, true);
    for (let j = 1; j < k; j++) {
      const i = total > 0 ? cumulativeSearch(min, ns, rng.nextFloat() * total) : rng.nextInt(ns);
      cent.set(row(i), j * d);
      total = minL2Update(xs, ns, d, cent.subarray(j * d, (j + 1) * d), min, false);
    }
    return cent;
  }

  it.each([
    { perCentroid: undefined, n: 3000, d: 7, k: 12 }, // default 16: 192 of 3000 points
    { perCentroid: 5, n: 2000, d: 17, k: 30 }, // 150 of 2000
    { perCentroid: 1, n: 500, d: 3, k: 20 }, // the sample is k points: each becomes a centroid
    { perCentroid: 256, n: 2000, d: 5, k: 10 }, // >= n / k: every point, no sample drawn
  ])('one iteration from the seeds drawn on the subsample is the reference Lloyd step from the reference seeds (per centroid $perCentroid, n $n, k $k)', ({ perCentroid, n, d, k }) => {
    const x = floatVectors(n, d, 90 + k);
    const km = kmeans({ d, k, iterations: 1, seed: 11, initPointsPerCentroid: perCentroid });
    expect(km.initPointsPerCentroid).toBe(perCentroid ?? 16);
    expect(km.train(x).nSeed).toBe(Math.min(n, (perCentroid ?? 16) * k));
    const seeds = referenceSeeds(x, d, k, 11, perCentroid ?? 16);
    const ref = lloydIteration(x, n, d, seeds, k);
    expect(ref.empty).toBe(0); // precondition: no repair after the step
    const c = km.centroids;
    for (let i = 0; i < k * d; i++) expect(Math.abs(c[i] - ref.centroids[i]), `centroid value ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref.centroids[i])));
    // and the subsample matters: seeding on every point gives other centroids (unless the sample is every point)
    const all = kmeans({ d, k, iterations: 1, seed: 11, initPointsPerCentroid: 256 });
    expect(all.train(x).nSeed).toBe(n);
    expect(kmeans({ d, k, iterations: 1, init: 'random' }).train(x).nSeed).toBe(0);
    if ((perCentroid ?? 16) * k < n) expect(all.centroids).not.toEqual(c);
    else expect(all.centroids).toEqual(c);
  });

  it('refuses a bad value; saves and loads it; files written before it seed on every point', () => {
    for (const bad of [0, -3, 1.5, Number.NaN, Infinity, '8']) {
      expect(() => new KMeans({ d: 4, k: 2, initPointsPerCentroid: bad as number })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('initPointsPerCentroid') }));
    }
    const x = floatVectors(2000, 6, 93);
    const km = kmeans({ d: 6, k: 8, iterations: 2, seed: 2, initPointsPerCentroid: 7 });
    km.train(x);
    const back = KMeans.load(km.save());
    live.push(back);
    expect(back.initPointsPerCentroid).toBe(7);
    back.train(x);
    expect(back.centroids).toEqual(km.centroids);
    // a file without the param (as written before it existed): every training point, as those versions seeded
    const c = readContainer('test', km.save(), 'KMeans');
    const { initPointsPerCentroid: _, ...params } = c.params as Record<string, unknown>;
    const old = KMeans.load(writeContainer('KMeans', params, [...c.sections].map(([tag, data]) => ({ tag, data: data.slice() }))));
    live.push(old);
    expect(old.initPointsPerCentroid).toBeGreaterThanOrEqual(old.maxPointsPerCentroid);
    const every = kmeans({ d: 6, k: 8, iterations: 2, seed: 2, initPointsPerCentroid: 256 });
    every.train(x);
    old.train(x);
    expect(old.centroids).toEqual(every.centroids);
    expect(old.centroids).not.toEqual(km.centroids);
  });
});
