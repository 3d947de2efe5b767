// remove(ids) on every index (Faiss remove_ids): the index afterwards is the index that would have been built from
// the kept vectors with their ids, byte for byte and search for search (filters included); default ids after a
// removal never repeat a stored one; bad arguments change nothing; a rebuild that fails puts everything back. And
// reset(): the trained empty index.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BinaryIndex, FlatIndex, init, IVFFlatIndex, IVFPQIndex, loadIndex, PQIndex, RQIndex, SQIndex, type AnyIndex,
} from '../dist/index.js';
import { floatVectors } from './helpers/data.js';
import { disposeAfterEach } from './helpers/live.js';
import { codeOf } from './helpers/refusals.js';

beforeAll(async () => {
  await init();
});

const track = disposeAfterEach();

type Searchable = AnyIndex & {
  remove(ids: Int32Array | readonly number[]): number;
  search(q: Float32Array, k: number, o?: Record<string, unknown>): { ids: Int32Array; distances: Float32Array };
};

const d = 16;
const n = 400;
const x = floatVectors(n, d, 31, 2);
const more = floatVectors(60, d, 32, 2);
const q = floatVectors(25, d, 33, 2);
const KINDS: [string, () => AnyIndex][] = [
  ['FlatIndex l2 (prefilter)', () => new FlatIndex({ d, prefilter: true })],
  ['FlatIndex cosine', () => new FlatIndex({ d, metric: 'cosine' })],
  ['PQIndex 8-bit refine', () => new PQIndex({ d, m: 4, nbits: 6, refine: true, seed: 1 })],
  ['PQIndex fast-scan ip', () => new PQIndex({ d, m: 8, nbits: 4, metric: 'ip', seed: 2 })],
  ['IVFPQIndex', () => new IVFPQIndex({ d, m: 4, nbits: 5, nlist: 6, seed: 3 })],
  ['IVFPQIndex fast-scan refine', () => new IVFPQIndex({ d, m: 8, nbits: 4, nlist: 5, refine: true, seed: 4 })],
  ['IVFFlatIndex ip', () => new IVFFlatIndex({ d, nlist: 7, metric: 'ip', seed: 5 })],
  ['SQIndex int8', () => new SQIndex({ d, type: 'int8' })],
  ['SQIndex int4 refine', () => new SQIndex({ d, type: 'int4', refine: true })],
  ['BinaryIndex', () => new BinaryIndex({ d })],
  ['RQIndex', () => new RQIndex({ d, levels: 2, nbits: 5, seed: 6 })],
];

/** A trained index of the kind, holding x (ids or the positions), and a trained empty copy of it. */
function made(make: () => AnyIndex, ids?: Int32Array): { index: Searchable; empty: () => Searchable } {
  const index = track(make()) as Searchable;
  (index as { train?(x: Float32Array): unknown }).train?.(x);
  const emptyBytes = index.save({ empty: true });
  index.add(x, ids);
  return { index, empty: () => track(loadIndex(emptyBytes)) as Searchable };
}

function rows(a: Float32Array, keep: number[]): Float32Array {
  const out = new Float32Array(keep.length * d);
  keep.forEach((p, i) => out.set(a.subarray(p * d, (p + 1) * d), i * d));
  return out;
}

/** Makes remove() take the rebuild path (contents, clear, append) even where the index could compact in place. */
function forceRebuild(index: AnyIndex): void {
  (index as unknown as { compact(): boolean }).compact = () => false;
}

function expectSameSearch(a: Searchable, b: Searchable, name: string, options: Record<string, unknown> = {}): void {
  const k = 12;
  const opts = a instanceof IVFPQIndex || a instanceof IVFFlatIndex ? { nprobe: 3, ...options } : options;
  const ra = a.search(q, k, opts);
  const rb = b.search(q, k, opts);
  expect(Array.from(ra.ids), name).toEqual(Array.from(rb.ids));
  expect(Array.from(ra.distances), name).toEqual(Array.from(rb.distances));
}

describe('remove(ids): the index of the kept vectors', () => {
  // positions removed: a run, scattered ones, the first and the last
  const gone = [0, 5, 6, 7, 8, 9, 33, 100, 101, 250, 399];
  const keep = Array.from({ length: n }, (_, i) => i).filter((i) => !gone.includes(i));

  // every kind through its own path (in-place compaction, or the rebuild for fast-scan blocks), and through the rebuild
  const PATHS = KINDS.flatMap(([name, make]) => [[name, make, false], [`${name} (rebuilt)`, make, true]] as const);
  it.each(PATHS)('%s, ids = positions: same bytes and searches as the kept vectors added with their ids', (name, make, rebuild) => {
    const { index, empty } = made(make);
    if (rebuild) forceRebuild(index);
    // ids never stored (and one twice) match nothing
    const removed = index.remove([...gone, 7, -3, 5000]);
    expect(removed).toBe(gone.length);
    expect(index.size).toBe(n - gone.length);
    const want = empty();
    want.add(rows(x, keep), Int32Array.from(keep));
    expect(index.save(), name).toEqual(want.save());
    expectSameSearch(index, want, name);
    // filters resolve ids after the removal (their id tables are rebuilt)
    const exclude = Array.from({ length: q.length / d }, (_, i) => Int32Array.of(keep[i], keep[i + 40], 9));
    expectSameSearch(index, want, `${name}, exclude`, { exclude });
    expectSameSearch(index, want, `${name}, allow`, { allow: Int32Array.from(keep.filter((v) => v % 3 === 0)) });
    // reconstruct by id still finds the kept vectors; a removed id is unknown
    const one = Int32Array.of(keep[3], keep[200]);
    expect(Array.from(index.reconstruct(one)), name).toEqual(Array.from(want.reconstruct(one)));
    expect(codeOf(() => index.reconstruct([gone[1]]))).toBe('INVALID_OPTION');
  });

  it.each(KINDS)('%s, explicit ids (one added twice): every position of a removed id goes, the rest keep their ids', (name, make) => {
    const ids = Int32Array.from({ length: n }, (_, i) => 1000 + 7 * (i % 350)); // positions i and i + 350 share an id
    const { index, empty } = made(make, ids);
    const removeIds = [1000 + 7 * 3, 1000 + 7 * 10, 1000 + 7 * 49, 1000 + 7 * 200];
    const drop = Array.from({ length: n }, (_, i) => i).filter((i) => removeIds.includes(ids[i]));
    expect(drop.length).toBe(7); // positions 3, 10 and 49 with 353, 360 and 399 (their ids twice), 200 once
    expect(index.remove(Int32Array.from(removeIds))).toBe(7);
    const kept = Array.from({ length: n }, (_, i) => i).filter((i) => !drop.includes(i));
    const want = empty();
    want.add(rows(x, kept), Int32Array.from(kept, (i) => ids[i]));
    expect(index.save(), name).toEqual(want.save());
    expectSameSearch(index, want, name);
  });

  it.each(KINDS)('%s: default ids after a removal continue past the largest stored id; removing all, then adding, works', (name, make) => {
    const { index, empty } = made(make);
    index.remove([3, 399, 398]);
    index.add(more); // ids 398 .. 457: past the largest stored id, 397
    const want = empty();
    const kept = Array.from({ length: 398 }, (_, i) => i).filter((i) => i !== 3);
    want.add(rows(x, kept), Int32Array.from(kept));
    want.add(more, Int32Array.from({ length: 60 }, (_, i) => 398 + i));
    expect(index.save(), name).toEqual(want.save());
    // searched everywhere: the removed id 3 never comes back (398 and 399 are new vectors' ids now), the new ones do
    // (the queries are some of the new vectors)
    const all6 = index instanceof IVFPQIndex || index instanceof IVFFlatIndex ? { nprobe: index.nlist } : {};
    const r = index.search(more.subarray(0, 10 * d), 5, all6);
    for (const id of r.ids) expect(id !== 3 && id >= 0 && id < 458, `${name}: id ${id}`).toBe(true);
    expect(Array.from(r.ids).some((id) => id >= 398)).toBe(true);
    // everything out: an empty index that searches to -1 and takes vectors again
    const all = Array.from({ length: 458 }, (_, i) => i);
    expect(index.remove(all)).toBe(n - 3 + 60);
    expect(index.size).toBe(0);
    expect(Array.from(index.search(q.subarray(0, d), 3).ids)).toEqual([-1, -1, -1]);
    index.add(more.subarray(0, 5 * d));
    expect(index.size).toBe(5);
    expect(Array.from(index.reconstruct([0]))).toHaveLength(d);
  });

  it('default ids after ids were given continue past the largest one (never repeating a stored id)', () => {
    const index = track(new FlatIndex({ d }));
    index.add(x.subarray(0, 3 * d), Int32Array.of(100, 7, 50));
    index.add(x.subarray(3 * d, 5 * d));
    const r = index.search(x.subarray(3 * d, 5 * d), 1);
    expect(Array.from(r.ids)).toEqual([101, 102]);
    // a fresh index and a loaded one agree
    const loaded = track(FlatIndex.load(index.save()));
    loaded.add(x.subarray(5 * d, 6 * d));
    index.add(x.subarray(5 * d, 6 * d));
    expect(loaded.save()).toEqual(index.save());
    expect(Array.from(index.search(x.subarray(5 * d, 6 * d), 1).ids)).toEqual([103]);
  });
});

describe('reset(): every vector out (Faiss reset)', () => {
  it.each(KINDS)('%s: the trained empty index; the same vectors added again give the same bytes', (name, make) => {
    const ids = Int32Array.from({ length: n }, (_, i) => 5 * i + 2);
    const { index, empty } = made(make, ids);
    const full = index.save();
    index.reset();
    expect(index.size).toBe(0);
    expect(index.save(), name).toEqual(empty().save());
    expect(Array.from(index.search(q.subarray(0, d), 2).ids)).toEqual([-1, -1]);
    // default ids start again at 0, as in a new index
    index.add(more.subarray(0, 3 * d));
    const want = empty();
    want.add(more.subarray(0, 3 * d));
    expect(index.save(), name).toEqual(want.save());
    index.reset();
    index.add(x, ids);
    expect(index.save(), name).toEqual(full);
    index.dispose();
    expect(codeOf(() => index.reset()), name).toBe('DISPOSED');
  });
});

describe('remove(ids): bad arguments and failures change nothing', () => {
  it.each(KINDS)('%s: wrong types, non-integers, a disposed index; nothing matching returns 0', (name, make) => {
    const { index } = made(make);
    const before = index.save();
    expect(codeOf(() => index.remove('3' as unknown as number[])), name).toBe('INVALID_TYPE');
    expect(codeOf(() => index.remove(new Float32Array([3]) as unknown as number[])), name).toBe('INVALID_TYPE');
    expect(codeOf(() => index.remove([1, 2.5])), name).toBe('INVALID_TYPE');
    expect(codeOf(() => index.remove([1, '2'] as unknown as number[])), name).toBe('INVALID_TYPE');
    expect(index.remove([]), name).toBe(0);
    expect(index.remove([n, -1, 1e9]), name).toBe(0);
    expect(index.save(), name).toEqual(before); // nothing removed: not even the ids' representation changes
    index.dispose();
    expect(codeOf(() => index.remove([1])), name).toBe('DISPOSED');
  });

  it.each(KINDS)('%s: a rebuild that fails puts the vectors back, ids and searches as before', (name, make) => {
    const { index, empty } = made(make);
    forceRebuild(index);
    const want = empty();
    want.add(x, Int32Array.from({ length: n }, (_, i) => i));
    const inner = index as unknown as { appendBatch(...a: unknown[]): void };
    const real = inner.appendBatch.bind(index);
    let calls = 0;
    inner.appendBatch = (...a: unknown[]) => {
      if (calls++ === 0) throw new Error('injected failure');
      real(...a);
    };
    expect(() => index.remove([4, 5, 6])).toThrow('injected failure');
    expect(calls).toBe(2); // the failed rebuild, then the restore
    expect(index.size).toBe(n);
    expectSameSearch(index, want, name);
    expect(index.save(), name).toEqual(want.save());
  });
});
