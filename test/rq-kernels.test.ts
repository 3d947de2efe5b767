// The residual-quantization kernels of assembly/kernels/rq.ts against the plain loops of test/reference/rq.ts, through
// the raw ABI, on every build this runtime can execute.
//
// Exactness: on integer-valued data (components in [-8, 8]) every score, residual and norm is an integer below 2^24,
// so the kernels must match the reference bit for bit, beam choices and tie-breaking included (many ties: few distinct
// values). On Gaussian floats, residuals, their norms and reconstructions are f32 operations in a fixed order and must
// still be bit-identical given the same choices; the choices themselves (which codewords a beam keeps) are checked by
// their true float64 scores, since near-ties may go either way with another summation order.
//
// Shapes: odd dims (1 .. 100), ksub 2 and 4 (padding codewords in the panel of 8), 16 and 256, beams 1 .. 9 including
// beams wider than the candidates of the first levels, counts that are not multiples of the scoring group.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem } from './helpers/wasm.js';
import { floatVectors, intVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';
import * as R from './reference/rq.js';

const DIMS = [1, 3, 5, 7, 15, 17, 33, 100];
const KSUBS = [2, 4, 16, 256];
const BEAMS = [1, 2, 5, 9];
const REL_TOL = 1e-5;

const builds = await loadBuilds('rq-kernels.test');

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'rq-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  function codebooks(levels: number, ksub: number, d: number, seed: number, kind: 'int' | 'float', scale = 1) {
    const cb = kind === 'int' ? intVectors(levels * ksub, d, seed) : floatVectors(levels * ksub, d, seed, scale);
    const { panels, cnorm, ksub8 } = R.packCodebooks(cb, levels, ksub, d);
    return { cb, panels, cnorm, ksub8, pp: mem.put(panels), cp: mem.put(cnorm) };
  }

  /** Runs rqEncode on x through the kernel: codes u8[n][levels] and errors f32[n]. */
  function kernelEncode(x: Float32Array, n: number, d: number, levels: number, ksub: number, beam: number, cb: ReturnType<typeof codebooks>) {
    const wp = mem.alloc(abi.rqWorkBytes(n, d, levels, ksub, beam));
    const op = mem.alloc(n * levels);
    const ep = mem.alloc(n * 4);
    abi.rqEncode(mem.put(x), n, d, levels, ksub, beam, cb.pp, cb.cp, wp, op, ep);
    return { codes: mem.u8(op, n * levels), err: mem.f32(ep, n) };
  }

  /** The int16 copy of every level (qpanelsPack on each level's panels and norms): [qp, qinfo] pointers. */
  function qcodebooks(cb: ReturnType<typeof codebooks>, levels: number, ksub: number, d: number) {
    const qpl = abi.qpanelsBytes(ksub, d);
    const qil = cb.ksub8 * 16;
    const qp = mem.alloc(levels * qpl);
    const qi = mem.alloc(levels * qil);
    for (let l = 0; l < levels; l++) abi.qpanelsPack(cb.pp + l * cb.ksub8 * d * 4, cb.cp + l * cb.ksub8 * 4, 0, ksub, d, qp + l * qpl, qi + l * qil);
    return [qp, qi];
  }

  describe('rqEncode with int16 codebooks (greedy steps through qscanPanels)', () => {
    function both(x: Float32Array, n: number, d: number, levels: number, ksub: number, beam: number, cb: ReturnType<typeof codebooks>) {
      const want = kernelEncode(x, n, d, levels, ksub, beam, cb);
      const [qp, qi] = qcodebooks(cb, levels, ksub, d);
      const wp = mem.alloc(abi.rqWorkBytes(n, d, levels, ksub, beam));
      const op = mem.alloc(n * levels);
      const ep = mem.alloc(n * 4);
      abi.rqEncode(mem.put(x), n, d, levels, ksub, beam, cb.pp, cb.cp, wp, op, ep, qp, qi);
      const got = { codes: mem.u8(op, n * levels), err: mem.f32(ep, n) };
      // without errors (errOut 0: what encode() asks for) a greedy encode skips the beams' norms: the same codes
      for (const [qpa, qia] of [[0, 0], [qp, qi]]) {
        const op0 = mem.alloc(n * levels);
        abi.rqEncode(mem.put(x), n, d, levels, ksub, beam, cb.pp, cb.cp, wp, op0, 0, qpa, qia);
        expect(exactMismatch(mem.u8(op0, n * levels), got.codes, `codes without errors d=${d} ksub=${ksub} beam=${beam} int16=${qpa !== 0}`)).toBeNull();
      }
      return { want, got };
    }

    it.each(DIMS)('gives the codes and errors of the f32 steps bit for bit (integers with ties, floats), d = %i', (d) => {
      for (const ksub of KSUBS) {
        for (const beam of [1, 3]) {
          for (const kind of ['int', 'float'] as const) {
            const levels = 3;
            const n = 70; // three groups of 32 rows, the last partial
            const x = kind === 'int' ? intVectors(n, d, 5000 + d + ksub) : floatVectors(n, d, 5100 + d + ksub);
            const cb = codebooks(levels, ksub, d, 5200 + d + ksub, kind, 0.7);
            const { want, got } = both(x, n, d, levels, ksub, beam, cb);
            const what = `${kind} d=${d} ksub=${ksub} beam=${beam}`;
            expect(exactMismatch(got.codes, want.codes, `codes ${what}`)).toBeNull();
            expect(exactMismatch(got.err, want.err, `err ${what}`)).toBeNull();
          }
        }
      }
    });

    it('a level of near-copies of one codeword (where the step drops the prefilter after 64 rows) and exactly coded rows', () => {
      const d = 16;
      const ksub = 256;
      const levels = 2;
      const n = 300;
      const rows = floatVectors(levels * ksub, d, 5300);
      // level 1: every codeword the first one nudged by a few ulps: near-ties the int16 bound cannot separate
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      const rng = new TestRng(5301);
      for (let c = 0; c < ksub; c++) {
        for (let t = 0; t < d; t++) {
          f[0] = rows[ksub * d + t];
          u[0] += rng.int(-3, 3);
          rows[(ksub + c) * d + t] = f[0];
        }
      }
      const packed = R.packCodebooks(rows, levels, ksub, d);
      const cb2 = { cb: rows, panels: packed.panels, cnorm: packed.cnorm, ksub8: packed.ksub8, pp: mem.put(packed.panels), cp: mem.put(packed.cnorm) };
      const x = floatVectors(n, d, 5302);
      // rows 0..9: level-0 codewords themselves (zero residual after level 0)
      x.set(rows.subarray(0, 10 * d));
      const { want, got } = both(x, n, d, levels, ksub, 1, cb2);
      expect(exactMismatch(got.codes, want.codes, 'codes')).toBeNull();
      expect(exactMismatch(got.err, want.err, 'err')).toBeNull();
    });
  });

  describe('rqEncode', () => {
    it.each(DIMS)('is bit-identical to the reference on integers (choices, ties, errors), d = %i', (d) => {
      for (const ksub of KSUBS) {
        for (const beam of BEAMS) {
          const levels = ksub === 256 ? 2 : 3;
          const n = d > 33 && ksub === 256 ? 7 : 37;
          const x = intVectors(n, d, 1000 + d * 10 + ksub + beam);
          const cb = codebooks(levels, ksub, d, 2000 + d * 10 + ksub, 'int');
          const got = kernelEncode(x, n, d, levels, ksub, beam, cb);
          const want = R.rqEncode(x, n, d, levels, ksub, beam, cb.panels, cb.cnorm);
          const what = `d=${d} ksub=${ksub} beam=${beam}`;
          expect(exactMismatch(got.codes, want.codes, `codes ${what}`)).toBeNull();
          expect(exactMismatch(got.err, want.err, `err ${what}`)).toBeNull();
        }
      }
    });

    it.each(DIMS)('on floats: errors are ||x - decode(codes)||^2 and close to the reference beam search, d = %i', (d) => {
      for (const ksub of [4, 16, 256]) {
        for (const beam of [1, 4]) {
          const levels = 3;
          const n = 11;
          const x = floatVectors(n, d, 3000 + d * 10 + ksub + beam, 1, 0.25);
          const cb = codebooks(levels, ksub, d, 4000 + d * 10 + ksub, 'float', 0.7);
          const got = kernelEncode(x, n, d, levels, ksub, beam, cb);
          const want = R.rqEncode(x, n, d, levels, ksub, beam, cb.panels, cb.cnorm);
          const dec = R.rqDecode(got.codes, n, levels, d, levels, ksub, cb.panels);
          for (let i = 0; i < n; i++) {
            const xn = R.l2sq64(x, i * d, new Float32Array(d), 0, d);
            const tol = REL_TOL * (xn + 3 * d) + 1e-6;
            const e = R.l2sq64(x, i * d, dec, i * d, d);
            expect(Math.abs(got.err[i] - e), `err vs decode, d=${d} ksub=${ksub} beam=${beam} i=${i}`).toBeLessThanOrEqual(tol);
            // another summation order can only flip near-ties: the final error stays within rounding of the reference's
            if (beam === 1) expect(Math.abs(got.err[i] - want.err[i]), `greedy error vs reference, i=${i}`).toBeLessThanOrEqual(tol);
          }
        }
      }
    });

    it('greedy codes are nearest codewords of the running residual (true float64 distance, 1e-5 margin)', () => {
      const d = 17, ksub = 16, levels = 4, n = 50;
      const x = floatVectors(n, d, 51, 2);
      const cb = codebooks(levels, ksub, d, 52, 'float', 1);
      const got = kernelEncode(x, n, d, levels, ksub, 1, cb);
      for (let i = 0; i < n; i++) {
        const r = Float64Array.from(x.subarray(i * d, (i + 1) * d));
        for (let l = 0; l < levels; l++) {
          const dist = (c: number) => {
            let s = 0;
            for (let t = 0; t < d; t++) s += (r[t] - cb.cb[(l * ksub + c) * d + t]) ** 2;
            return s;
          };
          let best = Infinity;
          for (let c = 0; c < ksub; c++) best = Math.min(best, dist(c));
          const c = got.codes[i * levels + l];
          expect(dist(c), `vector ${i} level ${l}`).toBeLessThanOrEqual(best + REL_TOL * (1 + best + d));
          for (let t = 0; t < d; t++) r[t] -= cb.cb[(l * ksub + c) * d + t];
        }
      }
    });

    it('a wider beam never does worse than a narrower one on the same codebooks (sum over vectors)', () => {
      const d = 15, ksub = 16, levels = 5, n = 200;
      const x = floatVectors(n, d, 61);
      const cb = codebooks(levels, ksub, d, 62, 'float', 0.6);
      let prev = Infinity;
      for (const beam of [1, 2, 4, 8, 16]) {
        const { err } = kernelEncode(x, n, d, levels, ksub, beam, cb);
        const total = err.reduce((s, v) => s + v, 0);
        expect(total, `beam ${beam}`).toBeLessThanOrEqual(prev * (1 + 1e-6));
        prev = total;
      }
    });
  });

  describe('rqBeamStep', () => {
    it.each(DIMS)('one step from a multi-beam state: kept set by true score, residuals and norms bit-exact, d = %i', (d) => {
      for (const ksub of [2, 16, 256]) {
        for (const [liveIn, beam] of [[1, 1], [1, 5], [3, 3], [4, 9], [2, 40]]) {
          const n = 9, level = 2, cstride = 5;
          const cb = codebooks(3, ksub, d, 5000 + d * 10 + ksub, 'float', 0.5);
          const r = new TestRng(6000 + d + ksub + liveIn);
          const res = floatVectors(n * liveIn, d, 7000 + d * 10 + ksub + beam);
          const rnorm = new Float32Array(n * liveIn);
          for (let i = 0; i < n * liveIn; i++) rnorm[i] = R.normSqF32(res, i * d, d);
          const codes = Uint8Array.from({ length: n * liveIn * cstride }, () => r.int(0, ksub - 1));
          const liveOut = Math.min(beam, liveIn * ksub);
          const ro = mem.alloc(n * liveOut * d * 4);
          const no = mem.alloc(n * liveOut * 4);
          const co = mem.alloc(n * liveOut * cstride);
          const wp = mem.alloc(abi.rqStepWorkBytes(ksub, beam));
          const lvl = level * cb.ksub8;
          const got = abi.rqBeamStep(
            n, d, ksub, cb.pp + lvl * d * 4, cb.cp + lvl * 4, level, liveIn, beam, cstride,
            mem.put(res), mem.put(rnorm), mem.put(codes), ro, no, co, wp,
          );
          const what = `d=${d} ksub=${ksub} liveIn=${liveIn} beam=${beam}`;
          expect(got, what).toBe(liveOut);
          const gotRes = mem.f32(ro, n * liveOut * d);
          const gotNorm = mem.f32(no, n * liveOut);
          const gotCodes = mem.u8(co, n * liveOut * cstride);
          for (let i = 0; i < n; i++) {
            // the true score of every candidate (b, c)
            const score = (b: number, c: number) => rnorm[i * liveIn + b] + cb.cnorm[lvl + c] - 2 * dotLevel(res, (i * liveIn + b) * d, cb.cb, (level * ksub + c) * d, d);
            const all: number[] = [];
            for (let b = 0; b < liveIn; b++) for (let c = 0; c < ksub; c++) all.push(score(b, c));
            all.sort((a, b) => a - b);
            const tol = REL_TOL * (Math.abs(all[all.length - 1]) + 4 * d + 1);
            const seen = new Set<string>();
            for (let p = 0; p < liveOut; p++) {
              const row = (i * liveOut + p) * cstride;
              const c = gotCodes[row + level];
              // the parent beam: the one whose codes prefix matches and whose residual minus c gives the output
              let parent = -1;
              for (let b = 0; b < liveIn && parent < 0; b++) {
                const prefix = codes.subarray((i * liveIn + b) * cstride, (i * liveIn + b) * cstride + level);
                if (!prefix.every((v, t) => v === gotCodes[row + t])) continue;
                const want = Float32Array.from({ length: d }, (_, t) => res[(i * liveIn + b) * d + t] - cb.panels[R.panelIndex(level, c, t, d, cb.ksub8)]);
                if (exactMismatch(gotRes.subarray((i * liveOut + p) * d, (i * liveOut + p + 1) * d), want, '') === null) parent = b;
              }
              expect(parent, `${what} vector ${i} beam ${p}: no parent gives this residual`).toBeGreaterThanOrEqual(0);
              expect(c < ksub).toBe(true);
              const key = `${parent},${c}`;
              expect(seen.has(key), `${what}: candidate kept twice`).toBe(false);
              seen.add(key);
              // the p-th kept is the p-th best up to rounding
              expect(Math.abs(score(parent, c) - all[p]), `${what} vector ${i} beam ${p}`).toBeLessThanOrEqual(tol);
              expect(gotNorm[i * liveOut + p]).toBe(R.normSqF32(gotRes, (i * liveOut + p) * d, d));
            }
          }
        }
      }
    });
  });

  describe('rqDecode', () => {
    it.each(DIMS)('is bit-identical to the reference on floats (f32 sums in level order), any stride, d = %i', (d) => {
      for (const ksub of KSUBS) {
        const levels = 4, n = 13, stride = 6;
        const cb = codebooks(levels, ksub, d, 8000 + d + ksub, 'float', 3);
        const r = new TestRng(9000 + d + ksub);
        const codes = Uint8Array.from({ length: n * stride }, (_, e) => (e % stride < levels ? r.int(0, ksub - 1) : 255));
        const op = mem.alloc(n * d * 4);
        abi.rqDecode(mem.put(codes), n, stride, d, levels, ksub, cb.pp, op);
        expect(exactMismatch(mem.f32(op, n * d), R.rqDecode(codes, n, stride, d, levels, ksub, cb.panels), `rqDecode d=${d} ksub=${ksub}`)).toBeNull();
      }
    });

    it('decoding the codes of vectors built as sums of integer codewords gives them back bit for bit', () => {
      for (const d of DIMS) {
        const levels = 3, ksub = 16, n = 20;
        // level codebooks at scales 64, 8, 1 with distinct integer codewords: the greedy search recovers the codes
        const cb = new Float32Array(levels * ksub * d);
        const r = new TestRng(100 + d);
        for (let l = 0; l < levels; l++) {
          const scale = [64, 8, 1][l];
          for (let c = 0; c < ksub; c++) for (let t = 0; t < d; t++) cb[(l * ksub + c) * d + t] = (t === 0 ? c - 8 : r.int(-2, 2)) * scale;
        }
        const { panels, cnorm } = R.packCodebooks(cb, levels, ksub, d);
        const src = Uint8Array.from({ length: n * levels }, () => r.int(0, ksub - 1));
        const x = R.rqDecode(src, n, levels, d, levels, ksub, panels);
        const want = R.rqEncode(x, n, d, levels, ksub, 4, panels, cnorm);
        const pp = mem.put(panels), cp = mem.put(cnorm);
        const wp = mem.alloc(abi.rqWorkBytes(n, d, levels, ksub, 4));
        const op = mem.alloc(n * levels);
        const ep = mem.alloc(n * 4);
        abi.rqEncode(mem.put(x), n, d, levels, ksub, 4, pp, cp, wp, op, ep);
        const codes = mem.u8(op, n * levels);
        expect(exactMismatch(mem.f32(ep, n), new Float32Array(n), `zero error d=${d}`)).toBeNull();
        const dp = mem.alloc(n * d * 4);
        abi.rqDecode(mem.put(codes), n, levels, d, levels, ksub, pp, dp);
        expect(exactMismatch(mem.f32(dp, n * d), x, `round trip d=${d}`)).toBeNull();
        expect(exactMismatch(codes, want.codes, `codes d=${d}`)).toBeNull();
      }
    });
  });
});

function dotLevel(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += a[ao + t] * b[bo + t];
  return s;
}
