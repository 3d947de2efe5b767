// The wasm heap seen from the product-quantization classes (ProductQuantizer, OPQ, PQIndex, IVFPQIndex): repeated
// create / train / add / search / save / load / dispose cycles do not grow the heap; dispose() (and `using`) frees
// everything, including the quantizers an index owns; refused or failed calls (a damaged file, an allocation that
// fails part-way) leave no allocation behind and leave the object answering exactly as before.
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, IVFPQIndex, memoryStats, OPQ, PQIndex, ProductQuantizer, VQError, type MemoryStats } from '../dist/index.js';
import { readContainer, writeContainer, type Kind } from '../dist/io/format.js';
import { engine } from '../dist/wasm/engine.js';
import { uniformVectors } from './helpers/data.js';

const D = 8;
const M = 4;
const NBITS = 4;
const TRAIN = uniformVectors(96, D, 1);
const N = 40;
const BASE = uniformVectors(N, D, 2);
const BASE_IDS = Int32Array.from({ length: N }, (_, i) => 1000 + 3 * i);
const QUERIES = uniformVectors(5, D, 3);

const pqOpts = { d: D, m: M, nbits: NBITS, iterations: 8 };
const opqOpts = { d: D, m: M, nbits: NBITS, iterations: 2, pqIterationsFirst: 4, finalPqIterations: 8 };
const pqIndexOpts = { d: D, m: M, nbits: NBITS };
const pqIndexOpqOpts = { d: D, m: M, nbits: NBITS, opq: true, opqIterations: 2, refine: true, metric: 'ip' as const };
const ivfOpts = { d: D, m: M, nbits: NBITS, nlist: 4, coarseIterations: 8 };
const ivfOpqOpts = { ...ivfOpts, opq: true, opqIterations: 2, refine: true, metric: 'ip' as const };

type Quantizer = ProductQuantizer | OPQ;
type AnyIndex = PQIndex | IVFPQIndex;
type AnyObject = Quantizer | AnyIndex;

interface Live {
  liveAllocations: number;
  liveBytes: number;
}

function live(): Live {
  const s = memoryStats();
  return { liveAllocations: s.liveAllocations, liveBytes: s.liveBytes };
}

/** Live allocations without the engine's scratch block (transient by design: released here before measuring). */
function owned(): Live {
  engine('pq-memory.test').releaseScratch();
  return live();
}

const b64 = (u8: Uint8Array): string => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');

function search(index: AnyIndex): { ids: Int32Array; distances: Float32Array } {
  if (index instanceof IVFPQIndex) return index.search(QUERIES, 5, index.refine ? { nprobe: 2, rerank: 10 } : { nprobe: 2 });
  return index.search(QUERIES, 5, index.refine ? { rerank: 10 } : {});
}

/** Everything an object answers: saved bytes, and search results (indexes) or codes and tables (quantizers). */
function answers(o: AnyObject): unknown {
  if (o instanceof PQIndex || o instanceof IVFPQIndex) {
    return { size: o.size, trained: o.isTrained, saved: b64(o.save()), ...(o.isTrained && o.size > 0 ? search(o) : {}) };
  }
  if (!o.isTrained) return { trained: false, saved: b64(o.save()) };
  const codes = o.encode(QUERIES);
  return { trained: true, saved: b64(o.save()), codes, decoded: o.decode(codes), table: o.computeDistanceTable(QUERIES) };
}

interface Variant {
  name: string;
  create: () => AnyObject;
  /** train (+ add for indexes) */
  fill: (o: AnyObject) => void;
  load: (b: Uint8Array) => AnyObject;
}

const VARIANTS: Variant[] = [
  { name: 'ProductQuantizer', create: () => new ProductQuantizer(pqOpts), fill: (o) => (o as Quantizer).train(TRAIN), load: (b) => ProductQuantizer.load(b) },
  { name: 'OPQ', create: () => new OPQ(opqOpts), fill: (o) => (o as Quantizer).train(TRAIN), load: (b) => OPQ.load(b) },
  ...([
    ['PQIndex', () => new PQIndex(pqIndexOpts), (b: Uint8Array) => PQIndex.load(b)],
    ['PQIndex opq + refine (ip)', () => new PQIndex(pqIndexOpqOpts), (b: Uint8Array) => PQIndex.load(b)],
    ['IVFPQIndex', () => new IVFPQIndex(ivfOpts), (b: Uint8Array) => IVFPQIndex.load(b)],
    ['IVFPQIndex opq + refine (ip)', () => new IVFPQIndex(ivfOpqOpts), (b: Uint8Array) => IVFPQIndex.load(b)],
    // nbits 4 indexes scan with fast-scan by default; these keep the float 4-bit scan and its packed storage
    ['PQIndex float 4-bit (fastScan: false)', () => new PQIndex({ ...pqIndexOpts, fastScan: false }), (b: Uint8Array) => PQIndex.load(b)],
    ['IVFPQIndex float 4-bit (fastScan: false)', () => new IVFPQIndex({ ...ivfOpts, fastScan: false }), (b: Uint8Array) => IVFPQIndex.load(b)],
  ] as const).map(([name, create, load]) => ({
    name,
    create,
    load,
    fill: (o: AnyObject) => {
      const index = o as AnyIndex;
      index.train(TRAIN);
      index.add(BASE, BASE_IDS);
      index.add(BASE.subarray(0, 5 * D)); // a second add: the buffers grow once
    },
  })),
];

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------------------
// cycles
// ---------------------------------------------------------------------------------------------------------------

describe('20 rounds of create / train / add / search / save / load / dispose do not grow the heap', () => {
  function drift(rounds: MemoryStats[]): { round: number; stats: MemoryStats }[] {
    const base = rounds[0];
    return rounds
      .map((stats, round) => ({ round, stats }))
      .filter(({ stats: s }) => s.liveBytes !== base.liveBytes || s.liveAllocations !== base.liveAllocations || s.heapEndBytes !== base.heapEndBytes || s.memoryBytes !== base.memoryBytes);
  }

  it.each(VARIANTS.map((v) => [v.name, v] as const))('%s', (_n, v) => {
    const start = memoryStats();
    const rounds: MemoryStats[] = [];
    let first: unknown = null;
    for (let r = 0; r <= 20; r++) {
      const o = v.create();
      v.fill(o);
      const a = answers(o);
      const copy = v.load(o.save());
      // the loaded copy answers like the original, round after round
      expect(answers(copy)).toEqual(a);
      if (first === null) first = a;
      else expect(a).toEqual(first);
      if (o instanceof ProductQuantizer || o instanceof OPQ) o.decode(o.encode(BASE));
      else o.reconstruct(BASE_IDS.subarray(0, 4));
      copy.dispose();
      o.dispose();
      rounds.push(memoryStats());
    }
    // round 0 is the warm-up (the engine's scratch block may grow in it); after it, nothing moves
    expect(drift(rounds), `round 0: ${JSON.stringify(rounds[0])}`).toEqual([]);
    // and what stays allocated after round 0 is at most the scratch block
    expect(rounds[0].liveAllocations).toBeLessThanOrEqual(start.liveAllocations + 1);
  });

  it('retraining replaces (and frees) the previous codebook: 20 trains of one object each', () => {
    const objects: [string, AnyObject, (o: AnyObject, r: number) => void][] = [
      ['ProductQuantizer', new ProductQuantizer(pqOpts), (o, r) => (o as ProductQuantizer).train(uniformVectors(64, D, 100 + r), r % 2 ? { warmStart: true } : {})],
      ['OPQ', new OPQ(opqOpts), (o, r) => (o as OPQ).train(uniformVectors(64, D, 200 + r))],
      ['PQIndex opq (empty)', new PQIndex(pqIndexOpqOpts), (o, r) => (o as PQIndex).train(uniformVectors(64, D, 300 + r))],
      ['IVFPQIndex (empty)', new IVFPQIndex(ivfOpts), (o, r) => (o as IVFPQIndex).train(uniformVectors(64, D, 400 + r))],
      ['IVFPQIndex opq (empty)', new IVFPQIndex(ivfOpqOpts), (o, r) => (o as IVFPQIndex).train(uniformVectors(64, D, 500 + r))],
    ];
    try {
      for (const [name, o, train] of objects) {
        train(o, 0);
        const after0 = live();
        for (let r = 1; r <= 20; r++) {
          train(o, r);
          expect({ name, r, ...live() }).toEqual({ name, r, ...after0 });
        }
      }
    } finally {
      for (const [, o] of objects) o.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// dispose
// ---------------------------------------------------------------------------------------------------------------

describe('dispose()', () => {
  it.each(VARIANTS.map((v) => [v.name, v] as const))('%s: frees everything; idempotent; [Symbol.dispose]() too', (_n, v) => {
    const base = owned();
    const o = v.create();
    v.fill(o);
    answers(o);
    // the object does hold memory (so that the checks below can fail)
    expect(owned().liveAllocations).toBeGreaterThan(base.liveAllocations);
    o.dispose();
    expect(o.disposed).toBe(true);
    expect(owned()).toEqual(base);
    o.dispose();
    o[Symbol.dispose]();
    expect(owned()).toEqual(base);

    const p = v.create();
    v.fill(p);
    p[Symbol.dispose]();
    expect(p.disposed).toBe(true);
    expect(owned()).toEqual(base);
    p.dispose();
    expect(owned()).toEqual(base);
  });

  it('an untrained object holds no wasm memory, and disposing it twice is fine', () => {
    const base = owned();
    const objs = VARIANTS.map((v) => v.create());
    expect(owned()).toEqual(base);
    for (const o of objs) {
      o.dispose();
      o.dispose();
    }
    expect(owned()).toEqual(base);
  });

  it('`using` disposes at the end of the block, and when the block throws', () => {
    const base = owned();
    let held: PQIndex | null = null;
    let heldQ: ProductQuantizer | OPQ | null = null;
    {
      using index = new PQIndex(pqIndexOpqOpts);
      index.train(TRAIN);
      index.add(BASE);
      held = index;
      heldQ = index.quantizer;
      expect(owned().liveAllocations).toBeGreaterThan(base.liveAllocations);
    }
    expect(held!.disposed).toBe(true);
    expect(heldQ!.disposed).toBe(true);
    expect(owned()).toEqual(base);

    let held2: IVFPQIndex | null = null;
    let held3: OPQ | null = null;
    const boom = new Error('boom');
    expect(() => {
      using ivf = new IVFPQIndex(ivfOpqOpts);
      using opq = new OPQ(opqOpts);
      held2 = ivf;
      held3 = opq;
      ivf.train(TRAIN);
      ivf.add(BASE);
      opq.train(TRAIN);
      throw boom;
    }).toThrow(boom);
    expect(held2!.disposed).toBe(true);
    expect(held3!.disposed).toBe(true);
    expect(owned()).toEqual(base);

    // a refused call inside the block: the VQError propagates, the object is still disposed
    let held4: ProductQuantizer | null = null;
    expect(() => {
      using pq = new ProductQuantizer(pqOpts);
      held4 = pq;
      pq.train(TRAIN);
      pq.encode(new Float64Array(8) as never);
    }).toThrow(VQError);
    expect(held4!.disposed).toBe(true);
    expect(owned()).toEqual(base);
  });

  describe("an index's quantizers are freed with it", () => {
    const cases: [string, () => AnyIndex][] = [
      ['PQIndex (ProductQuantizer)', () => new PQIndex(pqIndexOpts)],
      ['PQIndex opq (OPQ + its ProductQuantizer)', () => new PQIndex(pqIndexOpqOpts)],
      ['IVFPQIndex (coarse + residual ProductQuantizer)', () => new IVFPQIndex(ivfOpts)],
      ['IVFPQIndex opq (OPQ + coarse + residual)', () => new IVFPQIndex(ivfOpqOpts)],
    ];
    it.each(cases)('%s', (_n, make) => {
      const base = owned();
      const index = make();
      index.train(TRAIN);
      const trainedOnly = owned();
      expect(trainedOnly.liveAllocations, 'the trained quantizers hold memory').toBeGreaterThan(base.liveAllocations);
      index.add(BASE, BASE_IDS);
      const q = index.quantizer;
      expect(q.disposed).toBe(false);
      index.dispose();
      expect(q.disposed).toBe(true);
      expect(owned()).toEqual(base);
    });

    it('an index loaded from a file frees the quantizer it was built with and the loaded one', () => {
      const src = new PQIndex(pqIndexOpqOpts);
      src.train(TRAIN);
      src.add(BASE);
      const bytes = src.save();
      src.dispose();
      const base = owned();
      for (let r = 0; r < 5; r++) {
        const a = PQIndex.load(bytes);
        const b = IVFPQIndex.load(savedIVF());
        a.dispose();
        b.dispose();
        expect({ r, ...owned() }).toEqual({ r, ...base });
      }
    });
  });
});

let ivfBytes: Uint8Array | null = null;
function savedIVF(): Uint8Array {
  if (!ivfBytes) {
    const i = new IVFPQIndex(ivfOpqOpts);
    i.train(TRAIN);
    i.add(BASE);
    ivfBytes = i.save();
    i.dispose();
  }
  return ivfBytes;
}

// ---------------------------------------------------------------------------------------------------------------
// failed loads
// ---------------------------------------------------------------------------------------------------------------

/** Counts (and optionally fails) the engine's allocations while fn runs. */
function withAllocHook<T>(fn: () => T, failAt = 0): { calls: number; wheres: string[]; result?: T; error?: unknown } {
  const eng = engine('pq-memory.test') as unknown as { alloc(bytes: number, where: string): number };
  const orig = eng.alloc;
  let calls = 0;
  const wheres: string[] = [];
  eng.alloc = function (this: unknown, bytes: number, where: string): number {
    calls++;
    wheres.push(where);
    if (calls === failAt) {
      throw new VQError('OUT_OF_MEMORY', `${where}: could not allocate ${bytes} bytes (got an injected failure at allocation ${calls}, expected none)`);
    }
    return orig.call(this, bytes, where);
  };
  try {
    const result = fn();
    return { calls, wheres, result };
  } catch (e) {
    return { calls, wheres, error: e };
  } finally {
    delete (eng as { alloc?: unknown }).alloc; // back to the prototype's method
    if (eng.alloc !== orig) eng.alloc = orig;
  }
}

function rewrite(bytes: Uint8Array, kind: Kind, edit: (p: Record<string, number | string | boolean>, s: Map<string, Uint8Array>) => void): Uint8Array {
  const c = readContainer('rewrite', bytes, kind);
  const params = { ...c.params };
  const sections = new Map([...c.sections].map(([tag, s]) => [tag, s.slice()] as [string, Uint8Array]));
  edit(params, sections);
  return writeContainer(kind, params, [...sections].map(([tag, data]) => ({ tag, data })));
}

describe('a failed load() leaves nothing allocated', () => {
  const f32 = (u8: Uint8Array) => new Float32Array(u8.buffer, u8.byteOffset, u8.byteLength / 4);
  const i32 = (u8: Uint8Array) => new Int32Array(u8.buffer, u8.byteOffset, u8.byteLength / 4);
  let files: Record<string, Uint8Array>;

  beforeAll(() => {
    const make = (o: AnyObject, fill: (o: AnyObject) => void) => {
      fill(o);
      const b = o.save();
      o.dispose();
      return b;
    };
    files = Object.fromEntries(VARIANTS.map((v) => [v.name, make(v.create(), v.fill)]));
  });

  // [file, kind, what, edit, fails after allocating?]
  const bad: [string, Kind, string, (p: Record<string, number | string | boolean>, s: Map<string, Uint8Array>) => void, boolean][] = [
    ['PQIndex', 'PQIndex', 'CODE 2 bytes short (after the quantizer is built)', (_p, s) => s.set('CODE', s.get('CODE')!.slice(2)), true],
    ['PQIndex', 'PQIndex', 'a negative id (after the quantizer is built)', (_p, s) => { i32(s.get('IDS ')!)[3] = -1; }, true],
    ['PQIndex opq + refine (ip)', 'PQIndex', 'VECS with NaN (after the OPQ is built)', (_p, s) => { f32(s.get('VECS')!)[7] = NaN; }, true],
    ['PQIndex opq + refine (ip)', 'PQIndex', 'ROT not orthogonal', (_p, s) => { f32(s.get('ROT ')!)[0] += 1; }, false],
    ['IVFPQIndex opq + refine (ip)', 'IVFPQIndex', 'ROT not orthogonal (after the residual PQ is built)', (_p, s) => { f32(s.get('ROT ')!)[3] += 1; }, true],
    ['IVFPQIndex', 'IVFPQIndex', 'positions not a permutation', (_p, s) => { const p = i32(s.get('LPOS')!); p[0] = p[1]; }, false],
    ['OPQ', 'OPQ', 'CENT with NaN', (_p, s) => { f32(s.get('CENT')!)[0] = NaN; }, false],
    ['ProductQuantizer', 'ProductQuantizer', 'CENT removed', (_p, s) => { s.delete('CENT'); }, false],
  ];
  const loaders: Record<string, (b: Uint8Array) => AnyObject> = {
    ProductQuantizer: (b) => ProductQuantizer.load(b),
    OPQ: (b) => OPQ.load(b),
    PQIndex: (b) => PQIndex.load(b),
    IVFPQIndex: (b) => IVFPQIndex.load(b),
  };

  it.each(bad)('%s: %s -> CORRUPT_DATA, 20 times, no leak', (file, kind, _what, edit, allocates) => {
    const bytes = rewrite(files[file], kind, edit);
    const base = owned();
    for (let r = 0; r < 20; r++) {
      const { calls, error } = withAllocHook(() => loaders[kind](bytes));
      expect(error).toBeInstanceOf(VQError);
      expect((error as VQError).code, (error as Error).message).toBe('CORRUPT_DATA');
      // the failure happened where this case says it does (so that the leak check below means something)
      if (allocates) expect(calls, 'allocations before the failure').toBeGreaterThan(0);
      expect({ r, ...owned() }).toEqual({ r, ...base });
    }
  });

  it.each(VARIANTS.map((v) => [v.name, v] as const))('%s: damaged bytes and truncations, no leak', (name, v) => {
    const f = files[name];
    const base = owned();
    for (let p = 0; p < f.length; p += 7) {
      const g = f.slice();
      g[p] ^= 0x5a;
      expect(() => v.load(g)).toThrow(VQError);
    }
    for (const len of [0, 10, 30, f.length >> 1, f.length - 4, f.length - 1]) expect(() => v.load(f.slice(0, len))).toThrow(VQError);
    expect(owned()).toEqual(base);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// an allocation that fails part-way (injected): OUT_OF_MEMORY, no leak, the object as it was and still working
// ---------------------------------------------------------------------------------------------------------------

interface Op {
  name: string;
  /** A fresh object to run the operation on (null for loads). */
  prepare: () => AnyObject | null;
  run: (o: AnyObject | null) => unknown;
  /** IVFPQIndex.add reserves every list before writing: list capacities may have grown (documented), counts not. */
  capacityMayGrow?: boolean;
}

function fileOf(v: Variant): Uint8Array {
  const o = v.create();
  v.fill(o);
  const b = o.save();
  o.dispose();
  return b;
}

const byName = (name: string) => VARIANTS.find((v) => v.name === name)!;
const trainedWith = (v: Variant) => () => {
  const o = v.create();
  v.fill(o);
  return o;
};
const filledSmall = (make: () => AnyIndex) => () => {
  const index = make();
  index.train(TRAIN);
  index.add(BASE.subarray(0, 16 * D)); // capacity 16: the next add must grow
  return index;
};

const OPS: Op[] = [
  { name: 'ProductQuantizer.train (untrained)', prepare: () => new ProductQuantizer(pqOpts), run: (o) => (o as ProductQuantizer).train(TRAIN) },
  { name: 'ProductQuantizer.train (retrain, warm start)', prepare: trainedWith(byName('ProductQuantizer')), run: (o) => (o as ProductQuantizer).train(BASE.subarray(0, 32 * D), { warmStart: true }) },
  { name: 'OPQ.train (untrained)', prepare: () => new OPQ({ ...opqOpts, iterations: 1 }), run: (o) => (o as OPQ).train(TRAIN) },
  { name: 'OPQ.train (retrain)', prepare: () => { const q = new OPQ({ ...opqOpts, iterations: 1 }); q.train(TRAIN); return q; }, run: (o) => (o as OPQ).train(BASE) },
  { name: 'PQIndex.train', prepare: () => new PQIndex(pqIndexOpts), run: (o) => (o as PQIndex).train(TRAIN) },
  { name: 'PQIndex.add (grows)', prepare: filledSmall(() => new PQIndex(pqIndexOpts)), run: (o) => (o as PQIndex).add(BASE, BASE_IDS) },
  { name: 'PQIndex opq + refine .add (grows)', prepare: filledSmall(() => new PQIndex(pqIndexOpqOpts)), run: (o) => (o as PQIndex).add(BASE, BASE_IDS) },
  { name: 'PQIndex opq + refine .search (rerank)', prepare: filledSmall(() => new PQIndex(pqIndexOpqOpts)), run: (o) => (o as PQIndex).search(QUERIES, 5, { rerank: 9 }) },
  { name: 'IVFPQIndex.train', prepare: () => new IVFPQIndex(ivfOpts), run: (o) => (o as IVFPQIndex).train(TRAIN) },
  { name: 'IVFPQIndex ip .train (retrain while empty)', prepare: () => { const i = new IVFPQIndex({ ...ivfOpts, metric: 'ip' }); i.train(BASE); return i; }, run: (o) => (o as IVFPQIndex).train(TRAIN) },
  { name: 'IVFPQIndex opq + refine .train', prepare: () => new IVFPQIndex({ ...ivfOpqOpts, opqIterations: 1 }), run: (o) => (o as IVFPQIndex).train(TRAIN) },
  { name: 'IVFPQIndex.add (grows)', prepare: filledSmall(() => new IVFPQIndex(ivfOpts)), run: (o) => (o as IVFPQIndex).add(BASE, BASE_IDS), capacityMayGrow: true },
  { name: 'IVFPQIndex opq + refine .add (grows)', prepare: filledSmall(() => new IVFPQIndex(ivfOpqOpts)), run: (o) => (o as IVFPQIndex).add(BASE, BASE_IDS), capacityMayGrow: true },
  { name: 'IVFPQIndex opq + refine .search', prepare: filledSmall(() => new IVFPQIndex(ivfOpqOpts)), run: (o) => (o as IVFPQIndex).search(QUERIES, 5, { nprobe: 3, rerank: 8 }) },
  { name: 'PQIndex float 4-bit .add (grows)', prepare: filledSmall(() => new PQIndex({ ...pqIndexOpts, fastScan: false })), run: (o) => (o as PQIndex).add(BASE, BASE_IDS) },
  { name: 'IVFPQIndex float 4-bit .add (grows)', prepare: filledSmall(() => new IVFPQIndex({ ...ivfOpts, fastScan: false })), run: (o) => (o as IVFPQIndex).add(BASE, BASE_IDS), capacityMayGrow: true },
  { name: 'IVFPQIndex ip .search (fast-scan, per-query tables)', prepare: filledSmall(() => new IVFPQIndex({ ...ivfOpts, metric: 'ip' })), run: (o) => (o as IVFPQIndex).search(QUERIES, 5, { nprobe: 3 }) },
  ...VARIANTS.map((v) => {
    let bytes: Uint8Array | null = null;
    return {
      name: `${v.name}: load`,
      prepare: () => {
        bytes ??= fileOf(v); // outside the allocation hook
        return null;
      },
      run: () => v.load(bytes!),
    };
  }),
];

/** What an operation left: the object's answers and the call's own result (search results, train statistics, or the loaded object's answers). */
function outcome(o: AnyObject | null, result: unknown): string {
  const isObject = result instanceof ProductQuantizer || result instanceof OPQ || result instanceof PQIndex || result instanceof IVFPQIndex;
  return JSON.stringify({ object: o ? answers(o) : null, result: isObject ? answers(result as AnyObject) : result ?? null });
}

describe('an allocation failing part-way -> OUT_OF_MEMORY, nothing leaked, the object as it was and still working', () => {
  it.each(OPS.map((op) => [op.name, op] as const))('%s', (_n, op) => {
    // a clean run: how many allocations the operation makes (scratch block included), and what it gives
    const clean = op.prepare();
    owned();
    const cleanRun = withAllocHook(() => op.run(clean));
    expect(cleanRun.error).toBeUndefined();
    const total = cleanRun.calls;
    const expected = outcome(clean, cleanRun.result);
    if (!clean) (cleanRun.result as AnyObject).dispose();
    clean?.dispose();
    const problems: unknown[] = [];
    for (let failAt = 1; failAt <= total; failAt++) {
      const o = op.prepare();
      const before = o ? answers(o) : null;
      const mem0 = owned();
      const r = withAllocHook(() => op.run(o), failAt);
      const mem1 = owned();
      const where = r.wheres[failAt - 1];
      if (r.error === undefined) {
        problems.push({ failAt, where, problem: 'no error' });
        if (!o) (r.result as AnyObject).dispose();
      } else if (!(r.error instanceof VQError) || r.error.code !== 'OUT_OF_MEMORY') {
        problems.push({ failAt, where, problem: `${(r.error as Error).name} ${(r.error as VQError).code}: ${(r.error as Error).message}` });
      } else {
        const leaked = op.capacityMayGrow
          ? mem1.liveAllocations !== mem0.liveAllocations || mem1.liveBytes < mem0.liveBytes
          : mem1.liveAllocations !== mem0.liveAllocations || mem1.liveBytes !== mem0.liveBytes;
        if (leaked) problems.push({ failAt, where, problem: 'allocations changed', before: mem0, after: mem1 });
        if (o) {
          // the object answers as before the failed call, and the call then succeeds with the clean result
          if (JSON.stringify(answers(o)) !== JSON.stringify(before)) problems.push({ failAt, where, problem: 'the object changed' });
          if (outcome(o, op.run(o)) !== expected) problems.push({ failAt, where, problem: 'the retried call gives another result' });
        }
      }
      o?.dispose();
    }
    expect(total, 'the operation allocates (so that failures can be injected)').toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
