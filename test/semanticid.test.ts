// SemanticIdTokenizer: IDs are unique and made of level codes plus a collision token counted in item order; the
// residual error falls with every level and decode reproduces it; cold-start encode continues the collision counts;
// the prefix index (lookup, validNextTokens, exportTrie) against brute force over the IDs; balanced codes respect
// their capacity and raise utilization and perplexity on skewed data; save / load; errors. On MovieLens (when
// ../shared/data is present): the targets for the balanced option.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryStats, SemanticIdTokenizer } from '../dist/index.js';
import { writeContainer } from '../dist/io/format.js';
import { clustered, floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { movieLensOrSkip } from './helpers/movielens.js';
import { expectRefusal } from './helpers/refusals.js';
import { TestRng } from './helpers/rng.js';

beforeAll(async () => {
  await init();
});
const track = disposeAfterEach();

const rowsOf = (ids: Int32Array, L: number) => Array.from({ length: ids.length / L }, (_, i) => Array.from(ids.subarray(i * L, (i + 1) * L)));
const cmpRows = (a: number[], b: number[]) => {
  for (let t = 0; t < a.length; t++) if (a[t] !== b[t]) return a[t] - b[t];
  return 0;
};

/** Skewed data: cluster sizes from 400 down to 5, so plain k-means piles items onto few codes at coarse levels. */
function skewed(d: number, seed: number): Float32Array {
  const r = new TestRng(seed);
  const parts: number[] = [];
  for (let c = 0; c < 12; c++) {
    const size = Math.max(5, Math.round(400 / (c + 1) ** 1.5));
    const centre = Array.from({ length: d }, () => r.gauss() * 6);
    for (let i = 0; i < size; i++) for (let t = 0; t < d; t++) parts.push(centre[t] + r.gauss() * 0.5);
  }
  return Float32Array.from(parts);
}

describe('SemanticIdTokenizer', () => {
  it('IDs: level codes plus a collision token counted in item order; every ID unique; stats consistent', () => {
    const { x } = clustered(10, 40, 8, 3);
    const tok = track(new SemanticIdTokenizer({ d: 8, levels: 2, codebookSize: 16, seed: 5 }));
    const res = tok.fit(x);
    const n = 400, L = 3;
    expect(res.length).toBe(L);
    expect(res.ids).toHaveLength(n * L);
    const rows = rowsOf(res.ids, L);
    expect(new Set(rows.map((r) => r.join(','))).size).toBe(n);
    const groups = new Map<string, number[]>();
    rows.forEach((r, i) => {
      expect(r[0]).toBeGreaterThanOrEqual(0);
      expect(r[1]).toBeLessThan(16);
      const key = r.slice(0, 2).join(',');
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    let collided = 0, maxC = 0;
    for (const items of groups.values()) {
      items.forEach((item, j) => expect(rows[item][2]).toBe(j)); // 0, 1, 2 ... in item order
      if (items.length > 1) collided += items.length;
      maxC = Math.max(maxC, items.length);
    }
    expect(res.collisionRate).toBeCloseTo(collided / n, 12);
    expect(res.maxCollisions).toBe(maxC);
    expect(res.stats).toHaveLength(2);
    for (let l = 0; l < 2; l++) expect(res.stats[l].used).toBe(new Set(rows.map((r) => r[l])).size);
    expect(Array.from(tok.ids)).toEqual(Array.from(res.ids));
  });

  it('the residual error falls with every level, and decode(ids) reproduces it', () => {
    const x = floatVectors(600, 12, 7);
    const tok = track(new SemanticIdTokenizer({ d: 12, levels: 4, codebookSize: 32 }));
    const res = tok.fit(x);
    for (let l = 1; l < 4; l++) expect(res.mse[l]).toBeLessThan(res.mse[l - 1]);
    const rec = tok.decode(res.ids);
    let err = 0;
    for (let i = 0; i < x.length; i++) err += (x[i] - rec[i]) ** 2;
    expect(err / 600).toBeCloseTo(res.mse[3], 3);
  });

  it('encode: frozen codebooks give fitted items their own level codes; collision tokens continue the counts', () => {
    const { x } = clustered(6, 30, 5, 9);
    const tok = track(new SemanticIdTokenizer({ d: 5, levels: 2, codebookSize: 8 }));
    const fit = tok.fit(x);
    const again = tok.encode(x.subarray(0, 10 * 5));
    const L = 3;
    const before = rowsOf(fit.ids, L);
    const counts = new Map<string, number>();
    for (const r of before) counts.set(r.slice(0, 2).join(','), (counts.get(r.slice(0, 2).join(',')) ?? 0) + 1);
    rowsOf(again.ids, L).forEach((r, i) => {
      expect(r.slice(0, 2)).toEqual(before[i].slice(0, 2));
      const key = r.slice(0, 2).join(',');
      expect(r[2]).toBe(counts.get(key)); // the next free token for that prefix
      counts.set(key, counts.get(key)! + 1);
    });
    expect(tok.size).toBe(190);
    expect(new Set(rowsOf(tok.ids, L).map((r) => r.join(','))).size).toBe(190);
  });

  it('lookup, validNextTokens and exportTrie agree with brute force over the IDs', () => {
    const x = skewed(6, 4);
    const tok = track(new SemanticIdTokenizer({ d: 6, levels: 2, codebookSize: 16 }));
    tok.fit(x);
    tok.encode(floatVectors(20, 6, 5, 4));
    const L = 3;
    const rows = rowsOf(tok.ids, L);
    const r = new TestRng(3);
    const prefixes: number[][] = [[]];
    for (let i = 0; i < 40; i++) {
      const row = rows[r.int(0, rows.length - 1)];
      prefixes.push(row.slice(0, r.int(1, L)));
    }
    prefixes.push([15, 15], [99], [0, 0, 0]);
    for (const p of prefixes) {
      const want = rows.map((row, i) => ({ row, i })).filter(({ row }) => p.every((v, t) => row[t] === v));
      want.sort((a, b) => cmpRows(a.row, b.row));
      expect(Array.from(tok.lookup(p)), `lookup ${p}`).toEqual(want.map((w) => w.i));
      const next = p.length === L ? [] : [...new Set(want.map((w) => w.row[p.length]))].sort((a, b) => a - b);
      expect(Array.from(tok.validNextTokens(Int32Array.from(p))), `next ${p}`).toEqual(next);
    }
    // the trie: every root-to-leaf path is an ID, and its leaf names the item that has it
    const t = tok.exportTrie();
    const found: string[] = [];
    const walk = (node: number, path: number[]) => {
      if (t.childCount[node] === 0) {
        expect(t.depth[node]).toBe(L);
        expect(rows[t.item[node]]).toEqual(path);
        found.push(path.join(','));
        return;
      }
      expect(t.item[node]).toBe(-1);
      for (let c = t.firstChild[node]; c < t.firstChild[node] + t.childCount[node]; c++) {
        expect(t.depth[c]).toBe(t.depth[node] + 1);
        walk(c, [...path, t.token[c]]);
      }
    };
    walk(0, []);
    expect(found.sort()).toEqual(rows.map((row) => row.join(',')).sort());
    const distinctPrefixes = new Set<string>([''] as string[]);
    for (const row of rows) for (let p = 1; p <= L; p++) distinctPrefixes.add(row.slice(0, p).join(','));
    expect(t.token.length).toBe(distinctPrefixes.size);
  });

  it('balance: no code over ceil(n / K) items at any level; higher utilization and perplexity on skewed data', () => {
    const x = skewed(6, 8);
    const n = x.length / 6, K = 32;
    const plain = track(new SemanticIdTokenizer({ d: 6, levels: 2, codebookSize: K, seed: 2 })).fit(x);
    const balanced = track(new SemanticIdTokenizer({ d: 6, levels: 2, codebookSize: K, seed: 2, balance: true })).fit(x);
    for (let l = 0; l < 2; l++) {
      const max = Math.max(...balanced.stats[l].counts);
      expect(max).toBeLessThanOrEqual(Math.ceil(n / K));
    }
    expect(balanced.stats[0].perplexity).toBeGreaterThan(plain.stats[0].perplexity * 1.2);
    expect(balanced.stats[0].utilization).toBeGreaterThanOrEqual(plain.stats[0].utilization);
    expect(new Set(rowsOf(balanced.ids, 3).map((r) => r.join(','))).size).toBe(n);
  });

  it('save / load: the same IDs, prefix answers and cold-start encoding; same seed, same bytes', () => {
    const { x } = clustered(5, 30, 4, 12);
    const a = track(new SemanticIdTokenizer({ d: 4, levels: 2, codebookSize: 8, balance: true, seed: 9 }));
    a.fit(x);
    const b = track(new SemanticIdTokenizer({ d: 4, levels: 2, codebookSize: 8, balance: true, seed: 9 }));
    b.fit(x);
    expect(b.save()).toEqual(a.save());
    const c = track(SemanticIdTokenizer.load(a.save()));
    expect(Array.from(c.ids)).toEqual(Array.from(a.ids));
    expect(Array.from(c.lookup([1]))).toEqual(Array.from(a.lookup([1])));
    const fresh = floatVectors(7, 4, 13, 3);
    expect(Array.from(c.encode(fresh).ids)).toEqual(Array.from(a.encode(fresh).ids));
    expect(c.save()).toEqual(a.save());
    expect(track(SemanticIdTokenizer.load(track(new SemanticIdTokenizer({ d: 4 })).save())).isFitted).toBe(false);
  });

  it('refuses bad options, input, prefixes and saved files with VQError', () => {
    const W = 'new SemanticIdTokenizer';
    expectRefusal(() => new SemanticIdTokenizer({ d: 4, codebookSize: 1 }), 'INVALID_OPTION', W, ['codebookSize']);
    expectRefusal(() => new SemanticIdTokenizer({ d: 4, levels: 0 }), 'INVALID_OPTION', W, ['levels']);
    expectRefusal(() => new SemanticIdTokenizer({ d: 4, balance: 1 as unknown as boolean }), 'INVALID_OPTION', W, ['balance']);
    const tok = track(new SemanticIdTokenizer({ d: 4, levels: 2, codebookSize: 8 }));
    expectRefusal(() => tok.lookup([]), 'NOT_TRAINED', 'SemanticIdTokenizer.lookup');
    expectRefusal(() => tok.fit(floatVectors(7, 4, 1)), 'TOO_FEW_POINTS', 'SemanticIdTokenizer.fit', [/n = 7/, /codebookSize = 8/]);
    expectRefusal(() => tok.fit(new Float32Array([1, 2, NaN, 4, ...new Array(60).fill(0)])), 'NON_FINITE', 'SemanticIdTokenizer.fit');
    tok.fit(floatVectors(50, 4, 2));
    expectRefusal(() => tok.lookup([1, 2, 3, 4]), 'INVALID_SIZE', 'SemanticIdTokenizer.lookup', ['longer than an ID']);
    expectRefusal(() => tok.validNextTokens([1.5]), 'INVALID_TYPE', 'SemanticIdTokenizer.validNextTokens', ['prefix[0]']);
    expectRefusal(() => tok.lookup('12' as unknown as number[]), 'INVALID_TYPE', 'SemanticIdTokenizer.lookup');
    expectRefusal(() => tok.decode(Int32Array.from([8, 0, 0])), 'INVALID_OPTION', 'SemanticIdTokenizer.decode', ['ids[0]']);
    expectRefusal(() => tok.decode(Int32Array.from([1, 0])), 'INVALID_SIZE', 'SemanticIdTokenizer.decode');
    expectRefusal(() => tok.encode(floatVectors(2, 5, 1)), 'INVALID_SIZE', 'SemanticIdTokenizer.encode');
    const bytes = tok.save();
    expectRefusal(() => SemanticIdTokenizer.load(bytes.slice(0, bytes.length - 4)), 'CORRUPT_DATA', 'SemanticIdTokenizer.load');
    // a well-formed file whose two items share an ID
    const params = { d: 4, levels: 2, codebookSize: 8, seed: 1, balance: false, iterations: 5, balanceIterations: 0, fitted: true, n: 2 };
    const dup = writeContainer('SemanticIdTokenizer', params, [{ tag: 'CENT', data: new Float32Array(2 * 8 * 4) }, { tag: 'IDS ', data: Int32Array.from([1, 2, 0, 1, 2, 0]) }]);
    expectRefusal(() => SemanticIdTokenizer.load(dup), 'CORRUPT_DATA', 'SemanticIdTokenizer.load', ['share an ID']);
    const badTok = writeContainer('SemanticIdTokenizer', params, [{ tag: 'CENT', data: new Float32Array(2 * 8 * 4) }, { tag: 'IDS ', data: Int32Array.from([1, 9, 0, 1, 2, 0]) }]);
    expectRefusal(() => SemanticIdTokenizer.load(badTok), 'CORRUPT_DATA', 'SemanticIdTokenizer.load', ['level 1']);
    // a codebook value no input could have given (2^50 and more): damage, not the caller's input
    const huge = new Float32Array(2 * 8 * 4);
    huge[5] = 1e30;
    const bigCent = writeContainer('SemanticIdTokenizer', params, [{ tag: 'CENT', data: huge }, { tag: 'IDS ', data: Int32Array.from([1, 2, 0, 1, 3, 0]) }]);
    expectRefusal(() => SemanticIdTokenizer.load(bigCent), 'CORRUPT_DATA', 'SemanticIdTokenizer.load', ['CENT', 'too large', 'index 5']);
    tok.dispose();
    expectRefusal(() => tok.lookup([]), 'DISPOSED', 'SemanticIdTokenizer.lookup');
  });

  it('dispose frees the codebooks: repeated fit / load / dispose does not grow wasm memory', () => {
    const x = floatVectors(80, 4, 3);
    const run = () => {
      const t = new SemanticIdTokenizer({ d: 4, levels: 2, codebookSize: 8, balance: true });
      t.fit(x);
      SemanticIdTokenizer.load(t.save()).dispose();
      t.dispose();
    };
    run();
    const base = memoryStats();
    for (let i = 0; i < 10; i++) run();
    const after = memoryStats();
    expect(after.liveBytes).toBe(base.liveBytes);
    expect(after.liveAllocations).toBe(base.liveAllocations);
  });
});

describe('MovieLens (../shared/data): semantic IDs', () => {
  const ml = movieLensOrSkip('semanticid.test');
  if (!ml) return;
  it('3 levels x 256: every ID unique; balanced first level >= 95 % utilization and perplexity >= 0.8 x 256', () => {
    const { x, d, n } = ml;
    for (const balance of [false, true]) {
      const tok = track(new SemanticIdTokenizer({ d, balance }));
      const res = tok.fit(x);
      console.log(
        `MovieLens semantic IDs (balance ${balance}): collision rate ${res.collisionRate.toFixed(3)}, max ${res.maxCollisions} items a prefix; ` +
          res.stats.map((s, l) => `level ${l}: utilization ${s.utilization.toFixed(3)}, perplexity ${s.perplexity.toFixed(1)}`).join('; '),
      );
      expect(new Set(rowsOf(res.ids, 4).map((r) => r.join(','))).size).toBe(n);
      if (balance) {
        expect(res.stats[0].utilization).toBeGreaterThanOrEqual(0.95);
        expect(res.stats[0].perplexity).toBeGreaterThanOrEqual(0.8 * 256);
      }
    }
  });
});
