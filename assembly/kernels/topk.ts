// Bounded heaps of (distance, id) for top-k selection, smaller distance = better (callers negate similarities).
//
// One heap per query, stored as two parallel arrays: distPtr: f32[nq][k], idPtr: i32[nq][k], row q at offset q*k.
// Each row is a max-heap on (distance, id) ordered lexicographically, so the root is the worst kept candidate and
// among equal distances the larger id counts as worse: results do not depend on the order ties arrive in.
// Empty slots hold (+Infinity, -1).
//
// Filtered search. Every scan offers candidates through heapPush, so these checks cover them all, and they run only
// for candidates that beat the heap's worst. The caller arms them around one search (bindings/search/filter.ts):
// - allowMask != 0: a bitmap u8[ceil(n/8)] over the ids the scans offer (bit i & 7 of byte i >> 3 set = id i may
//   enter); heapPush drops every other id.
// - exclOffsets != 0: per-query exclusion lists for the heaps of one chunk of queries, whose rows start at exclBase
//   (the chunk's distance heaps, exclRowBytes apart): the row a heap pointer is in is the query, and its excluded ids
//   are exclLists[exclOffsets[q] .. exclOffsets[q + 1]), ascending (i32), found by binary search. Must be disarmed
//   before pushing into any other heaps (re-ranking).

@inline function worse(da: f32, ia: i32, db: f32, ib: i32): bool {
  return da > db || (da == db && ia > ib);
}

/** Fills nq heaps of size k with (+Infinity, -1). */
export function heapInit(distPtr: usize, idPtr: usize, count: u32): void {
  const inf = f32x4.splat(Infinity);
  const none = i32x4.splat(-1);
  let i: u32 = 0;
  const c4 = count & ~3;
  for (; i < c4; i += 4) {
    v128.store(distPtr + (<usize>i << 2), inf);
    v128.store(idPtr + (<usize>i << 2), none);
  }
  for (; i < count; i++) {
    store<f32>(distPtr + (<usize>i << 2), Infinity);
    store<i32>(idPtr + (<usize>i << 2), -1);
  }
}

/** Restores the heap property from the root of the heap (dist, id)[0..k) after the root was overwritten. */
@inline function siftDown(dist: usize, ids: usize, k: u32, d: f32, id: i32): void {
  let i: u32 = 0;
  while (true) {
    const l: u32 = 2 * i + 1;
    if (l >= k) break;
    let c = l;
    let cd = load<f32>(dist + (<usize>l << 2));
    let ci = load<i32>(ids + (<usize>l << 2));
    const r: u32 = l + 1;
    if (r < k) {
      const rd = load<f32>(dist + (<usize>r << 2));
      const ri = load<i32>(ids + (<usize>r << 2));
      if (worse(rd, ri, cd, ci)) { c = r; cd = rd; ci = ri; }
    }
    if (!worse(cd, ci, d, id)) break;
    store<f32>(dist + (<usize>i << 2), cd);
    store<i32>(ids + (<usize>i << 2), ci);
    i = c;
  }
  store<f32>(dist + (<usize>i << 2), d);
  store<i32>(ids + (<usize>i << 2), id);
}

let allowMask: usize = 0;
let exclBase: usize = 0;
let exclRowBytes: usize = 0;
let exclOffsets: usize = 0;
let exclLists: usize = 0;

/** Sets the allow bitmap every heapPush consults (0: none). */
export function setAllowMask(ptr: usize): void {
  allowMask = ptr;
}

/** Arms the per-query exclusion lists for the heaps of one chunk (offsetsPtr 0: disarmed); layout above. */
export function setExclude(heapBase: usize, rowBytes: u32, offsetsPtr: usize, listsPtr: usize): void {
  exclBase = heapBase;
  exclRowBytes = <usize>rowBytes;
  exclOffsets = offsetsPtr;
  exclLists = listsPtr;
}

/** The armed allow bitmap (0: none), for scans that drop filtered ids before heapPush (qpanels.ts). */
@inline export function armedAllowMask(): usize {
  return allowMask;
}

/** The armed exclusion lists (0: none): exclLists, i32 ids ascending per query. */
@inline export function armedExclLists(): usize {
  return exclOffsets != 0 ? exclLists : 0;
}

/** Where the exclusion list of the heap row at dist starts (end: exclRange(dist, 1)) in armedExclLists, in ids. */
@inline export function exclRange(dist: usize, end: u32): u32 {
  return load<u32>(exclOffsets + (((dist - exclBase) / exclRowBytes) << 2) + (<usize>end << 2));
}

function excluded(dist: usize, id: i32): bool {
  const q = (dist - exclBase) / exclRowBytes;
  let lo = load<i32>(exclOffsets + (q << 2));
  let hi = load<i32>(exclOffsets + (q << 2) + 4) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = load<i32>(exclLists + (<usize>mid << 2));
    if (v == id) return true;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * Offers (d, id) to the heap of size k at (dist, ids): it replaces the root when it is better than the root, the allow
 * bitmap (if armed) has id, and the heap's query does not exclude id (if armed).
 */
@inline export function heapPush(dist: usize, ids: usize, k: u32, d: f32, id: i32): void {
  if (!worse(load<f32>(dist), load<i32>(ids), d, id)) return;
  heapEnter(dist, ids, k, d, id);
}

// The rest of heapPush, out of line: it runs only for candidates that beat the heap's worst, and keeping the filters
// and the sift loop out of the many scan loops heapPush is inlined into keeps the module small.
function heapEnter(dist: usize, ids: usize, k: u32, d: f32, id: i32): void {
  if (allowMask != 0 && (load<u8>(allowMask + (<usize>id >>> 3)) & (1 << (id & 7))) == 0) return;
  if (exclOffsets != 0 && excluded(dist, id)) return;
  siftDown(dist, ids, k, d, id);
}

/** Offers every entry of one-heap input arrays to the heap row: used to merge partial results. */
export function heapPushMany(dist: usize, ids: usize, k: u32, inDist: usize, inIds: usize, count: u32): void {
  for (let i: u32 = 0; i < count; i++) {
    const id = load<i32>(inIds + (<usize>i << 2));
    if (id < 0) continue;
    heapPush(dist, ids, k, load<f32>(inDist + (<usize>i << 2)), id);
  }
}

/** Sorts each of nq heap rows of size k in place into ascending (distance, id) order (heap sort). */
export function heapSortRows(distPtr: usize, idPtr: usize, nq: u32, k: u32): void {
  for (let q: u32 = 0; q < nq; q++) {
    const dist = distPtr + (<usize>q * k << 2);
    const ids = idPtr + (<usize>q * k << 2);
    for (let end = k; end > 1; end--) {
      const last = end - 1;
      const rd = load<f32>(dist);
      const ri = load<i32>(ids);
      const ld = load<f32>(dist + (<usize>last << 2));
      const li = load<i32>(ids + (<usize>last << 2));
      store<f32>(dist + (<usize>last << 2), rd);
      store<i32>(ids + (<usize>last << 2), ri);
      siftDown(dist, ids, last, ld, li);
    }
  }
}

/**
 * Turns sorted internal scores into user-facing distances, in place on distPtr: f32[nq][k].
 * qnormPtr != 0 (squared L2): d += ||q||^2, clamped at 0 (the expansion ||x||^2 - 2<q,x> + ||q||^2 can round below 0).
 * negate (inner product, cosine): d = -d. Empty slots (+Infinity) become +Infinity / -Infinity.
 */
export function heapFinalize(distPtr: usize, nq: u32, k: u32, qnormPtr: usize, negate: bool): void {
  for (let q: u32 = 0; q < nq; q++) {
    const row = distPtr + (<usize>q * k << 2);
    const qn: f32 = qnormPtr != 0 ? load<f32>(qnormPtr + (<usize>q << 2)) : 0;
    for (let j: u32 = 0; j < k; j++) {
      const p = row + (<usize>j << 2);
      let v = load<f32>(p);
      if (v == Infinity) {
        store<f32>(p, negate ? -Infinity : Infinity);
        continue;
      }
      if (qnormPtr != 0) {
        v += qn;
        if (v < 0) v = 0;
      }
      // 0 - v, not -v: a similarity of exactly 0 comes back as +0, not -0
      store<f32>(p, negate ? <f32>0 - v : v);
    }
  }
}
