import { afterEach } from 'vitest';

/**
 * Returns `track(o)`, which hands o back and disposes it after the current test: call once at the top of a test file
 * (it registers the afterEach hook there).
 */
export function disposeAfterEach(): <T extends { dispose(): void }>(o: T) => T {
  const live: { dispose(): void }[] = [];
  afterEach(() => {
    for (const o of live.splice(0)) o.dispose();
  });
  return (o) => {
    live.push(o);
    return o;
  };
}
