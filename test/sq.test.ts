// ScalarQuantizer and SQIndex: exact round trips of values on the grid, search equal to brute force over the decoded
// vectors, exact re-ranking equal to FlatIndex, recall on seeded data, save / load (files written before int4 existed
// included), determinism, reconstruct by id, the int4 nibble layout and its padding nibble, refusals and memory.
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, memoryStats, ScalarQuantizer, SQIndex, type SQType } from '../dist/index.js';
import { crc32 } from '../dist/io/format.js';
import { f32ToHalf, halfToF32 } from '../dist/quantizers/ScalarQuantizer.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { expectRefusal } from './helpers/refusals.js';
import { TestRng } from './helpers/rng.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();
const TYPES: SQType[] = ['uint8', 'int8', 'int4', 'fp16'];
const codeSizeOf = (d: number, type: SQType) => (type === 'fp16' ? 2 * d : type === 'int4' ? Math.ceil(d / 2) : d);
const LEVELS: Record<SQType, number> = { uint8: 255, int8: 255, int4: 15, fp16: 0 };
const DIMS = [1, 3, 5, 7, 15, 17, 33, 100];
const METRICS = ['l2', 'ip'] as const;

/** Brute-force top k over rows `base` (float64 scores of the float32 values), ties by position. */
function brute(base: Float32Array, q: Float32Array, d: number, k: number, metric: 'l2' | 'ip'): { ids: Int32Array; scores: Float64Array[] } {
  const n = base.length / d;
  const nq = q.length / d;
  const ids = new Int32Array(nq * k);
  const scores: Float64Array[] = [];
  for (let i = 0; i < nq; i++) {
    const s = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let a = 0;
      for (let j = 0; j < d; j++) a += metric === 'l2' ? (q[i * d + j] - base[r * d + j]) ** 2 : -q[i * d + j] * base[r * d + j];
      s[r] = a;
    }
    const order = Array.from({ length: n }, (_, r) => r).sort((x, y) => s[x] - s[y] || x - y);
    for (let j = 0; j < k; j++) ids[i * k + j] = order[j];
    scores.push(s);
  }
  return { ids, scores };
}

function recall(got: Int32Array, want: Int32Array, nq: number, k: number): number {
  let hit = 0;
  for (let i = 0; i < nq; i++) {
    const w = new Set(want.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) if (w.has(got[i * k + j])) hit++;
  }
  return hit / (nq * k);
}

describe('half floats', () => {
  it('f32ToHalf rounds to nearest even and halfToF32 inverts it on every finite half', () => {
    for (let h = 0; h < 0x10000; h++) {
      if (((h >>> 10) & 0x1f) === 31) continue;
      const v = halfToF32(h);
      const back = f32ToHalf(v);
      // -0 and +0 keep their sign bit
      expect(back).toBe(h);
    }
    expect(f32ToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(f32ToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToHalf(1e6)).toBe(0x7bff); // clamped to 65504
    expect(f32ToHalf(-1e6)).toBe(0xfbff);
    expect(f32ToHalf(2 ** -25)).toBe(0); // a tie below the smallest subnormal goes to 0
    expect(f32ToHalf(3 * 2 ** -26)).toBe(1);
  });
});

describe('ScalarQuantizer', () => {
  for (const type of TYPES) {
    it.each(DIMS)(`${type}: values on the grid round-trip exactly (d = %i)`, (d) => {
      const n = 50;
      const sq = track(new ScalarQuantizer({ d, type }));
      sq.train(floatVectors(200, d, 10 + d, 3, 1));
      expect(sq.codeSize).toBe(codeSizeOf(d, type));
      const r = new TestRng(20 + d);
      const codes = new Uint8Array(n * sq.codeSize);
      if (type === 'fp16') {
        const h = new Uint16Array(codes.buffer);
        for (let i = 0; i < h.length; i++) h[i] = f32ToHalf(Math.fround(r.gauss() * 3));
      } else {
        for (let i = 0; i < codes.length; i++) codes[i] = r.int(0, 255);
        // int4, odd d: encode writes a zero padding nibble
        if (type === 'int4' && d % 2 === 1) for (let i = 0; i < n; i++) codes[(i + 1) * sq.codeSize - 1] &= 0x0f;
      }
      const x = sq.decode(codes);
      expect(sq.encode(x)).toEqual(codes);
      expect(sq.decode(sq.encode(x))).toEqual(x);
      const out = new Uint8Array(n * sq.codeSize);
      sq.encodeInto(x, out);
      expect(out).toEqual(codes);
    });

    it(`${type}: reconstruction error is within half a step per component (uint8 / int8 / int4) or half precision (fp16)`, () => {
      const d = 16;
      const x = floatVectors(500, d, 31, 2, -1);
      const sq = track(new ScalarQuantizer({ d, type }));
      const res = sq.train(x);
      const rec = sq.decode(sq.encode(x));
      let err = 0;
      for (let i = 0; i < x.length; i++) {
        const e = Math.abs(rec[i] - x[i]);
        err += e * e;
        if (type === 'fp16') expect(e).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
      }
      expect(res.nTrain).toBe(500);
      expect(res.mse).toBeCloseTo(err / 500, 6);
      if (type !== 'fp16') {
        const { min, max } = sq.ranges!;
        for (let j = 0; j < d; j++) {
          const step = (max[j] - min[j]) / LEVELS[type];
          for (let i = 0; i < 500; i++) expect(Math.abs(rec[i * d + j] - x[i * d + j])).toBeLessThanOrEqual(step / 2 + 1e-5);
        }
      }
    });
  }

  it('uint8 and int8 give the same reconstructions; int8 codes are the uint8 codes minus 128', () => {
    const d = 9;
    const x = floatVectors(100, d, 41, 5, 2);
    const u = track(new ScalarQuantizer({ d, type: 'uint8' }));
    const s = track(new ScalarQuantizer({ d, type: 'int8' }));
    u.train(x);
    s.train(x);
    const cu = u.encode(x);
    const cs = s.encode(x);
    for (let i = 0; i < cu.length; i++) expect((cu[i] - 128) & 0xff).toBe(cs[i]);
    const ru = u.decode(cu);
    const rs = s.decode(cs);
    for (let i = 0; i < ru.length; i++) expect(Math.abs(ru[i] - rs[i])).toBeLessThanOrEqual(1e-5 * 8);
  });

  it('a constant dimension decodes to its value', () => {
    const x = new Float32Array([1, 5, 2, 5, 3, 5]);
    const sq = track(new ScalarQuantizer({ d: 2, type: 'uint8' }));
    sq.train(x);
    const rec = sq.decode(sq.encode(x));
    expect([rec[1], rec[3], rec[5]]).toEqual([5, 5, 5]);
    expect([rec[0], rec[4]]).toEqual([1, 3]);
  });

  it('int4: component 2t is the low nibble of byte t, 2t + 1 the high nibble; the padding nibble of odd d is 0', () => {
    for (const d of [1, 2, 3, 7, 16, 17]) {
      // range 0..15 in every dimension: step 1, the codes are the values
      const n = 16;
      const x = Float32Array.from({ length: n * d }, (_, i) => (Math.floor(i / d) + 3 * (i % d)) % 16);
      const sq = track(new ScalarQuantizer({ d, type: 'int4' }));
      const res = sq.train(x);
      expect(res.mse).toBe(0);
      const codes = sq.encode(x);
      expect(codes.length).toBe(n * Math.ceil(d / 2));
      for (let i = 0; i < n; i++) {
        for (let t = 0; t < Math.ceil(d / 2); t++) {
          const lo = x[i * d + 2 * t];
          const hi = 2 * t + 1 < d ? x[i * d + 2 * t + 1] : 0;
          expect(codes[i * Math.ceil(d / 2) + t]).toBe(lo | (hi << 4));
        }
      }
      expect(sq.decode(codes)).toEqual(x);
    }
  });

  it('int4: values round to the nearest level (ties to even), clamp outside the trained range, and decode ignores the padding nibble', () => {
    const sq = track(new ScalarQuantizer({ d: 3, type: 'int4' }));
    sq.train(new Float32Array([0, -1, 5, 15, 14, 5])); // steps 1, 1, 0
    const x = new Float32Array([2.5, 3.5, 9, -4, 40, 1, 7.49, 7.51, 5]);
    // dimension 1 (min -1): 3.5 is 4.5 steps up, a tie that goes to the even code 4, decoded -1 + 4 = 3
    expect(Array.from(sq.decode(sq.encode(x)))).toEqual([2, 3, 5, 0, 14, 5, 7, 8, 5]);
    const codes = sq.encode(x);
    for (let i = 0; i < 3; i++) expect(codes[2 * i + 1] >> 4).toBe(0);
    const dirty = codes.map((b, i) => (i % 2 === 1 ? b | 0xf0 : b));
    expect(sq.decode(dirty)).toEqual(sq.decode(codes));
  });

  it('save / load gives the same codes and bytes; same data gives the same bytes', () => {
    for (const type of TYPES) {
      const d = 13;
      const x = floatVectors(300, d, 51, 1, 0);
      const a = track(new ScalarQuantizer({ d, type }));
      a.train(x);
      const b = track(ScalarQuantizer.load(a.save()));
      expect(b.type).toBe(type);
      expect(b.encode(x)).toEqual(a.encode(x));
      expect(b.decode(a.encode(x))).toEqual(a.decode(a.encode(x)));
      expect(b.save()).toEqual(a.save());
      const c = track(new ScalarQuantizer({ d, type }));
      c.train(x);
      expect(c.save()).toEqual(a.save());
      const u = track(ScalarQuantizer.load(track(new ScalarQuantizer({ d, type })).save()));
      expect(u.isTrained).toBe(false);
    }
  });

  it('refuses bad input with stable codes', () => {
    const W = 'new ScalarQuantizer';
    expectRefusal(() => new ScalarQuantizer({ d: 0, type: 'uint8' }), 'INVALID_OPTION', W);
    expectRefusal(() => new ScalarQuantizer({ d: 4, type: 'int2' as SQType }), 'INVALID_OPTION', W, ["'int4'"]);
    expectRefusal(() => new ScalarQuantizer(null as never), 'INVALID_TYPE', W);
    const sq = track(new ScalarQuantizer({ d: 4, type: 'uint8' }));
    expectRefusal(() => sq.encode(new Float32Array(4)), 'NOT_TRAINED', 'ScalarQuantizer.encode');
    expectRefusal(() => sq.decode(new Uint8Array(4)), 'NOT_TRAINED', 'ScalarQuantizer.decode');
    expectRefusal(() => sq.train(new Float32Array(6)), 'INVALID_SIZE', 'ScalarQuantizer.train');
    expectRefusal(() => sq.train(new Float32Array([1, 2, NaN, 4])), 'NON_FINITE', 'ScalarQuantizer.train');
    expectRefusal(() => sq.train(new Float64Array(4) as never), 'INVALID_TYPE', 'ScalarQuantizer.train');
    sq.train(floatVectors(10, 4, 1));
    expectRefusal(() => sq.encode(new Float32Array(5)), 'INVALID_SIZE', 'ScalarQuantizer.encode');
    expectRefusal(() => sq.decode(new Uint8Array(5)), 'INVALID_SIZE', 'ScalarQuantizer.decode');
    expectRefusal(() => sq.decode([1, 2, 3, 4] as never), 'INVALID_TYPE', 'ScalarQuantizer.decode');
    expectRefusal(() => sq.encodeInto(new Float32Array(4), new Uint8Array(3)), 'INVALID_SIZE', 'ScalarQuantizer.encodeInto');
    expectRefusal(() => sq.computeDistanceTable(new Float32Array(4)), 'INVALID_OPTION', 'ScalarQuantizer.computeDistanceTable');
    const bytes = sq.save();
    const bad = bytes.slice();
    bad[bad.length - 10] ^= 0xff;
    expectRefusal(() => ScalarQuantizer.load(bad), 'CORRUPT_DATA', 'ScalarQuantizer.load');
    expectRefusal(() => ScalarQuantizer.load(bytes.subarray(0, 20)), 'CORRUPT_DATA', 'ScalarQuantizer.load');
    expectRefusal(() => ScalarQuantizer.load('x' as never), 'INVALID_TYPE', 'ScalarQuantizer.load');
    const idx = track(new SQIndex({ d: 4, type: 'uint8' }));
    expectRefusal(() => ScalarQuantizer.load(idx.save()), 'CORRUPT_DATA', 'ScalarQuantizer.load', ['wrong kind']);
    sq.dispose();
    expectRefusal(() => sq.encode(new Float32Array(4)), 'DISPOSED', 'ScalarQuantizer.encode');
  });
});

describe('SQIndex', () => {
  for (const type of TYPES) {
    for (const metric of METRICS) {
      it.each(DIMS)(`${type} ${metric}: search equals brute force over the decoded vectors (d = %i)`, (d) => {
        const n = 300;
        const nq = 7;
        const k = 10;
        const x = floatVectors(n, d, 100 + d, 1, 0.5);
        const q = floatVectors(nq, d, 200 + d, 1, 0);
        const idx = track(new SQIndex({ d, type, metric }));
        idx.train(x);
        idx.add(x);
        const dec = idx.reconstruct(Int32Array.from({ length: n }, (_, i) => i));
        expect(dec).toEqual(idx.quantizer.decode(idx.quantizer.encode(x)));
        const res = idx.search(q, k);
        const want = brute(dec, q, d, k, metric);
        for (let i = 0; i < nq; i++) {
          const s = want.scores[i];
          let scale = 0;
          for (let j = 0; j < d; j++) scale += Math.abs(q[i * d + j]) * 3;
          const tol = 1e-5 * (1 + scale * scale);
          for (let j = 0; j < k; j++) {
            const got = res.ids[i * k + j];
            // ids may differ only on near-ties: the chosen one must score within float rounding of the true j-th
            const true_ = s[want.ids[i * k + j]];
            expect(Math.abs(s[got] - true_)).toBeLessThanOrEqual(tol);
            const dist = metric === 'l2' ? s[got] : -s[got];
            expect(Math.abs(res.distances[i * k + j] - dist)).toBeLessThanOrEqual(tol);
          }
        }
      });
    }
  }

  for (const type of ['uint8', 'int8', 'int4'] as const) {
    for (const metric of METRICS) {
      it.each([16, 32, 64])(`${type} ${metric} with d %% 16 == 0 (integer scan of the quantized query): brute force over the decoded vectors within the query quantization error (d = %i)`, (d) => {
        const n = 400;
        const nq = 9;
        const k = 10;
        const x = floatVectors(n, d, 800 + d, 1, 0.5);
        const q = floatVectors(nq, d, 900 + d, 1, 0);
        const idx = track(new SQIndex({ d, type, metric }));
        idx.train(x);
        idx.add(x);
        const dec = idx.reconstruct(Int32Array.from({ length: n }, (_, i) => i));
        const { min, max } = idx.quantizer.ranges!;
        const res = idx.search(q, k);
        const want = brute(dec, q, d, k, metric);
        const W = Math.min(32767, Math.floor((2 ** 31 - 1) / (255 * d)));
        for (let i = 0; i < nq; i++) {
          let mx = 0;
          let scale = 0;
          for (let j = 0; j < d; j++) {
            const step = (max[j] - min[j]) / LEVELS[type];
            const a = type === 'int8' ? min[j] + 128 * step : min[j];
            // the folded weights before quantization: ip -q b, l2 -2 (q - a) b
            const wj = metric === 'ip' ? q[i * d + j] * step : 2 * (q[i * d + j] - a) * step;
            mx = Math.max(mx, Math.abs(wj));
            scale += metric === 'ip' ? Math.abs(q[i * d + j]) * 3 : (Math.abs(q[i * d + j]) + 4) ** 2;
          }
          // each weight is off by at most half a step mx / W, times a code of at most 255 (uint8) / 128 (int8) / 15 (int4)
          const tol = (d * 255 * 0.5 * mx) / W + 1e-5 * (1 + scale);
          const s = want.scores[i];
          for (let j = 0; j < k; j++) {
            const got = res.ids[i * k + j];
            expect(Math.abs(s[got] - s[want.ids[i * k + j]])).toBeLessThanOrEqual(2 * tol);
            expect(Math.abs(res.distances[i * k + j] - (metric === 'ip' ? -s[got] : s[got]))).toBeLessThanOrEqual(tol);
          }
        }
        // the grouping of queries does not change the results
        for (let i = 0; i < nq; i++) {
          const one = idx.search(q.subarray(i * d, (i + 1) * d), k);
          expect(one.ids).toEqual(res.ids.subarray(i * k, (i + 1) * k));
          expect(one.distances).toEqual(res.distances.subarray(i * k, (i + 1) * k));
        }
        // rerank over all is exact
        const r = track(new SQIndex({ d, type, metric, refine: true }));
        r.train(x);
        r.add(x);
        const flat = track(new FlatIndex({ d, metric }));
        flat.add(x);
        expect(r.search(q, k, { rerank: n }).ids).toEqual(flat.search(q, k).ids);
      });
    }

    it(`${type} l2 integer scan: a query equal to a stored reconstruction finds it at distance 0 (clamped, never negative)`, () => {
      const d = 32;
      const x = floatVectors(300, d, 1300, 2, 1);
      const idx = track(new SQIndex({ d, type, metric: 'l2' }));
      idx.train(x);
      idx.add(x);
      const dec = idx.reconstruct([5, 77]);
      const res = idx.search(dec, 3);
      expect([res.ids[0], res.ids[3]]).toEqual([5, 77]);
      for (const v of res.distances) expect(v).toBeGreaterThanOrEqual(0);
      // within the query quantization error of 0 (the bound of the test above)
      const { min, max } = idx.quantizer.ranges!;
      const W = Math.min(32767, Math.floor((2 ** 31 - 1) / (255 * d)));
      let mx = 0;
      let scale = 0;
      for (let j = 0; j < d; j++) {
        const step = (max[j] - min[j]) / LEVELS[type];
        const a = type === 'int8' ? min[j] + 128 * step : min[j];
        mx = Math.max(mx, Math.abs(2 * (dec[j] - a) * step));
        scale += (Math.abs(dec[j]) + Math.abs(a)) ** 2;
      }
      expect(res.distances[0]).toBeLessThanOrEqual((d * 255 * 0.5 * mx) / W + 1e-5 * scale);
    });
  }

  it('l2 integer scan: searches between adds (the kept code norms extended and regrown) give what a fresh index of the same vectors gives', () => {
    for (const type of ['uint8', 'int8', 'int4'] as const) {
      const d = 32;
      const x = floatVectors(700, d, 1400, 1, 0.5);
      const q = floatVectors(6, d, 1401, 1, 0);
      const grown = track(new SQIndex({ d, type, metric: 'l2' }));
      grown.train(x);
      const cuts = [0, 3, 40, 41, 200, 700];
      for (let c = 1; c < cuts.length; c++) {
        grown.add(x.subarray(cuts[c - 1] * d, cuts[c] * d));
        const fresh = track(new SQIndex({ d, type, metric: 'l2' }));
        fresh.train(x);
        fresh.add(x.subarray(0, cuts[c] * d));
        for (const nq of [1, 6]) {
          const a = grown.search(q.subarray(0, nq * d), 5);
          const b = fresh.search(q.subarray(0, nq * d), 5);
          expect(a.ids).toEqual(b.ids);
          expect(a.distances).toEqual(b.distances);
        }
        expect(grown.bytesPerVector).toBe(codeSizeOf(d, type) + 4);
      }
    }
  });


  it('l2 integer scan: after remove() and after reset() + a retrain, searches give what a fresh index of the kept vectors gives (the kept norms follow the codes)', () => {
    for (const type of ['uint8', 'int8', 'int4'] as const) {
      const d = 32;
      const n = 600;
      const x = floatVectors(n, d, 1410, 1, 0.5);
      const y = floatVectors(n, d, 1411, 3, -1);
      const q = floatVectors(8, d, 1412, 1, 0);
      const index = track(new SQIndex({ d, type, metric: 'l2' }));
      index.train(x);
      index.add(x);
      index.search(q, 5); // the norms of all n codes are kept from here
      const gone = Int32Array.from({ length: 150 }, (_, i) => 4 * i);
      index.remove(gone);
      const kept = Int32Array.from({ length: n }, (_, i) => i).filter((i) => i % 4 !== 0);
      const fresh = track(new SQIndex({ d, type, metric: 'l2' }));
      fresh.train(x);
      const rows = new Float32Array(kept.length * d);
      kept.forEach((i, r) => rows.set(x.subarray(i * d, (i + 1) * d), r * d));
      fresh.add(rows, kept);
      for (const nq of [1, 8]) {
        const a = index.search(q.subarray(0, nq * d), 5);
        const b = fresh.search(q.subarray(0, nq * d), 5);
        expect(a.ids, `${type} after remove, nq ${nq}`).toEqual(b.ids);
        expect(a.distances).toEqual(b.distances);
      }
      // emptied, trained on other data (other ranges), filled again with fewer vectors than the norms once covered
      index.reset();
      index.train(y);
      index.add(y.subarray(0, 400 * d));
      const again = track(new SQIndex({ d, type, metric: 'l2' }));
      again.train(y);
      again.add(y.subarray(0, 400 * d));
      const a = index.search(q, 5);
      const b = again.search(q, 5);
      expect(a.ids, `${type} after reset`).toEqual(b.ids);
      expect(a.distances).toEqual(b.distances);
    }
  });
  it('results do not depend on how queries are grouped (four-query and one-query scans give the same bits)', () => {
    for (const type of TYPES) {
      for (const metric of METRICS) {
        const d = 19;
        const x = floatVectors(500, d, 701);
        const q = floatVectors(11, d, 702);
        const idx = track(new SQIndex({ d, type, metric }));
        idx.train(x);
        idx.add(x);
        const all = idx.search(q, 8);
        for (let i = 0; i < 11; i++) {
          const one = idx.search(q.subarray(i * d, (i + 1) * d), 8);
          expect(one.ids).toEqual(all.ids.subarray(i * 8, (i + 1) * 8));
          expect(one.distances).toEqual(all.distances.subarray(i * 8, (i + 1) * 8));
        }
      }
    }
  });

  for (const metric of METRICS) {
    it(`refine + rerank over all equals FlatIndex (${metric})`, () => {
      const d = 24;
      const n = 400;
      const x = floatVectors(n, d, 301);
      const q = floatVectors(20, d, 302);
      const idx = track(new SQIndex({ d, type: 'uint8', metric, refine: true }));
      idx.train(x);
      idx.add(x);
      const flat = track(new FlatIndex({ d, metric }));
      flat.add(x);
      const a = idx.search(q, 10, { rerank: n });
      const b = flat.search(q, 10);
      expect(a.ids).toEqual(b.ids);
      for (let i = 0; i < a.distances.length; i++) expect(Math.abs(a.distances[i] - b.distances[i])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(b.distances[i])));
      expect(idx.reconstruct([3])).toEqual(x.subarray(3 * d, 4 * d));
    });

    it(`recall@10 against FlatIndex on seeded data (${metric})`, () => {
      const d = 32;
      const n = 5000;
      const x = floatVectors(n, d, 401);
      const q = floatVectors(50, d, 402);
      const flat = track(new FlatIndex({ d, metric }));
      flat.add(x);
      const gt = flat.search(q, 10);
      for (const type of TYPES) {
        const idx = track(new SQIndex({ d, type, metric }));
        idx.train(x);
        idx.add(x);
        const r = recall(idx.search(q, 10).ids, gt.ids, 50, 10);
        // int4: 16 levels over the range of a Gaussian (measured 0.77 l2, 0.84 ip); re-ranking recovers it
        expect(r, type).toBeGreaterThanOrEqual(type === 'fp16' ? 0.99 : type === 'int4' ? 0.7 : 0.9);
      }
      const refined = track(new SQIndex({ d, type: 'int4', metric, refine: true }));
      refined.train(x);
      refined.add(x);
      expect(recall(refined.search(q, 10, { rerank: 100 }).ids, gt.ids, 50, 10)).toBeGreaterThanOrEqual(0.98);
    });
  }

  it('user ids, several adds, save / load with identical results and bytes', () => {
    for (const type of TYPES) {
      const d = 10;
      const x = floatVectors(200, d, 501);
      const q = floatVectors(9, d, 502);
      const mk = () => {
        const idx = track(new SQIndex({ d, type, metric: 'ip', refine: true }));
        idx.train(x);
        idx.add(x.subarray(0, 100 * d));
        idx.add(x.subarray(100 * d), Int32Array.from({ length: 100 }, (_, i) => 1000 + i));
        return idx;
      };
      const a = mk();
      expect(a.size).toBe(200);
      expect(a.bytesPerVector).toBe(codeSizeOf(d, type) + 4 + 4 * d);
      const r1 = a.search(q, 5);
      expect(Array.from(r1.ids).every((id) => (id >= 0 && id < 100) || (id >= 1000 && id < 1100))).toBe(true);
      const b = track(SQIndex.load(a.save()));
      expect(b.search(q, 5)).toEqual(r1);
      expect(b.search(q, 5, { rerank: 20 })).toEqual(a.search(q, 5, { rerank: 20 }));
      expect(b.reconstruct([1005, 7])).toEqual(a.reconstruct([1005, 7]));
      expect(b.save()).toEqual(a.save());
      expect(mk().save()).toEqual(a.save());
    }
  });

  it('reconstruct(ids): decoded codes (originals with refine) by user id, in the order asked, first vector of an id added twice', () => {
    for (const type of TYPES) {
      for (const refine of [false, true]) {
        const d = 7;
        const x = floatVectors(60, d, 1100);
        const idx = track(new SQIndex({ d, type, refine }));
        idx.train(x);
        idx.add(x.subarray(0, 20 * d)); // implicit ids 0..19
        idx.add(x.subarray(20 * d, 40 * d), Int32Array.from({ length: 20 }, (_, i) => 500 + i));
        idx.add(x.subarray(40 * d), Int32Array.from({ length: 20 }, (_, i) => (i < 2 ? 3 : 600 + i))); // id 3 again
        const dec = idx.quantizer.decode(idx.quantizer.encode(x));
        const src = refine ? x : dec;
        const row = (p: number) => Array.from(src.subarray(p * d, (p + 1) * d));
        const got = idx.reconstruct(new Int32Array([519, 3, 0, 602, 500]));
        expect(Array.from(got)).toEqual([...row(39), ...row(3), ...row(0), ...row(42), ...row(20)]);
        expect(idx.reconstruct([3])).toEqual(idx.reconstruct(new Int32Array([3])));
        expect(idx.reconstruct([]).length).toBe(0);
        expectRefusal(() => idx.reconstruct([20]), 'INVALID_OPTION', 'SQIndex.reconstruct', ['not in the index']);
        expectRefusal(() => idx.reconstruct([1.5]), 'INVALID_OPTION', 'SQIndex.reconstruct');
        expectRefusal(() => idx.reconstruct(new Float32Array([1]) as never), 'INVALID_TYPE', 'SQIndex.reconstruct');
        const back = track(SQIndex.load(idx.save()));
        expect(back.reconstruct([519, 3, 0, 602])).toEqual(idx.reconstruct([519, 3, 0, 602]));
      }
    }
    const untrained = track(new SQIndex({ d: 3, type: 'int4' }));
    expectRefusal(() => untrained.reconstruct([0]), 'INVALID_OPTION', 'SQIndex.reconstruct', ['not in the index']);
    untrained.dispose();
    expectRefusal(() => untrained.reconstruct([0]), 'DISPOSED', 'SQIndex.reconstruct');
  });

  it('files written before int4 existed (uint8, int8, fp16) load and save to the same bytes', () => {
    // written by the previous release: d = 5, ip, refine, ids 0..2 then 70..72, x_i = (i * 7919) % 17 - 8
    const d = 5;
    const x = Float32Array.from({ length: 6 * d }, (_, i) => ((i * 7919) % 17) - 8);
    const files: Record<string, string> = {
      uint8: 'VlFXRgEADAB0AQAAWgAAAHsiZCI6NSwidHlwZSI6InVpbnQ4IiwidHJhaW5lZCI6dHJ1ZSwibWV0cmljIjoiaXAiLCJyZWZpbmUiOnRydWUsIm4iOjYsImV4cGxpY2l0SWRzIjp0cnVlfQAABQAAAE1JTiAUAAAAAAAAwQAA4MAAAADBAADgwAAAQMBTVEVQFAAAAKGgID3x8HA98fBwPfHwcD2hoCA9Q09ERR4AAAAA3bt3ADP/3ZkzZgD/u2aZIgDdmcxEIv/M/2ZEAP8AAElEUyAYAAAAAAAAAAEAAAACAAAARgAAAEcAAABIAAAAVkVDU3gAAAAAAADBAADAQAAAQEAAAAAAAABAwAAAwMAAAABBAACgQAAAAEAAAIC/AACAwAAA4MAAAOBAAACAQAAAgD8AAADAAACgwAAAAMEAAMBAAABAQAAAAAAAAEDAAADAwAAAAEEAAKBAAAAAQAAAgL8AAIDAAADgwAAA4EBeuDrq',
      int8: 'VlFXRgEADAB0AQAAWQAAAHsiZCI6NSwidHlwZSI6ImludDgiLCJ0cmFpbmVkIjp0cnVlLCJtZXRyaWMiOiJpcCIsInJlZmluZSI6dHJ1ZSwibiI6NiwiZXhwbGljaXRJZHMiOnRydWV9AAAABQAAAE1JTiAUAAAAAAAAwQAA4MAAAADBAADgwAAAQMBTVEVQFAAAAKGgID3x8HA98fBwPfHwcD2hoCA9Q09ERR4AAACAXTv3gLN/XRmz5oB/O+YZooBdGUzEon9Mf+bEgH8AAElEUyAYAAAAAAAAAAEAAAACAAAARgAAAEcAAABIAAAAVkVDU3gAAAAAAADBAADAQAAAQEAAAAAAAABAwAAAwMAAAABBAACgQAAAAEAAAIC/AACAwAAA4MAAAOBAAACAQAAAgD8AAADAAACgwAAAAMEAAMBAAABAQAAAAAAAAEDAAADAwAAAAEEAAKBAAAAAQAAAgL8AAIDAAADgwAAA4ECM1k+b',
      fp16: 'VlFXRgEADABYAQAAWQAAAHsiZCI6NSwidHlwZSI6ImZwMTYiLCJ0cmFpbmVkIjp0cnVlLCJtZXRyaWMiOiJpcCIsInJlZmluZSI6dHJ1ZSwibiI6NiwiZXhwbGljaXRJZHMiOnRydWV9AAAAAwAAAENPREU8AAAAAMgARgBCAAAAwgDGAEgARQBAALwAxADHAEcARAA8AMAAxQDIAEYAQgAAAMIAxgBIAEUAQAC8AMQAxwBHSURTIBgAAAAAAAAAAQAAAAIAAABGAAAARwAAAEgAAABWRUNTeAAAAAAAAMEAAMBAAABAQAAAAAAAAEDAAADAwAAAAEEAAKBAAAAAQAAAgL8AAIDAAADgwAAA4EAAAIBAAACAPwAAAMAAAKDAAAAAwQAAwEAAAEBAAAAAAAAAQMAAAMDAAAAAQQAAoEAAAABAAACAvwAAgMAAAODAAADgQK5b1hk=',
    };
    for (const [type, b64] of Object.entries(files)) {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const old = track(SQIndex.load(bytes));
      expect(old.type).toBe(type);
      const now = track(new SQIndex({ d, type: type as SQType, metric: 'ip', refine: true }));
      now.train(x);
      now.add(x.subarray(0, 3 * d));
      now.add(x.subarray(3 * d), new Int32Array([70, 71, 72]));
      expect(now.save()).toEqual(bytes);
      expect(old.search(x, 4)).toEqual(now.search(x, 4));
      expect(old.reconstruct([70, 1])).toEqual(now.reconstruct([70, 1]));
    }
  });

  it('int4 with odd d: save / load round-trips; a file whose padding nibble is not zero is refused', () => {
    for (const d of [1, 5, 33]) {
      const x = floatVectors(40, d, 1200 + d);
      const idx = track(new SQIndex({ d, type: 'int4', metric: 'l2' }));
      idx.train(x);
      idx.add(x);
      expect(idx.bytesPerVector).toBe(Math.ceil(d / 2));
      const bytes = idx.save();
      const back = track(SQIndex.load(bytes));
      expect(back.save()).toEqual(bytes);
      expect(back.search(x, 5)).toEqual(idx.search(x, 5));
      // the CODE section: 40 codes of ceil(d / 2) bytes, found by its tag; set the padding nibble of code 7
      const cs = Math.ceil(d / 2);
      const tag = [0x43, 0x4f, 0x44, 0x45];
      let at = -1;
      for (let i = 0; i + 8 < bytes.length && at < 0; i++) if (tag.every((t, j) => bytes[i + j] === t)) at = i + 8;
      expect(at).toBeGreaterThan(0);
      const codes = idx.quantizer.encode(x);
      expect(bytes.subarray(at, at + 40 * cs)).toEqual(codes);
      const bad = bytes.slice();
      bad[at + 8 * cs - 1] |= 0x10;
      new DataView(bad.buffer).setUint32(bad.length - 4, crc32(bad.subarray(0, bad.length - 4)), true); // a valid checksum: only the nibble is wrong
      expectRefusal(() => SQIndex.load(bad), 'CORRUPT_DATA', 'SQIndex.load', ['padding nibble of code 7']);
    }
  });

  it('an empty or untrained index saves and loads', () => {
    const a = track(new SQIndex({ d: 3, type: 'int8' }));
    const b = track(SQIndex.load(a.save()));
    expect(b.isTrained).toBe(false);
    a.train(floatVectors(10, 3, 1));
    const c = track(SQIndex.load(a.save()));
    expect(c.size).toBe(0);
    const r = c.search(new Float32Array(3), 2);
    expect(Array.from(r.ids)).toEqual([-1, -1]);
  });

  it('refuses bad input with stable codes', () => {
    const W = 'new SQIndex';
    expectRefusal(() => new SQIndex({ d: 4, type: 'int16' as SQType }), 'INVALID_OPTION', W);
    expectRefusal(() => new SQIndex({ d: 4, type: 'uint8', metric: 'cosine' as never }), 'INVALID_OPTION', W);
    expectRefusal(() => new SQIndex({ d: 4, type: 'uint8', refine: 1 as never }), 'INVALID_OPTION', W);
    expectRefusal(() => new SQIndex(undefined as never), 'INVALID_TYPE', W);
    const idx = track(new SQIndex({ d: 4, type: 'uint8' }));
    expectRefusal(() => idx.add(new Float32Array(4)), 'NOT_TRAINED', 'SQIndex.add');
    expectRefusal(() => idx.search(new Float32Array(4), 1), 'NOT_TRAINED', 'SQIndex.search');
    idx.train(floatVectors(20, 4, 2));
    idx.add(floatVectors(20, 4, 2));
    expectRefusal(() => idx.train(floatVectors(20, 4, 2)), 'INVALID_OPTION', 'SQIndex.train');
    expectRefusal(() => idx.add(new Float32Array(5)), 'INVALID_SIZE', 'SQIndex.add');
    expectRefusal(() => idx.add(new Float32Array([0, NaN, 0, 0])), 'NON_FINITE', 'SQIndex.add');
    expectRefusal(() => idx.add(new Float32Array(4), new Int32Array([-2])), 'INVALID_OPTION', 'SQIndex.add');
    expectRefusal(() => idx.search(new Float32Array(3), 1), 'INVALID_SIZE', 'SQIndex.search');
    expectRefusal(() => idx.search(new Float32Array([Infinity, 0, 0, 0]), 1), 'NON_FINITE', 'SQIndex.search');
    expectRefusal(() => idx.search(new Float32Array(4), 0), 'INVALID_OPTION', 'SQIndex.search');
    expectRefusal(() => idx.search(new Float32Array(4), 1, { rerank: 5 }), 'INVALID_OPTION', 'SQIndex.search', ['refine']);
    expectRefusal(() => idx.reconstruct([99]), 'INVALID_OPTION', 'SQIndex.reconstruct');
    expectRefusal(() => idx.reconstruct('a' as never), 'INVALID_TYPE', 'SQIndex.reconstruct');
    const bytes = idx.save();
    const bad = bytes.slice();
    bad[40] ^= 0x55;
    expectRefusal(() => SQIndex.load(bad), 'CORRUPT_DATA', 'SQIndex.load');
    expectRefusal(() => SQIndex.load(bytes.subarray(0, bytes.length - 1)), 'CORRUPT_DATA', 'SQIndex.load');
    expectRefusal(() => SQIndex.load(track(new ScalarQuantizer({ d: 4, type: 'uint8' })).save()), 'CORRUPT_DATA', 'SQIndex.load', ['wrong kind']);
    idx.dispose();
    expectRefusal(() => idx.search(new Float32Array(4), 1), 'DISPOSED', 'SQIndex.search');
    expectRefusal(() => idx.size, 'DISPOSED', 'SQIndex.size');
  });

  it('create / dispose does not grow memory', () => {
    const d = 16;
    const x = floatVectors(2000, d, 601);
    const cycle = () => {
      for (const type of TYPES) {
        const idx = new SQIndex({ d, type, metric: 'l2', refine: true });
        idx.train(x);
        idx.add(x);
        idx.search(x.subarray(0, 10 * d), 5, { rerank: 20 });
        SQIndex.load(idx.save()).dispose();
        idx.dispose();
      }
    };
    cycle();
    const before = memoryStats();
    for (let i = 0; i < 5; i++) cycle();
    const after = memoryStats();
    expect(after.liveAllocations).toBe(before.liveAllocations);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.memoryBytes).toBe(before.memoryBytes);
  });
});
