// Range search benchmark: vqwasm FlatIndex.rangeSearch against Faiss IndexFlatL2 / IndexFlatIP range_search
// (1 thread) and a plain-JS double loop, IVFFlatIndex.rangeSearch (1024 lists, nprobe 16) against Faiss
// IndexIVFFlat, IVFPQIndex (1024 lists, 16 x 8 bits, nprobe 16) against Faiss IndexIVFPQ, and the exhaustive code
// indexes (PQ 16x8, fast-scan 32x4, SQ int8, RQ 8x8: Faiss 1.7.3 has no range_search for IndexPQ, IndexPQFastScan,
// IndexScalarQuantizer or IndexResidualQuantizer), on the synthetic 100k x 64 Gaussian mixture of the PQ benches,
// 1000 queries, the radius at the median (over the queries) of the 50th nearest distance. Quality beside speed: the
// hits against Faiss's (ids missing or extra; only ties at float rounding on the boundary may differ), and for every
// approximate row the share of the exact (Flat) hits found, Faiss's IVF-PQ too.
//   node bench/range.js
// Speed is never asserted. Env: VQ_BENCH_NO_ENGINE=1, VQ_BENCH_NO_FAISS=1.

import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import * as C from './lib/common.js';
import { makePqSynthetic, timedRuns } from './lib/pq-common.js';

const RUNS = 5;
const RANK = 50;
const JS_NQ = 20;
const NLIST = 1024;
const NPROBE = 16;
const PQ_M = 16;
const KNN = 10; // IVFFlat's k-nearest search (search(q, KNN, { nprobe })), timed beside its range search
const COARSE_ITERS = 10; // Faiss IndexIVF's default cp.niter; passed to vqwasm as coarseIterations, with coarseInit 'random' (Faiss's)
const COARSE = { coarseIterations: COARSE_ITERS, coarseInit: 'random' };
const LABELS = {
  l2: 'Flat', ip: 'Flat', ivf: `IVFFlat ${NLIST}, nprobe ${NPROBE}`, ivfpq: `IVFPQ ${NLIST} ${PQ_M}x8, nprobe ${NPROBE}`,
  pq: `PQ ${PQ_M}x8`, fs: `PQ ${2 * PQ_M}x4 fast-scan`, sq: 'SQ int8', rq: 'RQ 8x8',
};

const log = (msg) => process.stderr.write(`[range ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** RUNS calls of fn, timed: the last result and the median seconds. */
const timed = (fn) => timedRuns(fn, { minRuns: RUNS, minSeconds: 0 });

function hitSets(lims, ids, nq) {
  return Array.from({ length: nq }, (_, i) => new Set(ids.subarray(lims[i], lims[i + 1])));
}

async function main() {
  const { ours, build, faiss } = await C.setUp('range search (Faiss range_search)');
  const ds = makePqSynthetic({ k: 10, jsNq: 0 });
  const { d, nb, nq } = ds;
  console.log(`data: ${ds.label} (n = ${nb}, d = ${d}), ${nq} queries; radius: the median over the queries of their ${RANK}th nearest distance; ${RUNS} runs, median`);
  const rows = [];
  const specTasks = [];
  const mine = {};
  const knn = {}; // IVFFlat k-NN search per metric: { exact ids, seconds, recall }
  for (const metric of ['l2', 'ip']) {
    if (!ours) break;
    log(`vqwasm ${metric}`);
    const index = new ours.FlatIndex({ d, metric });
    try {
      index.add(ds.base);
      const top = index.search(ds.q, RANK);
      const rth = Array.from({ length: nq }, (_, i) => top.distances[i * RANK + RANK - 1]).sort((a, b) => a - b);
      const radius = rth[nq >> 1];
      index.rangeSearch(ds.q.subarray(0, 8 * d), radius);
      const flat = timed(() => index.rangeSearch(ds.q, radius));
      const res = flat.out;
      // plain JS: the same test on every (query, vector) pair, float64 distances, over the first JS_NQ queries; one
      // untimed pass over 2 queries (V8 optimizes the loop), then the median of 3
      const jsScan = (nq1) => {
        let hits = 0;
        for (let i = 0; i < nq1; i++) {
          for (let j = 0; j < nb; j++) {
            let s = 0;
            for (let t = 0; t < d; t++) {
              const a = ds.q[i * d + t];
              const b = ds.base[j * d + t];
              s += metric === 'l2' ? (a - b) * (a - b) : a * b;
            }
            if (metric === 'l2' ? s < radius : s > radius) hits++;
          }
        }
        return hits;
      };
      jsScan(2);
      const js = timedRuns(() => jsScan(JS_NQ), { minSeconds: 0 });
      const jsHits = js.out;
      const jsSeconds = (js.seconds * nq) / JS_NQ;
      // the same on a WorkerPool of every core (private memories: each worker a copy), the queries split across them
      let poolSeconds = null;
      const pool = await ours.WorkerPool.create({ build });
      try {
        const shared = await pool.share(index);
        await shared.rangeSearch(ds.q.subarray(0, 64 * d), radius);
        const ptimes = [];
        for (let r = 0; r < RUNS; r++) {
          const t1 = C.now();
          const pr = await shared.rangeSearch(ds.q, radius);
          ptimes.push(C.now() - t1);
          if (pr.ids.length !== res.ids.length || pr.ids.some((v, i) => v !== res.ids[i])) throw new Error('pooled rangeSearch differs');
        }
        poolSeconds = { seconds: C.median(ptimes), threads: pool.threads };
        shared.release();
      } finally {
        pool.terminate();
      }
      mine[metric] = { seconds: flat.seconds, res, radius, jsSeconds, jsHits, pool: poolSeconds };
      specTasks.push({
        name: metric, metric, radius,
        out_lims: join(C.DATA_DIR, `range_${metric}_lims.ivecs`), out_ids: join(C.DATA_DIR, `range_${metric}_ids.ivecs`),
      });
      log(`vqwasm IVF ${metric}`);
      const ivf = new ours.IVFFlatIndex({ d, nlist: NLIST, metric, seed: 1, ...COARSE });
      try {
        ivf.train(ds.train);
        ivf.add(ds.base);
        const it = timed(() => ivf.rangeSearch(ds.q, radius, { nprobe: NPROBE }));
        const ires = it.out;
        mine[`ivf-${metric}`] = { seconds: it.seconds, res: ires, radius, exact: res };
        // and the k-nearest search of the same index (IVFFlat's main use), beside Faiss's below
        const exactKnn = index.search(ds.q, KNN).ids;
        ivf.search(ds.q.subarray(0, 8 * d), KNN, { nprobe: NPROBE });
        const ik = timed(() => ivf.search(ds.q, KNN, { nprobe: NPROBE }));
        knn[metric] = { exact: exactKnn, seconds: ik.seconds, recall: C.recallAtK(ik.out.ids, KNN, exactKnn, KNN, nq, KNN) };
      } finally {
        ivf.dispose();
      }
      specTasks.push({
        name: `ivf-${metric}`, metric, radius, nlist: NLIST, nprobe: NPROBE, knn: KNN, out_knn: join(C.DATA_DIR, `range_ivf_${metric}_knn.ivecs`),
        out_lims: join(C.DATA_DIR, `range_ivf_${metric}_lims.ivecs`), out_ids: join(C.DATA_DIR, `range_ivf_${metric}_ids.ivecs`),
      });
      // the code indexes: their code distances against the same radius
      for (const [key, make, opts] of [
        ['ivfpq', () => new ours.IVFPQIndex({ d, nlist: NLIST, m: PQ_M, metric, seed: 1, ...COARSE }), { nprobe: NPROBE }],
        ['pq', () => new ours.PQIndex({ d, m: PQ_M, metric, seed: 1 }), {}],
        ['fs', () => new ours.PQIndex({ d, m: 2 * PQ_M, nbits: 4, metric, seed: 1 }), {}],
        ['sq', () => new ours.SQIndex({ d, type: 'int8', metric }), {}],
        ['rq', () => new ours.RQIndex({ d, levels: 8, metric, seed: 1 }), {}],
      ]) {
        log(`vqwasm ${key} ${metric}`);
        const cx = make();
        try {
          cx.train(ds.train);
          cx.add(ds.base);
          cx.rangeSearch(ds.q.subarray(0, 8 * d), radius, opts);
          const ct = timed(() => cx.rangeSearch(ds.q, radius, opts));
          mine[`${key}-${metric}`] = { seconds: ct.seconds, res: ct.out, radius, exact: res };
        } finally {
          cx.dispose();
        }
      }
      specTasks.push({
        name: `ivfpq-${metric}`, metric, radius, nlist: NLIST, nprobe: NPROBE, m: PQ_M,
        out_lims: join(C.DATA_DIR, `range_ivfpq_${metric}_lims.ivecs`), out_ids: join(C.DATA_DIR, `range_ivfpq_${metric}_ids.ivecs`),
      });
      // Faiss's IndexIVF trains spherical (unit-norm) coarse centroids for inner product: the residuals of these
      // unnormalized vectors are then long and its PQ codes them worse. The same index with cp.spherical off trains
      // its centroids as ours are trained
      if (metric === 'ip') {
        specTasks.push({
          name: 'ivfpq-ip-plain', metric, radius, nlist: NLIST, nprobe: NPROBE, m: PQ_M, spherical: false,
          out_lims: join(C.DATA_DIR, 'range_ivfpq_ip_plain_lims.ivecs'), out_ids: join(C.DATA_DIR, 'range_ivfpq_ip_plain_ids.ivecs'),
        });
      }
    } finally {
      index.dispose();
    }
  }
  let fres = null;
  if (faiss.ok && specTasks.length) {
    log('Faiss');
    try {
      fres = C.runFaissScript('faiss_range.py', { train: ds.trainPath, base: ds.basePath, queries: ds.qPath, runs: RUNS, tasks: specTasks });
    } catch (e) {
      log(`Faiss failed: ${e.message}`);
    }
  }
  const names = ['l2', 'ip', ...['ivf', 'ivfpq', 'pq', 'fs', 'sq', 'rq'].flatMap((k) => [`${k}-l2`, `${k}-ip`])];
  for (const name of names) {
    const m = mine[name];
    if (!m) continue;
    const metric = name.endsWith('l2') ? 'l2' : 'ip';
    const f = fres?.results.find((t) => t.name === name);
    let agree = '';
    if (f) {
      const task = specTasks.find((t) => t.name === name);
      const lims = C.readIvecs(task.out_lims).data;
      const ids = C.readIvecs(task.out_ids).data;
      const theirs = hitSets(lims, ids, nq);
      const ours = hitSets(m.res.lims, m.res.ids, nq);
      let missing = 0;
      let extra = 0;
      for (let i = 0; i < nq; i++) {
        for (const id of theirs[i]) if (!ours[i].has(id)) missing++;
        for (const id of ours[i]) if (!theirs[i].has(id)) extra++;
      }
      agree = `${missing} missing, ${extra} extra`;
      if (name.startsWith('ivfpq')) {
        // (each side its own k-means and codebooks: the hits differ; how many exact hits each finds is the comparison)
        const exact = hitSets(m.exact.lims, m.exact.ids, nq);
        let all = 0;
        let got = 0;
        for (let i = 0; i < nq; i++) {
          all += exact[i].size;
          for (const id of exact[i]) if (theirs[i].has(id)) got++;
        }
        agree = `Faiss finds ${(got / all).toFixed(4)} of the exact hits`;
        const p = fres.results.find((t) => t.name === `${name}-plain`);
        if (p) {
          const pt = specTasks.find((t) => t.name === p.name);
          const pSets = hitSets(C.readIvecs(pt.out_lims).data, C.readIvecs(pt.out_ids).data, nq);
          let pGot = 0;
          for (let i = 0; i < nq; i++) for (const id of exact[i]) if (pSets[i].has(id)) pGot++;
          agree += `; cp.spherical off: ${(pGot / all).toFixed(4)}, ${p.hits} hits, ${C.fmtSeconds(C.median(p.times))} (vqwasm ${(C.median(p.times) / m.seconds).toFixed(2)}x)`;
        }
      }
    }
    const fs = f ? C.median(f.times) : null;
    // IVF: the share of the exact (FlatIndex) hits found
    let found = '';
    if (m.exact) {
      const exact = hitSets(m.exact.lims, m.exact.ids, nq);
      const mineSets = hitSets(m.res.lims, m.res.ids, nq);
      let all = 0;
      let got = 0;
      for (let i = 0; i < nq; i++) {
        all += exact[i].size;
        for (const id of exact[i]) if (mineSets[i].has(id)) got++;
      }
      found = (got / all).toFixed(4);
    }
    rows.push([
      `${LABELS[name.split('-')[0]]} ${metric === 'l2' ? 'L2' : 'IP (MIPS)'}`, m.radius.toPrecision(5), String(m.res.ids.length), (m.res.ids.length / nq).toFixed(1),
      C.fmtSeconds(m.seconds), fs === null ? '-' : C.fmtSeconds(fs), fs === null ? '' : (fs / m.seconds).toFixed(2) + 'x',
      m.jsSeconds ? `${C.fmtSeconds(m.jsSeconds)} (est.)` : '', f ? String(f.hits) : '', agree, found,
      m.pool ? `${C.fmtSeconds(m.pool.seconds)} (${(m.seconds / m.pool.seconds).toFixed(2)}x, ${m.pool.threads} threads)` : '',
    ]);
  }
  C.printTable(
    `rangeSearch, n = ${nb}, d = ${d}, ${nq} queries  [engine build: ${build}]`,
    [
      { title: 'metric', align: 'l' }, { title: 'radius' }, { title: 'hits' }, { title: 'per query' }, { title: 'vqwasm' },
      { title: 'Faiss 1-thread' }, { title: 'vqwasm QPS / Faiss' }, { title: 'plain JS' }, { title: 'Faiss hits' },
      { title: 'vs Faiss hits' }, { title: 'exact hits found' }, { title: 'WorkerPool (same hits)' },
    ],
    rows,
    [
      `times: one rangeSearch of all ${nq} queries, median of ${RUNS}; plain JS: a float64 double loop over the first ${JS_NQ} queries (median of 3 after a warm-up), scaled to ${nq}.`,
      `IVF rows: the coarse k-means of both sides ${COARSE_ITERS} iterations from random centroids (Faiss IndexIVF's defaults; vqwasm coarseIterations / coarseInit 'random').`,
      'vs Faiss hits: ids Faiss returns that vqwasm does not (missing) and the reverse (extra), over all queries (the IVF rows: each its own',
      `  k-means, so its own lists); exact hits found: the share of the Flat row's hits the row returns (code rows: by their code`,
      `  distances, which also let in vectors outside the radius). Faiss 1.7.3 has no range_search for IndexPQ, IndexPQFastScan, IndexScalarQuantizer, IndexResidualQuantizer.`,
      '  IVFPQ IP: Faiss\'s IndexIVF trains spherical coarse centroids for inner product (cp.spherical); "cp.spherical off" is the same Faiss index trained as ours is.',
      `WorkerPool: pool.share(index).rangeSearch on ${availableParallelism()} logical cores (a private copy per worker), its speed-up over this thread; load average before: ${loadavg().map((v) => v.toFixed(2)).join(' ')}.`,
      fres ? `Faiss ${fres.faiss_version}, omp threads=${fres.omp_max_threads}, BLAS: ${(fres.blas || []).join(', ')}` : C.faissSkippedLine(faiss.ok ? { reason: 'failed' } : faiss),
    ],
  );
  const knnRows = [];
  for (const metric of ['l2', 'ip']) {
    const m = knn[metric];
    if (!m) continue;
    const f = fres?.results.find((t) => t.name === `ivf-${metric}`);
    const task = specTasks.find((t) => t.name === `ivf-${metric}`);
    const fs = f?.knn_times ? C.median(f.knn_times) : null;
    const fRecall = fs === null ? null : C.recallAtK(C.readIvecs(task.out_knn).data, KNN, m.exact, KNN, nq, KNN);
    knnRows.push([
      metric === 'l2' ? 'L2' : 'IP (MIPS)', C.fmtSeconds(m.seconds), m.recall.toFixed(4),
      fs === null ? '-' : C.fmtSeconds(fs), fRecall === null ? '-' : fRecall.toFixed(4), fs === null ? '' : `${(fs / m.seconds).toFixed(2)}x`,
    ]);
  }
  C.printTable(
    `IVFFlat ${NLIST} k-nearest search, k = ${KNN}, nprobe ${NPROBE}, ${nq} queries (median of ${RUNS})`,
    [
      { title: 'metric', align: 'l' }, { title: 'vqwasm' }, { title: 'R@10' },
      { title: 'Faiss IndexIVFFlat 1-thread' }, { title: 'R@10' }, { title: 'vqwasm QPS / Faiss' },
    ],
    knnRows,
    ['R@10: against the exact top-10 (vqwasm FlatIndex); each side its own coarse k-means (10 iterations from random centroids).'],
  );
  C.printMemoryStats(ours);
}

C.runMain(main);
