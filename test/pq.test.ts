// ProductQuantizer and OPQ: exact round trips on encodable data, error that falls with more bits, ADC tables that
// equal distances to the decoded vectors, bit packing, OPQ's rotation (orthogonal, never worse than PQ on anisotropic
// data), determinism, save / load. The SVD behind OPQ is checked against ml-matrix.
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, OPQ, ProductQuantizer, VQError, type ProductQuantizerOptions } from '../dist/index.js';
import { procrustes, randomOrthogonal, svdSquare } from '../dist/util/linalg.js';
import { Rng } from '../dist/util/rng.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { TestRng } from './helpers/rng.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();
const pqOf = (o: ProductQuantizerOptions) => track(new ProductQuantizer(o));

/**
 * Rows made of planted codewords: sub-space j has ksub distinct integer codewords (components in [-40, 40], [-200, 200]
 * when dsub = 1 so that 256 distinct values exist) and every
 * codeword is used at least once, so k-means++ (which never draws a point at distance 0 from a chosen centroid) finds
 * exactly them and every row is encodable without error.
 */
function encodable(n: number, d: number, m: number, ksub: number, seed: number): { x: Float32Array; codes: Uint8Array[] } {
  const r = new TestRng(seed);
  const dsub = d / m;
  const x = new Float32Array(n * d);
  const codes: Uint8Array[] = [];
  for (let j = 0; j < m; j++) {
    const words = new Set<string>();
    const list: number[][] = [];
    while (list.length < ksub) {
      const w = Array.from({ length: dsub }, () => (dsub === 1 ? r.int(-200, 200) : r.int(-40, 40)));
      const key = w.join(',');
      if (!words.has(key)) {
        words.add(key);
        list.push(w);
      }
    }
    const cj = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i < ksub ? i : r.int(0, ksub - 1);
      cj[i] = c;
      for (let s = 0; s < dsub; s++) x[i * d + j * dsub + s] = list[c][s];
    }
    codes.push(cj);
  }
  return { x, codes };
}

function mse(x: Float32Array, y: Float32Array, d: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  return s / (x.length / d);
}

/** Unpacks one vector's codes from the documented layout (LSB-first bit stream). */
function unpackCode(bytes: Uint8Array, off: number, m: number, nbits: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < m; j++) {
    let v = 0;
    for (let b = 0; b < nbits; b++) {
      const bit = j * nbits + b;
      v |= ((bytes[off + (bit >> 3)] >> (bit & 7)) & 1) << b;
    }
    out.push(v);
  }
  return out;
}

describe('ProductQuantizer', () => {
  const shapes: [number, number][] = [[1, 1], [3, 3], [5, 5], [7, 7], [15, 5], [17, 17], [33, 11], [64, 16], [100, 25], [8, 2], [12, 3]];
  for (const nbits of [1, 2, 3, 4, 5, 7, 8]) {
    for (const [d, m] of shapes) {
      if (nbits === 8 && d > 64) continue; // keeps the suite fast; 8 bits is covered on the smaller shapes
      it(`decode(encode(x)) === x on encodable data (d = ${d}, m = ${m}, nbits = ${nbits})`, () => {
        const ksub = 1 << nbits;
        const n = Math.max(2 * ksub, 40);
        const { x, codes } = encodable(n, d, m, ksub, d * 100 + m + nbits);
        const pq = pqOf({ d, m, nbits, seed: 7 });
        pq.train(x);
        const enc = pq.encode(x);
        expect(enc.length).toBe(n * pq.codeSize);
        expect(pq.codeSize).toBe(Math.ceil((m * nbits) / 8));
        expect(pq.decode(enc)).toEqual(x);
        // the codes name the planted codewords (up to the codebook's order): same partition of rows per sub-space
        for (let j = 0; j < m; j++) {
          const map = new Map<number, number>();
          for (let i = 0; i < n; i++) {
            const got = unpackCode(enc, i * pq.codeSize, m, nbits)[j];
            if (!map.has(codes[j][i])) map.set(codes[j][i], got);
            expect(map.get(codes[j][i])).toBe(got);
          }
          expect(new Set(map.values()).size).toBe(ksub);
        }
      });
    }
  }

  it('codes decode through the documented bit layout and the centroids getter', () => {
    const d = 12, m = 4, nbits = 3;
    const x = floatVectors(300, d, 5);
    const pq = pqOf({ d, m, nbits });
    pq.train(x);
    const cent = pq.centroids; // f32[m][ksub][dsub]
    expect(cent.length).toBe(m * 8 * 3);
    const enc = pq.encode(x);
    const dec = pq.decode(enc);
    for (let i = 0; i < 300; i++) {
      const c = unpackCode(enc, i * pq.codeSize, m, nbits);
      for (let j = 0; j < m; j++) for (let s = 0; s < 3; s++) expect(dec[i * d + j * 3 + s]).toBe(cent[(j * 8 + c[j]) * 3 + s]);
      // and each code is the nearest codeword (float64 check with a rounding margin)
      for (let j = 0; j < m; j++) {
        const dist = (w: number) => {
          let s2 = 0;
          for (let s = 0; s < 3; s++) s2 += (x[i * d + j * 3 + s] - cent[(j * 8 + w) * 3 + s]) ** 2;
          return s2;
        };
        let best = Infinity;
        for (let w = 0; w < 8; w++) best = Math.min(best, dist(w));
        expect(dist(c[j])).toBeLessThanOrEqual(best + 1e-5 * (1 + best));
      }
    }
  });

  it('more bits never raise the reconstruction error', () => {
    const d = 32, m = 8;
    const x = floatVectors(4000, d, 11);
    const errs: number[] = [];
    for (const nbits of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const pq = pqOf({ d, m, nbits, iterations: 15 });
      pq.train(x);
      errs.push(mse(x, pq.decode(pq.encode(x)), d));
    }
    for (let i = 1; i < errs.length; i++) expect(errs[i]).toBeLessThan(errs[i - 1]);
    // and the train result reports the error on the training sample (of the last k-means assignment: the final
    // update and any empty-cluster split move it a little)
    const pq = pqOf({ d, m, nbits: 6 });
    const res = pq.train(x);
    const actual = mse(x, pq.decode(pq.encode(x)), d);
    expect(Math.abs(res.mse - actual) / actual).toBeLessThan(2e-3);
  });

  for (const [d, m, nbits] of [[16, 4, 8], [15, 5, 4], [7, 7, 2], [33, 3, 6], [64, 16, 8]] as const) {
    it(`ADC tables equal distances to the decoded vectors (d = ${d}, m = ${m}, nbits = ${nbits})`, () => {
      const x = floatVectors(600, d, d + m);
      const q = floatVectors(9, d, 99);
      const pq = pqOf({ d, m, nbits });
      pq.train(x);
      const ksub = 1 << nbits;
      const codes = pq.encode(x);
      const dec = pq.decode(codes);
      const tl2 = pq.computeDistanceTable(q, 'l2');
      const tip = pq.computeDistanceTable(q, 'ip');
      expect(tl2.length).toBe(9 * m * ksub);
      for (let qi = 0; qi < 9; qi++) {
        for (let i = 0; i < 600; i += 7) {
          const c = unpackCode(codes, i * pq.codeSize, m, nbits);
          let adcL2 = 0, adcIp = 0, exL2 = 0, exIp = 0, mag = 0;
          for (let j = 0; j < m; j++) {
            adcL2 += tl2[(qi * m + j) * ksub + c[j]];
            adcIp += tip[(qi * m + j) * ksub + c[j]];
          }
          for (let t = 0; t < d; t++) {
            exL2 += (q[qi * d + t] - dec[i * d + t]) ** 2;
            exIp += q[qi * d + t] * dec[i * d + t];
            mag += Math.abs(q[qi * d + t] * dec[i * d + t]);
          }
          expect(Math.abs(adcL2 - exL2)).toBeLessThanOrEqual(1e-5 * (1 + exL2));
          expect(Math.abs(adcIp - exIp)).toBeLessThanOrEqual(1e-5 * (1 + mag));
        }
      }
    });
  }

  it('encodeInto writes the same codes as encode; empty input is fine', () => {
    const x = floatVectors(500, 16, 3);
    const pq = pqOf({ d: 16, m: 4, nbits: 5 });
    pq.train(x);
    const out = new Uint8Array(500 * pq.codeSize).fill(0xee);
    pq.encodeInto(x, out);
    expect(out).toEqual(pq.encode(x));
    expect(pq.encode(new Float32Array(0)).length).toBe(0);
    expect(pq.decode(new Uint8Array(0)).length).toBe(0);
  });

  it('same seed, same bytes; another seed, another codebook', () => {
    const x = floatVectors(3000, 16, 8);
    const a = pqOf({ d: 16, m: 4, seed: 5, iterations: 8 });
    const b = pqOf({ d: 16, m: 4, seed: 5, iterations: 8 });
    const c = pqOf({ d: 16, m: 4, seed: 6, iterations: 8 });
    a.train(x);
    b.train(x);
    c.train(x);
    expect(b.save()).toEqual(a.save());
    expect(c.centroids).not.toEqual(a.centroids);
  });

  it('subsamples to maxPointsPerCentroid * ksub training vectors', () => {
    const x = floatVectors(3000, 8, 1);
    const pq = pqOf({ d: 8, m: 2, nbits: 4, maxPointsPerCentroid: 50 });
    const res = pq.train(x);
    expect(res.nTrain).toBe(800);
    expect(res.warnings.length).toBe(1);
    expect(res.objectives.length).toBe(2);
  });

  it('save / load: the same codebook, codes and tables; retraining failure keeps the old codebook', () => {
    const x = floatVectors(1000, 24, 4);
    const pq = pqOf({ d: 24, m: 6, nbits: 6 });
    pq.train(x);
    const bytes = pq.save();
    const back = track(ProductQuantizer.load(bytes));
    expect(back.centroids).toEqual(pq.centroids);
    expect(back.encode(x)).toEqual(pq.encode(x));
    expect(back.computeDistanceTable(x.subarray(0, 48))).toEqual(pq.computeDistanceTable(x.subarray(0, 48)));
    expect(back.save()).toEqual(bytes);
    const before = pq.centroids;
    const bad = x.slice();
    bad[bad.length - 1] = NaN;
    expect(() => pq.train(bad)).toThrow(VQError);
    expect(pq.centroids).toEqual(before);
    // an untrained quantizer round-trips as untrained
    const fresh = pqOf({ d: 24, m: 6 });
    const again = track(ProductQuantizer.load(fresh.save()));
    expect(again.isTrained).toBe(false);
  });
});

describe('linear algebra for OPQ', () => {
  it('svdSquare matches ml-matrix and reconstructs the matrix', () => {
    for (const d of [1, 2, 3, 7, 16, 33]) {
      const r = new TestRng(d);
      const a = Float64Array.from({ length: d * d }, () => r.gauss());
      const { u, s, v } = svdSquare(a, d);
      // a = u diag(s) v^T
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let t = 0; t < d; t++) acc += u[i * d + t] * s[t] * v[j * d + t];
          expect(acc).toBeCloseTo(a[i * d + j], 9);
        }
      }
      const ref = new SingularValueDecomposition(new Matrix(Array.from({ length: d }, (_, i) => Array.from(a.subarray(i * d, i * d + d)))));
      const mine = Array.from(s).sort((x, y) => y - x);
      ref.diagonal.forEach((sv, i) => expect(mine[i]).toBeCloseTo(sv, 9));
    }
  });

  it('svdSquare completes u for a rank-deficient matrix', () => {
    const d = 5;
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) a[i * d] = i + 1; // rank 1
    const { u } = svdSquare(a, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += u[t * d + i] * u[t * d + j];
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 9);
      }
    }
  });

  it('procrustes recovers a planted rotation; randomOrthogonal is orthogonal and seeded', () => {
    const d = 12, n = 200;
    const r0 = randomOrthogonal(d, new Rng(3));
    expect(randomOrthogonal(d, new Rng(3))).toEqual(r0);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += r0[i * d + t] * r0[j * d + t];
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    const x = floatVectors(n, d, 2);
    // y = x r0^T, m = x^T y
    const m = new Float64Array(d * d);
    for (let i = 0; i < n; i++) {
      const y = new Float64Array(d);
      for (let a = 0; a < d; a++) for (let t = 0; t < d; t++) y[a] += r0[a * d + t] * x[i * d + t];
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) m[a * d + b] += x[i * d + a] * y[b];
    }
    const r = procrustes(m, d);
    for (let i = 0; i < d * d; i++) expect(r[i]).toBeCloseTo(r0[i], 8);
  });
});

/** Anisotropic data: variances decaying over components, then mixed by a random rotation (correlated components). */
function anisotropic(n: number, d: number, seed: number): Float32Array {
  const r = new TestRng(seed);
  const rot = randomOrthogonal(d, new Rng(seed));
  const x = new Float32Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) z[t] = r.gauss() * Math.pow(0.85, t) * 4;
    for (let a = 0; a < d; a++) {
      let acc = 0;
      for (let t = 0; t < d; t++) acc += rot[a * d + t] * z[t];
      x[i * d + a] = acc;
    }
  }
  return x;
}

describe('OPQ', () => {
  it('never has a higher reconstruction error than PQ on anisotropic data, and its rotation is orthogonal', () => {
    for (const [d, m, nbits] of [[16, 4, 4], [32, 8, 4], [24, 4, 6]] as const) {
      const x = anisotropic(3000, d, d);
      const pq = pqOf({ d, m, nbits });
      pq.train(x);
      const opq = track(new OPQ({ d, m, nbits, iterations: 8 }));
      const res = opq.train(x);
      const ePq = mse(x, pq.decode(pq.encode(x)), d);
      const eOpq = mse(x, opq.decode(opq.encode(x)), d);
      expect(eOpq).toBeLessThan(ePq);
      expect(res.rotationMse.length).toBe(8);
      expect(res.rotationMse[7]).toBeLessThan(res.rotationMse[0]);
      const r = opq.rotation;
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let dot = 0;
          for (let t = 0; t < d; t++) dot += r[i * d + t] * r[j * d + t];
          expect(Math.abs(dot - (i === j ? 1 : 0))).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('codes are the PQ codes of r x; tables equal distances to the decoded vectors; rotateBack inverts rotate', () => {
    const d = 16, m = 4;
    const x = anisotropic(2000, d, 5);
    const opq = track(new OPQ({ d, m, nbits: 6, iterations: 4 }));
    opq.train(x);
    const q = x.subarray(0, 5 * d);
    const back = opq.rotateBack(opq.rotate(q));
    for (let i = 0; i < q.length; i++) expect(back[i]).toBeCloseTo(q[i], 4);
    const codes = opq.encode(x);
    const inner = opq.pqFor('test');
    expect(inner.encode(opq.rotate(x))).toEqual(codes);
    const dec = opq.decode(codes);
    const t = opq.computeDistanceTable(q, 'l2');
    for (let qi = 0; qi < 5; qi++) {
      for (let i = 0; i < 2000; i += 37) {
        let adc = 0, ex = 0;
        const c = unpackCode(codes, i * opq.codeSize, m, 6);
        for (let j = 0; j < m; j++) adc += t[(qi * m + j) * 64 + c[j]];
        for (let s = 0; s < d; s++) ex += (q[qi * d + s] - dec[i * d + s]) ** 2;
        expect(Math.abs(adc - ex)).toBeLessThan(1e-3 * (1 + ex));
      }
    }
  });

  it('same seed, same bytes; save / load round trip', () => {
    const x = anisotropic(1500, 8, 9);
    const a = track(new OPQ({ d: 8, m: 2, nbits: 4, iterations: 3, seed: 3 }));
    const b = track(new OPQ({ d: 8, m: 2, nbits: 4, iterations: 3, seed: 3 }));
    a.train(x);
    b.train(x);
    const bytes = a.save();
    expect(b.save()).toEqual(bytes);
    const c = track(OPQ.load(bytes));
    expect(c.encode(x)).toEqual(a.encode(x));
    expect(c.decode(a.encode(x))).toEqual(a.decode(a.encode(x)));
    expect(c.save()).toEqual(bytes);
    expect(() => ProductQuantizer.load(bytes)).toThrow(/OPQ file/);
  });

  it('a saved rotation that is not orthogonal is refused', async () => {
    const { readContainer, writeContainer } = await import('../dist/io/format.js');
    const x = anisotropic(600, 4, 2);
    const a = track(new OPQ({ d: 4, m: 2, nbits: 3, iterations: 2 }));
    a.train(x);
    const c = readContainer('test', a.save(), 'OPQ');
    const rot = new Float32Array(c.sections.get('ROT ')!.slice().buffer);
    rot[0] *= 2;
    const forged = writeContainer('OPQ', c.params, [{ tag: 'ROT ', data: rot }, { tag: 'CENT', data: new Float32Array(c.sections.get('CENT')!.slice().buffer) }]);
    expect(() => OPQ.load(forged)).toThrow(/not orthogonal/);
  });
});
