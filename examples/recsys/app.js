// The recommendation demo: MovieLens item vectors (d = 32) compressed to 16 bytes each (PQ 32 x 4-bit, fast-scan),
// trained and searched in a Web Worker (WorkerPool), next to exact search on the page. window.__demo exposes what the
// end-to-end test reads: readiness, timings, the lists shown, and how many timer ticks the page saw during training.
import * as vq from '../../dist/index.js';

const $ = (id) => document.getElementById(id);
const K = 10;
const START = ['Matrix, The (1999)', 'Toy Story (1995)', 'Lord of the Rings: The Fellowship of the Ring, The (2001)'];

const demo = { ready: false, firstRecsMs: null, trainTicks: 0, recs: [], exact: [], liked: [], searches: 0 };
window.__demo = demo;

function parseFvecs(buf) {
  const view = new DataView(buf);
  const d = view.getInt32(0, true);
  const n = buf.byteLength / (4 * (d + 1));
  if (!Number.isInteger(n)) throw new Error(`items.fvecs: ${buf.byteLength} bytes is not a whole number of rows of d = ${d}`);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) x.set(new Float32Array(buf, 4 * (i * (d + 1) + 1), d), i * d);
  return { x, n, d };
}

function parseTitles(tsv) {
  const titles = [];
  for (const line of tsv.split('\n').slice(1)) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    titles[Number(line.slice(0, tab))] = line.slice(tab + 1);
  }
  return titles;
}

/**
 * Pads the catalogue to `want` items for timing the demo at other sizes (bench/demoweb.js): item n + j is movie j % n
 * plus Gaussian noise of a tenth of that movie's own spread per component (seeded, so every load is the same),
 * titled as a variant of it. want <= n: the catalogue as it is.
 */
function padCatalogue({ x, n, d }, titles, want) {
  if (!(want > n)) return { x, n, d };
  const out = new Float32Array(want * d);
  out.set(x);
  let s = 12345;
  const unit = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 0.5) / 4294967296;
  for (let i = n; i < want; i++) {
    const src = (i - n) % n;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[src * d + j] ** 2;
    const sigma = 0.1 * Math.sqrt(ss / d);
    for (let j = 0; j < d; j++) {
      const g = Math.sqrt(-2 * Math.log(unit())) * Math.cos(2 * Math.PI * unit()); // Box-Muller
      out[i * d + j] = x[src * d + j] + sigma * g;
    }
    titles[i] = `${titles[src] ?? `movie ${src}`} (variant ${Math.floor((i - n) / n) + 1})`;
  }
  return { x: out, n: want, d };
}

async function main() {
  const data = Promise.all([fetch('./data/items.fvecs').then((r) => r.arrayBuffer()), fetch('./data/movies.tsv').then((r) => r.text())]);
  const info = await vq.init();
  // the workers start while the data downloads
  const [pool, [buf, tsv]] = await Promise.all([vq.WorkerPool.create({ threads: Math.min(2, navigator.hardwareConcurrency || 1), build: info.build }), data]);
  const real = parseFvecs(buf);
  const titles = parseTitles(tsv);
  // ?items=N (N above the 6,568 movies): a larger catalogue, padded with variants of the movies (see padCatalogue)
  const { x, n, d } = padCatalogue(real, titles, Number(new URLSearchParams(location.search).get('items')) || 0);

  // exact search on the page: the reference list
  const exact = new vq.FlatIndex({ d, metric: 'ip' });
  exact.add(x);

  // the compressed index: trained in a worker of its own while the page stays live, then shared with the pool
  const ticker = setInterval(() => demo.trainTicks++, 4);
  const t0 = performance.now();
  const { trained } = await pool.train('PQIndex', { d, m: 32, nbits: 4, metric: 'ip', seed: 1 }, x, { add: true });
  const trainMs = performance.now() - t0;
  clearInterval(ticker);
  const bytes = trained.size * trained.bytesPerVector + trained.quantizer.centroids.byteLength;
  const shared = await pool.share(trained);
  trained.dispose();

  const liked = new Set(START.map((t) => titles.indexOf(t)).filter((i) => i >= 0));

  async function recommend() {
    const ids = [...liked];
    const u = new Float32Array(d);
    for (const i of ids) for (let j = 0; j < d; j++) u[j] += x[i * d + j] / ids.length;
    const exclude = [Int32Array.from(ids)];
    const t = performance.now();
    const r = ids.length ? await shared.search(u, K, { exclude }) : { ids: new Int32Array(0) };
    const ms = performance.now() - t;
    const e = ids.length ? exact.search(u, K, { exclude }) : { ids: new Int32Array(0) };
    demo.recs = Array.from(r.ids).filter((i) => i >= 0);
    demo.exact = Array.from(e.ids).filter((i) => i >= 0);
    demo.liked = ids;
    demo.searches++;
    const inExact = new Set(demo.exact);
    $('recs').innerHTML = '';
    for (const i of demo.recs) {
      const li = document.createElement('li');
      li.textContent = titles[i];
      li.className = inExact.has(i) ? 'hit' : 'miss';
      $('recs').append(li);
    }
    $('exact').innerHTML = '';
    for (const i of demo.exact) {
      const li = document.createElement('li');
      li.textContent = titles[i];
      $('exact').append(li);
    }
    const overlap = demo.recs.filter((i) => inExact.has(i)).length;
    $('stats').textContent =
      `${n} movies, d = ${d}. Float vectors: ${((n * d * 4) / 1024).toFixed(0)} KB; compressed index: ${(bytes / 1024).toFixed(0)} KB ` +
      `(16 B a movie + codebook). Trained in a worker in ${trainMs.toFixed(0)} ms; last search ${ms.toFixed(1)} ms; ` +
      `${overlap} of ${K} also in the exact top ${K}. Engine: ${info.build}.`;
    if (demo.firstRecsMs === null) demo.firstRecsMs = performance.now();
  }

  function renderLiked() {
    $('liked').innerHTML = '';
    for (const i of liked) {
      const li = document.createElement('li');
      li.textContent = titles[i];
      const b = document.createElement('button');
      b.textContent = 'remove';
      b.onclick = () => {
        liked.delete(i);
        renderLiked();
        recommend();
      };
      li.append(b);
      $('liked').append(li);
    }
  }

  function renderMatches() {
    const q = $('query').value.trim().toLowerCase();
    $('matches').innerHTML = '';
    if (q.length < 2) return;
    let shown = 0;
    for (let i = 0; i < titles.length && shown < 8; i++) {
      if (!titles[i] || !titles[i].toLowerCase().includes(q) || liked.has(i)) continue;
      const li = document.createElement('li');
      li.textContent = titles[i];
      const b = document.createElement('button');
      b.textContent = 'like';
      b.dataset.row = String(i);
      b.onclick = () => {
        liked.add(i);
        renderLiked();
        renderMatches();
        recommend();
      };
      li.append(b);
      $('matches').append(li);
      shown++;
    }
  }

  $('query').addEventListener('input', renderMatches);
  renderLiked();
  await recommend();
  demo.ready = true;
}

main().catch((e) => {
  $('stats').textContent = `failed: ${e && e.message ? e.message : e}`;
  demo.error = String(e && e.stack ? e.stack : e);
});
