// Batch search and k-means on all cores: vqwasm WorkerPool (worker_threads) in both of its forms, private memories (one
// engine and a full index copy per worker) and one shared memory (the threads build: the workers search this thread's
// index in place), against the same index searched on the main thread, on the synthetic 100k x 64 Gaussian mixture of
// the PQ benches, 2000 queries in one batch. Prints QPS, the speed-ups, whether the ids and distances are identical,
// and the machine's load average before and after (the speed-up needs free cores: other processes lower it).
//   node bench/pool.js                                   (plain SIMD builds on Node 20)
//   node --experimental-wasm-relaxed-simd bench/pool.js  (relaxed-SIMD builds)
// The main thread runs the threads build (init({ threads: true })): its single-thread speed is the plain build's
// (the same kernels; bench/run.js's other benches use the plain build). Env: VQ_POOL_THREADS (default:
// os.availableParallelism()). Speed is never asserted.

import { availableParallelism, loadavg } from 'node:os';
import * as C from './lib/common.js';
import { makePqSynthetic } from './lib/pq-common.js';

const K = 10;
const NQ = 2000;

const log = (msg) => process.stderr.write(`[pool ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');

/** Runs the functions in turn `rounds` times; per function its last output and median seconds. */
async function interleaved(fns, rounds = 5) {
  const times = fns.map(() => []);
  const outs = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = C.now();
      outs[i] = await fns[i]();
      times[i].push(C.now() - t0);
    }
  }
  return fns.map((_, i) => ({ out: outs[i], seconds: C.median(times[i]) }));
}

function same(a, b) {
  if (a.ids.length !== b.ids.length) return false;
  for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i] || !Object.is(a.distances[i], b.distances[i])) return false;
  return true;
}

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
  const pool = await ours.WorkerPool.create({ threads, build, shared: false });
  const spool = await ours.WorkerPool.create({ threads, shared: true });
  const rows = [];
  const kmRows = [];
  try {
    for (const [name, make, opts] of setups) {
      log(name);
      const index = make();
      try {
        if (index.train) index.train(ds.train);
        index.add(ds.base);
        const t0 = C.now();
        const shared = await pool.share(index);
        const shareS = C.now() - t0;
        const sshared = await spool.share(index);
        // interleaved (main, private, shared) x 5, medians: the machine's drift hits the three alike
        const [single, pooled, spooled] = await interleaved([
          () => index.search(q, K, opts), () => shared.search(q, K, opts), () => sshared.search(q, K, opts),
        ]);
        shared.release();
        sshared.release();
        rows.push([
          name, Math.round(NQ / single.seconds), Math.round(NQ / pooled.seconds), (single.seconds / pooled.seconds).toFixed(2) + 'x',
          Math.round(NQ / spooled.seconds), (single.seconds / spooled.seconds).toFixed(2) + 'x',
          same(single.out, pooled.out) && same(single.out, spooled.out) ? 'yes' : 'NO', C.fmtSeconds(shareS),
        ]);
      } finally {
        index.dispose();
      }
    }
    // training on the calling thread against both pools: one row (time each, speed-up each, identical bytes)
    const trainingRow = async (label, local, pooled) => {
      const t0 = C.now();
      const mine = local();
      const singleS = C.now() - t0;
      const want = mine.save();
      const row = [label, C.fmtSeconds(singleS)];
      let same = true;
      for (const p of [pool, spool]) {
        const t1 = C.now();
        const { trained } = await pooled(p);
        const pooledS = C.now() - t1;
        const got = trained.save();
        same &&= got.length === want.length && got.every((v, i) => v === want[i]);
        trained.dispose();
        row.push(C.fmtSeconds(pooledS), (singleS / pooledS).toFixed(2) + 'x');
      }
      mine.dispose();
      kmRows.push([...row, same ? 'yes' : 'NO']);
    };
    // k-means: the per-point work of each iteration on the workers (WorkerPool.kmeans) against KMeans.train
    log('k-means');
    for (const [k, iterations] of [[1024, 10], [256, 20]]) {
      const opts = { d, k, iterations, seed: 1 };
      await trainingRow(`KMeans k = ${k}, ${iterations} iterations, n = ${ds.nb}`, () => {
        const km = new ours.KMeans(opts);
        km.train(ds.base);
        return km;
      }, (p) => p.kmeans(opts, ds.base));
    }
    // ProductQuantizer training: its m sub-space k-means runs spread over the workers (WorkerPool.trainPQ)
    log('PQ training');
    for (const [m, nbits] of [[16, 8], [32, 4]]) {
      const opts = { d, m, nbits, seed: 1 };
      await trainingRow(`ProductQuantizer ${m}x${nbits}, n = ${ds.train.length / d}`, () => {
        const pq = new ours.ProductQuantizer(opts);
        pq.train(ds.train);
        return pq;
      }, (p) => p.trainPQ(opts, ds.train));
    }
  } finally {
    pool.terminate();
    spool.terminate();
  }
  C.printTable(
    `batch search, ${NQ} queries (median of 5, the three interleaved)`,
    [
      { title: 'index' }, { title: 'main thread QPS' }, { title: `private ${threads} threads QPS` }, { title: 'speed-up' },
      { title: `shared ${threads} threads QPS` }, { title: 'speed-up' }, { title: 'identical' }, { title: 'share() private' },
    ],
    rows,
    [
      'private: each worker holds a copy; share() = save() here, then a parse and load in every worker (once per snapshot, not per search)',
      'shared: the workers search this thread\'s index in its shared memory; each search sends them a view of its JS state (no copy, share() is free)',
    ],
  );
  C.printTable(
    'k-means and PQ training (one run each; pool.kmeans, pool.trainPQ)',
    [
      { title: 'training' }, { title: 'KMeans.train' }, { title: `private ${threads} threads` }, { title: 'speed-up' },
      { title: `shared ${threads} threads` }, { title: 'speed-up' }, { title: 'same bytes' },
    ],
    kmRows,
  );
  console.log(`load average (1, 5, 15 min) after: ${load()}`);
}

C.runMain(main);
