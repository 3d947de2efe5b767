// IVF coarse quantizer, vqwasm vs Faiss 1-thread, on MovieLens d64 L2 (items: training set and base; users: queries):
// nlist = 64, 10 Lloyd iterations from random training points (IndexIVF's cp.niter and start), the layout that IVF-PQ's
// recall at nprobe = 1 rests on.
//  1. Same start: both sides iterate from the same 64 items (drawn with a seeded JS generator). The objective of every
//     iteration and the final lists must agree up to float rounding: this tests the Lloyd iterations, split repair included.
//  2. Own start: each side draws its start with its own generator, once per seed. Mean ± standard error over the seeds of
//     the objective, of the coverage (the share of users whose true nearest item lies in the list of their nearest
//     centroid: what nprobe = 1 can find at best) and of the probed list's size. vqwasm's k-means++ start (coarseInit's
//     default) is a third column. Coverage and sizes come from the same plain-JS code for both sides' centroids.
//   node bench/coarse.js          env: VQ_BENCH_COARSE_SEEDS (seeds 1..N of part 2, default 100), VQ_BENCH_NO_FAISS=1
// Quality only; nothing is timed.

import { join } from 'node:path';
import * as C from './lib/common.js';
import { loadMovieLens } from './lib/pq-common.js';

const NLIST = 64;
const ITERS = 10;
const SAME_STARTS = [1, 2, 3, 4, 5];
const NSEEDS = C.envInt('VQ_BENCH_COARSE_SEEDS', 100);

const log = (msg) => process.stderr.write(`[coarse ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Index of the nearest of k centroids (squared L2, plain JS: the same code for both sides' centroids) of n rows. */
function nearest(x, n, d, cent, k) {
  const labels = new Int32Array(n);
  C.jsAssign(x, n, d, cent, k, labels, new Float64Array(n));
  return labels;
}

/** The layout measures of one set of centroids: coverage, mean probed list size, and the items' lists. */
function layout(ds, cent) {
  const { d, nb, nq } = ds;
  const items = nearest(ds.base, nb, d, cent, NLIST);
  const users = nearest(ds.q, nq, d, cent, NLIST);
  const sizes = new Int32Array(NLIST);
  for (const l of items) sizes[l]++;
  let covered = 0;
  let probed = 0;
  for (let u = 0; u < nq; u++) {
    if (items[ds.gt.l2.data[u * ds.gt.l2.d]] === users[u]) covered++;
    probed += sizes[users[u]];
  }
  return { coverage: covered / nq, probed: probed / nq, items };
}

/** The start of part 1: NLIST distinct items drawn by a partial Fisher-Yates shuffle with seededUniform(seed). */
function startOf(ds, seed) {
  const u = C.seededUniform(seed);
  const perm = Int32Array.from({ length: ds.nb }, (_, i) => i);
  const cent = new Float32Array(NLIST * ds.d);
  for (let j = 0; j < NLIST; j++) {
    const r = j + Math.floor(u() * (ds.nb - j));
    [perm[j], perm[r]] = [perm[r], perm[j]];
    cent.set(ds.base.subarray(perm[j] * ds.d, (perm[j] + 1) * ds.d), j * ds.d);
  }
  return cent;
}

async function main() {
  const { ours, build, faiss } = await C.setUp('IVF coarse quantizer (k-means layout), MovieLens d64 L2');
  const ds = loadMovieLens();
  if (!ds) return;
  const { d } = ds;
  const seeds = Array.from({ length: NSEEDS }, (_, i) => i + 1);
  const starts = SAME_STARTS.map((s) => {
    const path = join(C.DATA_DIR, `coarse_start_${s}.fvecs`);
    const cent = startOf(ds, s);
    C.writeFvecs(path, cent, NLIST, d);
    return { seed: s, path, cent };
  });

  // ---- Faiss
  let fRuns = null;
  if (faiss.ok) {
    log(`Faiss: ${starts.length} same-start runs, ${seeds.length} seeds`);
    const outPath = join(C.DATA_DIR, 'faiss_coarse_centroids.fvecs');
    try {
      const r = C.runFaissScript('faiss_coarse.py', {
        x: ds.basePath, k: NLIST, niter: ITERS, starts: starts.map((s) => s.path), seeds, out_centroids: outPath,
      });
      const cents = C.readFvecs(outPath).data;
      fRuns = r.results.map((res, i) => ({ obj: res.obj, cent: cents.subarray(i * NLIST * d, (i + 1) * NLIST * d) }));
    } catch (err) {
      console.log(`faiss: failed (${err.message})`);
    }
  }

  // ---- vqwasm: part 1 with KMeans (the call IVFPQIndex / IVFFlatIndex make, with initialCentroids); part 2 with
  // IVFFlatIndex itself (same coarse training as IVFPQIndex: KMeans({ k: nlist, iterations: coarseIterations, init:
  // coarseInit, seed }))
  const sameRows = [];
  if (ours) {
    for (const [i, s] of starts.entries()) {
      const km = new ours.KMeans({ d, k: NLIST, iterations: ITERS, init: 'random', seed: s.seed, minPointsPerCentroid: 0 });
      const res = km.train(ds.train, { initialCentroids: s.cent });
      const o = layout(ds, km.centroids);
      km.dispose();
      const f = fRuns?.[i];
      let maxRel = null;
      let agree = null;
      let fl = null;
      if (f) {
        maxRel = Math.max(...res.objective.map((v, it) => Math.abs(v - f.obj[it]) / f.obj[it]));
        fl = layout(ds, f.cent);
        agree = o.items.reduce((a, l, j) => a + (l === fl.items[j] ? 1 : 0), 0) / ds.nb;
      }
      sameRows.push([
        s.seed,
        f ? f.obj[0].toFixed(3) : '-',
        res.objective[0].toFixed(3),
        f ? f.obj[ITERS - 1].toFixed(3) : '-',
        res.objective[ITERS - 1].toFixed(3),
        maxRel === null ? '-' : maxRel.toExponential(1),
        agree === null ? '-' : agree.toFixed(4),
        fl ? fl.coverage.toFixed(3) : '-',
        o.coverage.toFixed(3),
      ]);
    }
  }
  C.printTable(
    `1. Same start: Lloyd's ${ITERS} iterations from the same ${NLIST} items, k = ${NLIST}  [engine build: ${build}]`,
    [
      { title: 'start seed', align: 'r' },
      { title: 'Faiss obj it 1', align: 'r' },
      { title: 'vqwasm obj it 1', align: 'r' },
      { title: `Faiss obj it ${ITERS}`, align: 'r' },
      { title: `vqwasm obj it ${ITERS}`, align: 'r' },
      { title: 'max rel. diff, all its', align: 'r' },
      { title: 'items in the same list', align: 'r' },
      { title: 'Faiss coverage', align: 'r' },
      { title: 'vqwasm coverage', align: 'r' },
    ],
    sameRows,
    [
      'obj it i = sum of squared distances to the nearest centroid in the assignment of iteration i (both sides report the',
      'same quantity). coverage = share of the users whose true L2 nearest item is in the list of their nearest centroid.',
    ],
  );

  // ---- part 2
  const cols = [];
  if (fRuns) {
    const own = fRuns.slice(starts.length);
    cols.push({ label: 'Faiss random', runs: own.map((r) => ({ obj: r.obj[ITERS - 1], ...layout(ds, r.cent) })) });
  }
  if (ours) {
    for (const init of ['random', 'kmeans++']) {
      log(`vqwasm ${init}: ${seeds.length} seeds`);
      const runs = seeds.map((seed) => {
        const index = new ours.IVFFlatIndex({ d, nlist: NLIST, metric: 'l2', seed, coarseIterations: ITERS, coarseInit: init });
        try {
          const r = index.train(ds.train);
          return { obj: r.coarseObjective, ...layout(ds, index.centroids) };
        } finally {
          index.dispose();
        }
      });
      cols.push({ label: `vqwasm ${init}`, runs });
    }
  }
  const fmt = (v, digits) => {
    const { mean, se } = C.meanSd(v);
    return `${mean.toFixed(digits)} ± ${se.toFixed(digits)}`;
  };
  const rows = cols.map((c) => [
    c.label,
    c.runs.length,
    fmt(c.runs.map((r) => r.obj), 2),
    fmt(c.runs.map((r) => r.coverage), 4),
    fmt(c.runs.map((r) => r.probed), 1),
  ]);
  const base = cols.find((c) => c.label === 'Faiss random');
  if (base) {
    for (const c of cols.filter((x) => x !== base)) {
      const a = C.meanSd(base.runs.map((r) => r.coverage));
      const b = C.meanSd(c.runs.map((r) => r.coverage));
      rows.push([`${c.label} - Faiss (coverage)`, '', '', `${(b.mean - a.mean >= 0 ? '+' : '')}${(b.mean - a.mean).toFixed(4)} ± ${Math.hypot(a.se, b.se).toFixed(4)}`, '']);
    }
  }
  C.printTable(
    `2. Own start, seeds 1..${NSEEDS} each side: mean ± standard error  [engine build: ${build}]`,
    [
      { title: 'start', align: 'l' },
      { title: 'runs', align: 'r' },
      { title: `objective (it ${ITERS})`, align: 'r' },
      { title: 'coverage', align: 'r' },
      { title: 'probed list size', align: 'r' },
    ],
    rows,
    [
      "Faiss random = Clustering with cp.seed = seed (IndexIVF's coarse training); vqwasm = IVFFlatIndex({ nlist: 64,",
      "coarseIterations: 10, coarseInit, seed }).train(items), the coarse training IVFPQIndex runs too. The seeds' draws",
      'differ between the sides (different generators): compare means, with their standard errors.',
    ],
  );
  C.printMemoryStats(ours);
}

C.runMain(main);
