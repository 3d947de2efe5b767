// WorkerPool with private memories: every worker holds copies of what is shared with it (the suite is in helpers).
import { describe, expect, it } from 'vitest';
import { init, WorkerPool } from '../dist/index.js';
import { poolSuite } from './helpers/poolSuite.js';

poolSuite(false);

describe('shared memory needs the threads build', () => {
  it('WorkerPool.create({ shared: true }) after a plain init() is NO_THREADS, naming init({ threads: true })', async () => {
    await init();
    await expect(init({ threads: true })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('already loaded without threads') });
    await expect(WorkerPool.create({ threads: 1, shared: true })).rejects.toMatchObject({ code: 'NO_THREADS', message: expect.stringContaining('init({ threads: true })') });
  });
});
