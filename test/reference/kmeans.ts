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
 * Points that may have changed cluster: f32 sqrt(dist_i) > max(lower_i, sep[labels_i]) (sep optional). Their indices
 * go to idx, their rows to out, their squared norms to normOut; returns their count.
 */
export function hamerlyGather(
  x: Float32Array, n: number, d: number, xnorm: Float32Array, dist: Float32Array, lower: Float32Array, labels: Int32Array,
  sep: Float32Array | null, idx: Int32Array, out: Float32Array, normOut: Float32Array,
): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const u = f32(Math.sqrt(dist[i]));
    let bound = lower[i];
    if (sep) bound = Math.max(bound, sep[labels[i]]);
    if (u <= bound) continue;
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

/** lower[i] -= (labels[i] == argMax ? secondShift : maxShift), in float32 (the shifts are float32 too). */
export function hamerlyLower(n: number, labels: Int32Array, lower: Float32Array, maxShift: number, secondShift: number, argMax: number): void {
  for (let i = 0; i < n; i++) lower[i] = f32(lower[i] - f32(labels[i] === argMax ? secondShift : maxShift));
}

/** shift[j] = ||new_j - old_j||, float32. */
export function centroidShift(old: Float32Array, next: Float32Array, k: number, d: number, shift: Float32Array): void {
  for (let j = 0; j < k; j++) shift[j] = f32(Math.sqrt(f32(l2sq64(old, j, next, j, d))));
}
