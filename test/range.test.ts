// FlatIndex.rangeSearch (Faiss range_search): every vector within the radius, best first, with the distances search()
// gives for the same pairs; checked against search(q, size) (which orders everything) and against float64 distances,
// across dims that hit every SIMD tail, several score blocks, filters, ids, removals and bad arguments.
import { beforeAll, describe, expect, it } from 'vitest';
import { BinaryIndex, FlatIndex, init, IVFFlatIndex, IVFPQIndex, PQIndex, RQIndex, SQIndex } from '../dist/index.js';
import { bestFirst } from '../dist/search/range.js';
import { dot64, l2sq64, normalizeRows } from './reference/distance.js';
import { TestRng } from './helpers/rng.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { codeOf } from './helpers/refusals.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

const METRICS = ['l2', 'ip', 'cosine'] as const;

/** The hits search(q, size) implies: its rows cut where the distance stops being within r. */
type Searchable = { size: number; search(q: Float32Array, k: number, o?: Record<string, unknown>): { ids: Int32Array; distances: Float32Array } };

function fromSearch(
  index: Searchable, q: Float32Array, nq: number, r: number, l2: boolean, options: Record<string, unknown> = {},
): { lims: number[]; ids: number[]; distances: number[] } {
  const n = index.size;
  const all = index.search(q, n, options);
  const lims = [0];
  const ids: number[] = [];
  const distances: number[] = [];
  for (let i = 0; i < nq; i++) {
    for (let t = 0; t < n; t++) {
      const v = all.distances[i * n + t];
      if (!(l2 ? v < r : v > r)) break;
      ids.push(all.ids[i * n + t]);
      distances.push(v);
    }
    lims.push(ids.length);
  }
  return { lims, ids, distances };
}

type RangeIndex = Searchable & {
  rangeSearch(q: Float32Array, r: number, o?: Record<string, unknown>): { lims: Int32Array; ids: Int32Array; distances: Float32Array };
  remove(ids: Int32Array): number;
};

/**
 * An index of n vectors with ids 3 i + 7, more than one score block: the hits equal search() cut at r; filters
 * (exclude per query, allow as ids and as a bitset) drop exactly the filtered hits; removed ids leave the ranges.
 */
function blocksFiltersRemoval(index: RangeIndex, q: Float32Array, nq: number, r: number, n: number, l2: boolean): void {
  const got = index.rangeSearch(q, r);
  const want = fromSearch(index, q, nq, r, l2);
  expect(Array.from(got.ids)).toEqual(want.ids);
  expect(Array.from(got.distances)).toEqual(want.distances);
  expect(got.ids.some((id) => (id - 7) / 3 >= 8192)).toBe(true); // hits from the second block
  const exclude = Array.from({ length: nq }, (_, i) => got.ids.subarray(got.lims[i], got.lims[i] + 5));
  const allowIds = Int32Array.from({ length: Math.ceil(n / 2) }, (_, i) => 6 * i + 7);
  const bits = new Uint8Array(((3 * (n - 1) + 7) >> 3) + 1); // up to the largest id, 3 (n - 1) + 7
  for (const id of allowIds) bits[id >> 3] |= 1 << (id & 7);
  for (const [opts, keep] of [
    [{ exclude }, (i: number, id: number) => !exclude[i].includes(id)],
    [{ allow: allowIds }, (_i: number, id: number) => ((id - 7) / 3) % 2 === 0],
    [{ allow: bits, exclude }, (i: number, id: number) => ((id - 7) / 3) % 2 === 0 && !exclude[i].includes(id)],
  ] as const) {
    const f = index.rangeSearch(q, r, opts);
    for (let i = 0; i < nq; i++) {
      const all = Array.from(got.ids.subarray(got.lims[i], got.lims[i + 1]));
      expect(Array.from(f.ids.subarray(f.lims[i], f.lims[i + 1]))).toEqual(all.filter((id) => keep(i, id)));
    }
  }
  const gone = got.ids.subarray(got.lims[0], got.lims[0] + 10);
  index.remove(gone);
  const after = index.rangeSearch(q, r);
  expect(Array.from(after.ids.subarray(after.lims[0], after.lims[1]))).toEqual(Array.from(got.ids.subarray(got.lims[0] + 10, got.lims[1])));
}

/** index.rangeSearch(q, r) equals search() cut at r (lims, ids and distances, bit for bit); returns the range result. */
function matchesSearch(index: RangeIndex, q: Float32Array, nq: number, r: number, l2: boolean, options: Record<string, unknown> = {}) {
  const got = index.rangeSearch(q, r, options);
  const want = fromSearch(index, q, nq, r, l2, options);
  expect(Array.from(got.lims), `radius ${r}`).toEqual(want.lims);
  expect(Array.from(got.ids)).toEqual(want.ids);
  expect(Array.from(got.distances)).toEqual(want.distances);
  return got;
}

function r30Of(index: IVFFlatIndex, q: Float32Array, d: number): number {
  return index.search(q.subarray(0, d), 30, { nprobe: 6 }).distances[29];
}

describe('the order of a query\'s hits (bestFirst)', () => {
  // rangeSearch orders each query's hits by a native sort of integer keys built from the float32 bits; checked here
  // against the comparator it replaced (distance, then position), on distances with many ties, zeros of both signs,
  // negatives, subnormals and extremes, and through the comparator path it keeps for 2^21 hits and more (keyLimit)
  const pick = [0, -0, 1, -1, 0.5, -2.5, 1e-45, -1e-45, 3.4e38, -3.4e38, 1.17549435e-38];
  for (const l2 of [true, false]) {
    it.each([1, 2, 3, 17, 200, 3000])(`${l2 ? 'l2' : 'similarities'}: ${'%i'} hits in the comparator's order`, (h) => {
      const rng = new TestRng(41 + h + (l2 ? 0 : 7));
      for (const keyLimit of [2 ** 21, 4]) {
        const dist = Array.from({ length: h }, () => Math.fround(rng.int(0, 3) === 0 ? pick[rng.int(0, pick.length - 1)] : rng.int(-20, 20) / 4));
        const pos = Array.from(rng.permutation(h), (p) => 3 * p + 1);
        const want = Array.from(pos.keys()).sort((a, b) => (l2 ? dist[a] - dist[b] : dist[b] - dist[a]) || pos[a] - pos[b]);
        expect(Array.from(bestFirst(dist, pos, l2, keyLimit)), `keyLimit ${keyLimit}`).toEqual(want);
      }
    });
  }
});

describe('FlatIndex.rangeSearch', () => {
  it.each(METRICS.flatMap((metric) => [1, 3, 5, 7, 17, 33, 64, 100].map((d) => ({ metric, d }))))(
    'equals search() cut at the radius, and float64 distances agree, metric $metric, d = $d',
    ({ metric, d }) => {
      const n = 700;
      const x = floatVectors(n, d, 40 + d);
      const q = floatVectors(9, d, 41 + d);
      const index = track(new FlatIndex({ d, metric }));
      index.add(x);
      const l2 = metric === 'l2';
      // a radius that takes about 30 vectors of query 0 (its 30th distance, and the ties with it)
      const r30 = index.search(q.subarray(0, d), 30).distances[29];
      const r = l2 ? r30 * (1 + 1e-6) + 1e-12 : r30 - 1e-6 * Math.abs(r30) - 1e-12;
      const got = index.rangeSearch(q, r);
      const want = fromSearch(index, q, 9, r, l2);
      expect(Array.from(got.lims)).toEqual(want.lims);
      expect(Array.from(got.ids)).toEqual(want.ids);
      expect(Array.from(got.distances)).toEqual(want.distances);
      expect(got.lims[1]).toBeGreaterThan(20);
      // independently: float64 distances inside the radius (up to float32 rounding) for hits, outside for the others
      const xs = metric === 'cosine' ? x.slice() : x;
      const qs = metric === 'cosine' ? q.slice() : q;
      if (metric === 'cosine') {
        normalizeRows(xs, n, d);
        normalizeRows(qs, 9, d);
      }
      for (let i = 0; i < 9; i++) {
        const inside = new Set(Array.from(got.ids.subarray(got.lims[i], got.lims[i + 1])));
        for (let j = 0; j < n; j++) {
          const v = l2 ? l2sq64(qs, i, xs, j, d) : dot64(qs, i, xs, j, d);
          const tol = 1e-5 * (1 + Math.abs(v) + Math.abs(r));
          if (inside.has(j)) expect(l2 ? v < r + tol : v > r - tol, `query ${i}, vector ${j} inside`).toBe(true);
          else expect(l2 ? v >= r - tol : v <= r + tol, `query ${i}, vector ${j} outside`).toBe(true);
        }
      }
    },
  );

  it('several score blocks (n over 8192), ids given, filters, a removal', () => {
    const d = 5;
    const n = 9000;
    const x = floatVectors(n, d, 50);
    const q = floatVectors(6, d, 51);
    const ids = Int32Array.from({ length: n }, (_, i) => 3 * i + 7);
    const index = track(new FlatIndex({ d }));
    index.add(x, ids);
    blocksFiltersRemoval(index, q, 6, index.search(q.subarray(0, d), 200).distances[199], n, true);
  });

  it.each(METRICS)('a radius between two float32 values compares as the number it is, metric %s', (metric) => {
    const d = 6;
    const index = track(new FlatIndex({ d, metric }));
    index.add(floatVectors(300, d, 70));
    const q = floatVectors(1, d, 71);
    const top = index.search(q, 12);
    const v = top.distances[5]; // a float32
    const l2 = metric === 'l2';
    // just past v, towards the outside of the range, by less than half a float32 step: it rounds back to v
    const r = l2 ? v + Math.abs(v) * 2 ** -30 : v - Math.abs(v) * 2 ** -30;
    expect(Math.fround(r)).toBe(v);
    const got = index.rangeSearch(q, r);
    // v itself is within r (v < r for l2, v > r for similarities): 6 hits (more only on exact ties with v)
    let want = 6;
    while (want < 12 && top.distances[want] === v) want++;
    expect(got.lims[1]).toBe(want);
    expect(Array.from(got.ids)).toEqual(Array.from(top.ids.subarray(0, want)));
    // and the float32 v itself as the radius leaves it out
    expect(index.rangeSearch(q, v).lims[1]).toBe(top.distances.indexOf(v));
  });

  it.each([
    { metric: 'l2' as const, d: 7 },
    { metric: 'ip' as const, d: 33 },
  ])('IVFFlatIndex: the probed lists cut at the radius, as search() orders them, metric $metric, d = $d', ({ metric, d }) => {
    const n = 900;
    const x = floatVectors(n, d, 80 + d);
    const q = floatVectors(7, d, 81 + d);
    const index = track(new IVFFlatIndex({ d, nlist: 6, metric, seed: 3 }));
    index.train(x);
    index.add(x, Int32Array.from({ length: n }, (_, i) => 2 * i + 1));
    const l2 = metric === 'l2';
    for (const nprobe of [1, 3, 6]) {
      const r30 = index.search(q.subarray(0, d), 30, { nprobe: 6 }).distances[29];
      const got = index.rangeSearch(q, r30, { nprobe });
      const want = fromSearch(index, q, 7, r30, l2, { nprobe });
      expect(Array.from(got.lims), `nprobe ${nprobe}`).toEqual(want.lims);
      expect(Array.from(got.ids)).toEqual(want.ids);
      expect(Array.from(got.distances)).toEqual(want.distances);
      // every list probed: the hits are FlatIndex's (by ids; the two score in different forms, so the ids are
      // compared away from the boundary only)
      if (nprobe === 6) {
        const flat = track(new FlatIndex({ d, metric }));
        flat.add(x, Int32Array.from({ length: n }, (_, i) => 2 * i + 1));
        const f = flat.rangeSearch(q, r30);
        for (let i = 0; i < 7; i++) {
          const a = new Set(got.ids.subarray(got.lims[i], got.lims[i + 1]));
          for (let t = f.lims[i]; t < f.lims[i + 1]; t++) {
            if (Math.abs(f.distances[t] - r30) > 1e-4 * (1 + Math.abs(r30))) expect(a.has(f.ids[t])).toBe(true);
          }
        }
      }
    }
    expect(codeOf(() => index.rangeSearch(q, r30Of(index, q, d), { nprobe: 7 }))).toBe('INVALID_OPTION');
    const untrained = track(new IVFFlatIndex({ d, nlist: 6 }));
    expect(codeOf(() => untrained.rangeSearch(q, 1))).toBe('NOT_TRAINED');
  });

  it('an empty index, a radius nothing is within, and bad arguments', () => {
    const d = 4;
    const index = track(new FlatIndex({ d }));
    const q = floatVectors(3, d, 60);
    expect(Array.from(index.rangeSearch(q, 10).lims)).toEqual([0, 0, 0, 0]);
    index.add(floatVectors(50, d, 61));
    const none = index.rangeSearch(q, 0);
    expect(Array.from(none.lims)).toEqual([0, 0, 0, 0]);
    expect(none.ids.length).toBe(0);
    for (const bad of [NaN, Infinity, '1', null]) expect(codeOf(() => index.rangeSearch(q, bad as number))).toBe('INVALID_OPTION');
    expect(codeOf(() => index.rangeSearch(q.subarray(0, 3), 1))).toBe('INVALID_SIZE');
    expect(codeOf(() => index.rangeSearch(q, 1, { exclude: [] }))).toBe('INVALID_SIZE');
    index.dispose();
    expect(codeOf(() => index.rangeSearch(q, 1))).toBe('DISPOSED');
  });
});

// The exhaustive code indexes: the same contract over their code distances (search() without re-ranking), for every
// scan flavour: 8-bit ADC, bit-packed codes, OPQ, fast-scan (l2 and Faiss's ip tables), scalar codes of each type
// (the integer scan at d % 16 == 0 returns float-scan distances, which rangeSearch uses), Hamming.
describe('rangeSearch of PQIndex, SQIndex and BinaryIndex', () => {
  type Case = { name: string; d: number; make: () => PQIndex | SQIndex | BinaryIndex; l2: boolean };
  const CASES: Case[] = [
    { name: 'PQ 7x8 l2', d: 7, make: () => new PQIndex({ d: 7, m: 7, seed: 1 }), l2: true },
    { name: 'PQ 11x8 ip', d: 33, make: () => new PQIndex({ d: 33, m: 11, metric: 'ip', seed: 2 }), l2: false },
    { name: 'PQ 8x6 l2 (bit-packed)', d: 16, make: () => new PQIndex({ d: 16, m: 8, nbits: 6, seed: 3 }), l2: true },
    { name: 'OPQ 4x8 l2', d: 16, make: () => new PQIndex({ d: 16, m: 4, opq: true, seed: 4 }), l2: true },
    { name: 'PQ 16x8 ip (four queries a pass)', d: 32, make: () => new PQIndex({ d: 32, m: 16, metric: 'ip', seed: 8 }), l2: false },
    { name: 'PQ 16x4 fast-scan l2', d: 32, make: () => new PQIndex({ d: 32, m: 16, nbits: 4, seed: 5 }), l2: true },
    { name: 'PQ 11x4 fast-scan ip', d: 33, make: () => new PQIndex({ d: 33, m: 11, nbits: 4, metric: 'ip', seed: 6 }), l2: false },
    { name: 'PQ 5x4 float scan of 4-bit codes', d: 5, make: () => new PQIndex({ d: 5, m: 5, nbits: 4, fastScan: false, seed: 7 }), l2: true },
    { name: 'SQ uint8 l2 d16 (integer scan)', d: 16, make: () => new SQIndex({ d: 16, type: 'uint8' }), l2: true },
    { name: 'SQ int8 ip d33', d: 33, make: () => new SQIndex({ d: 33, type: 'int8', metric: 'ip' }), l2: false },
    { name: 'SQ int4 l2 d7', d: 7, make: () => new SQIndex({ d: 7, type: 'int4' }), l2: true },
    { name: 'SQ int4 ip d32 (integer scan)', d: 32, make: () => new SQIndex({ d: 32, type: 'int4', metric: 'ip' }), l2: false },
    { name: 'SQ fp16 ip d5', d: 5, make: () => new SQIndex({ d: 5, type: 'fp16', metric: 'ip' }), l2: false },
    { name: 'Binary d33', d: 33, make: () => new BinaryIndex({ d: 33 }), l2: true },
    { name: 'Binary d64 ip, refine (Hamming ranges)', d: 64, make: () => new BinaryIndex({ d: 64, metric: 'ip', refine: true }), l2: true },
  ];

  it.each(CASES)('equals search() cut at the radius: $name', ({ d, make, l2 }) => {
    const n = 900;
    const x = floatVectors(n, d, 90 + d);
    const q = floatVectors(7, d, 91 + d);
    const index = track(make());
    index.train(x);
    index.add(x, Int32Array.from({ length: n }, (_, i) => 5 * i + 2));
    for (const k of [30, 300]) {
      const got = matchesSearch(index, q, 7, index.search(q.subarray(0, d), k).distances[k - 1], l2);
      expect(got.lims[1]).toBeGreaterThan(k / 4); // (Hamming distances tie in large groups)
    }
  });

  it.each([
    { name: 'PQ fast-scan', make: (d: number) => new PQIndex({ d, m: 4, nbits: 4, seed: 1 }) },
    { name: 'PQ 8-bit ip', make: (d: number) => new PQIndex({ d, m: 4, metric: 'ip', seed: 1 }) },
    { name: 'SQ int8', make: (d: number) => new SQIndex({ d, type: 'int8' }) },
    { name: 'Binary', make: (d: number) => new BinaryIndex({ d }) },
  ])('several score blocks (n over 8192), ids, filters, a removal, empty and untrained: $name', ({ make }) => {
    const d = 8;
    const n = 9000;
    const x = floatVectors(n, d, 95);
    const q = floatVectors(5, d, 96);
    const ids = Int32Array.from({ length: n }, (_, i) => 3 * i + 7);
    const untrained = track(make(d));
    expect(codeOf(() => untrained.rangeSearch(q, 1))).toBe('NOT_TRAINED');
    const index = track(make(d));
    index.train(x);
    const l2 = !(index instanceof PQIndex && index.metric === 'ip');
    expect(Array.from(index.rangeSearch(q, l2 ? 1e9 : -1e9).lims)).toEqual([0, 0, 0, 0, 0, 0]); // empty
    index.add(x, ids);
    blocksFiltersRemoval(index, q, 5, index.search(q.subarray(0, d), 400).distances[399], n, l2);
    for (const bad of [NaN, Infinity, '1']) expect(codeOf(() => index.rangeSearch(q, bad as number))).toBe('INVALID_OPTION');
    expect(codeOf(() => index.rangeSearch(q.subarray(0, 3), 1))).toBe('INVALID_SIZE');
    expect(codeOf(() => index.rangeSearch(q, 1, { rerank: 10 } as object))).toBe('INVALID_OPTION');
    index.dispose();
    expect(codeOf(() => index.rangeSearch(q, 1))).toBe('DISPOSED');
  });
});

describe('IVFPQIndex.rangeSearch', () => {
  it.each([
    { name: '16x8 l2', d: 32, o: { m: 16 }, l2: true },
    { name: '11x8 ip', d: 33, o: { m: 11, metric: 'ip' as const }, l2: false },
    { name: '8x6 l2 (bit-packed)', d: 16, o: { m: 8, nbits: 6 }, l2: true },
    { name: '4x8 OPQ l2', d: 16, o: { m: 4, opq: true }, l2: true },
    { name: '16x4 fast-scan l2', d: 32, o: { m: 16, nbits: 4 }, l2: true },
    { name: '11x4 fast-scan ip', d: 33, o: { m: 11, nbits: 4, metric: 'ip' as const }, l2: false },
    { name: '7x8 l2, d 7', d: 7, o: { m: 7 }, l2: true },
  ])('the probed lists cut at the radius, as search() orders them: $name', ({ d, o, l2 }) => {
    const n = 1500;
    const x = floatVectors(n, d, 100 + d);
    const q = floatVectors(6, d, 101 + d);
    const index = track(new IVFPQIndex({ d, nlist: 5, seed: 9, ...o }));
    index.train(x);
    index.add(x, Int32Array.from({ length: n }, (_, i) => 4 * i + 1));
    for (const nprobe of [1, 3, 5]) {
      const r = index.search(q.subarray(0, d), 40, { nprobe: 5 }).distances[39];
      const got = index.rangeSearch(q, r, { nprobe });
      const want = fromSearch(index, q, 6, r, l2, { nprobe });
      expect(Array.from(got.lims), `nprobe ${nprobe}`).toEqual(want.lims);
      expect(Array.from(got.ids)).toEqual(want.ids);
      expect(Array.from(got.distances)).toEqual(want.distances);
      if (nprobe === 5) expect(got.lims[1]).toBeGreaterThan(20);
    }
    // filters: the unfiltered hits without the filtered ids
    const all = index.rangeSearch(q, index.search(q.subarray(0, d), 40, { nprobe: 5 }).distances[39], { nprobe: 5 });
    const exclude = Array.from({ length: 6 }, (_, i) => all.ids.subarray(all.lims[i], all.lims[i] + 3));
    const f = index.rangeSearch(q, index.search(q.subarray(0, d), 40, { nprobe: 5 }).distances[39], { nprobe: 5, exclude });
    for (let i = 0; i < 6; i++) {
      expect(Array.from(f.ids.subarray(f.lims[i], f.lims[i + 1]))).toEqual(Array.from(all.ids.subarray(all.lims[i] + 3, all.lims[i + 1])));
    }
    expect(codeOf(() => index.rangeSearch(q, 1, { nprobe: 6 }))).toBe('INVALID_OPTION');
    const untrained = track(new IVFPQIndex({ d, nlist: 5, ...o }));
    expect(codeOf(() => untrained.rangeSearch(q, 1))).toBe('NOT_TRAINED');
    index.reset();
    expect(Array.from(index.rangeSearch(q, l2 ? 1e9 : -1e9).lims)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('RQIndex.rangeSearch', () => {
  it.each([
    { name: '4 x 8 l2', d: 16, o: { levels: 4 }, l2: true },
    { name: '3 x 6 ip', d: 33, o: { levels: 3, nbits: 6, metric: 'ip' as const }, l2: false },
    { name: '4 x 8 ip (four queries a pass)', d: 20, o: { levels: 4, metric: 'ip' as const }, l2: false },
    { name: '2 x 8 l2, 4-bit norms', d: 7, o: { levels: 2, normBits: 4 }, l2: true },
    { name: '4 x 4 l2, beam 4', d: 17, o: { levels: 4, nbits: 4, beamSize: 4 }, l2: true },
  ])('equals search() cut at the radius, the table distances as they are: $name', ({ d, o, l2 }) => {
    const n = 1200;
    const x = floatVectors(n, d, 110 + d);
    const q = floatVectors(6, d, 111 + d);
    const index = track(new RQIndex({ d, seed: 4, ...o }));
    expect(codeOf(() => index.rangeSearch(q, 1))).toBe('NOT_TRAINED');
    index.train(x);
    expect(Array.from(index.rangeSearch(q, l2 ? 1e9 : -1e9).lims)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    // the queries themselves among the vectors: l2 table distances near 0 (negative ones possible: quantized norms)
    index.add(x.subarray(0, 1000 * d));
    index.add(q, Int32Array.from({ length: 6 }, (_, i) => 5000 + i));
    for (const k of [5, 60]) {
      const got = matchesSearch(index, q, 6, index.search(q.subarray(0, d), k).distances[k - 1], l2);
      expect(got.lims[1]).toBeGreaterThan(k / 2);
    }
    const r = index.search(q.subarray(0, d), 60).distances[59];
    const all = index.rangeSearch(q, r);
    const exclude = Array.from({ length: 6 }, (_, i) => all.ids.subarray(all.lims[i], all.lims[i] + 2));
    const f = index.rangeSearch(q, r, { exclude });
    for (let i = 0; i < 6; i++) expect(Array.from(f.ids.subarray(f.lims[i], f.lims[i + 1]))).toEqual(Array.from(all.ids.subarray(all.lims[i] + 2, all.lims[i + 1])));
    index.dispose();
    expect(codeOf(() => index.rangeSearch(q, 1))).toBe('DISPOSED');
  });

  it('negative l2 table distances (the quantized norm under the true one) come back as search() gives them', () => {
    const d = 3;
    const x = floatVectors(1200, d, 7);
    const q = x.slice(0, 6 * d);
    const index = track(new RQIndex({ d, levels: 3, seed: 4 }));
    index.train(x);
    index.add(x);
    const r = index.search(q, 3).distances[1];
    const got = index.rangeSearch(q, r);
    const want = fromSearch(index, q, 6, r, true);
    expect(Array.from(got.ids)).toEqual(want.ids);
    expect(Array.from(got.distances)).toEqual(want.distances);
    expect(got.distances.some((v) => v < 0)).toBe(true); // precondition: the case this test is for
  });
});
