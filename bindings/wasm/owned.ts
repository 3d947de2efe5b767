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

/**
 * Base of every class that owns persistent wasm buffers (codebooks, vectors, codes, lists). It tracks its pointers,
 * frees them in dispose(), and turns any use after dispose() into a DISPOSED error.
 */
export abstract class Owned {
  protected readonly eng: Engine;
  private readonly ptrs = new Set<number>();
  private disposedFlag = false;
  private readonly token = {};

  protected constructor(where: string) {
    this.eng = engine(where);
    registry?.register(this, { eng: this.eng, ptrs: this.ptrs }, this.token);
  }

  /** Allocates a buffer owned by this object (freed by dispose()). */
  protected own(bytes: number, where: string): number {
    const ptr = this.eng.alloc(bytes, where);
    this.ptrs.add(ptr);
    return ptr;
  }

  /** Frees an owned buffer early (e.g. after growing into a new one). */
  protected release(ptr: number): void {
    if (ptr !== 0 && this.ptrs.delete(ptr)) this.eng.free(ptr);
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
    for (const p of this.ptrs) this.eng.free(p);
    this.ptrs.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
