// `npm start`: the main job on an embedded default, no arguments, no network.
// Seeded synthetic item embeddings (a Gaussian mixture, like the clustered tables two-tower and MF models produce) ->
// a k-means codebook (standard VQ) -> product-quantized codes (PQ, 16 bytes per item) searched by asymmetric distance
// -> an inverted file of PQ residual codes (IVF-PQ) with exact re-ranking -> recall against exact FlatIndex search,
// with sizes, timings and throughput; then semantic IDs (residual codes + a collision token) for generative retrieval.
import { init, FlatIndex, IVFPQIndex, KMeans, memoryStats, PQIndex, SemanticIdTokenizer } from '../dist/index.js';

const N_ITEMS = 20_000;
const N_USERS = 500;
const D = 64;
const K = 256; // codebook size: one byte per item
const M = 16; // PQ sub-quantizers: 16 bytes per item
const NLIST = 128;
const TOPK = 10;

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(r) {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** n vectors around `centers` random topic centres, spread `spread`. */
function mixture(r, n, d, topics, spread) {
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * topics.length / d) * d;
    for (let t = 0; t < d; t++) x[i * d + t] = topics[c + t] + spread * gaussian(r);
  }
  return x;
}

const ms = (t0) => performance.now() - t0;
const fmt = (v, digits = 1) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const info = await init();
const r = rng(42);
const topics = new Float32Array(100 * D).map(() => gaussian(r));
const items = mixture(r, N_ITEMS, D, topics, 0.35);
const users = mixture(r, N_USERS, D, topics, 0.5);

console.log(`vqwasm demo: ${info.build} build (relaxed SIMD ${info.relaxedSimdSupported ? 'available' : 'not available'} here)`);
console.log(`items: ${N_ITEMS.toLocaleString()} x ${D} float32 (${fmt(items.byteLength / 2 ** 20)} MiB), users (queries): ${N_USERS}`);

// exact search: the oracle
const exact = new FlatIndex({ d: D, metric: 'l2' });
exact.add(items);
exact.search(users.subarray(0, 8 * D), TOPK); // warm-up: V8 tiers kernels up after their first calls
let t0 = performance.now();
const truth = exact.search(users, TOPK);
const exactMs = ms(t0);

// codebook
const km = new KMeans({ d: D, k: K, seed: 1234, iterations: 20 });
t0 = performance.now();
const trained = km.train(items);
const trainMs = ms(t0);
const obj = trained.objective;
const { labels } = km.assign(items);
const centroids = km.centroids;
const mse = obj[obj.length - 1] / trained.nTrain / D;
const variance = (() => {
  const mean = new Float64Array(D);
  for (let i = 0; i < N_ITEMS; i++) for (let t = 0; t < D; t++) mean[t] += items[i * D + t] / N_ITEMS;
  let s = 0;
  for (let i = 0; i < N_ITEMS; i++) for (let t = 0; t < D; t++) s += (items[i * D + t] - mean[t]) ** 2;
  return s / N_ITEMS / D;
})();
const sizes = trained.clusterSizes;
const used = sizes.filter((s) => s > 0).length;
console.log(`\nk-means: k = ${K}, ${trained.iterations} iterations on ${trained.nTrain.toLocaleString()} points in ${fmt(trainMs, 0)} ms`);
console.log(`  objective ${fmt(obj[0], 0)} -> ${fmt(obj[obj.length - 1], 0)}; per-component MSE ${fmt(mse, 4)} (data variance ${fmt(variance, 4)}, ${fmt(100 * (1 - mse / variance))} % explained)`);
console.log(`  codebook: ${used}/${K} codes used, largest cluster ${Math.max(...sizes)} points; codes: 1 byte/item (${fmt(N_ITEMS / 1024)} KiB) + codebook ${fmt(centroids.byteLength / 1024)} KiB vs ${fmt(items.byteLength / 1024)} KiB raw`);

function recall(found) {
  let hit = 0;
  for (let i = 0; i < N_USERS; i++) {
    const want = new Set(truth.ids.subarray(i * TOPK, (i + 1) * TOPK));
    for (let j = 0; j < TOPK; j++) if (want.has(found[i * TOPK + j])) hit++;
  }
  return hit / (N_USERS * TOPK);
}
function reconstructionMse(decoded) {
  let s = 0;
  for (let i = 0; i < decoded.length; i++) s += (decoded[i] - items[i]) ** 2;
  return s / N_ITEMS / D;
}
const row = (name, rec, qps, bytes) => console.log(`  ${name.padEnd(34)} ${fmt(rec, 3)}      ${fmt(qps, 0).padStart(7)}   ${bytes}`);
const timed = (fn) => {
  fn(users.subarray(0, 8 * D)); // warm-up
  const t = performance.now();
  const res = fn(users);
  return { res, qps: N_USERS / (ms(t) / 1000) };
};

// product quantization: m = 16 sub-spaces of 4 components, 256 codewords each
const pq = new PQIndex({ d: D, m: M, nbits: 8, metric: 'l2' });
t0 = performance.now();
const pqTrain = pq.train(items);
const pqTrainMs = ms(t0);
t0 = performance.now();
pq.add(items);
const pqAddMs = ms(t0);
const pqMse = reconstructionMse(pq.reconstruct(Int32Array.from({ length: N_ITEMS }, (_, i) => i)));
console.log(`\nproduct quantizer: m = ${M} x 8 bits, trained in ${fmt(pqTrainMs, 0)} ms on ${pqTrain.nTrain.toLocaleString()} items, ${N_ITEMS.toLocaleString()} items encoded in ${fmt(pqAddMs, 0)} ms`);
console.log(`  per-component MSE ${fmt(pqMse, 4)} (${fmt(100 * (1 - pqMse / variance))} % explained) in ${M} bytes/item: ${fmt(N_ITEMS * M / 1024)} KiB of codes vs ${fmt(items.byteLength / 1024)} KiB raw (${fmt(items.byteLength / (N_ITEMS * M), 0)}x smaller)`);

// 4-bit fast-scan at the same 16 bytes/item: 2 * M sub-spaces of 16 codewords, u8 tables looked up 16 codes at a time
const fs = new PQIndex({ d: D, m: 2 * M, nbits: 4, metric: 'l2' });
t0 = performance.now();
fs.train(items);
fs.add(items);
const fsMs = ms(t0);
const fsMse = reconstructionMse(fs.reconstruct(Int32Array.from({ length: N_ITEMS }, (_, i) => i)));
console.log(`fast-scan PQ: m = ${2 * M} x 4 bits, trained and filled in ${fmt(fsMs, 0)} ms; per-component MSE ${fmt(fsMse, 4)} in the same ${M} bytes/item`);

// IVF-PQ: NLIST k-means cells, residual PQ codes, the original vectors kept for exact re-ranking
const ivf = new IVFPQIndex({ d: D, nlist: NLIST, m: M, nbits: 8, metric: 'l2', refine: true });
t0 = performance.now();
ivf.train(items);
ivf.add(items);
const ivfMs = ms(t0);
console.log(`IVF-PQ: nlist = ${NLIST}, trained and filled in ${fmt(ivfMs, 0)} ms; list sizes ${Math.min(...ivf.listSizes)}..${Math.max(...ivf.listSizes)}`);

console.log(`\nsearch: top-${TOPK} for ${N_USERS} users (squared L2)`);
console.log(`  method                             recall@${TOPK}   QPS       bytes/item`);
row('exact FlatIndex', 1, N_USERS / (exactMs / 1000), D * 4);
const pqRun = timed((q) => pq.search(q, TOPK));
row('PQ, asymmetric distance scan', recall(pqRun.res.ids), pqRun.qps, M);
const fsRun = timed((q) => fs.search(q, TOPK));
row('PQ 4-bit fast-scan', recall(fsRun.res.ids), fsRun.qps, M);
for (const nprobe of [1, 4, 16]) {
  const run = timed((q) => ivf.search(q, TOPK, { nprobe }));
  row(`IVF-PQ, nprobe = ${nprobe}`, recall(run.res.ids), run.qps, `${ivf.bytesPerVector - 4 * D} *`);
}
for (const nprobe of [4, 16]) {
  const run = timed((q) => ivf.search(q, TOPK, { nprobe, rerank: 100 }));
  row(`IVF-PQ, nprobe = ${nprobe}, rerank 100`, recall(run.res.ids), run.qps, ivf.bytesPerVector);
}
console.log(`  * code + list position + id + its L2 term ||r||^2 + 2 <c, r>; this index also keeps the originals (refine: true) for the rerank rows`);

// semantic IDs: 3 residual levels of 256 codes plus a collision token, balanced against collapsed codes
const tok = new SemanticIdTokenizer({ d: D, levels: 3, codebookSize: 256, balance: true, seed: 1 });
t0 = performance.now();
const sid = tok.fit(items);
const sidMs = ms(t0);
const uniqueIds = new Set(Array.from({ length: N_ITEMS }, (_, i) => sid.ids.subarray(i * sid.length, (i + 1) * sid.length).join(','))).size;
console.log(`\nsemantic IDs: ${sid.length} tokens per item (3 x 256 + collision token) in ${fmt(sidMs, 0)} ms; ${uniqueIds.toLocaleString()} of ${N_ITEMS.toLocaleString()} unique`);
console.log(`  level perplexity ${sid.stats.map((st) => fmt(st.perplexity, 0)).join(' / ')} of 256; ${fmt(100 * sid.collisionRate)} % of items share their 3 codes (at most ${sid.maxCollisions}); item 0 = [${Array.from(sid.ids.subarray(0, sid.length)).join(', ')}], ${tok.validNextTokens([sid.ids[0]]).length} tokens may follow its first`);
tok.dispose();

const saved = ivf.save();
console.log(`\nIVF-PQ saved: ${fmt(saved.byteLength / 2 ** 20, 2)} MiB (versioned, checksummed; IVFPQIndex.load(bytes) restores it)`);
const m = memoryStats();
console.log(`wasm memory: ${fmt(m.memoryBytes / 2 ** 20)} MiB reserved, ${fmt(m.liveBytes / 2 ** 20)} MiB live in ${m.liveAllocations} buffers`);
for (const o of [ivf, fs, pq, km, exact]) o.dispose();
const after = memoryStats();
console.log(`after dispose(): ${fmt(after.liveBytes / 1024)} KiB live in ${after.liveAllocations} buffers (the reusable scratch block)`);
