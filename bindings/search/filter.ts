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

  /**
   * ids: the user id of each position (null: the id of position i is i); sorted: the index's IdSort of them (see
   * IdSort; an index keeps it with updateIdSort), asked for only when ids must be looked up (exclusion lists, an
   * Int32Array allow list).
   */
  constructor(spec: FilterSpec, n: number, ids: Int32Array | null, sorted?: (ids: Int32Array) => IdSort) {
    const srt = ids && (spec.exclude || spec.allow instanceof Int32Array) ? (sorted ? sorted(ids) : sortIds(ids)) : null;
    // ids that are the positions themselves need no lookup
    if (srt?.identity && srt.covered === n) ids = null;
    const lookup = ids && srt ? new IdLookup(ids, srt) : null;
    this.bits = spec.allow ? allowBits(spec.allow, n, ids, lookup) : null;
    this.excluded = spec.exclude ? excludedPositions(spec.exclude, n, lookup, this.bits) : null;
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

/**
 * The stored user ids sorted, kept by an index between filtered searches so that each search looks its ids up in
 * O(log n) instead of passing over all n positions. It covers positions 0 .. covered - 1: ids ascending with pos the
 * positions holding them (an id's positions ascending), or, when the id of every covered position is the position
 * itself (no ids were given), identity and no arrays. Indexes only append ids (remove() rebuilds an index and drops
 * its IdSort), so an IdSort of an earlier size stays right for what it covers; updateIdSort sorts again once the
 * uncovered tail passes a quarter of it (so sorting costs O(log n) a vector added). A plain object: shared-memory
 * workers get it with their index's view.
 */
export interface IdSort {
  covered: number;
  identity: boolean;
  ids: Int32Array;
  pos: Int32Array;
}

/** The IdSort for the ids stored now: `cur` (extended when it and the new ids are the identity) or a new one. */
export function updateIdSort(cur: IdSort | null, ids: Int32Array): IdSort {
  const n = ids.length;
  if (cur && cur.covered <= n) {
    if (cur.identity) {
      let same = true;
      for (let p = cur.covered; p < n && same; p++) same = ids[p] === p;
      if (same) return cur.covered === n ? cur : { ...cur, covered: n };
    } else if (n - cur.covered <= Math.max(4096, cur.covered >> 2)) {
      return cur;
    }
  }
  return sortIds(ids);
}

const NONE = new Int32Array(0);

/** Sorts positions by (id, position). */
export function sortIds(ids: Int32Array): IdSort {
  const n = ids.length;
  let identity = true;
  for (let i = 0; i < n && identity; i++) identity = ids[i] === i;
  if (identity) return { covered: n, identity, ids: NONE, pos: NONE };
  const pos = new Int32Array(n);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = ids[i - 1] <= ids[i];
  if (sorted) {
    for (let i = 0; i < n; i++) pos[i] = i;
    return { covered: n, identity, ids: ids.slice(), pos };
  }
  let lo = 0x7fffffff;
  let hi = -0x80000000;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, ids[i]);
    hi = Math.max(hi, ids[i]);
  }
  if ((hi - lo + 1) * n <= Number.MAX_SAFE_INTEGER) {
    // one number per position, (id - lo) * n + position, exact below 2^53: a native numeric sort (about 0.6x the time
    // of a comparator sort for 1M ids)
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = (ids[i] - lo) * n + i;
    keys.sort();
    for (let i = 0; i < n; i++) pos[i] = keys[i] % n;
  } else {
    for (let i = 0; i < n; i++) pos[i] = i;
    pos.sort((a, b) => ids[a] - ids[b] || a - b);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = ids[pos[i]];
  return { covered: n, identity, ids: out, pos };
}

/** Every position of a user id: from an IdSort, and the positions past what it covers from a map built once. */
class IdLookup {
  private tail: Map<number, number[]> | null = null;

  constructor(private readonly all: Int32Array, private readonly sorted: IdSort) {}

  /** Appends the positions holding id to out (ascending within what the IdSort covers, then the tail's). */
  collect(id: number, out: number[]): void {
    const { covered, identity, ids, pos } = this.sorted;
    if (identity) {
      if (Number.isInteger(id) && id >= 0 && id < covered) out.push(id);
    } else {
      let a = 0;
      let b = ids.length;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (ids[mid] < id) a = mid + 1;
        else b = mid;
      }
      for (; a < ids.length && ids[a] === id; a++) out.push(pos[a]);
    }
    if (this.all.length > covered) {
      if (!this.tail) {
        this.tail = new Map();
        for (let p = covered; p < this.all.length; p++) {
          const at = this.tail.get(this.all[p]);
          if (at) at.push(p);
          else this.tail.set(this.all[p], [p]);
        }
      }
      const more = this.tail.get(id);
      if (more) for (const p of more) out.push(p);
    }
  }
}

/** The allow set as a bitmap over positions 0 .. n-1. */
function allowBits(allow: Int32Array | Uint8Array, n: number, ids: Int32Array | null, lookup: IdLookup | null): Uint8Array {
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
  if (allow instanceof Int32Array) {
    const at: number[] = [];
    for (let i = 0; i < allow.length; i++) lookup!.collect(allow[i], at);
    for (const p of at) bits[p >>> 3] |= 1 << (p & 7);
    return bits;
  }
  for (let p = 0; p < n; p++) {
    const id = ids[p];
    if (id >= 0 && id >>> 3 < allow.length && (allow[id >>> 3] & (1 << (id & 7))) !== 0) bits[p >>> 3] |= 1 << (p & 7);
  }
  return bits;
}

/** Each query's excluded positions (those the allow bitmap keeps), sorted ascending. */
function excludedPositions(exclude: Int32Array[], n: number, lookup: IdLookup | null, bits: Uint8Array | null): Int32Array[] {
  const allowed = (p: number): boolean => !bits || (bits[p >>> 3] & (1 << (p & 7))) !== 0;
  return exclude.map((list) => {
    if (!lookup) {
      // ids are positions: the list itself when it is ascending, within 0 .. n-1 and allowed (the common case)
      let ok = true;
      for (let i = 0; i < list.length && ok; i++) ok = list[i] >= 0 && list[i] < n && (i === 0 || list[i] > list[i - 1]) && allowed(list[i]);
      if (ok) return list;
    }
    const out: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      // (an id added twice is excluded at both positions)
      if (lookup) lookup.collect(id, out);
      else if (id >= 0 && id < n) out.push(id);
    }
    if (bits) {
      // only what the allow bitmap keeps
      let w = 0;
      for (let i = 0; i < out.length; i++) if (allowed(out[i])) out[w++] = out[i];
      out.length = w;
    }
    const sorted = Int32Array.from(out);
    // lists often come sorted (seen items by index): then no sort; duplicates are dropped either way
    let ascending = true;
    for (let i = 1; i < sorted.length && ascending; i++) ascending = sorted[i - 1] < sorted[i];
    if (ascending) return sorted;
    sorted.sort();
    let w = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[w++] = sorted[i];
    return sorted.subarray(0, w);
  });
}

/** Runs `scan` under the filter's allow bitmap when there is a filter. */
export function filtered<T>(eng: Engine, where: string, flt: PositionFilter | null, scan: () => T): T {
  return flt ? flt.run(eng, where, scan) : scan();
}
