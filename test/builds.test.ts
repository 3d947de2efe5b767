// Which build each vitest project runs: the 'relaxed-simd' project passes the V8 flag, and must really get the
// relaxed build (otherwise CI would silently test one build twice).
import { expect, it } from 'vitest';
import { init } from '../dist/index.js';

it('init() picks relaxed SIMD exactly where the runtime accepts it', async () => {
  const info = await init();
  const flagged = process.execArgv.includes('--experimental-wasm-relaxed-simd');
  console.log(`node ${process.version}${flagged ? ' --experimental-wasm-relaxed-simd' : ''}: build '${info.build}'`);
  if (flagged) expect(info.relaxedSimdSupported).toBe(true);
  expect(info.build).toBe(info.relaxedSimdSupported ? 'relaxed' : 'simd');
});
