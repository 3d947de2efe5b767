// The per-position storage of the exhaustive code indexes (PQIndex, SQIndex, BinaryIndex): codes, user ids that cost
// nothing until add() is given some, and with refine the original vectors, grown together by 1.5x.
import { checkUserIds, fail, raw } from '../errors.js';
import type { Section } from '../io/format.js';
import { MAX_MEMORY_BYTES, type Engine } from '../wasm/engine.js';
import { regrow } from '../wasm/owned.js';
import { idPositions, positionsOf, storedRows, toUserIds } from './adc.js';
import { moveRows, NextId } from './addBatch.js';
import { PositionFilter, updateIdSort, type FilterSpec, type IdSort } from './filter.js';

/**
 * Buffers (wasm memory, allocated and freed through the owning index's own / release): codes of codeBytes(cap) bytes
 * (the layout is the index's), ids i32[cap] once add() was given ids (before that the id of position i is i), and
 * with refine the originals f32[cap][d].
 */
export class FlatStore {
  n = 0;
  cap = 0;
  codesPtr = 0;
  idsPtr = 0;
  vecPtr = 0;
  explicitIds = false;
  // user id -> first position, built on demand and dropped by every append
  private idMap: Map<number, number> | null = null;
  // the stored ids sorted, for filters (kept across searches; see IdSort)
  private idSort: IdSort | null = null;
  // the ids add() gives when given none (the positions while no ids were given)
  private readonly nextId = new NextId();

  constructor(
    private readonly eng: Engine,
    private readonly d: number,
    private readonly refine: boolean,
    private readonly codeBytes: (n: number) => number,
    private readonly own: (bytes: number, where: string) => number,
    private readonly release: (ptr: number) => void,
  ) {}

  /** Bytes per vector besides the code: 4 for a user id once ids were given, 4 d with refine. */
  get extraBytesPerVector(): number {
    return (this.explicitIds ? 4 : 0) + (this.refine ? 4 * this.d : 0);
  }

  /** Checks an add of n vectors with optional ids, and makes room for them: call before writing their codes. */
  reserveAdd(where: string, n: number, ids: Int32Array | undefined): void {
    if (ids !== undefined) checkUserIds(where, ids, n);
    const total = this.n + n;
    if (total > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${total}`), 'at most 2^31 - 1');
    this.reserve(total, where, this.explicitIds || ids !== undefined);
  }

  /**
   * The first of the ids add() gives to n vectors given none (see NextId); call before writing their codes (it throws
   * where they would pass 2^31 - 1).
   */
  takeIds(where: string, n: number): number {
    return this.nextId.take(where, n, () => (this.explicitIds ? this.eng.i32(this.idsPtr, this.n) : Int32Array.of(this.n - 1)));
  }

  /**
   * After the codes of positions n .. n + count - 1 were written: their ids (given, or from `first` on: takeIds) and
   * originals; size grows by count.
   */
  append(x: Float32Array, ids: Int32Array | undefined, count: number, first = this.n): void {
    const total = this.n + count;
    if (ids) this.nextId.given(ids);
    if (this.explicitIds) {
      const idView = this.eng.i32(this.idsPtr, total);
      if (ids) idView.set(ids, this.n);
      else for (let i = 0; i < count; i++) idView[this.n + i] = first + i;
    }
    if (this.refine) this.eng.f32(this.vecPtr + this.n * this.d * 4, count * this.d).set(x);
    this.n = total;
    this.idMap = null;
  }

  /**
   * Room for `total` vectors (and an id buffer when withIds; the implicit ids 0..n-1 are written into it the first
   * time); fresh: new buffers even if these hold it (remove() while a pooled call reads them).
   */
  reserve(total: number, where: string, withIds: boolean, fresh = false): void {
    if (total <= this.cap && withIds === this.explicitIds && !fresh) return;
    const cap = total <= this.cap ? this.cap : Math.ceil(Math.max(total, this.cap * 1.5, 16));
    const need = this.codeBytes(cap) + cap * ((withIds ? 4 : 0) + (this.refine ? this.d * 4 : 0));
    if (need > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, `${total} vectors do not fit in WebAssembly memory`, raw(`${(need / 1024 ** 3).toFixed(2)} GiB`), 'at most 4 GiB per index; shard across indexes');
    const vecBytes = this.refine ? this.d * 4 : 0;
    [this.codesPtr, this.idsPtr, this.vecPtr] = regrow(this.eng, (bytes) => this.own(bytes, where), this.release, [
      { ptr: this.codesPtr, bytes: this.codeBytes(cap), keep: this.codeBytes(this.n) },
      { ptr: this.idsPtr, bytes: withIds ? cap * 4 : 0, keep: withIds && this.explicitIds ? this.n * 4 : 0 },
      { ptr: this.vecPtr, bytes: cap * vecBytes, keep: this.n * vecBytes },
    ]);
    // ids given for the first time: the implicit ids 0..n-1 become explicit
    if (withIds && !this.explicitIds) for (let i = 0, v = this.eng.i32(this.idsPtr, this.n); i < this.n; i++) v[i] = i;
    this.cap = cap;
    this.explicitIds = withIds;
  }

  /**
   * Empties the store for remove(), keeping its buffers (new ones with `fresh`); the ids become explicit first (the
   * vectors appended back keep theirs), the one allocation, made before anything is emptied.
   */
  clear(where: string, fresh: boolean): void {
    this.reserve(this.n, where, true, fresh);
    this.n = 0;
    this.idMap = null;
    this.idSort = null;
    this.nextId.forget();
  }

  /**
   * remove()'s move for row-major codes of codeSize bytes: the vectors at positions keep (ascending) become positions
   * 0 .. keep.length - 1 (codes, ids, originals). The ids become explicit first (and with `fresh` every buffer is
   * new: a pooled call reads the old ones), the one allocation, made before anything moves.
   */
  compact(where: string, keep: Int32Array, codeSize: number, fresh: boolean): void {
    this.reserve(this.n, where, true, fresh);
    const mem = new Uint8Array(this.eng.abi.memory.buffer);
    moveRows(mem, this.codesPtr, codeSize, keep);
    moveRows(mem, this.idsPtr, 4, keep);
    if (this.refine) moveRows(mem, this.vecPtr, this.d * 4, keep);
    this.n = keep.length;
    this.idMap = null;
    this.idSort = null;
    this.nextId.forget();
  }

  /**
   * Empties the store for reset(): back to implicit ids (the id buffer freed), the buffers of codes and originals
   * kept (new ones with `fresh`: a pooled call reads these). If the new buffers cannot be made, nothing changes.
   */
  reset(where: string, fresh: boolean): void {
    if (this.explicitIds || fresh) {
      const n = this.n;
      this.n = 0; // (nothing to copy into the new buffers)
      try {
        this.reserve(0, where, false, true);
      } catch (e) {
        this.n = n;
        throw e;
      }
    }
    this.n = 0;
    this.idMap = null;
    this.idSort = null;
    this.nextId.forget();
  }

  /** Positions -> user ids, in place (implicit ids are the positions; -1 stays -1). */
  userIds(pos: Int32Array): Int32Array {
    return this.explicitIds ? toUserIds(this.eng, this.idsPtr, this.n, pos) : pos;
  }

  /** A search filter resolved against the stored positions. */
  filter(spec: FilterSpec): PositionFilter {
    if (!this.explicitIds) return new PositionFilter(spec, this.n, null);
    return new PositionFilter(spec, this.n, this.eng.i32(this.idsPtr, this.n), (ids) => (this.idSort = updateIdSort(this.idSort, ids)));
  }

  /** The positions of user ids (the first position of an id added twice); unknown ids throw. */
  positions(where: string, ids: unknown): Int32Array {
    if (!this.idMap && this.explicitIds) this.idMap = idPositions(this.eng, this.idsPtr, this.n);
    const map = this.idMap;
    return positionsOf(where, ids, map ? (id) => map.get(id) : (id) => (Number.isInteger(id) && id >= 0 && id < this.n ? id : undefined));
  }

  /** The stored originals of positions pos (refine only). */
  originals(pos: Int32Array): Float32Array {
    return storedRows(this.eng, this.vecPtr, pos, this.d);
  }

  /** The saved sections: CODE (the given bytes), IDS i32[n] when ids were given, VECS f32[n][d] with refine. */
  sections(codes: Uint8Array): Section[] {
    const out: Section[] = [{ tag: 'CODE', data: codes }];
    if (this.explicitIds) out.push({ tag: 'IDS ', data: this.eng.i32(this.idsPtr, this.n) });
    if (this.refine) out.push({ tag: 'VECS', data: this.eng.f32(this.vecPtr, this.n * this.d) });
    return out;
  }

  /** sections() of an empty store (save({ empty: true })): no codes, no ids, no originals. */
  emptySections(): Section[] {
    const out: Section[] = [{ tag: 'CODE', data: new Uint8Array(0) }];
    if (this.refine) out.push({ tag: 'VECS', data: new Float32Array(0) });
    return out;
  }

  /** Fills an empty store with n saved vectors: `writeCodes` puts their codes at codesPtr once the room exists. */
  restore(where: string, n: number, ids: Int32Array | null, vecs: Float32Array | null, writeCodes: (codesPtr: number) => void): void {
    if (n === 0 && !ids) return;
    this.reserve(n, where, ids !== null);
    writeCodes(this.codesPtr);
    if (ids) this.eng.i32(this.idsPtr, n).set(ids);
    if (vecs) this.eng.f32(this.vecPtr, n * this.d).set(vecs);
    this.n = n;
    this.nextId.forget();
  }
}
