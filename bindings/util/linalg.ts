// Small dense linear algebra in float64 for OPQ's rotation step (d x d matrices, row-major Float64Array).
//
// Written here rather than taken from ml-matrix: the package has no runtime dependencies, so dist/ loads in a browser
// straight from a static server, without a bundler or an import map. The d x d problems are small next to the
// n x d work done in wasm (one-sided Jacobi costs about 6 d^3 flops per sweep: 2 ms at d = 64, 0.1 s at d = 256).
import type { Rng } from './rng.js';

/** A d x d orthogonal matrix: Gaussian entries (Box-Muller on rng), rows orthonormalized by modified Gram-Schmidt. */
export function randomOrthogonal(d: number, rng: Rng): Float64Array {
  const a = new Float64Array(d * d);
  for (let i = 0; i < d * d; i += 2) {
    const u1 = 1 - rng.nextFloat(); // (0, 1]: log stays finite
    const u2 = rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    a[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < d * d) a[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  orthonormalizeRows(a, d);
  return a;
}

/**
 * Modified Gram-Schmidt on the rows of a d x d matrix, in place. A row that is (numerically) in the span of the
 * previous ones is replaced by the first unit vector that is not, so the result is always orthogonal.
 */
export function orthonormalizeRows(a: Float64Array, d: number): void {
  for (let i = 0; i < d; i++) {
    for (let attempt = 0; attempt <= d; attempt++) {
      const before = rowNorm(a, i, d);
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += a[i * d + t] * a[j * d + t];
        for (let t = 0; t < d; t++) a[i * d + t] -= dot * a[j * d + t];
      }
      const nrm = rowNorm(a, i, d);
      if (nrm > 1e-10 * Math.max(before, 1e-300) && nrm > 0) {
        for (let t = 0; t < d; t++) a[i * d + t] /= nrm;
        break;
      }
      // degenerate: try unit vector e_attempt
      for (let t = 0; t < d; t++) a[i * d + t] = t === attempt % d ? 1 : 0;
    }
  }
}

function rowNorm(a: Float64Array, i: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += a[i * d + t] * a[i * d + t];
  return Math.sqrt(s);
}

export interface Svd {
  /** d x d, columns are the left singular vectors. */
  u: Float64Array;
  /** Singular values, descending order not guaranteed. */
  s: Float64Array;
  /** d x d, columns are the right singular vectors: a = u diag(s) v^T. */
  v: Float64Array;
}

/**
 * SVD of a square matrix by one-sided Jacobi (Hestenes): plane rotations orthogonalize the columns of a * v; the
 * column norms are the singular values. Accurate to working precision; sweeps until no pair needs a rotation.
 * Columns of u for zero singular values are completed to an orthonormal basis.
 */
export function svdSquare(a: Float64Array, d: number): Svd {
  const w = a.slice(); // becomes u * diag(s)
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < d; i++) {
          const x = w[i * d + p], y = w[i * d + q];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < d; i++) {
          const x = w[i * d + p], y = w[i * d + q];
          w[i * d + p] = c * x - s * y;
          w[i * d + q] = s * x + c * y;
          const vx = v[i * d + p], vy = v[i * d + q];
          v[i * d + p] = c * vx - s * vy;
          v[i * d + q] = s * vx + c * vy;
        }
      }
    }
    if (!rotated) break;
  }
  const s = new Float64Array(d);
  let smax = 0;
  for (let j = 0; j < d; j++) {
    let n2 = 0;
    for (let i = 0; i < d; i++) n2 += w[i * d + j] * w[i * d + j];
    s[j] = Math.sqrt(n2);
    smax = Math.max(smax, s[j]);
  }
  // u = w / s column by column; rank-deficient columns are completed afterwards (as rows of u^T)
  const ut = new Float64Array(d * d);
  const tiny = smax * d * 1e-14;
  for (let j = 0; j < d; j++) {
    if (s[j] > tiny) for (let i = 0; i < d; i++) ut[j * d + i] = w[i * d + j] / s[j];
  }
  const order = Array.from({ length: d }, (_, j) => j).sort((x, y) => (s[y] > tiny ? 1 : 0) - (s[x] > tiny ? 1 : 0));
  const sorted = new Float64Array(d * d);
  order.forEach((j, r) => sorted.set(ut.subarray(j * d, j * d + d), r * d));
  orthonormalizeRows(sorted, d);
  const u = new Float64Array(d * d);
  order.forEach((j, r) => {
    for (let i = 0; i < d; i++) u[i * d + j] = sorted[r * d + i];
  });
  return { u, s, v };
}

/**
 * The orthogonal r minimizing ||x r^T - y||_F given m = x^T y (d x d): with m = u s v^T, r = v u^T (orthogonal
 * Procrustes; Schönemann 1966). OPQ's rotation update.
 */
export function procrustes(m: Float64Array, d: number): Float64Array {
  const { u, v } = svdSquare(m, d);
  const r = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += v[i * d + j] * u[k * d + j];
      r[i * d + k] = acc;
    }
  }
  return r;
}
