// Reference for assembly/kernels/distance.ts: the same functions over typed arrays instead of pointers, as plain
// loops. Sums are taken in float64 and rounded once to float32 at the end: on integer-valued data this is the exact
// value (which every summation order reproduces), on general data it is at least as accurate as the kernel.

const f32 = Math.fround;

/** Squared L2 distance between row a of `x` and row b of `y` (float64, unrounded). */
export function l2sq64(x: ArrayLike<number>, a: number, y: ArrayLike<number>, b: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const e = x[a * d + t] - y[b * d + t];
    s += e * e;
  }
  return s;
}

/** Inner product of row a of `x` and row b of `y` (float64, unrounded). */
export function dot64(x: ArrayLike<number>, a: number, y: ArrayLike<number>, b: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += x[a * d + t] * y[b * d + t];
  return s;
}

/** Sum over t of |x_t * y_t|: the scale against which the rounding error of a dot product is measured. */
export function absDot64(x: ArrayLike<number>, a: number, y: ArrayLike<number>, b: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += Math.abs(x[a * d + t] * y[b * d + t]);
  return s;
}

/** out[i] = ||x - y_i||^2 for the d-vector x and the rows of y: f32[n][d]. */
export function l2sqOneToMany(x: Float32Array, y: Float32Array, n: number, d: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = f32(l2sq64(x, 0, y, i, d));
}

/** out[i] = <x, y_i>. */
export function dotOneToMany(x: Float32Array, y: Float32Array, n: number, d: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = f32(dot64(x, 0, y, i, d));
}

/** out[i] = ||x_i||^2. */
export function normsSq(x: Float32Array, n: number, d: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = f32(dot64(x, i, x, i, d));
}

/**
 * Scales every row to unit L2 norm in place; all-zero rows stay zero. In float32 as documented by the kernel:
 * nrm = sqrt(||x||^2), inv = 1 / nrm, x_t = x_t * inv, each step rounded to float32.
 */
export function normalizeRows(x: Float32Array, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    let nrm = f32(Math.sqrt(f32(dot64(x, i, x, i, d))));
    // a norm under 1e-18 (float32 squares underflowing): the row scaled by 2^64 first, twice if need be
    for (let pass = 0; pass < 2 && nrm < f32(1e-18); pass++) {
      for (let t = 0; t < d; t++) x[i * d + t] = f32(x[i * d + t] * 2 ** 64);
      nrm = f32(Math.sqrt(f32(dot64(x, i, x, i, d))));
    }
    if (nrm === 0) continue;
    const inv = f32(1 / nrm);
    for (let t = 0; t < d; t++) x[i * d + t] = f32(x[i * d + t] * inv);
  }
}
