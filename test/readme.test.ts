// The README's usage example, run as written (the package imports itself by name through its `exports`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function usageBlock(): string {
  const md = readFileSync(join(root, 'README.md'), 'utf8');
  const section = md.slice(md.indexOf('## Usage'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md has no ```js block under ## Usage');
  return m[1];
}

describe('README', () => {
  it('the usage example runs and gives the results its comments state', async () => {
    const code = usageBlock();
    expect(code).toContain("from 'vqwasm'");
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-usage.mjs');
    writeFileSync(file, `${code}\nexport { ids, distances, objective, labels, all };\n`);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const mod = await import(pathToFileURL(file).href);
      expect(Array.from(mod.ids)).toEqual([1, 0]);
      expect(Array.from(mod.distances)).toEqual([1, 2]);
      expect(Array.from(mod.all)).toEqual([2, 1, 6, 82]);
      expect(mod.labels).toBeInstanceOf(Int32Array);
      for (let i = 1; i < mod.objective.length; i++) expect(mod.objective[i]).toBeLessThanOrEqual(mod.objective[i - 1] * (1 + 1e-6));
      expect(log).toHaveBeenCalledWith('INVALID_TYPE');
    } finally {
      log.mockRestore();
    }
  });
});
