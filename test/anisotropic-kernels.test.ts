// The anisotropic encoding kernel (assembly/kernels/anisotropic.ts) against the plain loops of
// test/reference/anisotropic.ts, through the raw ABI, on every build this runtime can execute.
//
// Exactness: on integer-valued vectors, directions and codebooks every table entry (score, par) is an exact integer,
// and the descent does the same float32 operations in the same order as the reference (w * (P * P) is never fused),
// so the codes must be bit-identical, ties included. On Gaussian floats the tables carry rounding error, so a near-tie
// can go either way: there the codes are judged by their float64 anisotropic loss: never above the nearest-codeword
// codes' loss, within 1e-4 of the reference codes' loss on average, and a local minimum (no single sub-code change
// lowers the loss of the first 8 vectors beyond rounding) when the descent may run until nothing changes.
//
// Shapes: d over odd and even sizes (every dsub from 1 up, m % 4 != 0), ksub 2 / 4 / 16 / 256 (padding codewords at
// ksub = 2), vector counts not multiples of 4. Guard zones after every buffer must come back untouched.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { floatVectors, intVectors } from './helpers/data.js';
import { exactMismatch, loadBuilds, Mem } from './helpers/wasm.js';
import * as RA from './reference/anisotropic.js';
import * as RQ from './reference/pq.js';

const DIMS = [1, 2, 3, 5, 7, 8, 15, 16, 17, 33, 64, 100];
const KSUBS = [2, 4, 16, 256];

/** A few m for dimension d: 1, d, and divisors up to 17. */
function msFor(d: number): number[] {
  const ms = new Set<number>([1, d]);
  for (const m of [2, 3, 4, 5, 8, 11, 16, 17]) if (m <= d && d % m === 0) ms.add(m);
  return [...ms];
}

const builds = await loadBuilds('anisotropic-kernels.test');

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'anisotropic-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  function codebook(d: number, m: number, ksub: number, seed: number, kind: 'int' | 'float') {
    const dsub = d / m;
    const cb = kind === 'int' ? intVectors(m * ksub, dsub, seed) : floatVectors(m * ksub, dsub, seed, 0.8);
    const { centT, cnorm, ksubP } = RQ.transposeCodebook(cb, m, ksub, dsub);
    return { cb, centT, cnorm, ksubP, dsub, ctp: mem.put(centT), cnp: mem.put(cnorm) };
  }

  function run(x: Float32Array, v: Float32Array | null, w: Float32Array, n: number, d: number, m: number, cb: ReturnType<typeof codebook>, rounds: number): Uint8Array {
    const xp = mem.put(x);
    const vp = v ? mem.put(v) : xp;
    const op = mem.alloc(n * m);
    const wk = mem.alloc(abi.ahWorkBytes(m, cb.ksubP));
    abi.ahEncode(xp, vp, mem.put(w), n, d, m, cb.ksubP, cb.ctp, cb.cnp, rounds, wk, op);
    return mem.u8(op, n * m);
  }

  function decode(codes: Uint8Array, n: number, d: number, m: number, cb: ReturnType<typeof codebook>): Float32Array {
    const out = new Float32Array(n * d);
    RQ.pqDecode(codes, n, d, m, cb.ksubP, cb.centT, out);
    return out;
  }

  it('ahWorkBytes is two tables f32[m][ksubP]', () => {
    expect(abi.ahWorkBytes(16, 256)).toBe(16 * 256 * 8);
    expect(abi.ahWorkBytes(3, 4)).toBe(96);
  });

  it.each(DIMS)('ahEncode is bit-identical to the reference on integers (x as its own direction, and separate directions), d = %i', (d) => {
    for (const m of msFor(d)) {
      for (const ksub of KSUBS) {
        for (const [n, eta, sep] of [[7, 6.23, false], [13, 2.5, true], [5, 0.4, false]] as const) {
          const seed = 90000 + d * 1000 + m * 10 + ksub + n;
          const x = intVectors(n, d, seed);
          const v = sep ? intVectors(n, d, seed + 1) : x;
          const cb = codebook(d, m, ksub, seed + 2, 'int');
          const w = RA.ahWeights(v, n, d, eta);
          const got = run(x, sep ? v : null, w, n, d, m, cb, 10);
          const want = new Uint8Array(n * m);
          RA.ahEncode(x, v, w, n, d, m, cb.ksubP, cb.centT, cb.cnorm, 10, want);
          expect(exactMismatch(got, want, `ahEncode d=${d} m=${m} ksub=${ksub} n=${n} eta=${eta}`)).toBeNull();
          expect(got.every((c) => c < ksub), 'padding codeword chosen').toBe(true);
        }
      }
    }
  });

  it.each(DIMS)('ahEncode with w = 0 or rounds = 0 gives the nearest codewords (pqEncode), d = %i', (d) => {
    for (const m of msFor(d)) {
      for (const ksub of [4, 256]) {
        const n = 9;
        const x = intVectors(n, d, 91000 + d * 100 + m);
        const cb = codebook(d, m, ksub, 92000 + d * 100 + m, 'int');
        const nearest = new Uint8Array(n * m);
        RQ.pqEncode(x, n, d, m, cb.ksubP, cb.centT, cb.cnorm, nearest);
        expect(exactMismatch(run(x, null, new Float32Array(n), n, d, m, cb, 10), nearest, 'w = 0')).toBeNull();
        expect(exactMismatch(run(x, null, RA.ahWeights(x, n, d, 6), n, d, m, cb, 0), nearest, 'rounds = 0')).toBeNull();
      }
    }
  });

  it.each(DIMS)('ahEncode on floats: loss never above the nearest codes, close to the reference, a local minimum, d = %i', (d) => {
    for (const m of msFor(d)) {
      for (const ksub of [4, 16, 256]) {
        const n = 31;
        const eta = 5;
        const x = floatVectors(n, d, 93000 + d * 100 + m + ksub, 1, 0.3);
        const cb = codebook(d, m, ksub, 94000 + d * 100 + m + ksub, 'float');
        const w = RA.ahWeights(x, n, d, eta);
        const got = run(x, null, w, n, d, m, cb, 1000);
        const want = new Uint8Array(n * m);
        RA.ahEncode(x, x, w, n, d, m, cb.ksubP, cb.centT, cb.cnorm, 1000, want);
        const nearest = new Uint8Array(n * m);
        RQ.pqEncode(x, n, d, m, cb.ksubP, cb.centT, cb.cnorm, nearest);
        const lossOf = (codes: Uint8Array, i0 = 0, cnt = n) =>
          RA.anisotropicLoss(x.subarray(i0 * d, (i0 + cnt) * d), decode(codes.subarray(i0 * m, (i0 + cnt) * m), cnt, d, m, cb), x.subarray(i0 * d, (i0 + cnt) * d), cnt, d, eta);
        const what = `d=${d} m=${m} ksub=${ksub}`;
        const lg = lossOf(got);
        const scale = lossOf(nearest) + 1e-6;
        expect(lg, `${what}: above the nearest codes`).toBeLessThanOrEqual(lossOf(nearest) + 1e-5 * scale);
        expect(Math.abs(lg - lossOf(want)), `${what}: far from the reference`).toBeLessThanOrEqual(1e-4 * scale);
        // local minimum: no single sub-code change lowers a vector's loss by more than rounding
        let bad: string | null = null;
        const trial = got.slice();
        for (let i = 0; i < 8 && !bad; i++) {
          const base = lossOf(got, i, 1);
          for (let j = 0; j < m && !bad; j++) {
            for (let c = 0; c < ksub; c++) {
              trial[i * m + j] = c;
              const l = lossOf(trial, i, 1);
              if (l < base - 1e-4 * (base + 1)) bad = `${what} vector ${i} sub ${j}: code ${c} gives ${l} < ${base}`;
            }
            trial[i * m + j] = got[i * m + j];
          }
        }
        expect(bad).toBeNull();
      }
    }
  });

  it('ahEncode: a zero direction leaves the nearest codes (w = 0 from ahWeights)', () => {
    const d = 8, m = 4, ksub = 16, n = 3;
    const x = intVectors(n, d, 95000);
    const v = new Float32Array(n * d);
    const cb = codebook(d, m, ksub, 95001, 'int');
    const w = RA.ahWeights(v, n, d, 10);
    expect(Array.from(w)).toEqual([0, 0, 0]);
    const nearest = new Uint8Array(n * m);
    RQ.pqEncode(x, n, d, m, cb.ksubP, cb.centT, cb.cnorm, nearest);
    expect(exactMismatch(run(x, v, w, n, d, m, cb, 10), nearest, 'zero direction')).toBeNull();
  });
});
