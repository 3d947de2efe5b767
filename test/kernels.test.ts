// Every exported kernel of assembly/index.ts against the plain loops of test/reference/, through the raw ABI.
//
// Exactness: on integer-valued data (components in [-8, 8], d <= 128) every product, partial sum and norm is an
// integer below 2^24, so any summation order, and fused or unfused multiply-add, gives the exact value: results must
// be bit-identical to the reference. On Gaussian floats results must agree within 1e-5 of the magnitude of the sum
// (sum of |terms|), the scale of float32 rounding error.
//
// Dimensions cover every tail: d % 4 (v128 tail), d % 16 (16-wide unroll tail) and panels of 8 with padding. Counts on
// both sides are not multiples of 4 or 8.
//
// Every buffer handed to a kernel is followed by a guard zone that must come back untouched (no writes past the end).
//
// The suite runs against every build this runtime can execute (plain SIMD always; relaxed SIMD where supported).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem, tolMismatch, type Num } from './helpers/wasm.js';
import * as RD from './reference/distance.js';
import * as RP from './reference/panels.js';
import * as RT from './reference/topk.js';
import * as RK from './reference/kmeans.js';
import { floatVectors, intVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';

const DIMS = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 128];
const COUNTS = [1, 3, 7, 9, 13, 33];
const REL_TOL = 1e-5;

// ---------------------------------------------------------------------------------------------------------------
// Builds

const builds = await loadBuilds('kernels.test');

/** Squared L2 distance, float64, between row i of x and row j of y. */
const l2 = RD.l2sq64;

// ---------------------------------------------------------------------------------------------------------------

describe.each(builds)('$name build', ({ name, eng }) => {
  const abi = eng.abi;
  let m: Mem;
  beforeEach(() => {
    m = new Mem(eng, 'kernels.test');
  });
  afterEach(() => {
    expect(m.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    m.freeAll();
  });

  it('buildFlavor says which build this is', () => {
    expect(abi.buildFlavor()).toBe(name.endsWith('relaxed') ? 1 : 0);
  });

  it('the threads builds run on a shared memory, the others on their own', () => {
    expect(abi.memory.buffer instanceof SharedArrayBuffer).toBe(name.startsWith('threads'));
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('distance.ts', () => {
    it.each(DIMS)('l2sqOneToMany / dot (scoreRows) / normsSq are exact on integers, d = %i', (d) => {
      for (const n of COUNTS) {
        const x = intVectors(1, d, 1000 + d);
        const y = intVectors(n, d, 2000 + d * 31 + n);
        const xp = m.put(x);
        const yp = m.put(y);
        const out = m.alloc(n * 4);
        const want = new Float32Array(n);

        abi.l2sqOneToMany(xp, yp, n, d, out);
        RD.l2sqOneToMany(x, y, n, d, want);
        expect(exactMismatch(m.f32(out, n), want, `l2sq d=${d} n=${n}`)).toBeNull();

        // dot (no export of its own): scoreRows's inner-product scores, 0 - <x, y_i>
        abi.scoreRows(xp, yp, m.put(Int32Array.from({ length: n }, (_, i) => i)), n, d, 1, out);
        RD.dotOneToMany(x, y, n, d, want);
        expect(exactMismatch(m.f32(out, n), want.map((v) => 0 - v), `dot d=${d} n=${n}`)).toBeNull();

        // scoreRows's l2 (re-ranking, IVFFlat lists) over rows in another order, and -1 (no row) as +Infinity
        const perm = Int32Array.from([...Array.from({ length: n }, (_, i) => (i * 7 + 3) % n), -1]);
        const outP = m.alloc((n + 1) * 4);
        abi.scoreRows(xp, yp, m.put(perm), n + 1, d, 0, outP);
        RD.l2sqOneToMany(x, y, n, d, want);
        expect(exactMismatch(m.f32(outP, n + 1), Float32Array.from(perm, (j) => (j < 0 ? Infinity : want[j])), `scoreRows l2 d=${d} n=${n}`)).toBeNull();

        abi.normsSq(yp, n, d, out);
        RD.normsSq(y, n, d, want);
        expect(exactMismatch(m.f32(out, n), want, `normsSq d=${d} n=${n}`)).toBeNull();
      }
    });

    it.each(DIMS)('l2sqOneToMany / dot (scoreRows) / normsSq agree within 1e-5 on floats, d = %i', (d) => {
      for (const n of COUNTS) {
        const x = floatVectors(1, d, 3000 + d, 3, 0.5);
        const y = floatVectors(n, d, 4000 + d * 31 + n, 3, -0.25);
        const xp = m.put(x);
        const yp = m.put(y);
        const out = m.alloc(n * 4);
        const want = new Float32Array(n);
        const sL2 = new Float64Array(n);
        const sDot = new Float64Array(n);
        const sNorm = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          sL2[i] = RD.l2sq64(x, 0, y, i, d);
          sDot[i] = RD.absDot64(x, 0, y, i, d);
          sNorm[i] = RD.dot64(y, i, y, i, d);
        }

        abi.l2sqOneToMany(xp, yp, n, d, out);
        RD.l2sqOneToMany(x, y, n, d, want);
        expect(tolMismatch(m.f32(out, n), want, sL2, `l2sq d=${d} n=${n}`)).toBeNull();

        abi.scoreRows(xp, yp, m.put(Int32Array.from({ length: n }, (_, i) => i)), n, d, 1, out);
        RD.dotOneToMany(x, y, n, d, want);
        expect(tolMismatch(m.f32(out, n), want.map((v) => 0 - v), sDot, `dot d=${d} n=${n}`)).toBeNull();

        abi.normsSq(yp, n, d, out);
        RD.normsSq(y, n, d, want);
        expect(tolMismatch(m.f32(out, n), want, sNorm, `normsSq d=${d} n=${n}`)).toBeNull();
      }
    });

    it.each(DIMS)('normalizeRows matches the reference exactly on integers (zero rows stay zero), d = %i', (d) => {
      for (const n of COUNTS) {
        const x = intVectors(n, d, 5000 + d * 7 + n);
        if (n > 2) x.fill(0, d, 2 * d); // row 1 all zero
        const xp = m.put(x);
        abi.normalizeRows(xp, n, d);
        const want = x.slice();
        RD.normalizeRows(want, n, d);
        const got = m.f32(xp, n * d);
        expect(exactMismatch(got, want, `normalizeRows d=${d} n=${n}`)).toBeNull();
        for (let i = 0; i < n; i++) {
          const nrm = Math.sqrt(RD.dot64(got, i, got, i, d));
          const zero = x.subarray(i * d, (i + 1) * d).every((v) => v === 0);
          if (zero) expect(nrm).toBe(0);
          else expect(Math.abs(nrm - 1)).toBeLessThan(1e-6);
        }
      }
    });

    it.each(DIMS)('normalizeRows: rows of tiny norm (their float32 squares underflow) still come out unit, d = %i', (d) => {
      // (1e-40 and 1e-43: float32 subnormals, whose squares underflow even scaled once)
      const scales = [1e-17, 1e-19, 1e-21, 1e-22, 1e-23, 1e-26, 1e-30, 1e-40, 1e-43];
      const n = scales.length;
      const x = floatVectors(n, d, 6100 + d, 1).map((v, i) => v * scales[Math.floor(i / d)]);
      const xp = m.put(x);
      abi.normalizeRows(xp, n, d);
      const want = x.slice();
      RD.normalizeRows(want, n, d);
      const got = m.f32(xp, n * d);
      expect(tolMismatch(got, want, new Float64Array(n * d).fill(1), `normalizeRows tiny d=${d}`, 1e-6)).toBeNull();
      for (let i = 0; i < n; i++) {
        expect(Math.abs(Math.sqrt(RD.dot64(got, i, got, i, d)) - 1), `scale ${scales[i]}`).toBeLessThan(1e-5);
        // the direction too: each component against the float64 normalization of the input
        const nrm = Math.sqrt(RD.dot64(x, i, x, i, d));
        for (let t = 0; t < d; t++) expect(Math.abs(got[i * d + t] - x[i * d + t] / nrm)).toBeLessThan(1e-5);
      }
    });

    it.each(DIMS)('normalizeRows gives unit rows on floats, d = %i', (d) => {
      const n = 13;
      const x = floatVectors(n, d, 6000 + d, 100);
      const xp = m.put(x);
      abi.normalizeRows(xp, n, d);
      const want = x.slice();
      RD.normalizeRows(want, n, d);
      const got = m.f32(xp, n * d);
      expect(tolMismatch(got, want, new Float64Array(n * d).fill(1), `normalizeRows d=${d}`, 1e-6)).toBeNull();
      for (let i = 0; i < n; i++) expect(Math.abs(Math.sqrt(RD.dot64(got, i, got, i, d)) - 1)).toBeLessThan(1e-6);
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('panels.ts', () => {
    /** Packs x into a fresh panel buffer of `cap` vectors (garbage-filled) at position `from`; returns the pointer. */
    function packInto(x: Float32Array, n: number, d: number, cap: number, from = 0): number {
      const xp = m.put(x);
      const pp = m.alloc(cap * d * 4);
      abi.packPanels(xp, n, d, pp, from);
      return pp;
    }

    /** A reference panel buffer with the same garbage as Mem.alloc. */
    function garbagePanels(len: number): Float32Array {
      const g = new Uint8Array(len * 4).fill(0x5a);
      return new Float32Array(g.buffer);
    }

    it.each(DIMS)('packPanels lays vectors out as f32[np/8][d][8] with zero padding, d = %i', (d) => {
      for (const n of COUNTS) {
        const x = floatVectors(n, d, 7000 + d * 3 + n);
        const np = RP.padTo8(n);
        const pp = packInto(x, n, d, np);
        const want = garbagePanels(np * d);
        RP.packPanels(x, n, d, want, 0);
        expect(exactMismatch(m.f32(pp, np * d), want, `pack d=${d} n=${n}`)).toBeNull();
        // spot-check the layout itself: component t of vector i at ((i >> 3) * d + t) * 8 + (i & 7)
        const got = m.f32(pp, np * d);
        expect(got[((n - 1) >> 3) * d * 8 + (d - 1) * 8 + ((n - 1) & 7)]).toBe(x[n * d - 1]);
        for (let i = n; i < np; i++) for (let t = 0; t < d; t++) expect(got[RP.panelIndex(i, t, d)]).toBe(0);
      }
    });

    it.each(DIMS)('packPanels at a non-zero `from` keeps earlier rows and zero-pads the last panel, d = %i', (d) => {
      // [first batch, second batch]: inside one panel, ending mid-panel, crossing panels, starting on a boundary
      const cases: [number, number][] = [[3, 2], [5, 3], [7, 9], [9, 13], [8, 7], [13, 33], [1, 1]];
      for (const [n1, n2] of cases) {
        const x1 = floatVectors(n1, d, 8000 + d + n1);
        const x2 = floatVectors(n2, d, 9000 + d + n2);
        const cap = RP.padTo8(n1 + n2) + 8; // one spare panel: must stay untouched
        const pp = packInto(x1, n1, d, cap, 0);
        const x2p = m.put(x2);
        abi.packPanels(x2p, n2, d, pp, n1);
        const want = garbagePanels(cap * d);
        RP.packPanels(x1, n1, d, want, 0);
        RP.packPanels(x2, n2, d, want, n1);
        expect(exactMismatch(m.f32(pp, cap * d), want, `append d=${d} ${n1}+${n2}`)).toBeNull();
        // and the round trip sees both batches, in order
        const out = m.alloc((n1 + n2) * d * 4);
        abi.unpackPanels(pp, 0, n1 + n2, d, out);
        const all = new Float32Array((n1 + n2) * d);
        all.set(x1);
        all.set(x2, n1 * d);
        expect(exactMismatch(m.f32(out, (n1 + n2) * d), all, `unpack after append d=${d} ${n1}+${n2}`)).toBeNull();
      }
    });

    it.each(DIMS)('unpackPanels inverts packPanels, for any sub-range, d = %i', (d) => {
      const n = 33;
      const x = floatVectors(n, d, 10000 + d, 1e3);
      const pp = packInto(x, n, d, RP.padTo8(n));
      const ref = new Float32Array(RP.padTo8(n) * d);
      RP.packPanels(x, n, d, ref, 0);
      for (const [from, count] of [[0, 33], [0, 1], [5, 9], [8, 8], [31, 2], [13, 0], [32, 1]]) {
        const out = m.alloc(Math.max(count, 1) * d * 4);
        abi.unpackPanels(pp, from, count, d, out);
        const want = new Float32Array(count * d);
        RP.unpackPanels(ref, from, count, d, want);
        expect(exactMismatch(m.f32(out, count * d), want, `unpack d=${d} from=${from} count=${count}`)).toBeNull();
        expect(exactMismatch(want, x.subarray(from * d, (from + count) * d), 'reference round trip')).toBeNull();
      }
    });

    it.each(DIMS)('rangeHits lists the columns within the radius with their finished distances, n = %i', (n) => {
      const scores = floatVectors(1, n, 11000 + n, 3);
      const sp = m.put(scores);
      const ip = m.alloc(n * 4);
      const dp = m.alloc(n * 4);
      for (const [add, r, l2] of [[2.5, 2.5, true], [9, 1, true], [0, 0.3, false], [0, -5, false], [1, 100, true]] as const) {
        const cnt = abi.rangeHits(sp, n, add, r, l2 ? 1 : 0, ip, dp);
        const want = RP.rangeHits(scores, add, r, l2);
        expect(cnt, `n=${n} add=${add} r=${r} l2=${l2}`).toBe(want.idx.length);
        expect(Array.from(m.i32(ip, cnt))).toEqual(want.idx);
        expect(exactMismatch(m.f32(dp, cnt), Float32Array.from(want.dist), `rangeHits n=${n}`)).toBeNull();
      }
    });

    it.each(DIMS)('panelMoveRows keeps the listed positions in order and pads after them, words of width w = %i', (w) => {
      // kept sets: none removed, the first, the last, runs, every other, all but one, one kept, none kept
      const n = 37;
      const all = Array.from({ length: n }, (_, i) => i);
      const sets = [all, all.slice(1), all.slice(0, -1), all.filter((i) => i < 5 || i > 19), all.filter((i) => i % 2 === 1), [36], [0], []];
      for (const keepList of sets) {
        const keep = Int32Array.from(keepList);
        const cap = RP.padTo8(n) + 8; // a spare panel: must stay untouched
        const start = Int32Array.from({ length: cap * w }, (_, i) => (i * 2654435761) | 0);
        const pp = m.put(start);
        abi.panelMoveRows(pp, w, m.put(keep.length ? keep : Int32Array.of(0)), keep.length, 0x7f800000);
        const want = start.slice();
        RP.panelMoveRows(want, w, keep, 0x7f800000);
        expect(exactMismatch(m.i32(pp, cap * w), want, `panelMoveRows w=${w} kept ${keep.length}`)).toBeNull();
      }
    });

    it.each(DIMS)('panelNormsSq is exact on integers with +Infinity padding; panelZeroBias pads the same, d = %i', (d) => {
      for (const n of COUNTS) {
        const x = intVectors(n, d, 11000 + d * 5 + n);
        const np = RP.padTo8(n);
        const pp = packInto(x, n, d, np);
        const ref = new Float32Array(np * d);
        RP.packPanels(x, n, d, ref, 0);

        const bp = m.alloc(np * 4);
        abi.panelNormsSq(pp, 0, n, d, bp);
        const want = garbagePanels(np);
        RP.panelNormsSq(ref, 0, n, d, want);
        const got = m.f32(bp, np);
        expect(exactMismatch(got, want, `panelNormsSq d=${d} n=${n}`)).toBeNull();
        for (let j = n; j < np; j++) expect(got[j]).toBe(Infinity);
        for (let j = 0; j < n; j++) expect(got[j]).toBe(RD.dot64(x, j, x, j, d));

        const zp = m.alloc(np * 4);
        abi.panelZeroBias(0, n, zp);
        const wantZ = garbagePanels(np);
        RP.panelZeroBias(0, n, wantZ);
        expect(exactMismatch(m.f32(zp, np), wantZ, `panelZeroBias d=${d} n=${n}`)).toBeNull();
      }
    });

    it.each([1, 5, 16, 17, 33])('panelNormsSq / panelZeroBias on an appended range touch only its panels, d = %i', (d) => {
      for (const [from, to] of [[3, 5], [5, 13], [8, 9], [9, 33], [16, 17]]) {
        const x = intVectors(to, d, 12000 + d + from);
        const cap = RP.padTo8(to) + 8;
        const pp = packInto(x, to, d, cap);
        const ref = garbagePanels(cap * d);
        RP.packPanels(x, to, d, ref, 0);
        const bp = m.alloc(cap * 4);
        abi.panelNormsSq(pp, from, to, d, bp);
        const want = garbagePanels(cap);
        RP.panelNormsSq(ref, from, to, d, want);
        expect(exactMismatch(m.f32(bp, cap), want, `panelNormsSq d=${d} [${from}, ${to})`)).toBeNull();

        const zp = m.alloc(cap * 4);
        abi.panelZeroBias(from, to, zp);
        const wantZ = garbagePanels(cap);
        RP.panelZeroBias(from, to, wantZ);
        expect(exactMismatch(m.f32(zp, cap), wantZ, `panelZeroBias d=${d} [${from}, ${to})`)).toBeNull();
      }
    });

    /** Puts a database into panels with its bias: 'l2' (norms, alpha -2), 'ip' (zero, alpha -1), 'sim' (zero, alpha +1). */
    function database(x: Float32Array, nb: number, d: number, kind: 'l2' | 'ip' | 'sim') {
      const np = RP.padTo8(nb);
      const pp = packInto(x, nb, d, np);
      const bp = m.alloc(np * 4);
      if (kind === 'l2') abi.panelNormsSq(pp, 0, nb, d, bp);
      else abi.panelZeroBias(0, nb, bp);
      const panels = new Float32Array(np * d);
      RP.packPanels(x, nb, d, panels, 0);
      const bias = new Float32Array(np);
      if (kind === 'l2') RP.panelNormsSq(panels, 0, nb, d, bias);
      else RP.panelZeroBias(0, nb, bias);
      const alpha = kind === 'l2' ? -2 : kind === 'ip' ? -1 : 1;
      return { pp, bp, panels, bias, alpha, np };
    }

    /** scorePanels of queries q (at qp) against x packed as `kind`, and the reference's scores. */
    function scoresAndReference(q: Float32Array, qp: number, nq: number, d: number, x: Float32Array, nb: number, kind: 'l2' | 'ip' | 'sim') {
      const db = database(x, nb, d, kind);
      const op = m.alloc(nq * nb * 4);
      abi.scorePanels(qp, nq, d, db.pp, db.bp, nb, db.alpha, op);
      const want = new Float32Array(nq * nb);
      RP.scorePanels(q, nq, d, db.panels, db.bias, nb, db.alpha, want);
      return { db, got: m.f32(op, nq * nb), want };
    }

    it.each(DIMS)('scorePanels is exact on integers for every nq and nb, d = %i', (d) => {
      for (const nq of COUNTS) {
        for (const nb of [1, 7, 9, 33]) {
          const q = intVectors(nq, d, 13000 + d * 101 + nq);
          const x = intVectors(nb, d, 14000 + d * 101 + nb);
          const qp = m.put(q);
          for (const kind of ['l2', 'ip', 'sim'] as const) {
            const { got, want } = scoresAndReference(q, qp, nq, d, x, nb, kind);
            expect(exactMismatch(got, want, `scorePanels ${kind} d=${d} nq=${nq} nb=${nb}`)).toBeNull();
          }
        }
      }
    });

    it.each(DIMS)('scorePanels agrees within 1e-5 on floats, d = %i', (d) => {
      const nq = 13;
      const nb = 33;
      const q = floatVectors(nq, d, 15000 + d, 2);
      const x = floatVectors(nb, d, 16000 + d, 2, 1);
      const qp = m.put(q);
      for (const kind of ['l2', 'ip'] as const) {
        const { db, got, want } = scoresAndReference(q, qp, nq, d, x, nb, kind);
        const scale = new Float64Array(nq * nb);
        for (let i = 0; i < nq; i++) {
          for (let j = 0; j < nb; j++) scale[i * nb + j] = Math.abs(db.bias[j]) + Math.abs(db.alpha) * RD.absDot64(q, i, x, j, d);
        }
        expect(tolMismatch(got, want, scale, `scorePanels ${kind} d=${d}`)).toBeNull();
      }
    });

    /**
     * scanPanels's work buffer: with `reservoir`, the reservoirs of large k (none below 16: checked, so that the
     * tests that ask for them run them), else 0 (the heaps).
     */
    function scanWork(d: number, k: number, reservoir: boolean): number {
      const bytes = abi.scanWorkBytes(d, k);
      if (k < 16) expect(bytes).toBe(0);
      if (reservoir) expect(bytes).toBeGreaterThan(0);
      return reservoir ? m.alloc(bytes) : 0;
    }

    /** Runs the kernel scan into fresh heaps (or given ones), sorts them, returns copies. */
    function kernelKnn(qp: number, nq: number, d: number, pp: number, bp: number, nb: number, alpha: number, k: number, idBase = 0, reservoir = false) {
      const hd = m.alloc(nq * k * 4);
      const hi = m.alloc(nq * k * 4);
      abi.heapInit(hd, hi, nq * k);
      abi.scanPanels(qp, nq, d, pp, bp, nb, alpha, k, hd, hi, idBase, scanWork(d, k, reservoir));
      abi.heapSortRows(hd, hi, nq, k);
      return { dist: m.f32(hd, nq * k), ids: m.i32(hi, nq * k), hd, hi };
    }

    it.each(DIMS)('scanPanels top-k equals the full sort on (score, id), ties to the lower id, k = 1, 5, > nb, d = %i', (d) => {
      // a narrow value range makes many exact ties
      const hi = d <= 4 ? 8 : 2;
      for (const nq of COUNTS) {
        for (const nb of [1, 7, 9, 33]) {
          const q = intVectors(nq, d, 17000 + d * 13 + nq, -hi, hi);
          const x = intVectors(nb, d, 18000 + d * 13 + nb, -hi, hi);
          const qp = m.put(q);
          for (const kind of ['l2', 'ip'] as const) {
            const db = database(x, nb, d, kind);
            for (const [k, reservoir] of [[1, false], [5, false], [nb + 3, false], [16, true], [nb + 16, true]] as const) {
              const got = kernelKnn(qp, nq, d, db.pp, db.bp, nb, db.alpha, k, 0, reservoir);
              const want = RP.knnPanels(q, nq, d, db.panels, db.bias, nb, db.alpha, k);
              const what = `scan ${kind} d=${d} nq=${nq} nb=${nb} k=${k} reservoir ${reservoir}`;
              expect(exactMismatch(got.ids, want.ids, `${what} ids`)).toBeNull();
              expect(exactMismatch(got.dist, want.dist, `${what} dist`)).toBeNull();
              if (k > nb) {
                for (let r = 0; r < nq; r++) {
                  for (let j = nb; j < k; j++) {
                    expect(got.ids[r * k + j]).toBe(-1);
                    expect(got.dist[r * k + j]).toBe(Infinity);
                  }
                }
              }
            }
          }
        }
      }
    });

    // Queries are packed 4 rows at a time into a 16 KiB per-thread copy when d <= 1024 and there are 8 or more panels
    // (panels.ts packQueries / packPays), in chunks of 16 KiB / (4 d) rows; otherwise the kernels read the rows in
    // place. Both sides of both limits, and chunks whose last group is partial, against the reference bit for bit.
    it.each([
      [1024, 9, 70], [1025, 9, 70], [1100, 6, 70], [100, 97, 70], [33, 250, 70], [33, 250, 57], [100, 97, 64], [100, 97, 56],
    ])('scanPanels / scorePanels across the query-packing limits and chunk edges, d = %i, nq = %i, nb = %i', (d, nq, nb) => {
      const q = intVectors(nq, d, 21000 + d + nq + nb, -2, 2);
      const x = intVectors(nb, d, 22000 + d + nq + nb, -2, 2);
      const qp = m.put(q);
      for (const kind of ['l2', 'ip'] as const) {
        const { db, got: scores, want } = scoresAndReference(q, qp, nq, d, x, nb, kind);
        expect(exactMismatch(scores, want, `scorePanels ${kind} d=${d} nq=${nq} nb=${nb}`)).toBeNull();
        for (const k of [1, 6]) {
          const got = kernelKnn(qp, nq, d, db.pp, db.bp, nb, db.alpha, k);
          const w = RP.knnPanels(q, nq, d, db.panels, db.bias, nb, db.alpha, k);
          expect(exactMismatch(got.ids, w.ids, `scan ${kind} d=${d} nq=${nq} nb=${nb} k=${k} ids`)).toBeNull();
          expect(exactMismatch(got.dist, w.dist, `scan ${kind} d=${d} nq=${nq} nb=${nb} k=${k} dist`)).toBeNull();
        }
      }
    });

    it.each([3, 17, 64, 100])('scanPanels finds the true nearest neighbours on floats, d = %i', (d) => {
      const nq = 13;
      const nb = 201;
      const k = 10;
      const q = floatVectors(nq, d, 19000 + d);
      const x = floatVectors(nb, d, 20000 + d);
      const qp = m.put(q);
      const db = database(x, nb, d, 'l2');
      const got = kernelKnn(qp, nq, d, db.pp, db.bp, nb, db.alpha, k);
      for (let r = 0; r < nq; r++) {
        const trueD = Array.from({ length: nb }, (_, j) => RD.l2sq64(q, r, x, j, d));
        const sorted = trueD.slice().sort((a, b) => a - b);
        const qn = RD.dot64(q, r, q, r, d);
        for (let j = 0; j < k; j++) {
          const id = got.ids[r * k + j];
          const scale = qn + RD.dot64(x, id, x, id, d);
          // the returned id's true distance is the true j-th distance, up to rounding
          expect(Math.abs(trueD[id] - sorted[j])).toBeLessThanOrEqual(REL_TOL * scale);
          // and the internal score is ||x||^2 - 2<q,x> = true distance - ||q||^2
          expect(Math.abs(got.dist[r * k + j] - (trueD[id] - qn))).toBeLessThanOrEqual(REL_TOL * scale);
        }
        expect(new Set(got.ids.subarray(r * k, (r + 1) * k)).size).toBe(k);
      }
    });

    it.each([1, 3, 17])('scanPanels reservoirs where every score ties: the k lowest ids, d = %i', (d) => {
      // a reservoir's cut cannot split equal scores by value and falls back to the exact selection, which orders ties
      // by id; copies of one vector make every score equal (nb > 3k: every k is cut)
      const nq = 5;
      const nb = 300;
      const one = intVectors(1, d, 26000 + d, -2, 2);
      const x = new Float32Array(nb * d);
      for (let j = 0; j < nb; j++) x.set(one, j * d);
      const q = intVectors(nq, d, 27000 + d, -2, 2);
      const qp = m.put(q);
      for (const kind of ['l2', 'ip'] as const) {
        const db = database(x, nb, d, kind);
        for (const k of [16, 40, 80]) {
          const got = kernelKnn(qp, nq, d, db.pp, db.bp, nb, db.alpha, k, 0, true);
          const want = RP.knnPanels(q, nq, d, db.panels, db.bias, nb, db.alpha, k);
          for (let r = 0; r < nq; r++) expect(Array.from(got.ids.subarray(r * k, (r + 1) * k))).toEqual(Array.from({ length: k }, (_, j) => j));
          expect(exactMismatch(got.dist, want.dist, `ties ${kind} d=${d} k=${k} dist`)).toBeNull();
        }
      }
    });

    it.each([1, 5, 17, 33])('two scans into the same heaps with idBase merge like one scan, d = %i', (d) => {
      const nq = 9;
      for (const [nA, nB] of [[13, 7], [8, 9], [1, 33], [33, 1]]) {
        const q = intVectors(nq, d, 21000 + d + nA, -2, 2);
        const xa = intVectors(nA, d, 22000 + d + nA, -2, 2);
        const xb = intVectors(nB, d, 23000 + d + nB, -2, 2);
        const qp = m.put(q);
        const all = new Float32Array((nA + nB) * d);
        all.set(xa);
        all.set(xb, nA * d);
        for (const kind of ['l2', 'ip'] as const) {
          const a = database(xa, nA, d, kind);
          const b = database(xb, nB, d, kind);
          const ab = database(all, nA + nB, d, kind);
          // k >= 16 through the reservoirs, which start from the heaps the first scan left
          for (const k of [1, 5, 16, nA + nB + 2]) {
            const hd = m.alloc(nq * k * 4);
            const hi = m.alloc(nq * k * 4);
            abi.heapInit(hd, hi, nq * k);
            const idBase = 100;
            const work = scanWork(d, k, k >= 16);
            abi.scanPanels(qp, nq, d, a.pp, a.bp, nA, a.alpha, k, hd, hi, idBase, work);
            abi.scanPanels(qp, nq, d, b.pp, b.bp, nB, b.alpha, k, hd, hi, idBase + nA, work);
            abi.heapSortRows(hd, hi, nq, k);
            const want = RP.knnPanels(q, nq, d, ab.panels, ab.bias, nA + nB, ab.alpha, k, idBase);
            const what = `merge ${kind} d=${d} ${nA}+${nB} k=${k}`;
            expect(exactMismatch(m.i32(hi, nq * k), want.ids, `${what} ids`)).toBeNull();
            expect(exactMismatch(m.f32(hd, nq * k), want.dist, `${what} dist`)).toBeNull();
          }
        }
      }
    });

    it.each([
      // d, nb, nq: cache blocks of 128 KiB of vectors and query chunks of 16 KiB are both crossed
      [64, 1100, 70],
      [100, 1400, 45],
      [3, 40, 1370],
      [17, 2000, 243],
    ])('scanPanels across cache blocks and query chunks is exact, d = %i, nb = %i, nq = %i', (d, nb, nq) => {
      const q = intVectors(nq, d, 24000 + d, -3, 3);
      const x = intVectors(nb, d, 25000 + d, -3, 3);
      const qp = m.put(q);
      for (const kind of ['l2', 'ip'] as const) {
        const db = database(x, nb, d, kind);
        // k 16, 17 and 60: the reservoirs fill and are cut many times a query (many ties at their bar; 3k not a multiple
        // of 4 at k = 17)
        for (const [k, reservoir] of [[7, false], [16, true], [17, true], [60, true], [60, false]] as const) {
          const got = kernelKnn(qp, nq, d, db.pp, db.bp, nb, db.alpha, k, 0, reservoir);
          const want = RP.knnPanels(q, nq, d, db.panels, db.bias, nb, db.alpha, k);
          expect(exactMismatch(got.ids, want.ids, `blocked ${kind} k=${k} reservoir ${reservoir} ids`)).toBeNull();
          expect(exactMismatch(got.dist, want.dist, `blocked ${kind} k=${k} reservoir ${reservoir} dist`)).toBeNull();
        }
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('topk.ts', () => {
    it('heapInit fills exactly `count` slots with (+Infinity, -1)', () => {
      for (const count of [1, 3, 4, 7, 9, 33]) {
        const dp = m.alloc(count * 4);
        const ip = m.alloc(count * 4);
        abi.heapInit(dp, ip, count);
        expect(Array.from(m.f32(dp, count))).toEqual(new Array(count).fill(Infinity));
        expect(Array.from(m.i32(ip, count))).toEqual(new Array(count).fill(-1));
      }
    });

    /** Random candidates with many distance ties, some with id -1 (to be skipped), ids in random order. */
    function candidates(count: number, seed: number) {
      const r = new TestRng(seed);
      const dist = new Float32Array(count);
      const ids = new Int32Array(count);
      const perm = r.permutation(count);
      for (let i = 0; i < count; i++) {
        dist[i] = r.int(-4, 4) * 0.5;
        ids[i] = r.float() < 0.1 ? -1 : perm[i];
      }
      return { dist, ids };
    }

    it('heapPushMany keeps the k best by (distance, id) whatever the arrival order; heapSortRows sorts them', () => {
      for (const k of [1, 2, 3, 5, 8, 17]) {
        for (const count of [0, 1, 7, 50, 200]) {
          const c = candidates(count, 26000 + k * 1000 + count);
          const hd = m.alloc(k * 4);
          const hi = m.alloc(k * 4);
          abi.heapInit(hd, hi, k);
          // in two batches: pushing into a heap that already holds results merges
          const half = count >> 1;
          const inD = m.put(c.dist);
          const inI = m.put(c.ids);
          abi.heapPushMany(hd, hi, k, inD, inI, half);
          abi.heapPushMany(hd, hi, k, inD + half * 4, inI + half * 4, count - half);
          // the root (slot 0) is the worst kept entry
          const rd = new Float32Array(k);
          const ri = new Int32Array(k);
          RT.heapInit(rd, ri, k);
          RT.heapPushMany(rd, ri, k, c.dist, c.ids, count);
          expect([m.f32(hd, 1)[0], m.i32(hi, 1)[0]]).toEqual([rd[0], ri[0]]);
          abi.heapSortRows(hd, hi, 1, k);
          RT.heapSortRows(rd, ri, 1, k);
          const full = RT.topk(
            Array.from(c.dist).filter((_, i) => c.ids[i] >= 0),
            c.ids.filter((v) => v >= 0).length,
            k,
            Array.from(c.ids).filter((v) => v >= 0),
          );
          expect(exactMismatch(rd, full.dist, 'reference heap vs full sort')).toBeNull();
          expect(exactMismatch(m.i32(hi, k), ri, `ids k=${k} count=${count}`)).toBeNull();
          expect(exactMismatch(m.f32(hd, k), rd, `dist k=${k} count=${count}`)).toBeNull();
        }
      }
    });

    it('heapSortRows sorts several rows of valid heaps (built by the reference) independently', () => {
      for (const k of [1, 2, 5, 8, 13]) {
        const nq = 7;
        const rd = new Float32Array(nq * k);
        const ri = new Int32Array(nq * k);
        RT.heapInit(rd, ri, nq * k);
        for (let q = 0; q < nq; q++) {
          const c = candidates(q * 5, 27000 + k * 100 + q); // row 0 stays empty, row 1 partly filled
          RT.heapPushMany(rd.subarray(q * k, (q + 1) * k), ri.subarray(q * k, (q + 1) * k), k, c.dist, c.ids, c.dist.length);
        }
        const hd = m.put(rd);
        const hi = m.put(ri);
        abi.heapSortRows(hd, hi, nq, k);
        RT.heapSortRows(rd, ri, nq, k);
        expect(exactMismatch(m.f32(hd, nq * k), rd, `sorted dist k=${k}`)).toBeNull();
        expect(exactMismatch(m.i32(hi, nq * k), ri, `sorted ids k=${k}`)).toBeNull();
      }
    });

    it('heapFinalize: + ||q||^2 clamped at 0 for l2, negation for ip, padding to +-Infinity', () => {
      const nq = 3;
      const k = 5;
      const dist = new Float32Array([-10, -3, 0.5, 2, Infinity, -7.25, -7, 1e-3, Infinity, Infinity, 0, 1, 2, 3, 4]);
      const qn = new Float32Array([3, 7, 0]);
      for (const [useQn, negate] of [[true, false], [false, true], [false, false], [true, true]] as const) {
        const dp = m.put(dist);
        const qp = m.put(qn);
        abi.heapFinalize(dp, nq, k, useQn ? qp : 0, negate ? 1 : 0);
        const want = dist.slice();
        RT.heapFinalize(want, nq, k, useQn ? qn : null, negate);
        expect(exactMismatch(m.f32(dp, nq * k), want, `finalize qn=${useQn} negate=${negate}`)).toBeNull();
      }
      // the clamp itself: -10 + 3 would be -7, -7.25 + 7 would be -0.25
      const want = dist.slice();
      RT.heapFinalize(want, nq, k, qn, false);
      expect(want[0]).toBe(0);
      expect(want[5]).toBe(0);
      expect(want[4]).toBe(Infinity);
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('kmeans.ts', () => {
    it.each(DIMS)('kmeansAccumulate: float64 sums and counts equal the reference bit for bit (buffers zeroed first), d = %i', (d) => {
      for (const n of COUNTS) {
        const k = 5;
        const x = floatVectors(n, d, 28000 + d * 17 + n, 10);
        const r = new TestRng(29000 + n);
        const labels = Int32Array.from({ length: n }, () => r.int(0, k - 2)); // cluster k-1 stays empty
        const xp = m.put(x);
        const lp = m.put(labels);
        const sp = m.alloc(k * d * 8); // garbage: must be zeroed by the kernel
        const cp = m.alloc(k * 8);
        abi.kmeansAccumulate(xp, n, d, lp, k, sp, cp);
        const sums = new Float64Array(k * d);
        const counts = new Float64Array(k);
        RK.kmeansAccumulate(x, n, d, labels, k, sums, counts);
        expect(exactMismatch(m.f64(sp, k * d), sums, `sums d=${d} n=${n}`)).toBeNull();
        expect(exactMismatch(m.f64(cp, k), counts, `counts d=${d} n=${n}`)).toBeNull();
      }
    });

    it.each(DIMS)('kmeansUpdate: means rounded to float32, empty clusters counted and left untouched, d = %i', (d) => {
      const k = 6;
      const n = 33;
      const x = intVectors(n, d, 30000 + d);
      const r = new TestRng(31000 + d);
      const labels = Int32Array.from({ length: n }, () => [0, 2, 3, 5][r.int(0, 3)]); // 1 and 4 empty
      const sums = new Float64Array(k * d);
      const counts = new Float64Array(k);
      RK.kmeansAccumulate(x, n, d, labels, k, sums, counts);
      const before = floatVectors(k, d, 32000 + d);
      const sp = m.put(sums);
      const cp = m.put(counts);
      const cent = m.put(before);
      const empty = abi.kmeansUpdate(sp, cp, k, d, cent);
      const want = before.slice();
      const wantEmpty = RK.kmeansUpdate(sums, counts, k, d, want);
      expect(wantEmpty).toBe(2);
      expect(empty).toBe(wantEmpty);
      const got = m.f32(cent, k * d);
      expect(exactMismatch(got, want, `centroids d=${d}`)).toBeNull();
      expect(exactMismatch(got.subarray(1 * d, 2 * d), before.subarray(1 * d, 2 * d), 'empty centroid 1')).toBeNull();
      expect(exactMismatch(got.subarray(4 * d, 5 * d), before.subarray(4 * d, 5 * d), 'empty centroid 4')).toBeNull();
    });

    it.each(DIMS)('minL2Update keeps the running minimum and returns its float64 sum, d = %i', (d) => {
      for (const n of COUNTS) {
        for (const kind of ['int', 'float'] as const) {
          const x = kind === 'int' ? intVectors(n, d, 33000 + d + n) : floatVectors(n, d, 34000 + d + n);
          const cs = kind === 'int' ? intVectors(3, d, 35000 + d) : floatVectors(3, d, 36000 + d);
          const xp = m.put(x);
          const cp = m.put(cs);
          const mp = m.alloc(n * 4);
          const want = new Float32Array(n);
          for (let c = 0; c < 3; c++) {
            const total = abi.minL2Update(xp, n, d, cp + c * d * 4, mp, c === 0 ? 1 : 0);
            const wantTotal = RK.minL2Update(x, n, d, cs.subarray(c * d, (c + 1) * d), want, c === 0);
            const got = m.f32(mp, n);
            const what = `minL2Update ${kind} d=${d} n=${n} c=${c}`;
            if (kind === 'int') {
              expect(exactMismatch(got, want, what)).toBeNull();
              expect(total).toBe(wantTotal);
            } else {
              expect(tolMismatch(got, want, want, what)).toBeNull();
              expect(Math.abs(total - wantTotal)).toBeLessThanOrEqual(REL_TOL * wantTotal);
              // the returned total is the sum of what was stored
              expect(total).toBe(RK.sumF32(got, n));
            }
          }
        }
      }
    });

    it('addF64 adds element by element, every length (the f64x2 loop and its tail), source untouched', () => {
      const r = new TestRng(37100);
      for (const n of [0, 1, 2, 3, 5, 7, 15, 16, 17, 33, 100, 16384]) {
        const a = Float64Array.from({ length: n }, () => (r.float() - 0.5) * 1e6);
        const b = Float64Array.from({ length: n }, (_, i) => (i % 7 === 3 ? -a[i] : (r.float() - 0.5) * 1e-3));
        const ap = m.put(a);
        const bp = m.put(b);
        abi.addF64(ap, bp, n);
        const want = a.slice();
        RK.addF64(want, b, n);
        expect(Array.from(m.f64(ap, n))).toEqual(Array.from(want));
        expect(Array.from(m.f64(bp, n))).toEqual(Array.from(b));
      }
      // nothing past n is written
      const g = m.put(new Float64Array([1, 2, 3, 4]));
      abi.addF64(g, m.put(new Float64Array([10, 10, 10, 10])), 3);
      expect(Array.from(m.f64(g, 4))).toEqual([11, 12, 13, 4]);
    });

    it('cumulativeSearch returns the first index whose running sum exceeds the target', () => {
      const w = new Float32Array([0, 1.5, 0, 0, 2, 0.25, 0, 3, 0]);
      const n = w.length;
      const wp = m.put(w);
      const targets = [-1, 0, 1e-9, 1.4999, 1.5, 1.5000001, 3.5, 3.6, 3.75, 3.76, 6.74, 6.75, 100, Infinity];
      for (const t of targets) {
        const got = abi.cumulativeSearch(wp, n, t);
        expect(got, `target ${t}`).toBe(RK.cumulativeSearch(w, n, t));
      }
      // spot values: zero weights are never picked, an exact partial sum moves past it, and past the end the fallback
      // is the last positive weight (index 7), not the zero weight at n - 1
      expect(abi.cumulativeSearch(wp, n, 0)).toBe(1);
      expect(abi.cumulativeSearch(wp, n, 1.5)).toBe(4);
      expect(abi.cumulativeSearch(wp, n, 6.75)).toBe(7);
      expect(abi.cumulativeSearch(m.put(new Float32Array(4)), 4, 0)).toBe(3); // no positive weight at all: n - 1
      // a D^2 draw: u * total for u in [0, 1) lands on a positive weight, with frequency ~ weight
      const r = new TestRng(37000);
      const total = RK.sumF32(w, n);
      for (let i = 0; i < 200; i++) {
        const idx = abi.cumulativeSearch(wp, n, r.float() * total);
        expect(w[idx]).toBeGreaterThan(0);
      }
      const big = floatVectors(1001, 1, 38000).map(Math.abs);
      const bp = m.put(big);
      const bt = RK.sumF32(big, 1001);
      for (const u of [0, 0.1, 0.5, 0.9, 0.999999]) expect(abi.cumulativeSearch(bp, 1001, u * bt)).toBe(RK.cumulativeSearch(big, 1001, u * bt));
    });

    it('sumF32 is the float64 sum in index order', () => {
      for (const n of [1, 3, 7, 9, 13, 33, 1000]) {
        const a = floatVectors(n, 1, 39000 + n, 1e4, 3);
        const ap = m.put(a);
        expect(abi.sumF32(ap, n)).toBe(RK.sumF32(a, n));
      }
      const ap = m.put(new Float32Array([1e8, 1, -1e8, 1]));
      expect(abi.sumF32(ap, 4)).toBe(2); // float64 keeps what float32 would lose
    });

    it('one Lloyd iteration composed from the kernels (pack, norms, scan k=1, finalize, accumulate, update) equals the reference', () => {
      for (const [n, d, k] of [[300, 5, 7], [257, 17, 13], [101, 33, 9]]) {
        const x = intVectors(n, d, 40000 + n, -4, 4);
        const r = new TestRng(41000 + n);
        const init = new Float32Array(k * d);
        const pick = r.permutation(n).subarray(0, k);
        for (let j = 0; j < k; j++) init.set(x.subarray(pick[j] * d, (pick[j] + 1) * d), j * d);
        const kp = RP.padTo8(k);
        const xp = m.put(x);
        const xn = m.alloc(n * 4);
        const cent = m.put(init);
        const pp = m.alloc(kp * d * 4);
        const bp = m.alloc(kp * 4);
        const dist = m.alloc(n * 4);
        const labels = m.alloc(n * 4);
        const sums = m.alloc(k * d * 8);
        const counts = m.alloc(k * 8);
        abi.normsSq(xp, n, d, xn);
        abi.packPanels(cent, k, d, pp, 0);
        abi.panelNormsSq(pp, 0, k, d, bp);
        abi.heapInit(dist, labels, n);
        abi.scanPanels(xp, n, d, pp, bp, k, -2, 1, dist, labels, 0, 0);
        abi.heapFinalize(dist, n, 1, xn, 0);
        const objective = abi.sumF32(dist, n);
        abi.kmeansAccumulate(xp, n, d, labels, k, sums, counts);
        const empty = abi.kmeansUpdate(sums, counts, k, d, cent);

        const ref = RK.lloydIteration(x, n, d, init, k);
        const what = `lloyd n=${n} d=${d} k=${k}`;
        expect(exactMismatch(m.i32(labels, n), ref.labels, `${what} labels`)).toBeNull();
        expect(exactMismatch(m.f32(dist, n), ref.dist, `${what} distances`)).toBeNull();
        expect(objective).toBe(ref.objective);
        expect(exactMismatch(m.f64(counts, k), ref.counts, `${what} counts`)).toBeNull();
        expect(empty).toBe(ref.empty);
        expect(exactMismatch(m.f32(cent, k * d), ref.centroids, `${what} centroids`)).toBeNull();
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe("kmeans.ts: Hamerly's bounds", () => {
    it.each(DIMS)('l2sqToAssigned is exact on integers and within 1e-5 on floats, d = %i', (d) => {
      for (const n of COUNTS) {
        const k = 5;
        const r = new TestRng(50000 + d * 7 + n);
        const labels = Int32Array.from({ length: n }, () => r.int(0, k - 1));
        for (const kind of ['int', 'float'] as const) {
          const x = kind === 'int' ? intVectors(n, d, 51000 + d + n) : floatVectors(n, d, 52000 + d + n, 3);
          const c = kind === 'int' ? intVectors(k, d, 53000 + d) : floatVectors(k, d, 54000 + d, 3);
          const dp = m.alloc(n * 4);
          abi.l2sqToAssigned(m.put(x), n, d, m.put(c), m.put(labels), dp);
          const want = new Float32Array(n);
          RK.l2sqToAssigned(x, n, d, c, labels, want);
          const what = `l2sqToAssigned ${kind} d=${d} n=${n}`;
          if (kind === 'int') expect(exactMismatch(m.f32(dp, n), want, what)).toBeNull();
          else expect(tolMismatch(m.f32(dp, n), want, want, what)).toBeNull();
          // a row list: only the listed rows are written, the others keep their values
          const listed = Int32Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 1);
          const before = Float32Array.from({ length: n }, (_, i) => 1000 + i);
          const dp2 = m.put(before);
          abi.l2sqToAssigned(m.put(x), listed.length, d, m.put(c), m.put(labels), dp2, m.put(listed));
          const want2 = before.slice();
          RK.l2sqToAssigned(x, listed.length, d, c, labels, want2, listed);
          for (let i = 0; i < n; i++) if (i % 3 === 1) expect(want2[i]).toBe(1000 + i);
          if (kind === 'int') expect(exactMismatch(m.f32(dp2, n), want2, `${what} (row list)`)).toBeNull();
          else expect(tolMismatch(m.f32(dp2, n), want2, want2, `${what} (row list)`)).toBeNull();
        }
      }
    });

    it.each([1, 3, 16, 17, 33])('hamerlyGather picks exactly the points whose loosened bound does not hold, d = %i', (d) => {
      const n = 61;
      const k = 4;
      const r = new TestRng(55000 + d);
      const x = floatVectors(n, d, 56000 + d);
      const xnorm = Float32Array.from({ length: n }, (_, i) => RD.dot64(x, i, x, i, d));
      const labels = Int32Array.from({ length: n }, () => r.int(0, k - 1));
      // bounds as small integers, distances as squares of small integers: u == bound happens (and must skip)
      const dist = Float32Array.from({ length: n }, () => r.int(0, 6) ** 2);
      const lower = Float32Array.from({ length: n }, () => r.int(-1, 6));
      const sep = Float32Array.from({ length: k }, () => r.int(0, 6));
      for (const useSep of [false, true]) {
        for (const [maxShift, second, argMax] of [[0, 0, -1], [1, 0.5, 2], [0.25, 0.25, 0], [3, 0, 1]] as const) {
          const idx = m.alloc(n * 4);
          const out = m.alloc(n * d * 4);
          const normOut = m.alloc(n * 4);
          const lp = m.put(lower);
          const got = abi.hamerlyGather(
            m.put(x), n, d, m.put(xnorm), m.put(dist), lp, m.put(labels), useSep ? m.put(sep) : 0, maxShift, second, argMax, idx, out, normOut,
          );
          const wIdx = new Int32Array(n);
          const wOut = new Float32Array(n * d);
          const wNorm = new Float32Array(n);
          const wLower = lower.slice();
          const want = RK.hamerlyGather(x, n, d, xnorm, dist, wLower, labels, useSep ? sep : null, maxShift, second, argMax, wIdx, wOut, wNorm);
          const what = `sep ${useSep} shift ${maxShift} ${second} ${argMax}`;
          expect(want, what).toBeGreaterThan(0);
          expect(want, what).toBeLessThan(n);
          expect(got, what).toBe(want);
          expect(exactMismatch(m.i32(idx, got), wIdx.subarray(0, want), `${what} idx`)).toBeNull();
          expect(exactMismatch(m.f32(out, got * d), wOut.subarray(0, want * d), `${what} rows`)).toBeNull();
          expect(exactMismatch(m.f32(normOut, got), wNorm.subarray(0, want), `${what} norms`)).toBeNull();
          expect(exactMismatch(m.f32(lp, n), wLower, `${what} lower`)).toBeNull();
          // the kept points' bounds are loosened by the largest shift of another centroid; the gathered keep theirs
          const gathered = new Set(m.i32(idx, got));
          for (let i = 0; i < n; i++) {
            const s = labels[i] === argMax ? second : maxShift;
            expect(m.f32(lp, n)[i], `${what} point ${i}`).toBe(gathered.has(i) ? lower[i] : Math.fround(lower[i] - s));
          }
        }
      }
      // the very first iteration: lower = -1 gathers every point, whatever is in dist
      const all = abi.hamerlyGather(
        m.put(x), n, d, m.put(xnorm), m.alloc(n * 4), m.put(new Float32Array(n).fill(-1)), m.put(labels), 0, 0, 0, -1,
        m.alloc(n * 4), m.alloc(n * d * 4), m.alloc(n * 4),
      );
      expect(all).toBe(n);
    });

    /** Centroids -> panels, bias and the k x k centroid score matrix, as KMeans builds them. */
    function centroidScores(c: Float32Array, k: number, d: number) {
      const kp = RP.padTo8(k);
      const cp = m.put(c);
      const pp = m.alloc(kp * d * 4);
      const bp = m.alloc(kp * 4);
      const sp = m.alloc(k * k * 4);
      abi.packPanels(cp, k, d, pp, 0);
      abi.panelNormsSq(pp, 0, k, d, bp);
      abi.scorePanels(cp, k, d, pp, bp, k, -2, sp);
      return { cp, pp, bp, sp, bias: m.f32(bp, k), scores: m.f32(sp, k * k) };
    }

    it.each([1, 2, 5, 16, 33])('halfSeparation matches the reference and never overstates half the gap, d = %i', (d) => {
      for (const k of [1, 2, 3, 7, 9, 13]) {
        for (const kind of ['int', 'float'] as const) {
          const c = kind === 'int' ? intVectors(k, d, 57000 + d + k) : floatVectors(k, d, 58000 + d + k, 2);
          if (kind === 'int' && k > 2) c.set(c.subarray(0, d), 2 * d); // centroids 0 and 2 coincide: separation 0
          const cs = centroidScores(c, k, d);
          const sep = m.alloc(k * 4);
          abi.halfSeparation(cs.sp, cs.bp, k, sep);
          const got = m.f32(sep, k);
          const want = new Float32Array(k);
          RK.halfSeparation(cs.scores, cs.bias, k, want);
          expect(exactMismatch(got, want, `halfSeparation ${kind} d=${d} k=${k}`)).toBeNull();
          for (let j = 0; j < k; j++) {
            let nearest = Infinity;
            for (let o = 0; o < k; o++) if (o !== j) nearest = Math.min(nearest, Math.sqrt(l2(c, j, c, o, d)));
            expect(got[j], `sep[${j}]`).toBeLessThanOrEqual(0.5 * nearest);
            if (k === 1) expect(got[j]).toBe(Infinity);
            if (kind === 'int' && k > 2 && (j === 0 || j === 2)) expect(got[j]).toBe(0);
          }
        }
      }
    });

    it.each([1, 3, 8, 17, 33])('hamerlyScatter writes nearest, distance and a valid lower bound for the gathered points only, d = %i', (d) => {
      const n = 45;
      for (const k of [1, 2, 5, 9]) {
        const x = floatVectors(n, d, 59000 + d + k, 2);
        const c = floatVectors(k, d, 60000 + d + k, 2);
        const xnorm = Float32Array.from({ length: n }, (_, i) => RD.dot64(x, i, x, i, d));
        const cs = centroidScores(c, k, d);
        // every third point is "kept" (not gathered): its label, dist and lower must survive the scatter
        const lowerIn = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1e30 : -1));
        const labelsIn = Int32Array.from({ length: n }, (_, i) => i % k);
        const distIn = Float32Array.from({ length: n }, (_, i) => 1000 + i);
        const xp = m.put(x);
        const lp = m.put(labelsIn);
        const dp = m.put(distIn);
        const lowp = m.put(lowerIn);
        const idx = m.alloc(n * 4);
        const gx = m.alloc(n * d * 4);
        const gn = m.alloc(n * 4);
        const cnt = abi.hamerlyGather(xp, n, d, m.put(xnorm), dp, lowp, lp, 0, 0, 0, -1, idx, gx, gn);
        expect(cnt).toBe(n - Math.ceil(n / 3));
        const hd = m.alloc(cnt * 8);
        const hi = m.alloc(cnt * 8);
        abi.heapInit(hd, hi, cnt * 2);
        abi.scanPanels(gx, cnt, d, cs.pp, cs.bp, k, -2, 2, hd, hi, 0, 0);
        abi.heapSortRows(hd, hi, cnt, 2);
        abi.hamerlyScatter(cnt, idx, hd, hi, gn, cs.bp, lp, dp, lowp);

        const labels = labelsIn.slice();
        const dist = distIn.slice();
        const lower = lowerIn.slice();
        RK.hamerlyScatter(cnt, m.i32(idx, cnt), m.f32(hd, cnt * 2), m.i32(hi, cnt * 2), m.f32(gn, cnt), cs.bias, labels, dist, lower);
        const gotL = m.i32(lp, n);
        const gotD = m.f32(dp, n);
        const gotLow = m.f32(lowp, n);
        const what = `scatter d=${d} k=${k}`;
        expect(exactMismatch(gotL, labels, `${what} labels`)).toBeNull();
        expect(exactMismatch(gotD, dist, `${what} dist`)).toBeNull();
        expect(exactMismatch(gotLow, lower, `${what} lower`)).toBeNull();
        // validity against true float64 distances
        for (let i = 0; i < n; i++) {
          if (i % 3 === 0) continue;
          const td = Array.from({ length: k }, (_, j) => l2(x, i, c, j, d));
          const a = gotL[i];
          const scale = xnorm[i] + RD.dot64(c, a, c, a, d);
          expect(td[a] - Math.min(...td)).toBeLessThanOrEqual(REL_TOL * scale);
          expect(Math.abs(gotD[i] - td[a])).toBeLessThanOrEqual(REL_TOL * scale);
          for (let j = 0; j < k; j++) if (j !== a) expect(gotLow[i], `lower of point ${i} vs centroid ${j}`).toBeLessThanOrEqual(Math.sqrt(td[j]));
          if (k === 1) expect(gotLow[i]).toBe(Infinity);
        }
      }
    });

    it.each([1, 3, 8, 17, 33, 64])('hamerlyPartial settles a point from the moved centroids only when its bound allows, d = %i', (d) => {
      const n = 53;
      const r = new TestRng(61000 + d);
      for (const k of [2, 5, 9, 16]) {
        for (const kind of ['int', 'float'] as const) {
          const x = kind === 'int' ? intVectors(n, d, 61100 + d + k) : floatVectors(n, d, 61200 + d + k, 2);
          const c = kind === 'int' ? intVectors(k, d, 61300 + d + k) : floatVectors(k, d, 61400 + d + k, 2);
          const xnorm = Float32Array.from({ length: n }, (_, i) => RD.dot64(x, i, x, i, d));
          const cs = centroidScores(c, k, d);
          // a few centroids "moved" (1 to k), in increasing order, one of them at times a point's own
          const moved = Int32Array.from(Array.from({ length: k }, (_, j) => j).filter((j) => j === 0 || r.int(0, 2) === 0));
          const td = (i: number, j: number) => l2(x, i, c, j, d);
          const labels = Int32Array.from({ length: n }, () => r.int(0, k - 1));
          const dist = Float32Array.from({ length: n }, (_, i) => Math.fround(td(i, labels[i])));
          // lower: a true bound on the distance to every unmoved centroid other than the label, or a fraction of
          // one, or -1 (no bound at all: a fresh run); +Infinity when there is no such centroid
          const lower = Float32Array.from({ length: n }, (_, i) => {
            let near = Infinity;
            for (let j = 0; j < k; j++) if (j !== labels[i] && !moved.includes(j)) near = Math.min(near, Math.sqrt(td(i, j)));
            const f = [1 - 1e-6, 1 - 1e-6, 0.9, 0.5, -1][r.int(0, 4)];
            return f < 0 ? -1 : Math.fround(near * f);
          });
          // the moved centroids' panels and a top-3 scan of every point against them
          const mc = new Float32Array(moved.length * d);
          moved.forEach((j, p) => mc.set(c.subarray(j * d, (j + 1) * d), p * d));
          const mpp = m.alloc(RP.padTo8(moved.length) * d * 4);
          const mbp = m.alloc(RP.padTo8(moved.length) * 4);
          abi.packPanels(m.put(mc), moved.length, d, mpp, 0);
          abi.panelNormsSq(mpp, 0, moved.length, d, mbp);
          const gx = m.put(x);
          const hd = m.alloc(n * 12);
          const hi = m.alloc(n * 12);
          abi.heapInit(hd, hi, n * 3);
          abi.scanPanels(gx, n, d, mpp, mbp, moved.length, -2, 3, hd, hi, 0, 0);
          abi.heapSortRows(hd, hi, n, 3);
          const idxIn = Int32Array.from({ length: n }, (_, i) => i);
          const idx = m.put(idxIn);
          const gn = m.put(xnorm);
          const lp = m.put(labels);
          const dp = m.put(dist);
          const lowp = m.put(lower);
          const wantIdx = idxIn.slice();
          const wantGx = x.slice();
          const wantGn = xnorm.slice();
          const wantL = labels.slice();
          const wantD = dist.slice();
          const wantLow = lower.slice();
          const hdv = m.f32(hd, n * 3).slice();
          const hiv = m.i32(hi, n * 3).slice();
          const left = abi.hamerlyPartial(n, idx, hd, hi, gx, gn, d, m.put(moved), cs.bp, m.put(x), cs.cp, lp, dp, lowp);
          const want = RK.hamerlyPartial(n, wantIdx, hdv, hiv, wantGx, wantGn, d, moved, cs.bias, x, c, wantL, wantD, wantLow);
          const what = `partial ${kind} d=${d} k=${k} moved=${moved.length}`;
          expect(left, what).toBe(want);
          expect(exactMismatch(m.i32(idx, left), wantIdx.subarray(0, want), `${what} idx`)).toBeNull();
          expect(exactMismatch(m.f32(gx, left * d), wantGx.subarray(0, want * d), `${what} rows`)).toBeNull();
          expect(exactMismatch(m.f32(gn, left), wantGn.subarray(0, want), `${what} norms`)).toBeNull();
          expect(exactMismatch(m.i32(lp, n), wantL, `${what} labels`)).toBeNull();
          expect(exactMismatch(m.f32(lowp, n), wantLow, `${what} lower`)).toBeNull();
          if (kind === 'int') expect(exactMismatch(m.f32(dp, n), wantD, `${what} dist`)).toBeNull();
          else expect(tolMismatch(m.f32(dp, n), wantD, wantD, `${what} dist`)).toBeNull();
          // what makes it right: a settled point's label is its nearest centroid and its bound is below the distance
          // to every other; a point left for the full scan is untouched
          const kept = new Set(m.i32(idx, left));
          const gotL = m.i32(lp, n);
          const gotLow = m.f32(lowp, n);
          let settled = 0;
          for (let i = 0; i < n; i++) {
            if (kept.has(i)) {
              expect(gotL[i]).toBe(labels[i]);
              expect(gotLow[i]).toBe(lower[i]);
              continue;
            }
            settled++;
            const a = gotL[i];
            const all = Array.from({ length: k }, (_, j) => td(i, j));
            const scale = xnorm[i] + RD.dot64(c, a, c, a, d);
            expect(all[a] - Math.min(...all), `${what} point ${i}`).toBeLessThanOrEqual(REL_TOL * scale);
            for (let j = 0; j < k; j++) if (j !== a) expect(gotLow[i], `${what} point ${i} vs ${j}`).toBeLessThanOrEqual(Math.sqrt(all[j]));
          }
          if (moved.length > 1) expect(settled, what).toBeGreaterThan(0);
          expect(left, what).toBeGreaterThan(0); // the points without a bound (-1) at least
        }
      }
    });

    it.each(DIMS)('centroidShift is exact on integers and within 1e-5 on floats, d = %i', (d) => {
      for (const k of [1, 3, 9, 13]) {
        for (const kind of ['int', 'float'] as const) {
          const a = kind === 'int' ? intVectors(k, d, 62000 + d + k) : floatVectors(k, d, 63000 + d + k);
          const b = kind === 'int' ? intVectors(k, d, 64000 + d + k) : floatVectors(k, d, 65000 + d + k);
          b.set(a.subarray(0, d)); // centroid 0 did not move
          const sp = m.alloc(k * 4);
          abi.centroidShift(m.put(a), m.put(b), k, d, sp);
          const want = new Float32Array(k);
          RK.centroidShift(a, b, k, d, want);
          const got = m.f32(sp, k);
          expect(got[0]).toBe(0);
          if (kind === 'int') expect(exactMismatch(got, want, `shift d=${d} k=${k}`)).toBeNull();
          else expect(tolMismatch(got, want, want, `shift d=${d} k=${k}`)).toBeNull();
        }
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------------
  describe('memory.ts (allocator)', () => {
    it('alloc returns 64-byte-aligned pointers, and distinct live blocks do not overlap', () => {
      const r = new TestRng(42000);
      const blocks: { ptr: number; size: number; tag: number }[] = [];
      const baseBlocks = abi.heapLiveBlocks();
      for (let i = 0; i < 60; i++) {
        const size = [1, 3, 16, 48, 63, 64, 65, 127, 1000, 4096, 70000][r.int(0, 10)] + (i % 3);
        const ptr = abi.alloc(size) >>> 0;
        expect(ptr).not.toBe(0);
        expect(ptr % 64).toBe(0);
        blocks.push({ ptr, size, tag: (i * 37 + 11) & 0xff });
        // free one now and then, so that later blocks reuse holes
        if (i % 7 === 6) {
          const victim = blocks.splice(r.int(0, blocks.length - 1), 1)[0];
          expect(abi.free(victim.ptr)).toBe(0);
        }
        // views only after every allocation (memory may have grown)
        for (const b of blocks) if (b.ptr === ptr) new Uint8Array(abi.memory.buffer, b.ptr, b.size).fill(b.tag);
      }
      expect(abi.heapLiveBlocks()).toBe(baseBlocks + blocks.length);
      for (const b of blocks) {
        const u8 = new Uint8Array(abi.memory.buffer, b.ptr, b.size);
        expect(u8.every((v) => v === b.tag), `block at ${b.ptr} (size ${b.size}) was overwritten`).toBe(true);
      }
      const sorted = blocks.slice().sort((a, b) => a.ptr - b.ptr);
      for (let i = 1; i < sorted.length; i++) expect(sorted[i].ptr).toBeGreaterThanOrEqual(sorted[i - 1].ptr + sorted[i - 1].size);
      for (const b of blocks) expect(abi.free(b.ptr)).toBe(0);
      expect(abi.heapLiveBlocks()).toBe(baseBlocks);
    });

    it('free + alloc reuses memory: heapEnd does not grow across 1000 alloc/free cycles of mixed sizes', () => {
      const r = new TestRng(43000);
      const sizes = [1, 64, 100, 500, 4000, 33000, 65536, 200000];
      const endBefore = abi.heapEnd();
      const blocksBefore = abi.heapLiveBlocks();
      const bytesBefore = abi.heapLiveBytes();
      let maxEnd = endBefore;
      // bound: everything one cycle can hold at once, with headers and alignment
      const maxCycleBytes = 6 * (200000 + 128);
      for (let cycle = 0; cycle < 1000; cycle++) {
        const live: number[] = [];
        const count = r.int(1, 6);
        for (let i = 0; i < count; i++) {
          const p = abi.alloc(sizes[r.int(0, sizes.length - 1)] + r.int(0, 63)) >>> 0;
          expect(p).not.toBe(0);
          live.push(p);
          // interleave: sometimes free a block before the cycle ends
          if (r.float() < 0.3) expect(abi.free(live.splice(r.int(0, live.length - 1), 1)[0])).toBe(0);
        }
        maxEnd = Math.max(maxEnd, abi.heapEnd());
        const order = r.permutation(live.length);
        for (const j of order) expect(abi.free(live[j])).toBe(0);
        expect(abi.heapEnd(), `cycle ${cycle}`).toBe(endBefore);
      }
      expect(maxEnd).toBeLessThanOrEqual(endBefore + maxCycleBytes);
      expect(abi.heapLiveBlocks()).toBe(blocksBefore);
      expect(abi.heapLiveBytes()).toBe(bytesBefore);
    });

    it('a hole left by free is reused by requests that fit in it', () => {
      const a = abi.alloc(1000) >>> 0;
      const b = abi.alloc(50000) >>> 0;
      const c = abi.alloc(100) >>> 0; // usually keeps b's hole below the top of the heap
      const end = abi.heapEnd();
      expect(abi.free(b)).toBe(0);
      const b2 = abi.alloc(50000) >>> 0;
      const small = [abi.alloc(20000) >>> 0, abi.alloc(64) >>> 0];
      expect(abi.free(b2)).toBe(0);
      const split = [abi.alloc(20000) >>> 0, abi.alloc(20000) >>> 0]; // two smaller requests split one hole
      expect(abi.heapEnd()).toBeLessThanOrEqual(end + 20000 + 64 + 2 * 128);
      for (const p of [b2, ...small, ...split]) expect(p % 64).toBe(0);
      for (const p of [a, c, ...small, ...split]) expect(abi.free(p)).toBe(0);
    });

    it('a freed block at the top of the heap is extended by a larger request instead of being left behind', () => {
      // 8 MiB is larger than any hole earlier tests can have left, so the block goes to the top of the heap
      const end0 = abi.heapEnd();
      const p = abi.alloc(8 << 20) >>> 0;
      expect(p).not.toBe(0);
      expect(abi.free(p)).toBe(0);
      expect(abi.heapEnd()).toBeLessThanOrEqual(end0);
      const q = abi.alloc(12 << 20) >>> 0;
      expect(q).not.toBe(0);
      expect(q).toBeLessThanOrEqual(p); // starts where the freed block started (or lower)
      expect(abi.heapEnd()).toBeLessThanOrEqual(end0 + (12 << 20) + 128);
      expect(abi.free(q)).toBe(0);
    });

    it('alloc(0), alloc(-1), alloc(NaN), alloc(5e9) and alloc(2^32) return 0 without growing anything', () => {
      const end = abi.heapEnd();
      const mem = abi.memory.buffer.byteLength;
      const blocks = abi.heapLiveBlocks();
      for (const size of [0, -1, NaN, -Infinity, 5e9, 2 ** 32, Infinity]) expect(abi.alloc(size) >>> 0, `alloc(${size})`).toBe(0);
      expect(abi.heapEnd()).toBe(end);
      expect(abi.memory.buffer.byteLength).toBe(mem);
      expect(abi.heapLiveBlocks()).toBe(blocks);
    });

    it('free of a bogus pointer returns 1 and corrupts nothing', () => {
      const sizes = [300, 1000, 64, 5000];
      const ptrs = sizes.map((s) => abi.alloc(s) >>> 0);
      const fill = () => ptrs.forEach((p, i) => new Uint8Array(abi.memory.buffer, p, sizes[i]).fill(0x11 * (i + 1)));
      fill();
      const blocks = abi.heapLiveBlocks();
      const bytes = abi.heapLiveBytes();
      const end = abi.heapEnd();
      const bogus = [
        0, 1, 16, 63, 64, // null and the very bottom of memory
        ptrs[0] + 4, ptrs[0] + 16, // misaligned, inside a block
        ptrs[1] + 64, ptrs[1] + 128, // aligned, inside a live block (payload is not a header)
        ptrs[3] + 64 * 60, // aligned, deep inside the last block
        Math.ceil((end + 64) / 64) * 64, // beyond the heap
        abi.memory.buffer.byteLength - 64, // end of memory
        0xffffffc0, // far beyond memory
      ];
      for (const p of bogus) expect(abi.free(p), `free(${p})`).toBe(1);
      expect(abi.heapLiveBlocks()).toBe(blocks);
      expect(abi.heapLiveBytes()).toBe(bytes);
      expect(abi.heapEnd()).toBe(end);
      // double free: the second one is refused
      expect(abi.free(ptrs[2])).toBe(0);
      expect(abi.free(ptrs[2])).toBe(1);
      expect(abi.heapLiveBlocks()).toBe(blocks - 1);
      // the live blocks kept their contents, and new blocks do not land on them
      ptrs.forEach((p, i) => {
        if (i !== 2) expect(new Uint8Array(abi.memory.buffer, p, sizes[i]).every((v) => v === 0x11 * (i + 1))).toBe(true);
      });
      const fresh = [64, 300, 2000].map((s) => ({ p: abi.alloc(s) >>> 0, s }));
      for (const f of fresh) {
        for (const [i, p] of ptrs.entries()) {
          if (i === 2) continue;
          expect(f.p + f.s <= p || f.p >= p + sizes[i], `new block ${f.p} overlaps live block ${p}`).toBe(true);
        }
        expect(abi.free(f.p)).toBe(0);
      }
      for (const [i, p] of ptrs.entries()) if (i !== 2) expect(abi.free(p)).toBe(0);
    });
  });
});
