// FlatIndex and KMeans in the shared saved-file format: bit-identical round trips, refusal of damaged or other-kind
// files (the PQ classes have their own suites: pq.test.ts, pqindex.test.ts, pq-errors.test.ts); every index's
// save({ empty: true }), the trained index without its vectors.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BinaryIndex, FlatIndex, init, IVFFlatIndex, IVFPQIndex, KMeans, loadIndex, memoryStats, PQIndex, RQIndex, SQIndex, VQError, type AnyIndex,
} from '../dist/index.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof VQError ? e.code : `not a VQError: ${String(e)}`;
  }
  return undefined;
}

describe('FlatIndex save / load', () => {
  for (const metric of ['l2', 'ip', 'cosine'] as const) {
    it(`${metric}: the same vectors bit for bit, the same ids and search results`, () => {
      const d = 13;
      const x = floatVectors(300, d, 3, 2, 0.5);
      const q = floatVectors(20, d, 4);
      const index = track(new FlatIndex({ d, metric }));
      index.add(x.subarray(0, 100 * d), Int32Array.from({ length: 100 }, (_, i) => 7 * i + 1));
      index.add(x.subarray(100 * d), Int32Array.from({ length: 200 }, (_, i) => 9000 + i));
      const bytes = index.save();
      const back = track(FlatIndex.load(bytes));
      expect(back.size).toBe(300);
      expect(back.metric).toBe(metric);
      // cosine: the stored (normalized) vectors come back as they were, not normalized a second time
      expect(back.reconstructRange(0, 300)).toEqual(index.reconstructRange(0, 300));
      expect(back.search(q, 10)).toEqual(index.search(q, 10));
      expect(back.save()).toEqual(bytes);
    });
  }

  it('an empty index round-trips; damaged and other-kind files are CORRUPT_DATA and leak nothing', () => {
    const empty = track(new FlatIndex({ d: 4 }));
    const e2 = track(FlatIndex.load(empty.save()));
    expect(e2.size).toBe(0);
    const index = track(new FlatIndex({ d: 4 }));
    index.add(floatVectors(10, 4, 1));
    const bytes = index.save();
    const before = memoryStats().liveAllocations;
    for (let i = 0; i < bytes.length; i += 3) {
      const bad = bytes.slice();
      bad[i] ^= 0x10;
      expect(codeOf(() => FlatIndex.load(bad))).toBe('CORRUPT_DATA');
    }
    expect(codeOf(() => FlatIndex.load(bytes.subarray(0, bytes.length - 1)))).toBe('CORRUPT_DATA');
    const pq = track(new PQIndex({ d: 4, m: 2, nbits: 2 }));
    expect(codeOf(() => FlatIndex.load(pq.save()))).toBe('CORRUPT_DATA');
    expect(codeOf(() => PQIndex.load(bytes))).toBe('CORRUPT_DATA');
    expect(codeOf(() => FlatIndex.load([1, 2, 3] as unknown as Uint8Array))).toBe('INVALID_TYPE');
    expect(memoryStats().liveAllocations).toBe(before);
  });
});

describe('KMeans save / load', () => {
  it('the same centroids and options; assign gives the same labels; untrained models round-trip', () => {
    const d = 9;
    const x = floatVectors(2000, d, 5);
    const km = track(new KMeans({ d, k: 17, iterations: 7, seed: 42, init: 'random', nredo: 2, spherical: true, maxPointsPerCentroid: 100, minPointsPerCentroid: 3 }));
    km.train(x);
    const bytes = km.save();
    const back = track(KMeans.load(bytes));
    expect(back.centroids).toEqual(km.centroids);
    for (const key of ['d', 'k', 'iterations', 'seed', 'init', 'nredo', 'spherical', 'maxPointsPerCentroid', 'minPointsPerCentroid'] as const) {
      expect(back[key]).toBe(km[key]);
    }
    expect(back.assign(x)).toEqual(km.assign(x));
    expect(back.save()).toEqual(bytes);
    // retraining the loaded model gives what the original gives
    expect(back.train(x).objective).toEqual(km.train(x).objective);
    const fresh = track(KMeans.load(track(new KMeans({ d: 3, k: 2 })).save()));
    expect(fresh.isTrained).toBe(false);
    expect(codeOf(() => fresh.assign(new Float32Array(3)))).toBe('NOT_TRAINED');
    const bad = bytes.slice();
    bad[bad.length - 9] ^= 1;
    expect(codeOf(() => KMeans.load(bad))).toBe('CORRUPT_DATA');
  });
});

describe('save({ empty: true }): the trained index without its vectors', () => {
  const d = 12;
  const x = floatVectors(700, d, 21, 2);
  const y = floatVectors(90, d, 22, 2);
  const KINDS: [string, () => AnyIndex][] = [
    ['FlatIndex', () => new FlatIndex({ d, metric: 'cosine' })],
    ['PQIndex opq, refine', () => new PQIndex({ d, m: 4, nbits: 5, opq: true, opqIterations: 2, refine: true, seed: 1 })],
    ['PQIndex fast-scan', () => new PQIndex({ d, m: 6, nbits: 4, seed: 2 })],
    ['IVFPQIndex refine', () => new IVFPQIndex({ d, m: 4, nlist: 6, refine: true, seed: 3 })],
    ['IVFPQIndex fast-scan ip', () => new IVFPQIndex({ d, m: 6, nbits: 4, nlist: 5, metric: 'ip', seed: 4 })],
    ['IVFFlatIndex', () => new IVFFlatIndex({ d, nlist: 7, seed: 5 })],
    ['SQIndex int8 refine', () => new SQIndex({ d, type: 'int8', refine: true })],
    ['BinaryIndex', () => new BinaryIndex({ d })],
    ['RQIndex', () => new RQIndex({ d, levels: 2, nbits: 5, seed: 6 })],
  ];

  it('loads as the same index with size 0: filled again, the same bytes as the original', () => {
    for (const [name, make] of KINDS) {
      const index = track(make());
      (index as { train?(x: Float32Array): unknown }).train?.(x);
      const beforeAdd = index.save({ empty: true });
      index.add(x, Int32Array.from({ length: 700 }, (_, i) => 3 * i));
      index.add(y);
      const empty = track(loadIndex(index.save({ empty: true })));
      expect(empty.constructor.name, name).toBe(index.constructor.name);
      expect(empty.size, name).toBe(0);
      expect(empty.save(), name).toEqual(beforeAdd);
      empty.add(x, Int32Array.from({ length: 700 }, (_, i) => 3 * i));
      empty.add(y);
      expect(empty.save(), name).toEqual(index.save());
      expect(index.size, name).toBe(790); // the original keeps its vectors
    }
  });

  it('mergeFrom: a copy filled elsewhere merges back as if its vectors had been added here (ids + addId)', () => {
    const xIds = Int32Array.from({ length: 700 }, (_, i) => 3 * i);
    for (const [name, make] of KINDS) {
      const index = track(make());
      (index as { train?(x: Float32Array): unknown }).train?.(x);
      const shard = track(loadIndex(index.save({ empty: true })));
      const want = track(loadIndex(index.save({ empty: true })));
      index.add(x, xIds);
      shard.add(y); // ids 0..89 there
      const shardBytes = shard.save();
      (index.mergeFrom as (o: AnyIndex, opt?: { addId?: number }) => void)(shard, { addId: 5000 });
      want.add(x, xIds);
      want.add(y, Int32Array.from({ length: 90 }, (_, i) => 5000 + i));
      expect(index.save(), name).toEqual(want.save());
      expect(index.search(y.subarray(0, 5 * d), 4), name).toEqual(want.search(y.subarray(0, 5 * d), 4));
      expect(shard.save(), name).toEqual(shardBytes); // left as it was
    }
  });

  it('mergeFrom refuses another class, another training, a disposed or untrained index, bad addId; the index keeps its bytes', () => {
    const a = track(new PQIndex({ d, m: 4, seed: 1 }));
    a.train(x);
    a.add(x.subarray(0, 50 * d));
    const before = a.save();
    const other = track(new PQIndex({ d, m: 4, seed: 2 }));
    other.train(x);
    other.add(y);
    const shard = track(loadIndex(a.save({ empty: true })) as PQIndex);
    shard.add(y);
    expect(codeOf(() => a.mergeFrom(other))).toBe('INVALID_OPTION');
    expect(codeOf(() => a.mergeFrom(track(new SQIndex({ d, type: 'int8' })) as unknown as PQIndex))).toBe('INVALID_TYPE');
    expect(codeOf(() => a.mergeFrom(null as unknown as PQIndex))).toBe('INVALID_TYPE');
    expect(codeOf(() => a.mergeFrom(shard, { addId: -1 }))).toBe('INVALID_OPTION');
    expect(codeOf(() => a.mergeFrom(shard, { addId: 0x7fffffff }))).toBe('INVALID_OPTION');
    expect(codeOf(() => a.mergeFrom(shard, 3 as unknown as { addId?: number }))).toBe('INVALID_TYPE');
    expect(codeOf(() => track(new PQIndex({ d, m: 4, seed: 1 })).mergeFrom(shard))).toBe('NOT_TRAINED');
    const gone = loadIndex(a.save({ empty: true })) as PQIndex;
    gone.dispose();
    expect(codeOf(() => a.mergeFrom(gone))).toBe('DISPOSED');
    expect(codeOf(() => gone.mergeFrom(shard))).toBe('DISPOSED');
    expect(a.save()).toEqual(before);
    a.mergeFrom(a); // its own vectors again, a snapshot taken first
    expect(a.size).toBe(100);
  });

  it('an untrained index: the same file as save(); a bad option is INVALID_TYPE', () => {
    const index = track(new IVFPQIndex({ d, m: 4, nlist: 6 }));
    expect(index.save({ empty: true })).toEqual(index.save());
    expect(codeOf(() => index.save({ empty: 1 as unknown as boolean }))).toBe('INVALID_TYPE');
    expect(codeOf(() => index.save(null as unknown as { empty?: boolean }))).toBe('INVALID_TYPE');
    expect(index.save({})).toEqual(index.save());
  });
});
