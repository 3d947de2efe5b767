// The helpers of bench/recsys.js (bench/lib/recsys.js): held-out recall and NDCG on hand-computed cases, the
// over-fetch exclusion against a brute-force filter, the bench-side exact re-ranking and the ragged .ivecs reader.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain-JS bench module without type declarations
import { heldOutRecall, ndcgAtK, readRaggedIvecs, searchOverfetch, withExactRerank } from '../bench/lib/recsys.js';
import { TestRng } from './helpers/rng.js';

interface Result {
  ids: Int32Array;
  distances: Float32Array;
}

const i32 = (...v: number[]) => Int32Array.from(v);

// three users, result rows of width 12 (columns 10 and 11 lie beyond k = 10 and must be ignored)
const IDS = i32(
  1, 50, 3, 51, 52, 53, 54, 55, 56, 57, /* beyond k: */ 2, 2,
  7, 100, 8, 101, 9, 102, 10, 103, 11, 104, /* beyond k: */ 105, 106,
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
);
const TEST = [i32(1, 2, 3), i32(100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111), i32()];

describe('held-out metrics', () => {
  it('recall@10: hits / min(10, |test|) by default, hits / |test| with "all"; users without held-out items are left out', () => {
    // user 0: hits 1 and 3 of 3 -> 2/3 either way; user 1: 5 hits of 12 -> 5/10 (min) or 5/12 (all); user 2: skipped
    expect(heldOutRecall(IDS, 12, TEST, 10)).toBeCloseTo((2 / 3 + 5 / 10) / 2, 12);
    expect(heldOutRecall(IDS, 12, TEST, 10, 'all')).toBeCloseTo((2 / 3 + 5 / 12) / 2, 12);
    // k = 1: user 0 hits at rank 0 (1/1), user 1 misses
    expect(heldOutRecall(IDS, 12, TEST, 1)).toBeCloseTo(0.5, 12);
  });

  it('recall counts a repeated id once and never counts -1 padding', () => {
    const ids = i32(5, 5, 5, -1, -1, -1, -1, -1, -1, -1);
    expect(heldOutRecall(ids, 10, [i32(5, 6)], 10)).toBeCloseTo(0.5, 12);
    expect(heldOutRecall(ids, 10, [i32(-1)], 10)).toBe(0);
  });

  it('NDCG@10: binary gains 1 / log2(rank + 2), ideal DCG over min(10, |test|) hits', () => {
    const g = (r: number) => 1 / Math.log2(r + 2);
    // user 0: hits at ranks 0 and 2, ideal 3 hits at ranks 0..2
    const n0 = (g(0) + g(2)) / (g(0) + g(1) + g(2));
    // user 1: hits at ranks 1, 3, 5, 7, 9; ideal: 10 hits (12 held out, capped at k)
    let ideal1 = 0;
    for (let r = 0; r < 10; r++) ideal1 += g(r);
    const n1 = (g(1) + g(3) + g(5) + g(7) + g(9)) / ideal1;
    expect(n0).toBeCloseTo(1.5 / (1.5 + 1 / Math.log2(3)), 12);
    expect(ndcgAtK(IDS, 12, TEST, 10)).toBeCloseTo((n0 + n1) / 2, 12);
  });

  it('NDCG is 1 for a perfect ranking, 0 with no hit, and does not reward repeats', () => {
    expect(ndcgAtK(i32(4, 9, 0, 0), 4, [i32(9, 4)], 4)).toBeCloseTo(1, 12);
    expect(ndcgAtK(i32(0, 1, 2, 3), 4, [i32(9, 4)], 4)).toBe(0);
    expect(ndcgAtK(i32(4, 4, 4, 4), 4, [i32(9, 4)], 4)).toBeCloseTo(1 / (1 + 1 / Math.log2(3)), 12);
  });
});

/** Exact inner-product top-k by brute force, ties by lower id; records each call's k and options. */
function bruteIndex(base: Float32Array, d: number) {
  const nb = base.length / d;
  const calls: { nq: number; k: number; options: Record<string, unknown> }[] = [];
  const rank = (q: Float32Array, qi: number) =>
    Array.from({ length: nb }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += q[qi * d + t] * base[j * d + t];
      return { j, s };
    }).sort((a, b) => b.s - a.s || a.j - b.j);
  return {
    calls,
    rank,
    search(q: Float32Array, k: number, options: Record<string, unknown> = {}): Result {
      const nq = q.length / d;
      calls.push({ nq, k, options });
      const ids = new Int32Array(nq * k).fill(-1);
      const distances = new Float32Array(nq * k).fill(-Infinity);
      for (let qi = 0; qi < nq; qi++) {
        rank(q, qi).slice(0, k).forEach((e, r) => {
          ids[qi * k + r] = e.j;
          distances[qi * k + r] = e.s;
        });
      }
      return { ids, distances };
    },
  };
}

describe('searchExcluding (over-fetch emulation)', () => {
  const rng = new TestRng(7);
  const d = 5;
  const nb = 60;
  const nq = 9;
  const base = Float32Array.from({ length: nb * d }, () => rng.gauss());
  const q = Float32Array.from({ length: nq * d }, () => rng.gauss());
  // exclusion sizes 0..40 so that several power-of-two groups form; some exclude the user's true best items
  const sizes = [0, 1, 2, 3, 5, 9, 17, 33, 40];

  it('gives, for every user, the best k items not in its exclusion list, in order', () => {
    const index = bruteIndex(base, d);
    const exclude = sizes.map((s, qi) => {
      const ranked = index.rank(q, qi).map((e) => e.j);
      // half of them among the user's top items, half drawn at random
      const set = new Set<number>(ranked.slice(0, Math.ceil(s / 2)));
      while (set.size < s) set.add(rng.int(0, nb - 1));
      return Int32Array.from(set);
    });
    const k = 10;
    const res = searchOverfetch(index, q, k, exclude) as Result;
    for (let qi = 0; qi < nq; qi++) {
      const banned = new Set(exclude[qi]);
      const want = index.rank(q, qi).map((e) => e.j).filter((j) => !banned.has(j)).slice(0, k);
      expect(Array.from(res.ids.subarray(qi * k, (qi + 1) * k))).toEqual(want);
    }
    // grouped: fewer calls than users, each asking k + the largest exclusion of its group
    const search = index.calls.filter((c) => c.nq > 0);
    expect(search.length).toBeLessThan(nq);
    expect(search.reduce((s, c) => s + c.nq, 0)).toBe(nq);
    expect(Math.max(...search.map((c) => c.k))).toBe(k + 40);
  });

  it('pads with -1 when fewer than k items remain, and asks for rerank R + E', () => {
    const index = bruteIndex(base, d);
    const all = Int32Array.from({ length: nb - 3 }, (_, j) => j); // only items nb-3 .. nb-1 remain
    const res = searchOverfetch(index, q.subarray(0, d), 5, [all], { rerank: 20 }) as Result;
    expect(Array.from(res.ids.subarray(3)).every((x) => x === -1)).toBe(true);
    expect(Array.from(res.ids.subarray(0, 3)).sort((a, b) => a - b)).toEqual([nb - 3, nb - 2, nb - 1]);
    expect(index.calls[0].options.rerank).toBe(20 + nb - 3);
  });
});

describe('withExactRerank', () => {
  it('re-scores the candidates of a coarse index exactly and keeps the best k', () => {
    const d = 2;
    const base = Float32Array.from([1, 0, 0, 1, 2, 2, -1, -1, 3, 0]);
    // a "coarse" index that returns all items in the reverse of their true order
    const coarse = {
      search(_q: Float32Array, k: number): Result {
        const ids = i32(3, 1, 0, 4, 2).subarray(0, k);
        return { ids: Int32Array.from(ids), distances: new Float32Array(k) };
      },
    };
    const w = withExactRerank(coarse, base, d);
    const q = Float32Array.from([1, 0.5]);
    // exact scores: 0 -> 1, 1 -> 0.5, 2 -> 3, 3 -> -1.5, 4 -> 3 (tie with 2: lower id first)
    const r = w.search(q, 3, { rerank: 5 }) as Result;
    expect(Array.from(r.ids)).toEqual([2, 4, 0]);
    expect(Array.from(r.distances)).toEqual([3, 3, 1]);
    // rerank 2 only sees the coarse top-2 (3, 1): best of those
    expect(Array.from((w.search(q, 2, { rerank: 2 }) as Result).ids)).toEqual([1, 3]);
    // without rerank: the coarse result unchanged
    expect(Array.from((w.search(q, 2) as Result).ids)).toEqual([3, 1]);
  });
});

describe('readRaggedIvecs', () => {
  it('reads rows of different lengths, empty rows included, and refuses a truncated file', () => {
    const dir = join(process.cwd(), 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const good = join(dir, 'ragged.ivecs');
    writeFileSync(good, new Uint8Array(i32(3, 7, 8, 9, 0, 1, -4, 2, 5, 6).buffer));
    expect(readRaggedIvecs(good).map((r: Int32Array) => Array.from(r))).toEqual([[7, 8, 9], [], [-4], [5, 6]]);
    const bad = join(dir, 'ragged-bad.ivecs');
    writeFileSync(bad, new Uint8Array(i32(3, 7, 8).buffer));
    expect(() => readRaggedIvecs(bad)).toThrow(/past the end/);
  });
});
