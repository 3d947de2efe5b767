// Reference for assembly/kernels/kmeans.ts, plus one whole Lloyd iteration done the obvious way.
// Points x: f32[n][d], centroids f32[k][d], labels i32[n], sums f64[k][d], counts f64[k].
import { l2sq64 } from './distance.js';

const f32 = Math.fround;

/** Zeroes sums/counts, then adds every point to the sum of its cluster (float64, in index order) and counts it. */
export function kmeansAccumulate(
  x: Float32Array, n: number, d: number, labels: Int32Array, k: number, sums: Float64Array, counts: Float64Array,
): void {
  sums.fill(0, 0, k * d);
  counts.fill(0, 0, k);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    for (let t = 0; t < d; t++) sums[c * d + t] += x[i * d + t];
    counts[c] += 1;
  }
}

/** centroid_j = sums_j / counts_j (rounded to float32) for non-empty clusters; returns the number of empty ones. */
export function kmeansUpdate(sums: Float64Array, counts: Float64Array, k: number, d: number, centroids: Float32Array): number {
  let empty = 0;
  for (let j = 0; j < k; j++) {
    if (counts[j] === 0) {
      empty++;
      continue;
    }
    for (let t = 0; t < d; t++) centroids[j * d + t] = f32(sums[j * d + t] / counts[j]);
  }
  return empty;
}

/** min[i] = min(min[i], ||x_i - c||^2) (just the distance when `first`); returns the float64 sum of the new min. */
export function minL2Update(x: Float32Array, n: number, d: number, c: Float32Array, min: Float32Array, first: boolean): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = f32(l2sq64(x, i, c, 0, d));
    min[i] = first ? v : Math.min(v, min[i]);
    total += min[i];
  }
  return total;
}

/** First i whose running float64 sum of w[0..i] exceeds target; n - 1 if none does. */
export function cumulativeSearch(w: Float32Array, n: number, target: number): number {
  let acc = 0;
  let last = n - 1; // fallback: the last index of positive weight
  for (let i = 0; i < n; i++) {
    if (w[i] > 0) last = i;
    acc += w[i];
    if (acc > target) return i;
  }
  return last;
}

/** Float64 sum of a[0..n), in index order. */
export function sumF32(a: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i];
  return s;
}

/** dst[i] += src[i] for i < n (float64). */
export function addF64(dst: Float64Array, src: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) dst[i] += src[i];
}

/** Nearest centroid of every point (lowest index on ties) and the squared distance to it, in float64. */
export function assignNearest(x: Float32Array, n: number, d: number, centroids: Float32Array, k: number): { labels: Int32Array; dist: Float64Array } {
  const labels = new Int32Array(n);
  const dist = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bd = Infinity;
    for (let j = 0; j < k; j++) {
      const v = l2sq64(x, i, centroids, j, d);
      if (v < bd) {
        bd = v;
        best = j;
      }
    }
    labels[i] = best;
    dist[i] = bd;
  }
  return { labels, dist };
}

export interface LloydStep {
  /** Assignment to the input centroids. */
  labels: Int32Array;
  dist: Float64Array;
  /** Sum of dist: the objective of the input centroids. */
  objective: number;
  sums: Float64Array;
  counts: Float64Array;
  /** Updated centroids; an empty cluster keeps its input centroid. */
  centroids: Float32Array;
  empty: number;
}

/** One Lloyd iteration from `centroids`: assign every point to its nearest centroid, then move each to its mean. */
export function lloydIteration(x: Float32Array, n: number, d: number, centroids: Float32Array, k: number): LloydStep {
  const { labels, dist } = assignNearest(x, n, d, centroids, k);
  let objective = 0;
  for (let i = 0; i < n; i++) objective += dist[i];
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  kmeansAccumulate(x, n, d, labels, k, sums, counts);
  const next = centroids.slice();
  const empty = kmeansUpdate(sums, counts, k, d, next);
  return { labels, dist, objective, sums, counts, centroids: next, empty };
}

// ---- Hamerly's bounds -------------------------------------------------------------------------------------------
// The kernels below carry float32 formulas of their own (bounds lowered by a relative slack); the references follow
// the documented formula step by step in float32 (Math.fround after each operation), so that they can be compared
// bit for bit. What makes a bound valid is checked separately, against true distances.

/** dist[i] = ||x_i - c_{labels_i}||^2 (difference form), rounded to float32, for i < n or for the n rows of idx. */
export function l2sqToAssigned(
  x: Float32Array, n: number, d: number, cent: Float32Array, labels: Int32Array, dist: Float32Array, idx: Int32Array | null = null,
): void {
  for (let r = 0; r < n; r++) {
    const i = idx ? idx[r] : r;
    dist[i] = f32(l2sq64(x, i, cent, labels[i], d));
  }
}

/**
 * Points that may have changed cluster: f32 sqrt(dist_i) > max(lower_i - s_i, sep[labels_i]) (sep optional), s_i =
 * secondShift when labels_i = argMax, else maxShift. Their indices go to idx, their rows to out, their squared norms
 * to normOut; returns their count. The others get lower_i = lower_i - s_i (float32); the gathered keep theirs.
 */
export function hamerlyGather(
  x: Float32Array, n: number, d: number, xnorm: Float32Array, dist: Float32Array, lower: Float32Array, labels: Int32Array,
  sep: Float32Array | null, maxShift: number, secondShift: number, argMax: number, idx: Int32Array, out: Float32Array, normOut: Float32Array,
): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const u = f32(Math.sqrt(dist[i]));
    const decayed = f32(lower[i] - f32(labels[i] === argMax ? secondShift : maxShift));
    let bound = decayed;
    if (sep) bound = Math.max(bound, sep[labels[i]]);
    if (u <= bound) {
      lower[i] = decayed;
      continue;
    }
    idx[m] = i;
    for (let t = 0; t < d; t++) out[m * d + t] = x[i * d + t];
    normOut[m] = xnorm[i];
    m++;
  }
  return m;
}

/**
 * sep[j] = 0.5 * sqrt(best + ||c_j||^2 - 1e-5 (||c_j||^2 + ||c_o||^2)) where best = min over o != j of
 * scores[j][o] = ||c_o||^2 - 2<c_j, c_o> (first o on ties), 0 when that is not positive, +Infinity when k = 1.
 */
export function halfSeparation(scores: Float32Array, bias: Float32Array, k: number, sep: Float32Array): void {
  for (let j = 0; j < k; j++) {
    let best = Infinity;
    let o = -1;
    for (let c = 0; c < k; c++) {
      if (c !== j && scores[j * k + c] < best) {
        best = scores[j * k + c];
        o = c;
      }
    }
    if (o < 0) {
      sep[j] = Infinity;
      continue;
    }
    const cn = bias[j];
    const d2 = f32(f32(best + cn) - f32(f32(1e-5) * f32(cn + bias[o])));
    sep[j] = d2 > 0 ? f32(0.5 * f32(Math.sqrt(d2))) : 0;
  }
}

/**
 * From sorted top-2 rows (hd: scores ||c||^2 - 2<x,c>, hi: ids) of the m gathered points idx: labels = nearest,
 * dist = its score + ||x||^2 clamped at 0, lower = sqrt(second score + ||x||^2 - 1e-5 (||x||^2 + ||c2||^2)) (0 if not
 * positive; +Infinity without a second).
 */
export function hamerlyScatter(
  m: number, idx: Int32Array, hd: Float32Array, hi: Int32Array, gnorm: Float32Array, bias: Float32Array,
  labels: Int32Array, dist: Float32Array, lower: Float32Array,
): void {
  for (let r = 0; r < m; r++) {
    const i = idx[r];
    const xn = gnorm[r];
    labels[i] = hi[2 * r];
    dist[i] = Math.max(0, f32(hd[2 * r] + xn));
    const b = hi[2 * r + 1];
    if (b < 0) {
      lower[i] = Infinity;
      continue;
    }
    const d2 = f32(f32(hd[2 * r + 1] + xn) - f32(f32(1e-5) * f32(xn + bias[b])));
    lower[i] = d2 > 0 ? f32(Math.sqrt(d2)) : 0;
  }
}

/** f32 sqrt(s + xn - 1e-5 (xn + bias[j])) (0 if not positive), +Infinity when j < 0. */
function lowered(s: number, xn: number, j: number, bias: Float32Array): number {
  if (j < 0) return Infinity;
  const d2 = f32(f32(s + xn) - f32(f32(1e-5) * f32(xn + bias[j])));
  return d2 > 0 ? f32(Math.sqrt(d2)) : 0;
}

/**
 * After a top-3 scan of the m gathered points idx against the moved centroids only (hd: sorted scores, hi: positions
 * in moved, -1 past the last): with u = f32 sqrt(dist_i), l0 = lower_i and b, b' the best two moved centroids other
 * than labels_i, a point stays when u <= min(l0, lo(b)) (lower_i = that min); moves to b when l0 > 0 and
 * hi(b)^2 = s_b + xn + 1e-5 (xn + ||c_b||^2) is below both dist_i - 1e-5 (xn + ||c_a||^2) and l0^2 (dist_i =
 * ||x_i - c_b||^2, lower_i = min(l0, sqrt of the former, lo(b'))); otherwise it is kept for a full scan, moved down in
 * idx / gx / gnorm. Returns how many were kept.
 */
export function hamerlyPartial(
  m: number, idx: Int32Array, hd: Float32Array, hi: Int32Array, gx: Float32Array, gnorm: Float32Array, d: number,
  moved: Int32Array, bias: Float32Array, x: Float32Array, cent: Float32Array, labels: Int32Array, dist: Float32Array, lower: Float32Array,
): number {
  let left = 0;
  for (let r = 0; r < m; r++) {
    const i = idx[r];
    const xn = gnorm[r];
    const a = labels[i];
    const l0 = lower[i];
    const others: [number, number][] = [];
    for (let e = 0; e < 3 && hi[3 * r + e] >= 0; e++) {
      const j = moved[hi[3 * r + e]];
      if (j !== a) others.push([j, hd[3 * r + e]]);
    }
    const [b, s1] = others[0] ?? [-1, 0];
    const [b2, s2] = others[1] ?? [-1, 0];
    const lo1 = lowered(s1, xn, b, bias);
    if (f32(Math.sqrt(dist[i])) <= Math.min(l0, lo1)) {
      lower[i] = Math.min(l0, lo1);
      continue;
    }
    if (b >= 0 && l0 > 0) {
      const hi1 = f32(f32(s1 + xn) + f32(f32(1e-5) * f32(xn + bias[b])));
      const da = f32(dist[i] - f32(f32(1e-5) * f32(xn + bias[a])));
      if (hi1 < da && hi1 < f32(l0 * l0)) {
        labels[i] = b;
        dist[i] = f32(l2sq64(x, i, cent, b, d));
        lower[i] = Math.min(l0, f32(Math.sqrt(da)), lowered(s2, xn, b2, bias));
        continue;
      }
    }
    idx[left] = i;
    gx.copyWithin(left * d, r * d, (r + 1) * d);
    gnorm[left] = xn;
    left++;
  }
  return left;
}

/** shift[j] = ||new_j - old_j||, float32. */
export function centroidShift(old: Float32Array, next: Float32Array, k: number, d: number, shift: Float32Array): void {
  for (let j = 0; j < k; j++) shift[j] = f32(Math.sqrt(f32(l2sq64(old, j, next, j, d))));
}
