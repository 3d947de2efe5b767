import { defineConfig } from 'vitest/config';

// Two projects: the whole suite on the runtime's default build (plain SIMD on Node 20), and the numeric suites again
// with relaxed SIMD switched on, so that CI runs the kernels of both builds (Node 20 needs the V8 flag for relaxed SIMD;
// Node 22+ and Chromium have it by default).
const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  // one file at a time: the machine has 2 cores and the browser test starts Chromium
  fileParallelism: false,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'default', include: ['test/**/*.test.ts'] } },
      {
        test: {
          ...shared,
          name: 'relaxed-simd',
          include: ['test/builds.test.ts', 'test/kernels.test.ts', 'test/flat.test.ts', 'test/kmeans.test.ts', 'test/memory.test.ts', 'test/pq-kernels.test.ts', 'test/fastscan-kernels.test.ts', 'test/rq-kernels.test.ts', 'test/sq-kernels.test.ts', 'test/binary-kernels.test.ts', 'test/anisotropic-kernels.test.ts', 'test/qpanels-kernels.test.ts'],
          execArgv: ['--experimental-wasm-relaxed-simd'],
        },
      },
    ],
  },
});
