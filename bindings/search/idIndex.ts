// What the indexes that keep one user id per position in a buffer of their own share (FlatIndex, IVFFlatIndex,
// IVFPQIndex, RQIndex): that buffer and the lookups built over it, the next default id, and remove() over their own
// compact / rebuild (addBatch.ts). The code indexes keep theirs in a FlatStore (store.ts).
import type { SaveOptions } from '../io/format.js';
import { Owned } from '../wasm/owned.js';
import { NextId, removeFrom, type AddBatch, type Contents, type Removable } from './addBatch.js';
import type { IdSort } from './filter.js';

export abstract class IdIndex extends Owned implements Removable {
  abstract readonly d: number;
  /** Vectors held. */
  protected n = 0;
  /** User ids by position, i32[capacity]. */
  protected idsPtr = 0;
  // user id -> first position, built on demand and dropped by every change
  protected idMap: Map<number, number> | null = null;
  // the stored ids sorted, for filters (kept across searches; see IdSort)
  protected idSort: IdSort | null = null;
  // the ids add() gives when given none
  protected readonly nextId = new NextId();

  /** kind: the class name in messages ('FlatIndex.remove: ...'). */
  protected constructor(where: string, private readonly kind: string) {
    super(where);
  }

  /**
   * Removes every vector whose id is in `ids` (Int32Array or number[]; ids not stored are ignored), as Faiss
   * remove_ids does, and returns how many went. The others keep their ids and order (Faiss's IndexFlat renumbers
   * them; here an id stays the vector's) and their codes. O(size): see removeFrom.
   */
  remove(ids: Int32Array | readonly number[]): number {
    const where = `${this.kind}.remove`;
    this.alive(where);
    return removeFrom(where, this, ids);
  }

  /** Removes every vector (Faiss reset): the trained index, empty, as save({ empty: true }) would restore it. */
  reset(): void {
    this.clearVectors(`${this.kind}.reset`);
  }

  /** @internal remove(): the id of every position. */
  storedIds(): Int32Array {
    return this.eng.i32(this.idsPtr, this.n).slice();
  }

  /** remove(): the index now holds n vectors, and its id lookups (map, sort, next default id) are stale. */
  protected resized(n: number): void {
    this.n = n;
    this.idMap = null;
    this.idSort = null;
    this.nextId.forget();
  }

  /**
   * remove() while a pooled call reads the buffers in place (pinned): every buffer copied into a new one first
   * (freshBuffers), so that the moves that follow leave the old ones (freed when the call ends) as the call saw them.
   */
  protected unshare(where: string): void {
    if (this.pinned) this.freshBuffers(where);
  }

  /** Copies every buffer of vectors, codes, ids and lists into a new one of the same capacity (regrow). */
  protected abstract freshBuffers(where: string): void;

  /** compact(): the new position of each old one, -1 for the removed, for the kept positions keep (ascending). */
  protected newPositions(keep: Int32Array): Int32Array {
    const out = new Int32Array(this.n).fill(-1);
    for (let i = 0; i < keep.length; i++) out[keep[i]] = i;
    return out;
  }

  abstract compact(where: string, keep: Int32Array): boolean;
  /** @internal remove(): empty, keeping the training and the buffers (new ones where a pooled call reads these). */
  clearVectors(where: string): void {
    this.alive(where);
    this.unshare(where);
    this.emptyLists();
    this.resized(0);
  }

  /** clearVectors(): the inverted lists, where there are any, emptied (their buffers kept). */
  protected emptyLists(): void {}
  abstract contents(where: string): Contents;
  abstract appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void;
  abstract save(options?: SaveOptions): Uint8Array;
}
