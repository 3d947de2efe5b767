// Filtered search: `exclude` (one id list per query: the items each user has already seen) and `allow` (one id set for
// all queries), applied inside the scans so that k results still come back. Both are checked by heapPush, the one
// routine through which every scan (flat panels, PQ, fast-scan, SQ, Hamming, RQ, IVF lists) offers a candidate, and
// only for candidates that beat the heap's current worst (assembly/kernels/topk.ts):
// - allow becomes a bitmap over the index's positions, u8[ceil(n / 8)] in wasm memory, armed for the whole search;
// - exclude becomes sorted position lists in wasm memory, offsets i32[nq + 5] (the last entries repeat the total, so
//   the padding queries of a four-query pass read empty lists) and positions i32[total]; each chunk's scan arms the
//   lists of its queries against its heaps (armChunk), and finishChunk disarms them before re-ranking pushes into
//   other heaps. A query's heap never spends a slot on its excluded items, so no over-fetch is needed, whatever the
//   sizes of the lists.
import { fail } from '../errors.js';
import type { Engine } from '../wasm/engine.js';

export interface FilterOptions {
  /** One id list per query (nq of them): ids that must not be returned for that query. Ids not in the index are ignored. */
  exclude?: readonly (Int32Array | readonly number[])[];
  /**
   * The only ids that may be returned, for every query: an Int32Array of ids, or a Uint8Array bitset over ids (bit
   * `id & 7` of byte `id >> 3`). Rows hold fewer than k results (padded with id -1) when fewer ids are allowed.
   */
  allow?: Int32Array | Uint8Array;
}

/** A validated filter, not yet tied to an index. */
export interface FilterSpec {
  exclude: Int32Array[] | null;
  allow: Int32Array | Uint8Array | null;
}

/** Validates options.exclude / options.allow for nq queries (before anything touches wasm memory); null when neither is given. */
export function checkFilter(where: string, o: Record<string, unknown>, nq: number): FilterSpec | null {
  const { exclude, allow } = o;
  if (exclude === undefined && allow === undefined) return null;
  let ex: Int32Array[] | null = null;
  if (exclude !== undefined) {
    if (!Array.isArray(exclude)) fail('INVALID_TYPE', where, 'exclude must be an array with one id list per query', exclude, `an array of ${nq} Int32Arrays`);
    if (exclude.length !== nq) fail('INVALID_SIZE', where, 'exclude must hold one id list per query', `${exclude.length} lists`, `${nq} (one per query)`);
    ex = exclude.map((list: unknown, i: number) => {
      if (list instanceof Int32Array) return list;
      if (Array.isArray(list)) {
        for (let j = 0; j < list.length; j++) {
          if (!Number.isInteger(list[j]) || list[j] < -0x80000000 || list[j] > 0x7fffffff) fail('INVALID_OPTION', where, `exclude[${i}][${j}] is not a 32-bit integer id`, list[j], 'an integer id');
        }
        return Int32Array.from(list as number[]);
      }
      return fail('INVALID_TYPE', where, `exclude[${i}] must be an Int32Array or an array of integer ids`, list, 'an Int32Array');
    });
  }
  if (allow !== undefined && !(allow instanceof Int32Array) && !(allow instanceof Uint8Array)) {
    fail('INVALID_TYPE', where, 'allow must be an Int32Array of ids or a Uint8Array bitset over ids', allow, 'an Int32Array or a Uint8Array');
  }
  return { exclude: ex, allow: (allow as Int32Array | Uint8Array | undefined) ?? null };
}

/**
 * A filter resolved against the n positions of one index. `ids` gives the user ids of the positions (null: the id of
 * position i is i).
 */
export class PositionFilter {
  /** Excluded positions of each query, ascending (null: no exclude option). */
  private readonly excluded: Int32Array[] | null;
  private readonly bits: Uint8Array | null;
  private maskPtr = 0;
  private offsetsPtr = 0;
  private listsPtr = 0;

  constructor(spec: FilterSpec, n: number, ids: Int32Array | null) {
    this.bits = spec.allow ? allowBits(spec.allow, n, ids) : null;
    this.excluded = spec.exclude ? excludedPositions(spec.exclude, n, ids, this.bits) : null;
  }

  /**
   * Runs `scan` with the allow bitmap armed and the exclusion lists in wasm memory (for armChunk), and always disarms
   * and frees them after: an error inside leaves nothing behind for the next search.
   */
  run<T>(eng: Engine, where: string, scan: () => T): T {
    try {
      if (this.bits) {
        this.maskPtr = eng.alloc(this.bits.length + 8, where);
        eng.u8(this.maskPtr, this.bits.length + 8).fill(0).set(this.bits);
      }
      if (this.excluded) {
        const nq = this.excluded.length;
        let total = 0;
        for (const e of this.excluded) total += e.length;
        this.offsetsPtr = eng.alloc((nq + 5) * 4, where);
        this.listsPtr = eng.alloc(Math.max(4, total * 4), where);
        const offsets = eng.i32(this.offsetsPtr, nq + 5);
        const lists = eng.i32(this.listsPtr, total);
        let at = 0;
        for (let q = 0; q < nq; q++) {
          offsets[q] = at;
          lists.set(this.excluded[q], at);
          at += this.excluded[q].length;
        }
        offsets.fill(at, nq);
      }
      eng.abi.setAllowMask(this.maskPtr);
      return scan();
    } finally {
      eng.abi.setAllowMask(0);
      eng.abi.setExclude(0, 0, 0, 0);
      eng.free(this.maskPtr);
      eng.free(this.offsetsPtr);
      eng.free(this.listsPtr);
      this.maskPtr = this.offsetsPtr = this.listsPtr = 0;
    }
  }

  /** Arms the exclusion lists of queries q0.. for the chunk's heaps: dist rows of width kk from hd (inside run()). */
  armChunk(eng: Engine, hd: number, kk: number, q0: number): void {
    if (this.offsetsPtr !== 0) eng.abi.setExclude(hd, kk * 4, this.offsetsPtr + q0 * 4, this.listsPtr);
  }

  /** Disarms them: before anything pushes into other heaps (re-ranking). */
  disarmChunk(eng: Engine): void {
    if (this.offsetsPtr !== 0) eng.abi.setExclude(0, 0, 0, 0);
  }
}

function hasId(allow: Int32Array | Uint8Array, set: Set<number> | null, id: number): boolean {
  if (set) return set.has(id);
  return id >= 0 && id >>> 3 < allow.length && (allow[id >>> 3] & (1 << (id & 7))) !== 0;
}

/** The allow set as a bitmap over positions 0 .. n-1. */
function allowBits(allow: Int32Array | Uint8Array, n: number, ids: Int32Array | null): Uint8Array {
  const bits = new Uint8Array(Math.ceil(n / 8));
  if (!ids) {
    if (allow instanceof Uint8Array) {
      bits.set(allow.subarray(0, bits.length));
      // bits past n in the last byte would let padding positions in: clear them
      if (n % 8 !== 0 && bits.length > 0) bits[bits.length - 1] &= (1 << (n % 8)) - 1;
    } else {
      for (let i = 0; i < allow.length; i++) {
        const id = allow[i];
        if (id >= 0 && id < n) bits[id >>> 3] |= 1 << (id & 7);
      }
    }
    return bits;
  }
  const set = allow instanceof Int32Array ? new Set(allow) : null;
  for (let p = 0; p < n; p++) if (hasId(allow, set, ids[p])) bits[p >>> 3] |= 1 << (p & 7);
  return bits;
}

/** Each query's excluded positions (those the allow bitmap keeps), sorted ascending. */
function excludedPositions(exclude: Int32Array[], n: number, ids: Int32Array | null, bits: Uint8Array | null): Int32Array[] {
  const allowed = (p: number): boolean => !bits || (bits[p >>> 3] & (1 << (p & 7))) !== 0;
  // user ids -> every position holding them (an id added twice is excluded at both), only for ids some query excludes
  let byId: Map<number, number[]> | null = null;
  if (ids) {
    const wanted = new Set<number>();
    for (const list of exclude) for (let i = 0; i < list.length; i++) wanted.add(list[i]);
    byId = new Map();
    for (let p = 0; p < n; p++) {
      if (!wanted.has(ids[p])) continue;
      const at = byId.get(ids[p]);
      if (at) at.push(p);
      else byId.set(ids[p], [p]);
    }
  }
  return exclude.map((list) => {
    const out: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (byId) {
        for (const p of byId.get(id) ?? []) if (allowed(p)) out.push(p);
      } else if (id >= 0 && id < n && allowed(id)) {
        out.push(id);
      }
    }
    const sorted = Int32Array.from(out).sort();
    // duplicates in a list must not count twice toward extra
    let w = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[w++] = sorted[i];
    return sorted.subarray(0, w);
  });
}

/** Runs `scan` under the filter's allow bitmap when there is a filter. */
export function filtered<T>(eng: Engine, where: string, flt: PositionFilter | null, scan: () => T): T {
  return flt ? flt.run(eng, where, scan) : scan();
}
