// Product quantization benchmark: vqwasm ProductQuantizer / OPQ / PQIndex / IVFPQIndex vs Faiss 1-thread (IndexPQ,
// OPQMatrix + IndexPQ, IndexIVFPQ by_residual) vs a plain-JS ADC scan, on the same data in one run:
// MovieLens d64 (items as base and training set, users as queries; MIPS and L2; m = 16 and 8; IVF nlist = 64) and a
// synthetic Gaussian mixture (100k base, 50k training, 1000 queries, d = 64; L2; m = 16; IVF nlist = 1024).
//   node bench/pq.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/pq.js  (relaxed-SIMD build)
// Prints tables; never asserts speed. Env: VQ_BENCH_OPQ_ITERS (OPQ alternating steps for both, default 20),
// VQ_BENCH_PQ_SYNTH_OPQ=1 (also OPQ on the synthetic set, slow), VQ_BENCH_NO_FAISS=1, VQ_BENCH_NO_ENGINE=1,
// VQ_BENCH_QUALITY_SEEDS=1234,1,2,3 (multi-seed quality mode: both sides trained and evaluated once per seed; recall and
// MSE shown and judged as means over the seeds, plus a per-seed R@10 table; timings from the first seed only),
// VQ_BENCH_PQ_ONLY=ml64/l2/m16/ivfpq,ml64/l2/m8/ivfpq (only the cells whose key starts with one of these; a data set no
// cell uses is not loaded or generated; keys are dataset/metric/m/kind[/nlist], datasets ml64 and synth).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as C from './lib/common.js';
import { jsAdcSearch, loadMovieLens, makePqSynthetic, sum, synthGroundTruthWithoutFaiss, timedRuns } from './lib/pq-common.js';

const K = 100; // every search returns the top 100 (R@100 needs them); QPS is measured at this k for everyone
const RS = [1, 10, 100];
const NBITS = 8;
const SEED = 1234;
const QUALITY_SEEDS = parseSeeds(process.env.VQ_BENCH_QUALITY_SEEDS); // null = the single-seed run (SEED)
const MULTI = QUALITY_SEEDS !== null;
const SEEDS = MULTI ? QUALITY_SEEDS : [SEED];
const NPROBES = [1, 2, 4, 8, 16, 32, 64];
const OPQ_ITERS = C.envInt('VQ_BENCH_OPQ_ITERS', 20);
const COARSE_ITERS = 10; // Faiss IndexIVF's default cp.niter; passed to vqwasm as coarseIterations, with coarseInit 'random' (Faiss's)
const SYNTH_OPQ = process.env.VQ_BENCH_PQ_SYNTH_OPQ === '1';
const RECALL_TARGET = 0.9; // IVF-PQ: QPS compared at the smallest nprobe reaching R@10 >= 0.9
const SYN_M = 16;
const SYN_NLIST = 1024;
const ML_MS = [16, 8];
const ML_NLIST = 64;
const ML_METRICS = ['ip', 'l2'];
const JS_NQ_SYNTH = 100; // the plain-JS ADC scan is timed on the first 100 synthetic queries (QPS scales linearly)
const ONLY = (process.env.VQ_BENCH_PQ_ONLY ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
const wanted = (key) => !ONLY.length || ONLY.some((prefix) => key.startsWith(prefix));

/** The seeds for titles: runs of consecutive values as a-b ("1234,1-63"). */
function seedList(seeds) {
  const out = [];
  for (let i = 0; i < seeds.length; ) {
    let j = i;
    while (j + 1 < seeds.length && seeds[j + 1] === seeds[j] + 1) j++;
    out.push(j - i >= 2 ? `${seeds[i]}-${seeds[j]}` : seeds.slice(i, j + 1).join(','));
    i = j + 1;
  }
  return out.join(',');
}

function parseSeeds(text) {
  if (!text || !text.trim()) return null;
  const seeds = text.split(',').map((t) => t.trim()).filter((t) => t !== '').map(Number);
  if (!seeds.length || seeds.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new Error(`VQ_BENCH_QUALITY_SEEDS: expected a comma list of non-negative integers, got "${text}"`);
  }
  if (new Set(seeds).size !== seeds.length) throw new Error(`VQ_BENCH_QUALITY_SEEDS: repeated seed in "${text}"`);
  return seeds;
}

const log = (msg) => process.stderr.write(`[pq ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const METRIC_LABEL = { l2: 'L2', ip: 'IP (MIPS)' };
const KIND_LABEL = { pq: 'PQ', opq: 'OPQ+PQ', ivfpq: 'IVF-PQ' };

// ---------------------------------------------------------------------------------------------------------------------
// Measures shared by every method

/** Mean over vectors of ||x - xhat||^2 (float64), the same code for every method. */
function reconstructionMse(x, xhat, n, d) {
  if (!xhat || xhat.length !== n * d) return undefined;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = i * d, end = t + d; t < end; t++) {
      const diff = x[t] - xhat[t];
      s += diff * diff;
    }
    total += s;
  }
  return total / n;
}

/**
 * 1-recall@R (Jégou et al. 2011; Faiss's bench convention): the share of queries whose true nearest neighbour (column
 * 0 of the ground truth) is among the first R results. Also the top-10 overlap |top10 ∩ true top10| / 10.
 */
function recalls(ids, width, nq, gt) {
  const out = {};
  for (const r of RS) {
    let hits = 0;
    for (let q = 0; q < nq; q++) {
      const nn = gt.data[q * gt.d];
      for (let j = 0; j < Math.min(r, width); j++) {
        if (ids[q * width + j] === nn) {
          hits++;
          break;
        }
      }
    }
    out[r] = hits / nq;
  }
  out.overlap10 = C.recallAtK(ids, width, gt.data, gt.d, nq, 10);
  return out;
}

/**
 * A quality target "within tol of Faiss": ok inside the band, 'ok (better)' beyond it on vqwasm's good side, MISS on the
 * bad side. `delta` > 0 means vqwasm is better (higher recall, lower error).
 */
function bandMark(label, delta, tol) {
  if (Math.abs(delta) <= tol + 1e-9) return `${label} ok`;
  return delta > 0 ? `${label} ok (better)` : `${label} MISS`;
}

// ---------------------------------------------------------------------------------------------------------------------
// vqwasm

/**
 * One training + evaluation of a cell with one seed. quick (the extra seeds of the multi-seed mode): encode, add and
 * search run once, without warm-up, as only their quality is used.
 */
function oursExperiment(mod, ds, ex, seed = SEED, quick = false) {
  const { d } = ds;
  const common = { d, m: ex.m, nbits: NBITS, metric: ex.metric, seed };
  const isIvf = ex.kind === 'ivfpq';
  let index = isIvf
    ? new mod.IVFPQIndex({ ...common, nlist: ex.nlist, coarseIterations: COARSE_ITERS, coarseInit: 'random' })
    : new mod.PQIndex({ ...common, opq: ex.kind === 'opq', ...(ex.kind === 'opq' ? { opqIterations: OPQ_ITERS } : {}) });
  const res = { searches: [] };
  try {
    let t0 = C.now();
    res.trainResult = index.train(ds.train);
    res.trainSeconds = C.now() - t0;

    let decoded;
    if (isIvf) {
      // encode = add into the trained, empty index: fresh copies from save()/load(), so every timed run starts empty
      let bytes = null;
      if (!quick) {
        try {
          bytes = index.save();
        } catch (err) {
          log(`IVFPQIndex.save() of the empty index failed (${err.message}); add timed once`);
        }
      }
      const times = [];
      if (bytes) {
        for (let r = 0; r < 3 && sum(times) <= 5; r++) {
          const fresh = mod.IVFPQIndex.load(bytes);
          index.dispose();
          index = fresh;
          t0 = C.now();
          index.add(ds.base);
          times.push(C.now() - t0);
        }
      } else {
        t0 = C.now();
        index.add(ds.base);
        times.push(C.now() - t0);
      }
      res.encodeSeconds = C.median(times);
      res.encodeRuns = times.length;
      decoded = index.reconstruct(Int32Array.from({ length: ds.nb }, (_, i) => i));
      res.codeSize = index.codeSize;
    } else {
      const qz = index.quantizer;
      if (!quick) qz.encode(ds.base.subarray(0, 64 * d)); // warm-up
      const enc = timedRuns(() => qz.encode(ds.base), { minRuns: quick ? 1 : 3, minSeconds: 0, maxSeconds: 5 });
      res.encodeSeconds = enc.seconds;
      res.encodeRuns = enc.runs;
      decoded = qz.decode(enc.out);
      res.codeSize = qz.codeSize;
      t0 = C.now();
      index.add(ds.base);
      res.addSeconds = C.now() - t0;
      if (ex.kind === 'pq' && ex.jsBaseline && !quick) res.jsInputs = { centroids: qz.centroids, codes: enc.out };
    }
    res.bytesPerVector = index.bytesPerVector;
    res.mse = reconstructionMse(ds.base, decoded, ds.nb, d);

    const warm = ds.q.subarray(0, Math.min(ds.nq, 16) * d);
    for (const nprobe of isIvf ? NPROBES.filter((p) => p <= ex.nlist) : [null]) {
      const opts = isIvf ? { nprobe } : {};
      for (let i = 0; i < (quick ? 0 : 3); i++) index.search(warm, K, opts);
      const s = timedRuns(() => index.search(ds.q, K, opts), quick ? { minRuns: 1, minSeconds: 0 } : { minSeconds: ds.minSearchSeconds });
      res.searches.push({ nprobe, seconds: s.seconds, runs: s.runs, nq: ds.nq, rec: recalls(s.out.ids, K, ds.nq, ds.gt[ex.metric]) });
    }
    return res;
  } finally {
    index.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Plain-JS ADC scan (bench/lib/pq-common.js), on the codebook and codes of Faiss or vqwasm

function jsExperiment(ds, ex, inputs) {
  const { centroids, codes, source } = inputs;
  const ksub = 1 << NBITS;
  const dsub = ds.d / ex.m;
  const nq = ds.jsNq;
  const q = ds.q.subarray(0, nq * ds.d);
  jsAdcSearch(centroids, ex.m, ksub, dsub, codes, Math.min(ds.nb, 2000), q, Math.min(nq, 4), K, ex.metric); // warm-up
  const s = timedRuns(() => jsAdcSearch(centroids, ex.m, ksub, dsub, codes, ds.nb, q, nq, K, ex.metric), {
    minSeconds: 1,
    maxSeconds: 10,
  });
  return { searches: [{ seconds: s.seconds, runs: s.runs, nq, rec: recalls(s.out, K, nq, ds.gt[ex.metric]) }], source };
}

// ---------------------------------------------------------------------------------------------------------------------
// Faiss (the data sets are in bench/lib/pq-common.js)

function faissTasks(datasets, experiments) {
  const tasks = [];
  for (const ds of datasets) {
    if (ds.gtPath) {
      tasks.push({ name: `${ds.key}/gt`, kind: 'gt', base: ds.basePath, queries: ds.qPath, k: K, metric: 'l2', out_ids: ds.gtPath });
    }
  }
  for (const [si, seed] of SEEDS.entries()) {
    for (const ex of experiments) tasks.push(faissTask(ex, seed, si));
  }
  return tasks;
}

/** The Faiss task of a cell for one seed; seed index 0 keeps the single-seed names, paths and timing settings. */
function faissTask(ex, seed, si) {
  const ds = ex.ds;
  const quick = si > 0;
  const seedPart = quick ? `_seed${seed}` : '';
  const stem = join(C.DATA_DIR, `faiss_pq_${ex.key.replace(/\//g, '_')}${seedPart}`);
  const t = {
    name: quick ? `${ex.key}@seed${seed}` : ex.key,
    kind: ex.kind,
    train: ds.trainPath,
    base: ds.basePath,
    queries: ds.qPath,
    metric: ex.metric,
    m: ex.m,
    nbits: NBITS,
    seed,
    k: K,
    encode_repeats: quick ? 1 : 3,
    encode_max_seconds: 5,
    search_repeats: quick ? 1 : 3,
    search_min_seconds: quick ? 0 : ds.minSearchSeconds,
    search_max_repeats: quick ? 1 : 100,
    out_decoded: `${stem}_decoded.fvecs`,
  };
  if (ex.kind === 'ivfpq') {
    t.nlist = ex.nlist;
    t.coarse_iters = COARSE_ITERS;
    t.nprobes = NPROBES.filter((p) => p <= ex.nlist);
    t.out_ids = `${stem}_np{nprobe}_ids.ivecs`;
  } else {
    t.out_ids = `${stem}_ids.ivecs`;
  }
  if (ex.kind === 'opq') t.opq_iters = OPQ_ITERS;
  if (ex.kind === 'pq' && ex.jsBaseline && !quick) {
    t.out_codes = `${stem}_codes.u8`;
    t.out_centroids = `${stem}_centroids.fvecs`;
  }
  (ex.faissTasks ??= [])[si] = t;
  return t;
}

function readFaissResult(ex, r, t) {
  const ds = ex.ds;
  const decoded = C.readFvecs(t.out_decoded).data;
  const res = {
    trainSeconds: r.train_seconds,
    encodeSeconds: r.encode_median,
    encodeRuns: r.encode_times.length,
    addSeconds: r.add_seconds ?? undefined,
    mse: reconstructionMse(ds.base, decoded, ds.nb, ds.d),
    codeSize: r.code_size,
    bytesPerVector: r.bytes_per_vector,
    cpuOverWall: [r.train_cpu_over_wall, r.encode_cpu_over_wall, ...r.searches.map((s) => s.cpu_over_wall)],
    raw: r,
    searches: r.searches.map((s) => {
      const path = s.nprobe ? t.out_ids.replace('{nprobe}', String(s.nprobe)) : t.out_ids;
      const ids = C.readIvecs(path).data;
      return { nprobe: s.nprobe ?? null, seconds: s.median, runs: s.times.length, nq: ds.nq, rec: recalls(ids, K, ds.nq, ds.gt[ex.metric]) };
    }),
  };
  if (t.out_codes) {
    const buf = readFileSync(t.out_codes);
    res.jsInputs = {
      centroids: C.readFvecs(t.out_centroids).data,
      codes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength),
      source: "Faiss's codebook and codes",
    };
  }
  return res;
}

/**
 * One result from the per-seed results of a cell: the first seed's as is when there is one seed; otherwise the first
 * seed's timings with mse and every search's recalls replaced by their means over the seeds, and the per-seed values
 * kept in seedMse / search.seedRec10. An error in any seed makes the cell an error.
 */
function combineSeeds(list) {
  if (list.length === 1) return list[0];
  const bad = list.findIndex((r) => !r || r.error);
  if (bad >= 0) return list[bad] ?? { error: `no result for seed ${SEEDS[bad]}` };
  const mean = (a) => sum(a) / a.length;
  const first = list[0];
  return {
    ...first,
    mse: mean(list.map((r) => r.mse)),
    seedMse: list.map((r) => r.mse),
    searches: first.searches.map((s) => {
      const per = list.map((r) => r.searches.find((x) => x.nprobe === s.nprobe).rec);
      const rec = { overlap10: mean(per.map((x) => x.overlap10)) };
      for (const r of RS) rec[r] = mean(per.map((x) => x[r]));
      return { ...s, rec, seedRec10: per.map((x) => x[10]) };
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------------------

async function main() {
  const { ours, build, faiss } = await C.setUp('product quantization (PQ, OPQ+PQ, IVF-PQ)');

  // ---- data sets and experiments
  const datasets = [];
  const wantsData = (key) => !ONLY.length || ONLY.some((prefix) => key.startsWith(prefix.split('/')[0]));
  const ml = wantsData('ml64') ? loadMovieLens() : null;
  if (ml) datasets.push(ml);
  let syn = null;
  if (wantsData('synth')) {
    log('generating synthetic data');
    syn = makePqSynthetic({ k: K, jsNq: JS_NQ_SYNTH });
    datasets.push(syn);
  }

  const experiments = [];
  const add = (ds, metric, m, kind, extra = {}) => {
    const nlistPart = kind === 'ivfpq' ? `/nlist${extra.nlist}` : '';
    const key = `${ds.key}/${metric}/m${m}/${kind}${nlistPart}`;
    if (wanted(key)) experiments.push({ key, ds, metric, m, kind, ...extra });
  };
  if (!datasets.length) throw new Error(`VQ_BENCH_PQ_ONLY="${ONLY.join(',')}": no data set matches (keys start with ml64 or synth)`);
  if (ml) {
    for (const metric of ML_METRICS) {
      for (const m of ML_MS) {
        add(ml, metric, m, 'pq', { jsBaseline: true });
        add(ml, metric, m, 'opq');
        add(ml, metric, m, 'ivfpq', { nlist: ML_NLIST });
      }
    }
  }
  if (syn) {
    add(syn, 'l2', SYN_M, 'pq', { jsBaseline: true });
    if (SYNTH_OPQ) add(syn, 'l2', SYN_M, 'opq');
    add(syn, 'l2', SYN_M, 'ivfpq', { nlist: SYN_NLIST });
  }
  if (!experiments.length) throw new Error(`VQ_BENCH_PQ_ONLY="${ONLY.join(',')}": no cell matches`);

  // ---- Faiss first: it also computes the synthetic ground truth
  const faissRes = {};
  let faissMeta = null;
  if (MULTI) log(`multi-seed quality mode: seeds ${seedList(SEEDS)} (timings from seed ${SEEDS[0]})`);
  if (faiss.ok) {
    log(`Faiss (1 thread): ${experiments.length} experiments${MULTI ? ` x ${SEEDS.length} seeds` : ''}`);
    try {
      const tasks = faissTasks(datasets, experiments);
      faissMeta = C.runFaissScript('faiss_pq.py', { tasks }, { timeoutMs: 15 * 60_000 * SEEDS.length });
      if (syn) syn.gt.l2 = { ...C.readIvecs(syn.gtPath), source: 'Faiss IndexFlatL2' };
      const runs = {};
      for (const r of faissMeta.results) {
        if (r.kind === 'gt') continue;
        const ex = experiments.find((e) => e.faissTasks.some((t) => t.name === r.name));
        const si = ex.faissTasks.findIndex((t) => t.name === r.name);
        (runs[ex.key] ??= [])[si] = readFaissResult(ex, r, ex.faissTasks[si]);
      }
      for (const [key, list] of Object.entries(runs)) faissRes[key] = combineSeeds(list);
    } catch (err) {
      console.log(`faiss: failed (${err.message})`);
      faissMeta = null;
    }
  }
  if (syn && !syn.gt.l2) {
    log('synthetic ground truth');
    syn.gt.l2 = synthGroundTruthWithoutFaiss(ours, syn, K, log);
  }

  // ---- vqwasm
  const oursRes = {};
  if (ours) {
    for (const ex of experiments) {
      const list = [];
      for (const [si, seed] of SEEDS.entries()) {
        log(`vqwasm ${ex.key}${MULTI ? ` seed ${seed}` : ''}`);
        list.push(C.attempt(log, () => oursExperiment(ours, ex.ds, ex, seed, si > 0)));
      }
      oursRes[ex.key] = combineSeeds(list);
    }
  }

  // ---- plain-JS ADC scan (PQ rows), on Faiss's codebook and codes, else on vqwasm's
  const jsRes = {};
  for (const ex of experiments.filter((e) => e.jsBaseline)) {
    const inputs = faissRes[ex.key]?.jsInputs ?? (oursRes[ex.key]?.jsInputs && { ...oursRes[ex.key].jsInputs, source: "vqwasm's codebook and codes" });
    if (!inputs) continue;
    log(`plain JS ADC ${ex.key}`);
    jsRes[ex.key] = jsExperiment(ex.ds, ex, inputs);
  }

  printTables({ experiments, datasets, oursRes, faissRes, jsRes, faissMeta, build, ours });
  C.printMemoryStats(ours);
}

// ---------------------------------------------------------------------------------------------------------------------
// Tables

function printTables({ experiments, datasets, oursRes, faissRes, jsRes, faissMeta, build, ours }) {
  const oursName = `vqwasm ${build}`;
  const faissNotes = () => {
    if (!faissMeta) return [];
    const cw = Object.values(faissRes).flatMap((r) => r.cpuOverWall.filter((x) => x !== null && x !== undefined));
    const lo = Math.min(...cw);
    const hi = Math.max(...cw);
    return [
      `Faiss ${faissMeta.faiss_version} (${faissMeta.compile_options ?? 'compile options unknown'}: "GENERIC" has no AVX2 kernels), omp threads=${faissMeta.omp_max_threads}, cpu/wall ${lo.toFixed(2)}..${hi.toFixed(2)},` +
        ` BLAS: ${(faissMeta.blas || []).join(', ') || 'unknown'}`,
    ];
  };
  const errorNotes = () =>
    Object.entries(oursRes)
      .filter(([, r]) => r.error)
      .map(([k, r]) => `vqwasm ${k} error: ${r.error}`);
  const config = (ex) => `${ex.m}x${NBITS}${ex.kind === 'ivfpq' ? `, nlist ${ex.nlist}` : ''}`;
  // multi-seed mode: quality columns and targets are means over the seeds, timings the first seed's
  const meanWord = MULTI ? 'mean ' : '';
  const seedTitle = MULTI ? `  [quality: mean over seeds ${seedList(SEEDS)}]` : '';
  const seedNotes = MULTI
    ? [
        `Multi-seed quality mode (VQ_BENCH_QUALITY_SEEDS, seeds ${seedList(SEEDS)}): each cell trained and evaluated once per seed on`,
        'both sides (the seed goes to vqwasm\'s seed option and to Faiss pq.cp.seed, IVF index.cp.seed, OPQ sub-quantizer and',
        `start rotation); R@R, 10-R@10, MSE and the quality targets are means over the seeds; timings (train, encode, QPS, runs)`,
        `are from the first seed (${SEEDS[0]}) only, the other seeds run encode and search once.`,
      ]
    : [];

  // ---- 1. training, encoding, reconstruction
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'metric', align: 'l' },
      { title: 'method', align: 'l' },
      { title: 'm x nbits', align: 'l' },
      { title: 'impl', align: 'l' },
      { title: 'train', align: 'r' },
      { title: 'encode (runs)', align: 'r' },
      { title: 'vectors/s', align: 'r' },
      { title: 'enc/Faiss', align: 'r' },
      { title: 'recon. MSE', align: 'r' },
      { title: 'MSE/Faiss', align: 'r' },
      { title: 'code B', align: 'r' },
      { title: 'B/vector', align: 'r' },
      { title: 'target', align: 'l' },
    ];
    const rows = [];
    for (const ex of experiments) {
      const f = faissRes[ex.key];
      const head = [ex.ds.label, METRIC_LABEL[ex.metric], KIND_LABEL[ex.kind], config(ex)];
      const row = (name, r, isOurs) => {
        if (!r) return [...head, name, 'skipped', '-', '-', '-', '-', '-', '-', '-', ''];
        if (r.error) return [...head, name, 'ERROR', '-', '-', '-', '-', '-', '-', '-', ''];
        const rate = ex.ds.nb / r.encodeSeconds;
        const encRatio = f && isOurs ? f.encodeSeconds / r.encodeSeconds : undefined;
        const mseRatio = f && isOurs ? r.mse / f.mse : undefined;
        const targets = [];
        if (encRatio !== undefined) targets.push(`enc>=1.0x ${C.mark(encRatio >= 1.0)}`);
        if (mseRatio !== undefined) targets.push(bandMark(`${meanWord}MSE ±2%`, 1 - mseRatio, 0.02));
        return [
          ...head,
          name,
          C.fmtSeconds(r.trainSeconds),
          `${C.fmtSeconds(r.encodeSeconds)} (${r.encodeRuns})`,
          C.fmtRate(rate),
          C.fmtRatio(encRatio),
          C.fmtExp(r.mse, 4),
          C.fmtRatio(mseRatio, 3),
          r.codeSize,
          r.bytesPerVector,
          targets.join(', '),
        ];
      };
      rows.push(row('Faiss 1-thread', f, false));
      if (ours) rows.push(row(oursName, oursRes[ex.key], true));
    }
    const dsNotes = datasets.map((ds) => `${ds.label}: ${ds.nt} training vectors, ${ds.nb} base vectors (encoded), d=${ds.d}`);
    C.printTable(`PQ training, encoding and reconstruction error  [engine build: ${build}]${seedTitle}`, cols, rows, [
      'train = the whole training of a fresh index (OPQ: rotation + final PQ; IVF-PQ: coarse k-means + residual PQ).',
      'encode = time to encode the base set (PQ, OPQ: quantizer.encode / Faiss sa_encode; IVF-PQ: add into the trained empty',
      'index, coarse assignment + residual encoding), median of (runs); vectors/s = base vectors / encode; enc/Faiss =',
      'Faiss time / vqwasm time (higher is better). recon. MSE = mean over the base vectors of ||x - decode(encode(x))||^2,',
      'computed by the same JS code for both (Faiss writes its sa_decode output; vqwasm: quantizer.decode / IVF reconstruct).',
      'code B = code bytes per vector; B/vector = what the index stores per vector (Faiss IVF: code + int64 id; vqwasm IVF:',
      `code + int32 position + int32 id, + f32 ||r||^2 + 2 <c, r> for L2; Faiss L2 instead keeps an nlist x m x 256 table). Same m, nbits, nlist and seed ${SEED} for both (different RNGs; PQ k-means seeding:`,
      `vqwasm k-means++ for IP and random for L2 (its defaults), Faiss random; IVF coarse k-means: random for both). OPQ: ${OPQ_ITERS} alternating steps for both (Faiss OPQMatrix niter; niter_pq 4, niter_pq_0 40,`,
      `max_train_points 65536, as vqwasm's defaults). IVF coarse k-means: ${COARSE_ITERS} iterations for both (Faiss's default);`,
      "Faiss IP IVF uses its IndexFlatIP quantizer with spherical k-means (IndexIVF's default for inner product), vqwasm assigns by L2",
      "to unnormalized centroids: the IP IVF rows compare the two defaults, not one configuration (range.js measures the same Faiss",
      "index with cp.spherical off: most of the gap in recall and MSE is that choice).",
      ...dsNotes,
      ...seedNotes,
      ...faissNotes(),
      ...errorNotes(),
    ]);
  }

  // ---- 2. exhaustive ADC search (PQ, OPQ)
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'metric', align: 'l' },
      { title: 'method', align: 'l' },
      { title: 'm x nbits', align: 'l' },
      { title: 'impl', align: 'l' },
      { title: 'queries', align: 'r' },
      { title: 'runs', align: 'r' },
      { title: 'search time', align: 'r' },
      { title: 'QPS', align: 'r' },
      { title: 'QPS/Faiss', align: 'r' },
      { title: 'R@1', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'R@100', align: 'r' },
      { title: '10-R@10', align: 'r' },
      { title: 'target', align: 'l' },
    ];
    const rows = [];
    for (const ex of experiments.filter((e) => e.kind !== 'ivfpq')) {
      const f = faissRes[ex.key]?.searches?.[0];
      const head = [ex.ds.label, METRIC_LABEL[ex.metric], KIND_LABEL[ex.kind], config(ex)];
      const row = (name, r, isOurs) => {
        if (!r) return [...head, name, '-', '-', 'skipped', '-', '-', '-', '-', '-', '-', ''];
        if (r.error) return [...head, name, '-', '-', 'ERROR', '-', '-', '-', '-', '-', '-', ''];
        const s = r.searches[0];
        const qps = s.nq / s.seconds;
        const ratio = f ? qps / (f.nq / f.seconds) : undefined;
        const targets = [];
        if (isOurs && f) {
          targets.push(bandMark(`${meanWord}R@10 ±0.01`, s.rec[10] - f.rec[10], 0.01));
          if (ex.kind === 'pq') targets.push(`QPS>=1.2x ${C.mark(ratio >= 1.2)}`);
        }
        return [
          ...head,
          name,
          s.nq,
          s.runs,
          C.fmtSeconds(s.seconds),
          C.fmtRate(qps),
          name.startsWith('Faiss') ? '' : C.fmtRatio(ratio),
          s.rec[1].toFixed(3),
          s.rec[10].toFixed(3),
          s.rec[100].toFixed(3),
          s.rec.overlap10.toFixed(3),
          targets.join(', '),
        ];
      };
      rows.push(row('Faiss 1-thread', faissRes[ex.key], false));
      if (ours) rows.push(row(oursName, oursRes[ex.key], true));
      if (jsRes[ex.key]) rows.push(row('plain JS ADC scan', jsRes[ex.key], false));
    }
    const jsSources = [...new Set(Object.values(jsRes).map((r) => r.source))];
    C.printTable(`PQ / OPQ+PQ exhaustive ADC search, top-${K}  [engine build: ${build}]${seedTitle}`, cols, rows, [
      `search time = one search of all queries for the top ${K} (median of runs, after a warm-up; the same rule in Node and`,
      'Python). QPS = queries / search time; QPS/Faiss higher is better. Ground truth: the gt_*_top100 files (MovieLens),',
      `${datasets.find((d) => d.key === 'synth')?.gt?.l2?.source ?? '?'} (synthetic). R@R = share of queries whose true`,
      'nearest neighbour is in the first R results (1-recall@R, Jégou et al. / Faiss benchs); 10-R@10 = |top-10 ∩ true',
      'top-10| / 10. Quality targets: ok within the band, "ok (better)" beyond it on vqwasm\'s side, MISS below it.',
      `plain JS ADC scan = a table per query then a loop over the codes with a ${K}-heap, on ${jsSources.join(' / ') || '-'};`,
      `timed on the first ${JS_NQ_SYNTH} synthetic queries (all MovieLens queries).`,
      ...(MULTI ? [`The plain JS ADC scan runs once, on the first seed's (${SEEDS[0]}) codes, so its R@R is that seed's.`] : []),
      ...seedNotes,
      ...faissNotes(),
      ...errorNotes(),
    ]);
  }

  // ---- 3. IVF-PQ nprobe sweep
  const ivfExperiments = experiments.filter((e) => e.kind === 'ivfpq');
  if (ivfExperiments.length) {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'metric', align: 'l' },
      { title: 'm x nbits, nlist', align: 'l' },
      { title: 'nprobe', align: 'r' },
      { title: 'Faiss QPS', align: 'r' },
      { title: 'R@1', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'R@100', align: 'r' },
      { title: 'vqwasm QPS', align: 'r' },
      { title: 'R@1', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'R@100', align: 'r' },
      { title: 'QPS/Faiss', align: 'r' },
      { title: 'ΔR@10', align: 'r' },
      { title: 'target', align: 'l' },
    ];
    const rows = [];
    const summaryRows = [];
    for (const ex of ivfExperiments) {
      const f = faissRes[ex.key];
      const o = oursRes[ex.key] && !oursRes[ex.key].error ? oursRes[ex.key] : null;
      const fq = (s) => (s ? s.nq / s.seconds : undefined);
      for (const nprobe of NPROBES.filter((p) => p <= ex.nlist)) {
        const fs = f?.searches.find((s) => s.nprobe === nprobe);
        const os = o?.searches.find((s) => s.nprobe === nprobe);
        const rec = (s) => (s ? [s.rec[1].toFixed(3), s.rec[10].toFixed(3), s.rec[100].toFixed(3)] : ['-', '-', '-']);
        const delta = fs && os ? os.rec[10] - fs.rec[10] : undefined;
        rows.push([
          ex.ds.label,
          METRIC_LABEL[ex.metric],
          config(ex),
          nprobe,
          C.fmtRate(fq(fs)),
          ...rec(fs),
          ours ? (oursRes[ex.key]?.error ? 'ERROR' : C.fmtRate(fq(os))) : 'skipped',
          ...rec(os),
          C.fmtRatio(fs && os ? fq(os) / fq(fs) : undefined),
          delta === undefined ? '-' : `${delta >= 0 ? '+' : ''}${delta.toFixed(3)}`,
          delta === undefined ? '' : bandMark(`${meanWord}R@10 ±0.01`, delta, 0.01),
        ]);
      }
      const first = (r) => r?.searches?.find((s) => s.rec[10] >= RECALL_TARGET);
      const ff = first(f);
      const of = first(o);
      const ratio = ff && of ? fq(of) / fq(ff) : undefined;
      summaryRows.push([
        ex.ds.label,
        METRIC_LABEL[ex.metric],
        config(ex),
        f ? (ff ? ff.nprobe : 'never') : '-',
        C.fmtRate(fq(ff)),
        ff ? ff.rec[10].toFixed(3) : '-',
        o ? (of ? of.nprobe : 'never') : '-',
        C.fmtRate(fq(of)),
        of ? of.rec[10].toFixed(3) : '-',
        C.fmtRatio(ratio),
        ratio === undefined ? '' : `>=1.0x ${C.mark(ratio >= 1.0)}`,
      ]);
    }
    C.printTable(`IVF-PQ (by residual) nprobe sweep, top-${K}  [engine build: ${build}]${seedTitle}`, cols, rows, [
      'QPS = queries / search time (median of runs after a warm-up, all queries, same rule for both); R@R as above (1-recall@R);',
      `ΔR@10 = vqwasm R@10 - Faiss R@10${MULTI ? ' (means over the seeds, per nprobe)' : ''}.`,
      ...seedNotes,
      ...faissNotes(),
      ...errorNotes(),
    ]);
    C.printTable(
      `IVF-PQ QPS at the smallest nprobe reaching ${meanWord}R@10 >= ${RECALL_TARGET}  [engine build: ${build}]${seedTitle}`,
      [
        { title: 'dataset', align: 'l' },
        { title: 'metric', align: 'l' },
        { title: 'm x nbits, nlist', align: 'l' },
        { title: 'Faiss nprobe', align: 'r' },
        { title: 'Faiss QPS', align: 'r' },
        { title: 'R@10', align: 'r' },
        { title: 'vqwasm nprobe', align: 'r' },
        { title: 'vqwasm QPS', align: 'r' },
        { title: 'R@10', align: 'r' },
        { title: 'QPS/Faiss', align: 'r' },
        { title: 'target', align: 'l' },
      ],
      summaryRows,
      [`'never' = no nprobe up to ${NPROBES[NPROBES.length - 1]} reaches R@10 >= ${RECALL_TARGET} (the PQ codes' own limit).`],
    );
  }

  // ---- 5. multi-seed mode: R@10 per seed
  if (MULTI) {
    const rows = [];
    // up to 8 seeds each value; more: the range and the sample standard deviation
    const sd = (v) => C.meanSd(v).sd;
    const list = (s) => {
      const v = s?.seedRec10;
      if (!v) return '-';
      if (v.length <= 8) return v.map((x) => x.toFixed(3)).join(' ');
      return `${Math.min(...v).toFixed(3)}-${Math.max(...v).toFixed(3)}, sd ${sd(v).toFixed(3)}`;
    };
    // standard error of the difference of two independent means
    const se = (a, b) => Math.sqrt(sd(a) ** 2 / a.length + sd(b) ** 2 / b.length);
    for (const ex of experiments) {
      const f = faissRes[ex.key];
      const o = oursRes[ex.key] && !oursRes[ex.key].error ? oursRes[ex.key] : null;
      const nprobes = ex.kind === 'ivfpq' ? NPROBES.filter((p) => p <= ex.nlist) : [null];
      for (const nprobe of nprobes) {
        const fs = f?.searches?.find((s) => s.nprobe === nprobe);
        const os = o?.searches.find((s) => s.nprobe === nprobe);
        const delta = fs && os ? os.rec[10] - fs.rec[10] : undefined;
        rows.push([
          ex.ds.label,
          METRIC_LABEL[ex.metric],
          KIND_LABEL[ex.kind],
          config(ex),
          nprobe ?? '-',
          list(fs),
          fs ? fs.rec[10].toFixed(3) : '-',
          oursRes[ex.key]?.error ? 'ERROR' : list(os),
          os ? os.rec[10].toFixed(3) : '-',
          delta === undefined ? '-' : `${delta >= 0 ? '+' : ''}${delta.toFixed(3)}`,
          delta === undefined || SEEDS.length < 2 ? '-' : se(fs.seedRec10, os.seedRec10).toFixed(3),
          delta === undefined ? '' : bandMark('mean R@10 ±0.01', delta, 0.01),
        ]);
      }
    }
    C.printTable(
      `R@10 per seed (seeds ${seedList(SEEDS)}), top-${K}  [engine build: ${build}]`,
      [
        { title: 'dataset', align: 'l' },
        { title: 'metric', align: 'l' },
        { title: 'method', align: 'l' },
        { title: 'm x nbits', align: 'l' },
        { title: 'nprobe', align: 'r' },
        { title: 'Faiss R@10 per seed', align: 'l' },
        { title: 'mean', align: 'r' },
        { title: 'vqwasm R@10 per seed', align: 'l' },
        { title: 'mean', align: 'r' },
        { title: 'mean ΔR@10', align: 'r' },
        { title: 'SE of Δ', align: 'r' },
        { title: 'target', align: 'l' },
      ],
      rows,
      [
        `R@10 of each side for seeds ${seedList(SEEDS)} in that order (the same seed value on both sides, but different RNGs:`,
        'seed i of vqwasm and seed i of Faiss are independent draws, not a pair); mean ΔR@10 = mean vqwasm - mean Faiss, the',
        'value the target judges. Over 8 seeds a side shows min-max and sd (sample standard deviation) instead of each value.',
        'SE of Δ = sqrt(sd_Faiss^2 / n + sd_vqwasm^2 / n): the standard error of mean ΔR@10 from the seed-to-seed spread alone.',
        ...seedNotes,
      ],
    );
  }
}

C.runMain(main);
