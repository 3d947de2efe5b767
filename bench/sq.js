// Scalar quantization benchmark: vqwasm SQIndex (uint8 / int8 / int4 / fp16; int8 and int4 also with refine and
// rerank 100) vs vqwasm FlatIndex (float, exact) vs Faiss 1-thread IndexScalarQuantizer (QT_8bit, QT_4bit, QT_fp16;
// QT_8bit and QT_4bit also inside IndexRefineFlat, k_factor 10) vs a plain-JS uint8 scan, on MovieLens d64 (items as base and training
// set, users as queries; MIPS and L2, ground truth from the shared files) and the synthetic 100k x 64 Gaussian mixture
// of the PQ benches (L2 and IP; exact ground truth by FlatIndex).
//   node bench/sq.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/sq.js  (relaxed-SIMD build)
// The target: int8 search QPS >= 3x FlatIndex QPS at recall@10 >= 0.99 (printed ok / MISS, never asserted), for
// all queries in one search() call (batch) and for one query per call (1-by-1, the serving case).
// Env: VQ_BENCH_NO_FAISS=1, VQ_BENCH_NO_ENGINE=1.

import { join } from 'node:path';
import * as C from './lib/common.js';
import { loadMovieLens, makePqSynthetic, timedRuns } from './lib/pq-common.js';

const K = 10;
const TYPES = ['int8', 'uint8', 'int4', 'fp16'];
const RERANK = 100; // candidates re-scored with the originals (refine: true), 10 k for k = 10
const RERANK_TYPES = ['int8', 'int4'];
// [qtype, IndexRefineFlat k_factor or 0]
const FAISS_TYPES = [['QT_8bit', 0], ['QT_4bit', 0], ['QT_fp16', 0], ['QT_8bit', RERANK / K], ['QT_4bit', RERANK / K]];
const TARGET_SPEEDUP = 3;
const TARGET_RECALL = 0.99;
const JS_NQ = 100;
const ONE_NQ = 200; // queries timed one search() call each // the plain-JS scan is timed on the first 100 queries (QPS scales linearly)

const log = (msg) => process.stderr.write(`[sq ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const METRIC_LABEL = { l2: 'L2', ip: 'IP (MIPS)' };

function mse(x, y, n, d) {
  let t = 0;
  for (let i = 0; i < n * d; i++) t += (x[i] - y[i]) ** 2;
  return t / n;
}

/**
 * Plain-JS uint8 SQ search: per-dimension min / step from the training set (vqwasm's uint8 quantizer: the same
 * min-max ranges and grid), codes u8[nb][d], each query folded once (l2: u = q - min; ip: w = q * step, bias =
 * <q, min>), then a scan that widens bytes and keeps the best k by insertion. Timed: one untimed pass over 2 queries
 * (V8 optimizes the loop), then the median of 3 scans of the nq queries.
 */
function jsSq(train, base, nb, d, q, nq, k, metric) {
  const vmin = new Float32Array(d).fill(Infinity);
  const vmax = new Float32Array(d).fill(-Infinity);
  for (let i = 0; i < train.length; i++) {
    const j = i % d;
    if (train[i] < vmin[j]) vmin[j] = train[i];
    if (train[i] > vmax[j]) vmax[j] = train[i];
  }
  const step = Float32Array.from(vmin, (m, j) => (vmax[j] - m) / 255);
  const codes = new Uint8Array(nb * d);
  for (let i = 0; i < nb * d; i++) {
    const j = i % d;
    codes[i] = step[j] > 0 ? Math.min(255, Math.max(0, Math.round((base[i] - vmin[j]) / step[j]))) : 0;
  }
  scanSq(vmin, step, codes, nb, d, q, 2, k, metric);
  const s = timedRuns(() => scanSq(vmin, step, codes, nb, d, q, nq, k, metric), { minSeconds: 0 });
  return { ids: s.out, seconds: s.seconds };
}

function scanSq(vmin, step, codes, nb, d, q, nq, k, metric) {
  const ids = new Int32Array(nq * k).fill(-1);
  const u = new Float32Array(d);
  const bd = new Float64Array(k);
  const bi = new Int32Array(k);
  for (let qi = 0; qi < nq; qi++) {
    let bias = 0;
    for (let j = 0; j < d; j++) {
      const x = q[qi * d + j];
      if (metric === 'l2') u[j] = x - vmin[j];
      else {
        u[j] = -x * step[j];
        bias -= x * vmin[j];
      }
    }
    bd.fill(Infinity);
    bi.fill(-1);
    for (let i = 0; i < nb; i++) {
      const o = i * d;
      let s = bias;
      if (metric === 'l2') {
        for (let j = 0; j < d; j++) {
          const e = u[j] - step[j] * codes[o + j];
          s += e * e;
        }
      } else {
        for (let j = 0; j < d; j++) s += u[j] * codes[o + j];
      }
      if (s < bd[k - 1]) {
        let p = k - 1;
        while (p > 0 && bd[p - 1] > s) {
          bd[p] = bd[p - 1];
          bi[p] = bi[p - 1];
          p--;
        }
        bd[p] = s;
        bi[p] = i;
      }
    }
    ids.set(bi, qi * k);
  }
  return ids;
}

/**
 * Queries per second when each query is its own search() call (serving: one user per request), over the first
 * ONE_NQ queries; the ids must be those of the batch search (else the row reports the mismatch).
 */
function oneAtATime(idx, ds, opts, batchIds) {
  const { d } = ds;
  const nq = Math.min(ONE_NQ, ds.nq);
  const one = () => {
    const ids = new Int32Array(nq * K);
    for (let i = 0; i < nq; i++) ids.set(idx.search(ds.q.subarray(i * d, (i + 1) * d), K, opts).ids, i * K);
    return ids;
  };
  const s = timedRuns(one, { minSeconds: ds.minSearchSeconds });
  for (let i = 0; i < nq * K; i++) if (s.out[i] !== batchIds[i]) throw new Error(`one-at-a-time ids differ from the batch search's at ${i}`);
  return nq / s.seconds;
}

function oursRows(mod, ds, metric, gt) {
  const { d, nb, nq } = ds;
  const rows = [];
  const flat = new mod.FlatIndex({ d, metric });
  let flatQps;
  let flatQps1;
  try {
    const t0 = C.now();
    flat.add(ds.base);
    const addS = C.now() - t0;
    const s = timedRuns(() => flat.search(ds.q, K), { minSeconds: ds.minSearchSeconds });
    flatQps = nq / s.seconds;
    flatQps1 = oneAtATime(flat, ds, {}, s.out.ids);
    rows.push({ method: 'vqwasm FlatIndex (float)', bytes: 4 * d, mse: 0, trainS: 0, addS, qps: flatQps, qps1: flatQps1, recall: C.recallAtK(s.out.ids, K, gt.data, gt.d, nq, K) });
  } finally {
    flat.dispose();
  }
  const configs = [...TYPES.map((type) => [type, 0]), ...RERANK_TYPES.map((type) => [type, RERANK])];
  for (const [type, rerank] of configs) {
    const method = rerank ? `vqwasm SQIndex ${type} + rerank ${rerank}` : `vqwasm SQIndex ${type}`;
    const r = C.attempt(log, () => {
      const idx = new mod.SQIndex({ d, type, metric, refine: rerank > 0 });
      try {
        let t0 = C.now();
        idx.train(ds.train);
        const trainS = C.now() - t0;
        t0 = C.now();
        idx.add(ds.base);
        const addS = C.now() - t0;
        const rec = idx.quantizer.decode(idx.quantizer.encode(ds.base));
        const opts = rerank ? { rerank } : {};
        const s = timedRuns(() => idx.search(ds.q, K, opts), { minSeconds: ds.minSearchSeconds });
        const qps1 = oneAtATime(idx, ds, opts, s.out.ids);
        return { method, type: rerank ? undefined : type, bytes: idx.bytesPerVector, mse: mse(ds.base, rec, nb, d), trainS, addS, qps: nq / s.seconds, qps1, recall: C.recallAtK(s.out.ids, K, gt.data, gt.d, nq, K) };
      } finally {
        idx.dispose();
      }
    });
    rows.push(r.error ? { method, error: r.error } : r);
  }
  return { rows, flatQps, flatQps1 };
}

function faissRows(ds, metric, gt) {
  const tasks = FAISS_TYPES.map(([qtype, kFactor]) => ({
    name: `${ds.key}_${metric}_${qtype}_${kFactor}`, qtype, refine_k_factor: kFactor, train: ds.trainPath, base: ds.basePath, queries: ds.qPath, metric, k: K,
    search_repeats: 3, search_min_seconds: ds.minSearchSeconds, search_max_repeats: 100,
    out_ids: join(C.DATA_DIR, `sq_${ds.key}_${metric}_${qtype}_${kFactor}_ids.ivecs`),
  }));
  const out = C.runFaissScript('faiss_sq.py', { tasks });
  return {
    version: out.faiss_version,
    compile: out.compile_options,
    rows: out.results.map((r, i) => {
      const ids = C.readIvecs(tasks[i].out_ids).data;
      const kf = tasks[i].refine_k_factor;
      const method = kf ? `Faiss ${tasks[i].qtype} + IndexRefineFlat k_factor ${kf}` : `Faiss IndexScalarQuantizer ${tasks[i].qtype}`;
      return { method, bytes: kf ? r.code_size + 4 * ds.d : r.code_size, mse: r.mse, trainS: r.train_seconds, addS: r.add_seconds, qps: ds.nq / r.median, recall: C.recallAtK(ids, K, gt.data, gt.d, ds.nq, K) };
    }),
  };
}

async function main() {
  const { ours, faiss } = await C.setUp('scalar quantization (SQIndex)');
  const sets = [];
  const ml = loadMovieLens({ minSearchSeconds: 0.5 });
  if (ml) sets.push(ml);
  const syn = makePqSynthetic({ k: K, jsNq: JS_NQ, minSearchSeconds: 1 });
  sets.push(syn);
  for (const ds of sets) {
    for (const metric of ['ip', 'l2']) {
      let gt;
      if (ds.gt[metric]) gt = ds.gt[metric];
      else if (ours) {
        const flat = new ours.FlatIndex({ d: ds.d, metric });
        flat.add(ds.base);
        gt = { d: K, n: ds.nq, data: flat.search(ds.q, K).ids };
        flat.dispose();
      } else {
        gt = { d: K, n: ds.nq, data: C.jsSearch(ds.base, ds.nb, ds.d, ds.q, ds.nq, K, metric).ids };
      }
      log(`${ds.label} ${metric}`);
      const rows = [];
      let flatQps;
      let flatQps1;
      if (ours) {
        const r = oursRows(ours, ds, metric, gt);
        rows.push(...r.rows);
        flatQps = r.flatQps;
        flatQps1 = r.flatQps1;
      }
      const notes = [];
      if (faiss.ok) {
        const f = C.attempt(log, () => faissRows(ds, metric, gt));
        if (f.error) notes.push(`faiss failed: ${f.error}`);
        else {
          rows.push(...f.rows);
          notes.push(`faiss ${f.version} (${f.compile ?? 'compile options n/a'}), 1 thread`);
        }
      } else notes.push(C.faissSkippedLine(faiss));
      const jsNq = Math.min(JS_NQ, ds.nq);
      const js = jsSq(ds.train, ds.base, ds.nb, ds.d, ds.q, jsNq, K, metric);
      rows.push({ method: `plain JS uint8 scan (${jsNq} queries)`, bytes: ds.d, qps: jsNq / js.seconds, recall: C.recallAtK(js.ids, K, gt.data, gt.d, jsNq, K) });
      const table = rows.map((r) => {
        if (r.error) return [r.method, '-', '-', '-', '-', '-', '-', '-', '-', '-', `error: ${r.error}`];
        const speed = flatQps ? r.qps / flatQps : undefined;
        const speed1 = flatQps1 && r.qps1 ? r.qps1 / flatQps1 : undefined;
        const target = r.type === 'int8'
          ? `${C.mark(speed >= TARGET_SPEEDUP && r.recall >= TARGET_RECALL)} / ${C.mark(speed1 >= TARGET_SPEEDUP && r.recall >= TARGET_RECALL)}`
          : '';
        return [
          r.method, String(r.bytes), r.mse === undefined ? '-' : C.fmtExp(r.mse, 3), r.trainS === undefined ? '-' : C.fmtSeconds(r.trainS), r.addS === undefined ? '-' : C.fmtSeconds(r.addS),
          C.fmtRate(r.qps), C.fmtNum(r.recall, 3), speed ? C.fmtRatio(speed) : '-', r.qps1 ? C.fmtRate(r.qps1) : '-', speed1 ? C.fmtRatio(speed1) : '-', target,
        ];
      });
      C.printTable(
        `${ds.label}: ${ds.nb} base, ${ds.nq} queries, d = ${ds.d}, ${METRIC_LABEL[metric]}, k = ${K}`,
        [
          { title: 'method', align: 'l' }, { title: 'bytes/vec', align: 'r' }, { title: 'MSE', align: 'r' }, { title: 'train', align: 'r' },
          { title: 'add', align: 'r' }, { title: 'QPS', align: 'r' }, { title: 'R@10', align: 'r' }, { title: 'x flat', align: 'r' },
          { title: 'QPS 1-by-1', align: 'r' }, { title: 'x flat 1-by-1', align: 'r' },
          { title: `int8 >= ${TARGET_SPEEDUP}x flat at R@10 >= ${TARGET_RECALL} (batch / 1-by-1)`, align: 'l' },
        ],
        table,
        [...notes, 'R@10: |top-10 ∩ true top-10| / 10; MSE: mean ||x - decode(encode(x))||^2 over the base; x flat: QPS / vqwasm FlatIndex QPS',
          `QPS 1-by-1: each of the first ${ONE_NQ} queries its own search() call (serving one user per request), same ids as the batch; x flat 1-by-1 against FlatIndex searched the same way`],
      );
    }
  }
  C.printMemoryStats(ours);
}

C.runMain(main);
