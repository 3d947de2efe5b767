// Shared helpers for the vqwasm benchmarks: seeded data, .fvecs/.ivecs I/O, the Faiss (Python) bridge,
// timing (median of runs / benchmark.js), plain-JS reference kernels and table printing.
// Nothing here asserts speed; the benches only print.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Benchmark from 'benchmark';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const DATA_DIR = join(BENCH_DIR, '.data');
export const SHARED_DATA = resolve(REPO_ROOT, process.env.VQ_BENCH_SHARED_DATA || '../shared/data');
export const PYTHON = '/usr/bin/python3'; // Debian's python3-faiss is importable only by the system Python

if (endianness() !== 'LE') throw new Error('bench: .fvecs I/O here assumes a little-endian host');

export function ensureDataDir() {
  mkdirSync(DATA_DIR, { recursive: true });
  return DATA_DIR;
}

// ---------------------------------------------------------------------------------------------------------------------
// Seeded random numbers

/** splitmix32-style generator: returns a function giving uniform floats in [0, 1). */
export function seededUniform(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Standard normal samples by the Box–Muller transform over a seeded uniform source. */
export function seededNormal(uniform) {
  let spare = 0;
  let hasSpare = false;
  return function normal() {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    const u1 = 1 - uniform(); // (0, 1]
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    spare = r * Math.sin(a);
    hasSpare = true;
    return r * Math.cos(a);
  };
}

/**
 * Points drawn from a Gaussian mixture: `nCenters` centres with N(0, centerStd^2) coordinates (from `centerSeed`), each
 * point = a uniformly chosen centre + N(0, noiseStd^2) noise (from `seed`). Row-major Float32Array n*d.
 * Base sets and query sets of one experiment share `centerSeed` and differ in `seed`.
 */
export function gaussianMixture({ n, d, nCenters = 1024, centerStd = 1, noiseStd = 0.5, centerSeed = 1, seed = 2 }) {
  const cnormal = seededNormal(seededUniform(centerSeed));
  const centers = new Float64Array(nCenters * d);
  for (let i = 0; i < centers.length; i++) centers[i] = centerStd * cnormal();
  const uniform = seededUniform(seed);
  const normal = seededNormal(seededUniform((seed * 2654435761) ^ 0x5bd1e995));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(uniform() * nCenters) * d;
    const o = i * d;
    for (let t = 0; t < d; t++) x[o + t] = centers[c + t] + noiseStd * normal();
  }
  return x;
}

// ---------------------------------------------------------------------------------------------------------------------
// .fvecs / .ivecs (TEXMEX): each row is int32 d, then d little-endian float32 (fvecs) or int32 (ivecs)

function writeVecs(path, data, n, d, ArrayType) {
  const buf = new ArrayBuffer(n * (d + 1) * 4);
  const head = new Int32Array(buf);
  const body = new ArrayType(buf);
  for (let i = 0; i < n; i++) {
    const o = i * (d + 1);
    head[o] = d;
    body.set(data.subarray(i * d, (i + 1) * d), o + 1);
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, new Uint8Array(buf));
}

function readVecs(path, ArrayType) {
  const file = readFileSync(path);
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength); // 4-byte aligned copy
  if (buf.byteLength < 4) throw new Error(`${path}: empty file`);
  const head = new Int32Array(buf);
  const d = head[0];
  const rowWords = d + 1;
  if (d <= 0 || head.length % rowWords !== 0) throw new Error(`${path}: not a uniform-dimension vecs file`);
  const n = head.length / rowWords;
  const body = new ArrayType(buf);
  const data = new ArrayType(n * d);
  for (let i = 0; i < n; i++) {
    if (head[i * rowWords] !== d) throw new Error(`${path}: row ${i} has dimension ${head[i * rowWords]}, expected ${d}`);
    data.set(body.subarray(i * rowWords + 1, (i + 1) * rowWords), i * d);
  }
  return { n, d, data };
}

export const writeFvecs = (path, x, n, d) => writeVecs(path, x, n, d, Float32Array);
export const writeIvecs = (path, x, n, d) => writeVecs(path, x, n, d, Int32Array);
export const readFvecs = (path) => readVecs(path, Float32Array);
export const readIvecs = (path) => readVecs(path, Int32Array);

// ---------------------------------------------------------------------------------------------------------------------
// Our engine (the built package). Missing dist/ is not an error for the benches: they print the other columns.

export async function loadEngine(initOptions = {}) {
  if (process.env.VQ_BENCH_NO_ENGINE === '1') return { ok: false, reason: 'disabled by VQ_BENCH_NO_ENGINE=1' };
  const entry = join(REPO_ROOT, 'dist', 'index.js');
  if (!existsSync(entry)) {
    return { ok: false, reason: 'dist/index.js not found (run `npm run build` first)' };
  }
  try {
    const mod = await import(pathToFileURL(entry).href);
    const info = await mod.init(initOptions);
    return { ok: true, mod, info, build: info.build };
  } catch (err) {
    return { ok: false, reason: `loading dist/index.js failed: ${err && err.stack ? err.stack : err}` };
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Faiss through /usr/bin/python3

const SINGLE_THREAD_ENV = {
  OMP_NUM_THREADS: '1',
  OPENBLAS_NUM_THREADS: '1',
  MKL_NUM_THREADS: '1',
  BLIS_NUM_THREADS: '1',
};

function pythonEnv() {
  const env = { ...process.env, ...SINGLE_THREAD_ENV };
  delete env.PYTHONHOME; // pyenv settings must not leak into the system interpreter
  delete env.PYTHONPATH;
  env.PYTHONDONTWRITEBYTECODE = '1'; // no __pycache__ in bench/
  return env;
}

let faissProbe = null;

/** { ok, version } or { ok: false, reason } — whether /usr/bin/python3 can import faiss and numpy. */
export function probeFaiss() {
  if (faissProbe) return faissProbe;
  if (process.env.VQ_BENCH_NO_FAISS === '1') {
    faissProbe = { ok: false, reason: 'disabled by VQ_BENCH_NO_FAISS=1' };
    return faissProbe;
  }
  const r = spawnSync(PYTHON, ['-c', 'import faiss, numpy; print(faiss.__version__)'], {
    env: pythonEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error || r.status !== 0) {
    faissProbe = { ok: false, reason: 'python3-faiss not installed: apt-get install python3-faiss' };
  } else {
    faissProbe = { ok: true, version: r.stdout.trim() };
  }
  return faissProbe;
}

export const FAISS_SKIPPED_LINE = 'faiss: skipped (python3-faiss not installed: apt-get install python3-faiss)';

/** The line printed when Faiss is not available. */
export const faissSkippedLine = (probe) =>
  /VQ_BENCH_NO_FAISS/.test(probe.reason || '') ? `faiss: skipped (${probe.reason})` : FAISS_SKIPPED_LINE;

/** Runs bench/<script> with a JSON spec file; the script prints one JSON object on stdout. */
export function runFaissScript(script, spec, { timeoutMs = 15 * 60_000 } = {}) {
  ensureDataDir();
  const specPath = join(DATA_DIR, `${script.replace(/\.py$/, '')}.spec.json`);
  writeFileSync(specPath, JSON.stringify(spec, null, 2));
  const r = spawnSync(PYTHON, [join(BENCH_DIR, script), specPath], {
    env: pythonEnv(),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${script}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${script} exited with ${r.status}:\n${(r.stderr || '').split('\n').slice(-20).join('\n')}`);
  }
  const lines = r.stdout.trim().split('\n').filter((l) => l.trim() !== '');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`${script}: could not parse its JSON output:\n${r.stdout.slice(-2000)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Timing

export const now = () => performance.now() / 1000; // seconds

/**
 * The common start of a bench: data folder, title, engine and Faiss probes, and the lines that say what runs.
 * Returns { ours (the vqwasm module or null), build, faiss }.
 */
export async function setUp(title, versions = '', initOptions = {}) {
  ensureDataDir();
  console.log(`\n=== vqwasm bench: ${title} ===`);
  const engine = await loadEngine(initOptions);
  const faiss = probeFaiss();
  console.log(`node ${process.version}${versions}`);
  if (engine.ok) {
    console.log(`engine: vqwasm build=${engine.info.build}${engine.info.shared ? ' (threads build, shared memory)' : ''} relaxedSimdSupported=${engine.info.relaxedSimdSupported}`);
  } else {
    console.log(`engine: vqwasm skipped (${engine.reason})`);
  }
  if (!faiss.ok) console.log(faissSkippedLine(faiss));
  return { ours: engine.ok ? engine.mod : null, build: engine.ok ? engine.info.build : 'n/a', faiss };
}

/** Prints what the engine holds at the end of a bench (live buffers should be the scratch block only). */
export function printMemoryStats(ours) {
  if (!ours || typeof ours.memoryStats !== 'function') return;
  try {
    console.log(`\nvqwasm memoryStats() at the end: ${JSON.stringify(ours.memoryStats())}`);
  } catch (err) {
    console.log(`\nvqwasm memoryStats() failed: ${err.message}`);
  }
}

/** Runs a bench's async main; any uncaught error ends the process with exit code 1. */
export function runMain(main) {
  main().catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
}

/** Runs one measured method: its result, or `{ error }` (logged with its stack) so that one failure skips one row. */
export function attempt(log, fn) {
  try {
    return fn();
  } catch (err) {
    log(`vqwasm failed: ${err && err.stack}`);
    return { error: String(err && err.message ? err.message : err) };
  }
}

/** Mean, sample standard deviation (n - 1) and standard error of the mean of values. */
export function meanSd(values) {
  const n = values.length;
  const mean = values.reduce((a, x) => a + x, 0) / n;
  const sd = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, n - 1));
  return { mean, sd, se: sd / Math.sqrt(n) };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Integer from an environment variable, else the default. */
export function envInt(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * benchmark.js micro-measurement of a synchronous function (for short operations). Returns seconds per call as the
 * median of the samples (each a cycle's mean time per call), the rule the Faiss side uses for its runs, so that a
 * stall of the VM in one sample moves neither; also their mean, its relative margin of error (%) and the sample count.
 */
export function microBench(name, fn, { maxTime = 3, minSamples = 5 } = {}) {
  const bench = new Benchmark(name, fn, { maxTime, minSamples, async: false, defer: false });
  bench.run();
  if (bench.error) throw bench.error;
  const sample = bench.stats.sample;
  return { seconds: median(sample), mean: bench.stats.mean, rme: bench.stats.rme, samples: sample.length };
}

/** How microBench measured: the column text of the result tables. */
export function microHow(mb) {
  return `benchmark.js, median of ${mb.samples} (mean ${fmtSeconds(mb.mean)} ±${mb.rme.toFixed(1)}%)`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Plain-JS reference kernels (the "plain JS" column; straightforward loops, no tricks)

/** Nearest centroid (squared L2) for each of n points; writes labels and distances. */
export function jsAssign(x, n, d, c, k, labels, dists) {
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    let best = Infinity;
    let bestJ = -1;
    for (let j = 0; j < k; j++) {
      const co = j * d;
      let s = 0;
      for (let t = 0; t < d; t++) {
        const diff = x[xo + t] - c[co + t];
        s += diff * diff;
      }
      if (s < best) {
        best = s;
        bestJ = j;
      }
    }
    labels[i] = bestJ;
    dists[i] = best;
  }
}

/**
 * The k-means objective computed the same way for every method: sum over the points of the squared L2 distance to
 * the nearest of the given centroids, all in float64 (JS numbers), exact nearest by a full scan.
 */
export function kmeansObjective(x, n, d, c, k) {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    let best = Infinity;
    for (let j = 0; j < k; j++) {
      const co = j * d;
      let s = 0;
      let t = 0;
      // checks the running sum every 16 dimensions to abandon hopeless centroids early (exact result either way)
      for (; t + 16 <= d; ) {
        const end = t + 16;
        for (; t < end; t++) {
          const diff = x[xo + t] - c[co + t];
          s += diff * diff;
        }
        if (s >= best) break;
      }
      if (s < best) {
        for (; t < d; t++) {
          const diff = x[xo + t] - c[co + t];
          s += diff * diff;
        }
        if (s < best) best = s;
      }
    }
    total += best;
  }
  return total;
}

/**
 * Exact top-k of nq queries over nb base vectors by a full scan with a small sorted insertion buffer.
 * metric 'l2' (squared distance, ascending) or 'ip' (inner product, descending). Returns { ids, distances }.
 */
export function jsSearch(base, nb, d, q, nq, k, metric) {
  const ids = new Int32Array(nq * k).fill(-1);
  const distances = new Float32Array(nq * k);
  const keys = new Float64Array(k); // ascending keys: distance (l2) or -similarity (ip)
  const kid = new Int32Array(k);
  const ip = metric === 'ip';
  for (let qi = 0; qi < nq; qi++) {
    const qo = qi * d;
    keys.fill(Infinity);
    kid.fill(-1);
    for (let j = 0; j < nb; j++) {
      const bo = j * d;
      let s = 0;
      if (ip) {
        for (let t = 0; t < d; t++) s += q[qo + t] * base[bo + t];
        s = -s;
      } else {
        for (let t = 0; t < d; t++) {
          const diff = q[qo + t] - base[bo + t];
          s += diff * diff;
        }
      }
      if (s < keys[k - 1]) {
        let p = k - 1;
        while (p > 0 && keys[p - 1] > s) {
          keys[p] = keys[p - 1];
          kid[p] = kid[p - 1];
          p--;
        }
        keys[p] = s;
        kid[p] = j;
      }
    }
    for (let r = 0; r < k; r++) {
      ids[qi * k + r] = kid[r];
      distances[qi * k + r] = ip ? -keys[r] : keys[r];
    }
  }
  return { ids, distances };
}

/** Converts a row-major Float32Array to number[][] (for ml-kmeans). */
export function toRows(x, n, d) {
  const rows = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = Array.from(x.subarray(i * d, (i + 1) * d));
  return rows;
}

export function fromRows(rows, d) {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(r, i * d));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Quality measures

/**
 * Mean over queries of |A_q ∩ B_q| / k on the first k columns of two row-major id arrays (widths wa, wb); -1 (no
 * result) never counts, and an id returned twice counts once.
 */
export function recallAtK(a, wa, b, wb, nq, k) {
  let hits = 0;
  for (let q = 0; q < nq; q++) {
    const truth = new Set();
    for (let r = 0; r < k; r++) if (b[q * wb + r] >= 0) truth.add(b[q * wb + r]);
    for (let r = 0; r < k; r++) if (truth.delete(a[q * wa + r])) hits++;
  }
  return hits / (nq * k);
}

/** Exact float64 score of query row qi against base row id: inner product ('ip') or squared L2. */
export function exactScore(q, qi, base, id, d, metric) {
  let s = 0;
  for (let t = 0; t < d; t++) {
    if (metric === 'ip') s += q[qi * d + t] * base[id * d + t];
    else {
      const diff = q[qi * d + t] - base[id * d + t];
      s += diff * diff;
    }
  }
  return s;
}

/**
 * Tie-aware recall@k against ground truth: a returned id counts as a hit when its exact (float64) score is at least as
 * good as the true k-th score (within a relative tolerance), so equal-score swaps are not counted as misses.
 */
export function tieAwareRecall(ids, width, base, q, d, nq, k, metric, kthTrue) {
  let hits = 0;
  for (let qi = 0; qi < nq; qi++) {
    const seen = new Set();
    const bound = kthTrue[qi];
    const tol = 1e-5 * Math.max(1, Math.abs(bound));
    for (let r = 0; r < k; r++) {
      const id = ids[qi * width + r];
      if (id < 0 || seen.has(id)) continue;
      seen.add(id);
      const s = exactScore(q, qi, base, id, d, metric);
      if (metric === 'ip' ? s >= bound - tol : s <= bound + tol) hits++;
    }
  }
  return hits / (nq * k);
}

/** Fraction of equal labels. */
export function agreement(a, b, n) {
  let same = 0;
  for (let i = 0; i < n; i++) if (a[i] === b[i]) same++;
  return same / n;
}

// ---------------------------------------------------------------------------------------------------------------------
// Formatting

export function fmtSeconds(s) {
  if (s === undefined || s === null || !Number.isFinite(s)) return '-';
  if (s >= 100) return `${s.toFixed(0)} s`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(1)} ms`;
  return `${(s * 1e6).toFixed(0)} µs`;
}

export function fmtRate(x) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(1);
}

export function fmtRatio(x, digits = 2) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return `${x.toFixed(digits)}x`;
}

export function fmtNum(x, digits = 4) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return x.toPrecision(digits + 1 > 21 ? 21 : digits + 1);
}

export function fmtExp(x, digits = 5) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return x.toExponential(digits);
}

/** Prints a plain-text table; `columns` = [{ title, align: 'l'|'r' }], rows = arrays of strings. */
export function printTable(title, columns, rows, notes = []) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((cell, i) => {
        const s = String(cell ?? '');
        return columns[i].align === 'l' ? s.padEnd(widths[i]) : s.padStart(widths[i]);
      })
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(columns.map((c) => c.title)));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  for (const n of notes) console.log(`  ${n}`);
}

/** "ok" / "MISS" marker beside a target (printed only, never asserted). */
export const mark = (ok) => (ok === undefined || ok === null ? '' : ok ? 'ok' : 'MISS');
