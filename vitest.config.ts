import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // one worker at a time: the machine has 2 cores and the browser test starts Chromium
    fileParallelism: false,
  },
});
