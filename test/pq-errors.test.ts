// Bad input at every public entry point of the product-quantization classes (ProductQuantizer, OPQ, PQIndex,
// IVFPQIndex) and their saved files. Each refusal must be a VQError (never a raw RuntimeError or TypeError) with the
// documented code and a message `Class.method: what (got X, expected Y)` naming the method that was called (not an
// internal helper); after every refused call the object it was made on answers exactly as before (same size, same
// search results, same saved bytes) and no wasm allocation was made or freed.
import { Buffer } from 'node:buffer';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { init, IVFPQIndex, memoryStats, OPQ, PQIndex, ProductQuantizer, VQError, type VQErrorCode } from '../dist/index.js';
import { readContainer, writeContainer, type Kind, type Section } from '../dist/io/format.js';
import { uniformVectors } from './helpers/data.js';
import { type Alloc, allocState, type Case, expectRefusal, intCases, label, named, NON_FINITE, oneOfCases, type Part, thrown } from './helpers/refusals.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers (the conventions of errors.test.ts)
// ---------------------------------------------------------------------------------------------------------------

/** Values that are not a Float32Array, with how the message must describe each. */
const NOT_F32: { label: string; value: () => unknown; got: RegExp }[] = [
  { label: '0', value: () => 0, got: /got 0\b/ },
  { label: '{}', value: () => ({}), got: /got an object/ },
  { label: 'null', value: () => null, got: /got null/ },
  { label: 'undefined', value: () => undefined, got: /got undefined/ },
  { label: "'x'", value: () => 'x', got: /got "x"/ },
  { label: 'number[] of 16', value: () => Array.from(uniformVectors(2, 8, 99)), got: /got an Array of length 16/ },
  { label: 'Float64Array(16)', value: () => new Float64Array(16), got: /got Float64Array of length 16/ },
  { label: 'Int32Array(16)', value: () => new Int32Array(16), got: /got Int32Array of length 16/ },
  { label: 'Uint8Array(16)', value: () => new Uint8Array(16), got: /got Uint8Array of length 16/ },
];

/**
 * The cases for one Float32Array argument of n * d values: wrong types, lengths that are not a multiple of d (one
 * vector of the wrong dimension among them), empty input (unless allowed), and NaN / +-Infinity at the first, a
 * middle and the last position.
 */
function vectorCases(where: string, arg: string, d: number, n: number, seed: number, call: (bad: unknown) => unknown, opts: { allowEmpty?: boolean } = {}): Case[] {
  const cases: Case[] = [];
  for (const t of NOT_F32) {
    cases.push({ name: `${arg} = ${t.label}`, call: () => call(t.value()), code: 'INVALID_TYPE', where, parts: [arg, t.got, 'Float32Array'] });
  }
  for (const len of new Set([n * d + 1, n * d - 1, d - 1, d + 1, d / 2, 3 * d / 2])) {
    if (len <= 0 || len % d === 0) continue;
    cases.push({
      name: `${arg}.length = ${len} (d = ${d})`,
      call: () => call(uniformVectors(1, len, seed)),
      code: 'INVALID_SIZE',
      where,
      parts: [arg, `length ${len}`, `d = ${d}`],
    });
  }
  if (!opts.allowEmpty) {
    cases.push({ name: `${arg} empty`, call: () => call(new Float32Array(0)), code: 'INVALID_SIZE', where, parts: [arg, /got 0 vectors/, /at least 1/] });
  }
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
  return cases;
}

/** Bad values for an options argument that must be a plain object. */
function optionsObjectCases(where: string, call: (bad: unknown) => unknown, opts: { undefinedOk?: boolean } = {}): Case[] {
  const values: { label: string; v: unknown; got: RegExp }[] = [
    { label: '0', v: 0, got: /got 0\b/ },
    { label: '8', v: 8, got: /got 8\b/ },
    { label: 'null', v: null, got: /got null/ },
    { label: "'x'", v: 'x', got: /got "x"/ },
    { label: '[]', v: [], got: /got an Array of length 0/ },
    { label: '[8, 4]', v: [8, 4], got: /got an Array of length 2/ },
    { label: 'true', v: true, got: /got true/ },
    { label: 'a function', v: () => ({ d: 8, m: 4 }), got: /got a function/ },
  ];
  if (!opts.undefinedOk) values.push({ label: 'undefined', v: undefined, got: /got undefined/ });
  return values.map((b) => ({ name: `options = ${b.label}`, call: () => call(b.v), code: 'INVALID_TYPE' as const, where, parts: ['options', b.got, /expected .*object/] }));
}

function boolCases(where: string, arg: string, call: (bad: unknown) => unknown): Case[] {
  return ['yes', 'true', 1, 0, {}, []].map((v) => ({
    name: `${arg} = ${label(v)}`,
    call: () => call(v),
    code: 'INVALID_OPTION' as const,
    where,
    parts: [arg, /expected true or false/],
  }));
}

function seedCases(where: string, call: (bad: unknown) => unknown): Case[] {
  return [1.5, NaN, Infinity, -Infinity, '7', {}, 2 ** 53, -(2 ** 53)].map((seed) => ({
    name: `seed = ${label(seed)}`,
    call: () => call(seed),
    code: 'INVALID_OPTION' as const,
    where,
    parts: ['seed', /expected an integer/],
  }));
}

/** Registers before/after hooks: the refused calls of this describe block allocate and free nothing. */
function noAllocations(): void {
  let before: Alloc;
  beforeEach(() => {
    before = allocState();
  });
  afterEach(() => {
    expect(allocState(), 'allocations changed by a refused call').toEqual(before);
  });
}

/** Runs a call that must throw and checks, in `finally`, that `out` was not written to. */
const b64 = (u8: Uint8Array): string => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');

function leavesUntouched(out: Uint8Array, call: () => unknown): () => unknown {
  return () => {
    out.fill(0xab);
    try {
      return call();
    } finally {
      expect(out.every((b) => b === 0xab), 'the output buffer was written to by a refused call').toBe(true);
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// fixtures: d = 8, m = 4, nbits = 4 (ksub = 16, codeSize = 2), IVF nlist = 4, OPQ with 2 alternating steps
// ---------------------------------------------------------------------------------------------------------------

const D = 8;
const M = 4;
const NBITS = 4;
const KSUB = 16;
const CS = 2; // codeSize = ceil(m * nbits / 8)
const NLIST = 4;
const TRAIN = uniformVectors(96, D, 1);
const N = 40;
const BASE = uniformVectors(N, D, 2);
const BASE_IDS = Int32Array.from({ length: N }, (_, i) => 1000 + 3 * i);
const QUERIES = uniformVectors(5, D, 3);
const DISPOSED_PARTS = [/expected a live object/];

const pqOpts = { d: D, m: M, nbits: NBITS, iterations: 8 };
const opqOpts = { d: D, m: M, nbits: NBITS, iterations: 2, pqIterationsFirst: 4, finalPqIterations: 8 };
const pqIndexOpts = { d: D, m: M, nbits: NBITS };
const pqIndexOpqOpts = { d: D, m: M, nbits: NBITS, opq: true, opqIterations: 2, refine: true, metric: 'ip' as const };
const ivfOpts = { d: D, m: M, nbits: NBITS, nlist: NLIST, coarseIterations: 8 };
const ivfOpqOpts = { ...ivfOpts, opq: true, opqIterations: 2, refine: true, metric: 'ip' as const };

function trainedPQ(): ProductQuantizer {
  const q = new ProductQuantizer(pqOpts);
  q.train(TRAIN);
  return q;
}
function trainedOPQ(): OPQ {
  const q = new OPQ(opqOpts);
  q.train(TRAIN);
  return q;
}
function filledPQIndex(opts: ConstructorParameters<typeof PQIndex>[0] = pqIndexOpts): PQIndex {
  const index = new PQIndex(opts);
  index.train(TRAIN);
  index.add(BASE, BASE_IDS);
  return index;
}
function filledIVF(opts: ConstructorParameters<typeof IVFPQIndex>[0] = ivfOpts): IVFPQIndex {
  const index = new IVFPQIndex(opts);
  index.train(TRAIN);
  index.add(BASE, BASE_IDS);
  return index;
}

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

/** d, m, nbits and seed: the options every PQ class shares. `make` builds with { d: 8, m: 4 } plus the given options. */
function sharedOptionCases(W: string, make: (extra: Record<string, unknown>) => unknown, dMax: number): Case[] {
  const omit = (key: string) => (extra: Record<string, unknown>) => {
    const o = { d: D, m: M, ...extra } as Record<string, unknown>;
    delete o[key];
    return make({ ...o, __replace: true });
  };
  return [
    ...optionsObjectCases(W, (o) => make({ __raw: o })),
    ...intCases(W, 'd', 1, dMax, (d) => make({ d }), { required: true }),
    { name: 'd missing', call: () => omit('d')({}), code: 'INVALID_OPTION', where: W, parts: ['d', /got undefined/] },
    ...intCases(W, 'm', 1, D, (m) => make({ m }), { required: true }),
    { name: 'm missing', call: () => omit('m')({}), code: 'INVALID_OPTION', where: W, parts: ['m', /got undefined/] },
    { name: 'm = 0', call: () => make({ m: 0 }), code: 'INVALID_OPTION', where: W, parts: ['m', /got 0\b/] },
    { name: 'd = 8 not a multiple of m = 3', call: () => make({ m: 3 }), code: 'INVALID_OPTION', where: W, parts: ['multiple of m', 'd = 8, m = 3'] },
    { name: 'd = 10 not a multiple of m = 4', call: () => make({ d: 10 }), code: 'INVALID_OPTION', where: W, parts: ['multiple of m', 'd = 10, m = 4'] },
    { name: 'm > d', call: () => make({ d: 4, m: 8 }), code: 'INVALID_OPTION', where: W, parts: ['m', /got 8\b/, /\[1, 4\]/] },
    ...intCases(W, 'nbits', 1, 8, (nbits) => make({ nbits })),
    { name: 'nbits = 2.5', call: () => make({ nbits: 2.5 }), code: 'INVALID_OPTION', where: W, parts: ['nbits', /got 2\.5/, /\[1, 8\]/] },
    { name: "nbits = '8' (a string)", call: () => make({ nbits: '8' }), code: 'INVALID_OPTION', where: W, parts: ['nbits', /got "8"/] },
    { name: 'nbits = 16 (Faiss allows it, vqwasm does not)', call: () => make({ nbits: 16 }), code: 'INVALID_OPTION', where: W, parts: ['nbits', /got 16\b/] },
    ...seedCases(W, (seed) => make({ seed })),
  ];
}

/** A constructor taking { d: 8, m: 4, ...extra } (or, with __raw, exactly the given value). */
function maker<T>(ctor: new (o: never) => T, base: Record<string, unknown>) {
  return (extra: Record<string, unknown>): T => {
    if ('__raw' in extra) return new ctor(extra.__raw as never);
    if ('__replace' in extra) {
      const { __replace: _r, ...rest } = extra;
      return new ctor({ ...base, ...rest, d: rest.d, m: rest.m } as never);
    }
    return new ctor({ ...base, ...extra } as never);
  };
}

describe('constructors', () => {
  noAllocations();

  describe('new ProductQuantizer', () => {
    const W = 'new ProductQuantizer';
    const make = maker(ProductQuantizer, { d: D, m: M });
    const cases: Case[] = [
      ...sharedOptionCases(W, make, 1 << 20),
      ...intCases(W, 'iterations', 1, 1_000_000, (iterations) => make({ iterations })),
      ...intCases(W, 'maxPointsPerCentroid', 1, null, (maxPointsPerCentroid) => make({ maxPointsPerCentroid })),
      ...oneOfCases(W, 'init', ['kmeans++', 'random'], ['x', 'k-means++', 'RANDOM', '', 0, {}, []], (init) => make({ init })),
    ];
    it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('new OPQ', () => {
    const W = 'new OPQ';
    const make = maker(OPQ, { d: D, m: M });
    const cases: Case[] = [
      ...sharedOptionCases(W, make, 1 << 14),
      ...intCases(W, 'iterations', 0, 100_000, (iterations) => make({ iterations })),
      ...intCases(W, 'pqIterationsFirst', 1, 1_000_000, (pqIterationsFirst) => make({ pqIterationsFirst })),
      ...intCases(W, 'pqIterations', 1, 1_000_000, (pqIterations) => make({ pqIterations })),
      ...intCases(W, 'maxTrainPoints', 1, null, (maxTrainPoints) => make({ maxTrainPoints })),
      ...intCases(W, 'finalPqIterations', 1, 1_000_000, (finalPqIterations) => make({ finalPqIterations })),
      ...oneOfCases(W, 'init', ['kmeans++', 'random'], ['x', 'kmeans', '', 0, {}], (init) => make({ init })),
    ];
    it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  /** The options of the two indexes beyond the shared ones. */
  function indexOptionCases(W: string, make: (extra: Record<string, unknown>) => unknown): Case[] {
    return [
      { name: "metric = 'cosine'", call: () => make({ metric: 'cosine' }), code: 'INVALID_OPTION', where: W, parts: ["metric 'cosine' is not supported", /got "cosine"/, "'ip'"] },
      ...oneOfCases(W, 'metric', ['l2', 'ip'], ['foo', 'L2', 'IP', 'euclidean', 'dot', '', 0, {}, []], (metric) => make({ metric })),
      ...boolCases(W, 'opq', (opq) => make({ opq })),
      ...boolCases(W, 'refine', (refine) => make({ refine })),
      ...intCases(W, 'opqIterations', 0, 100_000, (opqIterations) => make({ opqIterations })),
    ];
  }

  describe('new PQIndex', () => {
    const W = 'new PQIndex';
    const make = maker(PQIndex, { d: D, m: M });
    const cases: Case[] = [...sharedOptionCases(W, make, 1 << 14), ...indexOptionCases(W, make)];
    it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  describe('new IVFPQIndex', () => {
    const W = 'new IVFPQIndex';
    const make = maker(IVFPQIndex, { d: D, m: M, nlist: NLIST });
    const cases: Case[] = [
      ...sharedOptionCases(W, make, 1 << 14),
      ...indexOptionCases(W, make),
      ...intCases(W, 'nlist', 1, 1 << 20, (nlist) => make({ nlist }), { required: true }),
      { name: 'nlist = 0', call: () => make({ nlist: 0 }), code: 'INVALID_OPTION', where: W, parts: ['nlist', /got 0\b/] },
      { name: 'nlist missing', call: () => new IVFPQIndex({ d: D, m: M } as never), code: 'INVALID_OPTION', where: W, parts: ['nlist', /got undefined/] },
      ...intCases(W, 'coarseIterations', 1, 1_000_000, (coarseIterations) => make({ coarseIterations })),
    ];
    it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
  });

  it('the valid option sets used below are accepted (so the cases above fail for the named reason)', () => {
    for (const o of [new ProductQuantizer(pqOpts), new OPQ(opqOpts), new PQIndex(pqIndexOpts), new PQIndex(pqIndexOpqOpts), new IVFPQIndex(ivfOpts), new IVFPQIndex(ivfOpqOpts)]) {
      expect(o.disposed).toBe(false);
      o.dispose();
    }
    // and the makers' base options are valid on their own
    maker(ProductQuantizer, { d: D, m: M })({}).dispose();
    maker(OPQ, { d: D, m: M })({}).dispose();
    maker(PQIndex, { d: D, m: M })({}).dispose();
    maker(IVFPQIndex, { d: D, m: M, nlist: NLIST })({}).dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// ProductQuantizer and OPQ methods
// ---------------------------------------------------------------------------------------------------------------

interface QuantizerSnapshot {
  isTrained: boolean;
  codes: Uint8Array;
  decoded: Float32Array;
  tableL2: Float32Array;
  tableIp: Float32Array;
  /** save(), base64 (a string compares far faster than a typed array in toEqual) */
  saved: string;
}

function snapshotQuantizer(q: ProductQuantizer | OPQ): QuantizerSnapshot {
  const codes = q.encode(QUERIES);
  return {
    isTrained: q.isTrained,
    codes,
    decoded: q.decode(codes),
    tableL2: q.computeDistanceTable(QUERIES, 'l2'),
    tableIp: q.computeDistanceTable(QUERIES, 'ip'),
    saved: b64(q.save()),
  };
}

for (const kind of ['ProductQuantizer', 'OPQ'] as const) {
  describe(`${kind} methods`, () => {
    let q: ProductQuantizer | OPQ; // trained
    let untrained: ProductQuantizer | OPQ;
    let before: QuantizerSnapshot;
    let untrainedSaved: string;
    const make = () => (kind === 'OPQ' ? new OPQ(opqOpts) : new ProductQuantizer(pqOpts));

    beforeAll(() => {
      q = kind === 'OPQ' ? trainedOPQ() : trainedPQ();
      untrained = make();
      before = snapshotQuantizer(q);
      untrainedSaved = b64(untrained.save());
    });
    afterAll(() => {
      q.dispose();
      untrained.dispose();
    });
    noAllocations();
    afterEach(() => {
      // a refused call leaves the codebook (and rotation) exactly as it was, and an untrained one untrained
      expect(snapshotQuantizer(q)).toEqual(before);
      expect(untrained.isTrained).toBe(false);
      expect(b64(untrained.save())).toBe(untrainedSaved);
    });

    const n = (c: number, seed: number) => uniformVectors(c, D, seed);

    describe('train(x)', () => {
      const W = `${kind}.train`;
      const cases: Case[] = [
        ...vectorCases(W, 'x', D, 20, 11, (x) => q.train(x as never)),
        { name: `n = ${KSUB - 1} < ksub = ${KSUB} (trained)`, call: () => q.train(n(KSUB - 1, 12)), code: 'TOO_FEW_POINTS', where: W, parts: [/got n = 15\b/, /expected n >= ksub = 16/] },
        { name: `n = ${KSUB - 1} < ksub = ${KSUB} (untrained)`, call: () => untrained.train(n(KSUB - 1, 12)), code: 'TOO_FEW_POINTS', where: W, parts: [/got n = 15\b/, /ksub = 16/] },
        { name: 'n = 1 (untrained)', call: () => untrained.train(n(1, 13)), code: 'TOO_FEW_POINTS', where: W, parts: [/got n = 1\b/] },
        { name: 'NaN in the last element (untrained)', call: () => { const x = n(20, 14); x[x.length - 1] = NaN; return untrained.train(x); }, code: 'NON_FINITE', where: W, parts: ['vector 19, component 7'] },
        { name: 'x = Float64Array (untrained)', call: () => untrained.train(new Float64Array(TRAIN) as never), code: 'INVALID_TYPE', where: W, parts: ['Float32Array'] },
        { name: 'x = number[] (untrained)', call: () => untrained.train(Array.from(TRAIN) as never), code: 'INVALID_TYPE', where: W, parts: ['Float32Array', /got an Array of length 768/] },
        { name: 'length not a multiple of d (untrained)', call: () => untrained.train(TRAIN.subarray(1)), code: 'INVALID_SIZE', where: W, parts: ['length 767', 'd = 8'] },
      ];
      if (kind === 'ProductQuantizer') {
        const pq = () => q as ProductQuantizer;
        const pqU = () => untrained as ProductQuantizer;
        cases.push(
          ...optionsObjectCases(W, (o) => pq().train(TRAIN, o as never), { undefinedOk: true }),
          ...intCases(W, 'iterations', 1, 1_000_000, (iterations) => pq().train(TRAIN, { iterations } as never)),
          ...boolCases(W, 'warmStart', (warmStart) => pq().train(TRAIN, { warmStart } as never)),
          { name: 'warmStart on an untrained quantizer', call: () => pqU().train(TRAIN, { warmStart: true }), code: 'NOT_TRAINED', where: W, parts: [/expected train\(x\)/] },
        );
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));

      it('nbits = 8: n = 255 < ksub = 256 -> TOO_FEW_POINTS', () => {
        const q8 = kind === 'OPQ' ? new OPQ({ ...opqOpts, nbits: 8 }) : new ProductQuantizer({ ...pqOpts, nbits: 8 });
        try {
          expectRefusal(() => q8.train(n(255, 15)), 'TOO_FEW_POINTS', W, [/got n = 255\b/, /ksub = 256/]);
          expect(q8.isTrained).toBe(false);
        } finally {
          q8.dispose();
        }
      });
    });

    describe('encode(x)', () => {
      const W = `${kind}.encode`;
      const cases: Case[] = [
        ...vectorCases(W, 'x', D, 3, 21, (x) => q.encode(x as never), { allowEmpty: true }),
        { name: 'untrained', call: () => untrained.encode(QUERIES), code: 'NOT_TRAINED', where: W, parts: [/expected train\(x\) or .*load\(\) first/] },
      ];
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
      it('empty input is not an error: zero codes', () => {
        expect(q.encode(new Float32Array(0))).toEqual(new Uint8Array(0));
      });
    });

    describe('encodeInto(x, out)', () => {
      const W = `${kind}.encodeInto`;
      const good = () => new Uint8Array(3 * CS);
      const x3 = n(3, 22);
      const cases: Case[] = [
        ...vectorCases(W, 'x', D, 3, 23, (x) => { const out = good(); return leavesUntouched(out, () => q.encodeInto(x as never, out))(); }, { allowEmpty: true }),
        ...[
          { label: 'number[6]', v: () => [0, 0, 0, 0, 0, 0], got: /got an Array of length 6/ },
          { label: 'Uint8ClampedArray(6)', v: () => new Uint8ClampedArray(6), got: /got Uint8ClampedArray of length 6/ },
          { label: 'Int8Array(6)', v: () => new Int8Array(6), got: /got Int8Array of length 6/ },
          { label: 'Float32Array(6)', v: () => new Float32Array(6), got: /got Float32Array of length 6/ },
          { label: 'ArrayBuffer(6)', v: () => new ArrayBuffer(6), got: /got an object \(ArrayBuffer\)/ },
          { label: 'null', v: () => null, got: /got null/ },
          { label: 'undefined', v: () => undefined, got: /got undefined/ },
        ].map((t) => ({ name: `out = ${t.label}`, call: () => q.encodeInto(x3, t.v() as never), code: 'INVALID_TYPE' as const, where: W, parts: ['out', t.got, /expected a Uint8Array of 6 bytes/] })),
        ...[0, 1, 5, 7, 12].map((len) => {
          const out = new Uint8Array(len);
          return { name: `out of length ${len} for 3 codes of 2 bytes`, call: leavesUntouched(out, () => q.encodeInto(x3, out)), code: 'INVALID_SIZE' as const, where: W, parts: ['out', `got length ${len}`, 'n * codeSize = 6'] };
        }),
        (() => {
          const out = good();
          return { name: 'untrained (out untouched)', call: leavesUntouched(out, () => untrained.encodeInto(x3, out)), code: 'NOT_TRAINED' as const, where: W, parts: [] };
        })(),
      ];
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
      it('a good call writes exactly the codes of encode()', () => {
        const out = good().fill(0xab);
        q.encodeInto(x3, out);
        expect(out).toEqual(q.encode(x3));
      });
    });

    describe('decode(codes)', () => {
      const W = `${kind}.decode`;
      const cases: Case[] = [
        ...[
          { label: 'number[4]', v: () => [1, 2, 3, 4], got: /got an Array of length 4/ },
          { label: 'Uint8ClampedArray(4)', v: () => new Uint8ClampedArray(4), got: /got Uint8ClampedArray of length 4/ },
          { label: 'Int8Array(4)', v: () => new Int8Array(4), got: /got Int8Array of length 4/ },
          { label: 'Float32Array(4)', v: () => new Float32Array(4), got: /got Float32Array of length 4/ },
          { label: 'Uint16Array(2)', v: () => new Uint16Array(2), got: /got Uint16Array of length 2/ },
          { label: 'ArrayBuffer(4)', v: () => new ArrayBuffer(4), got: /got an object/ },
          { label: 'null', v: () => null, got: /got null/ },
          { label: "'ab'", v: () => 'ab', got: /got "ab"/ },
        ].map((t) => ({ name: `codes = ${t.label}`, call: () => q.decode(t.v() as never), code: 'INVALID_TYPE' as const, where: W, parts: ['codes', t.got, 'Uint8Array'] })),
        ...[1, 3, 5, 9].map((len) => ({
          name: `codes.length = ${len} (codeSize = ${CS})`,
          call: () => q.decode(new Uint8Array(len)),
          code: 'INVALID_SIZE' as const,
          where: W,
          parts: ['codes', `got length ${len}`, `codeSize = ${CS}`],
        })),
        { name: 'untrained', call: () => untrained.decode(new Uint8Array(2 * CS)), code: 'NOT_TRAINED', where: W, parts: [] },
      ];
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    describe('computeDistanceTable(q, metric)', () => {
      const W = `${kind}.computeDistanceTable`;
      const cases: Case[] = [
        ...vectorCases(W, 'q', D, 2, 31, (x) => q.computeDistanceTable(x as never)),
        ...oneOfCases(W, 'metric', ['l2', 'ip'], ['cosine', 'foo', 'L2', '', null, 0, {}], (metric) => q.computeDistanceTable(QUERIES, metric as never)),
        { name: 'untrained', call: () => untrained.computeDistanceTable(QUERIES), code: 'NOT_TRAINED', where: W, parts: [] },
      ];
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    if (kind === 'ProductQuantizer') {
      it('centroids of an untrained quantizer -> NOT_TRAINED', () => {
        expectRefusal(() => (untrained as ProductQuantizer).centroids, 'NOT_TRAINED', 'ProductQuantizer.centroids', [/expected train\(x\) or ProductQuantizer.load\(\) first/]);
      });
    } else {
      describe('rotation, rotate(x), rotateBack(y)', () => {
        const opq = () => q as OPQ;
        const cases: Case[] = [
          { name: 'rotation of an untrained OPQ', call: () => (untrained as OPQ).rotation, code: 'NOT_TRAINED', where: 'OPQ.rotation', parts: [] },
          { name: 'rotate on an untrained OPQ', call: () => (untrained as OPQ).rotate(QUERIES), code: 'NOT_TRAINED', where: 'OPQ.rotate', parts: [] },
          { name: 'rotateBack on an untrained OPQ', call: () => (untrained as OPQ).rotateBack(QUERIES), code: 'NOT_TRAINED', where: 'OPQ.rotateBack', parts: [] },
          ...vectorCases('OPQ.rotate', 'x', D, 2, 41, (x) => opq().rotate(x as never), { allowEmpty: true }),
          ...vectorCases('OPQ.rotateBack', 'y', D, 2, 42, (y) => opq().rotateBack(y as never), { allowEmpty: true }),
        ];
        it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// PQIndex and IVFPQIndex methods
// ---------------------------------------------------------------------------------------------------------------

type AnyIndex = PQIndex | IVFPQIndex;

interface IndexSnapshot {
  size: number;
  ids: Int32Array;
  distances: Float32Array;
  reconstructed: Float32Array;
  saved: string;
}

function searchAll(index: AnyIndex): { ids: Int32Array; distances: Float32Array } {
  if (index instanceof IVFPQIndex) return index.search(QUERIES, 7, index.refine ? { nprobe: 2, rerank: 12 } : { nprobe: 2 });
  return index.search(QUERIES, 7, index.refine ? { rerank: 12 } : {});
}

function snapshotIndex(index: AnyIndex): IndexSnapshot {
  const res = searchAll(index);
  return {
    size: index.size,
    ids: res.ids,
    distances: res.distances,
    reconstructed: index.reconstruct(BASE_IDS.subarray(0, 6)),
    saved: b64(index.save()),
  };
}

for (const kind of ['PQIndex', 'IVFPQIndex'] as const) {
  describe(`${kind} methods`, () => {
    let index: AnyIndex; // plain, l2, trained, 40 vectors
    let refined: AnyIndex; // opq + refine, ip, trained, 40 vectors
    let untrained: AnyIndex;
    let untrainedOpq: AnyIndex;
    let before: IndexSnapshot;
    let beforeRefined: IndexSnapshot;
    const isIVF = kind === 'IVFPQIndex';
    const make = (opts: Record<string, unknown>) => (isIVF ? new IVFPQIndex({ nlist: NLIST, ...opts } as never) : new PQIndex(opts as never));

    beforeAll(() => {
      index = isIVF ? filledIVF() : filledPQIndex();
      refined = isIVF ? filledIVF(ivfOpqOpts) : filledPQIndex(pqIndexOpqOpts);
      untrained = make({ d: D, m: M, nbits: NBITS });
      untrainedOpq = make({ d: D, m: M, nbits: NBITS, opq: true, opqIterations: 2 });
      before = snapshotIndex(index);
      beforeRefined = snapshotIndex(refined);
      expect(before.size).toBe(N);
    });
    afterAll(() => {
      for (const o of [index, refined, untrained, untrainedOpq]) o.dispose();
    });
    noAllocations();
    afterEach(() => {
      expect(snapshotIndex(index)).toEqual(before);
      expect(snapshotIndex(refined)).toEqual(beforeRefined);
      for (const u of [untrained, untrainedOpq]) {
        expect(u.isTrained).toBe(false);
        expect(u.size).toBe(0);
      }
    });

    describe('train(x)', () => {
      const W = `${kind}.train`;
      const cases: Case[] = [
        { name: 'an index that already holds vectors', call: () => index.train(TRAIN), code: 'INVALID_OPTION', where: W, parts: ['already holds vectors', /got size 40\b/] },
        { name: 'an opq + refine index that already holds vectors', call: () => refined.train(TRAIN), code: 'INVALID_OPTION', where: W, parts: ['already holds vectors', /got size 40\b/] },
      ];
      // bad training data on an untrained index: the message names the index's method, not the quantizer inside it
      // (IVFPQIndex gets the whole table; PQIndex a selection, as it fails them all for one reason at the time of writing)
      const keep = isIVF ? () => true : (c: Case) => /Float64Array|number\[\]|null|length = 161|empty|NaN at 159|Infinity at 0 /.test(c.name);
      for (const [which, get] of [['plain', () => untrained], ['opq', () => untrainedOpq]] as const) {
        cases.push(
          ...vectorCases(W, 'x', D, 20, 51, (x) => get().train(x as never)).filter(keep).map((c) => ({ ...c, name: `${which}: ${c.name}` })),
          { name: `${which}: n = 15 < ksub = 16`, call: () => get().train(uniformVectors(15, D, 52)), code: 'TOO_FEW_POINTS', where: W, parts: [/got n = 15\b/, /ksub = 16/] },
        );
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));

      if (isIVF) {
        it('n = 20 < nlist = 32 -> TOO_FEW_POINTS (checked before ksub)', () => {
          const ivf32 = new IVFPQIndex({ d: D, m: M, nbits: NBITS, nlist: 32 });
          try {
            expectRefusal(() => ivf32.train(uniformVectors(20, D, 53)), 'TOO_FEW_POINTS', W, [/got n = 20\b/, /expected n >= nlist = 32/]);
            expectRefusal(() => ivf32.train(uniformVectors(31, D, 53)), 'TOO_FEW_POINTS', W, [/got n = 31\b/, /nlist = 32/]);
            expect(ivf32.isTrained).toBe(false);
          } finally {
            ivf32.dispose();
          }
        });
        it('n = 10 >= nlist = 4 but < ksub = 16 -> TOO_FEW_POINTS', () => {
          expectRefusal(() => untrained.train(uniformVectors(10, D, 54)), 'TOO_FEW_POINTS', W, [/got n = 10\b/, /ksub = 16/]);
        });
      }
    });

    describe('add(x, ids)', () => {
      const W = `${kind}.add`;
      const goodX = () => uniformVectors(3, D, 61);
      const cases: Case[] = [
        ...vectorCases(W, 'x', D, 3, 62, (x) => index.add(x as never)),
        ...vectorCases(W, 'x', D, 3, 63, (x) => refined.add(x as never, Int32Array.from([1, 2, 3]))).map((c) => ({ ...c, name: `opq + refine: ${c.name}` })),
        { name: 'untrained', call: () => untrained.add(BASE), code: 'NOT_TRAINED', where: W, parts: [/expected train\(x\) first/] },
        { name: 'untrained opq', call: () => untrainedOpq.add(BASE, BASE_IDS), code: 'NOT_TRAINED', where: W, parts: [/expected train\(x\) first/] },
      ];
      const wrongIds: { label: string; value: () => unknown; got: RegExp }[] = [
        { label: 'number[] [0, 1, 2]', value: () => [0, 1, 2], got: /got an Array of length 3/ },
        { label: 'Float32Array(3)', value: () => new Float32Array(3), got: /got Float32Array of length 3/ },
        { label: 'Uint32Array(3)', value: () => new Uint32Array(3), got: /got Uint32Array of length 3/ },
        { label: 'BigInt64Array(3)', value: () => new BigInt64Array(3), got: /got BigInt64Array of length 3/ },
        { label: 'null', value: () => null, got: /got null/ },
        { label: "'x'", value: () => 'x', got: /got "x"/ },
        { label: '{}', value: () => ({}), got: /got an object/ },
      ];
      for (const t of wrongIds) {
        cases.push({ name: `ids = ${t.label}`, call: () => index.add(goodX(), t.value() as never), code: 'INVALID_TYPE', where: W, parts: ['ids', t.got, /expected an Int32Array of length 3/] });
      }
      for (const len of [0, 2, 4, 40]) {
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
      cases.push({ name: 'negative id on the opq + refine index', call: () => refined.add(goodX(), Int32Array.from([1, -1, 2])), code: 'INVALID_OPTION', where: W, parts: ['ids[1]'] });
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    describe('search(q, k, options)', () => {
      const W = `${kind}.search`;
      const cases: Case[] = [
        ...vectorCases(W, 'queries', D, 2, 71, (q) => index.search(q as never, 3)),
        { name: 'one query of d = 12', call: () => index.search(uniformVectors(1, 12, 72), 3), code: 'INVALID_SIZE', where: W, parts: ['queries', 'length 12', 'd = 8'] },
        { name: 'queries of d = 4', call: () => refined.search(uniformVectors(1, 4, 72), 3), code: 'INVALID_SIZE', where: W, parts: ['queries', 'length 4'] },
        ...intCases(W, 'k', 1, 1 << 20, (k) => index.search(QUERIES, k as never), { required: true }),
        { name: 'k = 1.5', call: () => index.search(QUERIES, 1.5), code: 'INVALID_OPTION', where: W, parts: ['k', /got 1\.5/] },
        { name: 'k = 1e9', call: () => index.search(QUERIES, 1e9), code: 'INVALID_OPTION', where: W, parts: ['k', /got 1000000000\b/] },
        { name: 'k = MAX_SAFE_INTEGER', call: () => index.search(QUERIES, Number.MAX_SAFE_INTEGER), code: 'INVALID_OPTION', where: W, parts: ['k'] },
        ...optionsObjectCases(W, (o) => index.search(QUERIES, 3, o as never), { undefinedOk: true }),
        { name: 'rerank without refine', call: () => index.search(QUERIES, 3, { rerank: 10 }), code: 'INVALID_OPTION', where: W, parts: ['rerank needs the original vectors', 'refine: true'] },
        ...intCases(W, 'rerank', 1, 1 << 20, (rerank) => refined.search(QUERIES, 3, { rerank } as never)),
        { name: 'rerank = 0 on a refine index', call: () => refined.search(QUERIES, 3, { rerank: 0 }), code: 'INVALID_OPTION', where: W, parts: ['rerank', /got 0\b/] },
        { name: 'untrained', call: () => untrained.search(QUERIES, 3), code: 'NOT_TRAINED', where: W, parts: [/expected train\(x\) first/] },
        { name: 'untrained opq', call: () => untrainedOpq.search(QUERIES, 3), code: 'NOT_TRAINED', where: W, parts: [] },
      ];
      if (isIVF) {
        const ivf = () => index as IVFPQIndex;
        cases.push(
          ...intCases(W, 'nprobe', 1, NLIST, (nprobe) => ivf().search(QUERIES, 3, { nprobe } as never)),
          { name: 'nprobe = 0', call: () => ivf().search(QUERIES, 3, { nprobe: 0 }), code: 'INVALID_OPTION', where: W, parts: ['nprobe', /got 0\b/, /\[1, 4\]/] },
          { name: 'nprobe = nlist + 1', call: () => ivf().search(QUERIES, 3, { nprobe: NLIST + 1 }), code: 'INVALID_OPTION', where: W, parts: ['nprobe', /got 5\b/, /\[1, 4\]/] },
          { name: 'nprobe = 1000', call: () => (refined as IVFPQIndex).search(QUERIES, 3, { nprobe: 1000, rerank: 5 }), code: 'INVALID_OPTION', where: W, parts: ['nprobe', /got 1000\b/] },
        );
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));

      it('k larger than the index is not an error: rows are padded with -1', () => {
        const k = N + 5;
        const res = isIVF ? (index as IVFPQIndex).search(QUERIES.subarray(0, D), k, { nprobe: NLIST }) : index.search(QUERIES.subarray(0, D), k);
        expect(Array.from(res.ids.subarray(N))).toEqual([-1, -1, -1, -1, -1]);
        expect(new Set(res.ids.subarray(0, N))).toEqual(new Set(BASE_IDS));
      });
    });

    describe('reconstruct(ids)', () => {
      const W = `${kind}.reconstruct`;
      const cases: Case[] = [
        { name: 'an id never added', call: () => index.reconstruct(Int32Array.from([999])), code: 'INVALID_OPTION', where: W, parts: ['ids[0] is not in the index', /got 999\b/] },
        { name: 'a good and an unknown id (number[])', call: () => index.reconstruct([1000, 1001]), code: 'INVALID_OPTION', where: W, parts: ['ids[1] is not in the index', /got 1001\b/] },
        { name: 'id -1', call: () => refined.reconstruct([-1]), code: 'INVALID_OPTION', where: W, parts: ['ids[0]', /got -1\b/] },
        { name: 'id 1000.5', call: () => index.reconstruct([1000.5]), code: 'INVALID_OPTION', where: W, parts: ['ids[0]'] },
        { name: 'any id on an untrained index', call: () => untrained.reconstruct([0]), code: 'INVALID_OPTION', where: W, parts: ['ids[0] is not in the index'] },
        ...[
          { label: 'null', v: () => null, got: /got null/ },
          { label: 'undefined', v: () => undefined, got: /got undefined/ },
          { label: '1000', v: () => 1000, got: /got 1000\b/ },
          { label: "'1000'", v: () => '1000', got: /got "1000"/ },
          { label: 'Float32Array([1000])', v: () => Float32Array.from([1000]), got: /got Float32Array of length 1/ },
          { label: 'Uint32Array([1000])', v: () => Uint32Array.from([1000]), got: /got Uint32Array of length 1/ },
          { label: '{}', v: () => ({}), got: /got an object/ },
        ].map((t) => ({ name: `ids = ${t.label}`, call: () => index.reconstruct(t.v() as never), code: 'INVALID_TYPE' as const, where: W, parts: ['ids', t.got, 'Int32Array'] })),
      ];
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    if (isIVF) {
      describe('reconstructPositions(pos), quantizer, centroids', () => {
        const W = 'IVFPQIndex.reconstructPositions';
        const ivf = () => index as IVFPQIndex;
        const cases: Case[] = [
          { name: 'pos = [-1]', call: () => ivf().reconstructPositions(Int32Array.from([-1])), code: 'INVALID_OPTION', where: W, parts: ['pos[0]', /got -1\b/, /\[0, 39\]/] },
          { name: 'pos = [n]', call: () => ivf().reconstructPositions(Int32Array.from([0, N])), code: 'INVALID_OPTION', where: W, parts: ['pos[1]', /got 40\b/] },
          { name: 'pos on an untrained index', call: () => (untrained as IVFPQIndex).reconstructPositions(Int32Array.from([0])), code: 'NOT_TRAINED', where: W, parts: [] },
          // not an array at all: a VQError INVALID_TYPE, not a TypeError and not a silent empty result
          ...[
            { label: 'null', v: () => null },
            { label: 'undefined', v: () => undefined },
            { label: '5', v: () => 5 },
            { label: '{}', v: () => ({}) },
          ].map((t) => ({ name: `pos = ${t.label}`, call: () => ivf().reconstructPositions(t.v() as never), code: 'INVALID_TYPE' as const, where: W, parts: ['pos'] })),
          { name: 'quantizer of an untrained index', call: () => (untrained as IVFPQIndex).quantizer, code: 'NOT_TRAINED', where: 'IVFPQIndex.quantizer', parts: [] },
          { name: 'centroids of an untrained index', call: () => (untrained as IVFPQIndex).centroids, code: 'NOT_TRAINED', where: 'IVFPQIndex.centroids', parts: [] },
        ];
        it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// "nothing lost": a trained and filled index survives a batch of refused calls
// ---------------------------------------------------------------------------------------------------------------

describe('a batch of refused calls loses nothing', () => {
  const variants: [string, () => AnyIndex][] = [
    ['PQIndex', () => filledPQIndex()],
    ['PQIndex opq + refine (ip)', () => filledPQIndex(pqIndexOpqOpts)],
    ['IVFPQIndex', () => filledIVF()],
    ['IVFPQIndex opq + refine (ip)', () => filledIVF(ivfOpqOpts)],
  ];
  it.each(variants)('%s', (_label, build) => {
    const index = build();
    try {
      const snap = snapshotIndex(index);
      const alloc = allocState();
      const bad = (x: Float32Array, i: number, v: number) => {
        const y = x.slice();
        y[i] = v;
        return y;
      };
      const x5 = uniformVectors(5, D, 81);
      const calls: [string, () => unknown][] = [
        ['add NaN last', () => index.add(bad(x5, 5 * D - 1, NaN))],
        ['add Infinity first', () => index.add(bad(x5, 0, Infinity))],
        ['add wrong length', () => index.add(x5.subarray(1))],
        ['add Float64Array', () => index.add(new Float64Array(x5) as never)],
        ['add ids too short', () => index.add(x5, new Int32Array(4))],
        ['add ids negative last', () => index.add(x5, Int32Array.from([1, 2, 3, 4, -5]))],
        ['add ids number[]', () => index.add(x5, [1, 2, 3, 4, 5] as never)],
        ['train again', () => index.train(TRAIN)],
        ['train NaN', () => index.train(bad(TRAIN, 7, NaN))],
        ['train too few', () => index.train(uniformVectors(3, D, 82))],
        ['search k = 0', () => index.search(QUERIES, 0)],
        ['search k = 2^21', () => index.search(QUERIES, 1 << 21)],
        ['search NaN query', () => index.search(bad(QUERIES, 3, NaN), 3)],
        ['search wrong dims', () => index.search(QUERIES.subarray(0, D + 2), 3)],
        ['search rerank 0', () => index.search(QUERIES, 3, { rerank: 0 })],
        ['search nprobe 0', () => index.search(QUERIES, 3, { nprobe: 0 } as never)],
        ['search options null', () => index.search(QUERIES, 3, null as never)],
        ['reconstruct unknown', () => index.reconstruct([123456])],
        ['reconstruct wrong type', () => index.reconstruct('x' as never)],
      ];
      const outcomes = calls.map(([name, call]) => {
        const e = thrown(call);
        return { name, isVQError: e instanceof VQError, message: e instanceof Error ? e.message : String(e) };
      });
      // every call was refused with a VQError (IVF-only / refine-only options included: nprobe 0 is bad for IVF; for a
      // PQIndex the unknown option is ignored and `search nprobe 0` must then simply succeed)
      for (const o of outcomes) {
        if (o.name === 'search nprobe 0' && !(index instanceof IVFPQIndex)) continue;
        expect(o, o.message).toMatchObject({ isVQError: true });
      }
      expect(allocState()).toEqual(alloc);
      expect(snapshotIndex(index)).toEqual(snap);
      expect(index.size).toBe(N);
      // and it still takes vectors
      index.add(x5, Int32Array.from([7, 8, 9, 10, 11]));
      expect(index.size).toBe(N + 5);
      expect(index.reconstruct([7]).length).toBe(D);
    } finally {
      index.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// use after dispose()
// ---------------------------------------------------------------------------------------------------------------

describe('use after dispose() -> DISPOSED (even with bad arguments); dispose() twice is fine', () => {
  const q2 = () => QUERIES.subarray(0, 2 * D);

  function checkAll(calls: [string, () => unknown][]): void {
    for (const [where, call] of calls) expectRefusal(call, 'DISPOSED', where, DISPOSED_PARTS);
  }

  for (const trained of [true, false]) {
    const state = trained ? 'trained' : 'untrained';

    it(`ProductQuantizer (${state})`, () => {
      const alloc = allocState();
      const q = trained ? trainedPQ() : new ProductQuantizer(pqOpts);
      q.dispose();
      expect(q.disposed).toBe(true);
      expect(allocState()).toEqual(alloc);
      const W = 'ProductQuantizer';
      checkAll([
        [`${W}.train`, () => q.train(TRAIN)],
        [`${W}.train`, () => q.train(null as never)],
        [`${W}.train`, () => q.train(TRAIN, { warmStart: true })],
        [`${W}.encode`, () => q.encode(q2())],
        [`${W}.encode`, () => q.encode('x' as never)],
        [`${W}.encodeInto`, () => q.encodeInto(q2(), new Uint8Array(2 * CS))],
        [`${W}.encodeInto`, () => q.encodeInto(q2(), null as never)],
        [`${W}.decode`, () => q.decode(new Uint8Array(CS))],
        [`${W}.decode`, () => q.decode(new Uint8Array(3))],
        [`${W}.computeDistanceTable`, () => q.computeDistanceTable(q2())],
        [`${W}.computeDistanceTable`, () => q.computeDistanceTable(q2(), 'cosine' as never)],
        [`${W}.centroids`, () => q.centroids],
        [`${W}.save`, () => q.save()],
      ]);
      expect(() => q.dispose()).not.toThrow();
      expect(() => q[Symbol.dispose]()).not.toThrow();
      expect(allocState()).toEqual(alloc);
    });

    it(`OPQ (${state})`, () => {
      const alloc = allocState();
      const q = trained ? trainedOPQ() : new OPQ(opqOpts);
      q[Symbol.dispose]();
      expect(q.disposed).toBe(true);
      expect(allocState()).toEqual(alloc);
      const W = 'OPQ';
      checkAll([
        [`${W}.train`, () => q.train(TRAIN)],
        [`${W}.train`, () => q.train(new Float64Array(8) as never)],
        [`${W}.encode`, () => q.encode(q2())],
        [`${W}.encodeInto`, () => q.encodeInto(q2(), new Uint8Array(2 * CS))],
        [`${W}.decode`, () => q.decode(new Uint8Array(CS))],
        [`${W}.decode`, () => q.decode(null as never)],
        [`${W}.computeDistanceTable`, () => q.computeDistanceTable(q2(), 'ip')],
        [`${W}.rotation`, () => q.rotation],
        [`${W}.rotate`, () => q.rotate(q2())],
        [`${W}.rotateBack`, () => q.rotateBack(q2())],
        [`${W}.save`, () => q.save()],
      ]);
      expect(() => q.dispose()).not.toThrow();
      expect(allocState()).toEqual(alloc);
    });

    it(`PQIndex opq + refine (${state})`, () => {
      const alloc = allocState();
      const index = trained ? filledPQIndex(pqIndexOpqOpts) : new PQIndex(pqIndexOpqOpts);
      const inner = index.quantizer;
      index.dispose();
      expect(index.disposed).toBe(true);
      expect(allocState()).toEqual(alloc);
      const W = 'PQIndex';
      checkAll([
        [`${W}.train`, () => index.train(TRAIN)],
        [`${W}.train`, () => index.train(0 as never)],
        [`${W}.add`, () => index.add(BASE)],
        [`${W}.add`, () => index.add(BASE, BASE_IDS)],
        [`${W}.add`, () => index.add(null as never, -1 as never)],
        [`${W}.search`, () => index.search(QUERIES, 3)],
        [`${W}.search`, () => index.search(QUERIES, 3, { rerank: 5 })],
        [`${W}.search`, () => index.search('x' as never, 0)],
        [`${W}.reconstruct`, () => index.reconstruct(BASE_IDS.subarray(0, 1))],
        [`${W}.reconstruct`, () => index.reconstruct(null as never)],
        [`${W}.save`, () => index.save()],
        [`${W}.size`, () => index.size],
        [`${W}.quantizer`, () => index.quantizer],
        // the quantizer the index owned is disposed with it
        ['OPQ.encode', () => (inner as OPQ).encode(q2())],
      ]);
      expect(inner.disposed).toBe(true);
      expect(() => index.dispose()).not.toThrow();
      expect(() => index[Symbol.dispose]()).not.toThrow();
      expect(allocState()).toEqual(alloc);
    });

    it(`PQIndex plain (${state})`, () => {
      const index = trained ? filledPQIndex() : new PQIndex(pqIndexOpts);
      const inner = index.quantizer as ProductQuantizer;
      index.dispose();
      checkAll([
        ['PQIndex.search', () => index.search(QUERIES, 3)],
        ['PQIndex.add', () => index.add(BASE)],
        ['ProductQuantizer.encode', () => inner.encode(q2())],
        ['ProductQuantizer.train', () => inner.train(TRAIN)],
      ]);
      expect(inner.disposed).toBe(true);
    });

    it(`IVFPQIndex opq + refine (${state})`, () => {
      const alloc = allocState();
      const index = trained ? filledIVF(ivfOpqOpts) : new IVFPQIndex(ivfOpqOpts);
      const inner = trained ? index.quantizer : null;
      index.dispose();
      expect(index.disposed).toBe(true);
      expect(allocState()).toEqual(alloc);
      const W = 'IVFPQIndex';
      checkAll([
        [`${W}.train`, () => index.train(TRAIN)],
        [`${W}.train`, () => index.train(undefined as never)],
        [`${W}.add`, () => index.add(BASE)],
        [`${W}.add`, () => index.add(BASE, new Int32Array(1))],
        [`${W}.search`, () => index.search(QUERIES, 3)],
        [`${W}.search`, () => index.search(QUERIES, 3, { nprobe: 99, rerank: -1 })],
        [`${W}.reconstruct`, () => index.reconstruct([1000])],
        [`${W}.reconstructPositions`, () => index.reconstructPositions(Int32Array.from([0]))],
        [`${W}.reconstructPositions`, () => index.reconstructPositions(null as never)],
        [`${W}.save`, () => index.save()],
        [`${W}.size`, () => index.size],
        [`${W}.listSizes`, () => index.listSizes],
        [`${W}.quantizer`, () => index.quantizer],
        [`${W}.centroids`, () => index.centroids],
      ]);
      if (inner) {
        expect(inner.disposed).toBe(true);
        expectRefusal(() => inner.encode(q2()), 'DISPOSED', 'ProductQuantizer.encode', DISPOSED_PARTS);
      }
      expect(() => index.dispose()).not.toThrow();
      expect(() => index[Symbol.dispose]()).not.toThrow();
      expect(allocState()).toEqual(alloc);
    });
  }

  it('disposing one index leaves another (with the same options) working', () => {
    const a = filledIVF();
    const b = filledIVF();
    try {
      const want = b.search(QUERIES, 5, { nprobe: 2 });
      a.dispose();
      expect(b.search(QUERIES, 5, { nprobe: 2 })).toEqual(want);
    } finally {
      b.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// load(): saved files
// ---------------------------------------------------------------------------------------------------------------

type Loadable = ProductQuantizer | OPQ | PQIndex | IVFPQIndex;

const LOADERS: Record<'ProductQuantizer' | 'OPQ' | 'PQIndex' | 'IVFPQIndex', (b: unknown) => Loadable> = {
  ProductQuantizer: (b) => ProductQuantizer.load(b as never),
  OPQ: (b) => OPQ.load(b as never),
  PQIndex: (b) => PQIndex.load(b as never),
  IVFPQIndex: (b) => IVFPQIndex.load(b as never),
};
type LoaderKind = keyof typeof LOADERS;

interface SavedFile {
  name: string;
  kind: LoaderKind;
  build: () => Loadable;
}

const SAVED: SavedFile[] = [
  { name: 'ProductQuantizer', kind: 'ProductQuantizer', build: trainedPQ },
  { name: 'OPQ', kind: 'OPQ', build: trainedOPQ },
  { name: 'PQIndex', kind: 'PQIndex', build: () => filledPQIndex() },
  { name: 'PQIndex opq + refine', kind: 'PQIndex', build: () => filledPQIndex(pqIndexOpqOpts) },
  { name: 'IVFPQIndex', kind: 'IVFPQIndex', build: () => filledIVF() },
  { name: 'IVFPQIndex opq + refine', kind: 'IVFPQIndex', build: () => filledIVF(ivfOpqOpts) },
];

/** What a loaded object answers: its saved bytes and (quantizers) codes / (indexes) search results. */
function fingerprint(o: Loadable): unknown {
  if (o instanceof PQIndex || o instanceof IVFPQIndex) return { ...snapshotIndex(o) };
  return snapshotQuantizer(o);
}

/** Rewrites a file through the container API (valid checksum), after `edit` changed its params or sections. */
function rewrite(bytes: Uint8Array, kind: Kind, edit: (params: Record<string, number | string | boolean>, sections: Map<string, Uint8Array>) => void): Uint8Array {
  const c = readContainer('rewrite', bytes, kind);
  const params = { ...c.params };
  const sections = new Map([...c.sections].map(([tag, s]) => [tag, s.slice()] as [string, Uint8Array]));
  edit(params, sections);
  const list: Section[] = [...sections].map(([tag, data]) => ({ tag, data }));
  return writeContainer(kind, params, list);
}

const f32 = (u8: Uint8Array) => new Float32Array(u8.buffer, u8.byteOffset, u8.byteLength / 4);
const i32 = (u8: Uint8Array) => new Int32Array(u8.buffer, u8.byteOffset, u8.byteLength / 4);

describe('load()', () => {
  const files = new Map<string, Uint8Array>();
  const prints = new Map<string, unknown>();

  beforeAll(() => {
    for (const s of SAVED) {
      const o = s.build();
      files.set(s.name, o.save());
      prints.set(s.name, fingerprint(o));
      o.dispose();
    }
  });
  const file = (name: string) => files.get(name)!;

  describe('the reference files load back to objects that answer the same', () => {
    it.each(SAVED.map((s) => [s.name, s] as const))('%s', (_n, s) => {
      const alloc = allocState();
      for (const input of [file(s.name), file(s.name).slice().buffer, Buffer.from(file(s.name))]) {
        const o = LOADERS[s.kind](input);
        try {
          expect(fingerprint(o)).toEqual(prints.get(s.name));
        } finally {
          o.dispose();
        }
      }
      // a file at an odd offset inside a larger buffer (payloads not 4-byte aligned)
      const f = file(s.name);
      const big = new Uint8Array(f.length + 7);
      big.set(f, 3);
      const o = LOADERS[s.kind](big.subarray(3, 3 + f.length));
      try {
        expect(fingerprint(o)).toEqual(prints.get(s.name));
      } finally {
        o.dispose();
      }
      expect(allocState()).toEqual(alloc);
      // and the rewrite helper used below reproduces a file byte for byte
      expect(b64(rewrite(f, s.kind, () => {}))).toBe(b64(f));
    });
  });

  describe('refused inputs allocate nothing', () => {
    noAllocations();

    describe('not bytes -> INVALID_TYPE', () => {
      const values: [string, () => unknown][] = [
        ['null', () => null],
        ['undefined', () => undefined],
        ["'VQWF'", () => 'VQWF'],
        ['5', () => 5],
        ['{}', () => ({})],
        ['number[] of the file', () => Array.from(file('ProductQuantizer'))],
        ['Float32Array', () => new Float32Array(16)],
        ['Int8Array of the file', () => new Int8Array(file('ProductQuantizer').buffer)],
        ['Uint8ClampedArray of the file', () => new Uint8ClampedArray(file('ProductQuantizer'))],
        ['DataView of the file', () => new DataView(file('ProductQuantizer').buffer)],
        ['a Blob-like object', () => ({ arrayBuffer: () => file('ProductQuantizer').buffer })],
      ];
      const cases: Case[] = [];
      for (const kind of Object.keys(LOADERS) as LoaderKind[]) {
        for (const [lbl, v] of values) {
          cases.push({ name: `${kind}.load(${lbl})`, call: () => LOADERS[kind](v()), code: 'INVALID_TYPE', where: `${kind}.load`, parts: ['Uint8Array or an ArrayBuffer'] });
        }
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    describe('empty, truncated or extended -> CORRUPT_DATA', () => {
      const cases: Case[] = [];
      for (const s of SAVED) {
        const W = `${s.kind}.load`;
        cases.push(
          { name: `${s.name}: empty Uint8Array`, call: () => LOADERS[s.kind](new Uint8Array(0)), code: 'CORRUPT_DATA', where: W, parts: ['too short', /got 0 bytes/] },
          { name: `${s.name}: empty ArrayBuffer`, call: () => LOADERS[s.kind](new ArrayBuffer(0)), code: 'CORRUPT_DATA', where: W, parts: ['too short'] },
        );
        const cuts: [string, (len: number) => number][] = [
          ['1 byte', () => 1], ['4 bytes', () => 4], ['8 bytes', () => 8], ['16 bytes (header only)', () => 16], ['23 bytes', () => 23], ['24 bytes', () => 24],
          ['40 bytes', () => 40], ['a third', (l) => Math.floor(l / 3)], ['half', (l) => Math.floor(l / 2)], ['all but the checksum', (l) => l - 4],
          ['all but 5 bytes', (l) => l - 5], ['all but 1 byte', (l) => l - 1],
        ];
        for (const [lbl, cut] of cuts) {
          cases.push({ name: `${s.name}: truncated to ${lbl}`, call: () => LOADERS[s.kind](file(s.name).slice(0, cut(file(s.name).length))), code: 'CORRUPT_DATA', where: W, parts: [] });
        }
        cases.push(
          { name: `${s.name}: one trailing zero byte`, call: () => { const f = file(s.name); const g = new Uint8Array(f.length + 1); g.set(f); return LOADERS[s.kind](g); }, code: 'CORRUPT_DATA', where: W, parts: ['trailing'] },
          { name: `${s.name}: saved twice back to back`, call: () => { const f = file(s.name); const g = new Uint8Array(2 * f.length); g.set(f); g.set(f, f.length); return LOADERS[s.kind](g); }, code: 'CORRUPT_DATA', where: W, parts: [] },
          { name: `${s.name}: all zeros of the right length`, call: () => LOADERS[s.kind](new Uint8Array(file(s.name).length)), code: 'CORRUPT_DATA', where: W, parts: ['not a vqwasm file'] },
        );
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    describe('wrong kind -> CORRUPT_DATA', () => {
      const cases: Case[] = [];
      for (const s of SAVED) {
        for (const target of Object.keys(LOADERS) as LoaderKind[]) {
          if (target === s.kind) continue;
          cases.push({
            name: `a ${s.name} file given to ${target}.load`,
            call: () => LOADERS[target](file(s.name)),
            code: 'CORRUPT_DATA',
            where: `${target}.load`,
            parts: ['wrong kind of file', new RegExp(`got an? ${s.kind} file`), new RegExp(`expected an? ${target} file`)],
          });
        }
      }
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });

    describe('one damaged byte anywhere -> CORRUPT_DATA', () => {
      it.each(SAVED.map((s) => [s.name, s] as const))('%s: every byte flipped in turn (xor 0xff), every 3rd bit-flipped (xor 0x01)', (_n, s) => {
        const f = file(s.name);
        const failures: string[] = [];
        let tried = 0;
        for (const [mask, step] of [[0xff, 1], [0x01, 3], [0x80, 5]] as const) {
          for (let p = 0; p < f.length; p += step) {
            const g = f.slice();
            g[p] ^= mask;
            tried++;
            const e = thrown(() => LOADERS[s.kind](g));
            if (!(e instanceof VQError) || e.code !== 'CORRUPT_DATA' || !e.message.startsWith(`${s.kind}.load: `)) {
              if (e === undefined) failures.push(`byte ${p} ^ ${mask}: loaded`);
              else failures.push(`byte ${p} ^ ${mask}: ${e instanceof Error ? `${e.name} ${(e as VQError).code}: ${e.message}` : String(e)}`);
            }
          }
        }
        expect(tried).toBeGreaterThan(f.length);
        expect(failures).toEqual([]);
      });
    });

    describe('crafted files with a valid checksum -> CORRUPT_DATA', () => {
      type Edit = (p: Record<string, number | string | boolean>, s: Map<string, Uint8Array>) => void;
      const crafted: [string, string, Edit, Part[]][] = [
        // ProductQuantizer
        ['ProductQuantizer', 'd = 16', (p) => { p.d = 16; }, ["section 'CENT' has the wrong size"]],
        ['ProductQuantizer', 'm = 3 (d = 8)', (p) => { p.m = 3; }, ['not a multiple of m']],
        ['ProductQuantizer', 'm = 0', (p) => { p.m = 0; }, ["param 'm'"]],
        ['ProductQuantizer', 'nbits = 9', (p) => { p.nbits = 9; }, ["param 'nbits'"]],
        ['ProductQuantizer', 'nbits = 2.5', (p) => { p.nbits = 2.5; }, ["param 'nbits'"]],
        ['ProductQuantizer', "nbits = '4'", (p) => { p.nbits = '4'; }, ["param 'nbits'"]],
        ['ProductQuantizer', 'nbits = 8 (codebook of nbits 4)', (p) => { p.nbits = 8; }, ["section 'CENT'"]],
        ['ProductQuantizer', 'd missing', (p) => { delete p.d; }, ["missing param 'd'"]],
        ['ProductQuantizer', 'seed = 1.5', (p) => { p.seed = 1.5; }, ['saved parameters are invalid', 'seed']],
        ['ProductQuantizer', 'iterations = 0', (p) => { p.iterations = 0; }, ['saved parameters are invalid']],
        ['ProductQuantizer', 'CENT removed', (_p, s) => { s.delete('CENT'); }, ["missing section 'CENT'"]],
        ['ProductQuantizer', 'CENT 4 bytes short', (_p, s) => { s.set('CENT', s.get('CENT')!.slice(4)); }, ["section 'CENT' has the wrong size"]],
        ['ProductQuantizer', 'CENT with NaN', (_p, s) => { f32(s.get('CENT')!)[17] = NaN; }, ["section 'CENT' holds a non-finite value at index 17"]],
        ['ProductQuantizer', 'CENT with -Infinity', (_p, s) => { const c = f32(s.get('CENT')!); c[c.length - 1] = -Infinity; }, ['non-finite']],
        // OPQ
        ['OPQ', 'ROT scaled by 2 (not orthogonal)', (_p, s) => { const r = f32(s.get('ROT ')!); for (let i = 0; i < r.length; i++) r[i] *= 2; }, ['not orthogonal']],
        ['OPQ', 'ROT with one entry changed by 0.5', (_p, s) => { f32(s.get('ROT ')!)[9] += 0.5; }, ['not orthogonal']],
        ['OPQ', 'ROT all zero', (_p, s) => { s.get('ROT ')!.fill(0); }, ['not orthogonal']],
        ['OPQ', 'ROT removed', (_p, s) => { s.delete('ROT '); }, ["missing section 'ROT '"]],
        ['OPQ', 'ROT with NaN', (_p, s) => { f32(s.get('ROT ')!)[0] = NaN; }, ['non-finite']],
        ['OPQ', 'CENT removed', (_p, s) => { s.delete('CENT'); }, ["missing section 'CENT'"]],
        ['OPQ', 'd = 16', (p) => { p.d = 16; }, ["section 'ROT '"]],
        ['OPQ', 'iterations = -1', (p) => { p.iterations = -1; }, ['saved parameters are invalid']],
        ['OPQ', 'nbits = 0', (p) => { p.nbits = 0; }, ["param 'nbits'"]],
        // PQIndex
        ['PQIndex', 'n = 41', (p) => { p.n = 41; }, ["section 'CODE' has the wrong size"]],
        ['PQIndex', 'n = -1', (p) => { p.n = -1; }, ["param 'n'"]],
        ['PQIndex', 'n = 2^31', (p) => { p.n = 2 ** 31; }, ["param 'n'"]],
        ['PQIndex', 'n missing', (p) => { delete p.n; }, ["missing param 'n'"]],
        ['PQIndex', 'a negative id', (_p, s) => { i32(s.get('IDS ')!)[5] = -3; }, ['a saved id is negative', /got -3\b/]],
        ['PQIndex', 'CODE removed', (_p, s) => { s.delete('CODE'); }, ["missing section 'CODE'"]],
        ['PQIndex', 'CODE 2 bytes short', (_p, s) => { s.set('CODE', s.get('CODE')!.slice(2)); }, ["section 'CODE' has the wrong size"]],
        ['PQIndex', 'IDS removed', (_p, s) => { s.delete('IDS '); }, ["missing section 'IDS '"]],
        ['PQIndex', "metric 'cosine'", (p) => { p.metric = 'cosine'; }, ["param 'metric'"]],
        ['PQIndex', 'metric missing', (p) => { delete p.metric; }, ["missing param 'metric'"]],
        ['PQIndex', "opq 'yes'", (p) => { p.opq = 'yes'; }, ["param 'opq' is not a boolean"]],
        ['PQIndex', 'opq true without a rotation', (p) => { p.opq = true; }, ["missing section 'ROT '"]],
        ['PQIndex', 'refine true without vectors', (p) => { p.refine = true; }, ["missing section 'VECS'"]],
        ['PQIndex', 'trained false with n = 40', (p) => { p.trained = false; }, ['an untrained index cannot hold vectors']],
        ['PQIndex', 'd = 4, m = 4', (p) => { p.d = 4; }, ["section 'CENT'"]],
        ['PQIndex', "fastScan 'yes'", (p) => { p.fastScan = 'yes'; }, ["param 'fastScan' is not a boolean"]],
        ['PQIndex', 'fastScan with nbits 8 (and a codebook of 8 bits)', (p) => { p.nbits = 8; }, ['saved parameters are invalid', 'fastScan']],
        ['PQIndex opq + refine', 'VECS with Infinity', (_p, s) => { f32(s.get('VECS')!)[100] = Infinity; }, ["section 'VECS' holds a non-finite value"]],
        ['PQIndex opq + refine', 'VECS 4 bytes short', (_p, s) => { s.set('VECS', s.get('VECS')!.slice(4)); }, ["section 'VECS' has the wrong size"]],
        ['PQIndex opq + refine', 'ROT not orthogonal', (_p, s) => { f32(s.get('ROT ')!)[0] = 3; }, ['not orthogonal']],
        ['PQIndex opq + refine', 'CENT with NaN', (_p, s) => { f32(s.get('CENT')!)[3] = NaN; }, ['non-finite']],
        ['PQIndex opq + refine', 'a negative id', (_p, s) => { const ids = i32(s.get('IDS ')!); ids[ids.length - 1] = -1; }, ['a saved id is negative']],
        // IVFPQIndex
        ['IVFPQIndex', 'nlist = 5', (p) => { p.nlist = 5; }, ["section 'COAR' has the wrong size"]],
        ['IVFPQIndex', 'nlist = 0', (p) => { p.nlist = 0; }, ["param 'nlist'"]],
        ['IVFPQIndex', 'n = 41', (p) => { p.n = 41; }, ['the list sizes do not add up to n']],
        ['IVFPQIndex', 'trained false with n = 40', (p) => { p.trained = false; }, ['an untrained index cannot hold vectors']],
        ['IVFPQIndex', 'trained missing', (p) => { delete p.trained; }, ["missing param 'trained'"]],
        ['IVFPQIndex', 'a negative list size (sum kept)', (_p, s) => { const z = i32(s.get('LSZ ')!); z[0] = -1; z[1] += N - z.reduce((a, b) => a + b, 0); }, ['a list size is negative']],
        ['IVFPQIndex', 'list sizes one too many', (_p, s) => { i32(s.get('LSZ ')!)[2] += 1; }, ['do not add up']],
        ['IVFPQIndex', 'LSZ removed', (_p, s) => { s.delete('LSZ '); }, ["missing section 'LSZ '"]],
        ['IVFPQIndex', 'a position repeated', (_p, s) => { const pos = i32(s.get('LPOS')!); pos[1] = pos[0]; }, ['not a permutation']],
        ['IVFPQIndex', 'a position = n', (_p, s) => { i32(s.get('LPOS')!)[3] = N; }, ['not a permutation', /got 40\b/]],
        ['IVFPQIndex', 'a position = -1', (_p, s) => { i32(s.get('LPOS')!)[0] = -1; }, ['not a permutation']],
        ['IVFPQIndex', 'LCOD 1 byte short', (_p, s) => { s.set('LCOD', s.get('LCOD')!.slice(1)); }, ["section 'LCOD' has the wrong size"]],
        ['IVFPQIndex', 'a negative id', (_p, s) => { i32(s.get('IDS ')!)[0] = -2; }, ['a saved id is negative']],
        ['IVFPQIndex', 'COAR with NaN', (_p, s) => { f32(s.get('COAR')!)[5] = NaN; }, ["section 'COAR' holds a non-finite value"]],
        ['IVFPQIndex', 'RPQC with Infinity', (_p, s) => { f32(s.get('RPQC')!)[0] = Infinity; }, ["section 'RPQC' holds a non-finite value"]],
        ['IVFPQIndex', 'RPQC removed', (_p, s) => { s.delete('RPQC'); }, ["missing section 'RPQC'"]],
        ['IVFPQIndex', "metric 'cosine'", (p) => { p.metric = 'cosine'; }, ["param 'metric'"]],
        ['IVFPQIndex', 'refine true without vectors', (p) => { p.refine = true; }, ["missing section 'VECS'"]],
        ['IVFPQIndex', 'opq true without a rotation', (p) => { p.opq = true; }, ["missing section 'ROT '"]],
        ['IVFPQIndex', 'fastScan 1', (p) => { p.fastScan = 1; }, ["param 'fastScan' is not a boolean"]],
        ['IVFPQIndex', 'fastScan with nbits 6', (p) => { p.nbits = 6; }, ['saved parameters are invalid', 'fastScan']],
        ['IVFPQIndex opq + refine', 'ROT not orthogonal', (_p, s) => { f32(s.get('ROT ')!)[0] += 0.5; }, ['not orthogonal']],
        ['IVFPQIndex opq + refine', 'CENT (the OPQ codebook) removed', (_p, s) => { s.delete('CENT'); }, ["missing section 'CENT'"]],
        ['IVFPQIndex opq + refine', 'VECS with NaN', (_p, s) => { f32(s.get('VECS')!)[0] = NaN; }, ["section 'VECS' holds a non-finite value"]],
      ];
      const cases: Case[] = crafted.map(([name, what, edit, parts]) => {
        const s = SAVED.find((x) => x.name === name)!;
        return { name: `${name}: ${what}`, call: () => LOADERS[s.kind](rewrite(file(name), s.kind as Kind, edit)), code: 'CORRUPT_DATA' as const, where: `${s.kind}.load`, parts };
      });
      it.each(named(cases))('%s', (_n, c) => expectRefusal(c.call, c.code, c.where, c.parts));
    });
  });

  describe('untrained and empty objects round-trip', () => {
    it('ProductQuantizer (untrained): params kept, trains to the same codebook as the original', () => {
      const opts = { d: D, m: 2, nbits: 3, seed: 77, iterations: 6, init: 'random' as const, maxPointsPerCentroid: 9 };
      const a = new ProductQuantizer(opts);
      const b = ProductQuantizer.load(a.save());
      try {
        expect(b.isTrained).toBe(false);
        expect({ d: b.d, m: b.m, nbits: b.nbits, seed: b.seed, iterations: b.iterations, init: b.init, maxPointsPerCentroid: b.maxPointsPerCentroid }).toEqual(opts);
        expectRefusal(() => b.encode(QUERIES), 'NOT_TRAINED', 'ProductQuantizer.encode');
        a.train(TRAIN);
        b.train(TRAIN);
        expect(b.centroids).toEqual(a.centroids);
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it('OPQ (untrained): numeric params kept, trains to the same rotation and codes as the original', () => {
      const opts = { d: D, m: M, nbits: NBITS, seed: 5, iterations: 2, pqIterationsFirst: 3, pqIterations: 2, maxTrainPoints: 80, finalPqIterations: 4 };
      const a = new OPQ(opts);
      const b = OPQ.load(a.save());
      try {
        expect(b.isTrained).toBe(false);
        const { d, m, nbits, seed, iterations, pqIterationsFirst, pqIterations, maxTrainPoints, finalPqIterations } = b;
        expect({ d, m, nbits, seed, iterations, pqIterationsFirst, pqIterations, maxTrainPoints, finalPqIterations }).toEqual(opts);
        expectRefusal(() => b.rotation, 'NOT_TRAINED', 'OPQ.rotation');
        a.train(TRAIN);
        b.train(TRAIN);
        expect(b.rotation).toEqual(a.rotation);
        expect(b.encode(BASE)).toEqual(a.encode(BASE));
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it("OPQ: init 'random' survives save / load (untrained and trained)", () => {
      const a = new OPQ({ ...opqOpts, init: 'random' });
      try {
        const b = OPQ.load(a.save());
        expect(b.init).toBe('random');
        b.dispose();
        a.train(TRAIN);
        const c = OPQ.load(a.save());
        expect(c.init).toBe('random');
        c.dispose();
      } finally {
        a.dispose();
      }
    });

    it('OPQ with iterations: 0 (no rotation search) saves and loads', () => {
      const a = new OPQ({ ...opqOpts, iterations: 0 });
      try {
        a.train(TRAIN);
        const b = OPQ.load(a.save());
        try {
          expect(b.iterations).toBe(0);
          expect(b.encode(BASE)).toEqual(a.encode(BASE));
        } finally {
          b.dispose();
        }
      } finally {
        a.dispose();
      }
    });

    it.each([
      ['PQIndex', () => new PQIndex({ ...pqIndexOpqOpts, opqIterations: 0 })],
      ['IVFPQIndex', () => new IVFPQIndex({ ...ivfOpqOpts, opqIterations: 0 })],
    ] as const)('%s with opq and opqIterations: 0 saves and loads', (_n, make) => {
      const a = make();
      try {
        a.train(TRAIN);
        a.add(BASE, BASE_IDS);
        const b = (a instanceof PQIndex ? PQIndex.load(a.save()) : IVFPQIndex.load(a.save())) as AnyIndex;
        try {
          expect(snapshotIndex(b)).toEqual(snapshotIndex(a));
        } finally {
          b.dispose();
        }
      } finally {
        a.dispose();
      }
    });

    const indexVariants: [string, () => AnyIndex, (b: Uint8Array) => AnyIndex][] = [
      ['PQIndex', () => new PQIndex(pqIndexOpts), (b) => PQIndex.load(b)],
      ['PQIndex opq + refine', () => new PQIndex(pqIndexOpqOpts), (b) => PQIndex.load(b)],
      ['IVFPQIndex', () => new IVFPQIndex(ivfOpts), (b) => IVFPQIndex.load(b)],
      ['IVFPQIndex opq + refine', () => new IVFPQIndex(ivfOpqOpts), (b) => IVFPQIndex.load(b)],
    ];

    it.each(indexVariants)('%s (untrained): loads untrained, refuses search / add, then trains like the original', (_n, make, load) => {
      const a = make();
      const b = load(a.save());
      try {
        expect(b.isTrained).toBe(false);
        expect(b.size).toBe(0);
        expect({ d: b.d, m: b.m, nbits: b.nbits, metric: b.metric, opq: b.opq, refine: b.refine }).toEqual({ d: a.d, m: a.m, nbits: a.nbits, metric: a.metric, opq: a.opq, refine: a.refine });
        const W = b instanceof IVFPQIndex ? 'IVFPQIndex' : 'PQIndex';
        expectRefusal(() => b.search(QUERIES, 3), 'NOT_TRAINED', `${W}.search`);
        expectRefusal(() => b.add(BASE), 'NOT_TRAINED', `${W}.add`);
        expect(b64(b.save())).toBe(b64(a.save()));
        for (const x of [a, b]) {
          x.train(TRAIN);
          x.add(BASE, BASE_IDS);
        }
        expect(snapshotIndex(b)).toEqual(snapshotIndex(a));
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it.each(indexVariants)('%s (trained, empty): loads with size 0, answers empty rows, then fills like the original', (_n, make, load) => {
      const a = make();
      a.train(TRAIN);
      const b = load(a.save());
      try {
        expect(b.isTrained).toBe(true);
        expect(b.size).toBe(0);
        const res = b.search(QUERIES, 3);
        expect(Array.from(res.ids)).toEqual(new Array(15).fill(-1));
        for (const x of [a, b]) x.add(BASE, BASE_IDS);
        expect(snapshotIndex(b)).toEqual(snapshotIndex(a));
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// seeds: every seed the constructor accepts trains (the internal seeds seed + j must not overflow the safe range)
// ---------------------------------------------------------------------------------------------------------------

describe('seeds: |seed| <= 2^40 train (derived seeds stay exact), larger ones are refused up front', () => {
  const S = 2 ** 40;
  const makers: [string, (seed: number) => { train(x: Float32Array): unknown; dispose(): void }][] = [
    ['ProductQuantizer', (seed) => new ProductQuantizer({ ...pqOpts, seed })],
    ['OPQ', (seed) => new OPQ({ ...opqOpts, seed })],
    ['PQIndex', (seed) => new PQIndex({ ...pqIndexOpts, seed })],
    ['IVFPQIndex', (seed) => new IVFPQIndex({ ...ivfOpts, seed })],
  ];
  for (const [name, make] of makers) {
    for (const seed of [S, -S]) {
      it(`${name} seed = ${seed} trains`, () => {
        const o = make(seed);
        try {
          const e = thrown(() => o.train(TRAIN));
          expect(e === undefined ? 'trained' : `${(e as Error).message}`).toBe('trained');
        } finally {
          o.dispose();
        }
      });
    }
    for (const seed of [S + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      it(`${name} seed = ${seed} is refused by the constructor`, () => {
        const e = thrown(() => make(seed).dispose());
        expect(e).toBeInstanceOf(VQError);
        expect((e as VQError).code).toBe('INVALID_OPTION');
        expect((e as VQError).message).toMatch(/seed/);
      });
    }
  }
});
