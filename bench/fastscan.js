// 4-bit PQ fast-scan benchmark: vqwasm PQIndex / IVFPQIndex with nbits 4 (fast-scan, u8 tables in SIMD registers)
// against the float 4-bit ADC scan of the same codes (fastScan: false), the 8-bit ADC at the same 16 bytes per vector
// (m = 16 x 8), Faiss 1-thread (IndexPQFastScan, IndexPQ, IndexIVFPQFastScan by_residual, IndexIVFPQ) and a plain-JS
// 4-bit ADC scan, on the same data in one run: MovieLens d64 (items as base and training set, users as queries; MIPS
// and L2; IVF nlist 64) and the synthetic Gaussian mixture of bench/pq.js (100k base, 50k training, 1000 queries,
// d = 64; L2; IVF nlist 1024), plus a 1M-vector base for the fast-scan throughput alone.
//   node bench/fastscan.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/fastscan.js  (relaxed-SIMD build: i8x16.relaxed_swizzle lookups)
// Prints tables with ok/MISS beside the targets; never asserts speed. Env: VQ_BENCH_FS_BIG=0 (skip the 1M base),
// VQ_BENCH_NO_FAISS=1, VQ_BENCH_NO_ENGINE=1, VQ_BENCH_SHARED_DATA.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as C from './lib/common.js';
import { jsAdcSearch, loadMovieLens, makePqSynthetic, synthGroundTruthWithoutFaiss, timedRuns } from './lib/pq-common.js';

const K = 10; // every search returns the top 10; QPS and R@10 are at this k for everyone
const GT_K = 100; // the synthetic ground truth keeps 100 columns, as bench/pq.js writes it (same file, same content)
const SEED = 1234;
const FS = { m: 32, nbits: 4 }; // 16 bytes per vector
const B8 = { m: 16, nbits: 8 }; // the same 16 bytes per vector with 8-bit codes
const RERANKS = [100, 200]; // exhaustive fast-scan re-ranked with the original vectors (refine)
const IVF_RERANK = 100;
const NPROBES = [1, 2, 4, 8, 16, 32, 64];
const COARSE_ITERS = 10; // Faiss IndexIVF's default cp.niter; passed to vqwasm as coarseIterations, with coarseInit 'random' (Faiss's)
const RECALL_TARGET = 0.9;
const ML_NLIST = 64;
const SYN_NLIST = 1024;
const ML_METRICS = ['ip', 'l2'];
const JS_NQ_SYNTH = 100; // the plain-JS scan is timed on the first 100 synthetic queries (QPS scales linearly)
// The large base: BIG_COPIES noisy copies of the synthetic base (noise std BIG_NOISE, against 0.7 within a cluster),
// encoded by the index trained on the synthetic training set; only the fast-scan throughput is measured on it.
const BIG = process.env.VQ_BENCH_FS_BIG !== '0';
const BIG_COPIES = 10;
const BIG_NOISE = 0.05;
const TARGETS = { codesRatio8: 2.5, codesPerSecond: 400e6, recallGap: 0.01, rerankRecall: 0.95 };

const log = (msg) => process.stderr.write(`[fastscan ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const METRIC_LABEL = { l2: 'L2', ip: 'IP (MIPS)' };
const cfgLabel = (c) => `${c.m}x${c.nbits}`;
const signed = (x, digits = 3) => (x === undefined ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`);
const fmtRec = (x) => (x === undefined ? '-' : x.toFixed(3));
const Mcodes = (x) => (x === undefined || !Number.isFinite(x) ? '-' : `${(x / 1e6).toFixed(0)} M`);

// vqwasm methods. fs and adc4 share m, nbits and seed, so they train the same codebook and hold the same codes: only
// the scan differs. fs is built with refine so that the same index answers with and without re-ranking.
const PQ_METHODS = {
  fs: { ...FS, fastScan: true, refine: true, reranks: RERANKS },
  adc4: { ...FS, fastScan: false, jsInputs: true },
  adc8: { ...B8 },
};
const IVF_METHODS = {
  fs: { ...FS, fastScan: true, refine: true, reranks: [IVF_RERANK] },
  adc4: { ...FS, fastScan: false },
};

// ---------------------------------------------------------------------------------------------------------------------
// Measures

/** R@10: mean top-10 overlap with the exact top 10. */
const recall10 = (ids, nq, gt) => C.recallAtK(ids, K, gt.data, gt.d, nq, 10);

/** One timed search of every query (after a warm-up on a few), the rule of bench/pq.js. */
function measureSearch(index, ds, gt, opts) {
  const warm = ds.q.subarray(0, Math.min(ds.nq, 16) * ds.d);
  for (let i = 0; i < 3; i++) index.search(warm, K, opts);
  const s = timedRuns(() => index.search(ds.q, K, opts), { minSeconds: ds.minSearchSeconds, maxSeconds: 20 });
  return { seconds: s.seconds, runs: s.runs, nq: ds.nq, ids: s.out.ids, rec10: recall10(s.out.ids, ds.nq, gt) };
}

/** Element-wise equality of two typed arrays. */
function sameValues(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const qps = (s) => (s ? s.nq / s.seconds : undefined);
/** Codes scanned per second by an exhaustive search: every query visits every base vector. */
const codesPerSecond = (s, nb) => (s ? (nb * s.nq) / s.seconds : undefined);

// ---------------------------------------------------------------------------------------------------------------------
// vqwasm

function oursPq(mod, ds, metric, cfg) {
  const gt = ds.gt[metric];
  const index = new mod.PQIndex({ d: ds.d, m: cfg.m, nbits: cfg.nbits, metric, seed: SEED, refine: !!cfg.refine, fastScan: cfg.fastScan });
  try {
    let t0 = C.now();
    index.train(ds.train);
    const trainSeconds = C.now() - t0;
    t0 = C.now();
    index.add(ds.base);
    const addSeconds = C.now() - t0;
    const qz = index.quantizer;
    const res = { trainSeconds, addSeconds, codeSize: qz.codeSize, fastScan: index.fastScan, centroids: qz.centroids };
    // the plain-JS scan runs on exactly the codes this index holds (encode is what add() stored)
    if (cfg.jsInputs) res.jsInputs = { centroids: res.centroids, codes: qz.encode(ds.base) };
    res.plain = measureSearch(index, ds, gt, {});
    res.reranked = {};
    for (const r of cfg.reranks ?? []) res.reranked[r] = measureSearch(index, ds, gt, { rerank: r });
    return res;
  } finally {
    index.dispose();
  }
}

function oursIvf(mod, ds, metric, cfg, nlist) {
  const gt = ds.gt[metric];
  const index = new mod.IVFPQIndex({
    d: ds.d, nlist, m: cfg.m, nbits: cfg.nbits, metric, seed: SEED, refine: !!cfg.refine, fastScan: cfg.fastScan,
    coarseIterations: COARSE_ITERS, coarseInit: 'random',
  });
  try {
    let t0 = C.now();
    index.train(ds.train);
    const trainSeconds = C.now() - t0;
    t0 = C.now();
    index.add(ds.base);
    const addSeconds = C.now() - t0;
    const sweep = [];
    for (const nprobe of NPROBES.filter((p) => p <= nlist)) {
      const point = { nprobe, plain: measureSearch(index, ds, gt, { nprobe }), reranked: {} };
      for (const r of cfg.reranks ?? []) point.reranked[r] = measureSearch(index, ds, gt, { nprobe, rerank: r });
      sweep.push(point);
    }
    // coarse centroids and residual codebook, to show that fs and adc4 really index the same codes
    const codebooks = [index.centroids, index.quantizer.centroids];
    return { trainSeconds, addSeconds, fastScan: index.fastScan, codebooks, sweep };
  } finally {
    index.dispose();
  }
}

/**
 * Fast-scan throughput on a larger base: the index trained on the synthetic training set (same seed, so the same
 * codebook as the 100k rows) holding BIG_COPIES noisy copies of the synthetic base, added one copy at a time so that
 * the 1M float vectors never exist at once. No ground truth: throughput only.
 */
function oursBig(mod, ds) {
  const index = new mod.PQIndex({ d: ds.d, m: FS.m, nbits: FS.nbits, metric: 'l2', seed: SEED });
  try {
    index.train(ds.train);
    const noise = C.seededNormal(C.seededUniform(77));
    const copy = new Float32Array(ds.base.length);
    const t0 = C.now();
    for (let c = 0; c < BIG_COPIES; c++) {
      for (let i = 0; i < copy.length; i++) copy[i] = ds.base[i] + BIG_NOISE * noise();
      index.add(copy);
    }
    const fillSeconds = C.now() - t0;
    const nb = index.size;
    const warm = ds.q.subarray(0, 16 * ds.d);
    for (let i = 0; i < 2; i++) index.search(warm, K);
    const s = timedRuns(() => index.search(ds.q, K), { minRuns: 3, minSeconds: 0, maxSeconds: 30 });
    return { nb, fillSeconds, search: { seconds: s.seconds, runs: s.runs, nq: ds.nq } };
  } finally {
    index.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Plain-JS 4-bit ADC scan (bench/lib/pq-common.js) on vqwasm's codebook and codes, one byte per sub-quantizer

/** Packed 4-bit codes (two per byte, low nibble first: ProductQuantizer's layout) to one byte per sub-quantizer. */
function unpack4(packed, n, m) {
  const cs = Math.ceil(m / 2);
  const out = new Uint8Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const b = packed[i * cs + (j >> 1)];
      out[i * m + j] = j & 1 ? b >> 4 : b & 15;
    }
  }
  return out;
}

function jsExperiment(ds, metric, inputs) {
  const codes = unpack4(inputs.codes, ds.nb, FS.m);
  const ksub = 1 << FS.nbits;
  const dsub = ds.d / FS.m;
  const nq = ds.jsNq;
  const q = ds.q.subarray(0, nq * ds.d);
  jsAdcSearch(inputs.centroids, FS.m, ksub, dsub, codes, Math.min(ds.nb, 2000), q, Math.min(nq, 4), K, metric); // warm-up
  const scan = () => jsAdcSearch(inputs.centroids, FS.m, ksub, dsub, codes, ds.nb, q, nq, K, metric);
  const s = timedRuns(scan, { minSeconds: 1, maxSeconds: 10 });
  return { plain: { seconds: s.seconds, runs: s.runs, nq, ids: s.out, rec10: recall10(s.out, nq, ds.gt[metric]) } };
}

// ---------------------------------------------------------------------------------------------------------------------
// Faiss

function faissTasks(datasets, cells) {
  const tasks = [];
  for (const ds of datasets) {
    if (!ds.gtPath) continue;
    tasks.push({ name: `${ds.key}/gt`, kind: 'gt', base: ds.basePath, queries: ds.qPath, k: GT_K, metric: 'l2', out_ids: ds.gtPath });
  }
  for (const cell of cells) {
    const { ds, metric } = cell;
    const common = {
      train: ds.trainPath, base: ds.basePath, queries: ds.qPath, metric, seed: SEED, k: K, search_repeats: 3, search_max_repeats: 100,
    };
    const add = (kind, cfg, extra) => {
      const name = `${cell.key}/${kind}`;
      const t = {
        name, kind, ...common, m: cfg.m, nbits: cfg.nbits, search_min_seconds: ds.minSearchSeconds,
        out_ids: join(C.DATA_DIR, `faiss_fastscan_${name.replace(/\//g, '_')}_{variant}_ids.ivecs`), ...extra,
      };
      tasks.push(t);
      (cell.faissTasks ??= {})[kind] = t;
    };
    add('pqfs', FS, { bbs: 32, reranks: RERANKS });
    add('pq', B8, {});
    const ivf = { nlist: cell.nlist, coarse_iters: COARSE_ITERS, nprobes: NPROBES.filter((p) => p <= cell.nlist) };
    add('ivfpqfs', FS, { ...ivf, bbs: 32, reranks: [IVF_RERANK] });
    add('ivfpq', B8, ivf);
  }
  return tasks;
}

/** A Faiss result in the shape of oursPq / oursIvf, recall computed here from the ids it wrote. */
function readFaissResult(cell, r, t) {
  const { ds, metric } = cell;
  const gt = ds.gt[metric];
  const entry = (s) => {
    const prefix = s.nprobe ? `np${s.nprobe}_` : '';
    const ids = C.readIvecs(t.out_ids.replace('{variant}', `${prefix}${s.rerank ? `rr${s.rerank}` : 'plain'}`)).data;
    return { seconds: s.median, runs: s.times.length, nq: ds.nq, ids, rec10: recall10(ids, ds.nq, gt), cpuOverWall: s.cpu_over_wall };
  };
  const group = (list) => {
    const plain = list.find((s) => !s.rerank);
    const reranked = {};
    for (const s of list.filter((x) => x.rerank)) reranked[s.rerank] = entry(s);
    return { plain: entry(plain), reranked };
  };
  const res = { trainSeconds: r.train_seconds, addSeconds: r.add_seconds, codeSize: r.code_size, raw: r };
  if (t.nprobes) {
    res.sweep = t.nprobes.map((nprobe) => ({ nprobe, ...group(r.searches.filter((s) => s.nprobe === nprobe)) }));
  } else {
    Object.assign(res, group(r.searches));
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------------------------

/** sha256 prefixes of the built wasm files: which engine the numbers belong to, when dist/ is rebuilt often. */
function distFingerprint() {
  const parts = [];
  for (const f of ['vqwasm-simd.wasm', 'vqwasm-relaxed.wasm']) {
    const p = join(C.REPO_ROOT, 'dist', f);
    if (existsSync(p)) parts.push(`${f} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12)}`);
  }
  return parts.join(', ');
}

async function main() {
  const { ours, build, faiss } = await C.setUp('4-bit PQ fast-scan (PQ and IVF-PQ)');
  if (ours) console.log(`dist: ${distFingerprint()}`);

  const datasets = [];
  const ml = loadMovieLens();
  if (ml) datasets.push(ml);
  log('generating synthetic data');
  const syn = makePqSynthetic({ k: GT_K, jsNq: JS_NQ_SYNTH, minSearchSeconds: 1 });
  datasets.push(syn);

  const cells = [];
  if (ml) for (const metric of ML_METRICS) cells.push({ key: `${ml.key}/${metric}`, ds: ml, metric, nlist: ML_NLIST });
  cells.push({ key: `${syn.key}/l2`, ds: syn, metric: 'l2', nlist: SYN_NLIST });

  // ---- Faiss first: it also computes the synthetic ground truth
  const faissRes = {};
  let faissMeta = null;
  if (faiss.ok) {
    log(`Faiss (1 thread): ${cells.length} cells`);
    try {
      faissMeta = C.runFaissScript('faiss_fastscan.py', { tasks: faissTasks(datasets, cells) }, { timeoutMs: 20 * 60_000 });
      syn.gt.l2 = { ...C.readIvecs(syn.gtPath), source: 'Faiss IndexFlatL2' };
      for (const r of faissMeta.results) {
        if (r.kind === 'gt') continue;
        const cell = cells.find((c) => r.name.startsWith(`${c.key}/`));
        faissRes[r.name] = readFaissResult(cell, r, cell.faissTasks[r.kind]);
      }
    } catch (err) {
      console.log(`faiss: failed (${err.message})`);
      faissMeta = null;
    }
  }
  if (!syn.gt.l2) {
    log('synthetic ground truth');
    syn.gt.l2 = synthGroundTruthWithoutFaiss(ours, syn, GT_K, log);
  }

  // ---- vqwasm
  const oursRes = {};
  let big = null;
  if (ours) {
    for (const cell of cells) {
      for (const [name, cfg] of Object.entries(PQ_METHODS)) {
        log(`vqwasm ${cell.key} PQ ${name}`);
        oursRes[`${cell.key}/pq/${name}`] = C.attempt(log, () => oursPq(ours, cell.ds, cell.metric, cfg));
      }
      for (const [name, cfg] of Object.entries(IVF_METHODS)) {
        log(`vqwasm ${cell.key} IVF ${name}`);
        oursRes[`${cell.key}/ivf/${name}`] = C.attempt(log, () => oursIvf(ours, cell.ds, cell.metric, cfg, cell.nlist));
      }
    }
    if (BIG) {
      log(`vqwasm fast-scan on ${BIG_COPIES} x ${syn.nb} vectors`);
      big = C.attempt(log, () => oursBig(ours, syn));
    }
  }

  // ---- plain-JS 4-bit ADC scan on vqwasm's codes
  const jsRes = {};
  if (ours) {
    for (const cell of cells) {
      log(`plain JS 4-bit ADC ${cell.key}`);
      const inputs = oursRes[`${cell.key}/pq/adc4`]?.jsInputs;
      if (inputs) jsRes[cell.key] = C.attempt(log, () => jsExperiment(cell.ds, cell.metric, inputs));
    }
  }

  printTables({ cells, datasets, oursRes, faissRes, jsRes, faissMeta, big, build, ours, syn });
  C.printMemoryStats(ours);
}

// ---------------------------------------------------------------------------------------------------------------------
// Tables

function printTables({ cells, datasets, oursRes, faissRes, jsRes, faissMeta, big, build, ours, syn }) {
  const ok = (r) => (r && !r.error ? r : undefined);
  const our = (cell, kind, name) => ok(oursRes[`${cell.key}/${kind}/${name}`]);
  const fr = (cell, kind) => ok(faissRes[`${cell.key}/${kind}`]);
  const faissNotes = () => {
    if (!faissMeta) return [];
    const cw = Object.values(faissRes)
      .flatMap((r) => [r.raw.train_cpu_over_wall, ...r.raw.searches.map((s) => s.cpu_over_wall)])
      .filter((x) => x != null);
    const opts = faissMeta.compile_options ?? 'unknown';
    return [
      `Faiss ${faissMeta.faiss_version} (${opts}), omp threads=${faissMeta.omp_max_threads}, cpu/wall ${Math.min(...cw).toFixed(2)}..` +
        `${Math.max(...cw).toFixed(2)}, BLAS: ${(faissMeta.blas || []).join(', ') || 'unknown'}`,
      ...(/AVX2|AVX512|NEON/i.test(opts)
        ? []
        : [
            'This Faiss is built without AVX2 (x86 baseline): its fast-scan kernels then run on simdlib\'s scalar emulation of the',
            '256-bit SIMD they are written for, far below what an AVX2 build of Faiss does; read the fast-scan ratios with that in mind.',
          ]),
    ];
  };
  const errorNotes = () =>
    Object.entries({ ...oursRes, ...jsRes, ...(big ? { big } : {}) })
      .filter(([, r]) => r && r.error)
      .map(([k, r]) => `vqwasm ${k} error: ${r.error}`);
  const oursName = `vqwasm ${build}`;

  // ---- 1. exhaustive scans
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'metric', align: 'l' },
      { title: 'impl', align: 'l' },
      { title: 'scan', align: 'l' },
      { title: 'm x nbits', align: 'l' },
      { title: 'train', align: 'r' },
      { title: 'queries', align: 'r' },
      { title: 'runs', align: 'r' },
      { title: 'QPS', align: 'r' },
      { title: 'codes/s', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'R@10 rr100', align: 'r' },
      { title: 'R@10 rr200', align: 'r' },
      { title: 'QPS rr200', align: 'r' },
      { title: 'top10 ∩ float ADC', align: 'r' },
    ];
    const rows = [];
    const sameCodes = [];
    for (const cell of cells) {
      const { ds, metric } = cell;
      const adc4 = our(cell, 'pq', 'adc4');
      // the overlap with the float ADC scan means something only for rows on the same codes (vqwasm's, plain JS)
      const row = (impl, scan, cfg, r, { nq, raw, sameCodes: same = true } = {}) => {
        const head = [ds.label, METRIC_LABEL[metric], impl, scan, cfgLabel(cfg)];
        if (!r) return [...head, raw?.error ? 'ERROR' : 'skipped', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
        const s = r.plain;
        const rr = (x) => fmtRec(r.reranked?.[x]?.rec10);
        const vsAdc = same && adc4 && s.nq === ds.nq && r !== adc4 ? fmtRec(C.recallAtK(s.ids, K, adc4.plain.ids, K, ds.nq, 10)) : '';
        return [
          ...head,
          C.fmtSeconds(r.trainSeconds),
          nq ?? s.nq,
          s.runs,
          C.fmtRate(qps(s)),
          Mcodes(codesPerSecond(s, ds.nb)),
          fmtRec(s.rec10),
          rr(100),
          rr(200),
          C.fmtRate(qps(r.reranked?.[200])),
          vsAdc,
        ];
      };
      if (ours) {
        const raw = (name) => ({ raw: oursRes[`${cell.key}/pq/${name}`] });
        rows.push(row(oursName, 'fast-scan', FS, our(cell, 'pq', 'fs'), raw('fs')));
        rows.push(row(oursName, 'float ADC (same codes)', FS, adc4, raw('adc4')));
        rows.push(row(oursName, '8-bit ADC', B8, our(cell, 'pq', 'adc8'), raw('adc8')));
      }
      if (faissMeta) {
        rows.push(row('Faiss 1-thread', 'IndexPQFastScan', FS, fr(cell, 'pqfs'), { sameCodes: false }));
        rows.push(row('Faiss 1-thread', 'IndexPQ', B8, fr(cell, 'pq'), { sameCodes: false }));
      }
      const js = ok(jsRes[cell.key]);
      if (js) rows.push(row('plain JS', 'float ADC (vqwasm codes)', FS, js, { nq: js.plain.nq }));
      const fs = our(cell, 'pq', 'fs');
      if (fs && adc4) sameCodes.push(`${ds.label} ${METRIC_LABEL[metric]}: ${sameValues(fs.centroids, adc4.centroids) ? 'yes' : 'NO'}`);
    }
    C.printTable(`Exhaustive PQ scans at 16 bytes per vector, top-${K}  [engine build: ${build}]`, cols, rows, [
      `QPS = queries / search time (one search of all queries for the top ${K}, median of runs after a warm-up; the same rule in`,
      'Node and Python); codes/s = base vectors x queries / search time (codes scanned per second). R@10 = top-10 overlap with',
      `the exact top 10 (MovieLens: the gt_*_top100 files; synthetic: ${syn.gt.l2?.source ?? '?'}). rr100 / rr200 = the`,
      'best 100 / 200 fast-scan candidates re-ranked with the original vectors (vqwasm: refine: true, search({ rerank });',
      'Faiss: IndexRefineFlat with k_factor = rerank / k); QPS rr200 includes the re-ranking. train = training of a fresh index.',
      "top10 ∩ float ADC = top-10 overlap with vqwasm's float ADC scan of the same codes (fast-scan quantizes the tables to u8).",
      `vqwasm fast-scan and float ADC hold the same codebook (hence the same codes): ${sameCodes.join('; ') || '-'}.`,
      'Same m, nbits and seed (1234) for vqwasm and Faiss, different RNGs and k-means seeding (vqwasm: k-means++ for IP,',
      'random for L2; Faiss random), so the codebooks differ. Faiss fast-scan: bbs 32, default implem.',
      `plain JS = a float table per query, then a loop over one-byte-per-sub-quantizer codes with a ${K}-heap, on vqwasm's`,
      `codebook and codes (same seed); timed on the first ${JS_NQ_SYNTH} synthetic queries (all MovieLens queries).`,
      ...datasets.map((ds) => `${ds.label}: ${ds.nt} training vectors, ${ds.nb} base vectors, ${ds.nq} queries, d=${ds.d}`),
      ...faissNotes(),
      ...errorNotes(),
    ]);
  }

  // ---- 2. fast-scan on the larger base
  if (big) {
    const s100 = cells.find((c) => c.ds === syn);
    const small = s100 && our(s100, 'pq', 'fs');
    const rows = [];
    if (small) {
      const s = small.plain;
      rows.push([syn.label, syn.nb, syn.nq, s.runs, C.fmtSeconds(s.seconds), C.fmtRate(qps(s)), Mcodes(codesPerSecond(s, syn.nb)), '-']);
    }
    if (big.error) rows.push([`${BIG_COPIES} noisy copies`, '-', syn.nq, '-', 'ERROR', '-', '-', '-']);
    else {
      rows.push([
        `${BIG_COPIES} noisy copies`, big.nb, big.search.nq, big.search.runs, C.fmtSeconds(big.search.seconds), C.fmtRate(qps(big.search)),
        Mcodes(codesPerSecond(big.search, big.nb)), C.fmtSeconds(big.fillSeconds),
      ]);
    }
    C.printTable(
      `vqwasm fast-scan ${cfgLabel(FS)} throughput by base size, L2, top-${K}  [engine build: ${build}]`,
      [
        { title: 'base', align: 'l' },
        { title: 'vectors', align: 'r' },
        { title: 'queries', align: 'r' },
        { title: 'runs', align: 'r' },
        { title: 'search time', align: 'r' },
        { title: 'QPS', align: 'r' },
        { title: 'codes/s', align: 'r' },
        { title: 'add', align: 'r' },
      ],
      rows,
      [
        `${BIG_COPIES} noisy copies = the synthetic base ${BIG_COPIES} times, each vector plus N(0, ${BIG_NOISE}^2) noise, added to an index`,
        'trained on the synthetic training set (seed 1234); add = encoding and adding them all. Throughput only (no ground truth).',
      ],
    );
  }

  // ---- 3. IVF-PQ sweeps
  const summary = [];
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'metric', align: 'l' },
      { title: 'nlist', align: 'r' },
      { title: 'nprobe', align: 'r' },
      { title: 'fs QPS', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: `R@10 rr${IVF_RERANK}`, align: 'r' },
      { title: 'fADC QPS', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'ΔR@10 fs-fADC', align: 'r' },
      { title: 'Faiss fs QPS', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: `R@10 rr${IVF_RERANK}`, align: 'r' },
      { title: 'Faiss 16x8 QPS', align: 'r' },
      { title: 'R@10', align: 'r' },
      { title: 'fs/Faiss fs', align: 'r' },
    ];
    const rows = [];
    const sameCodes = [];
    for (const cell of cells) {
      const fs = our(cell, 'ivf', 'fs');
      const adc = our(cell, 'ivf', 'adc4');
      if (fs && adc) {
        const same = fs.codebooks.every((c, i) => sameValues(c, adc.codebooks[i]));
        sameCodes.push(`${cell.ds.label} ${METRIC_LABEL[cell.metric]}: ${same ? 'yes' : 'NO'}`);
      }
      const ffs = fr(cell, 'ivfpqfs');
      const f8 = fr(cell, 'ivfpq');
      const at = (r, nprobe) => r?.sweep.find((p) => p.nprobe === nprobe);
      for (const nprobe of NPROBES.filter((p) => p <= cell.nlist)) {
        const [a, b, c, e] = [at(fs, nprobe), at(adc, nprobe), at(ffs, nprobe), at(f8, nprobe)];
        rows.push([
          cell.ds.label,
          METRIC_LABEL[cell.metric],
          cell.nlist,
          nprobe,
          C.fmtRate(qps(a?.plain)),
          fmtRec(a?.plain.rec10),
          fmtRec(a?.reranked[IVF_RERANK]?.rec10),
          C.fmtRate(qps(b?.plain)),
          fmtRec(b?.plain.rec10),
          a && b ? signed(a.plain.rec10 - b.plain.rec10) : '-',
          C.fmtRate(qps(c?.plain)),
          fmtRec(c?.plain.rec10),
          fmtRec(c?.reranked[IVF_RERANK]?.rec10),
          C.fmtRate(qps(e?.plain)),
          fmtRec(e?.plain.rec10),
          a && c ? C.fmtRatio(qps(a.plain) / qps(c.plain)) : '-',
        ]);
      }
      // each side's QPS at the smallest nprobe reaching the recall target (or its best recall if none does)
      const sides = [
        [`${oursName} fast-scan`, fs, null],
        [`${oursName} fast-scan rr${IVF_RERANK}`, fs, IVF_RERANK],
        [`${oursName} float ADC`, adc, null],
        ['Faiss IVFPQFastScan', ffs, null],
        [`Faiss IVFPQFastScan rr${IVF_RERANK}`, ffs, IVF_RERANK],
        ['Faiss IVFPQ 16x8', f8, null],
      ];
      for (const [name, r, rr] of sides) {
        if (!r) continue;
        const pts = r.sweep.map((p) => ({ nprobe: p.nprobe, s: rr ? p.reranked[rr] : p.plain })).filter((p) => p.s);
        const hit = pts.find((p) => p.s.rec10 >= RECALL_TARGET);
        const best = pts.reduce((x, y) => (y.s.rec10 > x.s.rec10 ? y : x), pts[0]);
        const p = hit ?? best;
        summary.push([cell.ds.label, METRIC_LABEL[cell.metric], name, hit ? 'yes' : `no (best)`, p.nprobe, fmtRec(p.s.rec10), C.fmtRate(qps(p.s))]);
      }
    }
    C.printTable(`IVF-PQ (by residual) nprobe sweep, ${cfgLabel(FS)} unless noted, top-${K}  [engine build: ${build}]`, cols, rows, [
      'fs = vqwasm IVFPQIndex fast-scan; fADC = vqwasm IVFPQIndex fastScan: false (same seed, so the same coarse centroids,',
      `residual codebook and codes; identical: ${sameCodes.join('; ') || '-'}).`,
      `rr${IVF_RERANK} = the best ${IVF_RERANK} candidates re-ranked exactly (vqwasm refine; Faiss IndexRefineFlat). Faiss fs =`,
      `IndexIVFPQFastScan (bbs 32, by_residual switched on); Faiss 16x8 = IndexIVFPQ with 8-bit codes at the same bytes. Coarse`,
      `k-means: ${COARSE_ITERS} iterations from random centroids for every index (both sides); Faiss IP uses an IndexFlatIP coarse`,
      'quantizer, vqwasm assigns by L2. QPS and R@10 as in the exhaustive table; fs/Faiss fs = QPS ratio (higher is better).',
      'fADC unpacks the 4-bit codes of every visited list once per query (the exhaustive scan unpacks a block once for a group',
      'of queries), which is most of its time at large nprobe.',
      ...faissNotes(),
    ]);
    C.printTable(
      `IVF-PQ QPS at the smallest nprobe reaching R@10 >= ${RECALL_TARGET} (else the best R@10 reached)  [engine build: ${build}]`,
      [
        { title: 'dataset', align: 'l' },
        { title: 'metric', align: 'l' },
        { title: 'side', align: 'l' },
        { title: `reaches ${RECALL_TARGET}`, align: 'l' },
        { title: 'nprobe', align: 'r' },
        { title: 'R@10', align: 'r' },
        { title: 'QPS', align: 'r' },
      ],
      summary,
      [`nprobe 1 to ${NPROBES[NPROBES.length - 1]} (at most nlist); "no (best)" = no nprobe reaches it: the nprobe with the best R@10 is shown.`],
    );
  }

  // ---- 4. targets
  {
    const rows = [];
    const target = (name, where, value, goal, pass) => rows.push([name, where, value, goal, pass === undefined ? '-' : C.mark(pass)]);
    for (const cell of cells) {
      const where = `${cell.ds.label}, ${METRIC_LABEL[cell.metric]}`;
      const fs = our(cell, 'pq', 'fs');
      const a8 = our(cell, 'pq', 'adc8');
      if (fs && a8) {
        const ratio = codesPerSecond(fs.plain, cell.ds.nb) / codesPerSecond(a8.plain, cell.ds.nb);
        target(
          '(a) fast-scan codes/s vs 8-bit ADC (16 B)',
          where,
          `${Mcodes(codesPerSecond(fs.plain, cell.ds.nb))} / ${Mcodes(codesPerSecond(a8.plain, cell.ds.nb))} = ${C.fmtRatio(ratio)}`,
          `>= ${TARGETS.codesRatio8}x`,
          ratio >= TARGETS.codesRatio8,
        );
      }
    }
    const s = cells.find((c) => c.ds === syn);
    const sfs = s && our(s, 'pq', 'fs');
    const speed = (where, v) => target('(b) fast-scan codes/s, 1 thread, m = 32', where, Mcodes(v), `>= ${TARGETS.codesPerSecond / 1e6} M`, v >= TARGETS.codesPerSecond);
    if (sfs) speed(`${syn.label}, L2`, codesPerSecond(sfs.plain, syn.nb));
    if (big && !big.error) speed(`${big.nb / 1e6}M base (noisy copies), L2`, codesPerSecond(big.search, big.nb));
    for (const cell of cells) {
      const where = `${cell.ds.label}, ${METRIC_LABEL[cell.metric]}`;
      const fs = our(cell, 'pq', 'fs');
      const adc = our(cell, 'pq', 'adc4');
      if (fs && adc) {
        const gap = fs.plain.rec10 - adc.plain.rec10;
        const pass = Math.abs(gap) <= TARGETS.recallGap + 1e-9;
        target('(c) fast-scan R@10 - float ADC R@10 (same codes)', `${where}, exhaustive`, signed(gap), `within ±${TARGETS.recallGap}`, pass);
      }
      const ifs = our(cell, 'ivf', 'fs');
      const iadc = our(cell, 'ivf', 'adc4');
      if (ifs && iadc) {
        const gaps = ifs.sweep.map((p, i) => ({ nprobe: p.nprobe, gap: p.plain.rec10 - iadc.sweep[i].plain.rec10 }));
        const worst = gaps.reduce((x, y) => (Math.abs(y.gap) > Math.abs(x.gap) ? y : x), gaps[0]);
        target(
          '(c) fast-scan R@10 - float ADC R@10 (same codes)',
          `${where}, IVF worst nprobe (${worst.nprobe})`,
          signed(worst.gap),
          `within ±${TARGETS.recallGap}`,
          Math.abs(worst.gap) <= TARGETS.recallGap + 1e-9,
        );
      }
    }
    for (const cell of cells.filter((c) => c.ds.key === 'ml64')) {
      const fs = our(cell, 'pq', 'fs');
      for (const r of RERANKS) {
        const v = fs?.reranked[r]?.rec10;
        if (v === undefined) continue;
        target(`(d) fast-scan R@10 with rerank ${r}`, `${cell.ds.label}, ${METRIC_LABEL[cell.metric]}`, fmtRec(v), `>= ${TARGETS.rerankRecall}`, v >= TARGETS.rerankRecall);
      }
    }
    if (!cells.some((c) => c.ds.key === 'ml64')) {
      target('(d) fast-scan R@10 with rerank', 'MovieLens d64', 'skipped (data missing)', `>= ${TARGETS.rerankRecall}`, undefined);
    }
    for (const cell of cells) {
      const fs = our(cell, 'pq', 'fs');
      const f = fr(cell, 'pqfs');
      if (!f) continue;
      const fv = codesPerSecond(f.plain, cell.ds.nb);
      const ov = fs ? codesPerSecond(fs.plain, cell.ds.nb) : undefined;
      target(
        'info: Faiss IndexPQFastScan codes/s, vqwasm / Faiss',
        `${cell.ds.label}, ${METRIC_LABEL[cell.metric]}`,
        `${Mcodes(fv)}${ov ? `, ${C.fmtRatio(ov / fv)}` : ''}`,
        '-',
        undefined,
      );
    }
    C.printTable(
      `Fast-scan targets  [engine build: ${build}]`,
      [
        { title: 'target', align: 'l' },
        { title: 'where', align: 'l' },
        { title: 'measured', align: 'l' },
        { title: 'goal', align: 'l' },
        { title: 'status', align: 'l' },
      ],
      rows,
      [
        'Printed only, never asserted. (a) and (b): exhaustive search of all queries, top 10; codes/s as in the first table.',
        '(c): before re-ranking; the same codes, so the gap is what quantizing the tables to u8 costs. (d): refine index, exact',
        're-ranking of the best 100 / 200 fast-scan candidates.',
        ...faissNotes(),
        ...errorNotes(),
      ],
    );
  }
}

C.runMain(main);
