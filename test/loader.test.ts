// The load paths of the engine, in Node: every kind of `wasm` source, the errors, the cached init(), and the browser
// path (fetch + compileStreaming) run inside Node with the Node globals hidden.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// Wrap node:fs/promises so that the tests can tell whether the loader went to the disk. vi.mock applies to this
// file's whole module graph, the loader's dynamic import('node:fs/promises') included.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const readFile = vi.fn(actual.readFile);
  return { ...actual, readFile, default: { ...actual, readFile } };
});

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { init, FlatIndex, VQError } from '../dist/index.js';
import { loadEngine } from '../dist/wasm/engine.js';
import { intMatrix, runSearch, searchData, SEARCH_CASE } from './browser/scenario.js';
import { startStaticServer, type StaticServer } from './helpers/server.js';

const SIMD_URL = new URL('../dist/vqwasm-simd.wasm', import.meta.url);
const RELAXED_URL = new URL('../dist/vqwasm-relaxed.wasm', import.meta.url);
const WASM_TYPE = { 'content-type': 'application/wasm' };

const readFileSpy = vi.mocked(readFile);

let simdBytes: Uint8Array<ArrayBuffer>;
let relaxedBytes: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  simdBytes = new Uint8Array(await readFile(SIMD_URL));
  relaxedBytes = new Uint8Array(await readFile(RELAXED_URL));
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  readFileSpy.mockClear();
});

interface RawAbi {
  memory: WebAssembly.Memory;
  buildFlavor(): number;
  alloc(bytes: number): number;
  free(ptr: number): number;
  heapLiveBlocks(): number;
  l2sqOneToMany(xPtr: number, yPtr: number, n: number, d: number, outPtr: number): void;
  normsSq(xPtr: number, n: number, d: number, outPtr: number): void;
}

/** Uses a freshly loaded instance directly: one-to-many L2 distances and squared norms on integers must be exact. */
function checkInstanceWorks(exports: WebAssembly.Exports): void {
  const abi = exports as unknown as RawAbi;
  expect(abi.memory).toBeInstanceOf(WebAssembly.Memory);
  expect(typeof abi.alloc).toBe('function');
  const d = 23;
  const n = 5;
  const x = intMatrix(1, d, 1);
  const y = intMatrix(n, d, 2);
  const blocks = abi.heapLiveBlocks();
  const px = abi.alloc(x.byteLength) >>> 0;
  const py = abi.alloc(y.byteLength) >>> 0;
  const po = abi.alloc(n * 4) >>> 0;
  expect(px).not.toBe(0);
  expect(py).not.toBe(0);
  expect(po).not.toBe(0);
  expect(abi.heapLiveBlocks()).toBe(blocks + 3);
  new Float32Array(abi.memory.buffer, px, x.length).set(x);
  new Float32Array(abi.memory.buffer, py, y.length).set(y);
  const wantL2: number[] = [];
  const wantNorm: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    let p = 0;
    for (let j = 0; j < d; j++) {
      s += (x[j] - y[i * d + j]) ** 2;
      p += y[i * d + j] ** 2;
    }
    wantL2.push(s);
    wantNorm.push(p);
  }
  abi.l2sqOneToMany(px, py, n, d, po);
  expect(Array.from(new Float32Array(abi.memory.buffer, po, n))).toEqual(wantL2);
  abi.normsSq(py, n, d, po);
  expect(Array.from(new Float32Array(abi.memory.buffer, po, n))).toEqual(wantNorm);
  abi.free(px);
  abi.free(py);
  abi.free(po);
  expect(abi.heapLiveBlocks()).toBe(blocks);
}

/** The build an instance says it is, from the module itself. */
function flavor(exports: WebAssembly.Exports): 'simd' | 'relaxed' {
  return (exports as unknown as RawAbi).buildFlavor() === 1 ? 'relaxed' : 'simd';
}

async function expectVQError(p: Promise<unknown>, code: string, ErrorClass: typeof VQError = VQError): Promise<VQError> {
  const err = await p.then(
    () => {
      throw new Error(`expected a VQError with code '${code}', but the promise resolved`);
    },
    (e: unknown) => e,
  );
  // a copy of the module loaded after vi.resetModules() has its own VQError class
  expect(err).toBeInstanceOf(ErrorClass);
  expect((err as VQError).code).toBe(code);
  expect((err as VQError).message.length).toBeGreaterThan(10);
  return err as VQError;
}

// ---------------------------------------------------------------------------------------------------------------------

describe('init()', () => {
  it('loads once: a second call and concurrent calls give the same engine', async () => {
    const [a, b] = await Promise.all([init(), init()]);
    expect(a).toBe(b);
    const c = await init();
    expect(c).toBe(a);
    expect(['simd', 'relaxed']).toContain(a.build);
    expect(typeof a.relaxedSimdSupported).toBe('boolean');
    // Node 20 refuses relaxed SIMD without a flag; wherever it is accepted, 'auto' must take it
    expect(a.build).toBe(a.relaxedSimdSupported ? 'relaxed' : 'simd');
    console.log(`node ${process.version}: init() picked build '${a.build}' (relaxed SIMD supported: ${a.relaxedSimdSupported})`);
  });

  it('concurrent first calls on a fresh copy of the module share one load', async () => {
    vi.resetModules();
    const fresh = (await import('../dist/index.js')) as typeof import('../dist/index.js');
    readFileSpy.mockClear();
    const p1 = fresh.init();
    const p2 = fresh.init();
    const [a, b] = await Promise.all([p1, p2]);
    expect(a).toBe(b);
    expect(await fresh.init()).toBe(a);
    // one load, one read of the .wasm
    expect(readFileSpy).toHaveBeenCalledTimes(1);
  });

  it('a failed first load is not cached: init() can be retried', async () => {
    vi.resetModules();
    const fresh = (await import('../dist/index.js')) as typeof import('../dist/index.js');
    const spy = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    await expectVQError(fresh.init(), 'NO_SIMD', fresh.VQError);
    expect(spy).toHaveBeenCalled();
    spy.mockRestore();
    const info = await fresh.init();
    expect(['simd', 'relaxed']).toContain(info.build);
  });

  it('FlatIndex after init() returns the brute-force neighbours on integer data (l2 and ip)', async () => {
    await init();
    const c = SEARCH_CASE;
    const { base, queries, ids } = searchData(c);
    const got = runSearch({ FlatIndex });
    for (const metric of ['l2', 'ip'] as const) {
      for (let q = 0; q < c.nq; q++) {
        // exact scores of every base vector for this query
        const scores: number[] = [];
        for (let i = 0; i < c.n; i++) {
          let s = 0;
          for (let j = 0; j < c.d; j++) {
            const a = queries[q * c.d + j];
            const b = base[i * c.d + j];
            s += metric === 'l2' ? (a - b) ** 2 : a * b;
          }
          scores.push(s);
        }
        const sorted = [...scores].sort((u, v) => (metric === 'l2' ? u - v : v - u));
        const rowIds = got[metric].ids.slice(q * c.k, (q + 1) * c.k);
        const rowDist = got[metric].distances.slice(q * c.k, (q + 1) * c.k);
        // the k best scores, exactly, best first ...
        expect(rowDist).toEqual(sorted.slice(0, c.k));
        // ... each reported with the id of a vector that has that score (ties may come in any order), no repeats
        expect(new Set(rowIds).size).toBe(c.k);
        for (let r = 0; r < c.k; r++) {
          const row = (rowIds[r] - c.idBase) / c.idStep;
          expect(Number.isInteger(row) && row >= 0 && row < c.n).toBe(true);
          expect(ids[row]).toBe(rowIds[r]);
          expect(scores[row]).toBe(rowDist[r]);
        }
      }
    }
  });
});

describe('loadEngine() sources', () => {
  it('default: the build chosen for this runtime, read from dist/ with node:fs', async () => {
    const { exports, info } = await loadEngine();
    expect(info.build).toBe(info.relaxedSimdSupported ? 'relaxed' : 'simd');
    expect(flavor(exports)).toBe(info.build);
    expect(readFileSpy).toHaveBeenCalled();
    checkInstanceWorks(exports);
  });

  it("build: 'simd' forces the plain SIMD build", async () => {
    const { exports, info } = await loadEngine({ build: 'simd' });
    expect(info.build).toBe('simd');
    expect(flavor(exports)).toBe('simd');
    checkInstanceWorks(exports);
  });

  it("build: 'relaxed' loads the relaxed build where supported, else rejects with NO_SIMD", async () => {
    const probe = await loadEngine();
    if (probe.info.relaxedSimdSupported) {
      const { exports, info } = await loadEngine({ build: 'relaxed' });
      expect(info.build).toBe('relaxed');
      checkInstanceWorks(exports);
    } else {
      await expectVQError(loadEngine({ build: 'relaxed' }), 'NO_SIMD');
    }
  });

  it('a file: URL', async () => {
    const { exports, info } = await loadEngine({ wasm: SIMD_URL });
    expect(info.build).toBe('simd');
    expect(readFileSpy).toHaveBeenCalledTimes(1);
    checkInstanceWorks(exports);
  });

  it('a file: URL as a string', async () => {
    const { exports, info } = await loadEngine({ wasm: SIMD_URL.href });
    expect(info.build).toBe('simd');
    expect(readFileSpy).toHaveBeenCalledTimes(1);
    checkInstanceWorks(exports);
  });

  it('an absolute path string', async () => {
    const { exports, info } = await loadEngine({ wasm: fileURLToPath(SIMD_URL) });
    expect(info.build).toBe('simd');
    expect(readFileSpy).toHaveBeenCalledTimes(1);
    checkInstanceWorks(exports);
  });

  it('an ArrayBuffer', async () => {
    const ab = simdBytes.buffer.slice(simdBytes.byteOffset, simdBytes.byteOffset + simdBytes.byteLength);
    const { exports, info } = await loadEngine({ wasm: ab });
    expect(info.build).toBe('simd');
    expect(readFileSpy).not.toHaveBeenCalled();
    checkInstanceWorks(exports);
  });

  it('a Uint8Array, also a view into the middle of a larger buffer', async () => {
    const plain = await loadEngine({ wasm: simdBytes });
    checkInstanceWorks(plain.exports);
    const big = new Uint8Array(simdBytes.length + 100);
    big.set(simdBytes, 37);
    const view = new Uint8Array(big.buffer, 37, simdBytes.length);
    const { exports, info } = await loadEngine({ wasm: view });
    expect(info.build).toBe('simd');
    checkInstanceWorks(exports);
    // the caller's bytes are left alone
    expect(view).toEqual(simdBytes);
  });

  it('a precompiled WebAssembly.Module', async () => {
    const module = await WebAssembly.compile(simdBytes);
    const a = await loadEngine({ wasm: module });
    const b = await loadEngine({ wasm: module });
    expect(a.info.build).toBe('simd');
    // one module, two independent instances
    expect(a.exports.memory).not.toBe(b.exports.memory);
    checkInstanceWorks(a.exports);
    checkInstanceWorks(b.exports);
  });

  it('a Response with content-type application/wasm (compileStreaming)', async () => {
    const streaming = vi.spyOn(WebAssembly, 'compileStreaming');
    const { exports, info } = await loadEngine({ wasm: new Response(simdBytes, { headers: WASM_TYPE }) });
    expect(info.build).toBe('simd');
    expect(streaming).toHaveBeenCalledTimes(1);
    checkInstanceWorks(exports);
  });

  it('a promise of a Response', async () => {
    const { exports, info } = await loadEngine({ wasm: Promise.resolve(new Response(simdBytes, { headers: WASM_TYPE })) });
    expect(info.build).toBe('simd');
    checkInstanceWorks(exports);
  });

  it('a Response with the wrong content-type falls back to arrayBuffer() + compile', async () => {
    const compile = vi.spyOn(WebAssembly, 'compile');
    const res = new Response(simdBytes, { headers: { 'content-type': 'application/octet-stream' } });
    const { exports, info } = await loadEngine({ wasm: res });
    expect(info.build).toBe('simd');
    expect(compile).toHaveBeenCalled();
    expect(res.bodyUsed).toBe(true);
    checkInstanceWorks(exports);
  });

  it('a Response with no content-type at all', async () => {
    const res = new Response(new Blob([simdBytes]));
    res.headers.delete('content-type');
    const { exports } = await loadEngine({ wasm: res });
    checkInstanceWorks(exports);
  });

  it('a module of the other build still says which one it is', async () => {
    const probe = await loadEngine();
    if (!probe.info.relaxedSimdSupported) {
      // this runtime cannot compile the relaxed build: that is a load error, not a crash
      await expectVQError(loadEngine({ wasm: relaxedBytes }), 'WASM_LOAD');
      return;
    }
    const { exports, info } = await loadEngine({ wasm: relaxedBytes, build: 'auto' });
    expect(info.build).toBe('relaxed');
    checkInstanceWorks(exports);
  });
});

describe('loadEngine() over HTTP from Node (real fetch, local server)', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await startStaticServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('an http: URL string is fetched, not read from disk', async () => {
    const { exports, info } = await loadEngine({ wasm: `${server.url}/dist/vqwasm-simd.wasm` });
    expect(info.build).toBe('simd');
    expect(readFileSpy).not.toHaveBeenCalled();
    expect(server.requests).toContain('/dist/vqwasm-simd.wasm');
    checkInstanceWorks(exports);
  });

  it('an http: URL served as application/octet-stream takes the buffered path', async () => {
    const { exports } = await loadEngine({ wasm: new URL(`${server.url}/dist/vqwasm-simd.wasm?mime=octet-stream`) });
    checkInstanceWorks(exports);
  });

  it('an HTTP 404 rejects with WASM_LOAD', async () => {
    const err = await expectVQError(loadEngine({ wasm: `${server.url}/dist/nope.wasm` }), 'WASM_LOAD');
    expect(err.message).toMatch(/404/);
  });
});

describe('loadEngine() errors', () => {
  it('garbage bytes reject with WASM_LOAD', async () => {
    await expectVQError(loadEngine({ wasm: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }), 'WASM_LOAD');
    await expectVQError(loadEngine({ wasm: new ArrayBuffer(0) }), 'WASM_LOAD');
    // a truncated module
    await expectVQError(loadEngine({ wasm: simdBytes.subarray(0, simdBytes.length >> 1) }), 'WASM_LOAD');
  });

  it('a valid module that is not vqwasm rejects with WASM_LOAD', async () => {
    const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    const err = await expectVQError(loadEngine({ wasm: empty }), 'WASM_LOAD');
    expect(err.message).toMatch(/missing exports/);
  });

  it('garbage in a Response rejects with WASM_LOAD', async () => {
    await expectVQError(loadEngine({ wasm: new Response(new Uint8Array([0, 1, 2, 3]), { headers: WASM_TYPE }) }), 'WASM_LOAD');
    await expectVQError(loadEngine({ wasm: new Response('not wasm', { status: 200 }) }), 'WASM_LOAD');
  });

  it('a missing file rejects with WASM_LOAD (file: URL and path)', async () => {
    const missing = new URL('../dist/does-not-exist.wasm', import.meta.url);
    await expectVQError(loadEngine({ wasm: missing }), 'WASM_LOAD');
    await expectVQError(loadEngine({ wasm: fileURLToPath(missing) }), 'WASM_LOAD');
  });

  it('an unsupported source type or option is refused, not loaded', async () => {
    await expect(loadEngine({ wasm: 42 as never })).rejects.toMatchObject({ code: 'INVALID_TYPE' });
    await expect(loadEngine({ build: 'fast' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('a runtime without WebAssembly SIMD rejects with NO_SIMD', async () => {
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    const err = await expectVQError(loadEngine(), 'NO_SIMD');
    expect(validate).toHaveBeenCalled();
    expect(err.message).toMatch(/SIMD/);
    // whatever the source
    await expectVQError(loadEngine({ wasm: simdBytes }), 'NO_SIMD');
    validate.mockRestore();
    // and it is the probe that decided: with validate back, the same call works
    checkInstanceWorks((await loadEngine({ wasm: simdBytes })).exports);
  });
});

describe('the browser load path, inside Node', () => {
  /** A fetch() that serves dist/*.wasm as a static server would, and records what was asked for. */
  function fakeFetch(contentType = 'application/wasm') {
    const requested: string[] = [];
    const files = new Map([
      [SIMD_URL.href, simdBytes],
      [RELAXED_URL.href, relaxedBytes],
    ]);
    const fn = vi.fn(async (input: RequestInfo | URL): Promise<Response> => {
      const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      requested.push(href);
      const bytes = files.get(href);
      if (!bytes) return new Response('not found', { status: 404, statusText: 'Not Found' });
      return new Response(bytes.slice(), { status: 200, headers: { 'content-type': contentType } });
    });
    return { fn, requested };
  }

  /**
   * Runs `body` with Node's identity hidden (so the loader believes it is in a browser) and `fetch` replaced. The
   * loader knows Node only by `process.versions.node`, so `process` is replaced by a view without it (what browser
   * bundles' process shims look like). Removing `process` altogether would also pull it from under the test runner,
   * whose RPC calls process.nextTick while the body awaits (seen as a flaky "Cannot set properties of undefined").
   */
  async function asBrowser<T>(fetchImpl: typeof fetch, body: () => Promise<T>): Promise<T> {
    const real = process;
    const versions = { ...real.versions, node: undefined };
    const disguised = new Proxy(real, { get: (target, key) => (key === 'versions' ? versions : Reflect.get(target, key, target)) });
    vi.stubGlobal('fetch', fetchImpl);
    vi.stubGlobal('process', disguised);
    try {
      return await body();
    } finally {
      vi.unstubAllGlobals();
    }
  }

  it('loadEngine() with no options fetches dist/vqwasm-simd.wasm and never touches node:fs', async () => {
    const { fn, requested } = fakeFetch();
    const streaming = vi.spyOn(WebAssembly, 'compileStreaming');
    const { exports, info } = await asBrowser(fn as typeof fetch, () => loadEngine());
    expect(typeof process.versions.node).toBe('string'); // restored
    expect(fn).toHaveBeenCalledTimes(1);
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatch(/\/dist\/vqwasm-simd\.wasm$/);
    expect(requested[0]).toBe(SIMD_URL.href);
    expect(streaming).toHaveBeenCalled();
    expect(readFileSpy).not.toHaveBeenCalled();
    expect(info.build).toBe('simd');
    checkInstanceWorks(exports);
  });

  it('the same, with a server that sends the wrong content-type (arrayBuffer fallback)', async () => {
    const { fn, requested } = fakeFetch('application/octet-stream');
    const { exports } = await asBrowser(fn as typeof fetch, () => loadEngine());
    expect(requested).toEqual([SIMD_URL.href]);
    expect(readFileSpy).not.toHaveBeenCalled();
    checkInstanceWorks(exports);
  });

  it('an explicit URL and a relative path string are fetched too', async () => {
    const { fn, requested } = fakeFetch();
    const a = await asBrowser(fn as typeof fetch, () => loadEngine({ wasm: SIMD_URL }));
    checkInstanceWorks(a.exports);
    await asBrowser(fn as typeof fetch, () => loadEngine({ wasm: 'vqwasm-simd.wasm' })).catch(() => undefined);
    expect(requested[0]).toBe(SIMD_URL.href);
    expect(requested[1]).toBe('vqwasm-simd.wasm');
    expect(readFileSpy).not.toHaveBeenCalled();
  });

  it('a 404 and a network error reject with WASM_LOAD', async () => {
    const { fn } = fakeFetch();
    await expectVQError(
      asBrowser(fn as typeof fetch, () => loadEngine({ wasm: new URL('../dist/nope.wasm', import.meta.url) })),
      'WASM_LOAD',
    );
    const down = vi.fn(async () => {
      throw new TypeError('fetch failed');
    });
    await expectVQError(asBrowser(down as typeof fetch, () => loadEngine()), 'WASM_LOAD');
    expect(down).toHaveBeenCalledTimes(1);
    expect(readFileSpy).not.toHaveBeenCalled();
  });

  it('init() in a fresh copy of the module goes through fetch and then works', async () => {
    vi.resetModules();
    const fresh = (await import('../dist/index.js')) as typeof import('../dist/index.js');
    const { fn, requested } = fakeFetch();
    const info = await asBrowser(fn as typeof fetch, () => fresh.init());
    expect(requested).toEqual([SIMD_URL.href]);
    expect(readFileSpy).not.toHaveBeenCalled();
    expect(info.build).toBe('simd');
    // same workload through the freshly loaded engine and through the main one: identical
    await init();
    expect(runSearch(fresh)).toEqual(runSearch({ FlatIndex }));
  });
});
