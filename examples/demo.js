// `npm start`: the main job on an embedded default, no arguments, no network.
// Seeded synthetic item embeddings (a Gaussian mixture, like the clustered tables two-tower and MF models produce) ->
// k-means codebook -> a cluster-pruned search (an inverted file built from KMeans + FlatIndex) -> recall against
// exact FlatIndex search, with sizes, timings and throughput.
import { init, FlatIndex, KMeans, memoryStats } from '../dist/index.js';

const N_ITEMS = 20_000;
const N_USERS = 500;
const D = 64;
const K = 256; // codebook size: one byte per item
const NPROBE = 16;
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

// cluster-pruned search: items grouped by code, each group its own FlatIndex; a query scans its NPROBE nearest groups
const coarse = new FlatIndex({ d: D });
coarse.add(centroids);
const lists = [];
for (let c = 0; c < K; c++) {
  const members = [];
  for (let i = 0; i < N_ITEMS; i++) if (labels[i] === c) members.push(i);
  const ids = Int32Array.from(members);
  const vecs = new Float32Array(ids.length * D);
  ids.forEach((id, j) => vecs.set(items.subarray(id * D, id * D + D), j * D));
  const list = new FlatIndex({ d: D });
  if (ids.length > 0) list.add(vecs, ids);
  lists.push(list);
}
function prunedSearch(q, nprobe) {
  const nq = q.length / D;
  const probe = coarse.search(q, nprobe);
  const out = new Int32Array(nq * TOPK);
  for (let i = 0; i < nq; i++) {
    const qi = q.subarray(i * D, (i + 1) * D);
    const cand = [];
    for (let p = 0; p < nprobe; p++) {
      const list = lists[probe.ids[i * nprobe + p]];
      if (list.size === 0) continue;
      const res = list.search(qi, TOPK);
      for (let j = 0; j < TOPK; j++) if (res.ids[j] >= 0) cand.push([res.distances[j], res.ids[j]]);
    }
    cand.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let j = 0; j < TOPK; j++) out[i * TOPK + j] = j < cand.length ? cand[j][1] : -1;
  }
  return out;
}
function recall(found) {
  let hit = 0;
  for (let i = 0; i < N_USERS; i++) {
    const want = new Set(truth.ids.subarray(i * TOPK, (i + 1) * TOPK));
    for (let j = 0; j < TOPK; j++) if (want.has(found[i * TOPK + j])) hit++;
  }
  return hit / (N_USERS * TOPK);
}

console.log(`\nsearch: top-${TOPK} for ${N_USERS} users (squared L2)`);
console.log(`  method                      recall@${TOPK}   QPS`);
console.log(`  exact FlatIndex             ${fmt(1, 3)}      ${fmt(N_USERS / (exactMs / 1000), 0)}`);
for (const nprobe of [1, 4, NPROBE]) {
  prunedSearch(users.subarray(0, 8 * D), nprobe); // warm-up
  t0 = performance.now();
  const found = prunedSearch(users, nprobe);
  const dt = ms(t0);
  console.log(`  k-means pruned, nprobe=${String(nprobe).padEnd(3)}  ${fmt(recall(found), 3)}      ${fmt(N_USERS / (dt / 1000), 0)}`);
}

const m = memoryStats();
console.log(`\nwasm memory: ${fmt(m.memoryBytes / 2 ** 20)} MiB reserved, ${fmt(m.liveBytes / 2 ** 20)} MiB live in ${m.liveAllocations} buffers`);
for (const l of lists) l.dispose();
coarse.dispose();
km.dispose();
exact.dispose();
const after = memoryStats();
console.log(`after dispose(): ${fmt(after.liveBytes / 1024)} KiB live in ${after.liveAllocations} buffers (the reusable scratch block)`);
