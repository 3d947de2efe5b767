// Batch search, k-means, training and add on all cores: vqwasm WorkerPool (worker_threads) in its three forms, private memories (one
// engine and a full index copy per worker), the same without SharedArrayBuffer (byMessage: what a page without
// cross-origin isolation gets) and one shared memory (the threads build: the workers search this thread's index in
// place), against the same index searched on the main thread, on the synthetic 100k x 64 Gaussian mixture of
// the PQ benches, 2000 queries in one batch. Prints QPS, the speed-ups, whether the ids and distances are identical,
// the machine's ceiling for each row (the same single-thread call run by independent copies in as many workers at
// once: what the cores give that work with no pool), and the load average before and after (the speed-up needs free
// cores: other processes lower it).
//   node bench/pool.js                                   (plain SIMD builds on Node 20)
//   node --experimental-wasm-relaxed-simd bench/pool.js  (relaxed-SIMD builds)
// The main thread runs the threads build (init({ threads: true })): its single-thread speed is the plain build's
// (the same kernels; bench/run.js's other benches use the plain build). Env: VQ_POOL_THREADS (default:
// os.availableParallelism()), VQ_POOL_SEARCH_BLOCK (searches in a row per turn in the search rows' second, back-to-back
// measure; default 3), VQ_POOL_ONLY (a comma list of the sections to run: search, kmeans, pq, index, add; default
// all), VQ_POOL_KMEANS_ROUNDS (timed rounds of the k-means rows, each the median of them; default 5: with 3 a single slow round on this 2-vCPU VM moved a row by 0.1x). Speed is never
// asserted.

import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as C from './lib/common.js';
import { makePqSynthetic } from './lib/pq-common.js';

const K = 10;
/** Search rows, second measure: runs of one kind back to back per turn (throughput in a steady state). */
const SEARCH_BLOCK = C.envInt('VQ_POOL_SEARCH_BLOCK', 3);
const NQ = 2000;
const ONLY = (process.env.VQ_POOL_ONLY ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
const section = (name) => !ONLY.length || ONLY.includes(name);

const log = (msg) => process.stderr.write(`[pool ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');

/**
 * Runs the functions in turn `rounds` times after `warm` untimed rounds; per function its last output and median
 * seconds.
 */
async function interleaved(fns, rounds = 5, warm = 0, block = 1) {
  const times = fns.map(() => []);
  const outs = [];
  for (let r = 0; r < warm; r++) for (const f of fns) await f();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) {
      // block > 1: the function's turn is `block` runs back to back (throughput in a steady state: each run after one
      // of its own kind), all of them timed
      for (let b = 0; b < block; b++) {
        const t0 = C.now();
        outs[i] = await fns[i]();
        times[i].push(C.now() - t0);
      }
    }
  }
  return fns.map((_, i) => ({ out: outs[i], seconds: C.median(times[i]) }));
}

// The machine's own ceiling: `threads` workers, each with an engine and a copy of its own, each running the whole
// single-thread call at the same moment, with no pool between them. `threads` x the single time / their wall time is
// what the cores give this kernel (shared caches, memory bandwidth, clock); a pool's speed-up can only approach it.
const COPY_SRC = `
import { parentPort, workerData } from 'node:worker_threads';
const V = await import(workerData.entry);
await V.init(workerData.init);
let job = null;
parentPort.on('message', (m) => {
  if (m.op === 'index') { job?.dispose?.(); const ix = V.loadIndex(m.bytes); job = { run: () => ix.search(m.q, m.k, m.opts), dispose: () => ix.dispose() }; }
  else if (m.op === 'train') { job?.dispose?.(); job = { run: () => { const o = new V[m.cls](m.opts); o.train(m.x); o.dispose(); } }; }
  else if (m.op === 'add') {
    job?.dispose?.();
    let ix = null;
    job = { prep: () => { ix?.dispose(); ix = V.loadIndex(m.bytes); }, run: () => ix.add(m.x), dispose: () => ix?.dispose() };
  }
  else if (m.op === 'go') { job.prep?.(); const t0 = performance.now(); job.run(); parentPort.postMessage((performance.now() - t0) / 1000); return; }
  parentPort.postMessage('ready');
});
parentPort.postMessage('ready');
`;

class Copies {
  static async create(threads, init) {
    const entry = pathToFileURL(join(C.REPO_ROOT, 'dist', 'index.js')).href;
    const src = new URL(`data:text/javascript,${encodeURIComponent(COPY_SRC)}`);
    const c = new Copies(Array.from({ length: threads }, () => new Worker(src, { workerData: { entry, init } })));
    await c.all(null);
    return c;
  }
  constructor(workers) {
    this.workers = workers;
    // per worker: the resolver of the reply it owes (one request at a time each)
    this.waiting = workers.map(() => null);
    workers.forEach((w, i) => {
      w.on('message', (m) => { const p = this.waiting[i]; this.waiting[i] = null; p?.resolve(m); });
      w.on('error', (e) => { const p = this.waiting[i]; this.waiting[i] = null; p?.reject(e); });
    });
  }
  /** Posts msg to every copy (null: none, only waits for their 'ready'); resolves with every reply. */
  all(msg) {
    return Promise.all(this.workers.map((w, i) => new Promise((resolve, reject) => {
      this.waiting[i] = { resolve, reject };
      if (msg) w.postMessage(msg);
    })));
  }
  load(msg) { return this.all(msg); }
  /** Every copy starts the job at once (after its untimed prep, if any); resolves with each one's timed seconds when the last finishes. */
  go() { return this.all({ op: 'go' }); }
  terminate() { for (const w of this.workers) w.terminate(); }
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function same(a, b) {
  if (a.ids.length !== b.ids.length) return false;
  for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i] || !Object.is(a.distances[i], b.distances[i])) return false;
  return true;
}

const KM_ROUNDS = C.envInt('VQ_POOL_KMEANS_ROUNDS', 5);

async function main() {
  const { ours, build } = await C.setUp('WorkerPool batch search (threads vs the main thread)', '', { threads: true });
  if (!ours) return;
  const threads = C.envInt('VQ_POOL_THREADS', availableParallelism());
  const ds = makePqSynthetic({ k: K, jsNq: 0 });
  const { d } = ds;
  const q = new Float32Array(NQ * d);
  for (let i = 0; i < q.length; i++) q[i] = ds.q[i % ds.q.length];
  console.log(`data: ${ds.label} (n = ${ds.nb}, d = ${d}), ${NQ} queries in one batch, k = ${K}, ${threads} worker threads, ${availableParallelism()} logical cores`);
  console.log(`load average (1, 5, 15 min) before: ${load()}`);

  const setups = [
    ['FlatIndex ip (exact)', () => new ours.FlatIndex({ d, metric: 'ip' }), {}],
    ['PQIndex 32x4 fast-scan l2', () => new ours.PQIndex({ d, m: 32, nbits: 4 }), {}],
    ['PQIndex 16x8 l2', () => new ours.PQIndex({ d, m: 16 }), {}],
    ['IVFPQIndex 1024, 16x8, nprobe 16', () => new ours.IVFPQIndex({ d, nlist: 1024, m: 16 }), { nprobe: 16 }],
    ['SQIndex int8 ip', () => new ours.SQIndex({ d, type: 'int8', metric: 'ip' }), {}],
  ];
  // the pool kinds, in column order: private memories, one shared memory, and private memories with no
  // SharedArrayBuffer anywhere (byMessage: what a page without cross-origin isolation gets)
  const pools = [
    ['private', await ours.WorkerPool.create({ threads, build, shared: false })],
    ['shared', await ours.WorkerPool.create({ threads, shared: true })],
    ['by message', await ours.WorkerPool.create({ threads, build, shared: false, byMessage: true })],
  ];
  const ratio = (a, b) => (a / b).toFixed(2) + 'x';
  const copies = await Copies.create(threads, { threads: true });
  const rows = [];
  const kmRows = [];
  const addRows = [];
  try {
    for (const [name, make, opts] of section('search') ? setups : []) {
      log(name);
      const index = make();
      try {
        if (index.train) index.train(ds.train);
        index.add(ds.base);
        // share() timed on the private pool (the first: a copy in every worker)
        const views = [];
        let shareS = 0;
        for (const [, p] of pools) {
          const t0 = C.now();
          views.push(await p.share(index));
          shareS ||= C.now() - t0;
        }
        await copies.load({ op: 'index', bytes: index.save(), q, k: K, opts });
        // interleaved (main, each pool, copies) x 5, medians: the machine's drift hits them alike; after 4 untimed
        // rounds: a fresh worker runs its first searches 1.5-2x slower while V8 optimizes its code (measured: IVF-PQ,
        // 2000 queries, 107, 76, 57, 50 ms then 44 ms a search), and each worker sees half the queries
        const fns = [() => index.search(q, K, opts), ...views.map((v) => () => v.search(q, K, opts)), () => copies.go()];
        const [single, ...pooled] = await interleaved(fns, 5, 4);
        const apart = pooled.pop();
        // the same without the copies, each turn SEARCH_BLOCK runs back to back: every run but a turn's first follows
        // one of its own kind (a pooled search right after this thread's 40-80 ms search can find its data out of
        // the core's caches: IVF-PQ ran 1.76x interleaved, 1.89x back to back, measured 2026-11-28)
        const [single3, ...pooled3] = await interleaved(fns.slice(0, -1), 3, 0, SEARCH_BLOCK);
        for (const v of views) v.release();
        rows.push([
          name, Math.round(NQ / single.seconds), ...pooled.flatMap((r) => [Math.round(NQ / r.seconds), ratio(single.seconds, r.seconds)]),
          pooled.every((r) => same(single.out, r.out)) ? 'yes' : 'NO', C.fmtSeconds(shareS),
          ratio(threads * single.seconds, apart.seconds), ...pooled3.map((r) => ratio(single3.seconds, r.seconds)),
        ]);
      } finally {
        index.dispose();
      }
    }
    // training on the calling thread against each pool and the copies' ceiling: interleaved x 3, medians (one run
    // each swung by up to 30 % on this VM); identical bytes checked on every pooled run. `new ours[cls](opts).train(x)`
    // on this thread, `pooled(pool)` on each pool (it resolves to { trained }), and the same training by the copies
    const trainingRow = async (label, cls, opts, x, pooled, rounds = 3) => {
      log(label);
      let want = null;
      let same = true;
      const check = (trained) => {
        const got = trained.save();
        trained.dispose();
        same &&= sameBytes(got, want);
      };
      await copies.load({ op: 'train', cls, opts, x });
      const [single, ...trained] = await interleaved([
        async () => {
          const mine = new ours[cls](opts);
          mine.train(x);
          // (saved every run, as check() saves every pooled run: the same work on both sides)
          const bytes = mine.save();
          want ??= bytes;
          mine.dispose();
        },
        ...pools.map(([, p]) => async () => check((await pooled(p)).trained)),
        () => copies.go(),
      ], rounds);
      const apart = trained.pop();
      kmRows.push([
        label, C.fmtSeconds(single.seconds), ...trained.flatMap((r) => [C.fmtSeconds(r.seconds), ratio(single.seconds, r.seconds)]),
        same ? 'yes' : 'NO', ratio(threads * single.seconds, apart.seconds),
      ]);
    };
    // k-means: the per-point work of each iteration on the workers (WorkerPool.kmeans) against KMeans.train
    log('k-means');
    for (const [k, iterations] of section('kmeans') ? [[1024, 10], [256, 20]] : []) {
      const opts = { d, k, iterations, seed: 1 };
      await trainingRow(`KMeans k = ${k}, ${iterations} iterations, n = ${ds.nb}`, 'KMeans', opts, ds.base, (p) => p.kmeans(opts, ds.base), KM_ROUNDS);
    }
    // ProductQuantizer training: its m sub-space k-means runs spread over the workers (WorkerPool.trainPQ)
    log('PQ training');
    for (const [m, nbits] of section('pq') ? [[16, 8], [32, 4]] : []) {
      const opts = { d, m, nbits, seed: 1 };
      await trainingRow(`ProductQuantizer ${m}x${nbits}, n = ${ds.train.length / d}`, 'ProductQuantizer', opts, ds.train, (p) => p.trainPQ(opts, ds.train));
    }
    // whole indexes: the coarse k-means, the residual PQ and OPQ's alternations' PQ on the workers (WorkerPool.trainIndex;
    // OPQ's rotation search stays here); the OPQ row one round (16 s alone)
    log('index training');
    for (const [label, cls, opts, rounds] of section('index') ? [
      ['IVFPQIndex 1024, 16x8', 'IVFPQIndex', { d, nlist: 1024, m: 16, seed: 1 }, 3],
      ['PQIndex OPQ 16x8, 5 alternations', 'PQIndex', { d, m: 16, opq: true, opqIterations: 5, seed: 1 }, 1],
      ['RQIndex 4x8', 'RQIndex', { d, levels: 4, seed: 1 }, 3],
    ] : []) {
      await trainingRow(`${label}, n = ${ds.train.length / d}${rounds === 1 ? ' (1 run)' : ''}`, cls, opts, ds.train, async (p) => {
        const index = new ours[cls](opts);
        await p.trainIndex(index, ds.train);
        return { trained: index };
      }, rounds);
    }
    // add: the coarse assignment and encoding on the workers, the append here (WorkerPool.add), into a fresh copy of
    // the trained empty index each time (loaded before the clock starts); the ceiling from the copies' own clocks
    log('add');
    for (const [label, make] of section('add') ? [
      ['IVFPQIndex 1024, 16x8', () => new ours.IVFPQIndex({ d, nlist: 1024, m: 16, seed: 1 })],
      ['PQIndex 16x8', () => new ours.PQIndex({ d, m: 16, seed: 1 })],
      ['RQIndex 4x8, beam 8', () => new ours.RQIndex({ d, levels: 4, beamSize: 8, seed: 1 })],
    ] : []) {
      log(label);
      const model = make();
      model.train(ds.train);
      const empty = model.save({ empty: true });
      model.dispose();
      await copies.load({ op: 'add', bytes: empty, x: ds.base });
      let want = null; // the calling thread's bytes, from its first run
      let same = true;
      const runs = [(ix) => ix.add(ds.base), ...pools.map(([, p]) => (ix) => p.add(ix, ds.base))];
      const times = [...runs, copies].map(() => []);
      for (let r = 0; r < 3; r++) {
        for (const [i, run] of runs.entries()) {
          const ix = ours.loadIndex(empty);
          const t0 = C.now();
          await run(ix);
          times[i].push(C.now() - t0);
          const got = ix.save();
          ix.dispose();
          want ??= got;
          same &&= sameBytes(got, want);
        }
        times[runs.length].push(Math.max(...(await copies.go())));
      }
      const [single, ...added] = times.map((t) => C.median(t));
      const apart = added.pop();
      addRows.push([
        `${label}, ${ds.nb} vectors`, C.fmtSeconds(single), ...added.flatMap((t) => [C.fmtSeconds(t), ratio(single, t)]), same ? 'yes' : 'NO',
        ratio(threads * single, apart),
      ]);
    }
  } finally {
    for (const [, p] of pools) p.terminate();
    copies.terminate();
  }
  // per pool: its figure and its speed-up over the calling thread
  const poolColumns = (unit) => pools.flatMap(([label]) => [{ title: `${label} ${threads} threads${unit}` }, { title: 'speed-up' }]);
  C.printTable(
    `batch search, ${NQ} queries (median of 5 after 4 untimed rounds, the five interleaved)`,
    [
      { title: 'index' }, { title: 'main thread QPS' }, ...poolColumns(' QPS'), { title: 'identical' }, { title: 'share() private' },
      { title: `ceiling: ${threads} copies` }, ...pools.map(([label], i) => ({ title: i === 0 ? `back to back: ${label}` : label })),
    ],
    rows,
    [
      `back to back: the speed-ups again, from 3 rounds in which each of the four (this thread, private, shared, by message) runs ${SEARCH_BLOCK} searches in a row (median of all; every run but the first of a turn follows one of its own kind: throughput in a steady state)`,
      `ceiling: ${threads} independent copies of the index, each in a worker of its own searching the whole batch at the same moment; ${threads} x its time alone / their wall time (what the cores give this scan, with no pool)`,
      'private: each worker holds a copy; share() = save() here, then a parse and load in every worker (once per snapshot, not per search)',
      'shared: the workers search this thread\'s index in its shared memory; each search sends them a view of its JS state (no copy, share() is free)',
      'by message: private memories with no SharedArrayBuffer (byMessage: true, what a page without cross-origin isolation gets): the queries go to the workers chunk by chunk in messages',
    ],
  );
  C.printTable(
    `k-means, PQ and index training (median of 3, k-means of ${KM_ROUNDS}, the five interleaved; pool.kmeans, pool.trainPQ, pool.trainIndex)`,
    [
      { title: 'training' }, { title: 'KMeans.train' }, ...poolColumns(''), { title: 'same bytes' }, { title: `ceiling: ${threads} copies` },
    ],
    kmRows,
    [
      `ceiling: ${threads} KMeans.train (ProductQuantizer.train, IVFPQIndex.train) runs at once, one per worker, as above`,
      'k-means++ on the seeding subsample (initPointsPerCentroid 16): the first worker drives the rounds and the other folds half of each (private: on a copy of its half); by message, one worker runs them all',
      'by message: each worker steps its own blocks (no shared counter to even out what the bounds leave)',
    ],
  );
  C.printTable(
    'add into a trained empty index (median of 3, interleaved; pool.add)',
    [
      { title: 'index' }, { title: 'index.add' }, ...poolColumns(''), { title: 'same bytes' }, { title: `ceiling: ${threads} copies` },
    ],
    addRows,
    [
      'the workers compute what add() computes from the vectors (coarse list, residual code); this thread appends it all at the end',
      `ceiling: ${threads} copies each adding the same vectors to its own trained empty index at once (their own clocks, the slowest)`,
    ],
  );
  console.log(`load average (1, 5, 15 min) after: ${load()}`);
}

C.runMain(main);
