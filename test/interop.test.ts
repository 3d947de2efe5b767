// The vector formats and the Faiss reader / writer without Python: round trips, hand-made files of every layout, and
// the refusals (code, message) of malformed ones. The cross-check against real Faiss is faiss-interop.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSource, FlatIndex, init, IVFPQIndex, memoryStats, parseBvecs, parseFvecs, parseIvecs, parseNpy, parseRawF32, PQIndex, readFaissIndex,
  readVectorFile, SQIndex, vectorChunks, vectorFileChunks, VQError, writeBvecs, writeFaissIndex, writeFvecs, writeIvecs, writeNpy,
  type VQErrorCode,
} from '../dist/index.js';
import { TestRng } from './helpers/rng.js';

function refusal(fn: () => unknown, code: VQErrorCode, where: string, ...parts: (string | RegExp)[]): void {
  let e: unknown;
  try {
    fn();
  } catch (x) {
    e = x;
  }
  expect(e, `${where} -> ${code}: did not throw`).toBeInstanceOf(VQError);
  const err = e as VQError;
  expect(err.code, err.message).toBe(code);
  expect(err.message.startsWith(`${where}:`), err.message).toBe(true);
  expect(err.message).toMatch(/\(got .+, expected .+\)/s);
  for (const p of parts) {
    if (typeof p === 'string') expect(err.message).toContain(p);
    else expect(err.message).toMatch(p);
  }
}

async function asyncRefusal(fn: () => Promise<unknown>, code: VQErrorCode, where: string, ...parts: string[]): Promise<void> {
  let e: unknown;
  try {
    await fn();
  } catch (x) {
    e = x;
  }
  expect(e, `${where} -> ${code}: did not throw`).toBeInstanceOf(VQError);
  expect((e as VQError).code, (e as VQError).message).toBe(code);
  expect((e as VQError).message.startsWith(`${where}:`)).toBe(true);
  for (const p of parts) expect((e as VQError).message).toContain(p);
}

/** A .npy file with the given header dict text and data bytes (version 1). */
function npyFile(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const header = dict + '\n';
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  if (major === 1) new DataView(out.buffer).setUint16(8, header.length, true);
  else new DataView(out.buffer).setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, pre + header.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function collect(it: AsyncIterable<{ start: number; n: number; d: number; data: Float32Array }>) {
  const out: { start: number; n: number; d: number; data: Float32Array }[] = [];
  for await (const c of it) out.push(c);
  return out;
}

beforeAll(async () => {
  await init();
});

describe('.npy', () => {
  it('round-trips every dtype at odd dimensions (and numpy header conventions: 64-byte aligned data, newline)', () => {
    const rng = new TestRng(1);
    for (const d of [1, 3, 5, 7, 17, 33]) {
      const n = 4;
      const f = Float32Array.from({ length: n * d }, () => rng.gauss());
      for (const data of [f, Int8Array.from(f, (v) => v * 50), Uint8Array.from(f, (v) => 100 + v * 50), Int32Array.from(f, (v) => v * 1e6)]) {
        const file = writeNpy(data, d);
        const dataStart = file.length - data.byteLength;
        expect(dataStart % 64).toBe(0);
        expect(file[dataStart - 1]).toBe(0x0a);
        const back = parseNpy(file);
        expect([back.n, back.d]).toEqual([n, d]);
        expect(back.data.constructor).toBe(data.constructor);
        expect(Array.from(back.data)).toEqual(Array.from(data));
      }
      // float16: values on the half grid come back exactly; others within half an ulp of half precision
      const h = parseNpy(writeNpy(Float32Array.from(f, (v) => Math.round(v * 64) / 64), d, { dtype: 'float16' }));
      expect(h.dtype).toBe('float16');
      expect(Array.from(h.data)).toEqual(Array.from(f, (v) => Math.round(v * 64) / 64));
    }
  });

  it('Fortran order is transposed to rows; shape (d,) is one vector; v2 headers and either quote style parse', () => {
    // the 3 x 2 matrix [[1, 2], [3, 4], [5, 6]] stored column by column
    const colMajor = bytesOf(new Float32Array([1, 3, 5, 2, 4, 6]));
    const a = parseNpy(npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", colMajor));
    expect([a.n, a.d, Array.from(a.data)]).toEqual([3, 2, [1, 2, 3, 4, 5, 6]]);
    const b = parseNpy(npyFile('{"shape": (4,), "fortran_order": False, "descr": "|u1"}', new Uint8Array([9, 8, 7, 6]), 2));
    expect([b.n, b.d, Array.from(b.data)]).toEqual([1, 4, [9, 8, 7, 6]]);
    const empty = parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", new Uint8Array(0)));
    expect([empty.n, empty.d, empty.data.length]).toEqual([0, 5, 0]);
  });

  it('refuses malformed files with CORRUPT_DATA and valid ones it does not read with UNSUPPORTED', () => {
    const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    const data = bytesOf(new Float32Array([1, 2, 3, 4]));
    const W = 'parseNpy';
    refusal(() => parseNpy(new Uint8Array(0)), 'CORRUPT_DATA', W, 'truncated in its header');
    refusal(() => parseNpy(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0])), 'CORRUPT_DATA', W, 'not a .npy file', '50 4b 03 04');
    refusal(() => parseNpy(npyFile(ok, data, 4)), 'CORRUPT_DATA', W, 'format version');
    refusal(() => parseNpy(npyFile(ok, data).subarray(0, 30)), 'CORRUPT_DATA', W, 'truncated in its header');
    refusal(() => parseNpy(npyFile(ok, data.subarray(0, 15))), 'CORRUPT_DATA', W, 'data is truncated', '15 bytes');
    refusal(() => parseNpy(npyFile(ok, new Uint8Array(17))), 'CORRUPT_DATA', W, '1 bytes after the end');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'shape': (2, 2), }", data)), 'CORRUPT_DATA', W, 'missing');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }", data)), 'CORRUPT_DATA', W, 'fortran_order');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", data)), 'CORRUPT_DATA', W, 'integer');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", data)), 'CORRUPT_DATA', W, 'unexpected key');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } __import__('os')", data)), 'CORRUPT_DATA', W, 'text after the dict');
    refusal(() => parseNpy(npyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", data)), 'UNSUPPORTED', W, '>f4', 'little-endian');
    refusal(() => parseNpy(npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }", data)), 'UNSUPPORTED', W, '<f8');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", data)), 'UNSUPPORTED', W, '3 dimensions');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }", data)), 'CORRUPT_DATA', W, 'dimension out of range');
    // lying sizes: refused by comparing with the bytes present, before any allocation
    const before = memoryStats().memoryBytes;
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 8), }", data)), 'CORRUPT_DATA', W, 'truncated');
    refusal(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999999999, 9999999999999999), }", data)), 'CORRUPT_DATA', W);
    expect(memoryStats().memoryBytes).toBe(before);
    const huge = npyFile(ok, data);
    new DataView(huge.buffer).setUint16(8, 0xffff, true);
    refusal(() => parseNpy(huge), 'CORRUPT_DATA', W, 'truncated in its header');
    refusal(() => parseNpy(null as unknown as Uint8Array), 'INVALID_TYPE', W);
    refusal(() => writeNpy(new Float32Array(5), 2), 'INVALID_SIZE', 'writeNpy');
    refusal(() => writeNpy(new Int8Array(4), 2, { dtype: 'float16' }), 'INVALID_TYPE', 'writeNpy');
  });
});

describe('.fvecs / .ivecs / .bvecs / raw float32', () => {
  it('round-trip at odd dimensions; an empty file is 0 vectors', () => {
    const rng = new TestRng(2);
    for (const d of [1, 3, 5, 17, 100]) {
      const f = Float32Array.from({ length: 3 * d }, () => rng.gauss());
      const fv = parseFvecs(writeFvecs(f, d));
      expect([fv.n, fv.d, Array.from(fv.data)]).toEqual([3, d, Array.from(f)]);
      const i = Int32Array.from(f, (v) => v * 1000);
      expect(Array.from(parseIvecs(writeIvecs(i, d)).data)).toEqual(Array.from(i));
      const b = Uint8Array.from(f, (v) => 128 + v * 20);
      expect(Array.from(parseBvecs(writeBvecs(b, d)).data)).toEqual(Array.from(b));
      expect(Array.from(parseRawF32(bytesOf(f).slice(), d).data)).toEqual(Array.from(f));
    }
    expect(parseFvecs(new Uint8Array(0)).n).toBe(0);
  });

  it('refuses rows of different d, impossible d and truncation', () => {
    const file = writeFvecs(new Float32Array(12), 3);
    const dv = new DataView(file.buffer);
    dv.setInt32(16 * 2, 4, true);
    refusal(() => parseFvecs(file), 'CORRUPT_DATA', 'parseFvecs', 'different lengths (row 2)', 'got 4', 'd = 3');
    for (const d of [0, -1, 0x7fffffff, 1 << 25]) {
      const g = writeFvecs(new Float32Array(6), 3);
      new DataView(g.buffer).setInt32(0, d, true);
      refusal(() => parseFvecs(g), 'CORRUPT_DATA', 'parseFvecs', 'row length out of range');
    }
    refusal(() => parseBvecs(writeBvecs(new Uint8Array(6), 3).subarray(0, 13)), 'CORRUPT_DATA', 'parseBvecs', 'not a whole number of rows');
    refusal(() => parseIvecs(new Uint8Array(2)), 'CORRUPT_DATA', 'parseIvecs', 'truncated');
    refusal(() => parseRawF32(new Uint8Array(10), 2), 'CORRUPT_DATA', 'parseRawF32', 'multiple of 4 * d = 8');
    refusal(() => parseRawF32(new Uint8Array(8), 0), 'INVALID_OPTION', 'parseRawF32');
    refusal(() => writeFvecs(new Float64Array(4) as unknown as Float32Array, 2), 'INVALID_TYPE', 'writeFvecs');
  });
});

describe('streaming chunks', () => {
  const rng = new TestRng(3);
  const d = 5;
  const x = Float32Array.from({ length: 23 * d }, () => rng.gauss());

  it('yields consecutive row blocks that concatenate to the file, for .fvecs, .npy (f32, f16, int8) and raw f32', async () => {
    const cases: [Uint8Array, 'fvecs' | 'npy' | 'f32', Float32Array][] = [
      [writeFvecs(x, d), 'fvecs', x],
      [writeNpy(x, d), 'npy', x],
      [bytesOf(x).slice(), 'f32', x],
      [writeNpy(x, d, { dtype: 'float16' }), 'npy', parseNpy(writeNpy(x, d, { dtype: 'float16' })).data as Float32Array],
      [writeNpy(Int8Array.from(x, (v) => v * 9), d), 'npy', Float32Array.from(Int8Array.from(x, (v) => v * 9))],
    ];
    for (const [bytes, format, want] of cases) {
      for (const rows of [1, 4, 23, 1000]) {
        const chunks = await collect(vectorChunks(bytesSource(bytes), { format, d, rows }));
        expect(chunks.length).toBe(Math.ceil(23 / rows));
        const all = new Float32Array(23 * d);
        let next = 0;
        for (const c of chunks) {
          expect([c.start, c.d]).toEqual([next, d]);
          all.set(c.data, c.start * d);
          next += c.n;
        }
        expect(next).toBe(23);
        expect(Array.from(all)).toEqual(Array.from(want));
      }
    }
  });

  it('refuses a bad row met mid-stream (after yielding the good blocks), Fortran order, f32 without d, short reads', async () => {
    const bad = writeFvecs(x, d);
    new DataView(bad.buffer).setInt32(17 * (4 + 4 * d), 6, true);
    const got: number[] = [];
    await asyncRefusal(async () => {
      for await (const c of vectorChunks(bytesSource(bad), { format: 'fvecs', rows: 5 })) got.push(c.start);
    }, 'CORRUPT_DATA', 'vectorChunks', 'row 17');
    expect(got).toEqual([0, 5, 10]);
    const fortran = npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16));
    await asyncRefusal(() => collect(vectorChunks(bytesSource(fortran), { format: 'npy' })), 'UNSUPPORTED', 'vectorChunks', 'Fortran');
    await asyncRefusal(() => collect(vectorChunks(bytesSource(bytesOf(x)), { format: 'f32' })), 'INVALID_OPTION', 'vectorChunks', 'needs d');
    await asyncRefusal(() => collect(vectorChunks(bytesSource(writeFvecs(x, d)), { format: 'fvecs', d: 4 })), 'INVALID_SIZE', 'vectorChunks', 'another dimension');
    // a source that claims more bytes than it delivers
    const f = writeNpy(x, d);
    const liar = { size: f.length, read: async (o: number, l: number) => f.subarray(o, Math.min(o + l, f.length - 3)) };
    await asyncRefusal(() => collect(vectorChunks(liar, { format: 'npy', rows: 4 })), 'CORRUPT_DATA', 'vectorChunks', 'ended early');
  });

  it('reads files by path in Node (format from the extension), whole or in chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vqwasm-vec-'));
    try {
      writeFileSync(join(dir, 'a.fvecs'), writeFvecs(x, d));
      writeFileSync(join(dir, 'a.npy'), writeNpy(x, d));
      writeFileSync(join(dir, 'a.bin'), bytesOf(x));
      writeFileSync(join(dir, 'a.txt'), 'hello');
      expect(Array.from((await readVectorFile(join(dir, 'a.fvecs'))).data)).toEqual(Array.from(x));
      expect(Array.from((await readVectorFile(join(dir, 'a.npy'))).data)).toEqual(Array.from(x));
      expect(Array.from((await readVectorFile(join(dir, 'a.bin'), { d })).data)).toEqual(Array.from(x));
      const chunks = await collect(vectorFileChunks(join(dir, 'a.npy'), { rows: 10 }));
      expect(chunks.map((c) => c.n)).toEqual([10, 10, 3]);
      // encoding the file chunk by chunk gives the codes of encoding it whole
      const big = Float32Array.from({ length: 1000 * 16 }, () => rng.gauss());
      writeFileSync(join(dir, 'big.fvecs'), writeFvecs(big, 16));
      writeFileSync(join(dir, 'big.npy'), writeNpy(big, 16));
      const pq = new PQIndex({ d: 16, m: 4, nbits: 6, seed: 2 });
      try {
        pq.train(big);
        const whole = pq.quantizer.encode(big);
        for (const name of ['big.fvecs', 'big.npy']) {
          const parts: number[] = [];
          let count = 0;
          for await (const c of vectorFileChunks(join(dir, name), { rows: 128 })) {
            parts.push(...pq.quantizer.encode(c.data));
            count++;
          }
          expect(count, name).toBe(8);
          expect(parts, name).toEqual(Array.from(whole));
        }
      } finally {
        pq.dispose();
      }
      await asyncRefusal(() => readVectorFile(join(dir, 'a.txt')), 'INVALID_OPTION', 'readVectorFile', 'cannot tell the format');
      await asyncRefusal(() => readVectorFile(join(dir, 'a.txt'), { format: 'npy' }), 'CORRUPT_DATA', 'parseNpy', 'not a .npy file');
      // files that cannot be read are VQErrors naming the path and the reason, as are dimensions that do not match d
      await asyncRefusal(() => readVectorFile(join(dir, 'nope.fvecs')), 'INVALID_OPTION', 'readVectorFile', 'nope.fvecs', 'ENOENT');
      await asyncRefusal(() => readVectorFile(join(dir, 'nope.fvecs'), { format: 'fvecs' }), 'INVALID_OPTION', 'readVectorFile', 'ENOENT');
      await asyncRefusal(() => collect(vectorFileChunks(join(dir, 'nope.npy'))), 'INVALID_OPTION', 'vectorFileChunks', 'nope.npy', 'ENOENT');
      await asyncRefusal(() => readVectorFile(dir, { format: 'fvecs' }), 'INVALID_OPTION', 'readVectorFile', 'EISDIR');
      // (a directory opens; the first read fails)
      await asyncRefusal(() => collect(vectorFileChunks(dir, { format: 'fvecs' })), 'INVALID_OPTION', 'vectorFileChunks', 'EISDIR');
      for (const file of ['a.fvecs', 'a.npy']) {
        await asyncRefusal(() => readVectorFile(join(dir, file), { d: d + 1 }), 'INVALID_SIZE', 'readVectorFile', `d = ${d}`, `d = ${d + 1}`);
        expect((await readVectorFile(join(dir, file), { d })).d).toBe(d);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Faiss index files', () => {
  const rng = new TestRng(4);
  const d = 8;
  const xt = Float32Array.from({ length: 300 * d }, () => rng.gauss());
  const xb = xt.subarray(0, 50 * d);
  let sqFile: Uint8Array;
  let pqFile: Uint8Array;
  let flatFile: Uint8Array;

  beforeAll(() => {
    const sq = new SQIndex({ d, type: 'uint8' });
    sq.train(xt);
    sq.add(xb);
    sqFile = writeFaissIndex(sq);
    sq.dispose();
    const pq = new PQIndex({ d, m: 4, nbits: 4, fastScan: false });
    pq.train(xt);
    pq.add(xb);
    pqFile = writeFaissIndex(pq);
    pq.dispose();
    const flat = new FlatIndex({ d });
    flat.add(xb);
    flatFile = writeFaissIndex(flat);
    flat.dispose();
  });

  afterAll(() => {});

  it('SQ8 ranges map exactly: Faiss decode vmin + (c + 0.5) / 255 vdiff of the written file = our reconstructions', () => {
    // layout of the written IxSQ: fourcc 4, header 4 + 8 + 8 + 8 + 1 + 4 = 33, qtype 4, rangestat 4, arg 4, d 8, code_size 8
    const dv = new DataView(sqFile.buffer, sqFile.byteOffset);
    let p = 4 + 33 + 12 + 16;
    expect(Number(dv.getBigUint64(p, true))).toBe(2 * d);
    p += 8;
    const t = new Float32Array(sqFile.slice(p, p + 8 * d).buffer);
    p += 8 * d + 8;
    const codes = sqFile.subarray(p, p + 50 * d);
    const sq = readFaissIndex(sqFile) as SQIndex;
    try {
      const ours = sq.reconstruct(Int32Array.from({ length: 50 }, (_, i) => i));
      for (let i = 0; i < 50 * d; i++) {
        const j = i % d;
        const faiss = Math.fround(t[j] + Math.fround(Math.fround((codes[i] + 0.5) / 255) * t[d + j]));
        expect(Math.abs(ours[i] - faiss), `component ${i}`).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(faiss)));
      }
    } finally {
      sq.dispose();
    }
  });

  it('fast-scan PQIndex <-> IndexPQFastScan blocks: odd m (M padded to even), a partial last block, ids kept', () => {
    for (const [d, m, n] of [[21, 7, 45], [16, 16, 64], [8, 1, 3]] as const) {
      const x = new Float32Array(n * d).map((_, i) => Math.sin(i * 0.7) * 3);
      const pq = new PQIndex({ d, m, nbits: 4, metric: 'ip', seed: 2 });
      try {
        expect(pq.fastScan).toBe(true);
        pq.train(x.length >= 16 * d ? x : new Float32Array(16 * d).map((_, i) => Math.cos(i)));
        pq.add(x);
        const bytes = writeFaissIndex(pq);
        expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('IPfs');
        const back = readFaissIndex(bytes) as PQIndex;
        try {
          expect(back.fastScan).toBe(true);
          const all = Int32Array.from({ length: n }, (_, i) => i);
          expect(back.reconstruct(all)).toEqual(pq.reconstruct(all));
          expect(back.search(x.subarray(0, 3 * d), 5)).toEqual(pq.search(x.subarray(0, 3 * d), 5));
          expect(writeFaissIndex(back)).toEqual(bytes);
        } finally {
          back.dispose();
        }
        // caller ids: the blocks inside an IndexIDMap, the ids kept
        const ids = Int32Array.from({ length: n }, (_, i) => 1000 + 3 * i);
        pq.reset();
        pq.add(x, ids);
        const mapped = writeFaissIndex(pq);
        expect(String.fromCharCode(...mapped.subarray(0, 4))).toBe('IxMp');
        const backIds = readFaissIndex(mapped) as PQIndex;
        try {
          expect(backIds.fastScan).toBe(true);
          expect(backIds.reconstruct(ids)).toEqual(pq.reconstruct(ids));
          const got = backIds.search(x.subarray(0, 3 * d), 5);
          expect(got).toEqual(pq.search(x.subarray(0, 3 * d), 5));
          // (-1: fewer than 5 vectors)
          expect(got.ids.every((id) => id === -1 || (id >= 1000 && (id - 1000) % 3 === 0))).toBe(true);
          expect(got.ids.some((id) => id >= 1000)).toBe(true);
          expect(writeFaissIndex(backIds)).toEqual(mapped);
        } finally {
          backIds.dispose();
        }
      } finally {
        pq.dispose();
      }
    }
  });

  it('refuses index types, quantizer types and metrics it does not serve with UNSUPPORTED, naming them', () => {
    const W = 'readFaissIndex';
    const hnsw = flatFile.slice();
    hnsw.set([0x49, 0x48, 0x4e, 0x66]); // 'IHNf'
    refusal(() => readFaissIndex(hnsw), 'UNSUPPORTED', W, "'IHNf'", 'IxPq');
    const sq6 = sqFile.slice();
    new DataView(sq6.buffer).setInt32(4 + 33, 6, true);
    refusal(() => readFaissIndex(sq6), 'UNSUPPORTED', W, 'QT_6bit');
    // an 8-bit file relabelled QT_4bit: its code size is d, not ceil(d / 2)
    const sq4 = sqFile.slice();
    new DataView(sq4.buffer).setInt32(4 + 33, 1, true);
    refusal(() => readFaissIndex(sq4), 'CORRUPT_DATA', W, 'code_size', 'QT_4bit');
    const l1 = flatFile.slice();
    l1.set([0x49, 0x78, 0x46, 0x6c]); // 'IxFl'
    new DataView(l1.buffer).setInt32(4 + 29, 2, true);
    refusal(() => readFaissIndex(l1), 'UNSUPPORTED', W, 'metric type 2');
    const pq12 = pqFile.slice();
    new DataView(pq12.buffer).setUint32(4 + 33 + 16, 12, true);
    refusal(() => readFaissIndex(pq12), 'UNSUPPORTED', W, '12-bit');
  });

  it('refuses damage with CORRUPT_DATA, and lying counts without allocating for them', () => {
    const W = 'readFaissIndex';
    refusal(() => readFaissIndex(new Uint8Array([1, 2, 3, 4, 5])), 'CORRUPT_DATA', W, 'not a Faiss index file');
    refusal(() => readFaissIndex(new Uint8Array(0)), 'CORRUPT_DATA', W, 'truncated');
    refusal(() => readFaissIndex(flatFile.subarray(0, flatFile.length - 1)), 'CORRUPT_DATA', W, 'truncated');
    const longer = new Uint8Array(flatFile.length + 4);
    longer.set(flatFile);
    refusal(() => readFaissIndex(longer), 'CORRUPT_DATA', W, '4 bytes after the end');
    const before = memoryStats().memoryBytes;
    // ntotal 2^31 - 1 with a vector count to match: the count is checked against the bytes left
    const lie = flatFile.slice();
    const dv = new DataView(lie.buffer);
    dv.setUint32(8, 0x7fffffff, true);
    dv.setUint32(4 + 33, (0x7fffffff * d) % 2 ** 32, true);
    dv.setUint32(4 + 37, Math.floor((0x7fffffff * d) / 2 ** 32), true);
    refusal(() => readFaissIndex(lie), 'CORRUPT_DATA', W, 'truncated');
    dv.setUint32(4 + 37, 0xffffffff, true);
    refusal(() => readFaissIndex(lie), 'CORRUPT_DATA', W, 'implausibly large');
    expect(memoryStats().memoryBytes).toBe(before);
    const nan = flatFile.slice();
    new DataView(nan.buffer).setFloat32(4 + 33 + 8 + 12, NaN, true);
    refusal(() => readFaissIndex(nan), 'CORRUPT_DATA', W, 'non-finite');
    refusal(() => readFaissIndex('IxF2' as unknown as Uint8Array), 'INVALID_TYPE', W);
  });

  it('writeFaissIndex refuses what Faiss cannot hold as such', () => {
    const W = 'writeFaissIndex';
    const cos = new FlatIndex({ d, metric: 'cosine' });
    const refine = new SQIndex({ d, type: 'fp16', refine: true });
    try {
      refusal(() => writeFaissIndex(cos), 'UNSUPPORTED', W, 'cosine');
      refusal(() => writeFaissIndex(refine), 'UNSUPPORTED', W, 'refine');
      refusal(() => writeFaissIndex({} as FlatIndex), 'UNSUPPORTED', W);
      refusal(() => writeFaissIndex(cos, { nprobe: 0 }), 'INVALID_OPTION', W);
    } finally {
      cos.dispose();
      refine.dispose();
    }
  });

  it('int4 is QT_4bit: Faiss decode vmin + (c + 0.5) / 15 vdiff of the written nibbles = our reconstructions; read back, the same searches', () => {
    for (const dd of [8, 7]) {
      const n = 60;
      const x = Float32Array.from({ length: n * dd }, (_, i) => 3 * Math.sin(0.37 * i) + (i % dd));
      const int4 = new SQIndex({ d: dd, type: 'int4' });
      let back: SQIndex | null = null;
      try {
        int4.train(x);
        int4.add(x);
        const file = writeFaissIndex(int4);
        const dv = new DataView(file.buffer, file.byteOffset);
        const cs = Math.ceil(dd / 2);
        expect(dv.getInt32(4 + 33, true)).toBe(1); // QT_4bit
        let p = 4 + 33 + 12;
        expect(Number(dv.getBigUint64(p, true))).toBe(dd);
        expect(Number(dv.getBigUint64(p + 8, true))).toBe(cs);
        expect(Number(dv.getBigUint64(p + 16, true))).toBe(2 * dd);
        p += 24;
        const t = new Float32Array(file.slice(p, p + 8 * dd).buffer);
        p += 8 * dd;
        expect(Number(dv.getBigUint64(p, true))).toBe(n * cs);
        const codes = file.subarray(p + 8, p + 8 + n * cs);
        const ours = int4.reconstruct(Int32Array.from({ length: n }, (_, i) => i));
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < dd; j++) {
            const c = (codes[i * cs + (j >> 1)] >> ((j & 1) * 4)) & 15;
            const faiss = Math.fround(t[j] + Math.fround(Math.fround((c + 0.5) / 15) * t[dd + j]));
            expect(Math.abs(ours[i * dd + j] - faiss), `d ${dd}, vector ${i}, component ${j}`).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(faiss)));
          }
          // odd d: the unused high nibble stays 0, as Faiss leaves it
          if (dd % 2 === 1) expect(codes[(i + 1) * cs - 1] >> 4).toBe(0);
        }
        back = readFaissIndex(file) as SQIndex;
        expect(back.type).toBe('int4');
        const q = x.subarray(0, 9 * dd);
        expect(back.search(q, 6).ids).toEqual(int4.search(q, 6).ids);
        if (dd % 2 === 1) {
          // Faiss ignores the unused nibble (a file may carry anything there): read as 0, the caller's bytes untouched
          const dirty = file.slice();
          for (let i = 0; i < n; i++) dirty[p + 8 + (i + 1) * cs - 1] |= 0xa0;
          const again = readFaissIndex(dirty) as SQIndex;
          expect(again.search(q, 6)).toEqual(back.search(q, 6));
          again.dispose();
          expect(dirty[p + 8 + cs - 1] >> 4).toBe(10);
        }
      } finally {
        int4.dispose();
        back?.dispose();
      }
    }
  });

  it('an untrained index round-trips untrained; ids above 2^31 - 1 in an IndexIDMap are refused', () => {
    const ivf = new IVFPQIndex({ d, m: 4, nlist: 3 });
    const bytes = writeFaissIndex(ivf);
    ivf.dispose();
    const back = readFaissIndex(bytes) as IVFPQIndex;
    try {
      expect(back).toBeInstanceOf(IVFPQIndex);
      expect([back.isTrained, back.nlist, back.m]).toEqual([false, 3, 4]);
    } finally {
      back.dispose();
    }
    const flat = new FlatIndex({ d });
    flat.add(xb.subarray(0, 2 * d), new Int32Array([7, 9]));
    const withIds = writeFaissIndex(flat);
    flat.dispose();
    expect(String.fromCharCode(...withIds.subarray(0, 4))).toBe('IxMp');
    const big = withIds.slice();
    new DataView(big.buffer).setUint32(big.length - 4, 1, true); // high word of the last id
    refusal(() => readFaissIndex(big), 'UNSUPPORTED', 'readFaissIndex', 'int32');
  });
});
