// Filtered search: `exclude` (one id list per query: the items each user has already seen) and `allow` (one id set for
// all queries), applied inside the scans so that k results still come back.
//
// - allow becomes a bitmap over the index's positions, u8[ceil(n / 8)] in wasm memory; while a search runs, the
//   heaps drop every position whose bit is clear (setAllowMask, assembly/kernels/topk.ts), so the scans never spend
//   a heap slot on a disallowed item, whatever the scan (flat panels, PQ, fast-scan, SQ, Hamming, IVF lists).
// - exclude: each query's heap is widened by `extra`, the largest number of positions any query of the search
//   excludes (and allows); after the scan, excluded positions are dropped from each sorted row. A query's excluded
//   positions can take at most `extra` of its slots, so at least k candidates of the unfiltered kind remain: the result
//   is exactly the best k that are not excluded (the best `rerank` before exact re-ranking). Per-query bitmaps would
//   cost n / 8 bytes a query and a heavier kernel check for the multi-query scans; excluded sets are small (the seen
//   items of one user), so widening is the cheaper exact route.
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
 * A filter resolved against the n positions of one index. `idOf` gives the user ids of the positions (null: the id of
 * position i is i).
 */
export class PositionFilter {
  /** Heap slots added to every query's candidates. */
  readonly extra: number;
  /** Excluded positions of each query, ascending (null: none for any query). */
  private readonly excluded: Int32Array[] | null;
  private readonly bits: Uint8Array | null;
  private maskPtr = 0;

  constructor(spec: FilterSpec, n: number, ids: Int32Array | null) {
    this.bits = spec.allow ? allowBits(spec.allow, n, ids) : null;
    const bits = this.bits;
    this.excluded = spec.exclude ? excludedPositions(spec.exclude, n, ids, bits) : null;
    let extra = 0;
    if (this.excluded) for (const e of this.excluded) extra = Math.max(extra, e.length);
    this.extra = extra;
  }

  /** The number of positions the allow set leaves (n without one). */
  allowedCount(n: number): number {
    if (!this.bits) return n;
    let c = 0;
    for (let i = 0; i < this.bits.length; i++) c += popcount8(this.bits[i]);
    return c;
  }

  /**
   * Runs `scan` with the allow bitmap set in wasm (when there is one), and always clears and frees it after: an error
   * inside leaves no mask behind for the next search.
   */
  run<T>(eng: Engine, where: string, scan: () => T): T {
    if (!this.bits) return scan();
    this.maskPtr = eng.alloc(this.bits.length + 8, where);
    try {
      eng.u8(this.maskPtr, this.bits.length + 8).fill(0).set(this.bits);
      eng.abi.setAllowMask(this.maskPtr);
      return scan();
    } finally {
      eng.abi.setAllowMask(0);
      eng.free(this.maskPtr);
      this.maskPtr = 0;
    }
  }

  /**
   * Drops the excluded positions of queries q0 .. q0 + c - 1 from their sorted candidate rows (dist f32[c][width],
   * ids i32[c][width] at hd / hi), and keeps the best `keep` survivors of each row: the dropped become (+Infinity, -1)
   * in place, which exact re-ranking skips. With `compact`, the survivors, still in order, are moved to the front of a
   * contiguous f32 / i32 [c][keep] layout at the same pointers, padded with (+Infinity, -1).
   */
  dropExcluded(eng: Engine, hd: number, hi: number, c: number, width: number, q0: number, keep: number, compact: boolean): void {
    if (keep === width && !this.excluded) return;
    const dist = eng.f32(hd, c * width);
    const ids = eng.i32(hi, c * width);
    for (let qi = 0; qi < c; qi++) {
      const ex = this.excluded ? this.excluded[q0 + qi] : null;
      let kept = 0;
      for (let j = qi * width; j < (qi + 1) * width; j++) {
        if (ids[j] < 0) continue;
        if (kept < keep && !(ex && ex.length > 0 && binarySearch(ex, ids[j]))) {
          kept++;
          continue;
        }
        ids[j] = -1;
        dist[j] = Infinity;
      }
    }
    if (compact && keep !== width) compactRows(dist, ids, c, width, keep);
  }
}

/** Keeps the entries with id >= 0 of each row, in order, packed into rows of `to` (<= width) at the same pointers. */
function compactRows(dist: Float32Array, ids: Int32Array, c: number, width: number, to: number): void {
  // row qi is written to [qi * to, (qi + 1) * to), never past the start of row qi + 1's unread source
  for (let qi = 0; qi < c; qi++) {
    let w = qi * to;
    const end = (qi + 1) * to;
    for (let j = qi * width; j < (qi + 1) * width && w < end; j++) {
      if (ids[j] < 0) continue;
      dist[w] = dist[j];
      ids[w] = ids[j];
      w++;
    }
    for (; w < end; w++) {
      dist[w] = Infinity;
      ids[w] = -1;
    }
  }
}

function popcount8(b: number): number {
  let c = 0;
  for (let v = b; v !== 0; v &= v - 1) c++;
  return c;
}

function binarySearch(sorted: Int32Array, x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
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
