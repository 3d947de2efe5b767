// add() in two halves: what it computes from the vectors without touching the index (each vector's list, its stored
// code), then the append. WorkerPool.add runs the first half in workers on chunks of the vectors and the second here;
// mergeFrom() takes a batch out of another index trained alike and appends it.
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
