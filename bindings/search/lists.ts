// The inverted lists' bookkeeping that IVFFlatIndex and IVFPQIndex share. Per list l (wasm memory, owned by the
// index): listPos[l] the positions (order of addition over the whole index) of its entries i32[cap_l], ascending, and
// beside it buffers of rows in the same slots (IVFFlat's vectors f32[cap_l][d]; IVF-PQ's codes and norms), so that a
// list is scanned where it lies and a position is found through its list.
import type { Engine } from '../wasm/engine.js';

/** Where each of the n positions lives: its list and its slot in that list (one pass over the lists' positions). */
export function listSlots(eng: Engine, n: number, listPos: number[], listSize: Int32Array): { listOf: Int32Array; slot: Int32Array } {
  const listOf = new Int32Array(n);
  const slot = new Int32Array(n);
  for (let l = 0; l < listSize.length; l++) {
    const p = eng.i32(listPos[l], listSize[l]);
    for (let s = 0; s < p.length; s++) {
      listOf[p[s]] = l;
      slot[p[s]] = s;
    }
  }
  return { listOf, slot };
}

/**
 * remove()'s compaction of the lists: each keeps, in order, the entries whose position survives (newPos[p] >= 0, the
 * new position, which it takes), and the rows of every buffer in `rows` (per-list pointers, bytes per row) move with
 * them: one copy per run of kept entries. listSize is updated.
 */
export function compactLists(eng: Engine, newPos: Int32Array, listPos: number[], listSize: Int32Array, rows: [number[], number][]): void {
  const mem = new Uint8Array(eng.abi.memory.buffer);
  const i32 = new Int32Array(eng.abi.memory.buffer);
  for (let l = 0; l < listSize.length; l++) {
    const base = listPos[l] >>> 2;
    let w = 0;
    for (let s = 0; s < listSize[l]; ) {
      if (newPos[i32[base + s]] < 0) {
        s++;
        continue;
      }
      let e = s;
      for (; e < listSize[l] && newPos[i32[base + e]] >= 0; e++) i32[base + w + e - s] = newPos[i32[base + e]];
      if (w !== s) for (const [ptrs, bytes] of rows) mem.copyWithin(ptrs[l] + w * bytes, ptrs[l] + s * bytes, ptrs[l] + e * bytes);
      w += e - s;
      s = e;
    }
    listSize[l] = w;
  }
}

/** i32[count] 0, 1, .. count - 1 at ptr: the row indices of a list's contiguous rows for scoreRows. */
export function identityRows(eng: Engine, ptr: number, count: number): void {
  const v = eng.i32(ptr, count);
  for (let i = 0; i < count; i++) v[i] = i;
}
