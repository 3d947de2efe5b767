// The training samples: Rng.sample's two permutation stores draw the same indices, sortedSample is the sorted draw,
// and gatherRows copies exactly the rows named (runs of consecutive rows in one copy).
import { describe, expect, it } from 'vitest';
import { Rng } from '../dist/util/rng.js';
import { gatherRows } from '../dist/util/rows.js';

/** Partial Fisher-Yates over a Map, the way sample() draws (one nextInt per index, same order). */
function referenceSample(seed: number, n: number, count: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(count);
  const perm = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(n - i);
    out[i] = perm.get(j) ?? j;
    perm.set(j, perm.get(i) ?? i);
  }
  return out;
}

describe('Rng.sample / sortedSample', () => {
  // dense (n <= 64 count: the array store) and sparse (the Map store), small and whole draws
  const cases: [number, number][] = [[1, 1], [10, 10], [10, 3], [1000, 999], [100000, 65536], [100000, 1000], [100000, 1563], [5000, 7], [1 << 20, 100]];
  for (const [n, count] of cases) {
    it(`n = ${n}, count = ${count}: the reference's draws, distinct and in range; sorted they are sortedSample`, () => {
      for (const seed of [1, 42]) {
        const s = new Rng(seed).sample(n, count);
        expect(Array.from(s)).toEqual(Array.from(referenceSample(seed, n, count)));
        expect(new Set(s).size).toBe(count);
        for (const v of s) expect(v >= 0 && v < n).toBe(true);
        const sorted = new Rng(seed).sortedSample(n, count);
        expect(Array.from(sorted)).toEqual(Array.from(s).sort((a, b) => a - b));
      }
    });
  }
  it('the generator is left where the draws leave it, whichever store', () => {
    for (const [n, count] of [[1000, 999], [1 << 20, 100]]) {
      const a = new Rng(7);
      a.sample(n, count);
      const b = new Rng(7);
      for (let i = 0; i < count; i++) b.nextInt(n - i);
      expect(a.nextU32()).toBe(b.nextU32());
    }
  });
});

describe('gatherRows', () => {
  for (const d of [1, 3, 64]) {
    it(`d = ${d}: rows with runs, gaps, the first and the last row`, () => {
      const n = 50;
      const src = Float32Array.from({ length: n * d }, (_, i) => i + 0.5);
      for (const rows of [[0, 1, 2, 3, 10, 11, 20, 48, 49], [5], [0, 2, 4, 6], Array.from({ length: n }, (_, i) => i), [49]]) {
        const dst = new Float32Array(rows.length * d).fill(-1);
        gatherRows(dst, src, Int32Array.from(rows), d);
        const want = new Float32Array(rows.length * d);
        rows.forEach((r, i) => want.set(src.subarray(r * d, r * d + d), i * d));
        expect(Array.from(dst)).toEqual(Array.from(want));
      }
    });
  }
});
