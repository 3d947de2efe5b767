// WorkerPool with private memories: every worker holds copies of what is shared with it (the suite is in helpers).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { init, WorkerPool } from '../dist/index.js';
import { REPO_ROOT } from './helpers/server.js';
import { poolSuite } from './helpers/poolSuite.js';

poolSuite(false);

describe('shared memory needs the threads build', () => {
  it('WorkerPool.create({ shared: true }) after a plain init() is NO_THREADS, naming init({ threads: true })', async () => {
    await init();
    await expect(init({ threads: true })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('already loaded without threads') });
    await expect(WorkerPool.create({ threads: 1, shared: true })).rejects.toMatchObject({ code: 'NO_THREADS', message: expect.stringContaining('init({ threads: true })') });
  });
});

describe('a module given to init() reaches the workers', () => {
  it('init({ wasm: bytes }) with no .wasm beside the package: the pool starts, trains and searches on the same module', () => {
    // a copy of dist/ without its .wasm files, so that a worker that loads its own finds nothing (WASM_LOAD)
    const dir = mkdtempSync(join(tmpdir(), 'vqwasm-nowasm-'));
    try {
      cpSync(join(REPO_ROOT, 'dist'), join(dir, 'dist'), { recursive: true, filter: (p) => !p.endsWith('.wasm') });
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      const script = `
        import { readFileSync } from 'node:fs';
        const v = await import(${JSON.stringify(pathToFileURL(join(dir, 'dist', 'index.js')).href)});
        await v.init({ wasm: readFileSync(${JSON.stringify(join(REPO_ROOT, 'dist', 'vqwasm-simd.wasm'))}) });
        const d = 8;
        const x = new Float32Array(400 * d).map((_, i) => Math.sin(i * 0.37));
        const flat = new v.FlatIndex({ d });
        flat.add(x);
        const pool = await v.WorkerPool.create({ threads: 2 });
        const shared = await pool.share(flat);
        const pooled = await shared.search(x.subarray(0, 10 * d), 3);
        const { trained } = await pool.train('KMeans', { d, k: 4, seed: 1 }, x);
        const here = v.KMeans.load(trained.save());
        console.log(JSON.stringify({ same: Array.from(pooled.ids).join() === Array.from(flat.search(x.subarray(0, 10 * d), 3).ids).join(), k: here.k, build: pool.build }));
        pool.terminate();
      `;
      writeFileSync(join(dir, 'run.mjs'), script);
      const r = spawnSync(process.execPath, [join(dir, 'run.mjs')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim())).toEqual({ same: true, k: 4, build: 'simd' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
