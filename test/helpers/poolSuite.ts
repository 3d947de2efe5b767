// WorkerPool: batch search on worker_threads gives exactly the main thread's result for every index type and option
// (the queries are only split, never approximated), whatever the number of workers; abort, progress, release and
// termination behave; loadIndex restores any index file. Run twice: by pool.test.ts with private memories (copies),
// and by pool-shared.test.ts on the shared memory of the threads build (views).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BinaryIndex, BinaryQuantizer, FlatIndex, init, IVFFlatIndex, IVFPQIndex, KMeans, loadIndex, loadQuantizer, OPQ, PQIndex, ProductQuantizer, ResidualQuantizer,
  RQIndex, ScalarQuantizer, SQIndex, VQError, WorkerPool, memoryStats, type AnyIndex, type AnyQuantizer, type TrainIndexProgress,
} from '../../dist/index.js';
import { clustered, floatVectors, intVectors } from './data.js';
import { claimChunk, searchPullBuffer, searchPullViews } from '../../dist/parallel/pull.js';
import { disposeAfterEach } from './live.js';

/** What the tests see of a pool's lane: its calls, and its worker's port. */
type LaneLike = { call(req: { op: string }, ...rest: unknown[]): Promise<unknown>; port: { terminate(): unknown } };

export function poolSuite(shared: boolean): void {
  const track = disposeAfterEach();
  let pool2: WorkerPool;
  let pool3: WorkerPool;
  // private memories: k-means++ by message round trips, as where SharedArrayBuffer is missing (the others use words)
  let poolMsg: WorkerPool | null = null;

  beforeAll(async () => {
    // the workers load the same build as the main thread so that results can be compared bit for bit
    const { build } = await init({ threads: shared });
    pool2 = await WorkerPool.create({ threads: 2, build });
    pool3 = await WorkerPool.create({ threads: 3, build });
    if (!shared) poolMsg = await WorkerPool.create({ threads: 2, build, byMessage: true });
    expect(pool2.shared).toBe(shared);
  }, 30_000);

  afterAll(() => {
    pool2?.terminate();
    pool3?.terminate();
    poolMsg?.terminate();
  });

  const d = 16;
  const { x } = clustered(10, 120, d, 41);
  const q = floatVectors(203, d, 42, 5);
  /** Rows of d = 16 as rows of 64: four copies, each rescaled (where FlatIndex keeps its int16 copy). */
  const widen = (a: Float32Array): Float32Array => {
    const n = a.length / d;
    const out = new Float32Array(n * 64);
    for (let i = 0; i < n; i++) for (let j = 0; j < 64; j++) out[i * 64 + j] = a[i * d + (j % d)] * (1 + (j >> 4) * 0.25);
    return out;
  };

  /**
   * The pool's lanes (its workers), each call shown to `seen` once sent; restore() gives the lanes their own call back.
   */
  function watchCalls(pool: WorkerPool, seen: (lane: LaneLike, req: { op: string }) => void): { lanes: LaneLike[]; restore(): void } {
    const lanes = (pool as unknown as { lanes: LaneLike[] }).lanes;
    for (const lane of lanes) {
      const call = lane.call.bind(lane);
      lane.call = (req, ...rest) => {
        const p = call(req, ...rest);
        seen(lane, req);
        return p;
      };
    }
    return { lanes, restore: () => lanes.forEach((l) => delete (l as { call?: unknown }).call) };
  }

  /** The CPU (ms) this process spends in the next second: all its threads, workers included. */
  async function cpuMsNextSecond(): Promise<number> {
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / 1000;
  }

  /** After refused or aborted work: the pool still answers a search as this thread does. */
  async function stillServes(pool: WorkerPool): Promise<void> {
    const f = track(new FlatIndex({ d }));
    f.add(x);
    const shared = await pool.share(f);
    expect(await shared.search(q, 3)).toEqual(f.search(q, 3));
    shared.release();
  }

  function trained<T extends { train(x: Float32Array): unknown; add(x: Float32Array, ids?: Int32Array): void }>(index: T, ids?: Int32Array): T {
    index.train(x);
    index.add(x, ids);
    return index;
  }

  // name, index, search options, queries (the suite's q when absent)
  const CASES: [string, () => AnyIndex, Record<string, unknown>, Float32Array?][] = [
    ['FlatIndex ip', () => {
      const f = new FlatIndex({ d, metric: 'ip' });
      f.add(x);
      return f;
    }, {}],
    ['PQIndex 8-bit', () => trained(new PQIndex({ d, m: 4, seed: 1 })), {}],
    ['PQIndex fast-scan, refine + rerank', () => trained(new PQIndex({ d, m: 8, nbits: 4, refine: true, seed: 2 })), { rerank: 40 }],
    ['IVFPQIndex nprobe 3, custom ids', () => trained(new IVFPQIndex({ d, m: 4, nlist: 8, metric: 'ip', seed: 3 }), Int32Array.from({ length: 1200 }, (_, i) => 10 * i)), { nprobe: 3 }],
    ['SQIndex int8', () => trained(new SQIndex({ d, type: 'int8', metric: 'ip' })), {}],
    ['SQIndex uint8 l2 (integer scan, kept code norms)', () => trained(new SQIndex({ d, type: 'uint8', metric: 'l2' })), {}],
    ['IVFFlatIndex nprobe 2', () => trained(new IVFFlatIndex({ d, nlist: 8, seed: 6 })), { nprobe: 2 }],
    ['BinaryIndex + rerank', () => trained(new BinaryIndex({ d, refine: true })), { rerank: 50 }],
    ['RQIndex', () => trained(new RQIndex({ d, levels: 2, nbits: 6, seed: 4 })), {}],
    ['FlatIndex l2 d = 64 (int16 prefilter, filters before its bounds), custom ids', () => {
      const f = new FlatIndex({ d: 64 });
      f.add(widen(x), Int32Array.from({ length: 1200 }, (_, i) => 5000 - 3 * i));
      return f;
    }, {}, widen(q)],
    // after remove(): the compacted index (moved in place), and a fast-scan one (rebuilt), then vectors added again
    ['FlatIndex d = 64 after remove() and add()', () => {
      const f = new FlatIndex({ d: 64 });
      f.add(widen(x));
      f.remove(Int32Array.from({ length: 300 }, (_, i) => 4 * i + 1));
      f.add(widen(q).subarray(0, 20 * 64));
      return f;
    }, {}, widen(q)],
    ['IVFPQIndex fast-scan after remove() and add()', () => {
      const v = trained(new IVFPQIndex({ d, m: 8, nbits: 4, nlist: 8, seed: 7 }));
      v.remove(Int32Array.from({ length: 300 }, (_, i) => 4 * i + 2));
      v.add(q.subarray(0, 20 * d));
      return v;
    }, { nprobe: 4 }],
  ];

  describe('WorkerPool search equals the main thread', () => {
    for (const [name, make, opts, cq] of CASES) {
      it(name, async () => {
        const index = track(make());
        const qs = cq ?? q;
        const want = index.search(qs, 10, opts);
        const exclude = Array.from({ length: 203 }, (_, i) => Int32Array.from(want.ids.subarray(i * 10, i * 10 + 3)));
        const wantEx = index.search(qs, 10, { ...opts, exclude });
        // poolMsg (private memories only): chunks sent one message each, as where SharedArrayBuffer is missing
        for (const pool of [pool2, pool3, ...(poolMsg ? [poolMsg] : [])]) {
          const shared = await pool.share(index);
          expect(await shared.search(qs, 10, opts)).toEqual(want);
          expect(await shared.search(qs, 10, { ...opts, exclude })).toEqual(wantEx);
          shared.release();
        }
      }, 30_000);
    }
  });

  describe('WorkerPool rangeSearch equals the main thread', () => {
    it('FlatIndex (l2 with filters, ip), IVFFlatIndex and the code indexes', async () => {
      const flat = track(new FlatIndex({ d }));
      flat.add(x, Int32Array.from({ length: 1200 }, (_, i) => 3 * i));
      const flatIp = track(new FlatIndex({ d, metric: 'ip' }));
      flatIp.add(x);
      const ivf = track(trained(new IVFFlatIndex({ d, nlist: 8, seed: 6 })));
      const fs = track(trained(new PQIndex({ d, m: 4, nbits: 4, seed: 2 })));
      const ivfpq = track(trained(new IVFPQIndex({ d, nlist: 8, m: 4, metric: 'ip', seed: 3 })));
      const sq = track(trained(new SQIndex({ d, type: 'int8' })));
      const rq = track(trained(new RQIndex({ d, levels: 2, nbits: 4, seed: 1 })));
      for (const pool of [pool2, pool3]) {
        for (const [index, opts] of [[flat, {}], [flatIp, {}], [ivf, { nprobe: 3 }], [fs, {}], [ivfpq, { nprobe: 2 }], [sq, {}], [rq, {}]] as const) {
          const r = index.search(q.subarray(0, d), 40, opts).distances[39];
          const want = index.rangeSearch(q, r, opts);
          const shared = await pool.share(index);
          expect(await shared.rangeSearch(q, r, opts)).toEqual(want);
          if (index === flat) {
            const exclude = Array.from({ length: 203 }, (_, i) => want.ids.subarray(want.lims[i], want.lims[i] + 2));
            expect(await shared.rangeSearch(q, r, { exclude })).toEqual(flat.rangeSearch(q, r, { exclude }));
          }
          shared.release();
        }
      }
    }, 30_000);
  });

  describe('WorkerPool search where the runtime refuses a shared buffer', () => {
    it.skipIf(shared)('private memories: the chunks go by message, same results', async () => {
      const index = track(new FlatIndex({ d }));
      index.add(x);
      const want = index.search(q, 10);
      const view = await pool2.share(index);
      const refused = await refusingSharedBuffersOver(1024, async () => expect(await view.search(q, 10)).toEqual(want));
      expect(refused).toBe(1);
      view.release();
    }, 30_000);
  });

  describe('WorkerPool behaviour', () => {
    it.each([1, 2])('runChunks with depth %i: every row once, at most depth chunks queued on a worker, none taken after an abort', async (depth) => {
      type Lane = unknown;
      const run = (pool2 as unknown as {
        runChunks(w: string, n: number, max: number, min: number, s: AbortSignal | undefined, p: undefined, t: (l: Lane, r0: number, c: number) => Promise<void>, depth: number): Promise<void>;
      }).runChunks.bind(pool2);
      const n = 1000;
      const hits = new Int32Array(n);
      const open = new Map<Lane, number>();
      let most = 0;
      const task = async (lane: Lane, r0: number, c: number) => {
        open.set(lane, (open.get(lane) ?? 0) + 1);
        most = Math.max(most, open.get(lane)!);
        await new Promise((r) => setTimeout(r, 2));
        for (let i = r0; i < r0 + c; i++) hits[i]++;
        open.set(lane, open.get(lane)! - 1);
      };
      await run('test', n, n, 16, undefined, undefined, task, depth);
      expect(Array.from(hits).every((h) => h === 1)).toBe(true);
      expect(most).toBe(depth); // (two lanes; the chunks outnumber them)
      // aborted after the first chunk is done: what was queued by then finishes, nothing is taken after
      const ac = new AbortController();
      let taken = 0;
      let after = 0;
      await expect(run('test', n, n, 16, ac.signal, undefined, async (lane, r0, c) => {
        taken++;
        if (ac.signal.aborted) after++;
        await task(lane, r0, c);
        ac.abort();
      }, depth)).rejects.toMatchObject({ code: 'ABORTED' });
      expect(after).toBe(0);
      expect(taken).toBeLessThanOrEqual(2 * depth);
    });

    it('reports progress up to nq, and an aborted signal rejects with ABORTED', async () => {
      const index = track(trained(new PQIndex({ d, m: 4, seed: 5 })));
      const shared = await pool2.share(index);
      const seen: number[] = [];
      await shared.search(q, 5, { onProgress: ({ done, total }) => seen.push(done / total) });
      expect(seen.length).toBeGreaterThan(1);
      expect(seen[seen.length - 1]).toBe(1);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
      const ac = new AbortController();
      ac.abort();
      await expect(shared.search(q, 5, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      // aborted during the run: the chunks not yet started are skipped
      const ac2 = new AbortController();
      const p = shared.search(q, 5, { signal: ac2.signal, onProgress: () => ac2.abort() });
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
      shared.release();
      await expect(shared.search(q, 5)).rejects.toMatchObject({ code: 'DISPOSED' });
    });

    it('an onProgress that throws rejects the call with its error (search, and train in a worker); the process and the pool go on', async () => {
      const index = track(trained(new PQIndex({ d, m: 4, seed: 5 })));
      const boom = new Error('callback failed');
      for (const pool of [pool2, pool3, ...(poolMsg ? [poolMsg] : [])]) {
        const shared = await pool.share(index);
        let calls = 0;
        const p = shared.search(q, 5, { onProgress: () => { calls++; throw boom; } });
        await expect(p).rejects.toBe(boom);
        expect(calls).toBe(1);
        expect(await shared.search(q, 5)).toEqual(index.search(q, 5));
        shared.release();
      }
      await expect(pool2.train('KMeans', { d, k: 6, iterations: 5, seed: 3 }, x, { onProgress: () => { throw boom; } })).rejects.toBe(boom);
      await stillServes(pool2);
    });

    it.runIf(shared)('a worker whose arena is too small for a call says so (OUT_OF_MEMORY naming the arena and arenaBytes), and the pool goes on', async () => {
      const { build } = await init({ threads: shared });
      const p = await WorkerPool.create({ threads: 2, build, arenaBytes: 2 ** 20 });
      try {
        const big = floatVectors(20000, 64, 10);
        const flat = track(new FlatIndex({ d: 64 }));
        flat.add(big);
        const s = await p.share(flat);
        // 400 queries x k = 2000: heaps of megabytes per chunk, over the 1 MiB arena (the calling thread answers)
        expect(flat.search(big.subarray(0, 400 * 64), 2000).ids.length).toBe(800000);
        await expect(s.search(big.subarray(0, 400 * 64), 2000)).rejects.toMatchObject({ code: 'OUT_OF_MEMORY', message: expect.stringMatching(/arena of 1\.0 MiB: a larger arenaBytes/) });
        expect(await s.search(big.subarray(0, 4 * 64), 5)).toEqual(flat.search(big.subarray(0, 4 * 64), 5));
      } finally {
        p.terminate();
      }
    }, 30_000);

    it('release() lets the searches already accepted finish (at once or a moment later), in every pool kind; later ones are DISPOSED', async () => {
      const big = floatVectors(20000, d, 9);
      const flat = track(new FlatIndex({ d }));
      flat.add(big);
      const qs = big.subarray(0, 3000 * d);
      const want = flat.search(qs, 5);
      for (const pool of [pool2, pool3, ...(poolMsg ? [poolMsg] : [])]) {
        for (const wait of [0, 5]) {
          const s = await pool.share(flat);
          const p = s.search(qs, 5);
          if (wait) await new Promise((r) => setTimeout(r, wait));
          s.release();
          expect(await p).toEqual(want);
          await expect(s.search(qs, 5)).rejects.toMatchObject({ code: 'DISPOSED' });
        }
      }
      await stillServes(pool2);
    }, 60_000);

    it('hands out every row once, in chunks that shrink as the rows run out (guided), within the given bounds', async () => {
      for (const [pool, n, max, min] of [[pool2, 2000, 2000, 16], [pool3, 2000, 300, 16], [pool2, 37, 37, 16], [pool3, 5, 5, 1], [pool2, 1000, 1000, 256]] as const) {
        const chunks: [number, number][] = [];
        const busy = new Set<unknown>();
        let overlap = false;
        await pool.runChunks('test', n, max, min, undefined, undefined, async (lane, r0, c) => {
          if (busy.has(lane)) overlap = true; // a lane runs one chunk at a time
          busy.add(lane);
          chunks.push([r0, c]);
          await new Promise((res) => setTimeout(res, 1));
          busy.delete(lane);
        });
        expect(overlap).toBe(false);
        chunks.sort((a, b) => a[0] - b[0]);
        let next = 0;
        for (const [i, [r0, c]] of chunks.entries()) {
          expect(r0).toBe(next); // contiguous, no row twice or missed
          expect(c).toBeLessThanOrEqual(max);
          if (r0 + c < n) expect(c).toBeGreaterThanOrEqual(min); // only the last may be short
          if (i > 0) expect(c).toBeLessThanOrEqual(chunks[i - 1][1]); // never grows
          next = r0 + c;
        }
        expect(next).toBe(n);
        // the first chunk takes 1 / (2 * threads) of the rows, not all of them
        if (n >= 2 * pool.threads * min) expect(chunks[0][1]).toBe(Math.min(max, Math.ceil(n / (2 * pool.threads))));
        if (n === 2000 && max === 2000) expect(chunks[chunks.length - 1][1]).toBeLessThanOrEqual(min);
      }
    });

    it('pull mode: claimChunk hands out every query once, in guided chunks that never grow, and none once aborted', () => {
      for (const [nq, minChunk, parts] of [[2000, 16, 4], [37, 16, 4], [5, 1, 6], [1000, 256, 4]] as const) {
        const buf = searchPullBuffer(new Float32Array(nq * 2), nq, 2, 3, minChunk, parts);
        const v = searchPullViews(buf);
        expect([v.nq, v.d, v.k, v.minChunk, v.parts]).toEqual([nq, 2, 3, minChunk, parts]);
        let next = 0;
        let last = Infinity;
        for (let c0 = claimChunk(v.ctrl, nq, minChunk, parts); c0 !== null; c0 = claimChunk(v.ctrl, nq, minChunk, parts)) {
          const [r0, c] = c0;
          expect(r0).toBe(next);
          if (r0 + c < nq) expect(c).toBeGreaterThanOrEqual(minChunk);
          expect(c).toBeLessThanOrEqual(last);
          if (r0 === 0) expect(c).toBe(Math.min(nq, Math.max(minChunk, Math.ceil(nq / parts))));
          last = c;
          next = r0 + c;
        }
        expect(next).toBe(nq);
        const again = searchPullViews(searchPullBuffer(new Float32Array(nq * 2), nq, 2, 3, minChunk, parts));
        Atomics.store(again.ctrl, 1, 1);
        expect(claimChunk(again.ctrl, nq, minChunk, parts)).toBeNull();
      }
    });

    it('errors inside a worker come back as the same VQError; bad input is refused before any worker sees it', async () => {
      const index = track(trained(new PQIndex({ d, m: 4, seed: 6 })));
      const shared = await pool2.share(index);
      await expect(shared.search(q, 5, { rerank: 10 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('rerank') });
      await expect(shared.search(new Float32Array(5), 5)).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      await expect(shared.search(q, 5, { exclude: [] })).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      await expect(shared.search(q, 5, { signal: {} as AbortSignal })).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      await expect(pool2.share({} as AnyIndex)).rejects.toBeInstanceOf(VQError);
      // the pool still works after the refusals
      expect(await shared.search(q, 5)).toEqual(index.search(q, 5));
      shared.release();
    });

    it(shared ? 'a shared index is a view: each search sees the index as it is then' : 'a shared index is a snapshot: later adds reach it only when shared again', async () => {
      const index = track(new FlatIndex({ d }));
      index.add(x.subarray(0, 100 * d));
      const sh = await pool2.share(index);
      index.add(x.subarray(100 * d));
      const r = await sh.search(q, 3);
      if (shared) expect(r).toEqual(index.search(q, 3));
      else expect(Math.max(...r.ids)).toBeLessThan(100);
      const again = await pool2.share(index);
      expect(await again.search(q, 3)).toEqual(index.search(q, 3));
      sh.release();
      again.release();
    });

    it('a terminated pool refuses new work with DISPOSED; create validates threads', async () => {
      const { build } = await init({ threads: shared });
      const p = await WorkerPool.create({ threads: 1, build });
      expect(p.threads).toBe(1);
      p.terminate();
      const index = track(trained(new PQIndex({ d, m: 4, seed: 7 })));
      await expect(p.share(index)).rejects.toMatchObject({ code: 'DISPOSED' });
      await expect(WorkerPool.create({ threads: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    });

    it('terminate() rejects with ABORTED every accepted call: those running, those queued for a worker, and a train() in a worker of its own', async () => {
      const { build } = await init({ threads: shared });
      const p = await WorkerPool.create({ threads: 2, build });
      const big = floatVectors(20000, 32, 6);
      const flat = track(new FlatIndex({ d: 32 }));
      flat.add(big);
      const s = await p.share(flat);
      // four searches on two workers: two run, two wait for a worker (private memories; the shared memory's pull
      // mode takes one lane per worker per call as well)
      const searches = [0, 1, 2, 3].map(() => s.search(big.subarray(0, 4000 * 32), 10).then(() => 'resolved', (e: VQError) => e.code));
      // a signal gives the training a worker of its own (the shared memory always does)
      let progress = 0;
      const training = p.train('KMeans', { d: 32, k: 256, iterations: 200, seed: 1 }, big, { signal: new AbortController().signal, onProgress: () => progress++ })
        .then(() => 'resolved', (e: VQError) => e.code);
      await new Promise((r) => setTimeout(r, 50));
      p.terminate();
      const seen = progress;
      expect(await Promise.all(searches)).toEqual(['ABORTED', 'ABORTED', 'ABORTED', 'ABORTED']);
      expect(await training).toBe('ABORTED');
      // stopped at once: a training or search left to run would report more progress and spend CPU meanwhile
      expect(await cpuMsNextSecond()).toBeLessThan(150);
      expect(progress).toBe(seen);
      await expect(s.search(big.subarray(0, 32), 1)).rejects.toMatchObject({ code: 'DISPOSED' });
    }, 30_000);

    it('sharing a disposed index or quantizer is DISPOSED (an IVF index reads as untrained once disposed)', async () => {
      for (const make of [() => new IVFPQIndex({ d, nlist: 4, m: 4, seed: 1 }), () => new IVFFlatIndex({ d, nlist: 4, seed: 1 }), () => new PQIndex({ d, m: 4, seed: 1 })]) {
        const index = trained(make());
        index.dispose();
        await expect(pool2.share(index)).rejects.toMatchObject({ code: 'DISPOSED' });
      }
      const pq = new ProductQuantizer({ d, m: 4, seed: 1 });
      pq.train(x);
      pq.dispose();
      await expect(pool2.shareQuantizer(pq)).rejects.toMatchObject({ code: 'DISPOSED' });
    });
  });

  describe('WorkerPool encode equals the main thread', () => {
    const QUANTIZERS: [string, () => AnyQuantizer][] = [
      ['ProductQuantizer 6-bit', () => new ProductQuantizer({ d, m: 4, nbits: 6, seed: 1 })],
      ['OPQ', () => new OPQ({ d, m: 4, nbits: 4, seed: 2, iterations: 3 })],
      ['ResidualQuantizer beam 4', () => new ResidualQuantizer({ d, levels: 3, nbits: 5, beamSize: 4, seed: 3 })],
      ['ScalarQuantizer fp16', () => new ScalarQuantizer({ d, type: 'fp16' })],
      ['BinaryQuantizer rotate', () => new BinaryQuantizer({ d, rotate: true, seed: 4 })],
    ];
    for (const [name, make] of QUANTIZERS) {
      it(name, async () => {
        const qz = track(make());
        qz.train(x);
        const want = qz.encode(x);
        const shared = await pool3.shareQuantizer(qz);
        const seen: number[] = [];
        expect(await shared.encode(x, { onProgress: ({ done }) => seen.push(done) })).toEqual(want);
        expect(seen[seen.length - 1]).toBe(1200);
        shared.release();
        await expect(shared.encode(x)).rejects.toMatchObject({ code: 'DISPOSED' });
        const back = track(loadQuantizer(qz.save()));
        expect(back.encode(x)).toEqual(want);
      }, 30_000);
    }

    it('refuses untrained quantizers and indexes where a quantizer is expected', async () => {
      await expect(pool2.shareQuantizer(track(new ProductQuantizer({ d, m: 4 })))).rejects.toMatchObject({ code: 'NOT_TRAINED' });
      await expect(pool2.share(track(new PQIndex({ d, m: 4 })))).rejects.toMatchObject({ code: 'NOT_TRAINED' });
      const flat = track(new FlatIndex({ d }));
      expect(() => loadQuantizer(flat.save())).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA' }));
    });
  });

  describe('WorkerPool.train: training in a worker of its own', () => {
    it('gives the same bytes as training on this thread (indexes with add, quantizers, KMeans with progress)', async () => {
      const main = track(new PQIndex({ d, m: 4, nbits: 6, seed: 11 }));
      main.train(x);
      main.add(x);
      const { trained } = await pool2.train('PQIndex', { d, m: 4, nbits: 6, seed: 11 }, x, { add: true });
      track(trained);
      expect(trained.save()).toEqual(main.save());
      const rq = track(new ResidualQuantizer({ d, levels: 2, nbits: 5, seed: 12 }));
      const rqResult = rq.train(x);
      const w = await pool2.train('ResidualQuantizer', { d, levels: 2, nbits: 5, seed: 12 }, x);
      track(w.trained);
      expect(w.trained.save()).toEqual(rq.save());
      expect(w.result).toEqual(rqResult);
      const km = track(new KMeans({ d, k: 12, iterations: 7, seed: 13 }));
      km.train(x);
      const seen: { iteration: number }[] = [];
      const k2 = await pool2.train('KMeans', { d, k: 12, iterations: 7, seed: 13 }, x, { onProgress: (p) => seen.push(p as { iteration: number }) });
      track(k2.trained);
      expect(k2.trained.centroids).toEqual(km.centroids);
      expect(seen.map((p) => p.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    }, 30_000);

    it('abort terminates the training worker; bad kinds, options and data are refused', async () => {
      const big = floatVectors(20000, 32, 5);
      const ac = new AbortController();
      // the run reaches a fixed point within a second and then reports its remaining iterations at once: a worker
      // left to finish would call onProgress again; a terminated one cannot
      let after = 0;
      const p = pool2.train('KMeans', { d: 32, k: 256, iterations: 200, seed: 1 }, big, {
        signal: ac.signal,
        onProgress: () => (ac.signal.aborted ? after++ : ac.abort()),
      });
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
      // and the worker stopped: a training left running would spend about half a second more of CPU (measured:
      // 489 ms in the next second against 6 ms once terminated)
      expect(await cpuMsNextSecond()).toBeLessThan(150);
      expect(after).toBe(0);
      await expect(pool2.train('Nope' as 'KMeans', { d }, x)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await expect(pool2.train('PQIndex', { d, m: 5 }, x)).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('new PQIndex') });
      await expect(pool2.train('KMeans', { d, k: 4, onProgress: () => {} }, x)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await expect(pool2.train('KMeans', { d, k: 4 }, [1, 2] as unknown as Float32Array)).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      await expect(pool2.train('ProductQuantizer', { d, m: 4, nbits: 4 }, x, { add: true })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      // the pool's own workers were not affected
      await stillServes(pool2);
    }, 60_000);
  });

  describe('WorkerPool.trainPQ: the sub-space k-means runs on all workers', () => {
    it('the same codebook bytes and result as ProductQuantizer.train (sampling, anisotropic), with progress', async () => {
      // every worker takes part: count the sub-space jobs each lane is sent
      const jobs = new Map<LaneLike, number>();
      const watched = [pool2, pool3].map((pool) => watchCalls(pool, (lane, req) => req.op === 'pqJob' && jobs.set(lane, (jobs.get(lane) ?? 0) + 1)));
      for (const [opts, trainOptions] of [
        [{ d, m: 4, nbits: 6, seed: 21 }, {}],
        [{ d, m: 8, nbits: 4, seed: 22, maxPointsPerCentroid: 40 }, {}], // 640 of 1200 sampled
        [{ d, m: 4, nbits: 5, seed: 23, anisotropicThreshold: 0.2 }, {}],
      ] as const) {
        const local = track(new ProductQuantizer(opts));
        const want = local.train(x, trainOptions);
        for (const pool of [pool2, pool3]) {
          const seen: number[] = [];
          const { trained, result } = await pool.trainPQ(opts, x, { trainOptions, onProgress: ({ done }) => seen.push(done) });
          track(trained);
          expect(trained.save()).toEqual(local.save());
          expect(result).toEqual(want);
          expect(seen[seen.length - 1]).toBe(opts.m);
        }
      }
      const counts = watched.flatMap((w) => (w.restore(), w.lanes.map((l) => jobs.get(l) ?? 0)));
      expect(counts.every((c) => c > 0), counts.join()).toBe(true);
      // trainPQ builds a fresh quantizer: a warm start has nothing to start from
      await expect(pool2.trainPQ({ d, m: 4, nbits: 5 }, x, { trainOptions: { warmStart: true } as object })).rejects.toMatchObject({ code: 'NOT_TRAINED' });
    }, 60_000);

    it('abort, bad options and too few points are refused as by ProductQuantizer', async () => {
      const ac = new AbortController();
      ac.abort();
      await expect(pool2.trainPQ({ d, m: 4 }, x, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      const ac2 = new AbortController();
      await expect(pool2.trainPQ({ d, m: 8, nbits: 6 }, x, { signal: ac2.signal, onProgress: () => ac2.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(pool2.trainPQ({ d, m: 5 }, x)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await expect(pool2.trainPQ({ d, m: 4 }, x.subarray(0, 100 * d))).rejects.toMatchObject({ code: 'TOO_FEW_POINTS' });
      await expect(pool2.trainPQ({ d, m: 4 }, [1] as unknown as Float32Array)).rejects.toMatchObject({ code: 'INVALID_TYPE' });
    }, 30_000);
  });

  describe('WorkerPool.trainIndex: an index trained with its k-means and PQ runs on the workers', () => {
    const CASES_T: [string, () => PQIndex | IVFFlatIndex | IVFPQIndex | RQIndex][] = [
      ['IVFPQIndex l2 8x6', () => new IVFPQIndex({ d, nlist: 12, m: 8, nbits: 6, seed: 31 })],
      ['IVFPQIndex ip 4x8 random coarse seeding', () => new IVFPQIndex({ d, nlist: 9, m: 4, metric: 'ip', seed: 32, coarseInit: 'random' })],
      ['IVFPQIndex opq 4x5', () => new IVFPQIndex({ d, nlist: 7, m: 4, nbits: 5, opq: true, opqIterations: 2, seed: 33 })],
      ['IVFPQIndex anisotropic ip 8x4', () => new IVFPQIndex({ d, nlist: 10, m: 8, nbits: 4, metric: 'ip', anisotropicThreshold: 0.2, seed: 34 })],
      ['IVFFlatIndex l2', () => new IVFFlatIndex({ d, nlist: 15, seed: 35 })],
      ['PQIndex 8x8 l2', () => new PQIndex({ d, m: 8, seed: 36 })],
      ['PQIndex 8x4 fast-scan ip, anisotropic', () => new PQIndex({ d, m: 8, nbits: 4, metric: 'ip', anisotropicThreshold: 0.2, seed: 37 })],
      ['PQIndex opq 4x6', () => new PQIndex({ d, m: 4, nbits: 6, opq: true, opqIterations: 3, seed: 38 })],
      ['RQIndex l2 3x6', () => new RQIndex({ d, levels: 3, nbits: 6, seed: 39 })],
      ['RQIndex ip 2x8, beam 4, sampled', () => new RQIndex({ d, levels: 2, nbits: 8, beamSize: 4, metric: 'ip', maxPointsPerCentroid: 3, seed: 40 })],
    ];

    it('leaves each kind exactly as index.train(x) does: same bytes, same result, same searches', async () => {
      for (const [name, make] of CASES_T) {
        const local = track(make());
        const want = local.train(x);
        local.add(x);
        for (const pool of [pool2, pool3]) {
          const index = track(make());
          const got = await pool.trainIndex(index, x);
          expect(got, name).toEqual(want);
          index.add(x);
          expect(index.save(), name).toEqual(local.save());
          expect(index.search(q, 5), name).toEqual(local.search(q, 5));
        }
      }
    }, 120_000);

    it('trains on the workers: this thread stays free (a 1 ms timer keeps firing, where train() would block it)', async () => {
      const big = floatVectors(20000, 12, 79, 3);
      for (const make of [() => new IVFPQIndex({ d: 12, nlist: 64, m: 4, seed: 46 }), () => new PQIndex({ d: 12, m: 6, seed: 47 })]) {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 1);
        const t0 = performance.now();
        try {
          await pool2.trainIndex(track(make()), big);
        } finally {
          clearInterval(timer);
        }
        const ms = performance.now() - t0;
        // a synchronous train() in there would leave 0 ticks; a free thread gets about one per ms
        expect(ticks).toBeGreaterThan(Math.min(20, ms / 10));
      }
    }, 60_000);

    it('reports each step\'s k-means iterations and PQ sub-spaces, in order', async () => {
      for (const [make, kinds] of [
        [() => new IVFPQIndex({ d, nlist: 8, m: 4, nbits: 5, coarseIterations: 6, seed: 48 }), ['kmeans', 'pq']],
        [() => new IVFPQIndex({ d, nlist: 8, m: 4, nbits: 5, opq: true, opqIterations: 2, coarseIterations: 3, seed: 49 }), ['pq', 'pq', 'pq', 'kmeans', 'pq']],
        [() => new PQIndex({ d, m: 8, nbits: 5, seed: 50 }), ['pq']],
        [() => new IVFFlatIndex({ d, nlist: 6, coarseIterations: 4, seed: 51 }), ['kmeans']],
        [() => new RQIndex({ d, levels: 3, nbits: 4, iterations: 5, seed: 52 }), ['kmeans', 'kmeans', 'kmeans']],
      ] as const) {
        const seen: TrainIndexProgress[] = [];
        await pool2.trainIndex(track(make()), x, { onProgress: (p) => seen.push(p) });
        const steps: string[] = [];
        let last: TrainIndexProgress | null = null;
        for (const p of seen) {
          if (!last || p.step !== last.step) {
            if (last) expect(last.done).toBe(last.total); // the step before ran to its end
            expect(p.step).toBe(steps.length);
            steps.push(p.kind);
          } else {
            expect(p.kind).toBe(last.kind);
            expect(p.done).toBeGreaterThan(last.done);
          }
          expect(p.done).toBeLessThanOrEqual(p.total);
          last = p;
        }
        expect(last!.done).toBe(last!.total);
        expect(steps).toEqual(kinds);
      }
      await expect(pool2.trainIndex(track(new PQIndex({ d, m: 4 })), x, { onProgress: 3 as unknown as () => void })).rejects.toMatchObject({ code: 'INVALID_TYPE' });
    }, 60_000);

    it('retrains a trained empty index; refuses what train() refuses and other kinds, before any work', async () => {
      const index = track(new IVFPQIndex({ d, nlist: 8, m: 4, seed: 41 }));
      index.train(x.subarray(0, 600 * d));
      const local = track(new IVFPQIndex({ d, nlist: 8, m: 4, seed: 41 }));
      local.train(x);
      await pool2.trainIndex(index, x);
      expect(index.save()).toEqual(local.save());
      index.add(x.subarray(0, 10 * d));
      const before = index.save();
      await expect(pool2.trainIndex(index, x)).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('already holds vectors') });
      await expect(pool2.trainIndex(track(new PQIndex({ d, m: 4 })), x.subarray(0, 100 * d))).rejects.toMatchObject({ code: 'TOO_FEW_POINTS' });
      await expect(pool2.trainIndex(track(new IVFFlatIndex({ d, nlist: 8 })), new Float32Array(7))).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      await expect(pool2.trainIndex(track(new RQIndex({ d, levels: 2, nbits: 8 })), x.subarray(0, 200 * d))).rejects.toMatchObject({ code: 'TOO_FEW_POINTS' });
      await expect(pool2.trainIndex(track(new FlatIndex({ d })) as unknown as PQIndex, x)).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      const gone = new IVFPQIndex({ d, nlist: 8, m: 4 });
      gone.dispose();
      await expect(pool2.trainIndex(gone, x)).rejects.toMatchObject({ code: 'DISPOSED' });
      expect(index.save()).toEqual(before);
    }, 60_000);

    it('abort, or a dispose / add on this thread meanwhile, rejects, keeps the index as it was and frees what training made', async () => {
      const live0 = memoryStats().liveBytes;
      // aborted before, and during the coarse k-means: an untrained index stays untrained
      const ac = new AbortController();
      ac.abort();
      const idx = track(new IVFPQIndex({ d, nlist: 8, m: 4, seed: 42 }));
      await expect(pool2.trainIndex(idx, x, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      const ac2 = new AbortController();
      const p = pool2.trainIndex(idx, x, { signal: ac2.signal });
      ac2.abort();
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
      expect(idx.isTrained).toBe(false);
      // a trained index filled while it retrains: the new training is dropped, the vectors keep their codes
      const filled = [track(new IVFPQIndex({ d, nlist: 8, m: 4, seed: 43 })), track(new PQIndex({ d, m: 4, seed: 44 })), track(new RQIndex({ d, levels: 2, nbits: 5, seed: 47 }))];
      for (const index of filled) {
        index.train(x);
        const retrain = pool2.trainIndex(index, x.subarray(0, 900 * d));
        index.add(x.subarray(0, 20 * d));
        const kept = index.save();
        await expect(retrain, index.constructor.name).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        expect(index.save()).toEqual(kept);
      }
      // aborted inside OPQ's alternations (its scratch PQ, rotation buffers and fresh quantizer all freed)
      const opq = track(new PQIndex({ d, m: 4, nbits: 5, opq: true, opqIterations: 40, seed: 46 }));
      const ac3 = new AbortController();
      const p5 = pool2.trainIndex(opq, x, { signal: ac3.signal });
      setTimeout(() => ac3.abort(), 5);
      await expect(p5).rejects.toMatchObject({ code: 'ABORTED' });
      expect(opq.isTrained).toBe(false);
      opq.dispose();
      // disposed while it trains
      const doomed = new IVFFlatIndex({ d, nlist: 8, seed: 45 });
      const p4 = pool2.trainIndex(doomed, x);
      doomed.dispose();
      await expect(p4).rejects.toMatchObject({ code: 'DISPOSED' });
      for (const index of filled) index.dispose();
      idx.dispose();
      expect(memoryStats().liveBytes).toBe(live0);
      await stillServes(pool2);
    }, 60_000);
  });

  describe('WorkerPool.add: the encoding on the workers, the append here', () => {
    const y = floatVectors(1500, d, 51, 3); // several chunks per worker (at least 256 rows each)
    const yIds = Int32Array.from({ length: 1500 }, (_, i) => 7 * i + 3);
    const ADD_CASES: [string, () => AnyIndex][] = [
      ['PQIndex 8-bit l2', () => new PQIndex({ d, m: 4, seed: 1 })],
      ['PQIndex fast-scan ip, refine', () => new PQIndex({ d, m: 8, nbits: 4, metric: 'ip', refine: true, seed: 2 })],
      ['PQIndex opq 4x6', () => new PQIndex({ d, m: 4, nbits: 6, opq: true, opqIterations: 2, seed: 3 })],
      ['IVFPQIndex ip 4x8', () => new IVFPQIndex({ d, m: 4, nlist: 8, metric: 'ip', seed: 4 })],
      ['IVFPQIndex l2 opq, refine', () => new IVFPQIndex({ d, m: 4, nlist: 7, opq: true, opqIterations: 2, refine: true, seed: 5 })],
      ['IVFPQIndex fast-scan anisotropic', () => new IVFPQIndex({ d, m: 8, nbits: 4, nlist: 9, metric: 'ip', anisotropicThreshold: 0.2, seed: 6 })],
      ['IVFFlatIndex', () => new IVFFlatIndex({ d, nlist: 8, seed: 7 })],
      ['SQIndex uint8 l2', () => new SQIndex({ d, type: 'uint8', metric: 'l2' })],
      ['SQIndex int4 ip, refine', () => new SQIndex({ d, type: 'int4', metric: 'ip', refine: true })],
      ['BinaryIndex', () => new BinaryIndex({ d })],
      ['RQIndex l2, beam 4', () => new RQIndex({ d, levels: 3, nbits: 6, beamSize: 4, seed: 8 })],
      ['FlatIndex cosine (adds on this thread)', () => new FlatIndex({ d, metric: 'cosine' })],
    ];
    const fresh = (make: () => AnyIndex): AnyIndex => {
      const index = track(make());
      (index as { train?(x: Float32Array): unknown }).train?.(x);
      return index;
    };

    it('leaves every kind exactly as add() does: same bytes and searches, after earlier adds, with and without ids', async () => {
      for (const [name, make] of ADD_CASES) {
        const local = fresh(make);
        local.add(x.subarray(0, 40 * d));
        local.add(y);
        local.add(x.subarray(40 * d, 300 * d));
        for (const pool of [pool2, pool3]) {
          const index = fresh(make);
          index.add(x.subarray(0, 40 * d));
          await pool.add(index, y);
          await pool.add(index, x.subarray(40 * d, 300 * d));
          expect(index.save(), name).toEqual(local.save());
          expect(index.search(q, 7), name).toEqual(local.search(q, 7));
        }
        const withIds = fresh(make);
        await pool2.add(withIds, y, { ids: yIds });
        const localIds = fresh(make);
        localIds.add(y, yIds);
        expect(withIds.save(), name).toEqual(localIds.save());
      }
    }, 120_000);

    it('reports progress up to n; abort before or during rejects and adds nothing', async () => {
      const seen: number[] = [];
      const probe = fresh(() => new IVFPQIndex({ d, m: 4, nlist: 8, seed: 9 }));
      await pool2.add(probe, y, { onProgress: (p) => {
        expect(p.total).toBe(1500);
        seen.push(p.done);
      } });
      expect(seen[seen.length - 1]).toBe(1500);
      expect(seen.every((v, i) => i === 0 || v > seen[i - 1])).toBe(true);
      // a large add goes in chunks of at most 65536 rows (a bounded copy per worker), with add()'s bytes
      const big = floatVectors(300_000, 4, 53, 2);
      const steps: number[] = [];
      const [sq, sqLocal] = [0, 1].map(() => {
        const ix = track(new SQIndex({ d: 4, type: 'int8' }));
        ix.train(big.subarray(0, 4000));
        return ix;
      });
      await pool2.add(sq, big, { onProgress: (p) => steps.push(p.done) });
      expect(steps[steps.length - 1]).toBe(300_000);
      expect(Math.max(...steps.map((v, i) => v - (i ? steps[i - 1] : 0)))).toBe(65536);
      sqLocal.add(big);
      expect(Buffer.compare(sq.save(), sqLocal.save())).toBe(0);
      sq.dispose();
      sqLocal.dispose();
      const index = fresh(() => new IVFPQIndex({ d, m: 4, nlist: 8, seed: 9 }));
      index.add(x.subarray(0, 10 * d));
      const before = index.save();
      const live0 = memoryStats().liveBytes;
      const ac = new AbortController();
      ac.abort();
      await expect(pool2.add(index, y, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      const ac2 = new AbortController();
      await expect(pool2.add(index, y, { signal: ac2.signal, onProgress: () => ac2.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
      expect(index.save()).toEqual(before);
      expect(memoryStats().liveBytes).toBe(live0);
      await stillServes(pool2);
    }, 60_000);

    it('a dispose or a new training here meanwhile rejects and adds nothing; an add here meanwhile comes first', async () => {
      const doomed = new SQIndex({ d, type: 'int8' });
      doomed.train(x);
      const p1 = pool2.add(doomed, y);
      doomed.dispose();
      await expect(p1).rejects.toMatchObject({ code: 'DISPOSED' });
      for (const make of [() => new IVFPQIndex({ d, m: 4, nlist: 8, seed: 10 }), () => new PQIndex({ d, m: 4, seed: 11 }), () => new RQIndex({ d, levels: 2, nbits: 5, seed: 12 }), () => new IVFFlatIndex({ d, nlist: 6, seed: 13 })]) {
        const index = fresh(make);
        const p2 = pool2.add(index, y);
        index.train(x.subarray(0, 900 * d)); // allowed: the index is still empty
        await expect(p2, index.constructor.name).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('trained again') });
        expect(index.size).toBe(0);
      }
      const index = fresh(() => new IVFPQIndex({ d, m: 4, nlist: 8, seed: 14 }));
      const p3 = pool3.add(index, y);
      index.add(x.subarray(0, 30 * d));
      await p3;
      const local = fresh(() => new IVFPQIndex({ d, m: 4, nlist: 8, seed: 14 }));
      local.add(x.subarray(0, 30 * d));
      local.add(y);
      expect(index.save()).toEqual(local.save());
    }, 60_000);

    it('refuses what add() refuses, before any work, and leaves the index as it was', async () => {
      const index = fresh(() => new PQIndex({ d, m: 4, seed: 15 }));
      index.add(x.subarray(0, 5 * d));
      const before = index.save();
      await expect(pool2.add(index, new Float32Array(7))).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      const bad = y.slice();
      bad[123] = NaN;
      await expect(pool2.add(index, bad)).rejects.toMatchObject({ code: 'NON_FINITE' });
      await expect(pool2.add(index, y, { ids: new Int32Array(3) })).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      await expect(pool2.add(index, Array.from(y) as unknown as Float32Array)).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      await expect(pool2.add(index, y, { onProgress: 3 as unknown as () => void })).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      await expect(pool2.add(track(new IVFPQIndex({ d, m: 4, nlist: 8 })), y)).rejects.toMatchObject({ code: 'NOT_TRAINED' });
      await expect(pool2.add(new ProductQuantizer({ d, m: 4 }) as unknown as AnyIndex, y)).rejects.toMatchObject({ code: 'INVALID_TYPE' });
      expect(index.save()).toEqual(before);
    }, 30_000);
  });

  describe('WorkerPool.kmeans: the per-point work of each iteration on all workers', () => {
    const big = floatVectors(30000, 12, 77, 3); // 4 blocks of 8192
    const ints = intVectors(20000, 9, 78);
    // 5 distinct points, 20000 rows (3 blocks): after 5 centroids every point is one, and k-means++ draws uniformly
    // (a point another worker may hold)
    const dups = new Float32Array(20000 * 3).map((_, i) => ((Math.floor(i / 3) * 7919) % 5) * 2 + (i % 3));

    it('same centroids, sizes and rescans as KMeans.train, whatever the number of workers (Gaussian and integer data)', async () => {
      let movedOnly = 0;
      for (const [data, dd, opts] of [
        [big, 12, { k: 50, iterations: 8, seed: 3 }],
        // about 25 points a centroid (3 blocks), d >= 16: from step 9 on most centroids keep their place and the
        // steps settle most points against the few that moved (movedOnly)
        [floatVectors(16400, 16, 78, 3), 16, { k: 640, iterations: 10, seed: 3 }],
        [ints, 9, { k: 33, iterations: 6, seed: 4, nredo: 2, init: 'random' as const }],
        [big, 12, { k: 20, iterations: 5, seed: 5, maxPointsPerCentroid: 600 }], // sampled to 12000
        [dups, 3, { k: 9, iterations: 3, seed: 6 }],
        // far from the origin: trained around the points' mean (KMeans farCenter), the same in the workers
        [big.map((v) => v + 1000), 12, { k: 30, iterations: 5, seed: 7 }],
      ] as const) {
        const local = track(new KMeans({ d: dd, ...opts, onWarning: () => {} }));
        const want = local.train(data);
        const results = [];
        for (const pool of [pool2, pool3, ...(poolMsg ? [poolMsg] : [])]) {
          const { trained, result } = await pool.kmeans({ d: dd, ...opts }, data);
          track(trained);
          expect(trained.centroids).toEqual(local.centroids);
          expect(result.clusterSizes).toEqual(want.clusterSizes);
          expect(result.rescanned).toEqual(want.rescanned);
          expect(result.movedOnly).toEqual(want.movedOnly);
          expect(result.nTrain).toBe(want.nTrain);
          result.objective.forEach((o, i) => (want.objective[i] === 0 ? expect(o).toBe(0) : expect(o).toBeCloseTo(want.objective[i], 6 - Math.ceil(Math.log10(want.objective[i])))));
          results.push(result);
        }
        // two workers and three: the same blocks, added in the same order
        expect(results[1].objective).toEqual(results[0].objective);
        movedOnly += want.movedOnly.reduce((s, c) => s + c, 0);
      }
      // precondition: some steps settled points against the moved centroids only (the workers' moved panels)
      expect(movedOnly).toBeGreaterThan(0);
    }, 60_000);

    it.skipIf(shared)('private memories: where the runtime refuses the shared buffers of the sample and the bounds, fixed shares of the blocks, same centroids', async () => {
      const local = track(new KMeans({ d: 12, k: 40, iterations: 6, seed: 8 }));
      local.train(big);
      // only the large buffers (the sample, the labels and bounds) are refused; the control words still work
      const refused = await refusingSharedBuffersOver(65536, async () => {
        const { trained } = await pool2.kmeans({ d: 12, k: 40, iterations: 6, seed: 8 }, big);
        track(trained);
        expect(trained.centroids).toEqual(local.centroids);
      });
      expect(refused).toBeGreaterThan(0);
    }, 60_000);

    it('progress runs on this thread; an aborted signal rejects with ABORTED and frees the workers\' blocks', async () => {
      const seen: number[] = [];
      const { trained } = await pool2.kmeans({ d: 12, k: 16, iterations: 4, seed: 1, onProgress: (p) => seen.push(p.iteration) }, big);
      track(trained);
      expect(seen).toEqual([1, 2, 3, 4]);
      const ac = new AbortController();
      await expect(pool2.kmeans({ d: 12, k: 16, iterations: 50, seed: 1, onProgress: () => ac.abort() }, big, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(pool2.kmeans({ d: 12, k: 16 }, new Float32Array(5))).rejects.toMatchObject({ code: 'INVALID_SIZE' });
      await expect(pool2.kmeans({ d: 12, k: 0 }, big)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await stillServes(pool2);
    }, 60_000);
    it('a worker that stops mid k-means++ seeding: the call rejects ABORTED, the other worker gives up its loop and answers again', async () => {
      const { build } = await init({ threads: shared });
      // which worker stops: the one running the rounds (its helper would wait for the next round forever), or the
      // helper (the driver would wait for its count-down forever); by message (no SharedArrayBuffer) the one worker
      // that runs them all (kmSeedOne)
      for (const [byMessage, stop] of [[false, 0], [false, 1], ...(shared ? [] : [[true, 0]])] as const) {
        const pool = await WorkerPool.create({ threads: 2, build, ...(byMessage ? { byMessage } : {}) });
        try {
          const { lanes } = watchCalls(pool, (lane, req) => {
            if (lane === victim && (req.op === 'kmSeedAll' || req.op === 'kmSeed' || req.op === 'kmSeedOne')) setTimeout(() => victim.port.terminate(), 30);
          });
          const victim = lanes[stop];
          // 1500 k-means++ rounds over 24000 points (initPointsPerCentroid 16): well over 30 ms
          const data = floatVectors(60000, 16, 95);
          await expect(pool.kmeans({ d: 16, k: 1500, iterations: 1, seed: 3 }, data)).rejects.toMatchObject({ code: 'ABORTED' });
          // the survivor left its seeding loop: it answers a call (it would not while still waiting on the words)
          await expect(lanes[1 - stop].call({ op: 'drop', slot: 12345 })).resolves.toBeUndefined();
          // the stopped one refuses at once instead of taking calls it will never answer
          await expect(victim.call({ op: 'drop', slot: 12345 })).rejects.toMatchObject({ code: 'ABORTED' });
        } finally {
          pool.terminate();
        }
      }
    }, 60_000);
  });

  describe('loadIndex', () => {
    it('restores every index kind from its bytes and refuses quantizer files and damage', () => {
      for (const [, make, opts, cq] of CASES) {
        const index = track(make());
        const back = track(loadIndex(index.save()));
        expect(back.constructor).toBe(index.constructor);
        expect(back.search(cq ?? q, 5, opts)).toEqual(index.search(cq ?? q, 5, opts));
      }
      const pq = track(new ProductQuantizer({ d, m: 4, nbits: 4 }));
      pq.train(x);
      expect(() => loadIndex(pq.save())).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA' }));
      const bytes = CASES[0][1]().save();
      bytes[bytes.length - 1] ^= 1;
      expect(() => loadIndex(bytes)).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA' }));
    });
  });
}

/**
 * Runs fn with `new SharedArrayBuffer(n)` throwing a RangeError (what a runtime out of memory for it throws) for every
 * n over `limit`; returns how many it refused.
 */
async function refusingSharedBuffersOver(limit: number, fn: () => Promise<void>): Promise<number> {
  const Real = globalThis.SharedArrayBuffer;
  let refused = 0;
  globalThis.SharedArrayBuffer = class extends Real {
    constructor(n: number) {
      if (n > limit) {
        refused++;
        throw new RangeError('Array buffer allocation failed');
      }
      super(n);
    }
  } as SharedArrayBufferConstructor;
  try {
    await fn();
  } finally {
    globalThis.SharedArrayBuffer = Real;
  }
  return refused;
}
