// k-means steps over row-major training points xPtr: f32[n][d] and centroids f32[k][d]. Assignment itself is
// scanPanels with k = 1 (panels.ts); these are the other two steps and the k-means++ seeding helpers.

import { l2sq, l2sqOneToMany } from './distance';

/**
 * Per-cluster sums and counts of the assignment labelsPtr: i32[n] (labels in [0, k)).
 * sumsPtr: f64[k][d] and countsPtr: f64[k] are zeroed first. f64 sums keep the centroids exact to float32 precision
 * whatever the cluster size, and make the result independent of how the data is split into batches.
 */
export function kmeansAccumulate(xPtr: usize, n: u32, d: u32, labelsPtr: usize, k: u32, sumsPtr: usize, countsPtr: usize): void {
  memory.fill(sumsPtr, 0, <usize>k * d << 3);
  memory.fill(countsPtr, 0, <usize>k << 3);
  const d4 = d & ~3;
  for (let i: u32 = 0; i < n; i++) {
    const c = load<i32>(labelsPtr + (<usize>i << 2));
    const x = xPtr + (<usize>i * d << 2);
    const s = sumsPtr + (<usize>c * d << 3);
    let t: u32 = 0;
    for (; t < d4; t += 4) {
      const v = v128.load(x + (<usize>t << 2));
      const p = s + (<usize>t << 3);
      v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
      v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1))), 16);
    }
    for (; t < d; t++) {
      const p = s + (<usize>t << 3);
      store<f64>(p, load<f64>(p) + <f64>load<f32>(x + (<usize>t << 2)));
    }
    const cp = countsPtr + (<usize>c << 3);
    store<f64>(cp, load<f64>(cp) + 1.0);
  }
}

/** centroids[j] = sums[j] / counts[j] for every non-empty cluster; empty ones are left as they are (repaired by the caller). */
export function kmeansUpdate(sumsPtr: usize, countsPtr: usize, k: u32, d: u32, centroidsPtr: usize): u32 {
  let empty: u32 = 0;
  for (let j: u32 = 0; j < k; j++) {
    const cnt = load<f64>(countsPtr + (<usize>j << 3));
    if (cnt == 0) { empty++; continue; }
    const inv = 1.0 / cnt;
    const s = sumsPtr + (<usize>j * d << 3);
    const c = centroidsPtr + (<usize>j * d << 2);
    for (let t: u32 = 0; t < d; t++) store<f32>(c + (<usize>t << 2), <f32>(load<f64>(s + (<usize>t << 3)) * inv));
  }
  return empty;
}

/**
 * k-means++ step: minPtr: f32[n] = min(minPtr[i], ||x_i - c||^2) for the d-vector cPtr (init: pass first = true to
 * overwrite). Returns the sum of the new minimums (f64), the total weight for the next D^2 draw.
 */
export function minL2Update(xPtr: usize, n: u32, d: u32, cPtr: usize, minPtr: usize, first: bool): f64 {
  let total: f64 = 0;
  const stride = <usize>d << 2;
  for (let i: u32 = 0; i < n; i++) {
    const v = l2sq(cPtr, xPtr + <usize>i * stride, d);
    const p = minPtr + (<usize>i << 2);
    const m = first ? v : min(v, load<f32>(p));
    store<f32>(p, m);
    total += <f64>m;
  }
  return total;
}

/**
 * The first index i whose running sum of weights wPtr: f32[n] (accumulated in f64, in index order) exceeds target;
 * when rounding leaves the target unreached, the last index of positive weight (n - 1 if there is none). A D^2 draw is target = u * total for u uniform in [0, 1).
 */
export function cumulativeSearch(wPtr: usize, n: u32, target: f64): u32 {
  let acc: f64 = 0;
  let last: u32 = n - 1;
  for (let i: u32 = 0; i < n; i++) {
    const w = load<f32>(wPtr + (<usize>i << 2));
    if (w > 0) last = i;
    acc += <f64>w;
    if (acc > target) return i;
  }
  return last;
}

/** Sum of f32[n] in f64, in index order. */
export function sumF32(ptr: usize, n: u32): f64 {
  let s: f64 = 0;
  for (let i: u32 = 0; i < n; i++) s += <f64>load<f32>(ptr + (<usize>i << 2));
  return s;
}

/**
 * dst f64[n] += src f64[n], element by element (the per-block sums of a pooled k-means step added in block order:
 * each element's additions in the same order as a scalar loop, so the same bits).
 */
export function addF64(dstPtr: usize, srcPtr: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    v128.store(dstPtr + o, f64x2.add(v128.load(dstPtr + o), v128.load(srcPtr + o)));
  }
  if (i < n) store<f64>(dstPtr + (<usize>i << 3), load<f64>(dstPtr + (<usize>i << 3)) + load<f64>(srcPtr + (<usize>i << 3)));
}

// ---- Hamerly's bounds (G. Hamerly, "Making k-means even faster", SDM 2010) ----
// Per point i: label a_i, upper_i = ||x_i - c_{a_i}|| (recomputed exactly every iteration, it is O(d)), and
// lower_i <= the distance to every other centroid. A point whose upper <= lower cannot change cluster, so only the
// others are rescanned against all k centroids. The result is Lloyd's, up to float rounding at exact ties.

/**
 * distPtr: f32[] = ||x_i - c_{labels_i}||^2 (difference form, not the expansion), centPtr: f32[k][d] row-major, for
 * the rows i = 0..n-1, or, when idxPtr != 0, for the n rows listed in idxPtr: i32[n] (the others are left as they are).
 */
export function l2sqToAssigned(xPtr: usize, n: u32, d: u32, centPtr: usize, labelsPtr: usize, distPtr: usize, idxPtr: usize): void {
  const stride = <usize>d << 2;
  for (let r: u32 = 0; r < n; r++) {
    const i = idxPtr != 0 ? <usize>load<i32>(idxPtr + (<usize>r << 2)) : <usize>r;
    const a = load<i32>(labelsPtr + (i << 2));
    store<f32>(distPtr + (i << 2), l2sq(xPtr + i * stride, centPtr + <usize>a * stride, d));
  }
}

/**
 * Indices i (idxPtr: i32[], returns the count) of points that may have changed cluster: sqrt(dist_i) exceeds both
 * lower_i - s_i and, when sepPtr != 0, sep[labels_i] (half the distance from that centroid to its nearest other one: a
 * point closer than that to its centroid is closer to it than to any other), where s_i = the largest shift of a
 * centroid other than labels_i in the last update (secondShift when labels_i = argMax, else maxShift; 0 and -1 for
 * none). A point that stays gets lower_i -= s_i; a gathered one keeps lower_i as it was, a bound on its distance to
 * every other centroid that did not move (hamerlyPartial). The rows of the gathered points go to outPtr: f32[count][d]
 * and their squared norms to normOutPtr: f32[count].
 */
export function hamerlyGather(
  xPtr: usize, n: u32, d: u32, xnormPtr: usize, distPtr: usize, lowerPtr: usize, labelsPtr: usize, sepPtr: usize,
  maxShift: f32, secondShift: f32, argMax: i32, idxPtr: usize, outPtr: usize, normOutPtr: usize,
): u32 {
  let m: u32 = 0;
  const bytes = <usize>d << 2;
  for (let i: u32 = 0; i < n; i++) {
    const u = <f32>Math.sqrt(<f64>load<f32>(distPtr + (<usize>i << 2)));
    const a = load<i32>(labelsPtr + (<usize>i << 2));
    const lp = lowerPtr + (<usize>i << 2);
    const lower = load<f32>(lp) - (a == argMax ? secondShift : maxShift);
    let bound = lower;
    if (sepPtr != 0) bound = max(bound, load<f32>(sepPtr + (<usize>a << 2)));
    if (u <= bound) {
      store<f32>(lp, lower);
      continue;
    }
    store<i32>(idxPtr + (<usize>m << 2), <i32>i);
    memory.copy(outPtr + <usize>m * bytes, xPtr + <usize>i * bytes, bytes);
    store<f32>(normOutPtr + (<usize>m << 2), load<f32>(xnormPtr + (<usize>i << 2)));
    m++;
  }
  return m;
}

/**
 * sepPtr: f32[k] = half the distance from centroid j to its nearest other centroid, from the score matrix
 * scoresPtr: f32[k][k] = ||c_j'||^2 - 2<c_j, c_j'> (scorePanels of the centroids against their own panels) and
 * biasPtr: f32[k] = ||c_j||^2. Lowered like the lower bounds (relative 1e-5) so that rounding cannot overstate it.
 */
export function halfSeparation(scoresPtr: usize, biasPtr: usize, k: u32, sepPtr: usize): void {
  for (let j: u32 = 0; j < k; j++) {
    const cn = load<f32>(biasPtr + (<usize>j << 2));
    let best: f32 = Infinity;
    let other: f32 = 0;
    const row = scoresPtr + (<usize>j * k << 2);
    for (let o: u32 = 0; o < k; o++) {
      if (o == j) continue;
      const v = load<f32>(row + (<usize>o << 2));
      if (v < best) { best = v; other = load<f32>(biasPtr + (<usize>o << 2)); }
    }
    const d2 = best + cn - <f32>1e-5 * (cn + other);
    store<f32>(sepPtr + (<usize>j << 2), best == Infinity ? Infinity : d2 > 0 ? <f32>0.5 * <f32>Math.sqrt(<f64>d2) : 0);
  }
}

/**
 * Writes the top-2 scan of the gathered points back: heaps hd: f32[m][2] (scores ||c||^2 - 2<x,c>, sorted) and
 * hi: i32[m][2]. labels_i = nearest, dist_i = its squared distance, lower_i = distance to the second nearest, lowered
 * by the rounding the expansion can make (relative 1e-5 of ||x||^2 + ||c||^2), so that the bound stays a bound.
 */
export function hamerlyScatter(
  m: u32, idxPtr: usize, hd: usize, hi: usize, gnormPtr: usize, biasPtr: usize, labelsPtr: usize, distPtr: usize, lowerPtr: usize,
): void {
  for (let r: u32 = 0; r < m; r++) {
    const i = <usize>load<i32>(idxPtr + (<usize>r << 2));
    const xn = load<f32>(gnormPtr + (<usize>r << 2));
    const a = load<i32>(hi + (<usize>r << 3));
    let d1 = load<f32>(hd + (<usize>r << 3)) + xn;
    store<i32>(labelsPtr + (i << 2), a);
    store<f32>(distPtr + (i << 2), d1 < 0 ? 0 : d1);
    store<f32>(lowerPtr + (i << 2), lowered(load<f32>(hd + (<usize>r << 3), 4), xn, load<i32>(hi + (<usize>r << 3), 4), biasPtr));
  }
}

/**
 * The points gathered by hamerlyGather after a top-3 scan against only the centroids that moved in the last update:
 * hd f32[m][3] scores ||c||^2 - 2<x,c> (sorted), hi i32[m][3] positions in movedPtr: i32[] (the moved centroids'
 * ids; -1 past the last). The other centroids did not move, so lower_i, which hamerlyGather left as it was, still
 * bounds the distance to each of them. With u = sqrt(dist_i) and b, b' the best two moved centroids other than a_i:
 *   u <= min(lower_i, lo(b))                     stays: lower_i = min(lower_i, lo(b));
 *   hi(b)^2 < dist_i - e(a_i), hi(b)^2 < lower_i^2  b is nearest: labels_i = b, dist_i = ||x_i - c_b||^2,
 *                                                  lower_i = min(lower_i, sqrt(dist_i - e(a_i)), lo(b'));
 *   otherwise (too close to call, or an unmoved centroid may be nearer): kept for a full scan, its index, row and
 *   norm moved down to position `count` of idxPtr, gxPtr, gnormPtr. Returns count.
 * lo / hi: a score's distance lowered / raised by the rounding the expansion can make, e(j) = 1e-5 (||x||^2 +
 * ||c_j||^2) as in hamerlyScatter; biasPtr: f32[k] = ||c_j||^2, centPtr: f32[k][d] row-major.
 */
export function hamerlyPartial(
  m: u32, idxPtr: usize, hd: usize, hi: usize, gxPtr: usize, gnormPtr: usize, d: u32, movedPtr: usize, biasPtr: usize,
  xPtr: usize, centPtr: usize, labelsPtr: usize, distPtr: usize, lowerPtr: usize,
): u32 {
  let left: u32 = 0;
  const bytes = <usize>d << 2;
  for (let r: u32 = 0; r < m; r++) {
    const i = <usize>load<i32>(idxPtr + (<usize>r << 2));
    const xn = load<f32>(gnormPtr + (<usize>r << 2));
    const a = load<i32>(labelsPtr + (i << 2));
    const dist = load<f32>(distPtr + (i << 2));
    const l0 = load<f32>(lowerPtr + (i << 2));
    let b: i32 = -1, b2: i32 = -1;
    let s1: f32 = 0, s2: f32 = 0;
    for (let e: u32 = 0; e < 3; e++) {
      const p = <usize>(r * 3 + e) << 2;
      const pos = load<i32>(hi + p);
      if (pos < 0) break;
      const j = load<i32>(movedPtr + (<usize>pos << 2));
      if (j == a) continue;
      if (b < 0) {
        b = j;
        s1 = load<f32>(hd + p);
      } else if (b2 < 0) {
        b2 = j;
        s2 = load<f32>(hd + p);
      }
    }
    const lo1 = lowered(s1, xn, b, biasPtr);
    if (<f32>Math.sqrt(<f64>dist) <= min(l0, lo1)) {
      store<f32>(lowerPtr + (i << 2), min(l0, lo1));
      continue;
    }
    if (b >= 0 && l0 > 0) {
      const hi1 = s1 + xn + <f32>1e-5 * (xn + load<f32>(biasPtr + (<usize>b << 2)));
      const da = dist - <f32>1e-5 * (xn + load<f32>(biasPtr + (<usize>a << 2)));
      if (hi1 < da && hi1 < l0 * l0) {
        store<i32>(labelsPtr + (i << 2), b);
        l2sqOneToMany(xPtr + i * bytes, centPtr + <usize>b * bytes, 1, d, distPtr + (i << 2));
        store<f32>(lowerPtr + (i << 2), min(min(l0, <f32>Math.sqrt(<f64>da)), lowered(s2, xn, b2, biasPtr)));
        continue;
      }
    }
    store<i32>(idxPtr + (<usize>left << 2), <i32>i);
    memory.copy(gxPtr + <usize>left * bytes, gxPtr + <usize>r * bytes, bytes);
    store<f32>(gnormPtr + (<usize>left << 2), xn);
    left++;
  }
  return left;
}

/** sqrt(s + xn - e(j)) (0 if not positive; +Infinity when j < 0: no such centroid). */
function lowered(s: f32, xn: f32, j: i32, biasPtr: usize): f32 {
  if (j < 0) return Infinity;
  const d2 = s + xn - <f32>1e-5 * (xn + load<f32>(biasPtr + (<usize>j << 2)));
  return d2 > 0 ? <f32>Math.sqrt(<f64>d2) : 0;
}

/** shiftPtr: f32[k] = ||new_j - old_j|| for centroids f32[k][d] row-major. */
export function centroidShift(oldPtr: usize, newPtr: usize, k: u32, d: u32, shiftPtr: usize): void {
  const stride = <usize>d << 2;
  for (let j: u32 = 0; j < k; j++) {
    // through l2sqOneToMany (the same bits): one copy of l2sq's unrolled loop fewer (k calls an iteration)
    const p = shiftPtr + (<usize>j << 2);
    l2sqOneToMany(oldPtr + <usize>j * stride, newPtr + <usize>j * stride, 1, d, p);
    store<f32>(p, <f32>Math.sqrt(<f64>load<f32>(p)));
  }
}
