// The README's usage example, run as written (the package imports itself by name through its `exports`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function usageBlocks(): string[] {
  const md = readFileSync(join(root, 'README.md'), 'utf8');
  const start = md.indexOf('## Usage');
  const section = md.slice(start, md.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length === 0) throw new Error('README.md has no ```js block under ## Usage');
  return blocks;
}
const usageBlock = () => usageBlocks()[0];

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

  it('the compressed-search example runs: codes are 16 bytes per item, MIPS results are best first, the file loads back', async () => {
    const code = usageBlocks()[1];
    expect(code).toContain('IVFPQIndex');
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-pq.mjs');
    writeFileSync(file, `${code}\nexport { codes, approx, tables, top, bytes, items, d };\n`);
    const mod = await import(pathToFileURL(file).href);
    expect(mod.codes.length).toBe(5000 * 16);
    expect(mod.approx.length).toBe(mod.items.length);
    expect(mod.tables.length).toBe(3 * 16 * 256);
    const { ids, distances } = mod.top;
    expect(ids.length).toBe(30);
    for (let q = 0; q < 3; q++) {
      for (let j = 1; j < 10; j++) expect(distances[q * 10 + j]).toBeLessThanOrEqual(distances[q * 10 + j - 1]);
      // reranked: the distances are the exact inner products with the returned items
      for (let j = 0; j < 10; j++) {
        let dot = 0;
        for (let t = 0; t < mod.d; t++) dot += mod.items[q * mod.d + t] * mod.items[ids[q * 10 + j] * mod.d + t];
        expect(distances[q * 10 + j]).toBeCloseTo(dot, 2);
      }
    }
    const { IVFPQIndex } = await import('vqwasm');
    const back = IVFPQIndex.load(mod.bytes);
    expect(back.size).toBe(5000);
    back.dispose();
  });
});
