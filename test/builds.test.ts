// Which build each vitest project runs: the 'relaxed-simd' project passes the V8 flag, and must really get the
// relaxed build (otherwise CI would silently test one build twice).
import { readdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import config from '../vitest.config.js';
import { init } from '../dist/index.js';

it('init() picks relaxed SIMD exactly where the runtime accepts it', async () => {
  const info = await init();
  const flagged = process.execArgv.includes('--experimental-wasm-relaxed-simd');
  console.log(`node ${process.version}${flagged ? ' --experimental-wasm-relaxed-simd' : ''}: build '${info.build}'`);
  if (flagged) expect(info.relaxedSimdSupported).toBe(true);
  expect(info.build).toBe(info.relaxedSimdSupported ? 'relaxed' : 'simd');
});

it("every kernel suite also runs in the 'relaxed-simd' project (the relaxed build's fused multiply-adds are its own code)", () => {
  const projects = (config as { test: { projects: { test: { name: string; include: string[] } }[] } }).test.projects;
  const include = projects.find((p) => p.test.name === 'relaxed-simd')!.test.include;
  const kernels = readdirSync(new URL('.', import.meta.url)).filter((f) => f.endsWith('-kernels.test.ts') || f === 'kernels.test.ts');
  expect(kernels.length).toBeGreaterThan(5);
  for (const f of kernels) expect(include, f).toContain(`test/${f}`);
});
