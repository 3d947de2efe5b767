// k-means steps over row-major training points xPtr: f32[n][d] and centroids f32[k][d]. Assignment itself is
// scanPanels with k = 1 (panels.ts); these are the other two steps and the k-means++ seeding helpers.

import { l2sq } from './distance';

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
 * n - 1 when rounding leaves the target unreached. A D^2 draw is target = u * total for u uniform in [0, 1).
 */
export function cumulativeSearch(wPtr: usize, n: u32, target: f64): u32 {
  let acc: f64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    acc += <f64>load<f32>(wPtr + (<usize>i << 2));
    if (acc > target) return i;
  }
  return n - 1;
}

/** Sum of f32[n] in f64, in index order. */
export function sumF32(ptr: usize, n: u32): f64 {
  let s: f64 = 0;
  for (let i: u32 = 0; i < n; i++) s += <f64>load<f32>(ptr + (<usize>i << 2));
  return s;
}
