// bench/pool-browser.js's page: WorkerPool's speed-ups over the page's own thread, measured in the browser, on the
// data the driver serves at /bench-data/ (the synthetic 100k x 64 set of bench/pool.js). ?mode=shared: the threads
// build, the workers on the page's shared memory; ?mode=private: the single-thread build, a memory per worker (the page is
// cross-origin isolated, so they still share words); ?mode=message with ?isolated=0: a page served without the
// isolation headers, so no SharedArrayBuffer: the pool exchanges everything by message (what most sites get).
// k-means rows: KMeans.train on this thread, pool.kmeans, and two copy workers (copy.js) each training alone at once
// (the ceiling), interleaved, medians; search rows: index.search against pool.share(index).search, interleaved after
// untimed rounds, medians. Every pooled result is checked against this thread's (same bytes / same ids and distances).
import * as api from '/dist/index.js';

const params = new URLSearchParams(location.search);
const mode = params.get('mode') ?? 'private';
const KM_ROUNDS = Number(params.get('kmRounds') ?? 5);
const SEARCH_ROUNDS = 5;
const WARM = 4;
const K = 10;
const log = (m) => console.log(`[page ${mode}] ${m}`);
const median = (a) => a.slice().sort((u, v) => u - v)[a.length >> 1];

async function f32(name) {
  const r = await fetch(`/bench-data/${name}`);
  if (!r.ok) throw new Error(`/bench-data/${name}: ${r.status}`);
  return new Float32Array(await r.arrayBuffer());
}

/** Two copy workers, each with its own engine and copy of the points. */
async function copies(x, build) {
  const ws = [0, 1].map(() => new Worker(new URL('./copy.js', import.meta.url), { type: 'module' }));
  const ask = (w, m) => new Promise((res, rej) => {
    w.onmessage = (e) => (e.data.ok ? res(e.data) : rej(new Error(e.data.error)));
    w.postMessage(m);
  });
  await Promise.all(ws.map((w) => ask(w, { op: 'load', x, build })));
  return {
    go: async (opts) => Math.max(...(await Promise.all(ws.map((w) => ask(w, { op: 'go', opts })))).map((r) => r.seconds)),
    close: () => ws.forEach((w) => w.terminate()),
  };
}

async function run() {
  const { build } = await api.init({ threads: mode === 'shared' });
  const [train, base, q] = await Promise.all([f32('train.f32'), f32('base.f32'), f32('query.f32')]);
  const d = 64;
  const nq = 2000;
  const queries = new Float32Array(nq * d);
  for (let i = 0; i < queries.length; i++) queries[i] = q[i % q.length];
  const pool = await api.WorkerPool.create({ threads: 2, shared: mode === 'shared' });
  const out = {
    mode, build, isolated: globalThis.crossOriginIsolated === true, sab: typeof SharedArrayBuffer === 'function',
    shared: pool.shared, threads: pool.threads, cores: navigator.hardwareConcurrency, kmeans: [], search: [],
  };
  const cp = await copies(base, build);
  try {
    for (const [k, iterations] of [[1024, 10], [256, 20]]) {
      const opts = { d, k, iterations, seed: 1 };
      log(`KMeans k = ${k}`);
      const t = { single: [], pool: [], copies: [] };
      // where the time goes: until the first iteration's progress (sampling, seeding, starting the workers, the
      // first full step), and the iterations after it
      const phases = { single: [[], []], pool: [[], []] };
      // stamped(kind): a run's clock; done() records its phases and gives its seconds
      const stamped = (kind) => {
        const t0 = performance.now();
        let first = -1;
        let last = 0;
        return {
          onProgress: () => {
            last = performance.now();
            if (first < 0) first = last;
          },
          done: () => {
            phases[kind][0].push((first - t0) / 1000);
            phases[kind][1].push((last - first) / 1000);
            return (performance.now() - t0) / 1000;
          },
        };
      };
      let same = true;
      for (let r = 0; r < KM_ROUNDS; r++) {
        let st = stamped('single');
        const km = new api.KMeans({ ...opts, onProgress: st.onProgress });
        km.train(base);
        t.single.push(st.done());
        st = stamped('pool');
        const { trained } = await pool.kmeans({ ...opts, onProgress: st.onProgress }, base);
        t.pool.push(st.done());
        same &&= km.centroids.every((v, i) => Object.is(v, trained.centroids[i]));
        km.dispose();
        trained.dispose();
        t.copies.push(await cp.go(opts));
      }
      out.kmeans.push({
        label: `KMeans k = ${k}, ${iterations} iterations, n = 100000`, same, single: median(t.single), pool: median(t.pool), copies: median(t.copies), all: t,
        phases: Object.fromEntries(Object.entries(phases).map(([kind, [a, b]]) => [kind, [median(a), median(b)]])),
      });
    }
  } finally {
    cp.close();
  }
  for (const [label, make, opts] of [
    ['FlatIndex ip (exact)', () => new api.FlatIndex({ d, metric: 'ip' }), {}],
    ['PQIndex 16x8 l2', () => new api.PQIndex({ d, m: 16, seed: 1 }), {}],
    ['IVFPQIndex 1024, 16x8, nprobe 16', () => new api.IVFPQIndex({ d, nlist: 1024, m: 16, seed: 1 }), { nprobe: 16 }],
  ]) {
    log(label);
    const index = make();
    if (index.train) index.train(train);
    index.add(base);
    const view = await pool.share(index);
    const t = { single: [], pool: [] };
    let same = true;
    for (let r = 0; r < WARM + SEARCH_ROUNDS; r++) {
      let t0 = performance.now();
      const want = index.search(queries, K, opts);
      const single = (performance.now() - t0) / 1000;
      t0 = performance.now();
      const got = await view.search(queries, K, opts);
      const pooled = (performance.now() - t0) / 1000;
      same &&= want.ids.every((v, i) => v === got.ids[i]) && want.distances.every((v, i) => Object.is(v, got.distances[i]));
      if (r >= WARM) {
        t.single.push(single);
        t.pool.push(pooled);
      }
    }
    view.release();
    index.dispose();
    out.search.push({ label, same, single: median(t.single), pool: median(t.pool), all: t });
  }
  pool.terminate();
  return out;
}

run().then(
  (res) => {
    document.getElementById('status').textContent = 'done';
    window.__result = res;
  },
  (e) => {
    window.__result = { error: String(e && e.message ? e.message : e), code: e && e.code };
  },
);
