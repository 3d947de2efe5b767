// Hostile files: a seeded fuzzer mutates valid files (truncations, bit flips, length fields overwritten with huge or
// negative values, fourcc / type swaps, inserted and deleted bytes) and feeds each to its reader. Every outcome must
// be a VQError or a valid object (which is then used once and disposed); any other exception fails the test, and a
// hang fails it by the test timeout. 10,000 mutants per format: the Faiss reader (each index type), .npy, .fvecs /
// .ivecs / .bvecs, and our own saved format through every class's load (there with the checksum recomputed after the
// mutation, so that the mutants get past it to the parsing behind; and with params rewritten to hostile values).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BinaryIndex, BinaryQuantizer, FlatIndex, init, IVFFlatIndex, IVFPQIndex, KMeans, memoryStats, OnlineVQ, OPQ, parseBvecs, parseFvecs, parseIvecs, parseNpy,
  PQIndex, ProductQuantizer, readFaissIndex, ResidualQuantizer, RQIndex, ScalarQuantizer, SemanticIdTokenizer, SQIndex, vectorChunks, bytesSource,
  VQError, writeBvecs, writeFaissIndex, writeFvecs, writeIvecs, writeNpy,
} from '../dist/index.js';
import { crc32, readContainer, writeContainer, type Kind, type Section } from '../dist/io/format.js';
import { TestRng } from './helpers/rng.js';

const MUTANTS = 10_000;
const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0x40000000, 0x10000, 0xffff, 0, 1];

interface Target {
  name: string;
  seeds: Uint8Array[];
  read: (b: Uint8Array) => unknown;
  /** Recompute our container's checksum after each mutation. */
  fixCrc?: boolean;
  /** Byte strings to splice in as "type swaps" (fourccs, magic, tags). */
  tokens?: string[];
}

function u8(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** One mutant of `f`: 1 to 3 random operations. */
function mutate(rng: TestRng, f: Uint8Array, tokens: string[]): Uint8Array {
  let g = f.slice();
  const ops = rng.int(1, 3);
  for (let o = 0; o < ops; o++) {
    const op = rng.int(0, 7);
    const at = g.length === 0 ? 0 : rng.int(0, g.length - 1);
    if (op === 0) g = g.slice(0, rng.int(0, g.length)); // truncate
    else if (op === 1 && g.length) g[at] ^= 1 << rng.int(0, 7); // bit flip
    else if (op === 2 && g.length) g[at] = rng.int(0, 255); // byte
    else if (op === 3 && g.length >= 4) {
      // a 32-bit length field overwritten with a hostile value, at an aligned or any offset
      const p = rng.int(0, 1) ? at & ~3 : at;
      if (p + 4 <= g.length) new DataView(g.buffer).setUint32(p, HUGE[rng.int(0, HUGE.length - 1)] ^ (rng.int(0, 1) ? 0 : rng.int(0, 3)), true);
    } else if (op === 4 && g.length >= 8) {
      // a 64-bit count: high word set, or all ones
      const p = Math.min(at, g.length - 8);
      const dv = new DataView(g.buffer);
      dv.setUint32(p, rng.u32(), true);
      dv.setUint32(p + 4, rng.int(0, 1) ? 0xffffffff : rng.int(1, 3), true);
    } else if (op === 5 && tokens.length && g.length >= 4) {
      // type swap: a known token written over an occurrence of another or at a random place
      const t = u8(tokens[rng.int(0, tokens.length - 1)]);
      const occ: number[] = [];
      for (const s of tokens) {
        const b = u8(s);
        for (let i = 0; i + b.length <= g.length; i++) {
          let ok = true;
          for (let j = 0; j < b.length && ok; j++) ok = g[i + j] === b[j];
          if (ok) occ.push(i);
        }
      }
      const p = occ.length && rng.int(0, 3) ? occ[rng.int(0, occ.length - 1)] : Math.min(at, g.length - t.length);
      if (p >= 0) g.set(t.subarray(0, Math.min(t.length, g.length - p)), p);
    } else if (op === 6) {
      // insert random bytes
      const n = rng.int(1, 16);
      const h = new Uint8Array(g.length + n);
      h.set(g.subarray(0, at));
      for (let i = 0; i < n; i++) h[at + i] = rng.int(0, 255);
      h.set(g.subarray(at), at + n);
      g = h;
    } else if (op === 7 && g.length) {
      // delete a run
      const n = rng.int(1, Math.min(16, g.length - at));
      const h = new Uint8Array(g.length - n);
      h.set(g.subarray(0, at));
      h.set(g.subarray(at + n), at);
      g = h;
    }
  }
  return g;
}

function fixCrc(g: Uint8Array): Uint8Array {
  if (g.length < 24) return g;
  const dv = new DataView(g.buffer, g.byteOffset, g.byteLength);
  if (g[0] === 0x56 && g[1] === 0x51) dv.setUint32(8, g.length, true); // keep totalBytes consistent with a resized file
  dv.setUint32(g.length - 4, crc32(g.subarray(0, g.length - 4)), true);
  return g;
}

/** Uses a valid object once, as a caller would, then disposes it. */
function exercise(o: unknown): void {
  if (o && typeof o === 'object' && 'search' in o && typeof (o as { search: unknown }).search === 'function') {
    const idx = o as { d: number; search(q: Float32Array, k: number): unknown; isTrained?: boolean; size?: number };
    if (idx.isTrained !== false) idx.search(new Float32Array(idx.d).fill(0.5), 3);
  }
  if (o && typeof o === 'object' && 'dispose' in o) (o as { dispose(): void }).dispose();
}

function run(t: Target, seed: number): { ok: number; refused: Map<string, number> } {
  const rng = new TestRng(seed);
  const refused = new Map<string, number>();
  let ok = 0;
  for (let i = 0; i < MUTANTS; i++) {
    const base = t.seeds[i % t.seeds.length];
    let g = mutate(rng, base, t.tokens ?? []);
    if (t.fixCrc && rng.int(0, 7) !== 0) g = fixCrc(g);
    try {
      exercise(t.read(g));
      ok++;
    } catch (e) {
      if (!(e instanceof VQError)) {
        throw new Error(`${t.name} mutant ${i} (seed ${seed}): ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
      }
      refused.set(e.code, (refused.get(e.code) ?? 0) + 1);
    }
  }
  if (process.env.VQ_FUZZ_STATS) console.log(t.name, 'valid', ok, Object.fromEntries(refused));
  return { ok, refused };
}

// ---------------------------------------------------------------------------------------------------------------

const D = 8;
let xt: Float32Array;

beforeAll(async () => {
  await init();
  const rng = new TestRng(99);
  xt = Float32Array.from({ length: 300 * D }, () => rng.gauss());
});

function owned<T extends { dispose(): void }>(o: T, f: (o: T) => Uint8Array): Uint8Array {
  try {
    return f(o);
  } finally {
    o.dispose();
  }
}

const FAISS_TOKENS = ['IxF2', 'IxFI', 'IxFl', 'IxPq', 'IxSQ', 'IwPQ', 'IxRq', 'IxMp', 'IxM2', 'IxPT', 'LTra', 'ilar', 'il00', 'full', 'sprs', 'IwFl', 'IxHe'];

function faissSeeds(): Record<string, Uint8Array[]> {
  const xb = xt.subarray(0, 40 * D);
  const ids = Int32Array.from({ length: 40 }, (_, i) => 3 * i + 1);
  const flat = (metric: 'l2' | 'ip', withIds: boolean) => owned(new FlatIndex({ d: D, metric }), (f) => {
    f.add(xb, withIds ? ids : undefined);
    return writeFaissIndex(f);
  });
  const pq = (opts: object, withIds = false) => owned(new PQIndex({ d: D, m: 4, nbits: 4, fastScan: false, ...opts }), (p) => {
    p.train(xt);
    p.add(xb, withIds ? ids : undefined);
    return writeFaissIndex(p);
  });
  const sq = (type: 'uint8' | 'fp16' | 'int8') => owned(new SQIndex({ d: D, type }), (s) => {
    s.train(xt);
    s.add(xb);
    return writeFaissIndex(s);
  });
  const ivf = (opq: boolean, metric: 'l2' | 'ip') => owned(new IVFPQIndex({ d: D, m: 4, nbits: 4, nlist: 4, fastScan: false, opq, opqIterations: 1, metric }), (p) => {
    p.train(xt);
    p.add(xb, ids);
    return writeFaissIndex(p);
  });
  return {
    IndexFlat: [flat('l2', false), flat('ip', false)],
    IndexIDMap: [flat('l2', true), pq({}, true)],
    IndexPQ: [pq({}), pq({ metric: 'ip', nbits: 3 })],
    IndexScalarQuantizer: [sq('uint8'), sq('fp16'), sq('int8')],
    IndexIVFPQ: [ivf(false, 'l2'), ivf(false, 'ip')],
    IndexPQFastScan: [pq({ fastScan: true }), pq({ fastScan: true, metric: 'ip', m: 2 })],
    IndexIVFFlat: (['l2', 'ip'] as const).map((metric) => owned(new IVFFlatIndex({ d: D, nlist: 4, metric }), (p) => (p.train(xt), p.add(xb, ids), writeFaissIndex(p)))),
    'IndexPreTransform(OPQ)': [pq({ opq: true, opqIterations: 1 }), ivf(true, 'l2')],
    IndexResidualQuantizer: [
      owned(new RQIndex({ d: D, levels: 2, nbits: 4 }), (q) => (q.train(xt), q.add(xb), writeFaissIndex(q))),
      owned(new RQIndex({ d: D, levels: 3, nbits: 3, metric: 'ip' }), (q) => (q.train(xt), q.add(xb, ids), writeFaissIndex(q))),
      owned(new RQIndex({ d: D, levels: 2, nbits: 5, normBits: 16 }), (q) => (q.train(xt), q.add(xb), writeFaissIndex(q))),
    ],
  };
}

function vqwfSeeds(): [string, Uint8Array[], (b: Uint8Array) => unknown][] {
  const xb = xt.subarray(0, 40 * D);
  const ids = Int32Array.from({ length: 40 }, (_, i) => 40 - i);
  const trained = <T extends { train(x: Float32Array): unknown; save(): Uint8Array; dispose(): void }>(o: T, add?: (o: T) => void) =>
    owned(o, (q) => {
      q.train(xt);
      add?.(q);
      return q.save();
    });
  return [
    ['FlatIndex', [owned(new FlatIndex({ d: D }), (f) => (f.add(xb, ids), f.save())), owned(new FlatIndex({ d: D, metric: 'cosine' }), (f) => (f.add(xb), f.save()))], FlatIndex.load],
    ['PQIndex', [
      trained(new PQIndex({ d: D, m: 4, nbits: 4 }), (p) => p.add(xb, ids)),
      trained(new PQIndex({ d: D, m: 2, nbits: 5, refine: true, opq: true, opqIterations: 1 }), (p) => p.add(xb)),
      new PQIndex({ d: D, m: 4 }).save(),
    ], PQIndex.load],
    ['IVFPQIndex', [trained(new IVFPQIndex({ d: D, m: 4, nbits: 4, nlist: 4 }), (p) => p.add(xb, ids)), trained(new IVFPQIndex({ d: D, m: 2, nbits: 3, nlist: 3, refine: true }), (p) => p.add(xb))], IVFPQIndex.load],
    ['IVFFlatIndex', [trained(new IVFFlatIndex({ d: D, nlist: 4 }), (p) => p.add(xb, ids)), trained(new IVFFlatIndex({ d: D, nlist: 3, metric: 'ip' }), (p) => p.add(xb))], IVFFlatIndex.load],
    ['SQIndex', [trained(new SQIndex({ d: D, type: 'uint8' }), (p) => p.add(xb, ids)), trained(new SQIndex({ d: D, type: 'fp16', refine: true }), (p) => p.add(xb))], SQIndex.load],
    ['ScalarQuantizer', [trained(new ScalarQuantizer({ d: D, type: 'int8' }))], ScalarQuantizer.load],
    ['ProductQuantizer', [trained(new ProductQuantizer({ d: D, m: 4, nbits: 3 }))], ProductQuantizer.load],
    ['OPQ', [trained(new OPQ({ d: D, m: 2, nbits: 3, iterations: 1 }))], OPQ.load],
    ['ResidualQuantizer', [trained(new ResidualQuantizer({ d: D, levels: 2, nbits: 3 }))], ResidualQuantizer.load],
    ['RQIndex', [trained(new RQIndex({ d: D, levels: 2, nbits: 3 }), (p) => p.add(xb))], RQIndex.load],
    ['BinaryQuantizer', [trained(new BinaryQuantizer({ d: D }))], BinaryQuantizer.load],
    ['BinaryIndex', [trained(new BinaryIndex({ d: D }), (p) => p.add(xb, ids))], BinaryIndex.load],
    ['KMeans', [trained(new KMeans({ d: D, k: 5, iterations: 2 }))], KMeans.load],
    ['OnlineVQ', [owned(new OnlineVQ({ d: D, k: 4 }), (o) => (o.update(xb), o.save()))], OnlineVQ.load],
    ['SemanticIdTokenizer', [owned(new SemanticIdTokenizer({ d: D, levels: 2, codebookSize: 4 }), (t) => (t.fit(xt), t.save()))], SemanticIdTokenizer.load],
  ];
}

/** Rewrites the params of a container with hostile values, keeping the sections: the structured half of the VQWF fuzz. */
function paramMutant(rng: TestRng, f: Uint8Array, kind: Kind): Uint8Array {
  const c = readContainer('fuzz', f, kind);
  const params = { ...c.params };
  const keys = Object.keys(params);
  const bad = [0, -1, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 1e300, -1e300, 0.5, 'x', '', true, false, 1 << 20, 1 << 14];
  for (let t = rng.int(1, 2); t > 0; t--) params[keys[rng.int(0, keys.length - 1)]] = bad[rng.int(0, bad.length - 1)];
  const sections: Section[] = [...c.sections].map(([tag, data]) => ({ tag, data: data.slice() }));
  if (sections.length && rng.int(0, 3) === 0) {
    // a section dropped or resized
    const i = rng.int(0, sections.length - 1);
    if (rng.int(0, 1)) sections.splice(i, 1);
    else sections[i] = { tag: sections[i].tag, data: sections[i].data.slice(0, rng.int(0, sections[i].data.length + 8)) };
  }
  return writeContainer(kind, params, sections);
}

describe('fuzz: Faiss index files', () => {
  let seeds: Record<string, Uint8Array[]>;
  beforeAll(() => {
    seeds = faissSeeds();
    // the seeds themselves are valid
    for (const fs of Object.values(seeds)) for (const f of fs) exercise(readFaissIndex(f));
  });
  for (const name of ['IndexFlat', 'IndexIDMap', 'IndexPQ', 'IndexScalarQuantizer', 'IndexIVFPQ', 'IndexIVFFlat', 'IndexPQFastScan', 'IndexPreTransform(OPQ)', 'IndexResidualQuantizer']) {
    it(`${MUTANTS} mutants of ${name} files: VQError or a valid index`, () => {
      const before = memoryStats();
      const r = run({ name, seeds: seeds[name], read: readFaissIndex, tokens: FAISS_TOKENS }, 1000 + name.length);
      expect(r.refused.get('CORRUPT_DATA') ?? 0, name).toBeGreaterThan(MUTANTS / 4);
      expect([...r.refused.keys()].every((k) => ['CORRUPT_DATA', 'UNSUPPORTED', 'OUT_OF_MEMORY'].includes(k)), [...r.refused.keys()].join()).toBe(true);
      // nothing leaked, and no lying length grew the wasm memory
      expect(memoryStats().liveBytes).toBe(before.liveBytes);
      expect(memoryStats().memoryBytes).toBeLessThanOrEqual(Math.max(before.memoryBytes, 64 << 20));
    });
  }
});

describe('fuzz: vector files', () => {
  const rng = new TestRng(5);
  const x = Float32Array.from({ length: 12 * 5 }, () => rng.gauss());
  const npys = () => [
    writeNpy(x, 5), writeNpy(x, 5, { dtype: 'float16' }), writeNpy(Int8Array.from(x, (v) => v * 30), 5), writeNpy(Uint8Array.from(x, (v) => 128 + v * 30), 4),
    // Fortran order and a version 2 header: hand-made variants of the same file
    (() => {
      const g = writeNpy(x, 6);
      const at = new TextDecoder().decode(g).indexOf('False');
      g.set(u8('True '), at);
      return g;
    })(),
    (() => {
      const f = writeNpy(x, 5);
      const hlen = new DataView(f.buffer).getUint16(8, true);
      const g = new Uint8Array(f.length + 2);
      g.set(f.subarray(0, 8));
      g[6] = 2;
      new DataView(g.buffer).setUint32(8, hlen, true);
      g.set(f.subarray(10), 12);
      return g;
    })(),
  ];
  const targets: Target[] = [
    { name: '.npy', seeds: npys(), read: parseNpy, tokens: ['\x93NUMPY', "'<f4'", "'<f2'", "'|i1'", "'|u1'", "'<i4'", "'>f4'", 'True', 'False', '(', ')', ',', "'shape'", "'descr'"] },
    { name: '.fvecs', seeds: [writeFvecs(x, 5), writeFvecs(x, 12)], read: parseFvecs },
    { name: '.ivecs', seeds: [writeIvecs(Int32Array.from(x, (v) => v * 1000), 6)], read: parseIvecs },
    { name: '.bvecs', seeds: [writeBvecs(Uint8Array.from(x, (v) => 128 + v * 30), 3)], read: parseBvecs },
  ];
  for (const t of targets) {
    it(`${MUTANTS} mutants of ${t.name} files: VQError or valid vectors`, () => {
      for (const s of t.seeds) t.read(s);
      const r = run(t, 77 + t.name.length);
      // (run() fails on anything but a VQError; both outcomes occur: the mutants reach past the header checks)
      expect(r.ok).toBeGreaterThan(0);
      expect([...r.refused.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect([...r.refused.keys()].every((k) => ['CORRUPT_DATA', 'UNSUPPORTED', 'OUT_OF_MEMORY'].includes(k)), [...r.refused.keys()].join()).toBe(true);
    });
  }

  it('the chunk reader over 2,000 mutants of .npy and .fvecs: VQError or chunks that add up', async () => {
    const rng2 = new TestRng(31);
    const seeds: [Uint8Array, 'npy' | 'fvecs'][] = [[writeNpy(x, 5), 'npy'], [writeNpy(x, 6, { dtype: 'float16' }), 'npy'], [writeFvecs(x, 5), 'fvecs']];
    for (let i = 0; i < 2000; i++) {
      const [f, format] = seeds[i % seeds.length];
      const g = mutate(rng2, f, format === 'npy' ? ["'<f4'", "'<f2'", 'True', '\x93NUMPY'] : []);
      try {
        let rows = 0;
        let d = 0;
        for await (const c of vectorChunks(bytesSource(g), { format, rows: 3 })) {
          expect(c.start).toBe(rows);
          expect(c.data.length).toBe(c.n * c.d);
          rows += c.n;
          d = c.d;
        }
        // what the whole-file parser makes of the same bytes agrees
        const whole = format === 'npy' ? parseNpy(g) : parseFvecs(g);
        expect([rows, d]).toEqual([whole.n, whole.d]);
      } catch (e) {
        if (!(e instanceof VQError)) throw new Error(`chunk mutant ${i}: ${String(e)}`);
      }
    }
  });
});

describe('fuzz: vqwasm saved files (every class load)', () => {
  let seeds: [string, Uint8Array[], (b: Uint8Array) => unknown][];
  beforeAll(() => {
    seeds = vqwfSeeds();
  });
  it('the seed files load', () => {
    for (const [, fs, load] of seeds) for (const f of fs) exercise(load(f));
  });
  for (const name of ['FlatIndex', 'PQIndex', 'IVFPQIndex', 'IVFFlatIndex', 'SQIndex', 'ScalarQuantizer', 'ProductQuantizer', 'OPQ', 'ResidualQuantizer', 'RQIndex', 'BinaryQuantizer', 'BinaryIndex', 'KMeans', 'OnlineVQ', 'SemanticIdTokenizer']) {
    it(`${MUTANTS} mutants of ${name} files (bytes with the checksum fixed, and hostile params): VQError or a valid object`, () => {
      const [, fs, load] = seeds.find(([n]) => n === name)!;
      const before = memoryStats();
      const half = MUTANTS / 2;
      const r = run({ name, seeds: fs, read: load, fixCrc: true, tokens: ['VQWF', 'CENT', 'CODE', 'IDS ', 'VECS', 'ROT ', '{"d":', '"n":'] }, 4000 + name.length);
      expect([...r.refused.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // structured: params rewritten to hostile values, sections dropped or resized
      const rng = new TestRng(8000 + name.length);
      let refusedParams = 0;
      for (let i = 0; i < half; i++) {
        const f = fs[i % fs.length];
        const g = paramMutant(rng, f, name as Kind);
        try {
          exercise(load(g));
        } catch (e) {
          if (!(e instanceof VQError)) throw new Error(`${name} param mutant ${i}: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
          refusedParams++;
        }
      }
      expect(refusedParams).toBeGreaterThan(0);
      expect(memoryStats().liveBytes).toBe(before.liveBytes);
    });
  }
});
