// Bad input at every public entry point. Each refusal must be a VQError (never a raw RuntimeError or TypeError) with
// the documented code and a message of the form `Class.method: what (got X, expected Y)`; and after every refused
// call the object it was made on must be exactly as before (same size, same search results, same centroids, no
// allocation leaked).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FlatIndex, init, KMeans, memoryStats, norms, pairwiseDistances, VQError, type VQErrorCode } from '../dist/index.js';
import { engine } from '../dist/wasm/engine.js';
import { uniformVectors } from './helpers/data.js';
import { type Alloc, allocState, type Case, checkRefusal, expectRefusal, intCases, named, NON_FINITE, oneOfCases, type Part, thrown } from './helpers/refusals.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

/** Values that are not a Float32Array, with how the message must describe each. */
const NOT_F32: { label: string; value: () => unknown; got: RegExp }[] = [
  { label: '0', value: () => 0, got: /got 0\b/ },
  { label: '{}', value: () => ({}), got: /got an object/ },
  { label: '[]', value: () => [], got: /got an Array of length 0/ },
  { label: 'null', value: () => null, got: /got null/ },
  { label: 'undefined', value: () => undefined, got: /got undefined/ },
  { label: "'x'", value: () => 'x', got: /got "x"/ },
  { label: 'Float64Array(4)', value: () => new Float64Array(4), got: /got Float64Array of length 4/ },
  { label: 'number[] [1,2,3]', value: () => [1, 2, 3], got: /got an Array of length 3/ },
  { label: 'Int32Array(4)', value: () => new Int32Array(4), got: /got Int32Array of length 4/ },
];

/**
 * The cases for one Float32Array argument of n * d values: wrong types, lengths that are not a multiple of d, empty
 * input, and NaN / +-Infinity at the first, a middle and the last position.
 */
function vectorCases(where: string, arg: string, d: number, n: number, seed: number, call: (bad: unknown) => unknown): Case[] {
  const cases: Case[] = [];
  for (const t of NOT_F32) {
    cases.push({ name: `${arg} = ${t.label}`, call: () => call(t.value()), code: 'INVALID_TYPE', where, parts: [arg, t.got, 'Float32Array'] });
  }
  const badLengths = [n * d + 1, n * d - 1, ...(d > 2 ? [d - 1, d + 1] : [])];
  for (const len of new Set(badLengths)) {
    if (len <= 0 || len % d === 0) continue;
    cases.push({
      name: `${arg}.length = ${len} (d = ${d})`,
      call: () => call(uniformVectors(1, len, seed)),
      code: 'INVALID_SIZE',
      where,
      parts: [arg, `length ${len}`, `${d}`],
    });
  }
  cases.push({ name: `${arg} empty`, call: () => call(new Float32Array(0)), code: 'INVALID_SIZE', where, parts: [arg, /got 0 vectors/, /at least 1/] });
  const positions = [0, Math.floor((n * d) / 2) + 1, n * d - 1];
  for (const nf of NON_FINITE) {
    for (const p of positions) {
      cases.push({
        name: `${arg} with ${nf.label} at ${p} of ${n * d}`,
        call: () => {
          const x = uniformVectors(n, d, seed);
          x[p] = nf.v;
          return call(x);
        },
        code: 'NON_FINITE',
        where,
        parts: [arg, `vector ${Math.floor(p / d)}, component ${p % d}`, nf.got, /expected finite/],
      });
    }
  }
  // finite, but beyond what float32 distances can square (1e20 overflowed to Infinity and read as a missing vector)
  for (const [label, v, got] of [['1e20', 1e20, /got 100000002004087730000\b/], ['-2^50', -(2 ** 50), /got -1125899906842624\b/]] as const) {
    const p = positions[1];
    cases.push({
      name: `${arg} with ${label} at ${p} of ${n * d}`,
      call: () => {
        const x = uniformVectors(n, d, seed);
        x[p] = v;
        return call(x);
      },
      code: 'NON_FINITE',
      where,
      parts: [arg, /too large/, `vector ${Math.floor(p / d)}, component ${p % d}`, got, /below 2\^50/],
    });
  }
  return cases;
}

/** Bad values for an options argument that must be a plain object. */
function optionsObjectCases(where: string, call: (bad: unknown) => unknown): Case[] {
  const values: { label: string; v: unknown; got: RegExp }[] = [
    { label: '0', v: 0, got: /got 0\b/ },
    { label: 'null', v: null, got: /got null/ },
    { label: 'undefined', v: undefined, got: /got undefined/ },
    { label: "'x'", v: 'x', got: /got "x"/ },
    { label: '[]', v: [], got: /got an Array of length 0/ },
    { label: '[4]', v: [4], got: /got an Array of length 1/ },
    { label: 'true', v: true, got: /got true/ },
    { label: 'a function', v: () => ({ d: 4 }), got: /got a function/ },
  ];
  return values.map((b) => ({ name: `options = ${b.label}`, call: () => call(b.v), code: 'INVALID_TYPE' as const, where, parts: ['options', b.got, /expected .*object/] }));
}

// ---------------------------------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------------------------------

const D = 4;
const N = 10;
const BASE = uniformVectors(N, D, 1);
const BASE_IDS = Int32Array.from({ length: N }, (_, i) => 100 + i);
const QUERIES = uniformVectors(3, D, 2);

beforeAll(async () => {
  await init();
});

interface IndexSnapshot {
  size: number;
  ids: Int32Array;
  distances: Float32Array;
  stored: Float32Array;
}

function snapshotIndex(index: FlatIndex): IndexSnapshot {
  const res = index.search(QUERIES, 5);
  return { size: index.size, ids: res.ids, distances: res.distances, stored: index.reconstructRange(0, index.size) };
}

// ---------------------------------------------------------------------------------------------------------------
// FlatIndex
// ---------------------------------------------------------------------------------------------------------------

describe('new FlatIndex', () => {
  let allocBefore: Alloc;
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    // a refused constructor allocates nothing
    expect(allocState()).toEqual(allocBefore);
  });

  const W = 'new FlatIndex';
  const cases: Case[] = [
    ...optionsObjectCases(W, (o) => new FlatIndex(o as never)),
    ...intCases(W, 'd', 1, 1 << 20, (d) => new FlatIndex({ d } as never), { required: true }),
    { name: 'd missing', call: () => new FlatIndex({} as never), code: 'INVALID_OPTION', where: W, parts: ['d', /got undefined/] },
    ...oneOfCases(W, 'metric', ['l2', 'ip', 'cosine'], ['x', 'L2', 'euclidean', 'dot', '', 0, {}, []], (metric) => new FlatIndex({ d: 4, metric } as never)),
  ];
  it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
});

describe('FlatIndex methods on an index of 10 vectors', () => {
  let index: FlatIndex;
  let before: IndexSnapshot;
  let allocBefore: Alloc;

  beforeAll(() => {
    index = new FlatIndex({ d: D });
    index.add(BASE, BASE_IDS);
    before = snapshotIndex(index);
  });
  afterAll(() => index.dispose());
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    // nothing allocated or freed by the refused call, and the index answers exactly as before
    expect(allocState(), 'allocations changed by a refused call').toEqual(allocBefore);
    expect(snapshotIndex(index)).toEqual(before);
  });

  const goodX = () => uniformVectors(3, D, 7);

  describe('add(x)', () => {
    const cases = vectorCases('FlatIndex.add', 'x', D, 3, 3, (x) => index.add(x as never));
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('add(x, ids)', () => {
    const W = 'FlatIndex.add';
    const cases: Case[] = [];
    const wrongTypes: { label: string; value: () => unknown; got: RegExp }[] = [
      ...NOT_F32.filter((t) => t.label !== 'undefined' && t.label !== 'Int32Array(4)'),
      { label: 'Float32Array(3)', value: () => new Float32Array(3), got: /got Float32Array of length 3/ },
      { label: 'Uint32Array(3)', value: () => new Uint32Array(3), got: /got Uint32Array of length 3/ },
      { label: 'BigInt64Array(3)', value: () => new BigInt64Array(3), got: /got BigInt64Array of length 3/ },
      { label: 'number[] [0,1,2]', value: () => [0, 1, 2], got: /got an Array of length 3/ },
    ];
    for (const t of wrongTypes) {
      cases.push({ name: `ids = ${t.label}`, call: () => index.add(goodX(), t.value() as never), code: 'INVALID_TYPE', where: W, parts: ['ids', t.got, /expected an Int32Array of length 3/] });
    }
    for (const len of [0, 2, 4, 30]) {
      cases.push({ name: `ids of length ${len} for 3 vectors`, call: () => index.add(goodX(), new Int32Array(len)), code: 'INVALID_SIZE', where: W, parts: ['ids', `got length ${len}`, 'expected length 3'] });
    }
    for (const [pos, v] of [[0, -1], [1, -7], [2, -2147483648]] as const) {
      cases.push({
        name: `ids[${pos}] = ${v}`,
        call: () => {
          const ids = Int32Array.from([500, 501, 502]);
          ids[pos] = v;
          index.add(goodX(), ids);
        },
        code: 'INVALID_OPTION',
        where: W,
        parts: [`ids[${pos}]`, new RegExp(`got ${v}\\b`), /expected ids >= 0/],
      });
    }
    // bad x and bad ids together: x is checked first, nothing is added
    cases.push({ name: 'bad x and bad ids', call: () => index.add(new Float64Array(12) as never, new Int32Array(1)), code: 'INVALID_TYPE', where: W, parts: ['x'] });
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('search(q, k)', () => {
    const cases = [
      ...vectorCases('FlatIndex.search', 'queries', D, 2, 4, (q) => index.search(q as never, 3)),
      ...intCases('FlatIndex.search', 'k', 1, 1 << 20, (k) => index.search(QUERIES, k as never), { required: true }),
    ];
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('reconstructRange(from, count)', () => {
    const W = 'FlatIndex.reconstructRange';
    const cases: Case[] = [
      ...intCases(W, 'from', 0, N, (from) => index.reconstructRange(from as never, 1), { required: true }),
      ...intCases(W, 'count', 0, N, (count) => index.reconstructRange(0, count as never), { required: true }),
      { name: 'from + count > size', call: () => index.reconstructRange(5, 6), code: 'INVALID_OPTION', where: W, parts: ['count', /got 6\b/, /\[0, 5\]/] },
      { name: 'from = size + 1', call: () => index.reconstructRange(N + 1, 0), code: 'INVALID_OPTION', where: W, parts: ['from', new RegExp(`got ${N + 1}`)] },
    ];
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// KMeans
// ---------------------------------------------------------------------------------------------------------------

describe('new KMeans', () => {
  let allocBefore: Alloc;
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    expect(allocState()).toEqual(allocBefore);
  });

  const W = 'new KMeans';
  const make = (extra: Record<string, unknown>) => () => new KMeans({ d: 4, k: 3, ...extra } as never);
  const notAFunction: unknown[] = ['x', 1, {}, null, true, [], new Float32Array(1)];
  const cases: Case[] = [
    ...optionsObjectCases(W, (o) => new KMeans(o as never)),
    ...intCases(W, 'd', 1, 1 << 20, (d) => new KMeans({ d, k: 3 } as never), { required: true }),
    ...intCases(W, 'k', 1, 1 << 24, (k) => new KMeans({ d: 4, k } as never), { required: true }),
    { name: 'k missing', call: () => new KMeans({ d: 4 } as never), code: 'INVALID_OPTION', where: W, parts: ['k', /got undefined/] },
    ...intCases(W, 'iterations', 1, 1_000_000, (iterations) => make({ iterations })()),
    ...intCases(W, 'nredo', 1, 1000, (nredo) => make({ nredo })()),
    ...intCases(W, 'maxPointsPerCentroid', 1, null, (maxPointsPerCentroid) => make({ maxPointsPerCentroid })()),
    ...intCases(W, 'minPointsPerCentroid', 0, null, (minPointsPerCentroid) => make({ minPointsPerCentroid })()),
    ...[1.5, NaN, Infinity, '7', {}].map((seed) => ({
      name: `seed = ${typeof seed === 'string' ? `'${seed}'` : typeof seed === 'object' ? '{}' : seed}`,
      call: make({ seed }),
      code: 'INVALID_OPTION' as const,
      where: W,
      parts: ['seed', /expected an integer/],
    })),
    ...oneOfCases(W, 'init', ['kmeans++', 'random'], ['x', 'k-means++', 'kmeans', 'forgy', 'RANDOM', '', 0, {}, []], (init) => make({ init })()),
    ...['yes', 1, 0, {}, []].map((spherical) => ({
      name: `spherical = ${JSON.stringify(spherical)}`,
      call: make({ spherical }),
      code: 'INVALID_OPTION' as const,
      where: W,
      parts: ['spherical', /expected true or false/],
    })),
    {
      name: 'minPointsPerCentroid > maxPointsPerCentroid',
      call: make({ minPointsPerCentroid: 10, maxPointsPerCentroid: 5 }),
      code: 'INVALID_OPTION',
      where: W,
      parts: ['minPointsPerCentroid', 'maxPointsPerCentroid', '10', '5'],
    },
    ...(['onProgress', 'onWarning'] as const).flatMap((cb) =>
      notAFunction.map((v) => ({
        name: `${cb} = ${typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? '[]' : ArrayBuffer.isView(v) ? 'Float32Array' : typeof v === 'object' && v !== null ? '{}' : String(v)}`,
        call: make({ [cb]: v }),
        code: 'INVALID_OPTION' as const,
        where: W,
        parts: [cb, /expected a function/],
      })),
    ),
    {
      name: 'k * d over 4 GiB (d = 2^20, k = 2^12)',
      call: () => new KMeans({ d: 1 << 20, k: 1 << 12 }),
      code: 'OUT_OF_MEMORY',
      where: W,
      parts: [/4 GiB/, '4096', '1048576'],
    },
    {
      name: 'k * d just over 4 GiB (d = 2^20, k = 2^10)',
      call: () => new KMeans({ d: 1 << 20, k: 1 << 10 }),
      code: 'OUT_OF_MEMORY',
      where: W,
      parts: [/4 GiB/],
    },
  ];
  it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
});

describe('KMeans methods', () => {
  const TRAIN = uniformVectors(60, D, 11);
  const PROBE = uniformVectors(7, D, 12);
  let km: KMeans; // trained, k = 3
  let untrained: KMeans;
  let before: { centroids: Float32Array; labels: Int32Array; distances: Float32Array; isTrained: boolean };
  let allocBefore: Alloc;

  const snapshot = () => {
    const a = km.assign(PROBE);
    return { centroids: km.centroids, labels: a.labels, distances: a.distances, isTrained: km.isTrained };
  };

  beforeAll(() => {
    km = new KMeans({ d: D, k: 3, iterations: 5, minPointsPerCentroid: 0 });
    km.train(TRAIN);
    untrained = new KMeans({ d: D, k: 3 });
    before = snapshot();
  });
  afterAll(() => {
    km.dispose();
    untrained.dispose();
  });
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    expect(allocState(), 'allocations changed by a refused call').toEqual(allocBefore);
    expect(snapshot()).toEqual(before);
    expect(untrained.isTrained).toBe(false);
  });

  describe('train(x) on a trained model', () => {
    const cases: Case[] = [
      ...vectorCases('KMeans.train', 'x', D, 20, 13, (x) => km.train(x as never)),
      { name: 'n = 2 < k = 3', call: () => km.train(uniformVectors(2, D, 14)), code: 'TOO_FEW_POINTS', where: 'KMeans.train', parts: [/got n = 2\b/, /expected n >= k = 3/] },
      { name: 'n = 1 < k = 3', call: () => km.train(uniformVectors(1, D, 14)), code: 'TOO_FEW_POINTS', where: 'KMeans.train', parts: ['n = 1', 'k = 3'] },
    ];
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('train(x) on an untrained model', () => {
    const cases: Case[] = [
      { name: 'k > n', call: () => untrained.train(uniformVectors(2, D, 15)), code: 'TOO_FEW_POINTS', where: 'KMeans.train', parts: ['n = 2', 'k = 3'] },
      { name: 'NaN in x', call: () => untrained.train(new Float32Array([1, 2, 3, 4, 5, 6, 7, NaN, 1, 1, 1, 1, 2, 2, 2, 2])), code: 'NON_FINITE', where: 'KMeans.train', parts: ['vector 1, component 3'] },
      { name: 'x = number[]', call: () => untrained.train([1, 2, 3, 4] as never), code: 'INVALID_TYPE', where: 'KMeans.train', parts: ['Float32Array'] },
    ];
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('assign(x)', () => {
    const cases: Case[] = [
      ...vectorCases('KMeans.assign', 'x', D, 5, 16, (x) => km.assign(x as never)),
      { name: 'untrained model', call: () => untrained.assign(PROBE), code: 'NOT_TRAINED', where: 'KMeans.assign', parts: [/expected train\(x\) first/] },
    ];
    it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  it('centroids of an untrained model -> NOT_TRAINED', () => {
    expectRefusal(() => untrained.centroids, 'NOT_TRAINED', 'KMeans.centroids', [/expected train\(x\) first/]);
  });

  it('a k > n model refused at train() keeps working once given enough points', () => {
    const m = new KMeans({ d: D, k: 5, iterations: 2, minPointsPerCentroid: 0 });
    try {
      expectRefusal(() => m.train(uniformVectors(4, D, 17)), 'TOO_FEW_POINTS', 'KMeans.train', ['n = 4', 'k = 5']);
      expect(m.isTrained).toBe(false);
      m.train(uniformVectors(5, D, 17));
      expect(m.centroids.length).toBe(5 * D);
    } finally {
      m.dispose();
    }
  });
});

describe('a callback that throws during train()', () => {
  it('propagates, keeps the previous centroids and frees the working buffers', () => {
    let explode = false;
    const boom = new Error('boom from onProgress');
    const m = new KMeans({
      d: D,
      k: 4,
      iterations: 3,
      minPointsPerCentroid: 0,
      onProgress: () => {
        if (explode) throw boom;
      },
    });
    try {
      m.train(uniformVectors(50, D, 21));
      const centroids = m.centroids;
      const alloc = allocState();
      explode = true;
      expect(thrown(() => m.train(uniformVectors(50, D, 22)))).toBe(boom);
      expect(allocState()).toEqual(alloc);
      expect(m.centroids).toEqual(centroids);
      expect(m.isTrained).toBe(true);
    } finally {
      m.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// free functions
// ---------------------------------------------------------------------------------------------------------------

describe('pairwiseDistances(x, y, d, metric)', () => {
  const X = uniformVectors(3, D, 31);
  const Y = uniformVectors(2, D, 32);
  const W = 'pairwiseDistances';
  let allocBefore: Alloc;
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    expect(allocState()).toEqual(allocBefore);
    // the inputs were not touched and the function still answers
    expect(X).toEqual(uniformVectors(3, D, 31));
    expect(pairwiseDistances(X, Y, D).length).toBe(6);
  });
  const cases: Case[] = [
    ...vectorCases(W, 'x', D, 3, 33, (x) => pairwiseDistances(x as never, Y, D)),
    ...vectorCases(W, 'y', D, 3, 34, (y) => pairwiseDistances(X, y as never, D)),
    ...intCases(W, 'd', 1, 1 << 20, (d) => pairwiseDistances(X, Y, d as never), { required: true }),
    ...oneOfCases(W, 'metric', ['l2', 'ip', 'cosine'], ['x', 'L2', 'euclidean', '', null, 0, {}], (m) => pairwiseDistances(X, Y, D, m as never)),
    { name: 'd that does not divide x (d = 5)', call: () => pairwiseDistances(X, uniformVectors(1, 5, 3), 5), code: 'INVALID_SIZE', where: W, parts: ['x', 'length 12', 'd = 5'] },
  ];
  it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
});

describe('norms(x, d, squared)', () => {
  const X = uniformVectors(3, D, 41);
  const W = 'norms';
  let allocBefore: Alloc;
  beforeEach(() => {
    allocBefore = allocState();
  });
  afterEach(() => {
    expect(allocState()).toEqual(allocBefore);
    expect(norms(X, D).length).toBe(3);
  });
  const cases: Case[] = [
    ...vectorCases(W, 'x', D, 3, 42, (x) => norms(x as never, D)),
    ...intCases(W, 'd', 1, 1 << 20, (d) => norms(X, d as never), { required: true }),
    // `squared` is a boolean like KMeans's `spherical`; anything else is most likely a misplaced argument
    ...['yes', 1, 0, {}, null, 'false'].map((squared) => ({
      name: `squared = ${JSON.stringify(squared)}`,
      call: () => norms(X, D, squared as never),
      code: 'INVALID_OPTION' as const,
      where: W,
      parts: ['squared', /expected true or false/],
    })),
  ];
  it.each(named(cases))('%s', (_name, c) => expectRefusal(c.call, c.code, c.where, c.parts));
});

// ---------------------------------------------------------------------------------------------------------------
// use after dispose()
// ---------------------------------------------------------------------------------------------------------------

describe('use after dispose()', () => {
  const DISPOSED_PARTS = [/expected a live object/];

  it('FlatIndex: every method -> DISPOSED, even with bad arguments; dispose() twice is fine', () => {
    const alloc = allocState();
    const index = new FlatIndex({ d: D });
    index.add(BASE);
    expect(index.disposed).toBe(false);
    index.dispose();
    expect(allocState()).toEqual(alloc);
    expect(index.disposed).toBe(true);
    expectRefusal(() => index.add(BASE), 'DISPOSED', 'FlatIndex.add', DISPOSED_PARTS);
    expectRefusal(() => index.add(BASE, BASE_IDS), 'DISPOSED', 'FlatIndex.add', DISPOSED_PARTS);
    expectRefusal(() => index.add(null as never), 'DISPOSED', 'FlatIndex.add', DISPOSED_PARTS);
    expectRefusal(() => index.search(QUERIES, 3), 'DISPOSED', 'FlatIndex.search', DISPOSED_PARTS);
    expectRefusal(() => index.search('x' as never, 0), 'DISPOSED', 'FlatIndex.search', DISPOSED_PARTS);
    expectRefusal(() => index.reconstructRange(0, 1), 'DISPOSED', 'FlatIndex.reconstructRange', DISPOSED_PARTS);
    expect(() => index.dispose()).not.toThrow();
    expect(() => index[Symbol.dispose]()).not.toThrow();
    expect(allocState()).toEqual(alloc);
  });

  it('FlatIndex: [Symbol.dispose]() disposes like dispose()', () => {
    const alloc = allocState();
    const index = new FlatIndex({ d: D, metric: 'ip' });
    index.add(BASE);
    index[Symbol.dispose]();
    expect(index.disposed).toBe(true);
    expect(allocState()).toEqual(alloc);
    expectRefusal(() => index.search(QUERIES, 1), 'DISPOSED', 'FlatIndex.search', DISPOSED_PARTS);
    expect(() => index.dispose()).not.toThrow();
  });

  it('FlatIndex disposed before any add()', () => {
    const index = new FlatIndex({ d: D });
    index.dispose();
    expectRefusal(() => index.add(BASE), 'DISPOSED', 'FlatIndex.add', DISPOSED_PARTS);
    expectRefusal(() => index.search(QUERIES, 1), 'DISPOSED', 'FlatIndex.search', DISPOSED_PARTS);
  });

  it('KMeans (trained): every method -> DISPOSED; dispose() twice is fine', () => {
    const alloc = allocState();
    const m = new KMeans({ d: D, k: 2, iterations: 2, minPointsPerCentroid: 0 });
    m.train(uniformVectors(20, D, 51));
    m.dispose();
    expect(allocState()).toEqual(alloc);
    expect(m.disposed).toBe(true);
    expectRefusal(() => m.train(uniformVectors(20, D, 52)), 'DISPOSED', 'KMeans.train', DISPOSED_PARTS);
    expectRefusal(() => m.train(undefined as never), 'DISPOSED', 'KMeans.train', DISPOSED_PARTS);
    expectRefusal(() => m.assign(QUERIES), 'DISPOSED', 'KMeans.assign', DISPOSED_PARTS);
    expectRefusal(() => m.centroids, 'DISPOSED', 'KMeans.centroids', DISPOSED_PARTS);
    expect(() => m.dispose()).not.toThrow();
    expect(() => m[Symbol.dispose]()).not.toThrow();
    expect(allocState()).toEqual(alloc);
  });

  it('KMeans (untrained): DISPOSED wins over NOT_TRAINED', () => {
    const m = new KMeans({ d: D, k: 2 });
    m[Symbol.dispose]();
    expect(m.disposed).toBe(true);
    expectRefusal(() => m.centroids, 'DISPOSED', 'KMeans.centroids', DISPOSED_PARTS);
    expectRefusal(() => m.assign(QUERIES), 'DISPOSED', 'KMeans.assign', DISPOSED_PARTS);
    expectRefusal(() => m.train(uniformVectors(20, D, 53)), 'DISPOSED', 'KMeans.train', DISPOSED_PARTS);
  });

  it('disposing one object leaves the others working', () => {
    const a = new FlatIndex({ d: D });
    const b = new FlatIndex({ d: D });
    try {
      a.add(BASE);
      b.add(BASE);
      const want = b.search(QUERIES, 4);
      a.dispose();
      expect(b.search(QUERIES, 4)).toEqual(want);
    } finally {
      b.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// the 4 GiB limit
// ---------------------------------------------------------------------------------------------------------------

describe('requests over the 4 GiB of wasm32 memory -> OUT_OF_MEMORY, never a RuntimeError', () => {
  let before: ReturnType<typeof memoryStats>;
  beforeEach(() => {
    before = memoryStats();
  });
  afterEach(() => {
    const after = memoryStats();
    expect(after.liveAllocations).toBe(before.liveAllocations);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.heapEndBytes).toBe(before.heapEndBytes);
  });

  const sizes: [string, number][] = [
    ['5 GiB', 5 * 2 ** 30],
    ['exactly 4 GiB', 4 * 2 ** 30],
    ['4 GiB - 1000 bytes (fits alone, not beside the heap)', 4 * 2 ** 30 - 1000],
    ['2^53 bytes', 2 ** 53],
    ['Infinity bytes', Infinity],
  ];
  it.each(sizes)('engine.alloc(%s)', (_label, bytes) => {
    expectRefusal(() => engine('t').alloc(bytes, 'FlatIndex.add'), 'OUT_OF_MEMORY', 'FlatIndex.add', [/4 GiB/]);
  });

  it('new KMeans({ d: 2^20, k: 2^12 })', () => {
    expectRefusal(() => new KMeans({ d: 1 << 20, k: 1 << 12 }), 'OUT_OF_MEMORY', 'new KMeans', [/4 GiB/]);
  });

  it('a FlatIndex refused by the allocator is left as it was', () => {
    const index = new FlatIndex({ d: D });
    try {
      index.add(BASE);
      const snap = snapshotIndex(index);
      const alloc = allocState();
      // the allocator refuses the buffers a growing add() asks for (as it refuses anything over 4 GiB, above)
      const eng = engine('t') as unknown as { alloc(bytes: number, where: string): number };
      let asked = 0;
      eng.alloc = () => {
        asked++;
        throw new VQError('OUT_OF_MEMORY', 'FlatIndex.add: refused for the test (got 1 request, expected none)');
      };
      try {
        expectRefusal(() => index.add(BASE), 'OUT_OF_MEMORY', 'FlatIndex.add');
      } finally {
        delete (eng as { alloc?: unknown }).alloc;
      }
      expect(asked).toBeGreaterThan(0);
      expect(allocState()).toEqual(alloc);
      expect(snapshotIndex(index)).toEqual(snap);
      index.add(BASE);
      expect(index.size).toBe(2 * N);
    } finally {
      index.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// before init(), and init() options: a fresh module state needs its own process
// ---------------------------------------------------------------------------------------------------------------

const CHILD = `
const lib = await import(process.argv[2]);
const { init, FlatIndex, KMeans, pairwiseDistances, norms, memoryStats } = lib;
const f32 = (n) => new Float32Array(n);
const MINIMAL_WASM = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
const steps = {
  'new FlatIndex': () => new FlatIndex({ d: 4 }),
  'new KMeans': () => new KMeans({ d: 4, k: 2 }),
  'pairwiseDistances': () => pairwiseDistances(f32(8), f32(4), 4),
  'norms': () => norms(f32(8), 4),
  'memoryStats': () => memoryStats(),
  'init(0)': () => init(0),
  "init('x')": () => init('x'),
  'init(true)': () => init(true),
  'init(a function)': () => init(() => ({})),
  'init([])': () => init([]),
  'init(Float64Array)': () => init(new Float64Array(4)),
  "init({ build: 'x' })": () => init({ build: 'x' }),
  "init({ build: 'SIMD' })": () => init({ build: 'SIMD' }),
  'init({ build: 0 })': () => init({ build: 0 }),
  'init({ wasm: 0 })': () => init({ wasm: 0 }),
  'init({ wasm: {} })': () => init({ wasm: {} }),
  'init({ wasm: [] })': () => init({ wasm: [] }),
  'init({ wasm: true })': () => init({ wasm: true }),
  'init({ wasm: missing path })': () => init({ wasm: '/nonexistent/vqwasm-missing.wasm' }),
  'init({ wasm: Float64Array })': () => init({ wasm: new Float64Array(4) }),
  'init({ wasm: an empty module })': () => init({ wasm: MINIMAL_WASM }),
  'init()': () => init(),
  'new FlatIndex after init': () => { const i = new FlatIndex({ d: 4 }); i.add(f32(8)); return i.size; },
};
const out = [];
for (const name of process.argv.slice(3)) {
  try {
    const value = await steps[name]();
    out.push({ name, ok: true, value: typeof value === 'number' ? value : null });
  } catch (e) {
    out.push({
      name, ok: false, isVQError: e instanceof lib.VQError, isRuntimeError: e instanceof WebAssembly.RuntimeError,
      errName: e && e.name, code: e && e.code, message: e && e.message,
    });
  }
}
process.stdout.write(JSON.stringify(out));
`;

interface ChildResult {
  name: string;
  ok: boolean;
  value?: number | null;
  isVQError?: boolean;
  isRuntimeError?: boolean;
  errName?: string;
  code?: string;
  message?: string;
}

describe('a fresh process (module state before init())', () => {
  let dir: string;
  let script: string;
  const distUrl = new URL('../dist/index.js', import.meta.url).href;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vqwasm-errors-'));
    script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runChild(steps: string[]): Map<string, ChildResult> {
    const r = spawnSync(process.execPath, [script, distUrl, ...steps], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as ChildResult[];
    expect(results.map((x) => x.name)).toEqual(steps);
    return new Map(results.map((x) => [x.name, x]));
  }

  function asError(r: ChildResult): Error {
    expect(r.ok, `${r.name} should have thrown`).toBe(false);
    expect(r.isRuntimeError, `${r.name}: raw RuntimeError`).toBe(false);
    if (r.isVQError) expect(r.errName, `${r.name}: error name`).toBe('VQError');
    const e = r.isVQError ? new VQError(r.code as VQErrorCode, r.message!) : Object.assign(new Error(r.message), { name: r.errName });
    return e;
  }

  // one child runs everything that must fail (a failed init() is not cached), then a plain init() that must work
  const beforeInit: [string, string][] = [
    ['new FlatIndex', 'new FlatIndex'],
    ['new KMeans', 'new KMeans'],
    ['pairwiseDistances', 'pairwiseDistances'],
    ['norms', 'norms'],
    ['memoryStats', 'memoryStats'],
  ];
  const badInit: [string, VQErrorCode, Part[]][] = [
    ['init(0)', 'INVALID_TYPE', ['options', /got 0\b/]],
    ["init('x')", 'INVALID_TYPE', ['options', /got "x"/]],
    ['init(true)', 'INVALID_TYPE', ['options', /got true/]],
    ['init(a function)', 'INVALID_TYPE', ['options', /got a function/]],
    ["init({ build: 'x' })", 'INVALID_OPTION', ['build', /got "x"/, "'auto'", "'simd'", "'relaxed'"]],
    ["init({ build: 'SIMD' })", 'INVALID_OPTION', ['build', /got "SIMD"/]],
    ['init({ build: 0 })', 'INVALID_OPTION', ['build', /got 0\b/]],
    ['init({ wasm: 0 })', 'INVALID_TYPE', ['wasm', /got 0\b/]],
    ['init({ wasm: {} })', 'INVALID_TYPE', ['wasm', /got an object/]],
    ['init({ wasm: [] })', 'INVALID_TYPE', ['wasm', /got an Array/]],
    ['init({ wasm: true })', 'INVALID_TYPE', ['wasm', /got true/]],
    ['init({ wasm: missing path })', 'WASM_LOAD', ['/nonexistent/vqwasm-missing.wasm']],
    ['init({ wasm: Float64Array })', 'WASM_LOAD', ['Float64Array']],
    ['init({ wasm: an empty module })', 'WASM_LOAD', ['missing exports']],
  ];
  let results: Map<string, ChildResult>;
  beforeAll(() => {
    results = runChild([...beforeInit.map(([s]) => s), ...badInit.map(([s]) => s), 'init()', 'new FlatIndex after init']);
  });

  it.each(beforeInit)('%s before init() -> NOT_INITIALIZED', (step, where) => {
    checkRefusal(asError(results.get(step)!), 'NOT_INITIALIZED', where, [/expected `await init\(\)` first/]);
  });

  it.each(badInit)('%s -> %s', (step, code, parts) => {
    checkRefusal(asError(results.get(step)!), code, 'init', parts);
  });

  it('after the refused init() calls, a plain init() loads and the classes work', () => {
    expect(results.get('init()')!.ok).toBe(true);
    expect(results.get('new FlatIndex after init')).toMatchObject({ ok: true, value: 2 });
  });

  // an options value that is an object but not a plain options object: each in its own process, because if it is
  // (wrongly) accepted the engine is loaded and cached
  it.each([['init([])'], ['init(Float64Array)']])('%s -> INVALID_TYPE (not an options object)', (step) => {
    const r = runChild([step]).get(step)!;
    checkRefusal(asError(r), 'INVALID_TYPE', 'init', ['options']);
  });
});

describe("an index's quantizer, handed out by its getter", () => {
  it('refuses a retrain while the index holds vectors (the codes would be read against another codebook), and takes one once it is empty; disposed by hand, the index refuses as disposed', async () => {
    const { BinaryIndex, IVFPQIndex, PQIndex, RQIndex, SQIndex } = await import('../dist/index.js');
    const d = 16;
    const x = uniformVectors(600, d, 21);
    const y = uniformVectors(600, d, 22).map((v) => 10 * v + 3);
    const q = x.subarray(0, 3 * d);
    const makers = [
      () => new PQIndex({ d, m: 4, nbits: 6 }), () => new SQIndex({ d, type: 'uint8' }), () => new RQIndex({ d, levels: 2, nbits: 4 }),
      () => new BinaryIndex({ d }), () => new IVFPQIndex({ d, nlist: 4, m: 4, nbits: 6 }),
    ];
    for (const make of makers) {
      const index = make();
      try {
        index.train(x);
        index.add(x);
        const bytes = index.save();
        const before = index.search(q, 3);
        const name = index.constructor.name;
        checkRefusal(thrown(() => (index.quantizer as { train(x: Float32Array): unknown }).train(y)), 'INVALID_OPTION', `${index.quantizer.constructor.name}.train`, ['belongs to an index', `${name} of size 600`, 'loadQuantizer']);
        expect(index.save(), name).toEqual(bytes);
        expect(index.search(q, 3)).toEqual(before);
        index.quantizer.dispose();
        checkRefusal(thrown(() => index.search(q, 3)), 'DISPOSED', `${name}.search`, []);
        checkRefusal(thrown(() => index.save()), 'DISPOSED', `${name}.save`, []);
      } finally {
        index.dispose();
      }
    }
    // an emptied index's quantizer may be trained again (nothing is encoded with it)
    const pq = new PQIndex({ d, m: 4, nbits: 6 });
    try {
      pq.train(x);
      pq.add(x);
      pq.reset();
      pq.quantizer.train(y);
      pq.add(y);
      expect(pq.size).toBe(600);
    } finally {
      pq.dispose();
    }
  });
});

describe('results too large for typed arrays', () => {
  it('a search of nq x k results over 2^30, and a pairwiseDistances of nx x ny over 2^30, are OUT_OF_MEMORY before any work', async () => {
    const { IVFFlatIndex, IVFPQIndex, PQIndex, RQIndex, SQIndex, BinaryIndex } = await import('../dist/index.js');
    const d = 8;
    const x = uniformVectors(300, d, 5);
    const indexes = [
      new FlatIndex({ d }), new PQIndex({ d, m: 2, nbits: 4 }), new IVFPQIndex({ d, nlist: 2, m: 2, nbits: 4 }), new IVFFlatIndex({ d, nlist: 2 }),
      new RQIndex({ d, levels: 2, nbits: 4 }), new SQIndex({ d, type: 'int8' }), new BinaryIndex({ d }),
    ];
    try {
      const q = new Float32Array(1025 * d); // 1025 x 2^20 > 2^30
      for (const index of indexes) {
        (index as { train?(x: Float32Array): unknown }).train?.(x);
        index.add(x);
        const before = memoryStats();
        checkRefusal(thrown(() => index.search(q, 2 ** 20)), 'OUT_OF_MEMORY', `${index.constructor.name}.search`, ['1025 queries x k = 1048576', '2^30']);
        expect(memoryStats()).toEqual(before);
        // and the index still answers
        expect(index.search(q.subarray(0, 2 * d), 400).ids.length).toBe(800);
      }
    } finally {
      for (const index of indexes) index.dispose();
    }
    checkRefusal(thrown(() => pairwiseDistances(new Float32Array(40000), new Float32Array(30000), 1)), 'OUT_OF_MEMORY', 'pairwiseDistances', ['40000 x 30000', '2^30']);
  });
});

describe('firstOutOfRange (the scan of every input vector)', () => {
  it('finds the first NaN / +-Infinity / magnitude >= 2^50 at any position and nothing else', async () => {
    const { firstOutOfRange, MAX_INPUT_MAGNITUDE } = await import('../dist/errors.js');
    expect(MAX_INPUT_MAGNITUDE).toBe(2 ** 50);
    // the largest float32 below 2^50, and small values, pass
    const below = 2 ** 50 - 2 ** 26;
    expect(Math.fround(below)).toBe(below);
    expect(firstOutOfRange(new Float32Array([below, -below, 1e-45, -0, 0, 1e15, -1e15]))).toBe(-1);
    const bad = [2 ** 50, -(2 ** 50), 1e20, -3.4e38, NaN, Infinity, -Infinity];
    for (const len of [1, 3, 4, 5, 4095, 4096, 4097, 8195]) {
      const x = new Float32Array(len).map((_, i) => ((i * 7919) % 201) - 100.5);
      expect(firstOutOfRange(x)).toBe(-1);
      for (const at of new Set([0, 3, len - 1, 4095, 4096, 4100].filter((p) => p >= 0 && p < len))) {
        for (const v of bad) {
          const y = x.slice();
          y[at] = v;
          expect(firstOutOfRange(y), `${v} at ${at} of ${len}`).toBe(at);
        }
      }
    }
    const big = new Float32Array(20).fill(1);
    big[2] = 1e30;
    expect(firstOutOfRange(big.subarray(3))).toBe(-1);
    big[10] = -1e30;
    expect(firstOutOfRange(big.subarray(3))).toBe(7);
  });
});

describe('firstNonFinite (the scan behind every NON_FINITE refusal)', () => {
  it('finds the first NaN / +-Infinity at any position (block edges, the unrolled loop and its tail) and nothing else', async () => {
    const { firstNonFinite } = await import('../dist/errors.js');
    // finite values at the edges of the exponent range are not flagged
    const edge = new Float32Array([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, -0, 0, 1.1754943508222875e-38]);
    expect(firstNonFinite(edge)).toBe(-1);
    const bad = [NaN, Infinity, -Infinity, new Float32Array(new Uint32Array([0x7fc00001]).buffer)[0], new Float32Array(new Uint32Array([0xffffffff]).buffer)[0]];
    for (const len of [1, 3, 4, 5, 4095, 4096, 4097, 8195]) {
      const x = new Float32Array(len).map((_, i) => ((i * 7919) % 201) - 100.5);
      expect(firstNonFinite(x)).toBe(-1);
      for (const at of new Set([0, 1, 2, 3, len - 1, len - 2, 4095, 4096, 4100].filter((p) => p >= 0 && p < len))) {
        for (const v of bad) {
          const y = x.slice();
          y[at] = v;
          expect(firstNonFinite(y)).toBe(at);
          // a second bad value later does not hide the first
          if (at + 5 < len) {
            y[at + 5] = Infinity;
            expect(firstNonFinite(y)).toBe(at);
          }
        }
      }
    }
    // a view at an offset into a larger buffer reads only its own values
    const big = new Float32Array(20).fill(1);
    big[2] = NaN;
    expect(firstNonFinite(big.subarray(3))).toBe(-1);
    big[10] = -Infinity;
    expect(firstNonFinite(big.subarray(3))).toBe(7);
  });
});
