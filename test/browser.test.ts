// The built package in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) loads
// test/browser/index.html from a local static server; the page imports /dist/index.js, runs the workload of
// test/browser/scenario.js and publishes window.__result, which must equal what Node computes through the same API.
//
// Chromium takes the relaxed-SIMD build and Node 20 the plain one, so the data is integer-valued (exact in both), and
// k-means is compared by its labels on well-separated clusters, its centroids only within a tolerance.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import * as api from '../dist/index.js';
import { kmeansData, runFastScan, runKMeans, runSearch } from './browser/scenario.js';
import { REPO_ROOT, startStaticServer, type StaticServer } from './helpers/server.js';

// VQWASM_TEST_CHROMIUM only exists to exercise the skip / fail logic below; leave it unset.
const CHROMIUM = process.env.VQWASM_TEST_CHROMIUM || '/usr/bin/chromium';
const IN_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIP = !HAVE_CHROMIUM && !IN_CI;
const TIMEOUT = 60_000;
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

if (SKIP) console.warn(`browser tests skipped: ${CHROMIUM} not found (apt-get install chromium)`);

interface PageResult {
  source: string;
  build?: 'simd' | 'relaxed';
  relaxedSimdSupported?: boolean;
  ids?: number[];
  distances?: number[];
  search?: ReturnType<typeof runSearch>;
  kmeans?: ReturnType<typeof runKMeans>;
  fastScan?: ReturnType<typeof runFastScan>;
  ms?: number;
  error?: string;
  code?: string;
  isVQError?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------------
// The static server itself (no browser needed).

describe('test static server', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await startStaticServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A raw GET that sends the path exactly as given (fetch() would normalize away the `..`). */
  function rawGet(path: string): Promise<{ status: number; type: string | undefined; body: string }> {
    const { port } = new URL(server.url);
    return new Promise((ok, fail) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString('latin1') }));
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end();
    });
  }

  it('serves the repository with the MIME types browsers require', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const html = await rawGet('/test/browser/index.html');
    expect(html.status).toBe(200);
    expect(html.type).toMatch(/^text\/html/);
    const js = await rawGet('/test/browser/main.js');
    expect(js.type).toMatch(/^text\/javascript/);
    const wasm = await rawGet('/dist/vqwasm-simd.wasm');
    expect(wasm.status).toBe(200);
    expect(wasm.type).toBe('application/wasm');
    expect(wasm.body.slice(0, 4)).toBe('\0asm');
    const octet = await rawGet('/dist/vqwasm-simd.wasm?mime=octet-stream');
    expect(octet.type).toBe('application/octet-stream');
    expect((await rawGet('/test/browser/')).type).toMatch(/^text\/html/);
  });

  it('makes its pages cross-origin isolated unless a page asks ?isolated=0', async () => {
    const on = await fetch(`${server.url}/test/browser/pool.html`);
    expect(on.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(on.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const off = await fetch(`${server.url}/test/browser/pool.html?isolated=0`);
    expect(off.status).toBe(200);
    expect(off.headers.get('cross-origin-opener-policy')).toBeNull();
    expect(off.headers.get('cross-origin-embedder-policy')).toBeNull();
  });

  it('refuses paths outside the root, writes, and missing files', async () => {
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2fetc/passwd', '/dist/..%5c..%5cetc/passwd', '/%00']) {
      const r = await rawGet(p);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.body, p).not.toMatch(/root:/);
    }
    expect((await rawGet('/no/such/file.js')).status).toBe(404);
    expect((await rawGet('/test')).status).toBe(404); // a directory without index.html: no listing
    const put = await fetch(`${server.url}/package.json`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
  });
});

// ---------------------------------------------------------------------------------------------------------------------

describe.skipIf(SKIP)('in headless Chromium', () => {
  let server: StaticServer | undefined;
  let context: BrowserContext | undefined;
  let profileDir: string | undefined;
  const pageLogs: string[] = [];

  // What Node computes with the same data through the same API.
  let nodeInfo: Awaited<ReturnType<typeof api.init>>;
  let nodeSearch: ReturnType<typeof runSearch>;
  let nodeKMeans: ReturnType<typeof runKMeans>;
  let nodeFastScan: ReturnType<typeof runFastScan>;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) {
      throw new Error(`CI is set but ${CHROMIUM} is missing: install it with apt-get install chromium (browser tests must run in CI)`);
    }
    nodeInfo = await api.init();
    nodeSearch = runSearch(api);
    nodeKMeans = runKMeans(api);
    nodeFastScan = runFastScan(api);
    expect(nodeFastScan.exactCodes).toBe(true);
    server = await startStaticServer();
    profileDir = mkdtempSync(join(tmpdir(), 'vqwasm-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: TIMEOUT,
      viewport: { width: 900, height: 700 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    console.log(`chromium ${context.browser()?.version() ?? '(version unknown)'}; serving ${REPO_ROOT} at ${server.url}`);
  }, TIMEOUT);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await server?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }, TIMEOUT);

  /** Opens the test page with ?source=..., waits for window.__result and returns it (and the page). */
  async function openPage(source: string): Promise<{ page: Page; result: PageResult }> {
    if (!context || !server) throw new Error('browser not started');
    const page = await context.newPage();
    page.on('console', (m) => pageLogs.push(`[${source}] console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLogs.push(`[${source}] pageerror: ${e.message}`));
    page.on('requestfailed', (r) => pageLogs.push(`[${source}] request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(`${server.url}/test/browser/index.html?source=${source}`, { timeout: TIMEOUT });
    try {
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 30_000 });
    } catch (e) {
      throw new Error(`the page never set window.__result (source=${source}); page log:\n${pageLogs.join('\n')}\n${String(e)}`);
    }
    const result = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as PageResult;
    return { page, result };
  }

  function expectOk(result: PageResult): asserts result is Required<Pick<PageResult, 'build' | 'relaxedSimdSupported' | 'ids' | 'distances' | 'search' | 'kmeans' | 'fastScan'>> & PageResult {
    if (result.error !== undefined) {
      throw new Error(`page failed (source=${result.source}): ${result.code ?? ''} ${result.error}\npage log:\n${pageLogs.join('\n')}`);
    }
  }

  function expectSameAsNode(result: PageResult): void {
    expectOk(result);
    // exact: integer-valued data, so the relaxed (FMA) and plain builds agree to the bit
    expect(result.ids).toEqual(nodeSearch.l2.ids);
    expect(result.distances).toEqual(nodeSearch.l2.distances);
    expect(result.search).toEqual(nodeSearch);
    // k-means: the same partition, labels and all, and centroids within float noise
    expect(result.kmeans.labels).toEqual(nodeKMeans.labels);
    expect(result.kmeans.centroids).toHaveLength(nodeKMeans.centroids.length);
    result.kmeans.centroids.forEach((v, i) => expect(Math.abs(v - nodeKMeans.centroids[i])).toBeLessThanOrEqual(1e-3));
    // 4-bit fast-scan: integer tables, so the swizzle of either build gives the same sums, ids and distances
    expect(result.fastScan).toEqual(nodeFastScan);
  }

  let relaxedInBrowser = false;

  it('default init(): picks a build, and search and k-means match Node exactly', async () => {
    const { page, result } = await openPage('default');
    expectOk(result);
    console.log(
      `browser: init() picked build '${result.build}' (relaxed SIMD supported: ${result.relaxedSimdSupported}), ` +
        `node: '${nodeInfo.build}'; page ran in ${result.ms?.toFixed(1)} ms`,
    );
    expect(['simd', 'relaxed']).toContain(result.build);
    expect(typeof result.relaxedSimdSupported).toBe('boolean');
    expect(result.build).toBe(result.relaxedSimdSupported ? 'relaxed' : 'simd');
    relaxedInBrowser = result.relaxedSimdSupported;
    expectSameAsNode(result);
    expect(server!.requests.some((r) => r.startsWith(`/dist/vqwasm-${result.build}.wasm`))).toBe(true);

    // the test data is what it claims to be: four clusters, found as four clusters
    const { truth, n } = kmeansData();
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const prev = map.get(truth[i]);
      if (prev === undefined) map.set(truth[i], result.kmeans.labels[i]);
      else expect(result.kmeans.labels[i]).toBe(prev);
    }
    expect(new Set(map.values()).size).toBe(map.size);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'browser-smoke.png'), fullPage: true });
    await page.close();
  }, TIMEOUT);

  it('init({ wasm: URL }) of the plain SIMD build gives the same results', async () => {
    const { page, result } = await openPage('url');
    expectOk(result);
    expect(result.build).toBe('simd');
    expectSameAsNode(result);
    await page.close();
  }, TIMEOUT);

  it('init({ wasm: fetch(...) }) of the relaxed build gives the same results', async () => {
    const { page, result } = await openPage('response');
    if (!relaxedInBrowser) {
      expect(result.code).toBe('WASM_LOAD');
    } else {
      expectOk(result);
      expect(result.build).toBe('relaxed');
      expectSameAsNode(result);
    }
    await page.close();
  }, TIMEOUT);

  it('init({ wasm: "/path" }) of the relaxed build, and an ArrayBuffer of the plain one', async () => {
    for (const source of ['string', 'bytes']) {
      const { page, result } = await openPage(source);
      if (source === 'string' && !relaxedInBrowser) {
        expect(result.code).toBe('WASM_LOAD');
      } else {
        expectOk(result);
        expect(result.build).toBe(source === 'string' ? 'relaxed' : 'simd');
        expectSameAsNode(result);
      }
      await page.close();
    }
  }, TIMEOUT);

  it('a Response with the wrong content-type still loads (buffered fallback)', async () => {
    const { page, result } = await openPage('octet');
    expectOk(result);
    expect(result.build).toBe('simd');
    expectSameAsNode(result);
    expect(server!.requests).toContain('/dist/vqwasm-simd.wasm?mime=octet-stream');
    await page.close();
  }, TIMEOUT);

  it.each([
    ['private memories', false, true],
    ['the shared memory of the threads build (cross-origin isolated page)', true, true],
    ['private memories in a page that is not cross-origin isolated (no SharedArrayBuffer: every exchange by message)', false, false],
  ])('WorkerPool in module Web Workers, %s: search and k-means training give the main thread\'s results while the page timer keeps firing', async (_, sharedMemory, isolated) => {
    if (!context || !server) throw new Error('browser not started');
    const page = await context.newPage();
    page.on('pageerror', (e) => pageLogs.push(`[pool] pageerror: ${e.message}`));
    page.on('console', (m) => pageLogs.push(`[pool] console.${m.type()}: ${m.text()}`));
    await page.goto(`${server.url}/test/browser/pool.html${sharedMemory ? '?shared=1' : isolated ? '' : '?isolated=0'}`, { timeout: TIMEOUT });
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 45_000 });
    const r = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as {
      error?: string; build: string; workerBuild: string; threads: number; same: boolean; ticks: number; mainMs: number; poolMs: number;
      trainTicks: number; trainMs: number; progress: number; sameCentroids: boolean; samePooledKmeans: boolean; sameTrainIndex: boolean; samePooledAdd: boolean; sameTrainRQ: boolean; isolated: boolean; sab: boolean; shared: boolean; sharedWords: boolean;
    };
    if (r.error) throw new Error(`pool page failed: ${r.error}\n${pageLogs.join('\n')}`);
    expect(r.isolated).toBe(isolated);
    expect(r.sab).toBe(isolated);
    // (no SharedArrayBuffer: the pool must not try to share words either; every exchange by message)
    expect(r.sharedWords).toBe(isolated);
    expect(r.shared).toBe(sharedMemory);
    if (sharedMemory) expect(server.requests.some((p) => p.startsWith('/dist/vqwasm-threads'))).toBe(true);
    console.log(`browser WorkerPool (${sharedMemory ? 'shared memory' : isolated ? 'private memories' : 'by message, page not isolated'}): ${r.threads} workers (${r.workerBuild}), main thread ${r.mainMs.toFixed(0)} ms, pool ${r.poolMs.toFixed(0)} ms, ${r.ticks} timer ticks during the pooled search`);
    expect(r.threads).toBe(2);
    expect(r.workerBuild).toBe(r.build);
    expect(r.same).toBe(true);
    // the search must last long enough for the timer to mean something, and the timer must have run through it
    expect(r.poolMs).toBeGreaterThan(50);
    expect(r.ticks).toBeGreaterThanOrEqual(Math.floor(r.poolMs / 5 / 4));
    expect(server.requests.some((p) => p.startsWith('/dist/parallel/worker.js'))).toBe(true);
    // k-means trained in a worker: the page's timer kept firing, progress came through, the same centroids as here
    console.log(`browser WorkerPool.train: k-means 20000 x 32, k = 64, 15 iterations in ${r.trainMs.toFixed(0)} ms, ${r.trainTicks} timer ticks meanwhile`);
    expect(r.progress).toBe(15);
    expect(r.sameCentroids).toBe(true);
    expect(r.samePooledKmeans).toBe(true);
    expect(r.sameTrainIndex).toBe(true);
    expect(r.samePooledAdd).toBe(true);
    expect(r.sameTrainRQ).toBe(true);
    expect(r.trainMs).toBeGreaterThan(50);
    expect(r.trainTicks).toBeGreaterThanOrEqual(Math.floor(r.trainMs / 5 / 4));
    await page.close();
  }, TIMEOUT);

  it('a workerUrl that answers 404: WorkerPool.create rejects with VQError ABORTED naming it', async () => {
    const { page, result } = await openPage('badworker');
    expect(result.isVQError, JSON.stringify(result)).toBe(true);
    expect(result.code).toBe('ABORTED');
    expect(result.error).toContain('/dist/parallel/no-such-worker.js');
    await page.close();
  }, TIMEOUT);

  it('a missing .wasm rejects init() with VQError WASM_LOAD', async () => {
    const { page, result } = await openPage('missing');
    expect(result.error, JSON.stringify(result)).toBeTruthy();
    expect(result.isVQError).toBe(true);
    expect(result.code).toBe('WASM_LOAD');
    await page.close();
  }, TIMEOUT);
});
