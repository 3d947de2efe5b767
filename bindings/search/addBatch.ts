// add() in two halves: what it computes from the vectors without touching the index (each vector's list, its stored
// code), then the append. WorkerPool.add runs the first half in workers on chunks of the vectors and the second here;
// mergeFrom() takes a batch out of another index trained alike and appends it; remove() takes one out of the index
// itself, drops the removed vectors and appends the rest back.
import { checkInt, checkOptions, fail, raw } from '../errors.js';
import type { SaveOptions } from '../io/format.js';

/** What add() computes for n vectors before it changes the index. */
export interface AddBatch {
  /** The list of each vector, i32[n] (IVF indexes), else null. */
  labels: Int32Array | null;
  /** The code the index stores for each vector, u8[n][bytes per code] (coded indexes), else null. */
  codes: Uint8Array | null;
}

/** @internal An index whose add() is encodeForAdd() then appendBatch(). */
export interface Addable {
  readonly d: number;
  /** add()'s checks of x and ids (and that the index is alive and trained); returns n. */
  checkAdd(where: string, x: Float32Array, ids: Int32Array | undefined): number;
  /** The batch of checked vectors x; the index is not changed. */
  encodeForAdd(where: string, x: Float32Array): AddBatch;
  /** Appends the vectors x of batch b (computed by encodeForAdd of the same addVersion()) with ids. */
  appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void;
  /** What batches depend on: it changes whenever the index is trained again. */
  addVersion(): unknown;
  save(options?: SaveOptions): Uint8Array;
}

/** The batches of consecutive chunks of vectors, in order, as one. */
export function concatBatches(parts: readonly AddBatch[]): AddBatch {
  const cat = <T extends Int32Array | Uint8Array>(list: (T | null)[], make: (n: number) => T): T | null => {
    if (list.some((a) => a === null)) return null;
    const out = make(list.reduce((s, a) => s + a!.length, 0));
    let at = 0;
    for (const a of list) {
      out.set(a!, at);
      at += a!.length;
    }
    return out;
  };
  return {
    labels: cat(parts.map((p) => p.labels), (n) => new Int32Array(n)),
    codes: cat(parts.map((p) => p.codes), (n) => new Uint8Array(n)),
  };
}

/** mergeFrom()'s options. */
export interface MergeOptions {
  /** Added to every id taken from the other index (Faiss merge_from's add_id; the other's size-numbered ids, e.g.). Default 0. */
  addId?: number;
}

/** What an index holds, by position: the batch add() would have computed, the originals (or an empty array), the ids. */
export interface Contents {
  batch: AddBatch;
  x: Float32Array;
  ids: Int32Array;
}

/** @internal An index that mergeFrom() can take vectors out of and append them to. */
export interface Mergeable {
  readonly d: number;
  readonly disposed: boolean;
  readonly isTrained?: boolean;
  save(options?: SaveOptions): Uint8Array;
  contents(where: string): Contents;
  appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void;
}

/**
 * index.mergeFrom(other, options): other must be of index's class and trained as it is (the same save({ empty: true })
 * bytes: parameters and trained parts); its vectors are appended with their codes as they are (nothing is encoded
 * again), their ids plus options.addId. other is left as it was. Everything is checked before index changes.
 */
export function mergeInto(where: string, index: Mergeable, other: unknown, options: MergeOptions | undefined): void {
  const o = options === undefined ? {} : checkOptions(where, options);
  const addId = o.addId === undefined ? 0 : checkInt(where, 'options.addId', o.addId, 0, 0x7fffffff);
  const name = index.constructor.name;
  if (other === null || typeof other !== 'object' || other.constructor !== index.constructor) {
    fail('INVALID_TYPE', where, `other must be a ${name}`, other, `a ${name} trained as this one`);
  }
  const m = other as Mergeable;
  if (m.disposed) fail('DISPOSED', where, 'the other index was disposed', raw(`a disposed ${name}`), `a live ${name}`);
  const mine = index.save({ empty: true }); // also checks that index is alive
  if (index.isTrained === false) fail('NOT_TRAINED', where, 'the index is not trained', raw(`an untrained ${name}`), 'train(x) first');
  const theirs = m.save({ empty: true });
  if (mine.length !== theirs.length || mine.some((v, i) => v !== theirs[i])) {
    fail('INVALID_OPTION', where, 'the other index differs in its parameters or trained parts', raw(`a ${name} trained otherwise`), `a copy of this one's save({ empty: true }), filled elsewhere`);
  }
  const c = m.contents(where);
  const n = c.ids.length;
  if (n === 0) return;
  let ids = c.ids;
  if (addId > 0) {
    let max = 0;
    for (const v of ids) if (v > max) max = v;
    if (max + addId > 0x7fffffff) fail('INVALID_OPTION', where, 'options.addId takes an id past 2^31 - 1', raw(`largest id ${max} + ${addId}`), 'ids up to 2^31 - 1');
    ids = ids.map((v) => v + addId);
  }
  index.appendBatch(where, c.batch, c.x, ids);
}

/**
 * @internal An index that remove() works on: Mergeable's contents() and appendBatch() (the rebuild), and
 * storedIds(), compact() and clearVectors().
 */
export interface Removable extends Mergeable {
  /** The id of every position, i32[size] (a copy). */
  storedIds(): Int32Array;
  /**
   * Keeps the vectors at positions keep (ascending) as positions 0 .. keep.length - 1, in place, moving their data
   * down; returns false, having changed nothing, where its layout has no such move (remove then rebuilds). Anything
   * it allocates, it allocates before it moves anything.
   */
  compact(where: string, keep: Int32Array): boolean;
  /**
   * Empties the index, keeping its training and its buffers' capacity (so that appending back at most as many
   * vectors allocates nothing). Anything it must allocate to take explicit ids back, it allocates before it empties
   * anything: if it throws, the index is as it was.
   */
  clearVectors(where: string): void;
}

/**
 * remove()'s ids: an Int32Array or an array of integers (ids never stored, negative ones and ids past 2^31 - 1
 * included, match nothing), as a membership test: a bitmap over 0 .. the largest id where that takes at most 16 MB
 * (a test is then a load), else a Set.
 */
function checkRemoveIds(where: string, ids: unknown): { size: number; has: (id: number) => boolean } {
  if (!(ids instanceof Int32Array) && !Array.isArray(ids)) fail('INVALID_TYPE', where, 'ids must be an Int32Array or an array of integers', ids, 'an Int32Array or number[] of ids');
  let max = -1;
  let count = 0;
  for (let i = 0; i < ids.length; i++) {
    const v = (ids as ArrayLike<unknown>)[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) fail('INVALID_TYPE', where, `ids[${i}] is not an integer`, v, 'integer ids');
    if (v >= 0 && v <= 0x7fffffff) {
      count++;
      if (v > max) max = v;
    }
  }
  if (max < 0) return { size: 0, has: () => false };
  const list = ids as ArrayLike<number>;
  if (max < 1 << 27) {
    const bits = new Uint8Array((max >> 3) + 1);
    for (let i = 0; i < list.length; i++) if (list[i] >= 0 && list[i] <= max) bits[list[i] >> 3] |= 1 << (list[i] & 7);
    return { size: count, has: (id) => id <= max && (bits[id >> 3] & (1 << (id & 7))) !== 0 };
  }
  const set = new Set<number>();
  for (let i = 0; i < list.length; i++) set.add(list[i]);
  return { size: count, has: (id) => set.has(id) };
}

/**
 * index.remove(ids) (Faiss remove_ids): every stored vector whose id is in ids goes (each position of an id added
 * twice); the others stay in their order with their ids and their codes as they are (nothing is encoded again).
 * Returns how many went. O(size), as in Faiss: the kept vectors' data moves down in place (compact), or, where a
 * layout has no such move (fast-scan blocks), the index is rebuilt from a copy of its contents within its buffers;
 * if that rebuild fails, the copy is put back and the error rethrown.
 */
export function removeFrom(where: string, index: Removable, ids: unknown): number {
  const set = checkRemoveIds(where, ids);
  if (set.size === 0) return 0;
  const stored = index.storedIds();
  const n = stored.length;
  let count = 0;
  const keepAll = new Int32Array(n);
  for (let i = 0; i < n; i++) if (!set.has(stored[i])) keepAll[count++] = i;
  const removed = n - count;
  if (removed === 0) return 0;
  const keep = keepAll.subarray(0, count);
  if (index.compact(where, keep)) return removed;
  const c = index.contents(where);
  // the kept rows of a by-position array, a copy per run of consecutive kept positions
  const rows = <T extends Int32Array | Uint8Array | Float32Array>(a: T, Make: new (len: number) => T): T => {
    const w = a.length / n;
    const out = new Make(keep.length * w);
    if (w === 0) return out;
    for (let i = 0; i < keep.length; ) {
      let e = i + 1;
      while (e < keep.length && keep[e] === keep[e - 1] + 1) e++;
      out.set(a.subarray(keep[i] * w, (keep[e - 1] + 1) * w), i * w);
      i = e;
    }
    return out;
  };
  const kept: AddBatch = {
    labels: c.batch.labels && rows(c.batch.labels, Int32Array),
    codes: c.batch.codes && rows(c.batch.codes, Uint8Array),
  };
  index.clearVectors(where);
  try {
    if (keep.length > 0) index.appendBatch(where, kept, rows(c.x, Float32Array), rows(c.ids, Int32Array));
  } catch (e) {
    // (the same vectors as before, into the same buffers: nothing to allocate)
    index.clearVectors(where);
    index.appendBatch(where, c.batch, c.x, c.ids);
    throw e;
  }
  return removed;
}

/**
 * compact()'s move for row-major data: rows keep[i] (ascending, keep[i] >= i) of rowBytes bytes each, from byte
 * offset base of mem, become rows i; one copy per run of consecutive kept rows.
 */
export function moveRows(mem: Uint8Array, base: number, rowBytes: number, keep: Int32Array): void {
  if (rowBytes === 0) return;
  for (let i = 0; i < keep.length; ) {
    let e = i + 1;
    while (e < keep.length && keep[e] === keep[e - 1] + 1) e++;
    if (keep[i] !== i) mem.copyWithin(base + i * rowBytes, base + keep[i] * rowBytes, base + (keep[e - 1] + 1) * rowBytes);
    i = e;
  }
}

/**
 * The ids add() gives when it is given none: one past the largest id stored (0 for an empty index), so that they never
 * repeat a stored one, after remove() or ids given before included. Until either happens they are the positions
 * size .. size + n - 1. Kept as a running value; unknown (null) after a load or a clear, then found by one pass.
 */
export class NextId {
  private next: number | null = 0;

  /** The first of n default ids (the stored ids are stored()), and counts them as taken. */
  take(where: string, n: number, stored: () => Int32Array): number {
    if (this.next === null) {
      let m = -1;
      for (const v of stored()) if (v > m) m = v;
      this.next = m + 1;
    }
    const first = this.next;
    if (first + n - 1 > 0x7fffffff) fail('INVALID_OPTION', where, 'the default ids would pass 2^31 - 1', raw(`ids from ${first}, ${n} of them`), 'explicit ids');
    this.next = first + n;
    return first;
  }

  /** Ids given to an append. */
  given(ids: Int32Array): void {
    if (this.next === null) return;
    let m = this.next - 1;
    for (const v of ids) if (v > m) m = v;
    this.next = m + 1;
  }

  /** The stored ids changed other than by an append (load, clear): found again when next needed. */
  forget(): void {
    this.next = null;
  }
}
