// The memory boundary seen from outside: no leaks across create/use/dispose cycles, no lost vectors when an index
// grows (its buffers are reallocated, wasm memory grows and every old view is detached), results that are copies, and
// caller inputs that are never written to.
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFPQIndex, KMeans, memoryStats, norms, pairwiseDistances, PQIndex, type MemoryStats } from '../dist/index.js';
import { engine } from '../dist/wasm/engine.js';
import { uniformVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';

/**
 * Rows `from .. from + n - 1` of an integer-valued data set in which every row is distinct: components 0..3 spell the
 * row number in base 16 (offset to [-8, 7]), the rest are seeded integers in [-8, 8]. Norms stay far below 2^24, so
 * every distance is computed exactly and a row's distance to itself is exactly 0 (and >= 1 to any other row).
 */
function distinctIntRows(from: number, n: number, d: number): Float32Array {
  const x = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const i = from + r;
    const g = new TestRng(i * 7919 + 17);
    for (let c = 0; c < d; c++) {
      x[r * d + c] = c < 4 ? (Math.floor(i / 16 ** c) % 16) - 8 : g.int(-8, 8);
    }
  }
  return x;
}

function wasmBuffer(): ArrayBuffer {
  return engine('memory.test').abi.memory.buffer as ArrayBuffer;
}

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------------------

describe('create / use / dispose cycles do not leak', () => {
  /** Rounds after the first whose stats differ from the first's (with their round number). */
  function drift(rounds: MemoryStats[]): { round: number; stats: MemoryStats }[] {
    const base = rounds[0];
    const out: { round: number; stats: MemoryStats }[] = [];
    rounds.forEach((s, round) => {
      if (
        s.memoryBytes !== base.memoryBytes ||
        s.heapEndBytes !== base.heapEndBytes ||
        s.liveAllocations !== base.liveAllocations ||
        s.liveBytes !== base.liveBytes
      ) {
        out.push({ round, stats: s });
      }
    });
    return out;
  }

  it('FlatIndex: 200 x (create, add 1000 x 32, search, dispose)', () => {
    const d = 32;
    const x = uniformVectors(1000, d, 1);
    const q = uniformVectors(16, d, 2);
    const start = memoryStats();
    const rounds: MemoryStats[] = [];
    for (let r = 0; r < 200; r++) {
      const index = new FlatIndex({ d, metric: (['l2', 'ip', 'cosine'] as const)[r % 3] });
      index.add(x);
      const res = index.search(q, 10);
      expect(res.ids.length).toBe(160);
      index.reconstructRange(0, 10);
      index.dispose();
      rounds.push(memoryStats());
    }
    expect(drift(rounds), `first round: ${JSON.stringify(rounds[0])}`).toEqual([]);
    // nothing but (at most) the shared scratch block, allocated by the first round, stays allocated
    expect(rounds[0].liveAllocations).toBeLessThanOrEqual(start.liveAllocations + 1);
  });

  it('FlatIndex grown by many small adds, 30 times', () => {
    const d = 8;
    const rounds: MemoryStats[] = [];
    const chunk = uniformVectors(50, d, 3);
    const q = uniformVectors(4, d, 4);
    for (let r = 0; r < 30; r++) {
      const index = new FlatIndex({ d });
      for (let i = 0; i < 40; i++) index.add(chunk);
      index.search(q, 5);
      index.dispose();
      rounds.push(memoryStats());
    }
    expect(drift(rounds)).toEqual([]);
  });

  it('remove / add cycles on a live index stay within its buffers (FlatIndex, fast-scan PQIndex; IVFPQIndex within its lists\' regrowth)', () => {
    const d = 16;
    const x = uniformVectors(1200, d, 5);
    const q = uniformVectors(8, d, 6);
    for (const make of [
      () => new FlatIndex({ d, prefilter: true }),
      () => new PQIndex({ d, m: 8, nbits: 4, seed: 1 }), // rebuilt by remove (fast-scan blocks)
      () => new IVFPQIndex({ d, m: 4, nbits: 6, nlist: 8, seed: 2 }), // compacted in place
    ]) {
      const index = make();
      try {
        (index as { train?(x: Float32Array): unknown }).train?.(x);
        index.add(x);
        const rounds: MemoryStats[] = [];
        for (let r = 0; r < 60; r++) {
          // a tenth of the vectors out, as many new ones in (ids past the largest stored)
          const ids = index.search(q, 120 / 8, index instanceof IVFPQIndex ? { nprobe: 8 } : {}).ids;
          const removed = index.remove(ids);
          expect(removed).toBeGreaterThan(0);
          index.add(x.subarray((r % 10) * 120 * d, ((r % 10) * 120 + removed) * d));
          expect(index.size).toBe(1200);
          rounds.push(memoryStats());
        }
        if (index instanceof IVFPQIndex) {
          // lists regrow (by 1.5x) as vectors move between them: the same number of allocations, within twice the bytes
          for (const st of rounds) expect(st.liveAllocations).toBe(rounds[0].liveAllocations);
          expect(rounds[59].liveBytes).toBeLessThan(2 * rounds[0].liveBytes);
        } else {
          // after the first few rounds (the scratch block reaching its size), nothing grows
          expect(drift(rounds.slice(5)), index.constructor.name).toEqual([]);
        }
      } finally {
        index.dispose();
      }
    }
  });

  it('KMeans: 40 x (create, train 1000 x 32 with k = 16, assign, centroids, dispose)', () => {
    const d = 32;
    const x = uniformVectors(1000, d, 5);
    const rounds: MemoryStats[] = [];
    for (let r = 0; r < 40; r++) {
      const km = new KMeans({ d, k: 16, iterations: 5, nredo: 1 + (r % 2), init: r % 4 < 2 ? 'kmeans++' : 'random' });
      km.train(x);
      km.train(x.subarray(0, 500 * d)); // retraining replaces (and frees) the previous centroids
      km.assign(x.subarray(0, 100 * d));
      expect(km.centroids.length).toBe(16 * d);
      km.dispose();
      rounds.push(memoryStats());
    }
    expect(drift(rounds)).toEqual([]);
  });

  it('interleaved objects disposed in any order return to the baseline', () => {
    const d = 16;
    const x = uniformVectors(600, d, 6);
    const warm = () => {
      const a = new FlatIndex({ d });
      a.add(x);
      a.search(x.subarray(0, 20 * d), 5);
      const k = new KMeans({ d, k: 8, iterations: 3 });
      k.train(x);
      k.assign(x);
      pairwiseDistances(x.subarray(0, 50 * d), x.subarray(0, 40 * d), d);
      norms(x, d);
      return [a, k];
    };
    for (const o of warm()) o.dispose();
    const base = memoryStats();
    for (let r = 0; r < 20; r++) {
      const objs = [...warm(), ...warm()];
      // dispose in a round-dependent order (a seeded shuffle)
      const g = new TestRng(r + 1);
      const order = objs.map((o) => ({ o, key: g.float() })).sort((a, b) => a.key - b.key);
      for (const { o } of order) o.dispose();
      for (const o of objs) expect(o.disposed).toBe(true);
      const s = memoryStats();
      expect({ r, live: s.liveAllocations, bytes: s.liveBytes }).toEqual({ r, live: base.liveAllocations, bytes: base.liveBytes });
    }
    expect(memoryStats().memoryBytes).toBe(base.memoryBytes);
  });

  it('[Symbol.dispose]() frees exactly like dispose()', () => {
    const d = 12;
    const x = uniformVectors(300, d, 7);
    const base = memoryStats();

    const index = new FlatIndex({ d });
    index.add(x);
    expect(memoryStats().liveAllocations).toBeGreaterThan(base.liveAllocations);
    index[Symbol.dispose]();
    expect(index.disposed).toBe(true);
    expect(memoryStats()).toMatchObject({ liveAllocations: base.liveAllocations, liveBytes: base.liveBytes });

    const km = new KMeans({ d, k: 5, iterations: 3 });
    km.train(x);
    expect(memoryStats().liveAllocations).toBeGreaterThan(base.liveAllocations);
    km[Symbol.dispose]();
    expect(km.disposed).toBe(true);
    expect(memoryStats()).toMatchObject({ liveAllocations: base.liveAllocations, liveBytes: base.liveBytes });

    // the same cycle through dispose() ends in the same place
    const index2 = new FlatIndex({ d });
    index2.add(x);
    index2.dispose();
    expect(memoryStats()).toMatchObject({ liveAllocations: base.liveAllocations, liveBytes: base.liveBytes, heapEndBytes: base.heapEndBytes });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a FlatIndex that grows across many add() calls', () => {
  const d = 17; // odd: not a multiple of the 4-lane / 8-row panel shapes
  // uneven batch sizes around the 8-row panels and the 64-row first capacity
  const batches = [1, 7, 8, 9, 63, 64, 65, 1, 200, 3, 511, 512, 513, 1000, 5, 2000, 31, 3000, 1, 4000, 4];
  const total = batches.reduce((a, b) => a + b, 0);

  it(`keeps all ${total} vectors findable at distance 0 as memory grows`, () => {
    const memStart = memoryStats().memoryBytes;
    const index = new FlatIndex({ d });
    try {
      let n = 0;
      // explicit ids on odd batches, default ones on even ones: one past the largest id stored (the positions until
      // the first explicit batch)
      let next = 0;
      const idOf = (i: number, b: number) => (b % 2 === 1 ? 1_000_000 + i : next + i - n);
      const expectedIds = new Int32Array(total);
      const firstBatch = distinctIntRows(0, batches[0], d);
      const heldFirst = index.search(firstBatch, 1); // empty index: padded
      expect(Array.from(heldFirst.ids)).toEqual([-1]);
      let held: { ids: Int32Array; distances: Float32Array } | null = null;
      let buffersSeen = new Set<ArrayBuffer>([wasmBuffer()]);
      for (let b = 0; b < batches.length; b++) {
        const m = batches[b];
        const x = distinctIntRows(n, m, d);
        const ids = Int32Array.from({ length: m }, (_, j) => idOf(n + j, b));
        for (let j = 0; j < m; j++) expectedIds[n + j] = ids[j];
        for (const v of ids) next = Math.max(next, v + 1);
        if (b % 2 === 1) index.add(x, ids);
        else index.add(x);
        n += m;
        buffersSeen.add(wasmBuffer());
        expect(index.size).toBe(n);
        // after every add: the very first vector and the one just added are still themselves
        const probe = new Float32Array(2 * d);
        probe.set(distinctIntRows(0, 1, d), 0);
        probe.set(distinctIntRows(n - 1, 1, d), d);
        const res = index.search(probe, 1);
        expect(Array.from(res.ids)).toEqual([expectedIds[0], expectedIds[n - 1]]);
        expect(Array.from(res.distances)).toEqual([0, 0]);
        if (held === null) held = res;
      }
      // wasm memory did grow (so old views were detached) while the index kept its data
      expect(memoryStats().memoryBytes).toBeGreaterThan(memStart);
      expect(buffersSeen.size).toBeGreaterThan(1);
      buffersSeen = new Set();

      // every vector, searched for itself (in chunks to bound the test's own memory)
      const all = distinctIntRows(0, total, d);
      for (let i0 = 0; i0 < total; i0 += 2000) {
        const c = Math.min(2000, total - i0);
        const res = index.search(all.subarray(i0 * d, (i0 + c) * d), 2);
        for (let j = 0; j < c; j++) {
          const i = i0 + j;
          if (res.ids[2 * j] !== expectedIds[i] || res.distances[2 * j] !== 0) {
            expect({ vector: i, id: res.ids[2 * j], distance: res.distances[2 * j] }).toEqual({ vector: i, id: expectedIds[i], distance: 0 });
          }
          // the runner-up is another vector, at least 1 away (integer data)
          expect(res.distances[2 * j + 1]).toBeGreaterThanOrEqual(1);
        }
      }
      // the stored vectors come back exactly (l2 stores them as given)
      expect(index.reconstructRange(0, total)).toEqual(all);

      // results taken before the growth are intact
      expect(held).not.toBeNull();
      expect(Array.from(held!.ids)).toEqual([expectedIds[0], expectedIds[0]]);
      expect(Array.from(held!.distances)).toEqual([0, 0]);
    } finally {
      index.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('results are copies', () => {
  const d = 10;
  const base = uniformVectors(400, d, 21);
  const queries = uniformVectors(6, d, 22);

  it('search results: not views on wasm memory; mutating them or searching again changes nothing', () => {
    const index = new FlatIndex({ d });
    try {
      index.add(base);
      const r1 = index.search(queries, 5);
      expect(r1.ids.buffer).not.toBe(wasmBuffer());
      expect(r1.distances.buffer).not.toBe(wasmBuffer());
      const ids1 = r1.ids.slice();
      const dist1 = r1.distances.slice();
      // more searches (the scratch region is reused) do not touch r1
      for (let i = 0; i < 5; i++) index.search(uniformVectors(50, d, 100 + i), 7);
      expect(r1.ids).toEqual(ids1);
      expect(r1.distances).toEqual(dist1);
      // writing into r1 does not change what the index returns
      r1.ids.fill(-7);
      r1.distances.fill(123);
      const r2 = index.search(queries, 5);
      expect(r2.ids).toEqual(ids1);
      expect(r2.distances).toEqual(dist1);
    } finally {
      index.dispose();
    }
  });

  it('every returned array survives a memory.grow', () => {
    const index = new FlatIndex({ d, metric: 'cosine' });
    const km = new KMeans({ d, k: 4, iterations: 4 });
    const big = new FlatIndex({ d: 64 });
    try {
      index.add(base);
      km.train(base);
      const held = {
        search: index.search(queries, 3),
        recon: index.reconstructRange(10, 5),
        centroids: km.centroids,
        assign: km.assign(queries),
        pairwise: pairwiseDistances(queries, base.subarray(0, 20 * d), d, 'ip'),
        norms: norms(queries, d, true),
      };
      const copy = structuredClone(held);
      const mem0 = memoryStats().memoryBytes;
      const buf0 = wasmBuffer();
      // ~8 MB more data: memory must grow, the old buffer is detached
      for (let i = 0; i < 4; i++) big.add(uniformVectors(8000, 64, 200 + i));
      expect(memoryStats().memoryBytes).toBeGreaterThan(mem0);
      expect(buf0.byteLength).toBe(0); // the detached buffer
      expect(held).toEqual(copy);
      expect(held.search.ids.length).toBe(18);
      expect(held.centroids.length).toBe(4 * d);
      // and the objects still answer the same after the growth
      expect(index.search(queries, 3)).toEqual(copy.search);
      expect(km.centroids).toEqual(copy.centroids);
      expect(km.assign(queries)).toEqual(copy.assign);
    } finally {
      index.dispose();
      km.dispose();
      big.dispose();
    }
  });

  it('centroids, assign, reconstructRange, pairwiseDistances and norms are fresh arrays each call', () => {
    const index = new FlatIndex({ d });
    const km = new KMeans({ d, k: 3, iterations: 3 });
    try {
      index.add(base);
      km.train(base);
      const c1 = km.centroids;
      c1.fill(42);
      expect(km.centroids).not.toEqual(c1);
      const a1 = km.assign(queries);
      const a1Labels = a1.labels.slice();
      a1.labels.fill(9);
      expect(km.assign(queries).labels).toEqual(a1Labels);
      const rr = index.reconstructRange(0, 3);
      rr.fill(0);
      expect(index.reconstructRange(0, 3)).toEqual(base.subarray(0, 3 * d));
      const p1 = pairwiseDistances(queries, base.subarray(0, 5 * d), d);
      const p2 = pairwiseDistances(queries, base.subarray(0, 5 * d), d);
      expect(p1.buffer).not.toBe(p2.buffer);
      p1.fill(7);
      expect(pairwiseDistances(queries, base.subarray(0, 5 * d), d)).toEqual(p2);
      expect(p1.buffer).not.toBe(wasmBuffer());
      const n1 = norms(queries, d);
      expect(n1.buffer).not.toBe(wasmBuffer());
    } finally {
      index.dispose();
      km.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("the caller's arrays are never modified", () => {
  const d = 9;
  const x = uniformVectors(200, d, 31, 5); // far from unit length
  const q = uniformVectors(7, d, 32, 5);
  const ids = Int32Array.from({ length: 200 }, (_, i) => 3 * i + 1);

  function unchanged(run: () => unknown, ...arrays: (Float32Array | Int32Array)[]): void {
    const before = arrays.map((a) => a.slice());
    run();
    arrays.forEach((a, i) => expect(a).toEqual(before[i]));
  }

  it.each(['l2', 'ip', 'cosine'] as const)('FlatIndex %s: add(x, ids) and search(q)', (metric) => {
    const index = new FlatIndex({ d, metric });
    try {
      unchanged(() => index.add(x, ids), x, ids);
      unchanged(() => index.add(x), x);
      unchanged(() => index.search(q, 4), q);
      // subarray inputs: the neighbouring values of the parent array are not touched either
      unchanged(() => index.add(x.subarray(d, 5 * d)), x);
      unchanged(() => index.search(x.subarray(2 * d, 3 * d), 2), x);
    } finally {
      index.dispose();
    }
  });

  it('cosine normalizes a copy: the stored vectors are unit length, the input is not', () => {
    const index = new FlatIndex({ d, metric: 'cosine' });
    try {
      unchanged(() => index.add(x), x);
      const stored = index.reconstructRange(0, 5);
      const inNorms = norms(x.subarray(0, 5 * d), d);
      const storedNorms = norms(stored, d);
      for (let i = 0; i < 5; i++) {
        expect(storedNorms[i]).toBeCloseTo(1, 5);
        expect(inNorms[i]).not.toBeCloseTo(1, 2);
      }
    } finally {
      index.dispose();
    }
  });

  it('KMeans (plain and spherical): train(x) and assign(x)', () => {
    for (const spherical of [false, true]) {
      const km = new KMeans({ d, k: 4, iterations: 4, spherical });
      try {
        unchanged(() => km.train(x), x);
        unchanged(() => km.assign(q), q);
      } finally {
        km.dispose();
      }
    }
  });

  it.each(['l2', 'ip', 'cosine'] as const)('pairwiseDistances %s and norms', (metric) => {
    unchanged(() => pairwiseDistances(q, x, d, metric), q, x);
    unchanged(() => norms(x, d), x);
    unchanged(() => norms(x, d, true), x);
  });

  it('options objects are not modified', () => {
    const fo = { d, metric: 'cosine' as const };
    const ko = { d, k: 3 };
    const index = new FlatIndex(fo);
    const km = new KMeans(ko);
    index.dispose();
    km.dispose();
    expect(fo).toEqual({ d, metric: 'cosine' });
    expect(ko).toEqual({ d, k: 3 });
  });
});
