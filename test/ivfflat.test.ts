// IVFFlatIndex: with nprobe = nlist it is exact search (FlatIndex's ids and distances on integer data); with fewer
// lists it equals brute force over the vectors of the probed lists; ids, batches, reconstruct, save / load, refusals
// and memory.
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFFlatIndex, memoryStats } from '../dist/index.js';
import { clustered, intVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { expectRefusal } from './helpers/refusals.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

/** Brute force over the rows of x whose list (by nearest centroid) is among the nprobe nearest to each query. */
function reference(x: Float32Array, q: Float32Array, d: number, cent: Float32Array, nlist: number, nprobe: number, k: number, metric: 'l2' | 'ip') {
  const n = x.length / d;
  const nq = q.length / d;
  const l2 = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += (a[i * d + t] - b[j * d + t]) ** 2;
    return s;
  };
  const dot = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += a[i * d + t] * b[j * d + t];
    return s;
  };
  const listOf = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let l = 1; l < nlist; l++) if (l2(x, i, cent, l) < l2(x, i, cent, best)) best = l;
    listOf[i] = best;
  }
  const out: number[][] = [];
  for (let qi = 0; qi < nq; qi++) {
    const order = Array.from({ length: nlist }, (_, l) => l).sort((a, b) => {
      const da = metric === 'l2' ? l2(q, qi, cent, a) : -dot(q, qi, cent, a);
      const db = metric === 'l2' ? l2(q, qi, cent, b) : -dot(q, qi, cent, b);
      return da - db || a - b;
    });
    const probed = new Set(order.slice(0, nprobe));
    const cand = [];
    for (let i = 0; i < n; i++) if (probed.has(listOf[i])) cand.push({ i, s: metric === 'l2' ? l2(q, qi, x, i) : -dot(q, qi, x, i) });
    cand.sort((a, b) => a.s - b.s || a.i - b.i);
    out.push(cand.slice(0, k).map((c) => c.i));
  }
  return out;
}

describe('IVFFlatIndex', () => {
  for (const metric of ['l2', 'ip'] as const) {
    for (const d of [1, 3, 7, 16, 33]) {
      it(`${metric}, d = ${d}: nprobe = nlist is exact search; fewer lists equal brute force over the probed lists`, () => {
        const n = 500;
        const x = intVectors(n, d, 10 + d);
        const q = intVectors(13, d, 20 + d);
        const nlist = 8;
        const index = track(new IVFFlatIndex({ d, nlist, metric, seed: 3 }));
        index.train(x);
        index.add(x);
        const flat = track(new FlatIndex({ d, metric }));
        flat.add(x);
        const k = 10;
        expect(index.search(q, k, { nprobe: nlist })).toEqual(flat.search(q, k));
        for (const nprobe of [1, 3]) {
          const want = reference(x, q, d, index.centroids, nlist, nprobe, k, metric);
          const got = index.search(q, k, { nprobe });
          for (let qi = 0; qi < q.length / d; qi++) {
            expect(Array.from(got.ids.subarray(qi * k, qi * k + want[qi].length))).toEqual(want[qi]);
          }
        }
      });
    }
  }

  it('custom ids, adds in batches, reconstruct, save / load, and rows padded when the lists hold fewer than k', () => {
    const d = 12;
    const { x } = clustered(6, 50, d, 4);
    const ids = Int32Array.from({ length: 300 }, (_, i) => 7000 + 2 * i);
    const a = track(new IVFFlatIndex({ d, nlist: 6, seed: 5 }));
    a.train(x);
    a.add(x.subarray(0, 120 * d), ids.subarray(0, 120));
    a.add(x.subarray(120 * d), ids.subarray(120));
    const b = track(new IVFFlatIndex({ d, nlist: 6, seed: 5 }));
    b.train(x);
    b.add(x, ids);
    const q = x.subarray(0, 9 * d);
    expect(a.search(q, 7, { nprobe: 2 })).toEqual(b.search(q, 7, { nprobe: 2 }));
    expect(a.save()).toEqual(b.save());
    expect(Array.from(a.search(q, 1, { nprobe: 6 }).ids)).toEqual(Array.from(ids.subarray(0, 9)));
    expect(a.reconstruct(Int32Array.of(7000 + 2 * 33))).toEqual(x.slice(33 * d, 34 * d));
    const back = track(IVFFlatIndex.load(a.save()));
    expect(back.size).toBe(300);
    expect(back.listSizes).toEqual(a.listSizes);
    expect(back.search(q, 7, { nprobe: 3 })).toEqual(a.search(q, 7, { nprobe: 3 }));
    expect(back.save()).toEqual(a.save());
    // a list smaller than k: padded with -1 / +Infinity
    const r = a.search(q.subarray(0, d), 299, { nprobe: 1 });
    const coarse = track(new FlatIndex({ d }));
    coarse.add(a.centroids);
    const own = coarse.search(q.subarray(0, d), 1).ids[0];
    expect(Array.from(r.ids).filter((id) => id >= 0).length).toBe(a.listSizes[own]);
    expect(r.distances[298]).toBe(Infinity);
    const untrained = track(IVFFlatIndex.load(track(new IVFFlatIndex({ d, nlist: 4 })).save()));
    expect(untrained.isTrained).toBe(false);
  });

  it('each list keeps its own vectors: many small adds (every list regrown), reconstruct, remove and merge find each row', () => {
    const d = 5;
    const n = 700;
    const x = intVectors(n, d, 77);
    const ids = Int32Array.from({ length: n }, (_, i) => 3 * i + 1);
    const index = track(new IVFFlatIndex({ d, nlist: 9, seed: 2 }));
    index.train(x);
    for (let at = 0; at < n; at += 37) index.add(x.subarray(at * d, Math.min(n, at + 37) * d), ids.subarray(at, Math.min(n, at + 37)));
    // reconstruct in a scrambled order: each id's own row, wherever its list put it
    const order = Int32Array.from({ length: n }, (_, i) => (i * 263) % n);
    const want = new Float32Array(n * d);
    order.forEach((p, i) => want.set(x.subarray(p * d, (p + 1) * d), i * d));
    expect(index.reconstruct(order.map((p) => ids[p]))).toEqual(want);
    // remove every third vector: the others keep their rows and ids, and the full probe is exact search over them
    const gone = ids.filter((_, i) => i % 3 === 0);
    expect(index.remove(gone)).toBe(gone.length);
    const keptPos = Int32Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 0);
    const keptX = new Float32Array(keptPos.length * d);
    keptPos.forEach((p, i) => keptX.set(x.subarray(p * d, (p + 1) * d), i * d));
    const keptIds = keptPos.map((p) => ids[p]);
    expect(index.reconstruct(keptIds)).toEqual(keptX);
    const flat = track(new FlatIndex({ d }));
    flat.add(keptX, keptIds);
    const q = intVectors(11, d, 78);
    expect(index.search(q, 8, { nprobe: 9 })).toEqual(flat.search(q, 8));
    // the same as the kept vectors added alone, and merged into an empty copy
    const alone = track(IVFFlatIndex.load(index.save({ empty: true })));
    alone.add(keptX, keptIds);
    expect(index.save()).toEqual(alone.save());
    const merged = track(IVFFlatIndex.load(index.save({ empty: true })));
    merged.mergeFrom(index);
    expect(merged.save()).toEqual(index.save());
    expect(merged.search(q, 8, { nprobe: 3 })).toEqual(index.search(q, 8, { nprobe: 3 }));
  });

  it('lists longer than a scoring block (4096 rows): search and range search over them are exact', () => {
    const d = 3;
    const n = 9000;
    const x = intVectors(n, d, 91);
    const q = intVectors(7, d, 92);
    for (const metric of ['l2', 'ip'] as const) {
      const index = track(new IVFFlatIndex({ d, nlist: 1, metric, seed: 4 }));
      index.train(x);
      index.add(x);
      expect(Math.max(...index.listSizes)).toBeGreaterThan(2 * 4096);
      const flat = track(new FlatIndex({ d, metric }));
      flat.add(x);
      expect(index.search(q, 20)).toEqual(flat.search(q, 20));
      const radius = metric === 'l2' ? 30 : 120;
      const got = index.rangeSearch(q, radius);
      const want = flat.rangeSearch(q, radius);
      expect(got.lims).toEqual(want.lims);
      expect(want.lims[7]).toBeGreaterThan(50);
      expect(got.ids).toEqual(want.ids);
      expect(got.distances).toEqual(want.distances);
    }
  });

  it('refuses bad input with VQError and stays usable; memory does not grow across create / dispose', () => {
    const d = 4;
    const x = intVectors(40, d, 1);
    expectRefusal(() => new IVFFlatIndex({ d, nlist: 0 }), 'INVALID_OPTION', 'new IVFFlatIndex', ['nlist']);
    expectRefusal(() => new IVFFlatIndex({ d, nlist: 2, metric: 'cosine' as 'l2' }), 'INVALID_OPTION', 'new IVFFlatIndex', ['metric']);
    const index = track(new IVFFlatIndex({ d, nlist: 4 }));
    expectRefusal(() => index.add(x), 'NOT_TRAINED', 'IVFFlatIndex.add');
    expectRefusal(() => index.search(x, 1), 'NOT_TRAINED', 'IVFFlatIndex.search');
    expectRefusal(() => index.train(x.subarray(0, 3 * d)), 'TOO_FEW_POINTS', 'IVFFlatIndex.train', ['n = 3']);
    index.train(x);
    index.add(x);
    expectRefusal(() => index.train(x), 'INVALID_OPTION', 'IVFFlatIndex.train', ['already holds']);
    expectRefusal(() => index.search(x, 1, { nprobe: 5 }), 'INVALID_OPTION', 'IVFFlatIndex.search', ['nprobe']);
    expectRefusal(() => index.search(new Float32Array(3), 1), 'INVALID_SIZE', 'IVFFlatIndex.search');
    expectRefusal(() => index.add(new Float64Array(4) as unknown as Float32Array), 'INVALID_TYPE', 'IVFFlatIndex.add');
    expectRefusal(() => index.reconstruct([999]), 'INVALID_OPTION', 'IVFFlatIndex.reconstruct');
    const bytes = index.save();
    bytes[bytes.length - 9] ^= 0xff;
    expectRefusal(() => IVFFlatIndex.load(bytes), 'CORRUPT_DATA', 'IVFFlatIndex.load');
    expect(index.search(x.subarray(0, d), 1, { nprobe: 4 }).ids[0]).toBe(0);
    const before = memoryStats().liveBytes;
    for (let i = 0; i < 20; i++) {
      const t = new IVFFlatIndex({ d, nlist: 4 });
      t.train(x);
      t.add(x);
      t.search(x, 3, { nprobe: 2 });
      t.dispose();
    }
    expect(memoryStats().liveBytes).toBe(before);
    const gone = new IVFFlatIndex({ d, nlist: 2 });
    gone.dispose();
    expectRefusal(() => gone.size, 'DISPOSED', 'IVFFlatIndex.size');
  });
});
