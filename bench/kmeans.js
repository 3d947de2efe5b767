// k-means benchmark: vqwasm vs Faiss 1-thread vs plain JS (ml-kmeans, a double loop), on the same data in one run.
//   node bench/kmeans.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/kmeans.js  (relaxed-SIMD build)
// Prints tables; never asserts speed. Env: VQ_BENCH_REPEATS (timed runs per long measurement, default 3),
// VQ_BENCH_MLKMEANS_N (synthetic subset size for ml-kmeans, default 8192), VQ_BENCH_MLKMEANS_PP=1 (also time
// ml-kmeans with its kmeans++ init, slow), VQ_BENCH_NO_FAISS=1.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kmeans as mlKmeans } from 'ml-kmeans';
import * as C from './lib/common.js';

const K = 256;
const ITERS = 25;
const SEED = 1234;
const N = 65536;
const D = 128;
const REPEATS = C.envInt('VQ_BENCH_REPEATS', 3);
const ML_N = C.envInt('VQ_BENCH_MLKMEANS_N', 8192);
const ML_PP = process.env.VQ_BENCH_MLKMEANS_PP === '1';
const JS_ASSIGN_N = 4096; // the plain-JS assignment loop is timed on the first 4096 points
const OURS_BUDGET_S = 60; // stop repeating a long measurement once its runs total this much
const FAISS_BUDGET_S = 60;

// vqwasm's seedings: Faiss's random points, k-means++ on its default subsample (initPointsPerCentroid 16), and
// k-means++ on every training point (what the default was before 2026-11-29 late: 256 a centroid here)
const OUR_INITS = [
  { label: 'random', init: 'random' },
  { label: 'kmeans++', init: 'kmeans++' },
  { label: 'kmeans++ all', init: 'kmeans++', initPointsPerCentroid: 256 },
];

const log = (msg) => process.stderr.write(`[kmeans ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sum = (a) => a.reduce((s, v) => s + v, 0);

function mlKmeansVersion() {
  try {
    const url = new URL('../node_modules/ml-kmeans/package.json', import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')).version;
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// vqwasm

function oursWarmUp(mod, ds) {
  const n = Math.min(8192, ds.n);
  const xs = ds.x.subarray(0, n * ds.d);
  for (const init of ['random', 'kmeans++']) {
    for (let r = 0; r < 2; r++) {
      const km = new mod.KMeans({ d: ds.d, k: K, iterations: 3, seed: 7 + r, init });
      km.train(xs);
      km.assign(xs);
      km.dispose();
    }
  }
}

/**
 * Timed km.train(x) runs with seeds SEED, SEED+1, ... (construction is setup). Time = median of the runs; every
 * run's centroids are kept so the objective can be averaged over seeds. Keeps the last model when `keep`.
 */
function oursTrain(mod, ds, { init, initPointsPerCentroid }, repeats, keep = false) {
  const times = [];
  const centroidRuns = [];
  const warnings = new Set();
  let km = null;
  let res = null;
  for (let r = 0; r < repeats; r++) {
    if (km) km.dispose();
    km = new mod.KMeans({
      d: ds.d,
      k: K,
      iterations: ITERS,
      seed: SEED + r,
      init,
      initPointsPerCentroid,
      nredo: 1,
      spherical: false,
      maxPointsPerCentroid: 256,
      onWarning: (w) => warnings.add(w),
    });
    const t0 = C.now();
    res = km.train(ds.x);
    times.push(C.now() - t0);
    centroidRuns.push(km.centroids);
    if (sum(times) > OURS_BUDGET_S) break;
  }
  if (!keep) {
    km.dispose();
    km = null;
  }
  const objective = Array.isArray(res.objective) ? res.objective : [];
  return {
    times,
    seconds: C.median(times),
    iterations: res.iterations ?? objective.length,
    selfObjective: objective.length ? objective[objective.length - 1] : undefined,
    nTrain: res.nTrain,
    emptyRepaired: res.emptyClustersRepaired,
    warnings: [...warnings],
    centroidRuns,
    km,
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// ml-kmeans (plain JS)

function mlWarmUp() {
  const x = C.gaussianMixture({ n: 512, d: 16, nCenters: 32, centerSeed: 5, seed: 6 });
  mlKmeans(C.toRows(x, 512, 16), 16, { initialization: 'random', seed: 1, maxIterations: 5 });
}

function mlTrain(ds, init) {
  const rows = C.toRows(ds.x, ds.n, ds.d); // conversion to number[][] is setup
  const t0 = C.now();
  // tolerance -1: never "converged", so it runs exactly ITERS iterations like the others
  const res = mlKmeans(rows, K, { initialization: init, seed: SEED, maxIterations: ITERS, tolerance: -1 });
  const seconds = C.now() - t0;
  return { times: [seconds], seconds, iterations: res.iterations, centroidRuns: [C.fromRows(res.centroids, ds.d)] };
}

// ---------------------------------------------------------------------------------------------------------------------

async function main() {
  const { ours, build, faiss } = await C.setUp(`k-means (k=${K}, ${ITERS} iterations, seed ${SEED})`, `; ml-kmeans ${mlKmeansVersion()}`);
  const oursName = ours ? `vqwasm ${build}` : 'vqwasm';

  // ---- data
  log('generating synthetic data');
  const synthX = C.gaussianMixture({ n: N, d: D, nCenters: 1024, centerStd: 1, noiseStd: 0.5, centerSeed: 1, seed: 2 });
  const synthPath = join(C.DATA_DIR, `kmeans_synth_n${N}_d${D}.fvecs`);
  C.writeFvecs(synthPath, synthX, N, D);
  const synth = { key: 'synth', label: 'synthetic GMM', x: synthX, n: N, d: D, path: synthPath };
  const subN = Math.min(ML_N, N);
  const subset = {
    key: 'subset',
    label: `synthetic GMM[:${subN}]`,
    x: synthX.subarray(0, subN * D),
    n: subN,
    d: D,
    path: synthPath,
    pathRows: subN,
  };
  const mlPath = join(C.SHARED_DATA, 'ml', 'd64', 'items.fvecs');
  let mlSet = null;
  if (existsSync(mlPath)) {
    const m = C.readFvecs(mlPath);
    mlSet = { key: 'ml', label: 'MovieLens d64 items', x: m.data, n: m.n, d: m.d, path: mlPath };
  } else {
    console.log(`real data: skipped (${mlPath} not found; the MovieLens rows are left out)`);
  }
  const mainSets = mlSet ? [synth, mlSet] : [synth];

  // ---- vqwasm
  const oursRes = {}; // `${set}/${init}` -> result | { error }
  if (ours) {
    for (const ds of [...mainSets, subset]) {
      try {
        log(`vqwasm warm-up (${ds.label})`);
        oursWarmUp(ours, ds);
      } catch (err) {
        log(`vqwasm warm-up failed: ${err && err.message}`);
      }
      for (const v of OUR_INITS) {
        log(`vqwasm k-means ${ds.label} init=${v.label}`);
        const keep = ds === synth && v.label === 'random'; // kept for the assignment throughput
        oursRes[`${ds.key}/${v.label}`] = C.attempt(log, () => oursTrain(ours, ds, v, ds === mlSet ? Math.max(REPEATS, 5) : REPEATS, keep));
      }
    }
  }

  // ---- Faiss k-means
  const faissRes = {};
  let faissMeta = null;
  if (faiss.ok) {
    const tasks = [...mainSets, subset].map((ds) => ({
      name: ds.key,
      x: ds.path,
      n: ds.pathRows || 0,
      k: K,
      niter: ITERS,
      seed: SEED,
      repeats: ds === mlSet ? Math.max(REPEATS, 5) : REPEATS,
      max_seconds: FAISS_BUDGET_S,
      out_centroids: join(C.DATA_DIR, `faiss_centroids_${ds.key}.fvecs`),
    }));
    log('Faiss k-means (1 thread)');
    try {
      faissMeta = C.runFaissScript('faiss_kmeans.py', { tasks });
      for (const r of faissMeta.results) {
        const c = C.readFvecs(join(C.DATA_DIR, `faiss_centroids_${r.name}.fvecs`)); // runs * k rows
        const centroidRuns = [];
        for (let i = 0; i < c.n / K; i++) centroidRuns.push(c.data.slice(i * K * c.d, (i + 1) * K * c.d));
        faissRes[r.name] = {
          times: r.times,
          seconds: r.median,
          iterations: r.iterations,
          centroidRuns,
          cpuOverWall: r.cpu_over_wall,
          selfObjective: r.faiss_obj_last,
        };
      }
    } catch (err) {
      console.log(`faiss: failed (${err.message})`);
    }
  }

  // ---- ml-kmeans
  const mlRes = {};
  const mlSets = mlSet ? [subset, mlSet] : [subset];
  mlWarmUp();
  for (const ds of mlSets) {
    for (const init of ML_PP ? ['random', 'kmeans++'] : ['random']) {
      log(`ml-kmeans ${ds.label} init=${init}`);
      try {
        mlRes[`${ds.key}/${init}`] = mlTrain(ds, init);
      } catch (err) {
        mlRes[`${ds.key}/${init}`] = { error: String(err && err.message) };
      }
    }
  }

  // ---- objectives, all computed the same way: for every method's final centroids, the nearest centroid of each training
  // point (exact scan: vqwasm FlatIndex when available, else the plain-JS loop), then the squared distance to it summed in
  // float64 JS. Averaged over the runs (seeds) of a method.
  log('computing objectives');
  const objectiveOf = (ds, c) => {
    if (!ours) return C.kmeansObjective(ds.x, ds.n, ds.d, c, K);
    const index = new ours.FlatIndex({ d: ds.d, metric: 'l2' });
    try {
      index.add(c);
      const { ids } = index.search(ds.x, 1);
      let total = 0;
      for (let i = 0; i < ds.n; i++) {
        const xo = i * ds.d;
        const co = ids[i] * ds.d;
        let s = 0;
        for (let t = 0; t < ds.d; t++) {
          const diff = ds.x[xo + t] - c[co + t];
          s += diff * diff;
        }
        total += s;
      }
      return total;
    } finally {
      index.dispose();
    }
  };
  const objNotes = [];
  const objCache = new Map();
  const objective = (ds, r) => {
    if (!r || r.error || !r.centroidRuns || r.centroidRuns.length === 0) return undefined;
    if (!objCache.has(r)) {
      const vals = r.centroidRuns.map((c) => objectiveOf(ds, c));
      objCache.set(r, vals.reduce((a, b) => a + b, 0) / vals.length);
    }
    return objCache.get(r);
  };
  if (ours) {
    // cross-check of the FlatIndex-based objective against the plain-JS full scan on a slice of each dataset
    for (const ds of mainSets) {
      const r = faissRes[ds.key] || oursRes[`${ds.key}/random`];
      if (!r || r.error || !r.centroidRuns) continue;
      const m = Math.min(2048, ds.n);
      const part = { ...ds, x: ds.x.subarray(0, m * ds.d), n: m };
      try {
        const a = objectiveOf(part, r.centroidRuns[0]);
        const b = C.kmeansObjective(part.x, m, ds.d, r.centroidRuns[0], K);
        objNotes.push(`objective check on the first ${m} points of ${ds.label}: FlatIndex argmin vs JS full scan, rel. diff ${Math.abs(a - b) / b}`);
      } catch (err) {
        objNotes.push(`objective check failed: ${err.message}`);
      }
    }
  }

  // ---- Table 1: vs Faiss
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'n', align: 'r' },
      { title: 'd', align: 'r' },
      { title: 'method', align: 'l' },
      { title: 'init', align: 'l' },
      { title: 'runs', align: 'r' },
      { title: 'iters', align: 'r' },
      { title: 'time (median)', align: 'r' },
      { title: 'objective (mean)', align: 'r' },
      { title: 'time/Faiss', align: 'r' },
      { title: 'obj/Faiss', align: 'r' },
      { title: 'target', align: 'l' },
    ];
    const rows = [];
    for (const ds of [...mainSets, subset]) {
      const f = faissRes[ds.key];
      const fObj = objective(ds, f);
      rows.push([
        ds.label,
        ds.n,
        ds.d,
        'Faiss 1-thread',
        'random',
        f ? f.times.length : '-',
        f ? f.iterations : '-',
        f ? C.fmtSeconds(f.seconds) : faiss.ok ? 'failed' : 'skipped',
        C.fmtExp(fObj),
        f ? '1.00x' : '-',
        f ? '1.0000' : '-',
        '',
      ]);
      for (const { label: init } of OUR_INITS) {
        const r = oursRes[`${ds.key}/${init}`];
        if (!r || r.error) {
          rows.push([ds.label, ds.n, ds.d, oursName, init, '-', '-', r ? 'ERROR' : 'skipped', '-', '-', '-', '']);
          continue;
        }
        const o = objective(ds, r);
        const tRatio = f ? r.seconds / f.seconds : undefined;
        const oRatio = f ? o / fObj : undefined;
        let target = '';
        if (f && init === 'random') {
          target = `time<=1.2x ${C.mark(tRatio <= 1.2)}, obj<=1.01x ${C.mark(oRatio <= 1.01)}`;
        } else if (f) {
          target = '(info: other init than Faiss)';
        }
        rows.push([
          ds.label,
          ds.n,
          ds.d,
          oursName,
          init,
          r.times.length,
          r.iterations,
          C.fmtSeconds(r.seconds),
          C.fmtExp(o),
          C.fmtRatio(tRatio),
          oRatio === undefined ? '-' : oRatio.toFixed(4),
          target,
        ]);
      }
    }
    const notes = [
      `runs = timed runs with seeds ${SEED}, ${SEED + 1}, ...; time = median wall time of train(x) (construction and data`,
      'generation excluded, kernels warmed up first). objective = sum over the training points of the squared L2 distance to',
      "the nearest final centroid, recomputed from each method's centroids by the same code for every method (exact nearest",
      'centroid, float64 sum), mean over the runs. Ratios are vqwasm / Faiss (random init); lower is better.',
      "kmeans++: D^2 seeding on the default subsample (initPointsPerCentroid 16: at most 16 k points); kmeans++ all: on",
      'every training point (initPointsPerCentroid 256).',
      ...objNotes,
    ];
    if (faissMeta) {
      const cw = Object.values(faissRes).map((r) => r.cpuOverWall.toFixed(2));
      notes.push(
        `Faiss ${faissMeta.faiss_version}, omp threads=${faissMeta.omp_max_threads}, cpu/wall=${cw.join('/')},` +
          ` BLAS: ${(faissMeta.blas || []).join(', ') || 'unknown'}`,
      );
    }
    for (const ds of mainSets) {
      const r = oursRes[`${ds.key}/random`];
      if (r && !r.error && r.nTrain !== undefined) {
        notes.push(`vqwasm on ${ds.label}: nTrain=${r.nTrain}, empty clusters repaired (last run)=${r.emptyRepaired}`);
      }
      for (const w of r && r.warnings ? r.warnings : []) notes.push(`vqwasm warning on ${ds.label}: ${w}`);
    }
    for (const [key, r] of Object.entries(oursRes)) if (r.error) notes.push(`vqwasm ${key} error: ${r.error}`);
    C.printTable(`k-means vs Faiss 1-thread  [engine build: ${build}]`, cols, rows, notes);
  }

  // ---- Table 2: vs ml-kmeans
  {
    const cols = [
      { title: 'dataset', align: 'l' },
      { title: 'n', align: 'r' },
      { title: 'd', align: 'r' },
      { title: 'method', align: 'l' },
      { title: 'init', align: 'l' },
      { title: 'runs', align: 'r' },
      { title: 'iters', align: 'r' },
      { title: 'time', align: 'r' },
      { title: 'time/iter', align: 'r' },
      { title: 'objective (mean)', align: 'r' },
      { title: 'speedup vs ml-kmeans', align: 'r' },
      { title: 'obj/ml-kmeans', align: 'r' },
      { title: 'target', align: 'l' },
    ];
    const rows = [];
    for (const ds of mlSets) {
      for (const init of ML_PP ? ['random', 'kmeans++'] : ['random']) {
        const m = mlRes[`${ds.key}/${init}`];
        const mObj = objective(ds, m);
        rows.push([
          ds.label,
          ds.n,
          ds.d,
          'ml-kmeans (plain JS)',
          init,
          m && !m.error ? 1 : '-',
          m && !m.error ? m.iterations : '-',
          m && !m.error ? C.fmtSeconds(m.seconds) : 'ERROR',
          m && !m.error ? C.fmtSeconds(m.seconds / m.iterations) : '-',
          C.fmtExp(mObj),
          '1.0x',
          '1.0000',
          '',
        ]);
        const r = oursRes[`${ds.key}/${init}`];
        if (!r || r.error) {
          rows.push([ds.label, ds.n, ds.d, oursName, init, '-', '-', r ? 'ERROR' : 'skipped', '-', '-', '-', '-', '']);
          continue;
        }
        const o = objective(ds, r);
        const speedup = m && !m.error ? m.seconds / r.seconds : undefined;
        const oRatio = mObj ? o / mObj : undefined;
        rows.push([
          ds.label,
          ds.n,
          ds.d,
          oursName,
          init,
          r.times.length,
          r.iterations,
          C.fmtSeconds(r.seconds),
          C.fmtSeconds(r.seconds / r.iterations),
          C.fmtExp(o),
          C.fmtRatio(speedup, 1),
          oRatio === undefined ? '-' : oRatio.toFixed(4),
          speedup === undefined ? '' : `>=30x ${C.mark(speedup >= 30)}`,
        ]);
      }
    }
    const notes = [
      `ml-kmeans is timed once (seed ${SEED}, after a small warm-up) on the first ${subN} synthetic points instead of all ${N}`,
      `(a full run takes minutes); vqwasm is timed on the same points. ml-kmeans runs with tolerance -1 so it does all`,
      `${ITERS} iterations. speedup = ml-kmeans time / vqwasm time (higher is better); objective as in the table above.`,
    ];
    if (!ML_PP) notes.push("ml-kmeans 'kmeans++' left out (its init alone takes ~40 s at n=8192); VQ_BENCH_MLKMEANS_PP=1 adds it.");
    C.printTable(`k-means vs plain JS ml-kmeans  [engine build: ${build}]`, cols, rows, notes);
  }

  // ---- Table 3: assignment throughput
  {
    let centroids = null;
    let centroidSource = '';
    const oursSynth = oursRes['synth/random'];
    if (oursSynth && !oursSynth.error) {
      centroids = oursSynth.centroidRuns[oursSynth.centroidRuns.length - 1];
      centroidSource = 'the vqwasm random-init centroids trained above';
    } else if (faissRes.synth) {
      centroids = faissRes.synth.centroidRuns[0];
      centroidSource = 'the Faiss centroids (vqwasm unavailable)';
    } else {
      centroids = synthX.slice(0, K * D);
      centroidSource = 'the first 256 points (no trained centroids available)';
    }
    {
      const x = synthX;
      const exactDist = (labels, i) => {
        const j = labels[i];
        let s = 0;
        for (let t = 0; t < D; t++) {
          const diff = x[i * D + t] - centroids[j * D + t];
          s += diff * diff;
        }
        return s;
      };
      const meanRelErr = (labels, dists, n) => {
        let e = 0;
        for (let i = 0; i < n; i++) {
          const ex = exactDist(labels, i);
          e += Math.abs(dists[i] - ex) / Math.max(ex, 1e-30);
        }
        return e / n;
      };
      const rowsOut = {};
      // vqwasm
      if (oursSynth && !oursSynth.error && oursSynth.km) {
        log('vqwasm assignment');
        try {
          const km = oursSynth.km;
          km.assign(x);
          km.assign(x);
          const mb = C.microBench('vqwasm assign', () => km.assign(x), { maxTime: 4 });
          const { labels, distances } = km.assign(x);
          rowsOut.ours = { n: N, seconds: mb.seconds, how: C.microHow(mb), labels, distances };
          // A/B in the same process: the same centroids in a FlatIndex without the int16 prefilter, searched with
          // k = 1 (the float32 panel scan km.assign ran before the prefilter)
          const flat = new ours.FlatIndex({ d: D, metric: 'l2', prefilter: false });
          try {
            flat.add(km.centroids);
            flat.search(x.subarray(0, 4096 * D), 1);
            const mf = C.microBench('vqwasm f32 assign', () => flat.search(x, 1), { maxTime: 4 });
            const r = flat.search(x, 1);
            const same = r.ids.every((v, i) => v === labels[i]) && r.distances.every((v, i) => Object.is(v, distances[i]));
            rowsOut.f32 = { n: N, seconds: mf.seconds, how: C.microHow(mf), labels: r.ids, distances: r.distances, same };
          } finally {
            flat.dispose();
          }
        } catch (err) {
          rowsOut.ours = { error: String(err && err.message) };
        }
        oursSynth.km.dispose();
        oursSynth.km = null;
      }
      // Faiss
      if (faiss.ok) {
        log('Faiss assignment (IndexFlatL2 search k=1)');
        const cPath = join(C.DATA_DIR, 'assign_centroids.fvecs');
        C.writeFvecs(cPath, centroids, K, D);
        try {
          const out = C.runFaissScript('faiss_search.py', {
            tasks: [
              {
                name: 'assign',
                base: cPath,
                queries: synthPath,
                k: 1,
                metric: 'l2',
                repeats: 5,
                min_seconds: 2,
                max_repeats: 50,
                out_ids: join(C.DATA_DIR, 'faiss_assign_labels.ivecs'),
                out_dist: join(C.DATA_DIR, 'faiss_assign_dist.fvecs'),
              },
            ],
          });
          const r = out.results[0];
          rowsOut.faiss = {
            n: N,
            seconds: r.median,
            how: `median of ${r.times.length}`,
            labels: C.readIvecs(join(C.DATA_DIR, 'faiss_assign_labels.ivecs')).data,
            distances: C.readFvecs(join(C.DATA_DIR, 'faiss_assign_dist.fvecs')).data,
          };
        } catch (err) {
          rowsOut.faiss = { error: String(err.message) };
        }
      }
      // plain JS
      log('plain JS assignment');
      {
        const labels = new Int32Array(JS_ASSIGN_N);
        const dists = new Float32Array(JS_ASSIGN_N);
        C.jsAssign(x, 256, D, centroids, K, labels, dists); // warm-up
        const mb = C.microBench('js assign', () => C.jsAssign(x, JS_ASSIGN_N, D, centroids, K, labels, dists), {
          maxTime: 4,
        });
        rowsOut.js = { n: JS_ASSIGN_N, seconds: mb.seconds, how: C.microHow(mb), labels, distances: dists };
      }
      const f = rowsOut.faiss && !rowsOut.faiss.error ? rowsOut.faiss : null;
      const fRate = f ? f.n / f.seconds : undefined;
      const cols = [
        { title: 'method', align: 'l' },
        { title: 'points timed', align: 'r' },
        { title: 'measured by', align: 'l' },
        { title: 'time/call', align: 'r' },
        { title: 'vectors/s', align: 'r' },
        { title: 'vs Faiss', align: 'r' },
        { title: 'labels = Faiss', align: 'r' },
        { title: 'dist rel.err', align: 'r' },
        { title: 'target', align: 'l' },
      ];
      const rows = [];
      const add = (name, r, isOurs) => {
        if (!r) return;
        if (r.error) {
          rows.push([name, '-', '-', 'ERROR', '-', '-', '-', '-', '']);
          return;
        }
        const rate = r.n / r.seconds;
        const ratio = fRate ? rate / fRate : undefined;
        rows.push([
          name,
          r.n,
          r.how,
          C.fmtSeconds(r.seconds),
          C.fmtRate(rate),
          C.fmtRatio(ratio),
          f ? (C.agreement(r.labels, f.labels, r.n) * 100).toFixed(3) + '%' : '-',
          meanRelErr(r.labels, r.distances, r.n).toExponential(1),
          isOurs && ratio !== undefined ? `>=0.9x ${C.mark(ratio >= 0.9)}` : '',
        ]);
      };
      add('Faiss IndexFlatL2 search(x,1)', rowsOut.faiss);
      add(`vqwasm ${build} km.assign(x)`, rowsOut.ours, true);
      add('  same scan without the int16 prefilter', rowsOut.f32);
      add('plain JS double loop', rowsOut.js);
      C.printTable(
        `nearest-centroid assignment, n=${N} d=${D} k=${K}  [engine build: ${build}]`,
        cols,
        rows,
        [
          `centroids: ${centroidSource}. vectors/s = points / time per call; "vs Faiss" = throughput ratio (higher is better).`,
          `labels = Faiss: share of points given the same centroid as Faiss; dist rel.err: mean |returned - exact f64| / exact`,
          `squared distance to the returned centroid. The plain JS loop is timed on the first ${JS_ASSIGN_N} points.`,
          ...(rowsOut.f32 ? [`without the prefilter: FlatIndex({ prefilter: false }) of the same centroids, search(x, 1); labels and distances ${rowsOut.f32.same ? 'identical to' : 'DIFFER from'} km.assign's.`] : []),
          ...(rowsOut.ours && rowsOut.ours.error ? [`vqwasm assign error: ${rowsOut.ours.error}`] : []),
        ],
      );
    }
  }

  C.printMemoryStats(ours);
}

C.runMain(main);
