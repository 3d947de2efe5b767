// Filtered search (exclude per query, allow for all): for every index type and scan path, the filtered result equals
// the unfiltered full ranking with the filtered ids removed, cut to k (same ids, same distances, ties by insertion
// order); with exact re-ranking, the best `rerank` surviving candidates re-scored. Also custom and repeated ids,
// rows that cannot be filled, the allow bitmap not outliving its search, memory, and refusals.
import { beforeAll, describe, expect, it } from 'vitest';
import { BinaryIndex, FlatIndex, init, IVFFlatIndex, IVFPQIndex, PQIndex, RQIndex, SQIndex, type SearchResult } from '../dist/index.js';
import { sortIds, updateIdSort } from '../dist/search/filter.js';
import { clustered, floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { allocState, expectRefusal } from './helpers/refusals.js';
import { TestRng } from './helpers/rng.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

interface Filtered {
  search(q: Float32Array, k: number, options?: Record<string, unknown>): SearchResult;
  add(x: Float32Array, ids?: Int32Array): void;
  dispose(): void;
}

interface Case {
  name: string;
  d: number;
  /** A trained, empty index. */
  make(x: Float32Array): Filtered;
  /** Extra search options (nprobe). */
  opts?: Record<string, unknown>;
  /** Exact re-ranking of this many candidates (refine indexes). */
  rerank?: number;
}

const N = 700;

function trained<T extends { train(x: Float32Array, ...rest: never[]): unknown }>(index: T, x: Float32Array): T {
  index.train(x);
  return index;
}

const CASES: Case[] = [
  { name: 'FlatIndex l2', d: 13, make: () => new FlatIndex({ d: 13 }) },
  { name: 'FlatIndex ip', d: 13, make: () => new FlatIndex({ d: 13, metric: 'ip' }) },
  { name: 'FlatIndex cosine', d: 7, make: () => new FlatIndex({ d: 7, metric: 'cosine' }) },
  // the int16 prefilter (d >= 48): filtered vectors are dropped before its bounds
  { name: 'FlatIndex l2 int16 prefilter', d: 64, make: () => new FlatIndex({ d: 64 }) },
  { name: 'FlatIndex ip int16 prefilter', d: 50, make: () => new FlatIndex({ d: 50, metric: 'ip' }) },
  { name: 'PQIndex 8-bit l2', d: 16, make: (x) => trained(new PQIndex({ d: 16, m: 4, seed: 1 }), x) },
  { name: 'PQIndex 8-bit ip (pqScan)', d: 15, make: (x) => trained(new PQIndex({ d: 15, m: 5, metric: 'ip', seed: 2 }), x) },
  { name: 'PQIndex 6-bit', d: 12, make: (x) => trained(new PQIndex({ d: 12, m: 3, nbits: 6, seed: 3 }), x) },
  { name: 'PQIndex fast-scan l2', d: 16, make: (x) => trained(new PQIndex({ d: 16, m: 8, nbits: 4, seed: 4 }), x) },
  { name: 'PQIndex fast-scan ip', d: 16, make: (x) => trained(new PQIndex({ d: 16, m: 8, nbits: 4, metric: 'ip', seed: 5 }), x) },
  { name: 'PQIndex 4-bit float scan', d: 16, make: (x) => trained(new PQIndex({ d: 16, m: 8, nbits: 4, fastScan: false, seed: 6 }), x) },
  {
    name: 'PQIndex OPQ refine + rerank', d: 16, rerank: 40,
    make: (x) => trained(new PQIndex({ d: 16, m: 4, opq: true, refine: true, metric: 'ip', seed: 7 }), x),
  },
  {
    name: 'PQIndex fast-scan refine + rerank', d: 16, rerank: 30,
    make: (x) => trained(new PQIndex({ d: 16, m: 8, nbits: 4, refine: true, seed: 8 }), x),
  },
  { name: 'IVFPQIndex l2 nprobe 3', d: 16, opts: { nprobe: 3 }, make: (x) => trained(new IVFPQIndex({ d: 16, m: 4, nlist: 8, seed: 9 }), x) },
  { name: 'IVFPQIndex ip nprobe 8', d: 16, opts: { nprobe: 8 }, make: (x) => trained(new IVFPQIndex({ d: 16, m: 4, nlist: 8, metric: 'ip', seed: 10 }), x) },
  { name: 'IVFPQIndex fast-scan', d: 16, opts: { nprobe: 4 }, make: (x) => trained(new IVFPQIndex({ d: 16, m: 8, nbits: 4, nlist: 8, seed: 11 }), x) },
  // bit-packed float ADC: the probed lists scanned list by list for all queries of a chunk (scanPacked)
  { name: 'IVFPQIndex 6-bit l2 nprobe 3', d: 16, opts: { nprobe: 3 }, make: (x) => trained(new IVFPQIndex({ d: 16, m: 4, nbits: 6, nlist: 8, seed: 13 }), x) },
  {
    name: 'IVFPQIndex 5-bit ip refine + rerank', d: 15, opts: { nprobe: 5 }, rerank: 30,
    make: (x) => trained(new IVFPQIndex({ d: 15, m: 5, nbits: 5, nlist: 8, metric: 'ip', refine: true, seed: 14 }), x),
  },
  {
    name: 'IVFPQIndex refine + rerank', d: 16, opts: { nprobe: 4 }, rerank: 30,
    make: (x) => trained(new IVFPQIndex({ d: 16, m: 4, nlist: 8, refine: true, seed: 12 }), x),
  },
  { name: 'IVFFlatIndex l2 nprobe 3', d: 13, opts: { nprobe: 3 }, make: (x) => trained(new IVFFlatIndex({ d: 13, nlist: 8, seed: 15 }), x) },
  { name: 'IVFFlatIndex ip nprobe 8', d: 13, opts: { nprobe: 8 }, make: (x) => trained(new IVFFlatIndex({ d: 13, nlist: 8, metric: 'ip', seed: 16 }), x) },
  { name: 'SQIndex uint8 l2', d: 13, make: (x) => trained(new SQIndex({ d: 13, type: 'uint8' }), x) },
  { name: 'SQIndex int8 ip (integer scan)', d: 32, make: (x) => trained(new SQIndex({ d: 32, type: 'int8', metric: 'ip' }), x) },
  { name: 'SQIndex fp16 ip', d: 9, make: (x) => trained(new SQIndex({ d: 9, type: 'fp16', metric: 'ip' }), x) },
  { name: 'SQIndex int8 refine + rerank', d: 32, rerank: 25, make: (x) => trained(new SQIndex({ d: 32, type: 'int8', metric: 'ip', refine: true }), x) },
  { name: 'BinaryIndex', d: 24, make: (x) => trained(new BinaryIndex({ d: 24 }), x) },
  { name: 'BinaryIndex refine + rerank', d: 24, rerank: 60, make: (x) => trained(new BinaryIndex({ d: 24, refine: true, metric: 'ip' }), x) },
  { name: 'RQIndex l2', d: 12, make: (x) => trained(new RQIndex({ d: 12, levels: 2, nbits: 6, seed: 13 }), x) },
  { name: 'RQIndex ip', d: 12, make: (x) => trained(new RQIndex({ d: 12, levels: 3, nbits: 4, metric: 'ip', seed: 14 }), x) },
];

/** Row i of a result. */
function rowOf(r: SearchResult, i: number, k: number): { ids: number[]; dist: number[] } {
  return { ids: Array.from(r.ids.subarray(i * k, (i + 1) * k)), dist: Array.from(r.distances.subarray(i * k, (i + 1) * k)) };
}

/** Keeps the entries of a ranked row whose id passes `keep` (and is not -1), cut to k and padded with (-1, pad). */
function filterRow(row: { ids: number[]; dist: number[] }, keep: (id: number) => boolean, k: number, pad: number): { ids: number[]; dist: number[] } {
  const ids: number[] = [];
  const dist: number[] = [];
  for (let j = 0; j < row.ids.length && ids.length < k; j++) {
    if (row.ids[j] < 0 || !keep(row.ids[j])) continue;
    ids.push(row.ids[j]);
    dist.push(row.dist[j]);
  }
  while (ids.length < k) {
    ids.push(-1);
    dist.push(pad);
  }
  return { ids, dist };
}

/** Per query: a few of its unfiltered top ids (so that exclusion matters), random ids, and ids not in the index. */
function excludeLists(full: SearchResult, nq: number, width: number, ids: Int32Array, rng: TestRng): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; i < nq; i++) {
    const list: number[] = [];
    for (let j = 0; j < 12; j++) if (rng.int(0, 1) === 1 && full.ids[i * width + j] >= 0) list.push(full.ids[i * width + j]);
    for (let j = 0; j < rng.int(0, 30); j++) list.push(ids[rng.int(0, ids.length - 1)]);
    list.push(-5, 1 << 30);
    if (i === 1) list.length = 0; // one query excludes nothing
    out.push(Int32Array.from(list));
  }
  return out;
}

describe('filtered search equals the unfiltered ranking with the filtered ids removed', () => {
  for (const c of CASES) {
    for (const idMode of ['positions', 'custom ids'] as const) {
      it(`${c.name} (${idMode})`, () => {
        const { d } = c;
        const x = clustered(14, N / 14, d, 100 + d).x;
        const index = track(c.make(x));
        // custom ids: sparse, and one id stored twice (both copies must be filtered)
        const ids = idMode === 'custom ids' ? Int32Array.from({ length: N }, (_, i) => 5000 + 7 * i) : Int32Array.from({ length: N }, (_, i) => i);
        if (idMode === 'custom ids') ids[N - 1] = ids[3];
        index.add(x, idMode === 'custom ids' ? ids : undefined);
        const nq = 9;
        const q = floatVectors(nq, d, 200 + d, 6);
        const k = 10;
        const rng = new TestRng(300 + d);
        const base = c.opts ?? {};
        // the unfiltered ranking of everything a query can reach (its probed lists for IVF)
        const full = index.search(q, N, base);
        // empty slots: +Infinity for ascending distances (l2, Hamming), -Infinity for similarities
        const metric = (index as unknown as { metric: string }).metric;
        const padFor = (exactScores: boolean) => (metric === 'l2' || (index instanceof BinaryIndex && !exactScores) ? Infinity : -Infinity);
        const exclude = excludeLists(full, nq, N, ids, rng);
        const allowList = Int32Array.from(Array.from(ids).filter(() => rng.int(0, 9) < 6));
        const allowSet = new Set(allowList);
        const bitset = new Uint8Array(((5000 + 7 * N) >> 3) + 1);
        for (const id of allowList) bitset[id >> 3] |= 1 << (id & 7);
        const exact = c.rerank !== undefined ? index.search(q, N, { ...base, rerank: N }) : null;
        const variants: { label: string; opts: Record<string, unknown>; keep: (qi: number, id: number) => boolean }[] = [
          { label: 'exclude', opts: { exclude }, keep: (qi, id) => !exclude[qi].includes(id) },
          { label: 'allow Int32Array', opts: { allow: allowList }, keep: (_qi, id) => allowSet.has(id) },
          { label: 'allow bitset', opts: { allow: bitset }, keep: (_qi, id) => allowSet.has(id) },
          { label: 'both', opts: { exclude, allow: allowList }, keep: (qi, id) => allowSet.has(id) && !exclude[qi].includes(id) },
        ];
        for (const v of variants) {
          const got = index.search(q, k, { ...base, ...v.opts, ...(c.rerank !== undefined ? { rerank: c.rerank } : {}) });
          for (let i = 0; i < nq; i++) {
            const keep = (id: number) => v.keep(i, id);
            let want: { ids: number[]; dist: number[] };
            if (exact) {
              // the best `rerank` surviving candidates by the approximate ranking, then ordered exactly
              const cand = new Set(filterRow(rowOf(full, i, N), keep, c.rerank!, 0).ids.filter((id) => id >= 0));
              want = filterRow(rowOf(exact, i, N), (id) => cand.has(id), k, padFor(true));
            } else {
              want = filterRow(rowOf(full, i, N), keep, k, padFor(false));
            }
            const g = rowOf(got, i, k);
            expect(g.ids, `${v.label}, query ${i}`).toEqual(want.ids);
            expect(g.dist, `${v.label}, query ${i}`).toEqual(want.dist);
            for (const id of g.ids) if (id >= 0) expect(keep(id)).toBe(true);
          }
        }
        // with exclusion k results still come back whenever the reachable set is large enough
        const got = index.search(q, k, { ...base, exclude });
        const reachable = (i: number) => rowOf(full, i, N).ids.filter((id) => id >= 0 && !exclude[i].includes(id)).length;
        for (let i = 0; i < nq; i++) expect(rowOf(got, i, k).ids.filter((id) => id >= 0).length).toBe(Math.min(k, reachable(i)));
      });
    }
  }
});

describe('ids looked up through the sorted ids an index keeps (IdSort)', () => {
  it('sortIds: every position of every id, ascending, whatever the order and range of the ids', () => {
    const rng = new TestRng(77);
    const cases: Int32Array[] = [
      new Int32Array(0),
      Int32Array.from({ length: 50 }, (_, i) => i), // identity
      Int32Array.from({ length: 50 }, (_, i) => 3 * i + 7), // sorted
      Int32Array.from({ length: 300 }, () => rng.int(-20, 20)), // duplicates, negative
      Int32Array.from({ length: 300 }, () => rng.int(0, 1) ? 0x7fffffff - rng.int(0, 3) : -0x80000000 + rng.int(0, 3)), // full i32 range
      Int32Array.from({ length: 200 }, (_, i) => 199 - i), // reversed
    ];
    for (const ids of cases) {
      const srt = sortIds(ids);
      expect(srt.covered).toBe(ids.length);
      const identity = ids.every((v, i) => v === i);
      expect(srt.identity).toBe(identity);
      if (identity) continue;
      const want = Array.from(ids, (id, p) => [id, p]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(Array.from(srt.ids)).toEqual(want.map((e) => e[0]));
      expect(Array.from(srt.pos)).toEqual(want.map((e) => e[1]));
    }
  });

  it('updateIdSort keeps what it covers while the tail is small, extends an identity, and sorts again past a quarter', () => {
    const ids = Int32Array.from({ length: 20000 }, (_, i) => (i * 7919) % 20011);
    const first = sortIds(ids.subarray(0, 16000));
    expect(updateIdSort(first, ids.subarray(0, 16000))).toBe(first);
    expect(updateIdSort(first, ids.subarray(0, 20000))).toBe(first); // 4000 new: under max(4096, 16000 / 4)
    const grown = Int32Array.from({ length: 21000 }, (_, i) => (i * 7919) % 20011);
    const next = updateIdSort(first, grown); // 5000 new: sorted again
    expect(next).not.toBe(first);
    expect(next.covered).toBe(21000);
    const id = Int32Array.from({ length: 100 }, (_, i) => i);
    const a = sortIds(id.subarray(0, 60));
    const b = updateIdSort(a, id);
    expect([b.identity, b.covered]).toEqual([true, 100]);
    const broken = id.slice();
    broken[80] = 5;
    const c = updateIdSort(a, broken);
    expect(c.identity).toBe(false);
    expect(c.covered).toBe(100);
  });

  it('filtered searches stay right as ids are appended: a tail past the sorted part, a new sort, implicit ids', () => {
    for (const d of [8, 64]) {
      const rng = new TestRng(900 + d);
      const flat = track(new FlatIndex({ d }));
      const x = floatVectors(9000, d, 901 + d);
      // custom ids with duplicates across the batches (an id added twice is excluded at both positions)
      const ids = Int32Array.from({ length: 9000 }, () => rng.int(0, 4000));
      const q = floatVectors(3, d, 902 + d);
      const check = (n: number) => {
        const full = flat.search(q, n);
        const exclude = Array.from({ length: 3 }, (_, i) => Int32Array.from({ length: 40 }, (_, j) => full.ids[i * n + (j * 3) % 60]));
        const allow = Int32Array.from({ length: 1500 }, () => rng.int(0, 4000));
        const allowSet = new Set(allow);
        for (const [o, keep] of [
          [{ exclude }, (i: number, id: number) => !exclude[i].includes(id)],
          [{ allow }, (_i: number, id: number) => allowSet.has(id)],
        ] as const) {
          const got = flat.search(q, 10, o);
          for (let i = 0; i < 3; i++) {
            const want = filterRow(rowOf(full, i, n), (id) => keep(i, id), 10, Infinity);
            expect(rowOf(got, i, 10).ids, `d=${d} n=${n}`).toEqual(want.ids);
          }
        }
      };
      flat.add(x.subarray(0, 4000 * d), ids.subarray(0, 4000));
      check(4000); // sorts the 4000 ids
      flat.add(x.subarray(4000 * d, 5000 * d), ids.subarray(4000, 5000));
      check(5000); // 1000 past the sorted part: looked up in the tail
      flat.add(x.subarray(5000 * d, 9000 * d), ids.subarray(5000, 9000));
      check(9000); // 5000 past it: sorted again
      const implicit = track(new FlatIndex({ d }));
      implicit.add(x.subarray(0, 3000 * d));
      const full = implicit.search(q, 3000);
      const ex = [Int32Array.of(full.ids[0], full.ids[1]), Int32Array.of(), Int32Array.of(full.ids[2 * 3000])];
      implicit.search(q, 10, { exclude: ex });
      implicit.add(x.subarray(3000 * d, 3500 * d)); // the identity extends
      const full2 = implicit.search(q, 3500);
      const got = implicit.search(q, 10, { exclude: ex });
      for (let i = 0; i < 3; i++) expect(rowOf(got, i, 10).ids).toEqual(filterRow(rowOf(full2, i, 3500), (id) => !ex[i].includes(id), 10, Infinity).ids);
    }
  });
});

describe('filters: edge cases', () => {
  it('rows that cannot be filled are padded with id -1 (and +-Infinity)', () => {
    const d = 8;
    const x = floatVectors(50, d, 1);
    const flat = track(new FlatIndex({ d, metric: 'ip' }));
    flat.add(x);
    const pq = track(new PQIndex({ d, m: 4, nbits: 4, metric: 'ip', seed: 1 }));
    pq.train(x);
    pq.add(x);
    for (const index of [flat, pq]) {
      const r = index.search(x.subarray(0, d), 5, { allow: Int32Array.of(3, 7), exclude: [Int32Array.of(7)] });
      expect(Array.from(r.ids)).toEqual([3, -1, -1, -1, -1]);
      expect(Array.from(r.distances.subarray(1))).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
      const none = index.search(x.subarray(0, d), 3, { allow: new Uint8Array(0) });
      expect(Array.from(none.ids)).toEqual([-1, -1, -1]);
      // excluding everything
      const all = index.search(x.subarray(0, d), 3, { exclude: [Int32Array.from({ length: 50 }, (_, i) => i)] });
      expect(Array.from(all.ids)).toEqual([-1, -1, -1]);
    }
  });

  it('FlatIndex with the int16 prefilter: exclusion lists short and long, k = 1 and 10, groups of one, two, three and four queries', () => {
    const d = 64;
    const n = 3000;
    const x = clustered(20, n / 20, d, 41).x;
    const flat = track(new FlatIndex({ d, metric: 'l2' }));
    flat.add(x);
    const f32 = track(new FlatIndex({ d, metric: 'l2', prefilter: false }));
    f32.add(x);
    const nq = 11;
    const q = floatVectors(nq, d, 42, 6);
    const full = flat.search(q, 60);
    // per query: its own best ids (the ones whose bounds would otherwise set the threshold), and for query 4 also
    // 1200 ids in a run
    const exclude = Array.from({ length: nq }, (_, i) => {
      const own = Array.from(full.ids.subarray(i * 60, i * 60 + (i % 5) * 10 + 1));
      if (i === 4) for (let id = 0; id < 1200; id++) own.push(id);
      return Int32Array.from(own);
    });
    for (const k of [1, 10]) {
      // the whole batch (groups of 4, 4 and 3 rows), then each query alone (a group of one row), then the first two
      // (a group of two), then three with query 4's long list among them (a group of three)
      const batches = [[0, nq], ...Array.from({ length: nq }, (_, i) => [i, i + 1]), [0, 2], [3, 6]];
      for (const [a, b] of batches) {
        const qs = q.subarray(a * d, b * d);
        const ex = exclude.slice(a, b);
        const got = flat.search(qs, k, { exclude: ex });
        const want = f32.search(qs, k, { exclude: ex });
        expect(Array.from(got.ids), `k=${k} queries ${a}..${b - 1}`).toEqual(Array.from(want.ids));
        expect(Array.from(got.distances), `k=${k} queries ${a}..${b - 1}`).toEqual(Array.from(want.distances));
        for (let i = a; i < b; i++) {
          const skip = new Set(exclude[i]);
          const row = Array.from(full.ids.subarray(i * 60, (i + 1) * 60)).filter((id) => !skip.has(id));
          if (row.length >= k) expect(Array.from(got.ids.subarray((i - a) * k, (i - a + 1) * k))).toEqual(row.slice(0, k));
        }
      }
    }
  });

  it('a bitset shorter than the ids allows nothing past its end; bits past n in the last byte are ignored', () => {
    const d = 4;
    const x = floatVectors(13, d, 2);
    const flat = track(new FlatIndex({ d }));
    flat.add(x);
    const r = flat.search(x.subarray(0, d), 13, { allow: Uint8Array.of(0b0000_0001, 0xff) });
    expect(Array.from(r.ids).filter((id) => id >= 0).sort((a, b) => a - b)).toEqual([0, 8, 9, 10, 11, 12]);
  });

  it('exclude accepts plain arrays of integer ids', () => {
    const d = 4;
    const x = floatVectors(30, d, 3);
    const flat = track(new FlatIndex({ d }));
    flat.add(x);
    const q = x.subarray(0, 2 * d);
    const a = flat.search(q, 5, { exclude: [[0, 1, 2], []] });
    const b = flat.search(q, 5, { exclude: [Int32Array.of(0, 1, 2), new Int32Array(0)] });
    expect(a).toEqual(b);
    expect(Array.from(a.ids.subarray(0, 5))).not.toContain(0);
  });

  it('the allow bitmap does not outlive its search, and filtered searches do not grow memory', () => {
    const d = 8;
    const x = floatVectors(200, d, 4);
    const flat = track(new FlatIndex({ d }));
    flat.add(x);
    const pq = track(new PQIndex({ d, m: 4, nbits: 6, seed: 2 }));
    pq.train(x);
    pq.add(x);
    const q = floatVectors(20, d, 5);
    const before = pq.search(q, 10);
    flat.search(q, 10, { allow: Int32Array.of(1, 2, 3) });
    expect(pq.search(q, 10)).toEqual(before);
    // a refused filter leaves nothing armed either
    expect(() => pq.search(q, 10, { allow: new Float32Array(3) })).toThrow();
    expect(pq.search(q, 10)).toEqual(before);
    pq.search(q, 10, { allow: Int32Array.of(1), exclude: Array.from({ length: 20 }, () => Int32Array.of(1)) });
    const a = allocState();
    for (let i = 0; i < 30; i++) pq.search(q, 10, { allow: Int32Array.of(1, 5, 9), exclude: Array.from({ length: 20 }, () => Int32Array.of(5)) });
    expect(allocState()).toEqual(a);
  });

  it('the coarse quantizer of an IVF index is not filtered (the ids are this index\'s positions, not lists)', () => {
    const d = 8;
    const { x } = clustered(8, 40, d, 6);
    const ivf = track(new IVFPQIndex({ d, m: 4, nlist: 8, seed: 3 }));
    ivf.train(x);
    ivf.add(x);
    const q = x.subarray(0, 4 * d);
    // allowing only ids 8..15, none of them a list number (nlist 8): a filter that reached the coarse search would
    // probe no list at all and return -1s
    const allow = Int32Array.from({ length: 8 }, (_, i) => 8 + i);
    const full = ivf.search(q, 320, { nprobe: 2 });
    const got = ivf.search(q, 5, { nprobe: 2, allow });
    for (let i = 0; i < 4; i++) {
      expect(Array.from(got.ids.subarray(i * 5, i * 5 + 5))).toEqual(filterRow(rowOf(full, i, 320), (id) => id >= 8 && id < 16, 5, Infinity).ids);
    }
    // (precondition: the probed lists hold some allowed ids)
    expect(got.ids.some((id) => id >= 0)).toBe(true);
  });
});

describe('filters: refusals', () => {
  const d = 4;
  const q = floatVectors(2, d, 9);
  const makers: [string, () => Filtered][] = [
    ['FlatIndex.search', () => {
      const f = new FlatIndex({ d });
      f.add(floatVectors(20, d, 1));
      return f;
    }],
    ['PQIndex.search', () => trained(new PQIndex({ d, m: 2, nbits: 4, seed: 1 }), floatVectors(40, d, 1))],
    ['IVFPQIndex.search', () => trained(new IVFPQIndex({ d, m: 2, nbits: 4, nlist: 2, seed: 1 }), floatVectors(40, d, 1))],
    ['SQIndex.search', () => trained(new SQIndex({ d, type: 'int8' }), floatVectors(40, d, 1))],
    ['IVFFlatIndex.search', () => trained(new IVFFlatIndex({ d, nlist: 2, seed: 1 }), floatVectors(40, d, 1))],
    ['BinaryIndex.search', () => trained(new BinaryIndex({ d }), floatVectors(40, d, 1))],
    ['RQIndex.search', () => trained(new RQIndex({ d, levels: 1, nbits: 4, seed: 1 }), floatVectors(40, d, 1))],
  ];
  for (const [where, make] of makers) {
    it(`${where} refuses malformed filters with a VQError and stays usable`, () => {
      const index = track(make());
      index.add(floatVectors(20, d, 2));
      const ok = index.search(q, 3);
      expectRefusal(() => index.search(q, 3, { exclude: Int32Array.of(1) }), 'INVALID_TYPE', where, ['exclude', 'Int32Array']);
      expectRefusal(() => index.search(q, 3, { exclude: [Int32Array.of(1)] }), 'INVALID_SIZE', where, ['exclude', '1 lists', '2 (one per query)']);
      expectRefusal(() => index.search(q, 3, { exclude: [Int32Array.of(1), 'a'] }), 'INVALID_TYPE', where, ['exclude[1]']);
      expectRefusal(() => index.search(q, 3, { exclude: [[1.5], []] }), 'INVALID_OPTION', where, ['exclude[0][0]', '1.5']);
      expectRefusal(() => index.search(q, 3, { exclude: [[2 ** 31], []] }), 'INVALID_OPTION', where, ['exclude[0][0]']);
      expectRefusal(() => index.search(q, 3, { allow: new Float32Array(2) }), 'INVALID_TYPE', where, ['allow', 'Float32Array']);
      expectRefusal(() => index.search(q, 3, { allow: [1, 2] }), 'INVALID_TYPE', where, ['allow']);
      expect(index.search(q, 3)).toEqual(ok);
    });
  }
});
