// Packaging: what `npm pack` ships, a Vite build of an application that imports the package (wasm assets emitted, the
// worker compiled into its own chunk), the gzipped size budget of what a page loads, and that build running in
// headless Chromium with the same results as Node.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import * as api from '../dist/index.js';
import { launchChromium, SKIP_CHROMIUM, warnIfSkipped } from './helpers/chromium.js';
import { REPO_ROOT, startStaticServer, type StaticServer } from './helpers/server.js';

warnIfSkipped('Vite build page test');
/** Gzipped bytes a page loads: the application's JS with the whole library, and one of the two wasm builds. */
const BUDGET = 100 * 1024;

describe('npm pack', () => {
  it('ships the built package and nothing else (no sources, tests, benches, maps or build junk)', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/parallel/worker.js');
    expect(files).toContain('dist/vqwasm-simd.wasm');
    expect(files).toContain('dist/vqwasm-relaxed.wasm');
    expect(files).toContain('dist/vqwasm-threads.wasm');
    expect(files).toContain('dist/vqwasm-threads-relaxed.wasm');
    // every subpath the package exports is a file it ships (a bundler's workerUrl imports 'vqwasm/worker.js?url')
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./worker.js']).toBe('./dist/parallel/worker.js');
    for (const [sub, target] of Object.entries(pkg.exports as Record<string, string | Record<string, string>>)) {
      for (const t of typeof target === 'string' ? [target] : Object.values(target)) expect(files, sub).toContain(t.replace(/^\.\//, ''));
    }
    expect(files).toContain('bin/vqwasm.js');
    for (const f of files) {
      expect(f, f).toMatch(/^(package\.json|README\.md|LICENSE|bin\/vqwasm\.js|dist\/.+\.(js|d\.ts|wasm))$/);
    }
    // every module the entry point can reach is in the package
    for (const f of files.filter((p) => p.endsWith('.js'))) {
      const src = readFileSync(join(REPO_ROOT, f), 'utf8');
      // no pointer to a source map the package does not ship (Vite's dev server printed an error for each of 51)
      expect(src, f).not.toMatch(/sourceMappingURL=/);
      for (const m of src.matchAll(/from '(\.[^']+)'/g)) {
        const target = join(f, '..', m[1]).replace(/\\/g, '/');
        expect(files, `${f} imports ${m[1]}`).toContain(target);
      }
    }
  });
});

describe('a Vite build of an application using vqwasm', () => {
  let outDir: string;
  let sizes: Record<string, number>;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'vqwasm-vite-'));
    const { build } = await import('vite');
    // as `vite build` runs for a user: production (vitest sets NODE_ENV=test, and Vite then builds as for development:
    // its stand-ins for the node: modules that the library imports on its Node branch only, chunks a page never
    // fetches, then carry a long error message: 1.4 KB gzipped, against 0.1 KB in production)
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({
        root: join(REPO_ROOT, 'test/fixtures/vite-app'),
        logLevel: 'silent',
        // as if installed: the bare import resolves to the built package
        resolve: { alias: { vqwasm: join(REPO_ROOT, 'dist/index.js') } },
        build: { outDir, emptyOutDir: true, target: 'es2022' },
        worker: { format: 'es' },
      });
    } finally {
      process.env.NODE_ENV = env;
    }
    sizes = {};
    for (const f of readdirSync(join(outDir, 'assets'))) sizes[f] = gzipSync(readFileSync(join(outDir, 'assets', f)), { level: 9 }).length;
  }, 120_000);

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('emits the four wasm builds and compiles the worker with its imports into its own chunk', () => {
    const names = Object.keys(sizes);
    const wasm = names.filter((f) => f.endsWith('.wasm'));
    expect(wasm).toHaveLength(4);
    for (const build of ['simd', 'relaxed', 'threads', 'threads-relaxed']) {
      const mine = wasm.filter((f) => f.startsWith(`vqwasm-${build}-`) && !(build === 'threads' && f.startsWith('vqwasm-threads-relaxed-')));
      expect(mine, build).toHaveLength(1);
    }
    const workers = names.filter((f) => /^worker-.*\.js$/.test(f));
    expect(workers).toHaveLength(1);
    const src = readFileSync(join(outDir, 'assets', workers[0]), 'utf8');
    expect(src).not.toMatch(/from\s*["']\.\.?\//);
    expect(src).toContain('VQError');
  });

  it(`stays within the size budget: the whole library's JS + one wasm, gzipped, under ${BUDGET / 1024} KB`, () => {
    const js = Object.entries(sizes).filter(([f]) => f.endsWith('.js'));
    const wasm = Math.max(...Object.entries(sizes).filter(([f]) => f.endsWith('.wasm')).map(([, s]) => s));
    const worker = js.filter(([f]) => /^worker-/.test(f)).reduce((a, [, s]) => a + s, 0);
    const page = js.filter(([f]) => !/^worker-/.test(f)).reduce((a, [, s]) => a + s, 0);
    const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;
    // what a page that imports every export loads, and what WorkerPool adds when it starts workers (the worker chunk,
    // a second copy of the index and quantizer classes: a bundler gives a worker its own module graph)
    console.log(`gzipped: app + library JS ${kb(page)}, wasm ${kb(wasm)}: ${kb(page + wasm)} of ${BUDGET / 1024} KB; WorkerPool's worker chunk ${kb(worker)} more (${kb(page + wasm + worker)} with it)`);
    expect(page + wasm).toBeLessThan(BUDGET);
    expect(worker).toBeGreaterThan(0);
    expect(statSync(join(outDir, 'index.html')).size).toBeGreaterThan(0);
  });

  describe.skipIf(SKIP_CHROMIUM)('in headless Chromium', () => {
    let server: StaticServer;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let context: BrowserContext;

    beforeAll(async () => {
      server = await startStaticServer({ root: outDir });
      browser = await launchChromium();
      context = browser.context;
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('the built page runs: search on the page and in a WorkerPool equal Node\'s result', async () => {
      await api.init();
      const d = 8;
      const x = new Float32Array(64 * d).map((_, i) => ((i * 37) % 17) - 8);
      const index = new api.FlatIndex({ d, metric: 'l2' });
      index.add(x);
      const want = index.search(x.subarray(0, 3 * d), 4, { exclude: [Int32Array.of(0), Int32Array.of(1), Int32Array.of(2)] });
      index.dispose();
      const page = await context.newPage();
      const logs: string[] = [];
      page.on('pageerror', (e) => logs.push(e.message));
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 30_000 });
      const r = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as {
        error?: string; ids: number[]; distances: number[]; pooledIds: number[]; exports: number;
      };
      if (r.error) throw new Error(`${r.error}\n${logs.join('\n')}`);
      expect(r.ids).toEqual(Array.from(want.ids));
      expect(r.distances).toEqual(Array.from(want.distances));
      expect(r.pooledIds).toEqual(r.ids);
      expect(r.exports).toBe(Object.keys(api).length);
      expect(server.requests.some((p) => /\/assets\/worker-.*\.js/.test(p))).toBe(true);
      expect(server.requests.some((p) => /\/assets\/vqwasm-(simd|relaxed)-.*\.wasm/.test(p))).toBe(true);
      mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'vite-app.png') });
      await page.close();
    }, 60_000);
  });
});
