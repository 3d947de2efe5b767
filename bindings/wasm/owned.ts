import { VQError } from '../errors.js';
import { type Engine, engine } from './engine.js';

// Frees the wasm buffers of objects that were garbage-collected without dispose(): a safety net, not the contract.
const registry =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<{ eng: Engine; ptrs: Set<number> }>(({ eng, ptrs }) => {
        for (const p of ptrs) eng.free(p);
        ptrs.clear();
      })
    : null;

/** One buffer of a regrow: the old pointer (0: none), the new size in bytes (0: none), the old bytes to keep. */
export interface GrowPart {
  ptr: number;
  bytes: number;
  keep: number;
}

/**
 * The growth step of every store of vectors or codes: allocates each part's new buffer in order (releasing those
 * already made if one fails, so that nothing changes), then copies the first `keep` bytes of each old buffer into its
 * new one and releases the old ones. Returns the new pointers (0 for a part of 0 bytes).
 */
export function regrow(eng: Engine, own: (bytes: number) => number, release: (ptr: number) => void, parts: readonly GrowPart[]): number[] {
  const fresh: number[] = [];
  try {
    for (const p of parts) fresh.push(p.bytes > 0 ? own(p.bytes) : 0);
  } catch (e) {
    for (const ptr of fresh) release(ptr);
    throw e;
  }
  const mem = new Uint8Array(eng.abi.memory.buffer);
  parts.forEach((p, i) => {
    if (p.keep > 0) mem.copyWithin(fresh[i], p.ptr, p.ptr + p.keep);
  });
  for (const p of parts) release(p.ptr);
  return fresh;
}

/**
 * Base of every class that owns persistent wasm buffers (codebooks, vectors, codes, lists). It tracks its pointers,
 * frees them in dispose(), and turns any use after dispose() into a DISPOSED error.
 */
export abstract class Owned {
  protected readonly eng: Engine;
  private readonly ptrs = new Set<number>();
  private disposedFlag = false;
  private readonly token = {};
  // while a shared-memory pool's workers read this object's buffers (WorkerPool, threads build), frees wait here
  private pins = 0;
  private deferred: number[] = [];

  protected constructor(where: string) {
    this.eng = engine(where);
    registry?.register(this, { eng: this.eng, ptrs: this.ptrs }, this.token);
  }

  /** Allocates a buffer owned by this object (freed by dispose()). */
  protected own(bytes: number, where: string): number {
    // (a callback that disposed the object mid-call, KMeans's onProgress say: what the call would keep now would never
    // be freed)
    this.alive(where);
    const ptr = this.eng.alloc(bytes, where);
    this.ptrs.add(ptr);
    return ptr;
  }

  /**
   * Allocates one owned buffer per size (pointer 0 for 0 bytes), all or none: if one fails, those already made are
   * released (regrow with nothing to move).
   */
  protected ownAll(where: string, sizes: readonly number[]): number[] {
    return this.regrow(where, sizes.map((bytes) => ({ ptr: 0, bytes, keep: 0 })));
  }

  /** Moves owned buffers into larger ones (see regrow below); returns the new pointers in the order of `parts`. */
  protected regrow(where: string, parts: readonly GrowPart[]): number[] {
    return regrow(this.eng, (bytes) => this.own(bytes, where), (ptr) => this.release(ptr), parts);
  }

  /** Frees an owned buffer early (e.g. after growing into a new one). */
  protected release(ptr: number): void {
    if (ptr !== 0 && this.ptrs.delete(ptr)) this.freeOrDefer(ptr);
  }

  private freeOrDefer(ptr: number): void {
    if (this.pins > 0) this.deferred.push(ptr);
    else this.eng.free(ptr);
  }

  /**
   * @internal Workers of a shared-memory pool are reading this object's buffers: until the matching unpin(), the
   * buffers that release() or dispose() give up stay allocated (they are freed by the last unpin), so that a worker
   * never reads memory that was handed out again. Appends after pin() are invisible to the workers' views.
   */
  pin(): void {
    this.pins++;
  }

  /**
   * Whether a pooled call is reading the buffers in place (pin()): changes that would write over data it may still
   * read (remove()'s compaction) go to fresh buffers then.
   */
  protected get pinned(): boolean {
    return this.pins > 0;
  }

  /** @internal */
  unpin(): void {
    if (this.pins > 0 && --this.pins === 0) for (const p of this.deferred.splice(0)) this.eng.free(p);
  }

  /**
   * @internal Makes `o` (a field-by-field copy of an Owned made without its constructor, in a worker of a
   * shared-memory pool) a view that owns none of the buffers it points at: its dispose() frees only what it
   * allocated itself, from its worker's arena.
   */
  static borrowed<T extends Owned>(o: T, eng: Engine): T {
    const w = o as unknown as { eng: Engine; ptrs: Set<number>; disposedFlag: boolean; token: object; pins: number; deferred: number[] };
    w.eng = eng;
    w.ptrs = new Set();
    w.disposedFlag = false;
    w.token = {};
    w.pins = 0;
    w.deferred = [];
    return o;
  }

  protected alive(where: string): Engine {
    if (this.disposedFlag) throw new VQError('DISPOSED', `${where}: the object was disposed (got a call after dispose(), expected a live object)`);
    return this.eng;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Frees the wasm memory held by this object. Idempotent; any later use throws DISPOSED. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    registry?.unregister(this.token);
    for (const p of this.ptrs) this.freeOrDefer(p);
    this.ptrs.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
