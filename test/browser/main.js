// Loads the built package the way an application would (a plain ES module import from the server), runs the fixed
// workload of scenario.js and publishes the outcome as window.__result for the test runner to read.
//
// ?source= chooses how the module reaches init():
//   default   init() with no options: the loader picks the build and fetches dist/vqwasm-<build>.wasm itself
//   url       a URL object for the plain SIMD build (so the browser also runs that build)
//   string    a path string for the relaxed build
//   response  a promise of a fetch() Response for the relaxed build
//   octet     a Response served as application/octet-stream: compileStreaming refuses it, the buffered path is used
//   bytes     an ArrayBuffer of the plain SIMD build
//   missing   a URL that answers 404: init() must reject with VQError code 'WASM_LOAD'
//   badworker init() as default, then a WorkerPool whose workerUrl answers 404: it must reject naming that URL
import { runFastScan, runSearch, runKMeans, SEARCH_CASE } from './scenario.js';

const source = new URLSearchParams(location.search).get('source') || 'default';

async function wasmOption(name) {
  switch (name) {
    case 'default':
      return undefined;
    case 'url':
      return new URL('/dist/vqwasm-simd.wasm', location.href);
    case 'string':
      return '/dist/vqwasm-relaxed.wasm';
    case 'response':
      return fetch('/dist/vqwasm-relaxed.wasm');
    case 'octet':
      return await fetch('/dist/vqwasm-simd.wasm?mime=octet-stream');
    case 'bytes':
      return await (await fetch('/dist/vqwasm-simd.wasm')).arrayBuffer();
    case 'missing':
      return '/dist/does-not-exist.wasm';
    case 'badworker':
      return undefined;
    default:
      throw new Error(`unknown source ${JSON.stringify(name)}`);
  }
}

function show(result) {
  const status = document.getElementById('status');
  if (result.error) {
    status.className = 'error';
    status.textContent = `source=${source}: ${result.code ? result.code + ': ' : ''}${result.error}`;
  } else {
    status.className = 'ok';
    status.textContent = `source=${source}: ok, build ${result.build} (relaxed SIMD supported: ${result.relaxedSimdSupported}) in ${result.ms.toFixed(1)} ms`;
  }
  const lines = [];
  if (result.search) {
    for (const metric of Object.keys(result.search)) {
      const { ids, distances } = result.search[metric];
      const k = SEARCH_CASE.k;
      lines.push(`FlatIndex ${metric}: ids (distances) per query`);
      for (let q = 0; q * k < ids.length; q++) {
        const row = [];
        for (let r = q * k; r < (q + 1) * k; r++) row.push(`${ids[r]} (${distances[r]})`);
        lines.push(`  q${q}: ${row.join('  ')}`);
      }
    }
  }
  if (result.kmeans) {
    lines.push(`KMeans cluster sizes: ${result.kmeans.clusterSizes.join(' ')}`);
    lines.push(`KMeans labels: ${result.kmeans.labels.join('')}`);
  }
  if (result.fastScan) lines.push(`PQIndex 4-bit fast-scan l2 ids: ${result.fastScan.l2.ids.join(' ')}`);
  if (result.error) lines.push(JSON.stringify(result, null, 1));
  document.getElementById('out').textContent = lines.join('\n');
}

async function main() {
  const t0 = performance.now();
  let api;
  try {
    api = await import('/dist/index.js');
  } catch (e) {
    return { source, error: `importing /dist/index.js failed: ${e && e.message ? e.message : String(e)}` };
  }
  try {
    const wasm = await wasmOption(source);
    const info = await api.init(wasm === undefined ? undefined : { wasm });
    const again = await api.init();
    if (again !== info && JSON.stringify(again) !== JSON.stringify(info)) throw new Error('a second init() returned another engine');
    if (source === 'badworker') await api.WorkerPool.create({ threads: 1, workerUrl: '/dist/parallel/no-such-worker.js' });
    const search = runSearch(api);
    const kmeans = runKMeans(api);
    const fastScan = runFastScan(api);
    return {
      source,
      build: info.build,
      relaxedSimdSupported: info.relaxedSimdSupported,
      ids: search.l2.ids,
      distances: search.l2.distances,
      search,
      kmeans,
      fastScan,
      ms: performance.now() - t0,
    };
  } catch (e) {
    return {
      source,
      error: e && e.message ? e.message : String(e),
      code: e && typeof e.code === 'string' ? e.code : undefined,
      name: e && e.name,
      isVQError: !!(api && api.VQError && e instanceof api.VQError),
    };
  }
}

main().then((result) => {
  window.__result = result;
  show(result);
});
