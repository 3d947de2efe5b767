// The fast-scan kernels of assembly/kernels/fastscan.ts against the plain loops of test/reference/fastscan.ts,
// through the raw ABI, on every build this runtime can execute (the relaxed build uses i8x16.relaxed_swizzle).
//
// Everything here is exact: block layout bytes, quantized tables (every float32 step replicated by the reference),
// integer sums, and the top-k (distance, id) pairs of a scan, bit for bit. Shapes cover every tail: m odd and even
// (the pairwise loop and its single tail), 1 .. 300 (m > 257 lowers the entry ceiling so sums stay below 2^16),
// n not multiples of 32 (unused slots of the last block must never be reported), and rows packed in pieces that
// start mid-block.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem } from './helpers/wasm.js';
import { TestRng } from './helpers/rng.js';
import * as RF from './reference/fastscan.js';
import * as RT from './reference/topk.js';

const MS = [1, 2, 3, 5, 7, 8, 15, 16, 17, 32, 33, 64, 100];
const NS = [1, 5, 31, 32, 33, 64, 100, 161];

const builds = await loadBuilds('fastscan-kernels.test');

function randomCodes(n: number, m: number, seed: number): Uint8Array {
  const r = new TestRng(seed);
  return Uint8Array.from({ length: n * m }, () => r.int(0, 15));
}

/** Float tables f32[count][m][16]: Gaussian around `offset`, some rows constant, some entries repeated. */
function randomTables(count: number, m: number, seed: number, offset = 0, scale = 1): Float32Array {
  const r = new TestRng(seed);
  const t = new Float32Array(count * m * 16);
  for (let i = 0; i < t.length; i++) t[i] = offset + scale * r.gauss();
  for (let q = 0; q < count; q++) {
    for (let j = 0; j < m; j++) {
      const row = (q * m + j) * 16;
      if (r.int(0, 9) === 0) t.fill(t[row], row, row + 16); // a constant row
      if (r.int(0, 3) === 0) t[row + r.int(0, 15)] = t[row + r.int(0, 15)]; // a repeated entry
    }
  }
  return t;
}

/** A random quantized table: entries in [0, qmax], with few distinct values when `ties` (many equal sums). */
function randomLut(m: number, seed: number, ties: boolean): RF.Quantized {
  const r = new TestRng(seed);
  const qmax = m <= 257 ? 255 : Math.floor(65535 / m);
  const lut = Uint8Array.from({ length: m * 16 }, () => (ties ? r.int(0, 2) : r.int(0, qmax)));
  return { lut, invScale: Math.fround(0.01 + r.float()), bias: Math.fround(r.gauss() * 10) };
}

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'fastscan-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  /** Zeroed wasm blocks for n rows of m codes. */
  function zeroBlocks(n: number, m: number): number {
    const bytes = RF.blockBytes(n, m);
    const p = mem.alloc(bytes);
    eng.u8(p, bytes).fill(0);
    return p;
  }

  describe('fsPack / fsUnpack', () => {
    it.each(MS)('m = %i: the block layout of the reference, packed whole or in pieces starting mid-block', (m) => {
      for (const n of NS) {
        const codes = randomCodes(n, m, 100 * m + n);
        const want = RF.packBlocks(codes, n, m);
        const src = mem.put(codes);
        const whole = zeroBlocks(n, m);
        abi.fsPack(src, n, m, whole, 0);
        expect(exactMismatch(mem.u8(whole, want.length), want), `n ${n}`).toBeNull();
        // pieces of 7, 13, 1, ... rows: each starts where the last ended, often inside a block and inside a byte pair
        const pieces = zeroBlocks(n, m);
        const sizes = [7, 13, 1, 40, 3];
        for (let r0 = 0, p = 0; r0 < n; p++) {
          const cnt = Math.min(sizes[p % sizes.length], n - r0);
          abi.fsPack(src + r0 * m, cnt, m, pieces, r0);
          r0 += cnt;
        }
        expect(exactMismatch(mem.u8(pieces, want.length), want), `pieces, n ${n}`).toBeNull();
        // unpack any range back
        for (const [r0, cnt] of [[0, n], [Math.floor(n / 3), n - Math.floor(n / 3)], [n - 1, 1]]) {
          const out = mem.alloc(cnt * m);
          abi.fsUnpack(whole, m, r0, cnt, out);
          expect(exactMismatch(mem.u8(out, cnt * m), codes.subarray(r0 * m, (r0 + cnt) * m)), `unpack ${r0}+${cnt}`).toBeNull();
        }
      }
    });

    it('fsPack changes only the nibbles of the rows it writes', () => {
      const m = 5, n = 70;
      const bytes = RF.blockBytes(n, m);
      const p = mem.alloc(bytes);
      const before = Uint8Array.from({ length: bytes }, (_, i) => (i * 37 + 11) & 255);
      eng.u8(p, bytes).set(before);
      const codes = randomCodes(9, m, 5);
      abi.fsPack(mem.put(codes), 9, m, p, 12); // rows 12..20: both halves of block 0
      const after = mem.u8(p, bytes);
      for (let r = 0; r < 96; r++) {
        for (let j = 0; j < m; j++) {
          const want = r >= 12 && r < 21 ? codes[(r - 12) * m + j] : RF.codeAt(before, m, r, j);
          expect(RF.codeAt(after, m, r, j), `row ${r} sub-quantizer ${j}`).toBe(want);
        }
      }
    });

    it('codes are taken modulo 16 (only the low nibble of each source byte)', () => {
      const m = 3, n = 33;
      const codes = Uint8Array.from({ length: n * m }, (_, i) => (i * 29) & 255);
      const p = zeroBlocks(n, m);
      abi.fsPack(mem.put(codes), n, m, p, 0);
      const want = RF.packBlocks(codes.map((c) => c & 15), n, m);
      expect(exactMismatch(mem.u8(p, want.length), want)).toBeNull();
    });
  });

  describe('fsQuantize', () => {
    it.each([...MS, 256, 257, 258, 300])('m = %i: bytes, invScale and bias identical to the reference', (m) => {
      const count = 3;
      for (const [offset, scale] of [[0, 1], [50, 0.01], [-3, 100]]) {
        const t = randomTables(count, m, m * 7 + offset, offset, scale);
        const lut = mem.alloc(count * m * 16);
        const params = mem.alloc(count * 8);
        abi.fsQuantize(mem.put(t), count, m, lut, params);
        const got = mem.u8(lut, count * m * 16);
        const gp = mem.f32(params, count * 2);
        for (let q = 0; q < count; q++) {
          const want = RF.quantizeTable(t.subarray(q * m * 16, (q + 1) * m * 16), m);
          expect(exactMismatch(got.subarray(q * m * 16, (q + 1) * m * 16), want.lut), `table ${q}`).toBeNull();
          expect(gp[2 * q], `invScale ${q}`).toBe(want.invScale);
          expect(gp[2 * q + 1], `bias ${q}`).toBe(want.bias);
          const qmax = m <= 257 ? 255 : Math.floor(65535 / m);
          expect(Math.max(...want.lut)).toBeLessThanOrEqual(qmax);
          // the largest row span maps to qmax: the full range is used
          expect(Math.max(...want.lut)).toBe(qmax);
        }
      }
    });

    it('signed zeros: rows holding -0 and +0 in any order quantize and sum exactly as the reference', () => {
      const m = 6;
      const t = new Float32Array(m * 16);
      for (let j = 0; j < m; j++) for (let c = 0; c < 16; c++) t[j * 16 + c] = (c + j) % 3 === 0 ? -0 : (c + 2 * j) % 5 === 0 ? 0 : j === 2 ? 0 : (c - 7) * 0.25;
      t.fill(-0, 3 * 16, 4 * 16); // a row of -0 only
      const lut = mem.alloc(m * 16);
      const params = mem.alloc(8);
      abi.fsQuantize(mem.put(t), 1, m, lut, params);
      const want = RF.quantizeTable(t, m);
      expect(exactMismatch(mem.u8(lut, m * 16), want.lut)).toBeNull();
      expect(Object.is(mem.f32(params, 2)[1], want.bias)).toBe(true);
      expect(mem.f32(params, 2)[0]).toBe(want.invScale);
    });

    it('a table of constant rows quantizes to zeros with invScale 0, and distances equal the bias', () => {
      const m = 4;
      const t = new Float32Array(m * 16);
      for (let j = 0; j < m; j++) t.fill(j - 1.5, j * 16, (j + 1) * 16);
      const lut = mem.alloc(m * 16);
      const params = mem.alloc(8);
      abi.fsQuantize(mem.put(t), 1, m, lut, params);
      expect(Array.from(mem.u8(lut, m * 16)).every((v) => v === 0)).toBe(true);
      expect(Array.from(mem.f32(params, 2))).toEqual([0, -1.5 - 0.5 + 0.5 + 1.5]);
    });

    it('the quantized distance is within m / 2 quantization steps of the float ADC distance', () => {
      const m = 16, n = 200;
      const t = randomTables(1, m, 3, 2, 5);
      const codes = randomCodes(n, m, 4);
      const want = RF.quantizeTable(t, m);
      for (let r = 0; r < n; r++) {
        let exact = 0;
        let sum = 0;
        for (let j = 0; j < m; j++) {
          exact += t[j * 16 + codes[r * m + j]];
          sum += want.lut[j * 16 + codes[r * m + j]];
        }
        expect(Math.abs(RF.quantizedDistance(sum, want) - exact)).toBeLessThanOrEqual((m / 2) * want.invScale * 1.0001 + 1e-4);
      }
    });
  });

  describe('fsScores', () => {
    it.each(MS)('m = %i: the integer sums of every slot of every block', (m) => {
      for (const n of [32, 33, 100]) {
        const codes = randomCodes(n, m, m + n);
        const blocks = RF.packBlocks(codes, n, m);
        for (const ties of [false, true]) {
          const q = randomLut(m, m * 3 + n, ties);
          const nb = Math.ceil(n / 32);
          const out = mem.alloc(nb * 32 * 2);
          abi.fsScores(mem.put(blocks), nb, m, mem.put(q.lut), out);
          const got = new Uint16Array(eng.abi.memory.buffer.slice(out, out + nb * 64));
          for (let r = 0; r < nb * 32; r++) expect(got[r], `row ${r}`).toBe(RF.quantizedSum(blocks, m, q.lut, r));
        }
      }
    });

    it.each([64, 257, 258, 300])('m = %i with every entry at qmax: the largest sums are exact (no u16 overflow)', (m) => {
      const n = 32;
      const qmax = m <= 257 ? 255 : Math.floor(65535 / m);
      const lut = new Uint8Array(m * 16).fill(qmax);
      const blocks = RF.packBlocks(randomCodes(n, m, m), n, m);
      const out = mem.alloc(64);
      abi.fsScores(mem.put(blocks), 1, m, mem.put(lut), out);
      const got = new Uint16Array(eng.abi.memory.buffer.slice(out, out + 64));
      expect(Array.from(got).every((v) => v === m * qmax)).toBe(true);
      expect(m * qmax).toBeLessThanOrEqual(65535);
    });
  });

  describe('fsScan', () => {
    /** Kernel scan of one query in pieces (blocks-aligned offsets), heaps sorted; reference likewise. */
    function both(blocks: Uint8Array, n: number, m: number, q: RF.Quantized, k: number, positions: Int32Array | null, idBase: number, pieces: number[]) {
      const bp = mem.put(blocks);
      const lp = mem.put(q.lut);
      const pp = positions ? mem.put(positions) : 0;
      const hd = mem.alloc(k * 4);
      const hi = mem.alloc(k * 4);
      abi.heapInit(hd, hi, k);
      for (let p = 0; p < pieces.length - 1; p++) {
        const r0 = pieces[p], r1 = pieces[p + 1];
        abi.fsScan(bp + (r0 / 32) * m * 16, r1 - r0, m, lp, q.invScale, q.bias, k, hd, hi, pp ? pp + r0 * 4 : 0, idBase + r0);
      }
      abi.heapSortRows(hd, hi, 1, k);
      const rd = new Float32Array(k);
      const ri = new Int32Array(k);
      RT.heapInit(rd, ri, k);
      RF.scan(blocks, n, m, q, k, rd, ri, positions, idBase);
      RT.heapSortRows(rd, ri, 1, k);
      return { got: { d: mem.f32(hd, k), i: mem.i32(hi, k) }, want: { d: rd, i: ri } };
    }

    it.each(MS)('m = %i: the same (distance, id) top-k as the reference, bit for bit', (m) => {
      for (const n of NS) {
        const codes = randomCodes(n, m, 11 * m + n);
        const blocks = RF.packBlocks(codes, n, m);
        for (const ties of [false, true]) {
          const q = randomLut(m, n + m + (ties ? 1 : 0), ties);
          for (const k of [1, 4, 10, n + 3]) {
            const { got, want } = both(blocks, n, m, q, k, null, 7, [0, n]);
            expect(exactMismatch(got.i, want.i), `n ${n} k ${k} ties ${ties}`).toBeNull();
            expect(exactMismatch(got.d, want.d), `n ${n} k ${k} ties ${ties}`).toBeNull();
          }
        }
      }
    });

    it.each(MS)('m = %i: fsScan2 (two queries per pass) gives each query the reference top-k', (m) => {
      for (const n of NS) {
        const blocks = RF.packBlocks(randomCodes(n, m, 13 * m + n), n, m);
        const bp = mem.put(blocks);
        for (const k of [1, 10, n + 2]) {
          // query 1 has many ties and a heap that is already partly full of better entries
          const q0 = randomLut(m, n + 3 * m, false), q1 = randomLut(m, n + 5 * m, true);
          const hd = mem.alloc(2 * k * 4), hi = mem.alloc(2 * k * 4);
          abi.heapInit(hd, hi, 2 * k);
          const pre = Math.fround(q1.bias + 2 * q1.invScale);
          for (let i = 0; i < Math.min(k, 3); i++) abi.heapPushMany(hd + k * 4, hi + k * 4, k, mem.put(new Float32Array([pre])), mem.put(new Int32Array([5000 + i])), 1);
          abi.fsScan2(bp, n, m, mem.put(q0.lut), q0.invScale, q0.bias, mem.put(q1.lut), q1.invScale, q1.bias, k, hd, hi, hd + k * 4, hi + k * 4, 0, 9);
          abi.heapSortRows(hd, hi, 2, k);
          const rd = new Float32Array(2 * k), ri = new Int32Array(2 * k);
          RT.heapInit(rd, ri, 2 * k);
          for (let i = 0; i < Math.min(k, 3); i++) RT.heapPush(rd.subarray(k), ri.subarray(k), k, pre, 5000 + i);
          RF.scan(blocks, n, m, q0, k, rd.subarray(0, k), ri.subarray(0, k), null, 9);
          RF.scan(blocks, n, m, q1, k, rd.subarray(k), ri.subarray(k), null, 9);
          RT.heapSortRows(rd, ri, 2, k);
          expect(exactMismatch(mem.i32(hi, 2 * k), ri), `n ${n} k ${k}`).toBeNull();
          expect(exactMismatch(mem.f32(hd, 2 * k), rd), `n ${n} k ${k}`).toBeNull();
        }
      }
    });

    it('scanning in block-aligned pieces, with positions, equals one reference scan (the heap carries the threshold)', () => {
      const m = 16, n = 1000;
      const codes = randomCodes(n, m, 99);
      const blocks = RF.packBlocks(codes, n, m);
      const r = new TestRng(5);
      const positions = Int32Array.from({ length: n }, () => r.int(0, 1 << 20));
      for (const ties of [false, true]) {
        const q = randomLut(m, 17, ties);
        for (const k of [1, 10, 100]) {
          const { got, want } = both(blocks, n, m, q, k, positions, 0, [0, 64, 96, 512, n]);
          expect(exactMismatch(got.i, want.i), `k ${k}`).toBeNull();
          expect(exactMismatch(got.d, want.d), `k ${k}`).toBeNull();
        }
      }
    });

    it('a heap that is already better than every code is left unchanged (early stop), and unused slots are never reported', () => {
      const m = 8, n = 40; // block 1 has 24 unused slots, left holding codes that would score 0
      const codes = new Uint8Array(n * m).fill(15);
      const blocks = RF.packBlocks(codes, n, m);
      const lut = new Uint8Array(m * 16);
      for (let j = 0; j < m; j++) lut[j * 16 + 15] = 200;
      const q = { lut, invScale: 0.5, bias: 1 };
      // every real code scores 8 * 200 * 0.5 + 1 = 801; the unused slots (code 0) would score 1
      const { got } = both(blocks, n, m, q, 50, null, 0, [0, n]);
      expect(Array.from(got.i.subarray(0, n)).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(Array.from(got.i.subarray(n))).toEqual(new Array(10).fill(-1));
      expect(got.d[0]).toBe(801);
      const hd = mem.put(new Float32Array([800]));
      const hi = mem.put(new Int32Array([123]));
      abi.fsScan(mem.put(blocks), n, m, mem.put(lut), 0.5, 1, 1, hd, hi, 0, 0);
      expect(mem.f32(hd, 1)[0]).toBe(800);
      expect(mem.i32(hi, 1)[0]).toBe(123);
    });

    it('a heap root tied with a code keeps the lower id, whatever order the ids arrive in', () => {
      const m = 2, n = 64;
      const blocks = RF.packBlocks(new Uint8Array(n * m), n, m);
      const q = { lut: new Uint8Array(m * 16), invScale: 1, bias: 0 };
      const positions = Int32Array.from({ length: n }, (_, i) => 1000 - i);
      const { got, want } = both(blocks, n, m, q, 3, positions, 0, [0, 32, 64]);
      expect(Array.from(got.i)).toEqual([937, 938, 939]);
      expect(exactMismatch(got.i, want.i)).toBeNull();
    });
  });
});
