// Residual quantization benchmark: vqwasm ResidualQuantizer / RQIndex vs Faiss 1-thread (ResidualQuantizer,
// IndexResidualQuantizer) on the same data in one run: MovieLens d64 (items as training and base set, users as
// queries; MIPS and L2) and the synthetic Gaussian mixture of the PQ benches (50k training, 100k base, 1000 queries,
// d = 64; L2). levels 4 and 8, nbits 8, beam sizes 1 and 8, the same k-means iterations (25) and seed (1234) on both
// sides, Faiss's train_type set to Train_default (plain k-means per level, as vqwasm).
//   node bench/rq.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/rq.js  (relaxed-SIMD build)
// Prints tables; never asserts speed. Env: VQ_BENCH_RQ_ITERS (k-means iterations per level, default 25),
// VQ_BENCH_NO_FAISS=1, VQ_BENCH_NO_ENGINE=1.

import { join } from 'node:path';
import * as C from './lib/common.js';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadMovieLens, makePqSynthetic, synthGroundTruthWithoutFaiss, timedRuns } from './lib/pq-common.js';

const K = 10;
const NBITS = 8;
const SEED = 1234;
const LEVELS = [4, 8];
const BEAMS = [1, 8];
const ITERS = C.envInt('VQ_BENCH_RQ_ITERS', 25);
const ML_METRICS = ['ip', 'l2'];
const MSE_TOL = 0.02; // MSE within 2 % of Faiss's
const ENC_TARGET = 1.0; // encode throughput >= 1.0x Faiss

// the container reader / writer of the built package (for the normBits 16 variant of a trained index)
const FORMAT_PATH = join(C.REPO_ROOT, 'dist', 'io', 'format.js');
const FORMAT = existsSync(FORMAT_PATH) ? await import(pathToFileURL(FORMAT_PATH).href) : null;

const log = (msg) => process.stderr.write(`[rq ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const METRIC_LABEL = { l2: 'L2', ip: 'IP (MIPS)' };

function reconstructionMse(x, xhat, n, d) {
  if (!xhat || xhat.length !== n * d) return undefined;
  let total = 0;
  for (let i = 0; i < n * d; i++) total += (x[i] - xhat[i]) ** 2;
  return total / n;
}

/** 1-recall@1, 1-recall@10 (true nearest among the first R) and the top-10 overlap. */
function recalls(ids, nq, gt) {
  let r1 = 0;
  let r10 = 0;
  for (let q = 0; q < nq; q++) {
    const nn = gt.data[q * gt.d];
    if (ids[q * K] === nn) r1++;
    for (let j = 0; j < K; j++) if (ids[q * K + j] === nn) { r10++; break; }
  }
  return { r1: r1 / nq, r10: r10 / nq, overlap10: C.recallAtK(ids, K, gt.data, gt.d, nq, 10) };
}

// ---------------------------------------------------------------------------------------------------------------------

function oursExperiment(mod, ex) {
  const { ds } = ex;
  const index = new mod.RQIndex({ d: ds.d, levels: ex.levels, nbits: NBITS, beamSize: ex.beam, metric: ex.metric, seed: SEED, iterations: ITERS });
  try {
    let t0 = C.now();
    const tr = index.train(ds.train);
    const trainSeconds = C.now() - t0;
    const qz = index.quantizer;
    qz.encode(ds.base.subarray(0, 64 * ds.d)); // warm-up
    // short encodes (MovieLens: ~25 ms) vary by 20 % run to run here: at least 1.5 s of runs, the median (Faiss alike)
    const enc = timedRuns(() => qz.encode(ds.base), { minRuns: 3, minSeconds: 1.5, maxRuns: 200, maxSeconds: 5 });
    const mse = reconstructionMse(ds.base, qz.decode(enc.out), ds.nb, ds.d);
    const trainedEmpty = ex.metric === 'l2' && FORMAT ? index.save() : null;
    t0 = C.now();
    index.add(ds.base);
    const addSeconds = C.now() - t0;
    for (let i = 0; i < 3; i++) index.search(ds.q.subarray(0, 16 * ds.d), K);
    const s = timedRuns(() => index.search(ds.q, K), { minSeconds: ds.minSearchSeconds });
    // l2: the same trained index with 16-bit stored norms (normBits: 16), from its saved bytes with that one param changed
    let norm16 = null;
    if (trainedEmpty) {
      const c = FORMAT.readContainer('bench', trainedEmpty, 'RQIndex');
      const bytes = FORMAT.writeContainer('RQIndex', { ...c.params, normBits: 16 }, [...c.sections].map(([tag, data]) => ({ tag, data })));
      const i16 = mod.RQIndex.load(bytes);
      try {
        i16.add(ds.base);
        for (let i = 0; i < 3; i++) i16.search(ds.q.subarray(0, 16 * ds.d), K);
        const s16 = timedRuns(() => i16.search(ds.q, K), { minSeconds: ds.minSearchSeconds });
        norm16 = { searchSeconds: s16.seconds, rec: recalls(s16.out.ids, ds.nq, ds.gt[ex.metric]), bytesPerVector: i16.bytesPerVector };
      } finally {
        i16.dispose();
      }
    }
    return {
      norm16,
      trainSeconds, trainMse: tr.mse, encodeSeconds: enc.seconds, encodeRuns: enc.runs, mse, addSeconds, bytesPerVector: index.bytesPerVector,
      searchSeconds: s.seconds, searchRuns: s.runs, rec: recalls(s.out.ids, ds.nq, ds.gt[ex.metric]),
    };
  } finally {
    index.dispose();
  }
}

function faissTasks(datasets, experiments) {
  const tasks = [];
  for (const ds of datasets) if (ds.gtPath) tasks.push({ name: `${ds.key}/gt`, kind: 'gt', base: ds.basePath, queries: ds.qPath, k: 100, metric: 'l2', out_ids: ds.gtPath });
  for (const ex of experiments) {
    const stem = join(C.DATA_DIR, `faiss_rq_${ex.key.replace(/\//g, '_')}`);
    ex.faissTask = {
      name: ex.key, kind: 'rq', train: ex.ds.trainPath, base: ex.ds.basePath, queries: ex.ds.qPath, metric: ex.metric, levels: ex.levels,
      nbits: NBITS, beam: ex.beam, seed: SEED, niter: ITERS, train_type: 'default', k: K, encode_repeats: 3, encode_min_seconds: 1.5, encode_max_seconds: 5,
      search_repeats: 3, search_min_seconds: ex.ds.minSearchSeconds, search_max_repeats: 100,
      out_ids: `${stem}_ids.ivecs`, out_decoded: `${stem}_decoded.fvecs`,
    };
    tasks.push(ex.faissTask);
  }
  return tasks;
}

function readFaissResult(ex, r) {
  const { ds } = ex;
  const t = ex.faissTask;
  return {
    trainSeconds: r.train_seconds,
    encodeSeconds: r.encode_median,
    encodeRuns: r.encode_times.length,
    mse: reconstructionMse(ds.base, C.readFvecs(t.out_decoded).data, ds.nb, ds.d),
    bytesPerVector: r.code_size,
    searchSeconds: r.search_median,
    searchRuns: r.search_times.length,
    rec: recalls(C.readIvecs(t.out_ids).data, ds.nq, ds.gt[ex.metric]),
    cpuOverWall: [r.train_cpu_over_wall, r.encode_cpu_over_wall, r.search_cpu_over_wall],
  };
}

// ---------------------------------------------------------------------------------------------------------------------

async function main() {
  const { ours, build, faiss } = await C.setUp('residual quantization (ResidualQuantizer, RQIndex)');
  const datasets = [];
  const ml = loadMovieLens({ minSearchSeconds: 0.3 });
  if (ml) datasets.push(ml);
  log('generating synthetic data');
  const syn = makePqSynthetic({ k: 100, minSearchSeconds: 0.5 });
  datasets.push(syn);

  const experiments = [];
  for (const ds of datasets) {
    for (const metric of ds === ml ? ML_METRICS : ['l2']) {
      for (const levels of LEVELS) {
        for (const beam of BEAMS) experiments.push({ key: `${ds.key}/${metric}/L${levels}/beam${beam}`, ds, metric, levels, beam });
      }
    }
  }

  const faissRes = {};
  let faissMeta = null;
  if (faiss.ok) {
    log(`Faiss (1 thread): ${experiments.length} experiments`);
    try {
      faissMeta = C.runFaissScript('faiss_rq.py', { tasks: faissTasks(datasets, experiments) }, { timeoutMs: 40 * 60_000 });
      syn.gt.l2 = { ...C.readIvecs(syn.gtPath), source: 'Faiss IndexFlatL2' };
      for (const r of faissMeta.results) {
        if (r.kind === 'gt') continue;
        const ex = experiments.find((e) => e.key === r.name);
        faissRes[ex.key] = readFaissResult(ex, r);
      }
    } catch (err) {
      console.log(`faiss: failed (${err.message})`);
      faissMeta = null;
    }
  }
  if (!syn.gt.l2) {
    log('synthetic ground truth');
    syn.gt.l2 = synthGroundTruthWithoutFaiss(ours, syn, 100, log);
  }

  const oursRes = {};
  if (ours) {
    for (const ex of experiments) {
      log(`vqwasm ${ex.key}`);
      oursRes[ex.key] = C.attempt(log, () => oursExperiment(ours, ex));
    }
  }

  printTables({ experiments, oursRes, faissRes, faissMeta, build });
  C.printMemoryStats(ours);
}

function printTables({ experiments, oursRes, faissRes, faissMeta, build }) {
  const oursName = `vqwasm ${build}`;
  const notes = [];
  if (faissMeta) {
    notes.push(`Faiss ${faissMeta.faiss_version} (${faissMeta.compile_options ?? '?'}), omp threads ${faissMeta.omp_max_threads}, BLAS: ${faissMeta.blas.join(', ') || 'none found'}`);
    const cw = Object.values(faissRes).flatMap((r) => r.cpuOverWall.filter((x) => x !== null && x !== undefined));
    if (cw.length) notes.push(`Faiss cpu/wall: ${Math.min(...cw).toFixed(2)} .. ${Math.max(...cw).toFixed(2)} (1.00 = one thread)`);
  }
  // (1) quantizer: training, encoding, reconstruction error (the quantizer of the L2 index where there are two metrics)
  const qRows = [];
  const targets = [];
  for (const ex of experiments) {
    if (ex.ds.key === 'ml64' && ex.metric !== 'l2') continue;
    const o = oursRes[ex.key];
    const f = faissRes[ex.key];
    const label = `${ex.ds.label} L=${ex.levels} beam=${ex.beam}`;
    for (const [name, r] of [[oursName, o], ['Faiss', f]]) {
      if (!r) continue;
      if (r.error) {
        qRows.push([label, name, `error: ${r.error}`, '', '', '', '', '', '']);
        continue;
      }
      const isOurs = name === oursName;
      const encRatio = isOurs && f && !f.error ? f.encodeSeconds / r.encodeSeconds : undefined;
      const mseRel = isOurs && f && !f.error ? r.mse / f.mse - 1 : undefined;
      qRows.push([
        label, name, C.fmtSeconds(r.trainSeconds), C.fmtSeconds(r.encodeSeconds), C.fmtRate(ex.ds.nb / r.encodeSeconds),
        encRatio === undefined ? '' : C.fmtRatio(encRatio), C.fmtNum(r.mse, 5), mseRel === undefined ? '' : `${(100 * mseRel).toFixed(2)} %`,
        isOurs && r.trainMse ? r.trainMse.map((v) => v.toFixed(4)).join(' ') : '',
      ]);
      if (isOurs && encRatio !== undefined) {
        const mseMark = Math.abs(mseRel) <= MSE_TOL ? 'ok' : mseRel < 0 ? 'ok (better)' : 'MISS';
        targets.push([label, `MSE within 2 % of Faiss: ${(100 * mseRel).toFixed(2)} %`, mseMark]);
        targets.push([label, `encode >= ${ENC_TARGET.toFixed(1)}x Faiss: ${C.fmtRatio(encRatio)}`, C.mark(encRatio >= ENC_TARGET)]);
      }
    }
  }
  C.printTable(
    'ResidualQuantizer: train, encode (base set), reconstruction MSE; nbits 8',
    [
      { title: 'data / config', align: 'l' }, { title: 'method', align: 'l' }, { title: 'train', align: 'r' }, { title: 'encode', align: 'r' },
      { title: 'vectors/s', align: 'r' }, { title: 'enc/Faiss', align: 'r' }, { title: 'recon. MSE', align: 'r' }, { title: 'MSE vs Faiss', align: 'r' },
      { title: 'train MSE per level (vqwasm)', align: 'l' },
    ],
    qRows,
    [
      'train = the index\'s whole training (k-means per level on the residuals of every kept beam, then the beam search of the sample); encode = quantizer.encode / rq.compute_codes of the base set, median of runs',
      'recon. MSE = mean over the base vectors of ||x - decode(encode(x))||^2, the same JS code for both; MSE vs Faiss = vqwasm / Faiss - 1',
      'MovieLens rows: the quantizer of the L2 index (the IP index trains the same codebooks with the same seed)',
      ...notes,
    ],
  );
  // (2) search
  const sRows = [];
  for (const ex of experiments) {
    const o = oursRes[ex.key];
    const f = faissRes[ex.key];
    const label = `${ex.ds.label} ${METRIC_LABEL[ex.metric]} L=${ex.levels} beam=${ex.beam}`;
    for (const [name, r] of [[oursName, o], ['Faiss', f]]) {
      if (!r || r.error) continue;
      const qps = ex.ds.nq / r.searchSeconds;
      const ratio = name === oursName && f && !f.error ? f.searchSeconds / r.searchSeconds : undefined;
      sRows.push([label, name, C.fmtRate(qps), ratio === undefined ? '' : C.fmtRatio(ratio), C.fmtNum(r.rec.r1, 3), C.fmtNum(r.rec.r10, 3), C.fmtNum(r.rec.overlap10, 3), String(r.bytesPerVector)]);
      if (r.norm16) {
        const n16 = r.norm16;
        const ratio16 = f && !f.error ? f.searchSeconds / n16.searchSeconds : undefined;
        sRows.push([label, `${name} normBits 16`, C.fmtRate(ex.ds.nq / n16.searchSeconds), ratio16 === undefined ? '' : C.fmtRatio(ratio16), C.fmtNum(n16.rec.r1, 3), C.fmtNum(n16.rec.r10, 3), C.fmtNum(n16.rec.overlap10, 3), String(n16.bytesPerVector)]);
      }
    }
  }
  C.printTable(
    `RQIndex vs IndexResidualQuantizer: exhaustive search, top ${K}`,
    [
      { title: 'data / metric / config', align: 'l' }, { title: 'method', align: 'l' }, { title: 'QPS', align: 'r' }, { title: 'QPS/Faiss', align: 'r' },
      { title: 'R@1', align: 'r' }, { title: 'R@10', align: 'r' }, { title: '10-R@10', align: 'r' }, { title: 'B/vector', align: 'r' },
    ],
    sRows,
    [
      'QPS: one search of all queries, median of runs after a warm-up; R@R = share of queries whose true nearest neighbour is among the first R; 10-R@10 = top-10 overlap',
      'L2: both store the norm of the reconstruction as a uniformly quantized byte (Faiss ST_norm_qint8; vqwasm: extra code fields summed from the same table); IP: no norm (Faiss ST_LUT_nonorm)',
      "'normBits 16': the same trained vqwasm index storing 16-bit norms (two norm fields, one more byte and one more table lookup per vector): the distances are then those to the reconstructions up to 2^-17 of the norm range",
      'B/vector: code (with the norm byte for L2), plus for vqwasm the 4-byte id it keeps (Faiss IndexResidualQuantizer: ids are positions)',
    ],
  );
  if (targets.length) C.printTable('targets (printed, never asserted)', [{ title: 'config', align: 'l' }, { title: 'target', align: 'l' }, { title: 'result', align: 'l' }], targets);
}

C.runMain(main);
