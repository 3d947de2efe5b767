// bench/pool-browser.js's ceiling: a module Web Worker with an engine of its own that runs one KMeans.train on the
// points it is sent each time it is told to go; two of them at once show what the page's two cores give this work
// with no pool in between. { op: 'load', x, build } once, then { op: 'go', opts } -> { seconds } (its own clock).
import * as api from '/dist/index.js';

let x = null;
self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.op === 'load') {
      await api.init({ build: m.build });
      x = m.x;
      self.postMessage({ ok: true });
      return;
    }
    const t0 = performance.now();
    const km = new api.KMeans(m.opts);
    km.train(x);
    km.dispose();
    self.postMessage({ ok: true, seconds: (performance.now() - t0) / 1000 });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err && err.message ? err.message : err) });
  }
};
