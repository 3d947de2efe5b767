// WorkerPool on the shared memory of the threads build: the whole pool suite (helpers/poolSuite.ts), then what only
// shared memory has: arenas that confine a worker's allocations, views that see the index as it is at each search, and
// pinning, so that an add() or dispose() on this thread during a pooled search frees nothing the workers read.
import { describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFFlatIndex, IVFPQIndex, KMeans, memoryStats, PQIndex, SQIndex, WorkerPool } from '../dist/index.js';
import { engine, loadEngine } from '../dist/wasm/engine.js';
import { snapshot } from '../dist/parallel/borrow.js';
import { floatVectors } from './helpers/data.js';
import { poolSuite } from './helpers/poolSuite.js';

poolSuite(true);


/** Allocates blocks on this thread filled with 0xff bytes (NaN as floats); returns the function that frees them. */
function scribble(): () => void {
  const eng = engine('test');
  const scribbles: number[] = [];
  for (const size of [...Array(64).fill(4096), ...Array(16).fill(65536)]) {
    const p = eng.alloc(size, 'test');
    eng.u8(p, size).fill(0xff);
    scribbles.push(p);
  }
  return () => scribbles.forEach((p) => eng.free(p));
}

describe('shared memory: arenas, views and pinning', () => {
  const d = 24;
  const x = floatVectors(6000, d, 91);
  const q = floatVectors(400, d, 92);

  it('init({ threads: true }) runs the threads build over a SharedArrayBuffer', async () => {
    const info = await init({ threads: true });
    expect(info.shared).toBe(true);
    const eng = await loadEngine({ threads: true });
    expect(eng.exports.memory instanceof WebAssembly.Memory && (eng.exports.memory as WebAssembly.Memory).buffer instanceof SharedArrayBuffer).toBe(true);
    await expect(loadEngine({ threads: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    // the engine of this thread is the threads build: asking for the other kind now is refused, not ignored
    await expect(init({ threads: false })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('already loaded with threads') });
    expect((await init()).shared).toBe(true);
    // a single-thread module handed over as the threads build, and the other way round: WASM_LOAD, not a crash
    await expect(loadEngine({ threads: true, wasm: new URL('../dist/vqwasm-simd.wasm', import.meta.url) })).rejects.toMatchObject({ code: 'WASM_LOAD', message: expect.stringContaining('threads build') });
    await expect(loadEngine({ wasm: new URL('../dist/vqwasm-threads.wasm', import.meta.url) })).rejects.toMatchObject({ code: 'WASM_LOAD' });
  });

  it('without SharedArrayBuffer, threads: true is NO_THREADS', async () => {
    const g = globalThis as { SharedArrayBuffer?: unknown };
    const saved = g.SharedArrayBuffer;
    delete g.SharedArrayBuffer;
    try {
      await expect(loadEngine({ threads: true })).rejects.toMatchObject({ code: 'NO_THREADS', message: expect.stringContaining('SharedArrayBuffer') });
    } finally {
      g.SharedArrayBuffer = saved;
    }
  });

  it('threadInit confines a second instance to its arena; the allocating instance never hands out arena bytes', async () => {
    const main = await loadEngine({ threads: true });
    const abi = main.exports as unknown as { alloc(n: number): number; free(p: number): number; threadInit(b: number, n: number): number; heapLiveBytes(): number };
    const arenaBytes = 1 << 20;
    const arena = abi.alloc(arenaBytes) >>> 0;
    const other = await WebAssembly.instantiate(main.shared!.module, { env: { memory: main.shared!.memory, abort: () => {} } });
    const w = other.exports as unknown as typeof abi;
    expect(w.threadInit(arena, arenaBytes)).toBe(0);
    expect(w.threadInit(arena, arenaBytes)).toBe(1); // once only
    const got: number[] = [];
    for (;;) {
      const p = w.alloc(100_000) >>> 0;
      if (p === 0) break;
      got.push(p);
      expect(p).toBeGreaterThanOrEqual(arena);
      expect(p + 100_000).toBeLessThanOrEqual(arena + arenaBytes);
    }
    // blocks of 100,000 bytes + a 16-byte header, rounded to 64 (100,032), after the 16,640 bytes of kernel scratch
    // (assembly/memory.ts SCRATCH_BYTES) and the first header's alignment (16,688 bytes): all that fit, and not one more
    expect(got.length).toBe(Math.floor((arenaBytes - 16_688) / 100_032));
    expect(w.free(got[3])).toBe(0);
    expect(w.alloc(100_000) >>> 0).toBe(got[3]); // reuse inside the arena
    // the main heap goes on past the arena
    const after = abi.alloc(4096) >>> 0;
    expect(after >= arena + arenaBytes || after + 4096 <= arena).toBe(true);
    // an instance that already allocated cannot take an arena
    expect(abi.threadInit(arena, arenaBytes)).toBe(1);
  });

  it("an index whose quantizer was disposed by hand: pooled searches and adds refuse DISPOSED, as this thread's do", async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      for (const index of [new PQIndex({ d, m: 6, seed: 1 }), new SQIndex({ d, type: 'int8' })]) {
        index.train(x);
        index.add(x.subarray(0, 1000 * d));
        const sh = await pool.share(index);
        index.quantizer.dispose();
        expect(() => index.search(q, 3)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
        // (the freed codebook handed out again, as any later allocation would)
        const junk = new FlatIndex({ d });
        junk.add(x.subarray(0, 2000 * d));
        await expect(sh.search(q, 3)).rejects.toMatchObject({ code: 'DISPOSED' });
        await expect(pool.add(index, x.subarray(0, 10 * d))).rejects.toMatchObject({ code: 'DISPOSED' });
        expect(index.size).toBe(1000);
        junk.dispose();
        sh.release();
        index.dispose();
      }
    } finally {
      pool.terminate();
    }
  });

  it('a view never carries the id map reconstruct() builds (a cache it never reads), and still searches as this thread does', async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      for (const index of [new FlatIndex({ d }), new IVFFlatIndex({ d, nlist: 8, seed: 1 })]) {
        if (index instanceof IVFFlatIndex) index.train(x);
        index.add(x.subarray(0, 3000 * d), Int32Array.from({ length: 3000 }, (_, i) => 5 * i + 1));
        expect(index.reconstruct([5 * 17 + 1])).toEqual(x.slice(17 * d, 18 * d));
        expect((index as unknown as { idMap: unknown }).idMap).not.toBeNull();
        const { snap } = snapshot(index);
        expect((snap as { v: { idMap: unknown } }).v.idMap).toBeNull();
        const sh = await pool.share(index);
        const opts = index instanceof IVFFlatIndex ? { nprobe: 3 } : {};
        expect(await sh.search(q, 5, opts)).toEqual(index.search(q, 5, opts));
        sh.release();
        index.dispose();
      }
    } finally {
      pool.terminate();
    }
  });

  it("SQIndex 'l2' never searched on this thread: the pool completes its kept code norms here once, and the views use them", async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      const d32 = 32; // d % 16 == 0: the integer scan, which keeps the norms
      const xs = floatVectors(3000, d32, 93);
      const qs = floatVectors(40, d32, 94);
      const index = new SQIndex({ d: d32, type: 'int8', metric: 'l2' });
      index.train(xs);
      index.add(xs);
      const kept = () => (index as unknown as { normsN: number }).normsN;
      expect(kept()).toBe(0); // built lazily
      const sh = await pool.share(index);
      const got = await sh.search(qs, 5);
      expect(kept()).toBe(index.size); // built on this thread, before the views went out
      expect(got).toEqual(index.search(qs, 5));
      index.add(xs.subarray(0, 100 * d32));
      const got2 = await sh.search(qs, 5);
      expect(kept()).toBe(index.size);
      expect(got2).toEqual(index.search(qs, 5));
      sh.release();
      index.dispose();
    } finally {
      pool.terminate();
    }
  });

  it('an add() that moves the buffers during a pooled search: the search sees the index as it was, the old buffers are freed after', async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      for (const make of [() => new FlatIndex({ d }), () => new PQIndex({ d, m: 6, seed: 1 }), () => new IVFPQIndex({ d, nlist: 16, m: 6, seed: 2 })]) {
        const index = make();
        if (!(index instanceof FlatIndex)) index.train(x);
        index.add(x.subarray(0, 1000 * d));
        const opts = index instanceof IVFPQIndex ? { nprobe: 4 } : {};
        const before = index.search(q, 5, opts);
        const sh = await pool.share(index);
        const pending = sh.search(q, 5, opts);
        const live0 = memoryStats().liveBytes;
        index.add(x.subarray(1000 * d)); // grows: new buffers, the old ones would be freed now but for the pin
        expect(memoryStats().liveBytes).toBeGreaterThan(live0);
        // what this thread allocates next reuses freed blocks first (first fit): fill it with NaN bytes, so that a
        // worker reading a buffer freed under it would return garbage
        const unscribble = scribble();
        // a second call started now sees the grown index, while the first still answers from the old one
        const second = sh.search(q, 5, opts);
        expect(await pending).toEqual(before);
        expect(await second).toEqual(index.search(q, 5, opts));
        unscribble();
        // unpinned: the next pooled search sees all 6000 and equals this thread's
        expect(await sh.search(q, 5, opts)).toEqual(index.search(q, 5, opts));
        sh.release();
        index.dispose();
      }
    } finally {
      pool.terminate();
    }
  }, 30_000);

  // remove() and reset() change the buffers in place when nothing reads them: during a pooled call they move to fresh
  // ones first, and the call answers from the index as it was
  const MOVES: [string, (index: FlatIndex | PQIndex | IVFPQIndex | IVFFlatIndex, before: { ids: Int32Array }) => Int32Array][] = [
    ['remove()', (index, before) => {
      // the ids the searches found and many others: the data after them moves down
      const gone = Int32Array.from(new Set([...before.ids, ...Array.from({ length: 600 }, (_, i) => 7 * (3 * i))]));
      expect(index.remove(gone)).toBeGreaterThanOrEqual(600);
      return gone;
    }],
    ['reset() and an add()', (index) => {
      index.reset();
      index.add(x.subarray(2000 * d, 2100 * d)); // new vectors where the old ones were
      return new Int32Array(0);
    }],
  ];
  it.each(MOVES)('a %s during a pooled search: fresh buffers, the search sees the index as it was', async (_name, move) => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      const kinds = [
        () => new FlatIndex({ d }), // compacted in place when not pinned
        () => new PQIndex({ d, m: 6, seed: 1 }), // row-major codes
        () => new PQIndex({ d, m: 6, nbits: 4, seed: 3 }), // fast-scan blocks: rebuilt
        () => new IVFPQIndex({ d, nlist: 16, m: 6, seed: 2 }), // lists
        () => new IVFFlatIndex({ d, nlist: 16, seed: 2 }), // lists of vectors
      ];
      for (const make of kinds) {
        const index = make();
        if (!(index instanceof FlatIndex)) index.train(x);
        index.add(x.subarray(0, 2000 * d), Int32Array.from({ length: 2000 }, (_, i) => 7 * i));
        const opts = index instanceof IVFPQIndex || index instanceof IVFFlatIndex ? { nprobe: 4 } : {};
        const before = index.search(q, 5, opts);
        const sh = await pool.share(index);
        const pending = sh.search(q, 5, opts);
        const gone = move(index, before);
        const unscribble = scribble();
        expect(await pending, index.constructor.name).toEqual(before);
        unscribble();
        const after = index.search(q, 5, opts);
        for (const id of after.ids) expect(gone.includes(id)).toBe(false);
        expect(await sh.search(q, 5, opts)).toEqual(after);
        sh.release();
        index.dispose();
      }
    } finally {
      pool.terminate();
    }
  }, 30_000);

  // appends that stay in the buffers a pending search reads: 5 vectors then 2 more go into lanes of the first panel
  // that the search's view scans, kept out only by their +Infinity bias until the add wrote theirs; far from the
  // origin, 1 vector then 7 more make vector 0 the center, and every stored bias is taken again (within the first
  // buffer's capacity of 8 either way)
  it.each([[5, 2, 0], [1, 7, 1000]])('an add() of %i then %i vectors (around %i) during a pooled FlatIndex search: the search does not see it', async (n0, n1, offset) => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      const shift = (v: Float32Array) => v.map((t) => offset + (offset ? 0.3 : 1) * t);
      const index = new FlatIndex({ d });
      index.add(shift(x.subarray(0, n0 * d)));
      const qs = shift(q.subarray(0, 64 * d));
      const before = index.search(qs, 3);
      const sh = await pool.share(index);
      const pending = sh.search(qs, 3);
      index.add(qs.subarray(0, n1 * d)); // some of the queries themselves: they would find them
      const unscribble = scribble();
      expect(await pending).toEqual(before);
      unscribble();
      expect(await sh.search(qs, 3)).toEqual(index.search(qs, 3));
      sh.release();
      index.dispose();
    } finally {
      pool.terminate();
    }
  }, 30_000);

  it('dispose() during a pooled search: the search completes with the right result, then the memory comes back; later searches are DISPOSED', async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    try {
      const base = memoryStats().liveBytes;
      const index = new FlatIndex({ d, metric: 'ip' });
      index.add(x);
      const want = index.search(q, 7);
      const sh = await pool.share(index);
      const pending = sh.search(q, 7);
      index.dispose();
      expect(memoryStats().liveBytes).toBeGreaterThan(base); // pinned: still allocated
      expect(await pending).toEqual(want);
      expect(memoryStats().liveBytes).toBe(base);
      await expect(sh.search(q, 7)).rejects.toMatchObject({ code: 'DISPOSED' });
      await expect(pool.share(index)).rejects.toMatchObject({ code: 'DISPOSED' });
    } finally {
      pool.terminate();
    }
  }, 30_000);

  it('repeated create / terminate gives the arenas back: memory does not grow', async () => {
    await init({ threads: true });
    const index = new FlatIndex({ d });
    index.add(x);
    const want = index.search(q, 3);
    const sizes: number[] = [];
    const live: number[] = [];
    for (let r = 0; r < 6; r++) {
      const pool = await WorkerPool.create({ threads: 2, arenaBytes: 8 * 2 ** 20 });
      const sh = await pool.share(index);
      expect(await sh.search(q, 3)).toEqual(want);
      pool.terminate();
      await new Promise((res) => setTimeout(res, 50)); // the arenas are freed once the workers have stopped
      sizes.push(memoryStats().memoryBytes);
      live.push(memoryStats().liveBytes);
    }
    expect(new Set(live.slice(1)).size).toBe(1);
    expect(sizes[sizes.length - 1]).toBe(sizes[1]);
    index.dispose();
  }, 60_000);

  it('terminate() during a pooled call: the call rejects ABORTED, the arenas come back once the workers have stopped', async () => {
    await init({ threads: true });
    const index = new FlatIndex({ d });
    index.add(x);
    const base = memoryStats().liveBytes;
    const pool = await WorkerPool.create({ threads: 2, arenaBytes: 4 * 2 ** 20 });
    expect(memoryStats().liveBytes).toBeGreaterThanOrEqual(base + 8 * 2 ** 20);
    const sh = await pool.share(index);
    const big = floatVectors(20000, d, 93);
    const pending = sh.search(big, 10);
    await new Promise((res) => setTimeout(res, 20));
    pool.terminate();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    for (let i = 0; i < 100 && memoryStats().liveBytes !== base; i++) await new Promise((res) => setTimeout(res, 20));
    expect(memoryStats().liveBytes).toBe(base);
    index.dispose();
  }, 30_000);

  it('k-means needs no Atomics.waitAsync on the calling thread (not every browser has it); concurrent calls take turns', async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2 });
    const a = Atomics as { waitAsync?: unknown };
    const saved = a.waitAsync;
    try {
      const data = floatVectors(20000, 8, 94, 3);
      const opts = { d: 8, k: 40, iterations: 4, seed: 9 };
      const local = new KMeans(opts);
      local.train(data);
      delete a.waitAsync;
      // started together: they take turns, each with every worker, and each gets its own centroids
      const [one, two] = await Promise.all([pool.kmeans(opts, data), pool.kmeans({ ...opts, seed: 10 }, data)]);
      const local2 = new KMeans({ ...opts, seed: 10 });
      local2.train(data);
      expect(one.trained.centroids).toEqual(local.centroids);
      expect(two.trained.centroids).toEqual(local2.centroids);
      for (const o of [local, local2, one.trained, two.trained]) o.dispose();
    } finally {
      a.waitAsync = saved;
      pool.terminate();
    }
  }, 30_000);

  it('a pool with private copies still works next to the threads build; options are checked', async () => {
    await init({ threads: true });
    const pool = await WorkerPool.create({ threads: 2, shared: false });
    expect(pool.shared).toBe(false);
    const index = new FlatIndex({ d });
    index.add(x);
    const sh = await pool.share(index);
    expect(await sh.search(q, 4)).toEqual(index.search(q, 4));
    pool.terminate();
    index.dispose();
    await expect(WorkerPool.create({ shared: 1 as unknown as boolean })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    // something with a save() that is not a vqwasm object: refused when shared, not when searched
    const spool = await WorkerPool.create({ threads: 1 });
    class Fake { d = 4; save() { return new Uint8Array(4); } }
    await expect(spool.share(new Fake() as unknown as FlatIndex)).rejects.toMatchObject({ code: 'INVALID_TYPE', message: expect.stringContaining('Fake') });
    spool.terminate();
    await expect(WorkerPool.create({ arenaBytes: 1000 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  }, 30_000);
});

describe('sameSnapshot: whether the workers views are still current', () => {
  // the compare behind every shared search (borrow.ts): true only when nothing a view reads has changed
  it('arrays compare element by element, nested, by length and against non-arrays', async () => {
    const { sameSnapshot } = await import('../dist/parallel/borrow.js');
    const make = (ptr: number) => ({ $t: 'cls', c: 'IVFPQIndex', id: 0, v: { lists: { $t: 'arr', id: 1, v: [8, 16, ptr, 32] }, n: 3 } });
    expect(sameSnapshot(make(24), make(24))).toBe(true);
    // one element of an array of pointers moved (a list reallocated), the length the same
    expect(sameSnapshot(make(24), make(40))).toBe(false);
    expect(sameSnapshot([1, 2, 3], [1, 2])).toBe(false);
    expect(sameSnapshot([1, 2], [1, 2, 3])).toBe(false);
    expect(sameSnapshot([1, [2, 3]], [1, [2, 4]])).toBe(false);
    expect(sameSnapshot([1, [2, 3]], [1, [2, 3]])).toBe(true);
    expect(sameSnapshot([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(sameSnapshot({ 0: 1, 1: 2 }, [1, 2])).toBe(false);
    expect(sameSnapshot([new Int32Array([1, 2])], [new Int32Array([1, 3])])).toBe(false);
    expect(sameSnapshot([new Int32Array([1, 2])], [new Int32Array([1, 2])])).toBe(true);
    expect(sameSnapshot([NaN], [NaN])).toBe(true);
  });
});

describe('revive: the objects a shared-memory worker searches', () => {
  // borrow.ts rebuilds each index object around the same buffers from its snapshot; the worker then runs the class's
  // own methods on it, so it must have the class, every field in the original order, and the shared references
  it('a view has the class and fields of its original, nested instances and shared references, and answers alike', async () => {
    const { snapshot, revive } = await import('../dist/parallel/borrow.js');
    await init({ threads: true });
    const d = 16;
    const x = floatVectors(3000, d, 93);
    const q = floatVectors(50, d, 94);
    const index = new IVFPQIndex({ d, nlist: 16, m: 4, seed: 3 });
    try {
      index.train(x);
      index.add(x);
      const view = revive(structuredClone(snapshot(index).snap), engine('test')) as IVFPQIndex;
      expect(view).toBeInstanceOf(IVFPQIndex);
      expect(view).not.toBe(index);
      expect(Object.keys(view)).toEqual(Object.keys(index));
      // nested class instances keep their classes (the coarse quantizer is a FlatIndex inside the trained state)
      const trained = (index as unknown as { trained: Record<string, unknown> }).trained;
      const vtrained = (view as unknown as { trained: Record<string, unknown> }).trained;
      expect(Object.getPrototypeOf(vtrained)).toBe(Object.getPrototypeOf(trained));
      for (const key of Object.keys(trained)) {
        const a = trained[key];
        if (a !== null && typeof a === 'object' && !ArrayBuffer.isView(a) && !Array.isArray(a)) expect(Object.getPrototypeOf(vtrained[key])).toBe(Object.getPrototypeOf(a));
      }
      // an object met twice in the original is one object in the view: an l2 index probes with its assign index
      expect(trained.probe).toBe(trained.assign);
      expect(vtrained.probe).toBe(vtrained.assign);
      expect(vtrained.probe).toBeInstanceOf(FlatIndex);
      const want = index.search(q, 5, { nprobe: 4 });
      const got = view.search(q, 5, { nprobe: 4 });
      expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
      expect(Array.from(got.distances)).toEqual(Array.from(want.distances));
    } finally {
      index.dispose();
    }
  });
});
