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
    writeFileSync(file, `${code}\nexport { codes, approx, tables, top, bytes, items, d, best };\n`);
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
    // the anisotropic PQIndex: 10 ids per user, best first
    expect(mod.best.ids.length).toBe(30);
    for (let q = 0; q < 3; q++) for (let j = 1; j < 10; j++) expect(mod.best.distances[q * 10 + j]).toBeLessThanOrEqual(mod.best.distances[q * 10 + j - 1]);
    const { IVFPQIndex } = await import('vqwasm');
    const back = IVFPQIndex.load(mod.bytes);
    expect(back.size).toBe(5000);
    back.dispose();
  });

  it('the semantic-ID and online-VQ example runs: unique IDs, prefix answers, a cold-start ID, codebook health', async () => {
    const code = usageBlocks()[2];
    expect(code).toContain('SemanticIdTokenizer');
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-semantic.mjs');
    writeFileSync(file, `${code}\nexport { ids, length, next, under, cold, labels, quantized, health };\n`);
    const mod = await import(pathToFileURL(file).href);
    expect(mod.length).toBe(4);
    expect(mod.ids.length).toBe(2000 * 4);
    const rows = new Set(Array.from({ length: 2000 }, (_, i) => Array.from(mod.ids.subarray(i * 4, i * 4 + 4)).join(',')));
    expect(rows.size).toBe(2000);
    expect(Array.from(mod.next)).toContain(mod.ids[1]);
    expect(Array.from(mod.under)).toContain(0);
    expect(Array.from(mod.cold.ids.subarray(0, 3))).toEqual(Array.from(mod.ids.subarray(0, 3)));
    expect(mod.cold.ids[3]).toBeGreaterThanOrEqual(1);
    expect(mod.labels.length).toBe(10);
    expect(mod.quantized.length).toBe(10 * 32);
    expect(mod.health.k).toBe(64);
    expect(mod.health.utilization).toBeGreaterThan(0.5);
  });
  it('the recommendation example runs: memory before and after, decoded rows, seen items excluded, allow bitset applied', async () => {
    const code = usageBlocks()[3];
    expect(code).toContain('exclude: seen');
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-recsys.mjs');
    writeFileSync(file, `${code}\nexport { before, after, rows, recs, available, items, user, d, n };\n`);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const mod = await import(pathToFileURL(file).href);
      expect(mod.before).toBe(512000);
      expect(mod.after).toBe(32000 + 32768);
      expect(log).toHaveBeenCalledWith('item table: 512000 -> 64768 bytes');
      // decoded rows approximate the originals (PQ 8 x 8 on this table: well under the rows' own energy)
      const { rows, items, d } = mod;
      for (const [r, id] of [[0, 12], [1, 99]]) {
        let err = 0;
        let energy = 0;
        for (let j = 0; j < d; j++) {
          err += (rows[r * d + j] - items[id * d + j]) ** 2;
          energy += items[id * d + j] ** 2;
        }
        expect(err).toBeLessThan(0.2 * energy);
      }
      const recIds = Array.from(mod.recs.ids);
      expect(recIds.filter((id) => id >= 0).length).toBe(10);
      for (const id of [12, 99, 1500]) expect(recIds).not.toContain(id);
      for (let j = 1; j < 10; j++) expect(mod.recs.distances[j]).toBeLessThanOrEqual(mod.recs.distances[j - 1]);
      const avail = Array.from(mod.available.ids);
      expect(avail.filter((id) => id >= 8).length).toBe(10);
      for (const id of [12, 99, 1500]) expect(avail).not.toContain(id);
    } finally {
      log.mockRestore();
    }
  });

  it('the interop example runs: .npy / .fvecs round trip, a Faiss file back to a PQIndex, chunked encoding', async () => {
    const md = readFileSync(join(root, 'README.md'), 'utf8');
    const start = md.indexOf('## Interop');
    const section = md.slice(start, md.indexOf('\n## ', start + 1));
    const code = /```js\n([\s\S]*?)```/.exec(section)![1];
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-interop.mjs');
    writeFileSync(file, `${code}\nexport { n, ids, codes, faissBytes };\n`);
    const mod = await import(pathToFileURL(file).href);
    expect(mod.n).toBe(4000);
    expect(mod.ids[0]).toBe(0);
    expect(mod.codes.map((c: Uint8Array) => c.length)).toEqual([8000, 8000, 8000, 8000]);
    expect(String.fromCharCode(...mod.faissBytes.subarray(0, 4))).toBe('IxPq');
  });
});
