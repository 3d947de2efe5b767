// FlatIndex.rangeSearch (Faiss range_search): every vector within the radius, best first, with the distances search()
// gives for the same pairs; checked against search(q, size) (which orders everything) and against float64 distances,
// across dims that hit every SIMD tail, several score blocks, filters, ids, removals and bad arguments.
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFFlatIndex } from '../dist/index.js';
import { dot64, l2sq64, normalizeRows } from './reference/distance.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { codeOf } from './helpers/refusals.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

const METRICS = ['l2', 'ip', 'cosine'] as const;

/** The hits search(q, size) implies: its rows cut where the distance stops being within r. */
function fromSearch(
  index: FlatIndex | IVFFlatIndex, q: Float32Array, nq: number, r: number, l2: boolean, options: Record<string, unknown> = {},
): { lims: number[]; ids: number[]; distances: number[] } {
  const n = index.size;
  const all = index.search(q, n, options);
  const lims = [0];
  const ids: number[] = [];
  const distances: number[] = [];
  for (let i = 0; i < nq; i++) {
    for (let t = 0; t < n; t++) {
      const v = all.distances[i * n + t];
      if (!(l2 ? v < r : v > r)) break;
      ids.push(all.ids[i * n + t]);
      distances.push(v);
    }
    lims.push(ids.length);
  }
  return { lims, ids, distances };
}

function r30Of(index: IVFFlatIndex, q: Float32Array, d: number): number {
  return index.search(q.subarray(0, d), 30, { nprobe: 6 }).distances[29];
}

describe('FlatIndex.rangeSearch', () => {
  it.each(METRICS.flatMap((metric) => [1, 3, 5, 7, 17, 33, 64, 100].map((d) => ({ metric, d }))))(
    'equals search() cut at the radius, and float64 distances agree, metric $metric, d = $d',
    ({ metric, d }) => {
      const n = 700;
      const x = floatVectors(n, d, 40 + d);
      const q = floatVectors(9, d, 41 + d);
      const index = track(new FlatIndex({ d, metric }));
      index.add(x);
      const l2 = metric === 'l2';
      // a radius that takes about 30 vectors of query 0 (its 30th distance, and the ties with it)
      const r30 = index.search(q.subarray(0, d), 30).distances[29];
      const r = l2 ? r30 * (1 + 1e-6) + 1e-12 : r30 - 1e-6 * Math.abs(r30) - 1e-12;
      const got = index.rangeSearch(q, r);
      const want = fromSearch(index, q, 9, r, l2);
      expect(Array.from(got.lims)).toEqual(want.lims);
      expect(Array.from(got.ids)).toEqual(want.ids);
      expect(Array.from(got.distances)).toEqual(want.distances);
      expect(got.lims[1]).toBeGreaterThan(20);
      // independently: float64 distances inside the radius (up to float32 rounding) for hits, outside for the others
      const xs = metric === 'cosine' ? x.slice() : x;
      const qs = metric === 'cosine' ? q.slice() : q;
      if (metric === 'cosine') {
        normalizeRows(xs, n, d);
        normalizeRows(qs, 9, d);
      }
      for (let i = 0; i < 9; i++) {
        const inside = new Set(Array.from(got.ids.subarray(got.lims[i], got.lims[i + 1])));
        for (let j = 0; j < n; j++) {
          const v = l2 ? l2sq64(qs, i, xs, j, d) : dot64(qs, i, xs, j, d);
          const tol = 1e-5 * (1 + Math.abs(v) + Math.abs(r));
          if (inside.has(j)) expect(l2 ? v < r + tol : v > r - tol, `query ${i}, vector ${j} inside`).toBe(true);
          else expect(l2 ? v >= r - tol : v <= r + tol, `query ${i}, vector ${j} outside`).toBe(true);
        }
      }
    },
  );

  it('several score blocks (n over 8192), ids given, filters, a removal', () => {
    const d = 5;
    const n = 9000;
    const x = floatVectors(n, d, 50);
    const q = floatVectors(6, d, 51);
    const ids = Int32Array.from({ length: n }, (_, i) => 3 * i + 7);
    const index = track(new FlatIndex({ d }));
    index.add(x, ids);
    const r = index.search(q.subarray(0, d), 200).distances[199];
    const got = index.rangeSearch(q, r);
    const want = fromSearch(index, q, 6, r, true);
    expect(Array.from(got.ids)).toEqual(want.ids);
    expect(Array.from(got.distances)).toEqual(want.distances);
    expect(got.ids.some((id) => (id - 7) / 3 >= 8192)).toBe(true); // hits from the second block
    // filters: exclude per query, allow as ids and as a bitset; the same as dropping those hits
    const exclude = Array.from({ length: 6 }, (_, i) => got.ids.subarray(got.lims[i], got.lims[i] + 5));
    const allowIds = Int32Array.from(ids.filter((_, i) => i % 2 === 0));
    const bits = new Uint8Array((3 * n + 7) >> 3);
    for (const id of allowIds) bits[id >> 3] |= 1 << (id & 7);
    for (const [opts, keep] of [
      [{ exclude }, (i: number, id: number) => !exclude[i].includes(id)],
      [{ allow: allowIds }, (_i: number, id: number) => ((id - 7) / 3) % 2 === 0],
      [{ allow: bits, exclude }, (i: number, id: number) => ((id - 7) / 3) % 2 === 0 && !exclude[i].includes(id)],
    ] as const) {
      const f = index.rangeSearch(q, r, opts);
      for (let i = 0; i < 6; i++) {
        const all = Array.from(got.ids.subarray(got.lims[i], got.lims[i + 1]));
        expect(Array.from(f.ids.subarray(f.lims[i], f.lims[i + 1]))).toEqual(all.filter((id) => keep(i, id)));
      }
    }
    // removed vectors are gone from the ranges too
    const gone = got.ids.subarray(got.lims[0], got.lims[0] + 10);
    index.remove(gone);
    const after = index.rangeSearch(q, r);
    expect(Array.from(after.ids.subarray(after.lims[0], after.lims[1]))).toEqual(Array.from(got.ids.subarray(got.lims[0] + 10, got.lims[1])));
  });

  it.each(METRICS)('a radius between two float32 values compares as the number it is, metric %s', (metric) => {
    const d = 6;
    const index = track(new FlatIndex({ d, metric }));
    index.add(floatVectors(300, d, 70));
    const q = floatVectors(1, d, 71);
    const top = index.search(q, 12);
    const v = top.distances[5]; // a float32
    const l2 = metric === 'l2';
    // just past v, towards the outside of the range, by less than half a float32 step: it rounds back to v
    const r = l2 ? v + Math.abs(v) * 2 ** -30 : v - Math.abs(v) * 2 ** -30;
    expect(Math.fround(r)).toBe(v);
    const got = index.rangeSearch(q, r);
    // v itself is within r (v < r for l2, v > r for similarities): 6 hits (more only on exact ties with v)
    let want = 6;
    while (want < 12 && top.distances[want] === v) want++;
    expect(got.lims[1]).toBe(want);
    expect(Array.from(got.ids)).toEqual(Array.from(top.ids.subarray(0, want)));
    // and the float32 v itself as the radius leaves it out
    expect(index.rangeSearch(q, v).lims[1]).toBe(top.distances.indexOf(v));
  });

  it.each([
    { metric: 'l2' as const, d: 7 },
    { metric: 'ip' as const, d: 33 },
  ])('IVFFlatIndex: the probed lists cut at the radius, as search() orders them, metric $metric, d = $d', ({ metric, d }) => {
    const n = 900;
    const x = floatVectors(n, d, 80 + d);
    const q = floatVectors(7, d, 81 + d);
    const index = track(new IVFFlatIndex({ d, nlist: 6, metric, seed: 3 }));
    index.train(x);
    index.add(x, Int32Array.from({ length: n }, (_, i) => 2 * i + 1));
    const l2 = metric === 'l2';
    for (const nprobe of [1, 3, 6]) {
      const r30 = index.search(q.subarray(0, d), 30, { nprobe: 6 }).distances[29];
      const got = index.rangeSearch(q, r30, { nprobe });
      const want = fromSearch(index, q, 7, r30, l2, { nprobe });
      expect(Array.from(got.lims), `nprobe ${nprobe}`).toEqual(want.lims);
      expect(Array.from(got.ids)).toEqual(want.ids);
      expect(Array.from(got.distances)).toEqual(want.distances);
      // every list probed: the hits are FlatIndex's (by ids; the two score in different forms, so the ids are
      // compared away from the boundary only)
      if (nprobe === 6) {
        const flat = track(new FlatIndex({ d, metric }));
        flat.add(x, Int32Array.from({ length: n }, (_, i) => 2 * i + 1));
        const f = flat.rangeSearch(q, r30);
        for (let i = 0; i < 7; i++) {
          const a = new Set(got.ids.subarray(got.lims[i], got.lims[i + 1]));
          for (let t = f.lims[i]; t < f.lims[i + 1]; t++) {
            if (Math.abs(f.distances[t] - r30) > 1e-4 * (1 + Math.abs(r30))) expect(a.has(f.ids[t])).toBe(true);
          }
        }
      }
    }
    expect(codeOf(() => index.rangeSearch(q, r30Of(index, q, d), { nprobe: 7 }))).toBe('INVALID_OPTION');
    const untrained = track(new IVFFlatIndex({ d, nlist: 6 }));
    expect(codeOf(() => untrained.rangeSearch(q, 1))).toBe('NOT_TRAINED');
  });

  it('an empty index, a radius nothing is within, and bad arguments', () => {
    const d = 4;
    const index = track(new FlatIndex({ d }));
    const q = floatVectors(3, d, 60);
    expect(Array.from(index.rangeSearch(q, 10).lims)).toEqual([0, 0, 0, 0]);
    index.add(floatVectors(50, d, 61));
    const none = index.rangeSearch(q, 0);
    expect(Array.from(none.lims)).toEqual([0, 0, 0, 0]);
    expect(none.ids.length).toBe(0);
    for (const bad of [NaN, Infinity, '1', null]) expect(codeOf(() => index.rangeSearch(q, bad as number))).toBe('INVALID_OPTION');
    expect(codeOf(() => index.rangeSearch(q.subarray(0, 3), 1))).toBe('INVALID_SIZE');
    expect(codeOf(() => index.rangeSearch(q, 1, { exclude: [] }))).toBe('INVALID_SIZE');
    index.dispose();
    expect(codeOf(() => index.rangeSearch(q, 1))).toBe('DISPOSED');
  });
});
