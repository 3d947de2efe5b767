// WorkerPool in a page: module Web Workers, each with its own engine, answer a batch of queries; the result must equal
// the main thread's, and a 5 ms timer on the main thread must keep firing while the workers search. With ?shared=1 the
// page loads the threads build (the server makes it cross-origin isolated) and the workers run on its memory; with
// ?isolated=0 the server leaves the isolation headers out, so the page has no SharedArrayBuffer (as most sites serve
// pages) and the pool falls back to messages for everything (its byMessage kind, here chosen by the browser). Also
// k-means in a worker and across the workers, an IVF-PQ index trained and filled across them (pool.trainIndex,
// pool.add) and an RQ index trained across them, each against the same work on the page's thread.
import * as api from '/dist/index.js';

function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

async function run() {
  const sharedMemory = new URLSearchParams(location.search).get('shared') === '1';
  const { build } = await api.init({ threads: sharedMemory });
  const d = 32;
  const n = 20000;
  const nq = 3000; // enough that the pooled search lasts well over the 50 ms the timer check needs
  const r = lcg(7);
  const x = new Float32Array(n * d).map(() => Math.round(r() * 16));
  const q = new Float32Array(nq * d).map(() => Math.round(r() * 16));
  const index = new api.FlatIndex({ d, metric: 'ip' });
  index.add(x);
  const t0 = performance.now();
  const want = index.search(q, 10, { exclude: Array.from({ length: nq }, (_, i) => Int32Array.of(i, i + 1)) });
  const mainMs = performance.now() - t0;
  const pool = await api.WorkerPool.create({ threads: 2, build });
  if (pool.shared !== sharedMemory) throw new Error(`pool.shared is ${pool.shared}, expected ${sharedMemory}`);
  const shared = await pool.share(index);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t1 = performance.now();
  const got = await shared.search(q, 10, { exclude: Array.from({ length: nq }, (_, i) => Int32Array.of(i, i + 1)) });
  const poolMs = performance.now() - t1;
  clearInterval(timer);
  // k-means training in a worker while the page's timer runs; then the same training here for comparison
  let trainTicks = 0;
  let progress = 0;
  const timer2 = setInterval(() => trainTicks++, 5);
  const t2 = performance.now();
  const { trained } = await pool.train('KMeans', { d, k: 64, iterations: 15, seed: 3 }, x, { onProgress: () => progress++ });
  const trainMs = performance.now() - t2;
  clearInterval(timer2);
  const km = new api.KMeans({ d, k: 64, iterations: 15, seed: 3 });
  km.train(x);
  const sameCentroids = km.centroids.every((v, i) => Object.is(v, trained.centroids[i]));
  // k-means split across the pool's workers (shared memory: k-means++ rounds through Atomics.waitAsync)
  const split = await pool.kmeans({ d, k: 64, iterations: 15, seed: 3 }, x);
  const samePooledKmeans = km.centroids.every((v, i) => Object.is(v, split.trained.centroids[i]));
  split.trained.dispose();
  // indexes trained with their k-means and PQ runs on the workers (an RQ index: each level's k-means there, the beam
  // search of the sample here), then filled with add()'s encoding there: the bytes of the same calls on this thread
  const sameSaved = (p, q) => {
    const [a, b] = [p.save(), q.save()];
    return a.length === b.length && a.every((v, i) => v === b[i]);
  };
  const trainedBothWays = async (Cls, opts) => {
    const here = new Cls(opts);
    here.train(x);
    const there = new Cls(opts);
    await pool.trainIndex(there, x);
    return [here, there];
  };
  const [ivfHere, ivfPool] = await trainedBothWays(api.IVFPQIndex, { d, nlist: 32, m: 8, nbits: 6, seed: 4 });
  const sameTrainIndex = sameSaved(ivfHere, ivfPool);
  ivfHere.add(x);
  await pool.add(ivfPool, x);
  const samePooledAdd = sameSaved(ivfHere, ivfPool);
  const [rqHere, rqPool] = await trainedBothWays(api.RQIndex, { d, levels: 2, nbits: 6, beamSize: 2, seed: 5 });
  const sameTrainRQ = sameSaved(rqHere, rqPool);
  rqHere.dispose();
  rqPool.dispose();
  ivfHere.dispose();
  ivfPool.dispose();
  km.dispose();
  trained.dispose();
  pool.terminate();
  index.dispose();
  const same = want.ids.every((v, i) => v === got.ids[i]) && want.distances.every((v, i) => Object.is(v, got.distances[i]));
  return { build, isolated: globalThis.crossOriginIsolated === true, sab: typeof SharedArrayBuffer === 'function', shared: pool.shared, sharedWords: pool.sharedWords, workerBuild: pool.build, threads: pool.threads, same, ticks, mainMs, poolMs, trainTicks, trainMs, progress, sameCentroids, samePooledKmeans, sameTrainIndex, samePooledAdd, sameTrainRQ };
}

run().then(
  (res) => {
    document.getElementById('status').textContent = JSON.stringify(res);
    window.__result = res;
  },
  (e) => {
    window.__result = { error: String(e && e.message ? e.message : e), code: e && e.code };
  },
);
