#!/usr/bin/env node
// The vqwasm command line: train, add, remove, search, eval and info over .fvecs / .npy / .bvecs / .ivecs / raw float32 files
// and saved indexes (vqwasm's own files, or Faiss index files for search / eval / info). Exit codes: 0 done, 1 the
// work failed (a VQError or an I/O error: the message says what was got and what was expected), 2 a usage error.
// A progress bar goes to stderr when it is a TTY; otherwise nothing but errors is written there.
import { readFile as fsReadFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import * as vq from '../dist/index.js';

// (a directory read gives EISDIR without a path: the error message names the path it was given)
const readFile = (path, ...rest) =>
  fsReadFile(path, ...rest).catch((e) => {
    if (e && typeof e === 'object' && e.path === undefined) e.path = String(path);
    throw e;
  });

const TYPES = ['flat', 'pq', 'ivfpq', 'ivfflat', 'sq', 'binary', 'rq'];

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  quiet: { type: 'boolean', short: 'q' },
  format: { type: 'string' },
  d: { type: 'string' },
};

const COMMANDS = {
  train: {
    summary: 'train an index on vectors and (unless --no-add) add them; save it',
    usage: 'vqwasm train --type <flat|pq|ivfpq|ivfflat|sq|binary|rq> --input <vectors> --output <index.vqw> [options]',
    options: {
      type: { type: 'string' },
      input: { type: 'string', short: 'i' },
      train: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'no-add': { type: 'boolean' },
      ids: { type: 'string' },
      metric: { type: 'string' },
      m: { type: 'string' },
      nbits: { type: 'string' },
      nlist: { type: 'string' },
      levels: { type: 'string' },
      beam: { type: 'string' },
      'sq-type': { type: 'string' },
      opq: { type: 'boolean' },
      refine: { type: 'boolean' },
      'no-fast-scan': { type: 'boolean' },
      anisotropic: { type: 'string' },
      rotate: { type: 'boolean' },
      seed: { type: 'string' },
      threads: { type: 'string' },
    },
    help: `Options:
  --type T          flat | pq | ivfpq | ivfflat | sq | binary | rq (required)
  --input FILE      vectors to add (and to train on, unless --train is given): .fvecs .npy .bvecs .f32 (with --d)
  --train FILE      a separate training set
  --output FILE     where to save the index (required)
  --no-add          train only
  --ids FILE        user ids of the added vectors (.ivecs with d = 1, or a 1-D int32 .npy)
  --metric M        l2 (default) | ip | cosine (cosine: flat only)
  --m N             sub-quantizers (pq, ivfpq)            --nbits N   bits per code (pq, ivfpq, rq; default 8)
  --nlist N         inverted lists (ivfpq, ivfflat)       --levels N  residual levels (rq)
  --beam N          beam width (rq; default 1)            --sq-type T uint8 | int8 | int4 | fp16 (sq; default int8)
  --opq             learn an OPQ rotation (pq, ivfpq)     --refine    keep the float vectors for --rerank
  --no-fast-scan    float ADC scan for 4-bit codes        --anisotropic T  score-aware PQ threshold (ip; pq, ivfpq)
  --rotate          random rotation before sign bits (binary)
  --seed N          training seed (default 1234)
  --threads N       train and add on N threads (default 1; 0 = every core), with the same index bytes: a
                    WorkerPool takes the k-means and PQ runs of ivfpq, ivfflat, pq and rq (OPQ's included;
                    other types train here) and the encoding of the added vectors (every type but flat)`,
  },
  add: {
    summary: 'add vectors to a saved index and save it',
    usage: 'vqwasm add --index <index.vqw> --input <vectors> [--output <index.vqw>] [--ids <ids.ivecs>]',
    options: {
      index: { type: 'string' },
      input: { type: 'string', short: 'i' },
      output: { type: 'string', short: 'o' },
      ids: { type: 'string' },
      threads: { type: 'string' },
    },
    help: `Options:
  --index FILE      the saved index
  --input FILE      vectors to add (.fvecs, .npy and .f32 are read in chunks: files larger than memory are fine)
  --output FILE     where to save the result (default: overwrite --index, after the add succeeded)
  --ids FILE        user ids (.ivecs with d = 1, or a 1-D int32 .npy)
  --threads N       encode on N threads (default 1; 0 = every core): a WorkerPool computes the codes (and IVF
                    lists), this thread appends them; the same index bytes`,
  },
  remove: {
    summary: 'remove vectors by id from a saved index and save it',
    usage: 'vqwasm remove --index <index.vqw> --ids <ids.ivecs> [--output <index.vqw>]',
    options: {
      index: { type: 'string' },
      ids: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
    help: `Options:
  --index FILE      the saved index
  --ids FILE        the ids to remove (.ivecs with d = 1 or one row, or a 1-D int32 .npy); ids not in the index
                    are ignored. The other vectors keep their ids (index.remove(ids))
  --output FILE     where to save the result (default: overwrite --index, after the removal succeeded)`,
  },
  search: {
    summary: 'search a saved index (vqwasm or Faiss file) with query vectors; write the results',
    usage: 'vqwasm search --index <index> --queries <vectors> --output <results.ivecs|.json|.csv> [--k 10 | --radius R] [options]',
    options: {
      index: { type: 'string' },
      queries: { type: 'string' },
      output: { type: 'string', short: 'o' },
      k: { type: 'string', short: 'k' },
      radius: { type: 'string' },
      nprobe: { type: 'string' },
      rerank: { type: 'string' },
      exclude: { type: 'string' },
      distances: { type: 'string' },
      threads: { type: 'string' },
    },
    help: `Options:
  --index FILE      a saved vqwasm index, or a Faiss index file (faiss.write_index)
  --queries FILE    query vectors (.fvecs .npy .bvecs .f32 with --d)
  --output FILE     .ivecs (ids, k per query), .json ({ ids, distances } as nested arrays) or .csv (query,rank,id,distance)
  --distances FILE  with .ivecs output: also write the distances as .fvecs
  --k N             results per query (default 10)
  --radius R        instead of --k: every vector within R (index.rangeSearch: squared L2 < R, or similarity > R; the
                    code distances of a code index); rows of .ivecs / .fvecs and .json are as long as each query's hits
  --nprobe N        lists to visit (IVF indexes)          --rerank R  re-rank R candidates exactly (indexes with refine)
  --exclude FILE    ids each query must not return: an .ivecs with one (ragged) row per query
  --threads N       search on N threads (default 1; 0 = every core): a WorkerPool on one shared memory, same results`,
  },
  eval: {
    summary: 'recall@k and QPS of a saved index against ground truth or exact search',
    usage: 'vqwasm eval --index <index> --queries <vectors> (--gt <gt.ivecs> | --base <vectors>) [--k 10] [options]',
    options: {
      index: { type: 'string' },
      queries: { type: 'string' },
      gt: { type: 'string' },
      base: { type: 'string' },
      k: { type: 'string', short: 'k' },
      nprobe: { type: 'string' },
      rerank: { type: 'string' },
      json: { type: 'boolean' },
      threads: { type: 'string' },
    },
    help: `Options:
  --index FILE      a saved vqwasm index or a Faiss index file
  --queries FILE    query vectors
  --gt FILE         ground-truth ids (.ivecs, at least k per query, ids as in the index), or:
  --base FILE       the indexed vectors: exact search (FlatIndex, the index's metric) gives the ground truth
  --k N             recall@k (default 10)          --nprobe N, --rerank R as for search
  --json            print one JSON object instead of text
  --threads N       search (and --base's exact search) on N threads (default 1; 0 = every core); QPS is then theirs`,
  },
  info: {
    summary: 'what a saved index holds',
    usage: 'vqwasm info --index <index> [--json]',
    options: { index: { type: 'string' }, json: { type: 'boolean' } },
    help: `Options:
  --index FILE      a saved vqwasm index or a Faiss index file
  --json            print one JSON object`,
  },
};

class UsageError extends Error {}

function mainHelp() {
  const lines = ['Usage: vqwasm <command> [options]   (vqwasm <command> --help for its options)', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)}${c.summary}`);
  lines.push('', 'Common options: --format npy|fvecs|ivecs|bvecs|f32 (default: from the extension), --d N (raw .f32), --quiet, --help');
  return lines.join('\n');
}

function int(opts, name, { min = 1, def } = {}) {
  const v = opts[name];
  if (v === undefined) {
    if (def === undefined) return undefined;
    return def;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(v)})`);
  return n;
}

function need(opts, ...names) {
  for (const n of names) if (opts[n] === undefined) throw new UsageError(`--${n} is required`);
}

// ---------------------------------------------------------------------------------------------------------------------
// Progress on a TTY

function progress(opts, label) {
  const tty = process.stderr.isTTY && !opts.quiet;
  const t0 = performance.now();
  let last = 0;
  return {
    /** Whether anything is shown (a TTY, not --quiet): work done only for the bar can be skipped otherwise. */
    active: tty,
    update(done, total) {
      if (!tty) return;
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const w = 30;
      const f = total > 0 ? done / total : 1;
      const bar = '#'.repeat(Math.round(f * w)).padEnd(w, '.');
      process.stderr.write(`\r${label} [${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${done}/${total} ${((now - t0) / 1000).toFixed(1)}s`);
    },
    note(text) {
      if (tty) process.stderr.write(`\r${label}: ${text}`);
    },
    done() {
      if (tty) process.stderr.write(`\r${label}: done in ${((performance.now() - t0) / 1000).toFixed(2)} s${' '.repeat(30)}\n`);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Files

/** --d: raw float32 files (.f32) have no header to read it from, so they need it. */
function dFor(path, opts) {
  const d = int(opts, 'd');
  const fmt = opts.format ?? extname(path).slice(1).toLowerCase();
  if (d === undefined && ['f32', 'bin', 'raw'].includes(fmt)) throw new UsageError(`--d is needed for the raw float32 file ${path} (it has no header giving d)`);
  return d;
}

async function readVectors(path, opts) {
  const r = await vq.readVectorFile(path, { format: opts.format, d: dFor(path, opts) });
  return { n: r.n, d: r.d, x: vq.toFloat32(r.data) };
}

async function readIds(path) {
  const r = await vq.readVectorFile(path);
  if (!(r.data instanceof Int32Array)) throw new vq.VQError('INVALID_TYPE', `vqwasm: ${path} must hold int32 ids (got ${r.dtype}, expected an .ivecs or an int32 .npy)`);
  if (r.d !== 1 && r.n !== 1) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${path} must hold one id per vector (got rows of ${r.d}, expected d = 1)`);
  return r.data;
}

/** An .ivecs whose rows may differ in length (one list per query). */
async function readRagged(path) {
  const b = await readFile(path);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const rows = [];
  for (let o = 0; o < b.byteLength; ) {
    if (o + 4 > b.byteLength) throw new vq.VQError('CORRUPT_DATA', `vqwasm: ${path} ends inside a row header (got ${b.byteLength - o} bytes, expected 4)`);
    const c = view.getInt32(o, true);
    if (c < 0 || o + 4 + 4 * c > b.byteLength) throw new vq.VQError('CORRUPT_DATA', `vqwasm: ${path}: a row of ${c} ids at byte ${o} does not fit (got ${b.byteLength} bytes in all, expected a whole row)`);
    rows.push(new Int32Array(b.buffer.slice(b.byteOffset + o + 4, b.byteOffset + o + 4 + 4 * c)));
    o += 4 + 4 * c;
  }
  return rows;
}

// Faiss fourccs all start with 'I' (IxF2, IxPq, IwPQ, IxSQ, IxPT, IxM2 ...); readFaissIndex names the unsupported ones
const FAISS_MAGIC = /^I[A-Za-z0-9]{3}$/;

async function loadAnyIndex(path) {
  const bytes = new Uint8Array(await readFile(path));
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === 'VQWF') return { index: vq.loadIndex(bytes), source: 'vqwasm', bytes: bytes.length };
  if (FAISS_MAGIC.test(magic)) return { index: vq.readFaissIndex(bytes), source: `Faiss (${magic})`, bytes: bytes.length };
  throw new vq.VQError('CORRUPT_DATA', `vqwasm: ${path} is not an index file (got magic ${JSON.stringify(magic)}, expected 'VQWF' (vqwasm) or a Faiss fourcc)`);
}

// ---------------------------------------------------------------------------------------------------------------------
// Commands

function makeIndex(opts, d) {
  const metric = opts.metric ?? 'l2';
  const seed = int(opts, 'seed', { min: 0, def: 1234 });
  const pqCommon = () => ({
    d, m: int(opts, 'm') ?? fail('--m is required for --type ' + opts.type), nbits: int(opts, 'nbits', { def: 8 }), metric, seed,
    opq: !!opts.opq, refine: !!opts.refine,
    ...(opts['no-fast-scan'] ? { fastScan: false } : {}),
    ...(opts.anisotropic !== undefined ? { anisotropicThreshold: Number(opts.anisotropic) } : {}),
  });
  switch (opts.type) {
    case 'flat':
      return new vq.FlatIndex({ d, metric });
    case 'pq':
      return new vq.PQIndex(pqCommon());
    case 'ivfpq':
      return new vq.IVFPQIndex({ ...pqCommon(), nlist: int(opts, 'nlist') ?? fail('--nlist is required for --type ivfpq') });
    case 'ivfflat':
      return new vq.IVFFlatIndex({ d, nlist: int(opts, 'nlist') ?? fail('--nlist is required for --type ivfflat'), metric, seed });
    case 'sq':
      return new vq.SQIndex({ d, type: opts['sq-type'] ?? 'int8', metric, refine: !!opts.refine });
    case 'binary':
      return new vq.BinaryIndex({ d, metric, refine: !!opts.refine, rotate: !!opts.rotate, seed });
    case 'rq':
      return new vq.RQIndex({
        d, levels: int(opts, 'levels') ?? fail('--levels is required for --type rq'), nbits: int(opts, 'nbits', { def: 8 }),
        beamSize: int(opts, 'beam', { def: 1 }), metric, seed,
      });
    default:
      throw new UsageError(`--type must be one of ${TYPES.join(', ')} (got ${JSON.stringify(opts.type)})`);
  }
}

function fail(msg) {
  throw new UsageError(msg);
}

/** Adds the vectors of a file to index (through pool.add when a pool is given: the same bytes). Returns their number. */
async function addFile(index, path, opts, idsPath, label, pool = null) {
  const ids = idsPath ? await readIds(idsPath) : undefined;
  const add = (x, sub) => (pool ? pool.add(index, x, { ids: sub }) : index.add(x, sub));
  const fmt = opts.format ?? extname(path).slice(1).toLowerCase();
  const bar = progress(opts, label);
  let added = 0;
  if (['fvecs', 'npy', 'f32', 'bin', 'raw'].includes(fmt)) {
    // in chunks: the file never has to fit in memory, only the index does; the total (a pass over the file) only
    // for the bar
    const total = bar.active ? await countRows(path, opts) : 0;
    for await (const c of vq.vectorFileChunks(path, { format: opts.format, d: dFor(path, opts), rows: 16384 })) {
      sameD(path, c.d, index);
      if (ids && c.start + c.n > ids.length) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${idsPath} holds ${ids.length} ids (got more vectors than that in ${path}, expected one id per vector)`);
      await add(c.data, ids ? ids.subarray(c.start, c.start + c.n) : undefined);
      added += c.n;
      bar.update(added, total);
    }
  } else {
    const { n, d, x } = await readVectors(path, opts);
    sameD(path, d, index);
    if (ids && ids.length !== n) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${idsPath} holds ${ids.length} ids (got ${n} vectors, expected one id per vector)`);
    await add(x, ids);
    added = n;
    bar.update(n, n);
  }
  if (ids && ids.length !== added) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${idsPath} holds ${ids.length} ids (got ${added} vectors, expected one id per vector)`);
  bar.done();
  return added;
}

/** A vector file's d against the index's: rows of another d would be cut into the index's d, silently. */
function sameD(path, d, index) {
  if (d !== index.d) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${path} holds vectors of d = ${d} (got ${d}, expected the index's d = ${index.d})`);
}

async function countRows(path, opts) {
  let n = 0;
  for await (const c of vq.vectorFileChunks(path, { format: opts.format, d: dFor(path, opts), rows: 65536 })) n += c.n;
  return n;
}

async function cmdTrain(opts) {
  need(opts, 'type', 'input', 'output');
  if (!TYPES.includes(opts.type)) throw new UsageError(`--type must be one of ${TYPES.join(', ')} (got ${JSON.stringify(opts.type)})`);
  const trainPath = opts.train ?? opts.input;
  const tr = await readVectors(trainPath, opts);
  const index = makeIndex(opts, tr.d);
  try {
    // --threads: a pool unless the type has nothing for it (flat: no training, nothing to encode)
    const added = await withPool(index instanceof vq.FlatIndex ? { ...opts, threads: undefined } : opts, async (pool) => {
      if (typeof index.train === 'function') {
        const bar = progress(opts, 'train');
        bar.note(`${tr.n} x ${tr.d} ...`);
        if (pool && (index instanceof vq.IVFPQIndex || index instanceof vq.IVFFlatIndex || index instanceof vq.PQIndex || index instanceof vq.RQIndex)) {
          const onProgress = bar.active ? (p) => bar.note(`step ${p.step + 1} (${p.kind === 'pq' ? 'PQ sub-space' : 'k-means iteration'} ${p.done}/${p.total})    `) : undefined;
          await pool.trainIndex(index, tr.x, { onProgress });
        } else {
          index.train(tr.x);
        }
        bar.done();
      }
      return opts['no-add'] ? 0 : addFile(index, opts.input, opts, opts.ids, 'add', pool);
    });
    await writeFile(opts.output, index.save());
    if (!opts.quiet) console.log(`${opts.output}: ${opts.type} index, d = ${tr.d}, trained on ${tr.n}, ${added} vectors added`);
  } finally {
    index.dispose();
  }
}

async function cmdAdd(opts) {
  need(opts, 'index', 'input');
  const { index } = await loadAnyIndex(opts.index);
  try {
    const added = await withPool(index instanceof vq.FlatIndex ? { ...opts, threads: undefined } : opts, (pool) => addFile(index, opts.input, opts, opts.ids, 'add', pool));
    const out = opts.output ?? opts.index;
    await writeFile(out, index.save());
    if (!opts.quiet) console.log(`${out}: ${added} vectors added, ${index.size} in all`);
  } finally {
    index.dispose();
  }
}

async function cmdRemove(opts) {
  need(opts, 'index', 'ids');
  const { index } = await loadAnyIndex(opts.index);
  try {
    const ids = await readIds(opts.ids);
    const removed = index.remove(ids);
    const out = opts.output ?? opts.index;
    await writeFile(out, index.save());
    if (!opts.quiet) console.log(`${out}: ${removed} vectors removed, ${index.size} left`);
  } finally {
    index.dispose();
  }
}

function searchOptions(opts, index) {
  const o = {};
  const nprobe = int(opts, 'nprobe');
  const rerank = int(opts, 'rerank');
  if (nprobe !== undefined) {
    if (!(index instanceof vq.IVFPQIndex || index instanceof vq.IVFFlatIndex)) throw new UsageError('--nprobe is for IVF indexes');
    o.nprobe = nprobe;
  }
  if (rerank !== undefined) o.rerank = rerank;
  return o;
}

/**
 * Searches in chunks of queries (progress) with the same result as one call: on this thread, or through `pool` (a
 * shared-memory WorkerPool, see withPool), which splits the queries across its workers.
 */
async function chunkedSearch(index, x, n, d, k, o, exclude, label, opts, pool) {
  const bar = progress(opts, label);
  const t0 = performance.now();
  if (pool) {
    const shared = await pool.share(index);
    try {
      const r = await shared.search(x, k, { ...o, ...(exclude ? { exclude } : {}), onProgress: ({ done, total }) => bar.update(done, total) });
      const seconds = (performance.now() - t0) / 1000;
      bar.done();
      return { ...r, seconds };
    } finally {
      shared.release();
    }
  }
  const ids = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  const step = 4096;
  for (let s = 0; s < n; s += step) {
    const c = Math.min(step, n - s);
    const r = index.search(x.subarray(s * d, (s + c) * d), k, exclude ? { ...o, exclude: exclude.slice(s, s + c) } : o);
    ids.set(r.ids, s * k);
    distances.set(r.distances, s * k);
    bar.update(s + c, n);
  }
  const seconds = (performance.now() - t0) / 1000;
  bar.done();
  return { ids, distances, seconds };
}

/** --threads: null for 1 (search on this thread), else the number of workers (0 = every core: undefined). */
function threadsOption(opts) {
  const t = int(opts, 'threads', { min: 0, def: 1 });
  return t === 1 ? null : t === 0 ? undefined : t;
}

/** Runs fn(pool) with a shared-memory WorkerPool when --threads asks for one (pool null otherwise). */
async function withPool(opts, fn) {
  const t = threadsOption(opts);
  if (t === null) return fn(null);
  const pool = await vq.WorkerPool.create({ threads: t });
  try {
    return await fn(pool);
  } finally {
    pool.terminate();
  }
}

/**
 * --radius: index.rangeSearch in chunks of queries (or on a pool's workers), the chunks' hits end to end:
 * { lims, ids, distances, seconds }.
 */
async function chunkedRange(index, x, n, d, radius, o, exclude, opts, pool) {
  const bar = progress(opts, 'search');
  const t0 = performance.now();
  let r;
  if (pool) {
    const shared = await pool.share(index);
    try {
      r = await shared.rangeSearch(x, radius, { ...o, ...(exclude ? { exclude } : {}), onProgress: ({ done, total }) => bar.update(done, total) });
    } finally {
      shared.release();
    }
  } else {
    const parts = [];
    const step = 4096;
    for (let s = 0; s < n; s += step) {
      const c = Math.min(step, n - s);
      parts.push(index.rangeSearch(x.subarray(s * d, (s + c) * d), radius, exclude ? { ...o, exclude: exclude.slice(s, s + c) } : o));
      bar.update(s + c, n);
    }
    const lims = new Int32Array(n + 1);
    const total = parts.reduce((t, p) => t + p.ids.length, 0);
    const ids = new Int32Array(total);
    const distances = new Float32Array(total);
    let q = 0;
    for (const p of parts) {
      ids.set(p.ids, lims[q]);
      distances.set(p.distances, lims[q]);
      for (let i = 1; i < p.lims.length; i++) lims[q + i] = lims[q] + p.lims[i];
      q += p.lims.length - 1;
    }
    r = { lims, ids, distances };
  }
  bar.done();
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

/** Ragged rows (row i: values[lims[i] .. lims[i + 1])) as .ivecs / .fvecs: each row its own length. */
function raggedVecs(lims, values) {
  const n = lims.length - 1;
  const out = new DataView(new ArrayBuffer(4 * (n + values.length)));
  let o = 0;
  for (let i = 0; i < n; i++) {
    out.setInt32(o, lims[i + 1] - lims[i], true);
    o += 4;
    for (let t = lims[i]; t < lims[i + 1]; t++, o += 4) {
      if (values instanceof Int32Array) out.setInt32(o, values[t], true);
      else out.setFloat32(o, values[t], true);
    }
  }
  return new Uint8Array(out.buffer);
}

/**
 * search: the top --k of each query (index.search), or with --radius every vector within it (index.rangeSearch). The
 * output's rows are [lims[i], lims[i + 1]) of ids / distances (i k .. (i + 1) k for --k).
 */
async function cmdSearch(opts) {
  need(opts, 'index', 'queries', 'output');
  const range = opts.radius !== undefined;
  let k;
  let radius;
  if (range) {
    if (opts.k !== undefined) throw new UsageError('give --k or --radius, not both');
    if (opts.rerank !== undefined) throw new UsageError('--rerank goes with --k (a range search is over the code distances)');
    radius = Number(opts.radius);
    if (opts.radius.trim() === '' || !Number.isFinite(radius)) throw new UsageError(`--radius must be a finite number (got ${JSON.stringify(opts.radius)})`);
  } else {
    k = int(opts, 'k', { def: 10 });
  }
  const fmt = extname(opts.output).slice(1).toLowerCase();
  if (!['ivecs', 'json', 'csv'].includes(fmt)) throw new UsageError(`--output must end in .ivecs, .json or .csv (got ${JSON.stringify(opts.output)})`);
  if (opts.distances !== undefined && fmt !== 'ivecs') throw new UsageError('--distances goes with an .ivecs --output');
  const { index } = await loadAnyIndex(opts.index);
  try {
    const q = await readVectors(opts.queries, opts);
    sameD(opts.queries, q.d, index);
    const exclude = opts.exclude ? await readRagged(opts.exclude) : undefined;
    if (exclude && exclude.length !== q.n) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${opts.exclude} holds ${exclude.length} rows (got ${exclude.length}, expected one per query: ${q.n})`);
    const o = searchOptions(opts, index);
    const r = await withPool(opts, (pool) =>
      range ? chunkedRange(index, q.x, q.n, q.d, radius, o, exclude, opts, pool) : chunkedSearch(index, q.x, q.n, q.d, k, o, exclude, 'search', opts, pool),
    );
    const lims = r.lims ?? Int32Array.from({ length: q.n + 1 }, (_, i) => i * k);
    if (fmt === 'ivecs') {
      // (for --k the bytes of writeIvecs / writeFvecs: every row k long)
      await writeFile(opts.output, raggedVecs(lims, r.ids));
      if (opts.distances) await writeFile(opts.distances, raggedVecs(lims, r.distances));
    } else if (fmt === 'json') {
      const rows = (a) => Array.from({ length: q.n }, (_, i) => Array.from(a.subarray(lims[i], lims[i + 1])));
      await writeFile(opts.output, JSON.stringify({ ...(range ? { radius } : { k }), ids: rows(r.ids), distances: rows(r.distances) }) + '\n');
    } else {
      const lines = ['query,rank,id,distance'];
      for (let i = 0; i < q.n; i++) for (let t = lims[i]; t < lims[i + 1]; t++) lines.push(`${i},${t - lims[i]},${r.ids[t]},${r.distances[t]}`);
      await writeFile(opts.output, lines.join('\n') + '\n');
    }
    const qps = (q.n / r.seconds).toFixed(0);
    if (!opts.quiet) console.log(range ? `${opts.output}: ${r.ids.length} vectors within ${radius} of ${q.n} queries (${qps} QPS)` : `${opts.output}: top ${k} of ${q.n} queries (${qps} QPS)`);
  } finally {
    index.dispose();
  }
}

async function cmdEval(opts) {
  need(opts, 'index', 'queries');
  if ((opts.gt === undefined) === (opts.base === undefined)) throw new UsageError('give exactly one of --gt and --base');
  const k = int(opts, 'k', { def: 10 });
  const { index } = await loadAnyIndex(opts.index);
  try {
    const q = await readVectors(opts.queries, opts);
    sameD(opts.queries, q.d, index);
    const o = searchOptions(opts, index);
    const { gt, gtK, r, threads } = await withPool(opts, async (pool) => {
      let gt;
      let gtK;
      if (opts.gt) {
        const g = await vq.readVectorFile(opts.gt);
        if (!(g.data instanceof Int32Array) || g.n !== q.n || g.d < k) throw new vq.VQError('INVALID_SIZE', `vqwasm: ${opts.gt} must hold ${q.n} rows of at least k = ${k} int32 ids (got ${g.n} rows of ${g.d} ${g.dtype})`);
        gt = g.data;
        gtK = g.d;
      } else {
        const b = await readVectors(opts.base, opts);
        const flat = new vq.FlatIndex({ d: b.d, metric: index.metric ?? 'l2' });
        try {
          flat.add(b.x);
          gt = (await chunkedSearch(flat, q.x, q.n, q.d, k, {}, undefined, 'exact', opts, pool)).ids;
          gtK = k;
        } finally {
          flat.dispose();
        }
      }
      return { gt, gtK, r: await chunkedSearch(index, q.x, q.n, q.d, k, o, undefined, 'search', opts, pool), threads: pool ? pool.threads : 1 };
    });
    let hits = 0;
    for (let i = 0; i < q.n; i++) {
      const want = new Set(gt.subarray(i * gtK, i * gtK + k));
      for (let j = 0; j < k; j++) if (want.has(r.ids[i * k + j])) hits++;
    }
    const out = { recall: hits / (q.n * k), k, queries: q.n, qps: q.n / r.seconds, seconds: r.seconds, threads, truth: opts.gt ? 'ground-truth file' : 'exact search' };
    if (opts.json) console.log(JSON.stringify(out));
    else console.log(`recall@${k} ${out.recall.toFixed(4)} over ${q.n} queries (against ${out.truth}); ${out.qps.toFixed(0)} QPS on ${threads} thread${threads > 1 ? 's' : ''} (${out.seconds.toFixed(3)} s)`);
  } finally {
    index.dispose();
  }
}

async function cmdInfo(opts) {
  need(opts, 'index');
  const { index, source, bytes } = await loadAnyIndex(opts.index);
  try {
    const info = { file: opts.index, format: source, bytes, kind: index.constructor.name, d: index.d, size: index.size, metric: index.metric };
    for (const key of ['m', 'nbits', 'nlist', 'levels', 'type', 'opq', 'refine', 'fastScan', 'bytesPerVector']) {
      if (index[key] !== undefined) info[key] = index[key];
    }
    if (opts.json) console.log(JSON.stringify(info));
    else for (const [key, v] of Object.entries(info)) console.log(`${key.padEnd(15)}${v}`);
  } finally {
    index.dispose();
  }
}

const RUN = { train: cmdTrain, add: cmdAdd, remove: cmdRemove, search: cmdSearch, eval: cmdEval, info: cmdInfo };

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(mainHelp());
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    console.log(pkg.version);
    return 0;
  }
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)} (expected one of ${Object.keys(COMMANDS).join(', ')})`);
  let opts;
  const options = { ...COMMON, ...spec.options };
  // `--k -3` as `--k=-3`: parseArgs takes a value that starts with '-' for another option ("ambiguous"); a negative
  // number is the option's value (a negative --radius is meaningful for ip), and gets the command's own range check
  const args = [];
  for (let i = 0; i < rest.length; i++) {
    const name = /^--([^=]+)$/.exec(rest[i])?.[1];
    if (name && options[name]?.type === 'string' && /^-\d|^-\.\d/.test(rest[i + 1] ?? '')) args.push(`${rest[i]}=${rest[++i]}`);
    else args.push(rest[i]);
  }
  try {
    ({ values: opts } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(`${command}: ${e.message}`);
  }
  if (opts.help) {
    console.log(`Usage: ${spec.usage}\n\n${spec.summary}\n\n${spec.help}\n\nCommon: --format npy|fvecs|ivecs|bvecs|f32, --d N (raw .f32), --quiet, --help`);
    return 0;
  }
  // --threads > 1: the threads build, so that the workers search the index in place (no copies)
  await vq.init({ threads: opts.threads !== undefined && threadsOption(opts) !== null });
  await RUN[command](opts);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (e instanceof UsageError) {
      console.error(`vqwasm: ${e.message}\n(vqwasm --help, or vqwasm <command> --help)`);
      process.exitCode = 2;
    } else if (e instanceof vq.VQError) {
      console.error(`vqwasm: ${e.code}: ${e.message}`);
      process.exitCode = 1;
    } else if (e && typeof e.code === 'string' && e.syscall) {
      console.error(`vqwasm: cannot ${e.syscall === 'open' ? 'open' : e.syscall} ${e.path ?? ''}: ${e.code} (got a file system error, expected a readable / writable file)`);
      process.exitCode = 1;
    } else {
      console.error(`vqwasm: ${e && e.stack ? e.stack : e}`);
      process.exitCode = 1;
    }
  },
);
