// The PQ kernels of assembly/kernels/pq.ts against the plain loops of test/reference/pq.ts, through the raw ABI.
//
// Exactness (as in kernels.test.ts): on integer-valued data (components in [-8, 8], d <= 128) every product, partial
// sum, norm and table entry is an integer below 2^24, so any summation order, and fused or unfused multiply-add, gives
// the exact value: results must be bit-identical to the reference. On Gaussian floats results must agree within 1e-5
// of the magnitude of the sum (sum of |terms|), the scale of float32 rounding error; where a float result is a choice
// (nearest codeword, top-k ids) it is checked by the true float64 distance of what was chosen, since near-ties can
// legitimately go either way.
//
// Shapes cover every tail: dsub = d / m from 1 to 128, m % 4 != 0 (the one-code-at-a-time tail of the ADC sums),
// ksub = 2 and 4 (one block of 4, with 2 padding codewords for ksub = 2), 16 and 256; counts not multiples of 4.
//
// Every buffer handed to a kernel is followed by a guard zone that must come back untouched (no writes past the end).
//
// The suite runs against every build this runtime can execute (plain SIMD always; relaxed SIMD where supported).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem, tolMismatch, type Num } from './helpers/wasm.js';
import * as RD from './reference/distance.js';
import * as RQ from './reference/pq.js';
import * as RT from './reference/topk.js';
import { floatVectors, intVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';

const DIMS = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33, 64, 100, 128];
const KSUBS = [2, 4, 16, 256];
const COUNTS = [1, 3, 7, 13];
/** Numbers of sub-quantizers for the kernels that only see m (ADC sums): every m % 4, small and large. */
const SCAN_MS = [1, 2, 3, 4, 5, 7, 8, 11, 12, 16, 17, 32, 33, 64, 100, 128]; // 8, 16, 32 at ksub 256: the unrolled static-table scans
const REL_TOL = 1e-5;

/** The m tried for dimension d: its divisors up to 17 (m = 1, 2, 3, 4, 5, 7, 8, 11, 16, 17 where they divide) and d. */
function msFor(d: number): number[] {
  const ms: number[] = [];
  for (let m = 1; m <= d; m++) if (d % m === 0 && (m <= 17 || m === d)) ms.push(m);
  return ms;
}

/** Pairs (from, to): codeword `to` is made a copy of codeword `from`, across lanes, within a lane and across blocks. */
function duplicatePairs(ksub: number): [number, number][] {
  if (ksub === 2) return [[0, 1]];
  if (ksub === 4) return [[0, 3], [1, 2]];
  return [[0, ksub - 1], [1, 5], [2, 3], [9, 6]];
}

// ---------------------------------------------------------------------------------------------------------------
// Builds

const builds = await loadBuilds('pq-kernels.test');


// ---------------------------------------------------------------------------------------------------------------
// Test data that is not vectors

/** n codes of m sub-codes, uniform in [0, ksub). */
function randomCodes(n: number, m: number, ksub: number, seed: number): Uint8Array {
  const r = new TestRng(seed);
  return Uint8Array.from({ length: n * m }, () => r.int(0, ksub - 1));
}

/**
 * nq tables f32[m][ksubP]: integers in [lo, hi] ('int', a narrow range gives many tied sums) or Gaussian ('float').
 * Padding entries are NaN: codes never index them, so a NaN in a result means the kernel read the wrong entry.
 */
function randomTables(nq: number, m: number, ksub: number, seed: number, kind: 'int' | 'float', lo = 0, hi = 3): Float32Array {
  const r = new TestRng(seed);
  const ksubP = RQ.ksubPadded(ksub);
  const t = new Float32Array(nq * m * ksubP);
  for (let i = 0; i < t.length; i++) t[i] = i % ksubP >= ksub ? NaN : kind === 'int' ? r.int(lo, hi) : 2 * r.gauss();
  return t;
}

/** The (lowest) index of the smallest of n numbers. */
function argmin(v: ArrayLike<number>, n: number): number {
  let b = 0;
  for (let i = 1; i < n; i++) if (v[i] < v[b]) b = i;
  return b;
}

// ---------------------------------------------------------------------------------------------------------------

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'pq-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  /**
   * A codebook f32[m][ksub][dsub] (natural order, `cb`), its kernel form (centT, cnorm) and their wasm copies.
   * 'int': integers in [-8, 8]; 'float': Gaussian with deviation `scale` around `offset`.
   * `dups`: some codewords of every sub-space are copies of others (see duplicatePairs).
   */
  function codebook(
    d: number, m: number, ksub: number, seed: number, kind: 'int' | 'float', dups = false, scale = 1, offset = 0,
  ) {
    const dsub = d / m;
    const cb = kind === 'int' ? intVectors(m * ksub, dsub, seed) : floatVectors(m * ksub, dsub, seed, scale, offset);
    if (dups) {
      for (let j = 0; j < m; j++) {
        for (const [from, to] of duplicatePairs(ksub)) cb.copyWithin((j * ksub + to) * dsub, (j * ksub + from) * dsub, (j * ksub + from + 1) * dsub);
      }
    }
    const { centT, cnorm, ksubP } = RQ.transposeCodebook(cb, m, ksub, dsub);
    return { cb, centT, cnorm, ksubP, dsub, ctp: mem.put(centT), cnp: mem.put(cnorm) };
  }
  type Codebook = ReturnType<typeof codebook>;

  /** Codeword c of sub-space j (a view of the natural-order codebook). */
  function codeword(cb: Codebook, ksub: number, j: number, c: number): Float32Array {
    return cb.cb.subarray((j * ksub + c) * cb.dsub, (j * ksub + c + 1) * cb.dsub);
  }

  /** Runs pqScan of nq queries (one table each, f32[nq][m][ksubP] at tp) into fresh heaps, sorts them, returns copies. */
  function kernelScan(
    cp: number, n: number, m: number, ksubP: number, tp: number, nq: number, bias: number, k: number, idsP: number, idBase: number, normsP = 0,
  ) {
    const hd = mem.alloc(nq * k * 4);
    const hi = mem.alloc(nq * k * 4);
    abi.heapInit(hd, hi, nq * k);
    for (let q = 0; q < nq; q++) abi.pqScan(cp, n, m, ksubP, tp + q * m * ksubP * 4, bias, normsP, k, hd + q * k * 4, hi + q * k * 4, idsP, idBase);
    abi.heapSortRows(hd, hi, nq, k);
    return { dist: mem.f32(hd, nq * k), ids: mem.i32(hi, nq * k) };
  }

  // -------------------------------------------------------------------------------------------------------------
  describe('pqEncode / pqDecode', () => {
    it.each(DIMS)('pqEncode is bit-identical to the reference on integers (ties to the lowest index, no padding codeword), d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          for (const n of COUNTS) {
            const x = intVectors(n, d, 70000 + d * 1000 + m * 10 + n);
            const cb = codebook(d, m, ksub, 71000 + d * 1000 + m * 10 + ksub, 'int', true);
            const op = mem.alloc(n * m);
            abi.pqEncode(mem.put(x), n, d, m, cb.ksubP, cb.ctp, cb.cnp, op);
            const want = new Uint8Array(n * m);
            RQ.pqEncode(x, n, d, m, cb.ksubP, cb.centT, cb.cnorm, want);
            const got = mem.u8(op, n * m);
            expect(exactMismatch(got, want, `pqEncode d=${d} m=${m} ksub=${ksub} n=${n}`)).toBeNull();
            expect(got.every((c) => c < ksub), `padding codeword chosen, d=${d} m=${m} ksub=${ksub}`).toBe(true);
          }
        }
      }
    });

    it.each(DIMS)('pqEncode on floats picks a codeword whose true distance is the minimum within 1e-5, d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          const n = 13;
          const x = floatVectors(n, d, 72000 + d * 1000 + m, 1, 0.25);
          const cb = codebook(d, m, ksub, 73000 + d * 1000 + m * 10 + ksub, 'float', false, 1.5);
          const op = mem.alloc(n * m);
          abi.pqEncode(mem.put(x), n, d, m, cb.ksubP, cb.ctp, cb.cnp, op);
          const got = mem.u8(op, n * m);
          const dsub = cb.dsub;
          const td = new Float64Array(ksub);
          let bad: string | null = null;
          for (let i = 0; i < n && !bad; i++) {
            for (let j = 0; j < m && !bad; j++) {
              const c = got[i * m + j];
              const what = `pqEncode float d=${d} m=${m} ksub=${ksub} vector ${i} sub ${j}: code ${c}`;
              if (c >= ksub) {
                bad = `${what} is a padding codeword`;
                break;
              }
              const xs = x.subarray(i * d + j * dsub, i * d + (j + 1) * dsub);
              for (let o = 0; o < ksub; o++) td[o] = RD.l2sq64(xs, 0, cb.cb, j * ksub + o, dsub); // codeword (j, o) is row j * ksub + o
              const b = argmin(td, ksub);
              const scale = RD.dot64(xs, 0, xs, 0, dsub) + cb.cnorm[j * cb.ksubP + c] + cb.cnorm[j * cb.ksubP + b];
              if (!(td[c] - td[b] <= REL_TOL * scale)) bad = `${what} at distance ${td[c]}, codeword ${b} at ${td[b]} (allowed ${REL_TOL * scale})`;
            }
          }
          expect(bad).toBeNull();
        }
      }
    });

    it.each(DIMS)('pqEncode of vectors made of integer codewords: codes name the lowest equal codeword, decode gives x bit for bit, d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          const n = 13;
          const cb = codebook(d, m, ksub, 74000 + d * 1000 + m * 10 + ksub, 'int', true);
          const r = new TestRng(75000 + d * 1000 + m * 10 + ksub);
          // vector 0 is made of the highest copy of every duplicated pair that ends in ksub - 1 (a copy of codeword 0)
          const src = Uint8Array.from({ length: n * m }, (_, e) => (e < m ? ksub - 1 : r.int(0, ksub - 1)));
          const x = new Float32Array(n * d);
          const expected = new Uint8Array(n * m);
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < m; j++) {
              const s = codeword(cb, ksub, j, src[i * m + j]);
              x.set(s, i * d + j * cb.dsub);
              // the lowest index holding the same vector
              let low = 0;
              while (!codeword(cb, ksub, j, low).every((v, t) => v === s[t])) low++;
              expected[i * m + j] = low;
            }
          }
          const op = mem.alloc(n * m);
          abi.pqEncode(mem.put(x), n, d, m, cb.ksubP, cb.ctp, cb.cnp, op);
          const got = mem.u8(op, n * m);
          const what = `exact encode d=${d} m=${m} ksub=${ksub}`;
          expect(exactMismatch(got, expected, what)).toBeNull();
          for (let j = 0; j < m; j++) expect(got[j], `${what}: a copy of codeword 0 must code as 0`).toBe(0);
          const want = new Uint8Array(n * m);
          RQ.pqEncode(x, n, d, m, cb.ksubP, cb.centT, cb.cnorm, want);
          expect(exactMismatch(want, expected, `reference ${what}`)).toBeNull();
          const dp = mem.alloc(n * d * 4);
          abi.pqDecode(op, n, d, m, cb.ksubP, cb.ctp, dp);
          expect(exactMismatch(mem.f32(dp, n * d), x, `decode ${what}`)).toBeNull();
        }
      }
    });

    it.each([1, 4, 7, 16, 33, 100, 128])('pqEncode of vectors made of float codewords decodes them bit for bit (no near-ties), d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          const n = 13;
          const cb = codebook(d, m, ksub, 76000 + d * 1000 + m * 10 + ksub, 'float', true, 1, 0.5);
          const r = new TestRng(77000 + d * 1000 + m * 10 + ksub);
          const src = Uint8Array.from({ length: n * m }, () => r.int(0, ksub - 1));
          const x = new Float32Array(n * d);
          for (let e = 0; e < n * m; e++) x.set(codeword(cb, ksub, e % m, src[e]), Math.floor(e / m) * d + (e % m) * cb.dsub);
          const op = mem.alloc(n * m);
          abi.pqEncode(mem.put(x), n, d, m, cb.ksubP, cb.ctp, cb.cnp, op);
          const got = mem.u8(op, n * m);
          const dp = mem.alloc(n * d * 4);
          abi.pqDecode(op, n, d, m, cb.ksubP, cb.ctp, dp);
          const dec = mem.f32(dp, n * d);
          let checked = 0;
          let bad: string | null = null;
          for (let e = 0; e < n * m && !bad; e++) {
            const j = e % m;
            const s = codeword(cb, ksub, j, src[e]);
            const sn = RD.dot64(s, 0, s, 0, cb.dsub);
            // only where the score of every other distinct codeword c exceeds that of s (by ||c - s||^2) by more than
            // a float32 error bound of the two scores, (dsub + 3) u (|score_s| + |score_c|) with u = 2^-24, doubled
            let clear = true;
            let low = -1;
            for (let o = 0; o < ksub; o++) {
              const c = j * ksub + o; // row of codeword (j, o) in cb.cb
              const gap = RD.l2sq64(s, 0, cb.cb, c, cb.dsub);
              const scales = 3 * sn + RD.dot64(cb.cb, c, cb.cb, c, cb.dsub) + 2 * RD.absDot64(s, 0, cb.cb, c, cb.dsub);
              const bound = 2 * (cb.dsub + 3) * 2 ** -24 * scales;
              if (gap === 0) {
                if (low < 0) low = o;
              } else if (gap <= bound) clear = false;
            }
            if (!clear) continue;
            checked++;
            const what = `float exact encode d=${d} m=${m} ksub=${ksub} element ${e}`;
            if (got[e] !== low) bad = `${what}: code ${got[e]}, expected ${low}`;
            const off = Math.floor(e / m) * d + j * cb.dsub;
            bad ??= exactMismatch(dec.subarray(off, off + cb.dsub), s, `decode ${what}`);
          }
          expect(bad).toBeNull();
          expect(checked).toBeGreaterThan((n * m) / 2);
        }
      }
    });

    it('pqEncode never picks a padding codeword, even where a zero codeword would be nearest', () => {
      // codewords far from the origin, data near it: the zero padding codewords are nearest, +Infinity norms exclude them
      for (const [d, m] of [[4, 1], [8, 4], [17, 17], [64, 8]]) {
        const n = 7;
        const x = intVectors(n, d, 78000 + d, -1, 1);
        for (const kind of ['int', 'float'] as const) {
          const cb = codebook(d, m, 2, 79000 + d, kind, false, 1, 20);
          // integers pushed out to [20, 28] and [-28, -21]
          if (kind === 'int') for (let e = 0; e < cb.cb.length; e++) cb.cb[e] = cb.cb[e] >= 0 ? cb.cb[e] + 20 : cb.cb[e] - 20;
          const t = RQ.transposeCodebook(cb.cb, m, 2, d / m);
          const op = mem.alloc(n * m);
          abi.pqEncode(mem.put(x), n, d, m, 4, mem.put(t.centT), mem.put(t.cnorm), op);
          const got = mem.u8(op, n * m);
          const want = new Uint8Array(n * m);
          RQ.pqEncode(x, n, d, m, 4, t.centT, t.cnorm, want);
          expect(exactMismatch(got, want, `padding ${kind} d=${d} m=${m}`)).toBeNull();
          expect(got.every((c) => c < 2)).toBe(true);
          // the premise: with a zero norm instead of +Infinity, the padding codeword 2 would have won
          const zeroed = t.cnorm.map((v) => (v === Infinity ? 0 : v));
          RQ.pqEncode(x, n, d, m, 4, t.centT, zeroed, want);
          expect(want.every((c) => c === 2)).toBe(true);
        }
      }
    });

    it.each(DIMS)('pqDecode copies the named codewords, bit for bit, d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          for (const n of COUNTS) {
            const cb = codebook(d, m, ksub, 80000 + d * 1000 + m * 10 + ksub, 'float', false, 3, -1);
            const codes = randomCodes(n, m, ksub, 81000 + d * 100 + m + n);
            if (n > 1) codes.fill(ksub - 1, m, 2 * m); // the last codeword of every sub-space
            const dp = mem.alloc(n * d * 4);
            abi.pqDecode(mem.put(codes), n, d, m, cb.ksubP, cb.ctp, dp);
            const want = new Float32Array(n * d);
            RQ.pqDecode(codes, n, d, m, cb.ksubP, cb.centT, want);
            expect(exactMismatch(mem.f32(dp, n * d), want, `pqDecode d=${d} m=${m} ksub=${ksub} n=${n}`)).toBeNull();
          }
        }
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('pqTables / addTables', () => {
    const MODES: [0 | 1 | 2, number][] = [[0, 1], [1, 1], [1, -1], [1, -2], [2, 1], [2, -2], [2, 2]];

    it.each(DIMS)('pqTables modes 0, 1, 2 (scales 1, -1, -2, 2) are bit-identical on integers, padding entries included, d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          for (const nq of [3]) {
            const q = intVectors(nq, d, 82000 + d * 100 + m + nq);
            const cb = codebook(d, m, ksub, 83000 + d * 1000 + m * 10 + ksub, 'int');
            const qp = mem.put(q);
            const len = nq * m * cb.ksubP;
            for (const [mode, scale] of MODES) {
              const op = mem.alloc(len * 4);
              abi.pqTables(qp, nq, d, m, cb.ksubP, cb.ctp, cb.cnp, mode, scale, op);
              const want = new Float32Array(len);
              RQ.pqTables(q, nq, d, m, cb.ksubP, cb.centT, cb.cnorm, mode, scale, want);
              expect(exactMismatch(mem.f32(op, len), want, `pqTables mode ${mode} scale ${scale} d=${d} m=${m} ksub=${ksub} nq=${nq}`)).toBeNull();
            }
          }
        }
      }
    });

    it.each(DIMS)('pqTables modes 0, 1, 2 agree within 1e-5 on floats, d = %i', (d) => {
      for (const m of msFor(d)) {
        for (const ksub of KSUBS) {
          const nq = 3;
          const q = floatVectors(nq, d, 84000 + d * 100 + m, 2, 0.5);
          const cb = codebook(d, m, ksub, 85000 + d * 1000 + m * 10 + ksub, 'float', false, 1.5, -0.25);
          const qp = mem.put(q);
          const len = nq * m * cb.ksubP;
          // error scales: mode 0 and mode 1 with scale 1 computed once; the others follow (see RQ.tableScale)
          const sc0 = new Float64Array(len);
          const sc1 = new Float64Array(len);
          for (let i = 0; i < nq; i++) {
            for (let j = 0; j < m; j++) {
              for (let c = 0; c < cb.ksubP; c++) {
                sc0[(i * m + j) * cb.ksubP + c] = RQ.tableScale(q, i, d, m, cb.ksubP, cb.centT, cb.cnorm, 0, 1, j, c);
                sc1[(i * m + j) * cb.ksubP + c] = RQ.tableScale(q, i, d, m, cb.ksubP, cb.centT, cb.cnorm, 1, 1, j, c);
              }
            }
          }
          for (const [mode, scale] of MODES) {
            const op = mem.alloc(len * 4);
            abi.pqTables(qp, nq, d, m, cb.ksubP, cb.ctp, cb.cnp, mode, scale, op);
            const want = new Float32Array(len);
            RQ.pqTables(q, nq, d, m, cb.ksubP, cb.centT, cb.cnorm, mode, scale, want);
            const sc = mode === 0 ? sc0 : sc1.map((v, e) => Math.abs(scale) * v + (mode === 2 ? Math.abs(cb.cnorm[e % (m * cb.ksubP)]) : 0));
            expect(tolMismatch(mem.f32(op, len), want, sc, `pqTables mode ${mode} scale ${scale} d=${d} m=${m} ksub=${ksub}`)).toBeNull();
          }
        }
      }
    });

    it('pqTables mode 0 is the difference form: accurate for a query next to a codeword far from the origin', () => {
      // ||q||^2 - 2<q,c> + ||c||^2 would lose everything to cancellation here (norms ~ 1e4 * dsub, distances ~ 1e-6 * dsub)
      for (const [d, m] of [[16, 1], [16, 4], [16, 16], [100, 25]]) {
        const ksub = 16;
        const cb = codebook(d, m, ksub, 86000 + d + m, 'float', false, 1, 100);
        const r = new TestRng(87000 + d + m);
        const src = Uint8Array.from({ length: m }, () => r.int(0, ksub - 1));
        const q = new Float32Array(d);
        for (let j = 0; j < m; j++) {
          const s = codeword(cb, ksub, j, src[j]);
          for (let t = 0; t < cb.dsub; t++) q[j * cb.dsub + t] = s[t] + 1e-3 * r.gauss();
        }
        const op = mem.alloc(m * cb.ksubP * 4);
        abi.pqTables(mem.put(q), 1, d, m, cb.ksubP, cb.ctp, cb.cnp, 0, 1, op);
        const got = mem.f32(op, m * cb.ksubP);
        for (let j = 0; j < m; j++) {
          const truth = RD.l2sq64(q.subarray(j * cb.dsub, (j + 1) * cb.dsub), 0, codeword(cb, ksub, j, src[j]), 0, cb.dsub);
          expect(truth).toBeGreaterThan(0);
          expect(Math.abs(got[j * cb.ksubP + src[j]] - truth), `d=${d} m=${m} sub ${j}`).toBeLessThanOrEqual(REL_TOL * truth);
        }
      }
    });

    it('addTables is the float32 sum, element by element, for counts that are multiples of 4', () => {
      for (const count of [4, 8, 12, 36, 64, 1028, 100 * 256]) {
        const a = floatVectors(count, 1, 88000 + count, 1e3, 5);
        const b = floatVectors(count, 1, 89000 + count, 1e-2, -1);
        const op = mem.alloc(count * 4);
        abi.addTables(mem.put(a), mem.put(b), count, op);
        const want = new Float32Array(count);
        RQ.addTables(a, b, count, want);
        expect(exactMismatch(mem.f32(op, count), want, `addTables count=${count}`)).toBeNull();
        // the premise: a float32 sum that is not exact
        expect(want.some((v, i) => v !== a[i] + b[i])).toBe(true);
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('pqScan / pqDistances', () => {
    it.each(SCAN_MS)('pqDistances is bit-identical to the reference on integer tables, with and without bias, m = %i', (m) => {
      for (const ksub of KSUBS) {
        for (const n of [1, 3, 7, 13, 101]) {
          const t = randomTables(1, m, ksub, 90000 + m * 100 + ksub, 'int', -8, 8);
          const codes = randomCodes(n, m, ksub, 91000 + m * 100 + n);
          const ksubP = RQ.ksubPadded(ksub);
          const cp = mem.put(codes);
          const tp = mem.put(t);
          for (const bias of [0, 2.5, -7]) {
            const op = mem.alloc(n * 4);
            abi.pqDistances(cp, n, m, ksubP, tp, bias, op);
            const want = new Float32Array(n);
            RQ.pqDistances(codes, n, m, ksubP, t, bias, want);
            expect(exactMismatch(mem.f32(op, n), want, `pqDistances m=${m} ksub=${ksub} n=${n} bias=${bias}`)).toBeNull();
          }
        }
      }
    });

    it.each(SCAN_MS)('pqScan top-k equals the reference on integer tables (ties to the lower id; ids from idBase or an array; k = 1, 5, n + 3; with and without per-code norms), m = %i', (m) => {
      const nq = 2;
      for (const ksub of KSUBS) {
        for (const n of [1, 7, 13, 101]) {
          // a narrow range of table values makes many exact ties
          const t = randomTables(nq, m, ksub, 92000 + m * 100 + ksub, 'int', 0, m < 4 ? 8 : 2);
          const codes = randomCodes(n, m, ksub, 93000 + m * 100 + n);
          const ksubP = RQ.ksubPadded(ksub);
          const cp = mem.put(codes);
          const tp = mem.put(t);
          // ids in no particular order: ties between later (smaller) and earlier (larger) ids are both seen
          const r = new TestRng(94000 + m + n);
          const ids = Int32Array.from(r.permutation(n), (v) => 3 * v + 17);
          const idsP = mem.put(ids);
          // integer per-code norms in a range that reorders codes (and makes more ties)
          const norms = Float32Array.from({ length: n }, () => r.int(-3, 3));
          const normsP = mem.put(norms);
          // every k with every id source, the bias alternating, each with and without norms
          const cases: [number, boolean, number, number, boolean][] = [];
          for (const k of [1, 5, n + 3]) {
            for (const [useIds, idBase] of [[false, 0], [false, 1000], [true, 0]] as const) {
              for (const useNorms of [false, true]) cases.push([k, useIds, idBase, cases.length % 4 < 2 ? -2.5 : 0, useNorms]);
            }
          }
          for (const [k, useIds, idBase, bias, useNorms] of cases) {
            const got = kernelScan(cp, n, m, ksubP, tp, nq, bias, k, useIds ? idsP : 0, idBase, useNorms ? normsP : 0);
            const what = `pqScan m=${m} ksub=${ksub} n=${n} k=${k} bias=${bias} ${useIds ? 'ids' : `idBase=${idBase}`} norms ${useNorms}`;
            for (let q = 0; q < nq; q++) {
              const want = RQ.pqScan(codes, n, m, ksubP, t.subarray(q * m * ksubP, (q + 1) * m * ksubP), bias, k, useIds ? ids : null, idBase, useNorms ? norms : null);
              expect(exactMismatch(got.ids.subarray(q * k, (q + 1) * k), want.ids, `${what} q=${q} ids`)).toBeNull();
              expect(exactMismatch(got.dist.subarray(q * k, (q + 1) * k), want.dist, `${what} q=${q} dist`)).toBeNull();
              if (k > n) {
                // slots no code reached stay empty
                const tail = Array.from(got.ids.subarray(q * k + n, (q + 1) * k)).concat(Array.from(got.dist.subarray(q * k + n, (q + 1) * k)));
                expect(tail, what).toEqual([...new Array(k - n).fill(-1), ...new Array(k - n).fill(Infinity)]);
              }
            }
          }
        }
      }
    });

    it.each([1, 2, 3, 4, 5, 7, 8, 10, 12, 16, 17, 20, 32, 33, 64])('pqScan4 (four queries over interleaved tables) gives the bits of four pqScan calls, m = %i (a tail of m % 4 codes too)', (m) => {
      for (const kind of ['int', 'float'] as const) {
        for (const n of [1, 7, 101]) {
          for (const k of [1, 5, n + 3]) {
            const t = randomTables(4, m, 256, 97000 + m * 10 + n, kind, 0, 3);
            const codes = randomCodes(n, m, 256, 98000 + m * 10 + n);
            const cp = mem.put(codes);
            const tp = mem.put(t);
            const t4 = mem.alloc(4 * m * 256 * 4);
            abi.pqInterleave4(tp, m * 256, t4);
            // the interleaved layout: entry (j, c) of query q at ((j * 256 + c) * 4 + q)
            const il = mem.f32(t4, 4 * m * 256);
            for (let e = 0; e < m * 256; e += 97) for (let q = 0; q < 4; q++) expect(Object.is(il[e * 4 + q], t[q * m * 256 + e])).toBe(true);
            const hd = mem.alloc(4 * k * 4);
            const hi = mem.alloc(4 * k * 4);
            abi.heapInit(hd, hi, 4 * k);
            abi.pqScan4(cp, n, m, t4, k, hd, hi, 500);
            abi.heapSortRows(hd, hi, 4, k);
            const want = kernelScan(cp, n, m, 256, tp, 4, 0, k, 0, 500);
            const what = `pqScan4 ${kind} m=${m} n=${n} k=${k}`;
            expect(exactMismatch(mem.i32(hi, 4 * k), want.ids, `${what} ids`)).toBeNull();
            expect(exactMismatch(mem.f32(hd, 4 * k), want.dist, `${what} dist`)).toBeNull();
          }
        }
      }
    });

    it.each([1, 2, 3, 4, 5, 7, 8, 10, 12, 16, 17, 20, 32, 33, 64])('pqDistances4 (pqScan4\'s sums) writes f32[4][n], each query the sums pqDistances writes (the same bits), m = %i', (m) => {
      for (const kind of ['int', 'float'] as const) {
        for (const n of [1, 7, 101]) {
          const t = randomTables(4, m, 256, 99000 + m * 10 + n, kind, 0, 3);
          const cp = mem.put(randomCodes(n, m, 256, 99500 + m * 10 + n));
          const tp = mem.put(t);
          const t4 = mem.alloc(4 * m * 256 * 4);
          abi.pqInterleave4(tp, m * 256, t4);
          const out = mem.alloc(4 * n * 4);
          abi.pqDistances4(cp, n, m, t4, out);
          const got = mem.f32(out, 4 * n).slice();
          for (let q = 0; q < 4; q++) {
            const dp = mem.alloc(n * 4);
            abi.pqDistances(cp, n, m, 256, tp + q * m * 256 * 4, 0, dp);
            expect(exactMismatch(got.subarray(q * n, (q + 1) * n), mem.f32(dp, n), `pqDistances4 ${kind} m=${m} n=${n} q=${q}`)).toBeNull();
          }
        }
      }
    });

    it.each(SCAN_MS)('pqScan on float tables: the exact top-k of pqDistances\' sums, within 1e-5 of the reference, m = %i', (m) => {
      let separatedSeen = 0;
      for (const ksub of KSUBS) {
        for (const n of [7, 13, 101]) {
          const t = randomTables(1, m, ksub, 95000 + m * 100 + ksub, 'float');
          const codes = randomCodes(n, m, ksub, 96000 + m * 100 + n);
          const ksubP = RQ.ksubPadded(ksub);
          const cp = mem.put(codes);
          const tp = mem.put(t);
          const r = new TestRng(97000 + m + n);
          const ids = Int32Array.from(r.permutation(n), (v) => 5 * v + 1);
          const idsP = mem.put(ids);
          const bias = 1.25;
          // the kernel's sums against the float64 reference
          const dp = mem.alloc(n * 4);
          abi.pqDistances(cp, n, m, ksubP, tp, bias, dp);
          const kd = mem.f32(dp, n);
          const ref = new Float32Array(n);
          RQ.pqDistances(codes, n, m, ksubP, t, bias, ref);
          const sc = Float64Array.from({ length: n }, (_, i) => RQ.adcScale(codes, i, m, ksubP, t, bias));
          expect(tolMismatch(kd, ref, sc, `pqDistances float m=${m} ksub=${ksub} n=${n}`)).toBeNull();
          const tolAll = REL_TOL * Math.max(...sc);
          const full = RT.topk(ref, n, n, ids);
          for (const k of [1, 5, n, n + 2]) {
            const got = kernelScan(cp, n, m, ksubP, tp, 1, bias, k, idsP, 0);
            const what = `pqScan float m=${m} ksub=${ksub} n=${n} k=${k}`;
            // exact: pqScan's distances are pqDistances' sums, bit for bit, selected and ordered on (distance, id)
            const exact = RT.topk(kd, n, k, ids);
            expect(exactMismatch(got.ids, exact.ids, `${what} ids vs pqDistances`)).toBeNull();
            expect(exactMismatch(got.dist, exact.dist, `${what} dist vs pqDistances`)).toBeNull();
            // against the reference: distances within tolerance, ids equal where the reference distances are well apart
            let bad: string | null = null;
            for (let j = 0; j < Math.min(k, n) && !bad; j++) {
              if (!(Math.abs(got.dist[j] - full.dist[j]) <= tolAll)) {
                bad = `${what} rank ${j}: distance ${got.dist[j]}, reference ${full.dist[j]} (allowed ${tolAll})`;
              }
              const apart = (j === 0 || full.dist[j] - full.dist[j - 1] > 2 * tolAll) && (j + 1 >= n || full.dist[j + 1] - full.dist[j] > 2 * tolAll);
              if (!apart) continue;
              separatedSeen++;
              if (got.ids[j] !== full.ids[j]) bad ??= `${what} rank ${j}: id ${got.ids[j]}, reference ${full.ids[j]} (well apart)`;
            }
            expect(bad).toBeNull();
          }
        }
      }
      // not vacuous (with m = 1 and ksub = 2 every distance is one of two values: no rank is apart)
      expect(separatedSeen).toBeGreaterThan(20);
    });

    it.each(SCAN_MS)('pqDistances and pqScan give the same float sums for every code (k = n), m = %i', (m) => {
      for (const ksub of [4, 256]) {
        const n = 37;
        const t = randomTables(1, m, ksub, 98000 + m * 100 + ksub, 'float');
        const codes = randomCodes(n, m, ksub, 99000 + m * 100 + ksub);
        const ksubP = RQ.ksubPadded(ksub);
        const cp = mem.put(codes);
        const tp = mem.put(t);
        for (const bias of [0, -3.75]) {
          const dp = mem.alloc(n * 4);
          abi.pqDistances(cp, n, m, ksubP, tp, bias, dp);
          const kd = mem.f32(dp, n);
          const idBase = 50;
          const got = kernelScan(cp, n, m, ksubP, tp, 1, bias, n, 0, idBase);
          // every code once, with the distance pqDistances gives it
          const order = Array.from(got.ids, (id) => id - idBase);
          expect(order.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(exactMismatch(got.dist, order.map((i) => kd[i]), `m=${m} ksub=${ksub} bias=${bias} scan vs pqDistances`)).toBeNull();
        }
      }
    });

    it.each([1, 3, 8, 17])('two pqScans into the same heaps with idBase merge like one scan (IVF lists), m = %i', (m) => {
      const ksub = 16;
      const ksubP = 16;
      const nq = 3;
      for (const [nA, nB] of [[13, 7], [1, 33], [33, 1], [8, 9]]) {
        const t = randomTables(nq, m, ksub, 100000 + m + nA, 'int', 0, 3);
        const a = randomCodes(nA, m, ksub, 101000 + m + nA);
        const b = randomCodes(nB, m, ksub, 102000 + m + nB);
        const all = new Uint8Array((nA + nB) * m);
        all.set(a);
        all.set(b, nA * m);
        const tp = mem.put(t);
        const ap = mem.put(a);
        const bp = mem.put(b);
        for (const k of [1, 5, nA + nB + 2]) {
          const hd = mem.alloc(nq * k * 4);
          const hi = mem.alloc(nq * k * 4);
          abi.heapInit(hd, hi, nq * k);
          const idBase = 200;
          for (let q = 0; q < nq; q++) {
            const tq = tp + q * m * ksubP * 4;
            abi.pqScan(ap, nA, m, ksubP, tq, 0.5, 0, k, hd + q * k * 4, hi + q * k * 4, 0, idBase);
            abi.pqScan(bp, nB, m, ksubP, tq, 0.5, 0, k, hd + q * k * 4, hi + q * k * 4, 0, idBase + nA);
          }
          abi.heapSortRows(hd, hi, nq, k);
          const gotI = mem.i32(hi, nq * k);
          const gotD = mem.f32(hd, nq * k);
          for (let q = 0; q < nq; q++) {
            const want = RQ.pqScan(all, nA + nB, m, ksubP, t.subarray(q * m * ksubP, (q + 1) * m * ksubP), 0.5, k, null, idBase);
            const what = `merge m=${m} ${nA}+${nB} k=${k} q=${q}`;
            expect(exactMismatch(gotI.subarray(q * k, (q + 1) * k), want.ids, `${what} ids`)).toBeNull();
            expect(exactMismatch(gotD.subarray(q * k, (q + 1) * k), want.dist, `${what} dist`)).toBeNull();
          }
        }
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('pqPack / pqUnpack', () => {
    const NBITS = [1, 2, 3, 4, 5, 6, 7, 8];

    it.each(NBITS)('pqPack writes the reference LSB-first bit stream, n * codeSize bytes exactly; pqUnpack inverts it, nbits = %i', (nbits) => {
      for (let m = 1; m <= 17; m++) {
        for (const n of [1, 3, 6]) {
          const cs = RQ.codeSize(m, nbits);
          const codes = randomCodes(n, m, 1 << nbits, 103000 + nbits * 100 + m * 10 + n);
          codes.fill((1 << nbits) - 1, 0, m); // vector 0: every bit of every code set
          if (n > 1) codes.fill(0, m, 2 * m); // vector 1: none
          const what = `nbits=${nbits} m=${m} n=${n} (codeSize ${cs})`;
          const mark = mem.count;
          const pp = mem.alloc(n * cs);
          abi.pqPack(mem.put(codes), n, m, nbits, pp);
          const want = new Uint8Array(n * cs);
          RQ.pqPack(codes, n, m, nbits, want);
          const packed = mem.u8(pp, n * cs);
          expect(exactMismatch(packed, want, `pqPack ${what}`)).toBeNull();
          // the reference is what the layout says: code j of vector i at bits [j * nbits, (j + 1) * nbits) of its bytes
          const back = new Uint8Array(n * m);
          RQ.pqUnpack(want, n, m, nbits, back);
          expect(exactMismatch(back, codes, `reference round trip ${what}`)).toBeNull();
          expect(want[cs - 1], `last byte of vector 0 ${what}`).toBe((m * nbits) % 8 === 0 ? 255 : (1 << ((m * nbits) % 8)) - 1);

          // unpack the kernel's bytes, and the reference's bytes (so that unpack does not depend on pack)
          const up = mem.alloc(n * m);
          abi.pqUnpack(pp, n, m, nbits, up);
          expect(exactMismatch(mem.u8(up, n * m), codes, `pqUnpack(pqPack) ${what}`)).toBeNull();
          const up2 = mem.alloc(n * m);
          abi.pqUnpack(mem.put(want), n, m, nbits, up2);
          expect(exactMismatch(mem.u8(up2, n * m), codes, `pqUnpack(reference) ${what}`)).toBeNull();
          expect(mem.brokenGuards(mark), what).toEqual([]);
        }
      }
    });

    it.each(NBITS)('pqUnpack ignores the unused bits after the last code of each vector, nbits = %i', (nbits) => {
      for (let m = 1; m <= 17; m++) {
        const used = (m * nbits) % 8;
        if (used === 0) continue;
        const n = 5;
        const cs = RQ.codeSize(m, nbits);
        const codes = randomCodes(n, m, 1 << nbits, 104000 + nbits * 100 + m);
        const packed = new Uint8Array(n * cs);
        RQ.pqPack(codes, n, m, nbits, packed);
        for (let i = 0; i < n; i++) packed[i * cs + cs - 1] |= 0xff << used;
        const up = mem.alloc(n * m);
        abi.pqUnpack(mem.put(packed), n, m, nbits, up);
        expect(exactMismatch(mem.u8(up, n * m), codes, `nbits=${nbits} m=${m}`)).toBeNull();
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('composed', () => {
    it.each([
      // d, m, ksub, nbits
      [16, 4, 16, 4],
      [33, 11, 4, 2],
      [100, 25, 256, 8],
      [15, 5, 2, 1],
      [17, 17, 16, 4],
      [64, 8, 256, 8],
      [7, 7, 4, 2],
    ])('encode, pack, unpack, tables, scan on integers: ADC distances are true distances to the decoded vectors, d = %i, m = %i, ksub = %i', (d, m, ksub, nbits) => {
      const n = 37;
      const nq = 3;
      const k = 6;
      const x = intVectors(n, d, 105000 + d);
      const q = intVectors(nq, d, 106000 + d);
      const centroid = intVectors(1, d, 107000 + d);
      const cb = codebook(d, m, ksub, 108000 + d, 'int', true);
      const ksubP = cb.ksubP;
      const cs = RQ.codeSize(m, nbits);

      const codes = mem.alloc(n * m);
      abi.pqEncode(mem.put(x), n, d, m, ksubP, cb.ctp, cb.cnp, codes);
      const packed = mem.alloc(n * cs);
      abi.pqPack(codes, n, m, nbits, packed);
      const unpacked = mem.alloc(n * m);
      abi.pqUnpack(packed, n, m, nbits, unpacked);
      const wantCodes = new Uint8Array(n * m);
      RQ.pqEncode(x, n, d, m, ksubP, cb.centT, cb.cnorm, wantCodes);
      expect(exactMismatch(mem.u8(unpacked, n * m), wantCodes, 'codes after encode, pack, unpack')).toBeNull();
      const dec = mem.alloc(n * d * 4);
      abi.pqDecode(unpacked, n, d, m, ksubP, cb.ctp, dec);
      const xhat = mem.f32(dec, n * d);

      // flat: mode 0 tables, bias 0: the distance of code i is ||q - xhat_i||^2, exactly
      const tp = mem.alloc(nq * m * ksubP * 4);
      abi.pqTables(mem.put(q), nq, d, m, ksubP, cb.ctp, cb.cnp, 0, 1, tp);
      const got = kernelScan(unpacked, n, m, ksubP, tp, nq, 0, k, 0, 0);
      for (let qi = 0; qi < nq; qi++) {
        const trueD = Array.from({ length: n }, (_, i) => RD.l2sq64(q, qi, xhat, i, d));
        const want = RT.topk(trueD, n, k);
        expect(exactMismatch(got.ids.subarray(qi * k, (qi + 1) * k), want.ids, `flat q=${qi} ids`)).toBeNull();
        expect(exactMismatch(got.dist.subarray(qi * k, (qi + 1) * k), want.dist, `flat q=${qi} dist`)).toBeNull();
      }

      // IVF-style, x = centroid + residual: precomputed ||r||^2 + 2<centroid, r> (mode 2, scale 2) plus the query's
      // -2<q, r> (mode 1, scale -2), bias ||q - centroid||^2: the distance of code i is ||q - centroid - xhat_i||^2
      const pre = mem.alloc(m * ksubP * 4);
      abi.pqTables(mem.put(centroid), 1, d, m, ksubP, cb.ctp, cb.cnp, 2, 2, pre);
      for (let qi = 0; qi < nq; qi++) {
        const qt = mem.alloc(m * ksubP * 4);
        abi.pqTables(mem.put(q.slice(qi * d, (qi + 1) * d)), 1, d, m, ksubP, cb.ctp, cb.cnp, 1, -2, qt);
        const sum = mem.alloc(m * ksubP * 4);
        abi.addTables(pre, qt, m * ksubP, sum);
        const bias = RD.l2sq64(q, qi, centroid, 0, d);
        const dp = mem.alloc(n * 4);
        abi.pqDistances(unpacked, n, m, ksubP, sum, bias, dp);
        const want = Float32Array.from({ length: n }, (_, i) => {
          let s = 0;
          for (let t = 0; t < d; t++) s += (q[qi * d + t] - centroid[t] - xhat[i * d + t]) ** 2;
          return s;
        });
        expect(exactMismatch(mem.f32(dp, n), want, `ivf q=${qi}`)).toBeNull();
      }
    });
  });
});
