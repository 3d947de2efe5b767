// add() in two halves: what it computes from the vectors without touching the index (each vector's list, its stored
// code), then the append. WorkerPool.add runs the first half in workers on chunks of the vectors and the second here.
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
