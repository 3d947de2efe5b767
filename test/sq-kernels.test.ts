// The scalar-quantization kernels of assembly/kernels/sq.ts against test/reference/sq.ts, through the raw ABI, on every
// build this runtime can execute.
//
// Exactness: with integer folded queries and steps (|u| <= 8, b in {0, 1}) and codes below 256, every term and partial
// sum is an integer below 2^24, so any summation order and fused or unfused multiply-add give the exact value: scores
// must be bit-identical to the reference. On Gaussian data they must agree within 1e-5 of the sum of |terms|.
// sqScan with k = 0 writes the scores themselves; sqScan and sqScan4 (four queries a pass) must keep exactly the top
// k of those scores (the same sums), ties by id, and sqScan4 with k = 0 must write the same bits for each query. Dimensions cover
// every tail of the 16-wide and 4-wide blocks. Every buffer is followed by a guard zone that must come back untouched.
// int4 (type 3): random code bytes include the padding nibble of odd d, which the references ignore, so every
// comparison also checks that the kernels ignore it; sqEncode4bit must equal its reference byte for byte (ties to
// even, clamping, zero steps, padding nibble 0).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem, tolMismatch } from './helpers/wasm.js';
import * as R from './reference/sq.js';
import { TestRng } from './helpers/rng.js';

const DIMS = [1, 3, 4, 5, 7, 15, 16, 17, 33, 64, 100];
const COUNTS = [1, 3, 7, 13];
const TYPES = [[0, 'uint8'], [1, 'int8'], [2, 'fp16'], [3, 'int4']] as const;
const METRICS = [[0, 'l2'], [1, 'ip']] as const;

const builds = await loadBuilds('sq-kernels.test');

/**
 * n codes of dimension d: random bytes (uint8 / int8 / int4, padding nibbles included); fp16: finite halfs, or halfs of
 * integers in [-8, 8] when ints.
 */
function randomCodes(n: number, d: number, type: number, seed: number, ints: boolean): Uint8Array {
  const r = new TestRng(seed);
  if (type !== 2) return Uint8Array.from({ length: n * R.codeSize(d, type) }, () => r.int(0, 255));
  const out = new Uint8Array(2 * n * d);
  for (let i = 0; i < n * d; i++) {
    let h: number;
    if (ints) {
      const v = r.int(-8, 8);
      h = v === 0 ? 0 : halfOfInt(v);
    } else {
      h = r.int(0, 0xffff);
      if (((h >>> 10) & 0x1f) === 31) h &= ~0x0400; // exponent 30: finite
    }
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** Half bits of a small nonzero integer. */
function halfOfInt(v: number): number {
  const s = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  return s | ((e + 15) << 10) | (((a / 2 ** e - 1) * 1024) & 0x3ff);
}

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'sq-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  function folded(d: number, seed: number, ints: boolean) {
    const r = new TestRng(seed);
    const u = Float32Array.from({ length: d }, () => (ints ? r.int(-8, 8) : r.gauss() * 3));
    const b = Float32Array.from({ length: d }, () => (ints ? r.int(0, 1) : Math.abs(r.gauss()) * 0.05));
    const bias = ints ? r.int(-100, 100) : r.gauss() * 10;
    return { u, b, bias: Math.fround(bias) };
  }

  /** sqScan with k = 0: the scores f32[n] (no heap). */
  function scores(cp: number, n: number, d: number, type: number, metric: number, u: Float32Array, b: Float32Array, bias: number): Float32Array {
    const op = mem.alloc(n * 4);
    abi.sqScan(cp, n, d, type, metric, mem.put(u), mem.put(b), bias, 0, op, 0, 0);
    return mem.f32(op, n);
  }

  describe.each(TYPES)('type %i (%s)', (type) => {
    describe.each(METRICS)('metric %i (%s)', (metric) => {
      it.each(DIMS)('sqScan with k = 0 writes the reference scores, exactly on integers, d = %i', (d) => {
        for (const n of COUNTS) {
          const codes = randomCodes(n, d, type, 1000 + d * 10 + n, true);
          const { u, b, bias } = folded(d, 2000 + d, true);
          const got = scores(mem.put(codes), n, d, type, metric, u, b, bias);
          const want = R.sqScores(codes, n, d, type, metric, u, b, bias).scores;
          expect(exactMismatch(got, want, `scores d=${d} n=${n}`)).toBeNull();
        }
      });

      it.each(DIMS)('sqScan with k = 0 agrees with the reference scores within 1e-5 on floats, d = %i', (d) => {
        for (const n of COUNTS) {
          const codes = randomCodes(n, d, type, 3000 + d * 10 + n, false);
          const { u, b, bias } = folded(d, 4000 + d, false);
          const got = scores(mem.put(codes), n, d, type, metric, u, b, bias);
          const { scores: want, scale } = R.sqScores(codes, n, d, type, metric, u, b, bias);
          expect(tolMismatch(got, want, scale, `scores d=${d} n=${n}`)).toBeNull();
        }
      });

      it.each(DIMS)('sqScan keeps the top k of its k = 0 scores, ties by id, d = %i', (d) => {
        const n = 37;
        for (const k of [1, 5, 40]) {
          const codes = randomCodes(n, d, type, 5000 + d, true);
          // narrow codes make tied scores
          if (type !== 2) for (let i = 0; i < codes.length; i++) codes[i] &= type === 3 ? 0x33 : 3;
          const { u, b, bias } = folded(d, 6000 + d, true);
          const cp = mem.put(codes);
          const s = scores(cp, n, d, type, metric, u, b, bias);
          const hd = mem.alloc(k * 4);
          const hi = mem.alloc(k * 4);
          abi.heapInit(hd, hi, k);
          const idBase = 1000;
          abi.sqScan(cp, n, d, type, metric, mem.put(u), mem.put(b), bias, k, hd, hi, idBase);
          abi.heapSortRows(hd, hi, 1, k);
          const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => s[x] - s[y] || x - y);
          const wantIds = Int32Array.from({ length: k }, (_, j) => (j < n ? order[j] + idBase : -1));
          const wantD = Float32Array.from({ length: k }, (_, j) => (j < n ? s[order[j]] : Infinity));
          expect(exactMismatch(mem.i32(hi, k), wantIds, `ids k=${k}`)).toBeNull();
          expect(exactMismatch(mem.f32(hd, k), wantD, `dist k=${k}`)).toBeNull();
        }
      });

      it.each(DIMS)('sqScan4 keeps, for each of four queries, the top k of its sqScan scores (the same bits), d = %i', (d) => {
        const n = 41;
        for (const k of [1, 6, 50]) {
          for (const ints of [true, false]) {
            const codes = randomCodes(n, d, type, 9000 + d + k, ints);
            if (ints && type !== 2) for (let i = 0; i < codes.length; i++) codes[i] &= type === 3 ? 0x33 : 3;
            const cp = mem.put(codes);
            const qs = [0, 1, 2, 3].map((t) => folded(d, 9100 + d * 10 + t, ints));
            const b = qs[0].b;
            const u4 = new Float32Array(4 * d);
            qs.forEach((f, t) => u4.set(f.u, t * d));
            const biases = Float32Array.from(qs, (f) => f.bias);
            const hd = mem.alloc(4 * k * 4);
            const hi = mem.alloc(4 * k * 4);
            abi.heapInit(hd, hi, 4 * k);
            const idBase = 7;
            abi.sqScan4(cp, n, d, type, metric, mem.put(u4), mem.put(b), mem.put(biases), k, hd, hi, idBase);
            abi.heapSortRows(hd, hi, 4, k);
            const gotD = mem.f32(hd, 4 * k);
            const gotI = mem.i32(hi, 4 * k);
            for (let t = 0; t < 4; t++) {
              const s = scores(cp, n, d, type, metric, qs[t].u, b, qs[t].bias);
              const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => s[x] - s[y] || x - y);
              const wantIds = Int32Array.from({ length: k }, (_, j) => (j < n ? order[j] + idBase : -1));
              const wantD = Float32Array.from({ length: k }, (_, j) => (j < n ? s[order[j]] : Infinity));
              expect(exactMismatch(gotI.subarray(t * k, (t + 1) * k), wantIds, `ids q=${t} k=${k}`)).toBeNull();
              expect(exactMismatch(gotD.subarray(t * k, (t + 1) * k), wantD, `dist q=${t} k=${k}`)).toBeNull();
            }
          }
        }
      });

      it.each(DIMS)('sqScan4 with k = 0 writes f32[4][n], each query the scores sqScan writes (the same bits), d = %i', (d) => {
        for (const n of COUNTS) {
          for (const ints of [true, false]) {
            const codes = randomCodes(n, d, type, 9500 + d * 10 + n, ints);
            const cp = mem.put(codes);
            const qs = [0, 1, 2, 3].map((t) => folded(d, 9600 + d * 10 + t, ints));
            const b = qs[0].b;
            const u4 = new Float32Array(4 * d);
            qs.forEach((f, t) => u4.set(f.u, t * d));
            const out = mem.alloc(4 * n * 4);
            abi.sqScan4(cp, n, d, type, metric, mem.put(u4), mem.put(b), mem.put(Float32Array.from(qs, (f) => f.bias)), 0, out, 0, 0);
            const got = mem.f32(out, 4 * n).slice();
            for (let t = 0; t < 4; t++) {
              const want = scores(cp, n, d, type, metric, qs[t].u, b, qs[t].bias);
              expect(exactMismatch(got.subarray(t * n, (t + 1) * n), want, `scores q=${t} n=${n}`)).toBeNull();
            }
            // and against the reference: the four rows are not one query's scores repeated
            const ref = R.sqScores(codes, n, d, type, metric, qs[3].u, b, qs[3].bias);
            if (ints) expect(exactMismatch(got.subarray(3 * n), ref.scores, `reference q=3 n=${n}`)).toBeNull();
            else expect(tolMismatch(got.subarray(3 * n), ref.scores, ref.scale, `reference q=3 n=${n}`)).toBeNull();
          }
        }
      });
    });

    if (type !== 2) {
      it.each([16, 32, 64, 128, 1024])('sqScanInt4 keeps, per query, the top k of the reference integer scores (bit-exact, with and without per-code norms), d = %i', (d) => {
        const n = 45;
        const W = Math.min(32767, Math.floor((2 ** 31 - 1) / (255 * d)));
        for (const k of [1, 7, 60]) {
          for (const [narrow, withNorms] of [[true, false], [false, false], [true, true], [false, true]]) {
            const codes = randomCodes(n, d, type, 9500 + d + k, false);
            if (narrow) for (let i = 0; i < codes.length; i++) codes[i] &= type === 3 ? 0x33 : 3; // ties
            const r = new TestRng(9600 + d + k);
            const w4 = new Int16Array(4 * d);
            // extremes included: every weight at +-W in query 0 (the overflow bound)
            for (let i = 0; i < 4 * d; i++) w4[i] = i < d ? (r.int(0, 1) ? W : -W) : r.int(-W, W);
            const biases = Float32Array.from({ length: 4 }, () => Math.fround(r.gauss() * 100));
            const invs = Float32Array.from({ length: 4 }, () => Math.fround(Math.abs(r.gauss()) * 1e-4));
            const hd = mem.alloc(4 * k * 4);
            const hi = mem.alloc(4 * k * 4);
            abi.heapInit(hd, hi, 4 * k);
            // norms: small integers keep ties possible with narrow codes
            const norms = withNorms ? Float32Array.from({ length: n }, () => (narrow ? r.int(0, 3) : Math.fround(Math.abs(r.gauss()) * 50))) : null;
            abi.sqScanInt4(mem.put(codes), n, d, type, mem.put(w4), mem.put(biases), mem.put(invs), norms ? mem.put(norms) : 0, k, hd, hi, 3);
            abi.heapSortRows(hd, hi, 4, k);
            const gotD = mem.f32(hd, 4 * k);
            const gotI = mem.i32(hi, 4 * k);
            for (let t = 0; t < 4; t++) {
              const s = R.sqScoresInt(codes, n, d, type, w4.subarray(t * d, (t + 1) * d), biases[t], invs[t], norms);
              const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => s[x] - s[y] || x - y);
              const wantIds = Int32Array.from({ length: k }, (_, j) => (j < n ? order[j] + 3 : -1));
              const wantD = Float32Array.from({ length: k }, (_, j) => (j < n ? s[order[j]] : Infinity));
              expect(exactMismatch(gotI.subarray(t * k, (t + 1) * k), wantIds, `ids q=${t} k=${k}`)).toBeNull();
              expect(exactMismatch(gotD.subarray(t * k, (t + 1) * k), wantD, `dist q=${t} k=${k}`)).toBeNull();
            }
          }
        }
      });
    }

    if (type !== 2) {
      it.each([16, 32, 48, 64, 128, 1024])('sqScanInt1 keeps the top k of the reference integer scores (bit-exact, with and without per-code norms; the bits sqScanInt4 gives the same query), d = %i', (d) => {
        const n = 45;
        const W = Math.min(32767, Math.floor((2 ** 31 - 1) / (255 * d)));
        for (const k of [1, 7, 60]) {
          for (const [narrow, withNorms] of [[true, false], [false, false], [true, true], [false, true]]) {
            const codes = randomCodes(n, d, type, 9700 + d + k, false);
            if (narrow) for (let i = 0; i < codes.length; i++) codes[i] &= type === 3 ? 0x33 : 3; // ties
            const r = new TestRng(9800 + d + k);
            // query 0 at the overflow bound (every weight +-W); query 1 random
            const w4 = new Int16Array(4 * d);
            for (let i = 0; i < 2 * d; i++) w4[i] = i < d ? (r.int(0, 1) ? W : -W) : r.int(-W, W);
            const biases = Float32Array.from({ length: 4 }, () => Math.fround(r.gauss() * 100));
            const invs = Float32Array.from({ length: 4 }, () => Math.fround(Math.abs(r.gauss()) * 1e-4));
            const norms = withNorms ? Float32Array.from({ length: n }, () => (narrow ? r.int(0, 3) : Math.fround(Math.abs(r.gauss()) * 50))) : null;
            const cp = mem.put(codes);
            const np = norms ? mem.put(norms) : 0;
            const h4d = mem.alloc(4 * k * 4);
            const h4i = mem.alloc(4 * k * 4);
            abi.heapInit(h4d, h4i, 4 * k);
            abi.sqScanInt4(cp, n, d, type, mem.put(w4), mem.put(biases), mem.put(invs), np, k, h4d, h4i, 3);
            abi.heapSortRows(h4d, h4i, 4, k);
            for (let t = 0; t < 2; t++) {
              const hd = mem.alloc(k * 4);
              const hi = mem.alloc(k * 4);
              abi.heapInit(hd, hi, k);
              abi.sqScanInt1(cp, n, d, type, mem.put(w4.subarray(t * d, (t + 1) * d)), biases[t], invs[t], np, k, hd, hi, 3);
              abi.heapSortRows(hd, hi, 1, k);
              const s = R.sqScoresInt(codes, n, d, type, w4.subarray(t * d, (t + 1) * d), biases[t], invs[t], norms);
              const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => s[x] - s[y] || x - y);
              const wantIds = Int32Array.from({ length: k }, (_, j) => (j < n ? order[j] + 3 : -1));
              const wantD = Float32Array.from({ length: k }, (_, j) => (j < n ? s[order[j]] : Infinity));
              expect(exactMismatch(mem.i32(hi, k), wantIds, `ids q=${t} k=${k}`)).toBeNull();
              expect(exactMismatch(mem.f32(hd, k), wantD, `dist q=${t} k=${k}`)).toBeNull();
              expect(exactMismatch(mem.f32(hd, k), mem.f32(h4d + t * k * 4, k), `vs sqScanInt4 q=${t} k=${k}`)).toBeNull();
            }
          }
        }
      });
    }

    it.each(DIMS)('sqDecode is bit-identical to the reference, d = %i', (d) => {
      for (const n of COUNTS) {
        const codes = randomCodes(n, d, type, 7000 + d * 10 + n, false);
        const r = new TestRng(8000 + d);
        const a = Float32Array.from({ length: d }, () => r.gauss() * 2);
        const b = Float32Array.from({ length: d }, () => Math.abs(r.gauss()) * 0.01);
        const op = mem.alloc(n * d * 4);
        abi.sqDecode(mem.put(codes), n, d, type, mem.put(a), mem.put(b), op);
        expect(exactMismatch(mem.f32(op, n * d), R.sqDecode(codes, n, d, type, a, b), `decode d=${d} n=${n}`)).toBeNull();
      }
    });
  });

  describe('sqEncode4bit (int4)', () => {
    function encode(x: Float32Array, n: number, d: number, min: Float32Array, step: Float32Array): Uint8Array {
      const cs = Math.ceil(d / 2);
      const op = mem.alloc(n * cs);
      abi.sqEncode4bit(mem.put(x), n, d, mem.put(min), mem.put(step), op);
      return mem.u8(op, n * cs);
    }

    it.each(DIMS)('equals the reference byte for byte: clamping, zero steps, exact ties, padding nibble 0, d = %i', (d) => {
      for (const n of COUNTS) {
        const r = new TestRng(11000 + d * 10 + n);
        // odd dimensions: dyadic min and power-of-two steps, so that half-way points are exact ties; every fifth
        // dimension constant (step 0)
        const min = Float32Array.from({ length: d }, (_, j) => (j % 2 ? r.int(-8, 8) / 4 : r.gauss()));
        const step = Float32Array.from({ length: d }, (_, j) => (j % 5 === 4 ? 0 : j % 2 ? 2 ** r.int(-4, 2) : Math.abs(r.gauss()) * 0.3));
        const x = new Float32Array(n * d);
        for (let i = 0; i < n * d; i++) {
          const j = i % d;
          const kind = r.int(0, 3);
          if (kind === 0) x[i] = Math.fround(min[j] + (r.int(0, 15) + 0.5) * step[j]); // a tie (exact for power-of-two steps)
          else if (kind === 1) x[i] = Math.fround(min[j] + r.gauss() * 40 * (step[j] || 1)); // often outside the range
          else x[i] = Math.fround(min[j] + r.float() * 15 * step[j]);
        }
        const got = encode(x, n, d, min, step);
        expect(exactMismatch(got, R.sqEncode4bit(x, n, d, min, step), `codes d=${d} n=${n}`)).toBeNull();
        if (d % 2 === 1) for (let i = 0; i < n; i++) expect(got[(i + 1) * Math.ceil(d / 2) - 1] >> 4).toBe(0);
      }
    });

    it.each(DIMS)('decode(encode(x)) == x for x on the grid, and sqDecode ignores the padding nibble, d = %i', (d) => {
      const n = 9;
      const r = new TestRng(12000 + d);
      const a = Float32Array.from({ length: d }, () => r.gauss());
      const b = Float32Array.from({ length: d }, () => Math.abs(r.gauss()) * 0.2);
      const codes = randomCodes(n, d, 3, 12100 + d, false);
      const cs = Math.ceil(d / 2);
      if (d % 2 === 1) for (let i = 0; i < n; i++) codes[(i + 1) * cs - 1] &= 0x0f;
      const op = mem.alloc(n * d * 4);
      abi.sqDecode(mem.put(codes), n, d, 3, mem.put(a), mem.put(b), op);
      const x = mem.f32(op, n * d);
      expect(exactMismatch(encode(x, n, d, a, b), codes, `round trip d=${d}`)).toBeNull();
      if (d % 2 === 1) {
        const dirty = codes.slice();
        for (let i = 0; i < n; i++) dirty[(i + 1) * cs - 1] |= 0xa0;
        abi.sqDecode(mem.put(dirty), n, d, 3, mem.put(a), mem.put(b), op);
        expect(exactMismatch(mem.f32(op, n * d), x, `padding d=${d}`)).toBeNull();
        for (const metric of [0, 1]) {
          const { u, b: bb, bias } = folded(d, 12200 + d, false);
          expect(exactMismatch(scores(mem.put(dirty), n, d, 3, metric, u, bb, bias), scores(mem.put(codes), n, d, 3, metric, u, bb, bias), `padding scores d=${d}`)).toBeNull();
        }
      }
    });
  });
});
