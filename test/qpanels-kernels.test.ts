// The int16-prefiltered top-k scan of assembly/kernels/qpanels.ts, through the raw ABI, on every build this runtime
// can execute.
//
// qscanPanels promises scanPanels's results bit for bit (same scores, same ids, same tie order), so every case runs
// both kernels into fresh heaps and compares the sorted heaps exactly; on integer data they are also checked against
// the reference (reference/panels.ts). The cases aim at the error bound: exact ties (few distinct values), near-ties
// (copies of a vector nudged by one ulp), zero query rows and zero vectors, values near the f32 subnormal range and
// large ones, vectors of very different norms in one set, every dim tail (odd d pairs a zero component), query chunks
// and vector blocks crossed, k = 1 (the running-minimum path), k > 1 and k > nb. qpanelsPack is checked against its
// float64 reference (reference/qpanels.ts): the codes exactly, the bound terms to f32 rounding, never below.
//
// The prefilter must also prune: on Gaussian data it rescores a small fraction of nq * nb (a property of the bound's
// tightness, counted by the kernel; no time is measured here).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem } from './helpers/wasm.js';
import { floatVectors, intVectors } from './helpers/data.js';
import { TestRng } from './helpers/rng.js';
import * as RP from './reference/panels.js';
import * as RQ from './reference/qpanels.js';

const DIMS = [1, 2, 3, 5, 7, 8, 15, 17, 33, 64, 100, 128];

const builds = await loadBuilds('qpanels-kernels.test');

type Kind = 'l2' | 'ip' | 'sim';

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let m: Mem;
  beforeEach(() => {
    m = new Mem(eng, 'qpanels-kernels.test');
  });
  afterEach(() => {
    expect(m.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    m.freeAll();
  });

  /** x packed as scanPanels and qscanPanels read it: f32 panels, bias, int16 panels and qinfo (packed in `pieces` appends). */
  function database(x: Float32Array, nb: number, d: number, kind: Kind, pieces = 1) {
    const np = RP.padTo8(nb);
    const pp = m.alloc(np * d * 4);
    const bp = m.alloc(np * 4);
    const qp = m.alloc(abi.qpanelsBytes(nb, d));
    const ip = m.alloc(np * 16);
    const xp = m.put(x);
    const step = Math.ceil(nb / pieces);
    for (let from = 0; from < nb; from += step) {
      const c = Math.min(step, nb - from);
      abi.packPanels(xp + from * d * 4, c, d, pp, from);
      if (kind === 'l2') abi.panelNormsSq(pp, from, from + c, d, bp);
      else abi.panelZeroBias(from, from + c, bp);
      abi.qpanelsPack(pp, bp, from, from + c, d, qp, ip);
    }
    const alpha = kind === 'l2' ? -2 : kind === 'ip' ? -1 : 1;
    return { pp, bp, qp, ip, np, alpha };
  }

  /** Both scans of queries q against x: sorted heaps of each, and how many pairs the prefilter rescored. */
  function bothScans(q: Float32Array, nq: number, x: Float32Array, nb: number, d: number, kind: Kind, k: number, pieces = 1) {
    const db = database(x, nb, d, kind, pieces);
    const qp = m.put(q);
    const run = (prefilter: boolean) => {
      const hd = m.alloc(nq * k * 4);
      const hi = m.alloc(nq * k * 4);
      abi.heapInit(hd, hi, nq * k);
      let rescored = 0;
      if (prefilter) {
        const work = m.alloc(abi.qscanWorkBytes(d, k));
        rescored = abi.qscanPanels(qp, nq, d, db.pp, db.bp, nb, db.alpha, k, hd, hi, 0, db.qp, db.ip, work);
      } else {
        abi.scanPanels(qp, nq, d, db.pp, db.bp, nb, db.alpha, k, hd, hi, 0, 0);
      }
      abi.heapSortRows(hd, hi, nq, k);
      return { dist: m.f32(hd, nq * k), ids: m.i32(hi, nq * k), rescored };
    };
    return { want: run(false), got: run(true), db };
  }

  function expectSame(q: Float32Array, nq: number, x: Float32Array, nb: number, d: number, kind: Kind, k: number, what: string, pieces = 1) {
    const { want, got } = bothScans(q, nq, x, nb, d, kind, k, pieces);
    expect(exactMismatch(got.ids, want.ids, `${what} ids`)).toBeNull();
    expect(exactMismatch(got.dist, want.dist, `${what} dist`)).toBeNull();
    return got.rescored;
  }

  it.each(DIMS)('equals scanPanels and the reference on integers with many ties, every k, d = %i', (d) => {
    const hi = d <= 4 ? 6 : 2;
    // nq 1, 2, 3 (and 6 = 4 + 2, 9 = 8 + 1, 13 = 12 + 1) reach the loops for groups of one, two, three and four rows
    for (const [nq, nb] of [[1, 1], [2, 20], [3, 7], [6, 41], [9, 33], [13, 70]]) {
      const q = intVectors(nq, d, 100 + d * 7 + nq, -hi, hi);
      const x = intVectors(nb, d, 200 + d * 7 + nb, -hi, hi);
      for (const kind of ['l2', 'ip', 'sim'] as const) {
        for (const k of [1, 2, 5, nb + 3]) {
          const what = `${kind} d=${d} nq=${nq} nb=${nb} k=${k}`;
          expectSame(q, nq, x, nb, d, kind, k, what);
          // and the reference, through scanPanels's own test: one direct check here on the prefiltered heaps
          const db = database(x, nb, d, kind);
          const panels = new Float32Array(db.np * d);
          RP.packPanels(x, nb, d, panels, 0);
          const bias = new Float32Array(db.np);
          if (kind === 'l2') RP.panelNormsSq(panels, 0, nb, d, bias);
          else RP.panelZeroBias(0, nb, bias);
          const ref = RP.knnPanels(q, nq, d, panels, bias, nb, db.alpha, k);
          const { got } = bothScans(q, nq, x, nb, d, kind, k);
          expect(exactMismatch(got.ids, ref.ids, `${what} ids vs reference`)).toBeNull();
          expect(exactMismatch(got.dist, ref.dist, `${what} dist vs reference`)).toBeNull();
        }
      }
    }
  });

  it.each(DIMS)('equals scanPanels on Gaussian floats, k = 1, 3, 10, nq = 1, 2, 3, 7, 37, d = %i', (d) => {
    const nb = 301;
    const x = floatVectors(nb, d, 400 + d);
    for (const nq of [1, 2, 3, 7, 37]) {
      const q = floatVectors(nq, d, 300 + d + nq);
      for (const kind of ['l2', 'ip'] as const) {
        for (const k of [1, 3, 10]) expectSame(q, nq, x, nb, d, kind, k, `${kind} d=${d} nq=${nq} k=${k}`);
      }
    }
  });

  it.each([3, 17, 64])('near-ties: copies of one vector nudged by an ulp or two, and exact copies, d = %i', (d) => {
    const r = new TestRng(500 + d);
    const base = floatVectors(1, d, 600 + d);
    const nb = 120;
    const x = new Float32Array(nb * d);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let j = 0; j < nb; j++) {
      for (let t = 0; t < d; t++) {
        f[0] = base[t];
        const nudge = j % 3 === 0 ? 0 : r.int(-2, 2); // a third exact copies
        u[0] += nudge;
        x[j * d + t] = f[0];
      }
    }
    // queries: the base itself, small perturbations of it, and far points
    const nq = 12;
    const q = new Float32Array(nq * d);
    for (let i = 0; i < nq; i++) for (let t = 0; t < d; t++) q[i * d + t] = i < 4 ? base[t] : i < 8 ? base[t] + 1e-4 * r.gauss() : 5 * r.gauss();
    for (const kind of ['l2', 'ip'] as const) {
      for (const k of [1, 4, 50]) expectSame(q, nq, x, nb, d, kind, k, `near-ties ${kind} d=${d} k=${k}`);
    }
  });

  it.each([1, 5, 33, 100])('zero query rows, zero vectors and vectors of very different norms in one set, d = %i', (d) => {
    const nb = 90;
    const x = floatVectors(nb, d, 700 + d);
    for (let j = 0; j < nb; j++) {
      const s = j % 5 === 0 ? 0 : j % 5 === 1 ? 1e-6 : j % 5 === 2 ? 1e6 : 1; // zero, tiny, huge, normal
      for (let t = 0; t < d; t++) x[j * d + t] *= s;
    }
    const nq = 11;
    const q = floatVectors(nq, d, 800 + d);
    for (let t = 0; t < d; t++) {
      q[t] = 0; // row 0 all zero
      q[d + t] = t % 2 ? -0 : 0; // row 1 zeros of both signs
      q[2 * d + t] *= 1e-6;
      q[3 * d + t] *= 1e6;
    }
    for (const kind of ['l2', 'ip'] as const) {
      for (const k of [1, 3, 20]) expectSame(q, nq, x, nb, d, kind, k, `norms ${kind} d=${d} k=${k}`);
    }
  });

  it.each([2, 17, 64])('values near the subnormal range and large values, d = %i', (d) => {
    for (const scale of [1e-19, 1e-22, 3e-39, 1e15]) {
      const nq = 9;
      const nb = 41;
      const q = floatVectors(nq, d, 900 + d, scale);
      const x = floatVectors(nb, d, 950 + d, scale);
      for (const kind of ['l2', 'ip'] as const) {
        for (const k of [1, 5]) expectSame(q, nq, x, nb, d, kind, k, `scale ${scale} ${kind} d=${d} k=${k}`);
      }
    }
  });

  it.each([
    // d, nq, nb: query chunks of up to 256 rows (16 KiB of int16 rows) and vector blocks of up to 1024 (64 KiB) crossed
    [4, 300, 2100], [17, 520, 1500], [64, 260, 1300], [100, 133, 700], [1, 7, 3000],
  ])('across query chunks and vector blocks, d = %i, nq = %i, nb = %i', (d, nq, nb) => {
    const q = floatVectors(nq, d, 1000 + d);
    const x = floatVectors(nb, d, 1100 + d);
    for (const kind of ['l2', 'ip'] as const) {
      for (const k of [1, 7]) expectSame(q, nq, x, nb, d, kind, k, `blocks ${kind} d=${d} k=${k}`);
    }
  });

  it.each([3, 17, 64])('vectors packed in appended pieces give the same int16 panels and results, d = %i', (d) => {
    const nb = 53;
    const x = floatVectors(nb, d, 1200 + d);
    const a = database(x, nb, d, 'l2', 1);
    const b = database(x, nb, d, 'l2', 5); // pieces end inside panels: positions are redone from the panel start
    expect(exactMismatch(m.u8(b.qp, abi.qpanelsBytes(nb, d)), m.u8(a.qp, abi.qpanelsBytes(nb, d)), 'qpanels')).toBeNull();
    expect(exactMismatch(m.f32(b.ip, a.np * 4), m.f32(a.ip, a.np * 4), 'qinfo')).toBeNull();
    const q = floatVectors(9, d, 1300 + d);
    expectSame(q, 9, x, nb, d, 'l2', 4, `pieces d=${d}`, 5);
  });

  it.each(DIMS)('qpanelsPack matches its float64 reference: codes exactly, bounds rounded up, d = %i', (d) => {
    const nb = 21;
    const x = floatVectors(nb, d, 1400 + d, 3);
    for (let t = 0; t < d; t++) x[4 * d + t] = 0; // a zero vector
    const db = database(x, nb, d, 'l2');
    const bias = m.f32(db.bp, db.np);
    const qp = new Int16Array(m.u8(db.qp, abi.qpanelsBytes(nb, d)).slice().buffer);
    const info = m.f32(db.ip, db.np * 4);
    for (let j = 0; j < db.np; j++) {
      const got = RQ.readQVector(qp, info, j, d);
      if (j >= nb) {
        // padding: zero codes, zero bounds
        expect(Array.from(got.codes).every((c) => c === 0)).toBe(true);
        expect([got.scale, got.A, got.B, got.Z]).toEqual([0, 0, 0, 0]);
        continue;
      }
      const want = RQ.quantizeVector(x.subarray(j * d, (j + 1) * d), bias[j]);
      expect(got.scale).toBe(want.scale);
      expect(exactMismatch(got.codes, want.codes, `codes of vector ${j}`)).toBeNull();
      for (const key of ['A', 'B', 'Z'] as const) {
        // stored as f32 after a push up by 2^-20: never below the float64 value, and within 2^-19 of it
        expect(got[key]).toBeGreaterThanOrEqual(want[key]);
        expect(got[key]).toBeLessThanOrEqual(want[key] * (1 + 2 ** -19) + 1e-44);
      }
    }
  });

  it('prunes: on Gaussian data it rescores a small fraction of the pairs', () => {
    for (const [d, nb, k] of [[64, 256, 1], [128, 2000, 10], [33, 1000, 5]]) {
      const nq = 200;
      const q = floatVectors(nq, d, 1500 + d);
      const x = floatVectors(nb, d, 1600 + d);
      for (const kind of ['l2', 'ip'] as const) {
        const rescored = expectSame(q, nq, x, nb, d, kind, k, `prune ${kind} d=${d} k=${k}`);
        // k per row must be rescored at least; the bound leaves few others
        expect(rescored).toBeGreaterThanOrEqual(nq * k);
        expect(rescored).toBeLessThan(0.05 * nq * nb);
      }
    }
  });
});
