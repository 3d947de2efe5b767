// FlatIndex against a brute-force float64 reference written here: exact ids and distances on integer-valued data
// for 'l2' and 'ip' (ties broken by the lower position, i.e. the lower id when ids are the default positions), and
// within 1e-5 of the magnitude on floats and for 'cosine' (which normalizes, so it is never integer).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, type Metric, type SearchResult } from '../dist/index.js';
import { dot64, l2sq64, normalizeRows } from './reference/distance.js';
import { concat, distinctIntVectors, floatVectors, intVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';

beforeAll(async () => {
  await init();
});

const live: FlatIndex[] = [];
function makeIndex(d: number, metric: Metric): FlatIndex {
  const idx = new FlatIndex({ d, metric });
  live.push(idx);
  return idx;
}
afterEach(() => {
  for (const idx of live.splice(0)) idx.dispose();
});

// ---------------------------------------------------------------------------------------------------------------
// Reference

interface RefResult {
  ids: Int32Array;
  /** User-facing distances in float64: squared L2, or inner product / cosine similarity. */
  distances: Float64Array;
  /** The magnitude each distance is computed from (for tolerances): ||q||^2 + ||x||^2, ||q|| ||x||, or 1. */
  scale: Float64Array;
}

/** The true score of query row qi against base row j, for the metric, in float64 (user-facing sign). */
function trueScore(metric: Metric, q: Float32Array, qi: number, x: Float32Array, j: number, d: number): number {
  if (metric === 'l2') return l2sq64(q, qi, x, j, d);
  const ip = dot64(q, qi, x, j, d);
  if (metric === 'ip') return ip;
  const nq = Math.sqrt(dot64(q, qi, q, qi, d));
  const nx = Math.sqrt(dot64(x, j, x, j, d));
  return nq === 0 || nx === 0 ? 0 : ip / (nq * nx);
}

function magnitude(metric: Metric, q: Float32Array, qi: number, x: Float32Array, j: number, d: number): number {
  if (metric === 'cosine') return 1;
  const a = dot64(q, qi, q, qi, d);
  const b = dot64(x, j, x, j, d);
  return metric === 'l2' ? a + b : Math.sqrt(a * b);
}

/**
 * Exhaustive k-NN: every base row scored, best first (l2 ascending, ip/cosine descending), ties by lower position,
 * positions mapped to `ids` (default: the positions), padded with (-1, +-Infinity).
 */
function bruteForce(x: Float32Array, q: Float32Array, d: number, k: number, metric: Metric, ids?: ArrayLike<number>): RefResult {
  const n = x.length / d;
  const nq = q.length / d;
  const sign = metric === 'l2' ? 1 : -1;
  const out: RefResult = {
    ids: new Int32Array(nq * k).fill(-1),
    distances: new Float64Array(nq * k).fill(metric === 'l2' ? Infinity : -Infinity),
    scale: new Float64Array(nq * k).fill(1),
  };
  const s = new Float64Array(n);
  // bounded insertion into the k best (by sign * score, then position)
  const best = new Int32Array(k);
  for (let qi = 0; qi < nq; qi++) {
    for (let j = 0; j < n; j++) s[j] = sign * trueScore(metric, q, qi, x, j, d);
    let size = 0;
    if (k * 8 >= n) {
      // large k: a full sort on (score, position)
      const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => s[a] - s[b] || a - b);
      size = Math.min(k, n);
      for (let r = 0; r < size; r++) best[r] = order[r];
    } else {
      for (let j = 0; j < n; j++) {
        if (size === k && !(s[j] < s[best[k - 1]])) continue; // ties keep the earlier (lower) position
        let p = size < k ? size++ : k - 1;
        while (p > 0 && s[best[p - 1]] > s[j]) {
          best[p] = best[p - 1];
          p--;
        }
        best[p] = j;
      }
    }
    for (let r = 0; r < size; r++) {
      const j = best[r];
      out.ids[qi * k + r] = ids ? ids[j] : j;
      out.distances[qi * k + r] = sign * s[j];
      out.scale[qi * k + r] = magnitude(metric, q, qi, x, j, d);
    }
  }
  return out;
}

/** The first k of each row of a reference result of width `width`. */
function firstColumns(ref: RefResult, nq: number, width: number, k: number): RefResult {
  const out: RefResult = { ids: new Int32Array(nq * k), distances: new Float64Array(nq * k), scale: new Float64Array(nq * k) };
  for (let qi = 0; qi < nq; qi++) {
    out.ids.set(ref.ids.subarray(qi * width, qi * width + k), qi * k);
    out.distances.set(ref.distances.subarray(qi * width, qi * width + k), qi * k);
    out.scale.set(ref.scale.subarray(qi * width, qi * width + k), qi * k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

function checkShape(res: SearchResult, nq: number, k: number): void {
  expect(res.ids).toBeInstanceOf(Int32Array);
  expect(res.distances).toBeInstanceOf(Float32Array);
  expect(res.ids.length).toBe(nq * k);
  expect(res.distances.length).toBe(nq * k);
}

/** Same ids, same float32 distances (+0 and -0 count as equal). */
function expectExact(res: SearchResult, ref: RefResult, what: string): void {
  for (let i = 0; i < ref.ids.length; i++) {
    if (res.ids[i] !== ref.ids[i] || res.distances[i] !== Math.fround(ref.distances[i])) {
      expect.fail(`${what}: slot ${i} is (id ${res.ids[i]}, ${res.distances[i]}), expected (id ${ref.ids[i]}, ${ref.distances[i]})`);
    }
  }
}

/**
 * Near-exact agreement where rounding may reorder near-ties: every slot's distance matches the reference's within
 * tol * magnitude, every returned id is a valid distinct id whose TRUE score matches that slot, padding matches.
 */
function expectClose(
  res: SearchResult, ref: RefResult, x: Float32Array, q: Float32Array, d: number, k: number, metric: Metric, what: string,
  idToPos?: Map<number, number>, tol = 1e-5,
): void {
  const nq = q.length / d;
  for (let qi = 0; qi < nq; qi++) {
    const seen = new Set<number>();
    for (let r = 0; r < k; r++) {
      const i = qi * k + r;
      const slot = `${what}: query ${qi} slot ${r}`;
      if (ref.ids[i] === -1) {
        expect(res.ids[i], slot).toBe(-1);
        expect(res.distances[i], slot).toBe(ref.distances[i]);
        continue;
      }
      const id = res.ids[i];
      expect(id, slot).toBeGreaterThanOrEqual(0);
      expect(seen.has(id), `${slot}: id ${id} returned twice`).toBe(false);
      seen.add(id);
      const pos = idToPos ? idToPos.get(id) : id;
      expect(pos, `${slot}: unknown id ${id}`).toBeDefined();
      const allowed = tol * Math.max(ref.scale[i], magnitude(metric, q, qi, x, pos!, d));
      expect(Math.abs(res.distances[i] - ref.distances[i]), `${slot}: distance`).toBeLessThanOrEqual(allowed);
      expect(Math.abs(trueScore(metric, q, qi, x, pos!, d) - ref.distances[i]), `${slot}: true score of id ${id}`).toBeLessThanOrEqual(allowed);
    }
  }
}

const METRICS: Metric[] = ['l2', 'ip', 'cosine'];

// ---------------------------------------------------------------------------------------------------------------

describe('FlatIndex vs brute force', () => {
  it.each(METRICS)('integer data, every dim / size / k (exact for l2 and ip), metric %s', (metric) => {
    for (const d of [1, 3, 8, 17, 33, 100, 128]) {
      for (const n of [1, 9, 37, 300]) {
        const x = intVectors(n, d, 100 + d * 7 + n);
        const nq = 7;
        const q = intVectors(nq, d, 200 + d * 7 + n);
        const idx = makeIndex(d, metric);
        idx.add(x);
        expect(idx.size).toBe(n);
        for (const k of [1, 10, n + 5]) {
          const res = idx.search(q, k);
          checkShape(res, nq, k);
          const ref = bruteForce(x, q, d, k, metric);
          const what = `${metric} d=${d} n=${n} k=${k}`;
          if (metric === 'cosine') expectClose(res, ref, x, q, d, k, metric, what);
          else expectExact(res, ref, what);
        }
      }
    }
  });

  it.each(METRICS)('float data within 1e-5 of the magnitude, metric %s', (metric) => {
    for (const d of [2, 5, 16, 31, 64, 100]) {
      const n = 257;
      const x = floatVectors(n, d, 300 + d, 2, 0.5);
      const q = floatVectors(13, d, 400 + d, 2, 0.5);
      const idx = makeIndex(d, metric);
      idx.add(x);
      for (const k of [1, 10, 300]) {
        const res = idx.search(q, k);
        checkShape(res, 13, k);
        expectClose(res, bruteForce(x, q, d, k, metric), x, q, d, k, metric, `${metric} d=${d} k=${k}`);
      }
    }
  });

  it.each(METRICS)('exact ties are broken by the lower id, metric %s', (metric) => {
    // five distinct directions, each present as duplicates and as power-of-two multiples (equal after normalization)
    const d = 8;
    const base = distinctIntVectors(5, d, 500, -4, 4);
    const rows: Float32Array[] = [];
    const r = new TestRng(501);
    for (let i = 0; i < 40; i++) {
      const b = r.int(0, 4);
      const scale = metric === 'cosine' ? [1, 2, 0.5][r.int(0, 2)] : 1;
      rows.push(base.subarray(b * d, (b + 1) * d).map((v) => v * scale));
    }
    const x = concat(...rows);
    const q = intVectors(9, d, 502, -4, 4);
    const idx = makeIndex(d, metric);
    idx.add(x);
    const k = 40;
    const res = idx.search(q, k);
    const ref = bruteForce(x, q, d, k, metric);
    if (metric === 'cosine') {
      // precondition: different directions score clearly apart, so only the planted ties remain
      for (let i = 1; i < ref.distances.length; i++) {
        const gap = Math.abs(ref.distances[i] - ref.distances[i - 1]);
        expect(gap === 0 || gap > 1e-4 || i % k === 0).toBe(true);
      }
    }
    expect(Array.from(res.ids)).toEqual(Array.from(ref.ids));
    // and within each run of equal distances ids rise
    for (let qi = 0; qi < 9; qi++) {
      for (let j = 1; j < k; j++) {
        const a = qi * k + j - 1;
        if (res.distances[a] === res.distances[a + 1]) expect(res.ids[a + 1]).toBeGreaterThan(res.ids[a]);
      }
    }
  });

  it.each(METRICS)('search on an empty index pads every slot, metric %s', (metric) => {
    const idx = makeIndex(4, metric);
    const res = idx.search(floatVectors(3, 4, 600), 5);
    checkShape(res, 3, 5);
    expect(Array.from(res.ids)).toEqual(new Array(15).fill(-1));
    expect(Array.from(res.distances)).toEqual(new Array(15).fill(metric === 'l2' ? Infinity : -Infinity));
  });

  it.each(METRICS)('k > size pads with id -1 and %s-appropriate infinities after the real hits', (metric) => {
    const d = 17;
    const n = 11;
    const x = intVectors(n, d, 700);
    const q = intVectors(5, d, 701);
    const idx = makeIndex(d, metric);
    idx.add(x);
    const k = 20;
    const res = idx.search(q, k);
    for (let qi = 0; qi < 5; qi++) {
      const ids = Array.from(res.ids.subarray(qi * k, (qi + 1) * k));
      expect(ids.slice(0, n).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(ids.slice(n)).toEqual(new Array(k - n).fill(-1));
      for (let j = n; j < k; j++) expect(res.distances[qi * k + j]).toBe(metric === 'l2' ? Infinity : -Infinity);
      for (let j = 1; j < n; j++) {
        const a = res.distances[qi * k + j - 1];
        const b = res.distances[qi * k + j];
        if (metric === 'l2') expect(b).toBeGreaterThanOrEqual(a);
        else expect(b).toBeLessThanOrEqual(a);
      }
    }
    const ref = bruteForce(x, q, d, k, metric);
    if (metric === 'cosine') expectClose(res, ref, x, q, d, k, metric, 'k > size');
    else expectExact(res, ref, 'k > size');
  });
});

describe('FlatIndex.add', () => {
  it.each(METRICS)('several add() calls with default ids number the vectors by position, metric %s', (metric) => {
    const d = 33;
    const sizes = [5, 13, 1, 64, 300, 7]; // crosses the initial capacity (64) and several 1.5x growths
    const parts = sizes.map((s, i) => intVectors(s, d, 800 + i));
    const x = concat(...parts);
    const idx = makeIndex(d, metric);
    for (const p of parts) idx.add(p);
    expect(idx.size).toBe(x.length / d);
    const q = intVectors(13, d, 899);
    for (const k of [1, 10]) {
      const res = idx.search(q, k);
      const ref = bruteForce(x, q, d, k, metric);
      if (metric === 'cosine') expectClose(res, ref, x, q, d, k, metric, `adds k=${k}`);
      else expectExact(res, ref, `adds k=${k}`);
    }
  });

  it('custom ids are returned in place of positions (rising ids: exact, ties to the lower id)', () => {
    const d = 5;
    const parts = [intVectors(9, d, 900, -2, 2), intVectors(70, d, 901, -2, 2), intVectors(3, d, 902, -2, 2)];
    const x = concat(...parts);
    const n = x.length / d;
    const ids = Int32Array.from({ length: n }, (_, i) => 1000 + 7 * i);
    const idx = makeIndex(d, 'l2');
    let o = 0;
    for (const p of parts) {
      const c = p.length / d;
      idx.add(p, ids.subarray(o, o + c));
      o += c;
    }
    const q = intVectors(7, d, 903, -2, 2);
    for (const k of [1, 10, n + 1]) expectExact(idx.search(q, k), bruteForce(x, q, d, k, 'l2', ids), `custom ids k=${k}`);
  });

  it.each(METRICS)('custom ids in any order, mixed with default ids, map to the right vectors, metric %s', (metric) => {
    const d = 16;
    const x1 = floatVectors(40, d, 1000);
    const x2 = floatVectors(25, d, 1001);
    const x3 = floatVectors(30, d, 1002);
    const r = new TestRng(1003);
    const ids1 = Int32Array.from(r.permutation(40), (v) => 5_000_000 + v * 11);
    const ids3 = Int32Array.from(r.permutation(30), (v) => 2_000_000_000 - v);
    const idx = makeIndex(d, metric);
    idx.add(x1, ids1);
    idx.add(x2); // default ids: one past the largest id stored (5_000_429), not the positions 40..64
    idx.add(x3, ids3);
    const all = concat(x1, x2, x3);
    const allIds = new Int32Array(95);
    allIds.set(ids1);
    for (let i = 0; i < 25; i++) allIds[40 + i] = 5_000_430 + i;
    allIds.set(ids3, 65);
    const idToPos = new Map(Array.from(allIds, (id, pos) => [id, pos] as [number, number]));
    const q = concat(floatVectors(6, d, 1004), x1.subarray(3 * d, 4 * d), x3.subarray(17 * d, 18 * d));
    for (const k of [1, 10, 100]) {
      const res = idx.search(q, k);
      expectClose(res, bruteForce(all, q, d, k, metric, allIds), all, q, d, k, metric, `mixed ids k=${k}`, idToPos);
    }
    // a stored vector queried finds itself first (not a property of inner product)
    if (metric !== 'ip') {
      const self = idx.search(q.subarray(6 * d), 1);
      expect(Array.from(self.ids)).toEqual([ids1[3], ids3[17]]);
    }
  });

  it.each(METRICS)('reconstructRange returns what was added (normalized for cosine), metric %s', (metric) => {
    const d = 17;
    const parts = [intVectors(3, d, 1100), intVectors(61, d, 1101), intVectors(9, d, 1102), floatVectors(20, d, 1103, 5)];
    const x = concat(...parts);
    const n = x.length / d;
    const idx = makeIndex(d, metric);
    for (const p of parts) idx.add(p);
    const want = x.slice();
    if (metric === 'cosine') normalizeRows(want, n, d);
    const got = idx.reconstructRange(0, n);
    expect(got).toBeInstanceOf(Float32Array);
    const intRows = 73; // the integer rows normalize exactly like the reference; the float ones within rounding
    if (metric === 'cosine') {
      expect(Array.from(got.subarray(0, intRows * d))).toEqual(Array.from(want.subarray(0, intRows * d)));
      for (let i = intRows * d; i < n * d; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6);
      for (let i = 0; i < n; i++) expect(Math.abs(Math.sqrt(dot64(got, i, got, i, d)) - 1)).toBeLessThan(1e-6);
    } else {
      expect(Array.from(got)).toEqual(Array.from(want));
    }
    for (const [from, count] of [[5, 20], [64, 9], [n - 1, 1], [7, 0]]) {
      expect(Array.from(idx.reconstructRange(from, count))).toEqual(Array.from(got.subarray(from * d, (from + count) * d)));
    }
  });
});

describe('FlatIndex at scale', () => {
  it.each([
    [64, 5000, 130],
    [100, 5000, 45],
    [17, 5000, 243],
  ])('d = %i, n = %i, nq = %i: cache blocks and query chunks crossed, still exact', (d, n, nq) => {
    const x = intVectors(n, d, 1200 + d, -3, 3);
    const q = intVectors(nq, d, 1300 + d, -3, 3);
    for (const metric of ['l2', 'ip'] as const) {
      const idx = makeIndex(d, metric);
      idx.add(x.subarray(0, 1234 * d));
      idx.add(x.subarray(1234 * d));
      const k = 10;
      expectExact(idx.search(q, k), bruteForce(x, q, d, k, metric), `${metric} d=${d} n=${n}`);
    }
  });

  it('an add() larger than one 8 MiB transfer chunk, searched exactly', () => {
    const d = 2;
    const n = 1_100_003; // 8.8 MB of vectors: two chunks in add()
    const x = intVectors(n, d, 1400, -100, 100);
    const q = intVectors(3, d, 1401, -100, 100);
    const idx = makeIndex(d, 'l2');
    idx.add(x);
    expect(idx.size).toBe(n);
    const k = 5;
    expectExact(idx.search(q, k), bruteForce(x, q, d, k, 'l2'), 'large add');
    // rows on both sides of the chunk boundary (1 Mi rows) come back intact
    const from = 1_048_576 - 3;
    expect(Array.from(idx.reconstructRange(from, 6))).toEqual(Array.from(x.subarray(from * d, (from + 6) * d)));
  });

  it('many queries with a large k are processed in chunks, still exact', () => {
    const d = 2;
    const n = 1200;
    const nq = 1100; // (d + 1 + 2k) * 4 bytes per query row: ~1047 rows per 8 MiB chunk at k = 1000, 807 at k = 1300
    const x = intVectors(n, d, 1500, -5, 5); // heavy ties
    const q = intVectors(nq, d, 1501, -5, 5);
    for (const metric of ['l2', 'ip'] as const) {
      const idx = makeIndex(d, metric);
      idx.add(x);
      const full = bruteForce(x, q, d, 1300, metric); // k > n: every row plus padding
      for (const k of [1000, 1300]) {
        const res = idx.search(q, k);
        checkShape(res, nq, k);
        expectExact(res, firstColumns(full, nq, 1300, k), `${metric} chunks k=${k}`);
      }
    }
  });
});

// The int16 prefilter (FlatIndex's default `prefilter: true`, assembly/kernels/qpanels.ts) must not change a single
// bit of any result: the same searches on an index without it, over adds in pieces, filters, save / load.
describe('FlatIndex prefilter', () => {
  function pair(d: number, metric: Metric) {
    const a = new FlatIndex({ d, metric, prefilter: true });
    const b = new FlatIndex({ d, metric, prefilter: false });
    live.push(a, b);
    return [a, b] as const;
  }
  function expectSameResults(a: SearchResult, b: SearchResult, what: string) {
    expect(Array.from(a.ids), `${what} ids`).toEqual(Array.from(b.ids));
    expect(Array.from(a.distances, (v) => Object.is(v, -0) ? 'neg0' : v), `${what} distances`).toEqual(Array.from(b.distances, (v) => Object.is(v, -0) ? 'neg0' : v));
  }

  it.each(METRICS)('gives the results of the float32 scan bit for bit, adds in pieces, every k, metric %s', (metric) => {
    for (const d of [1, 3, 17, 64, 100]) {
      const [a, b] = pair(d, metric);
      const x = floatVectors(1300, d, 1700 + d);
      // a zero vector and an exact copy among the rows
      x.fill(0, 5 * d, 6 * d);
      x.copyWithin(9 * d, 2 * d, 3 * d);
      for (const [from, to] of [[0, 5], [5, 13], [13, 1000], [1000, 1300]]) a.add(x.subarray(from * d, to * d));
      b.add(x);
      const q = floatVectors(70, d, 1800 + d);
      q.fill(0, 0, d); // a zero query
      for (const k of [1, 2, 10, 1400]) expectSameResults(a.search(q, k), b.search(q, k), `${metric} d=${d} k=${k}`);
    }
  });

  it('filtered searches agree too (the prefilter drops filtered vectors before its bounds): allow, exclude, both', () => {
    for (const [d, metric] of [[24, 'ip'], [64, 'l2'], [50, 'ip']] as const) {
      const [a, b] = pair(d, metric);
      const x = floatVectors(500, d, 1900 + d);
      a.add(x);
      b.add(x);
      for (const nq of [1, 2, 3, 9]) {
        const q = floatVectors(nq, d, 1901 + d + nq);
        const best = b.search(q, 20);
        // each query excludes its own best 1..15 (the vectors whose bounds would otherwise set the threshold)
        const exclude = Array.from({ length: nq }, (_, i) => best.ids.slice(i * 20, i * 20 + 1 + ((i * 7) % 15)));
        const allow = Int32Array.from({ length: 250 }, (_, i) => 2 * i);
        const bits = new Uint8Array(63).fill(0b01101101);
        for (const [what, o] of [['allow', { allow }], ['allow bitset', { allow: bits }], ['exclude', { exclude }], ['both', { allow, exclude }]] as const) {
          for (const k of [1, 7]) expectSameResults(a.search(q, k, o), b.search(q, k, o), `d=${d} ${metric} nq=${nq} k=${k} ${what}`);
        }
      }
    }
  });

  it('is kept by save / load (written only when not the default for d: default files are as before), and checked', () => {
    const q8 = floatVectors(5, 8, 2001);
    const q64 = floatVectors(5, 64, 2002);
    // default: on from d = 48 up
    for (const [d, q] of [[8, q8], [64, q64]] as const) {
      const dflt = new FlatIndex({ d });
      live.push(dflt);
      expect(dflt.prefilter).toBe(d >= 48);
      const [a, b] = pair(d, 'l2');
      const x = floatVectors(40, d, 2000 + d);
      for (const idx of [dflt, a, b]) idx.add(x);
      const saved = [dflt, a, b].map((idx) => idx.save());
      const [ld, la, lb] = saved.map((bytes) => FlatIndex.load(bytes));
      live.push(ld, la, lb);
      expect([ld.prefilter, la.prefilter, lb.prefilter]).toEqual([d >= 48, true, false]);
      expect(new TextDecoder('latin1').decode(saved[0]).includes('prefilter')).toBe(false);
      expectSameResults(la.search(q, 4), lb.search(q, 4), `loaded d=${d}`);
      expectSameResults(ld.search(q, 4), lb.search(q, 4), `loaded default d=${d}`);
    }
    expect(() => new FlatIndex({ d: 8, prefilter: 1 as unknown as boolean })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});

describe('FlatIndex l2 far from the origin (distances measured from a stored vector)', () => {
  /** n vectors around `offset` (every component), Gaussian-like spread `spread`, seeded. */
  function offsetVectors(n: number, d: number, seed: number, offset: number, spread: number): Float32Array {
    const rng = new TestRng(seed);
    return Float32Array.from({ length: n * d }, () => offset + spread * (rng.float() + rng.float() + rng.float() - 1.5));
  }

  // Offsets of 100-10^4 times the spread: the float32 expansion ||x||^2 - 2 <q, x> + ||q||^2 lost these distances
  // (70-100 of the 100 ids wrong, distances 0 or 100x off). Measured from stored vector 0, what is left is the f32
  // sum <q - x_0, x>: errors of a few d 2^-24 ||q - x_0|| ||x||.
  it.each([3, 17, 64, 128].flatMap((d) => [[d, 100, 1], [d, 100, 0.1], [d, 1000, 1], [d, 1000, 0.1], [d, 1e4, 1]] as const))(
    'd = %i, offset %s, spread %s: distances within the f32 bound of the float64 ones, the float64 neighbours up to it',
    (d, offset, spread) => {
      const n = 500;
      const nq = 20;
      const k = 5;
      const x = offsetVectors(n, d, 7 + d, offset, spread);
      const q = offsetVectors(nq, d, 8 + d, offset, spread);
      const index = makeIndex(d, 'l2');
      index.add(x);
      const got = index.search(q, k);
      const want = bruteForce(x, q, d, k, 'l2');
      let maxNorm = 0;
      for (let j = 0; j < n; j++) maxNorm = Math.max(maxNorm, Math.sqrt(dot64(x, j, x, j, d)));
      let same = 0;
      for (let qi = 0; qi < nq; qi++) {
        const kth = want.distances[qi * k + k - 1];
        const tol = 16 * d * 2 ** -24 * Math.sqrt(l2sq64(q, qi, x, 0, d)) * maxNorm + 1e-4 * kth;
        for (let r = 0; r < k; r++) {
          const id = got.ids[qi * k + r];
          expect(id).toBeGreaterThanOrEqual(0);
          const truth = l2sq64(q, qi, x, id, d);
          expect(Math.abs(got.distances[qi * k + r] - truth), `query ${qi}, rank ${r}`).toBeLessThanOrEqual(tol);
          expect(truth).toBeLessThanOrEqual(kth + 2 * tol);
          if (r > 0) expect(got.distances[qi * k + r]).toBeGreaterThanOrEqual(got.distances[qi * k + r - 1]);
          if (id === want.ids[qi * k + r]) same++;
        }
      }
      // (ids differ only at near ties)
      expect(same).toBeGreaterThanOrEqual(0.8 * nq * k);
    },
  );

  it('two copies of an outlier stored first do not make it the center: the bulk near the origin keeps its precision', () => {
    const d = 8;
    const bulk = offsetVectors(1000, d, 41, 0, 0.1);
    const q = offsetVectors(10, d, 42, 0, 0.1);
    for (const first of [true, false]) {
      const x = new Float32Array(1002 * d);
      const out = new Float32Array(2 * d).fill(100);
      x.set(first ? out : bulk, 0);
      x.set(first ? bulk : out, first ? 2 * d : 1000 * d);
      const index = makeIndex(d, 'l2');
      index.add(x);
      const got = index.search(q, 10);
      const want = bruteForce(x, q, d, 10, 'l2');
      expect(Array.from(got.ids), `outliers ${first ? 'first' : 'last'}`).toEqual(Array.from(want.ids));
      for (let i = 0; i < got.distances.length; i++) expect(Math.abs(got.distances[i] - want.distances[i])).toBeLessThanOrEqual(1e-4 * want.distances[i] + 1e-7);
    }
  });

  it('the result depends on the contents only: adds in pieces, save / load, and a removal of vector 0 give what a fresh index of the same vectors gives, bit for bit', async () => {
    const { loadIndex } = await import('../dist/index.js');
    for (const d of [3, 64]) {
      const n = 400;
      const x = offsetVectors(n, d, 31, 1000, 0.1);
      const q = offsetVectors(12, d, 32, 1000, 0.1);
      const whole = makeIndex(d, 'l2');
      whole.add(x);
      const pieces = makeIndex(d, 'l2');
      for (const [a, b] of [[0, 1], [1, 2], [2, 150], [150, n]]) pieces.add(x.subarray(a * d, b * d));
      const want = whole.search(q, 10);
      expect(pieces.search(q, 10)).toEqual(want);
      const back = loadIndex(whole.save()) as FlatIndex;
      live.push(back);
      expect(back.search(q, 10)).toEqual(want);
      // vector 0 goes: vectors 1 and 2 are the first two now, as in an index built from the kept ones
      whole.remove([0, 5]);
      const kept = makeIndex(d, 'l2');
      const rows = new Float32Array((n - 2) * d);
      const ids = new Int32Array(n - 2);
      for (let i = 0, r = 0; i < n; i++) {
        if (i === 0 || i === 5) continue;
        rows.set(x.subarray(i * d, (i + 1) * d), r * d);
        ids[r++] = i;
      }
      kept.add(rows, ids);
      expect(whole.search(q, 10)).toEqual(kept.search(q, 10));
      // rangeSearch gives search()'s distances, bit for bit, cut at the radius
      const top = kept.search(q.subarray(0, d), 30);
      const r30 = top.distances[29];
      const hits = kept.rangeSearch(q.subarray(0, d), r30);
      const cut = Array.from(top.distances).filter((v) => v < r30);
      expect(Array.from(hits.distances)).toEqual(cut);
      expect(Array.from(hits.ids)).toEqual(Array.from(top.ids.subarray(0, cut.length)));
    }
  });
});
