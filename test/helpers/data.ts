// Test data. Integer-valued vectors make every kernel exact: with components in [-8, 8] and d <= 128, every product,
// partial sum and norm is an integer below 2^24, so float32 arithmetic in any order (and with or without fused
// multiply-add) gives the same bits as the exact value.
import { TestRng } from './rng.js';

/** n * d integers uniform in [lo, hi], row-major. */
export function intVectors(n: number, d: number, seed: number, lo = -8, hi = 8): Float32Array {
  const r = new TestRng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = r.int(lo, hi);
  return out;
}

/** Like intVectors, but no two rows are equal (redraws duplicates). Needs (hi - lo + 1)^d well above n. */
export function distinctIntVectors(n: number, d: number, seed: number, lo = -8, hi = 8): Float32Array {
  const r = new TestRng(seed);
  const out = new Float32Array(n * d);
  const seen = new Set<string>();
  for (let i = 0; i < n; ) {
    const row: number[] = [];
    for (let t = 0; t < d; t++) row.push(r.int(lo, hi));
    const key = row.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    out.set(row, i * d);
    i++;
  }
  return out;
}

/** n * d Gaussian floats with standard deviation `scale` around `offset`. */
export function floatVectors(n: number, d: number, seed: number, scale = 1, offset = 0): Float32Array {
  const r = new TestRng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = offset + scale * r.gauss();
  return out;
}

export interface Clustered {
  x: Float32Array;
  /** The planted cluster of every row. */
  labels: Int32Array;
  /** The planted centres, f32[k][d]. */
  centers: Float32Array;
}

/**
 * k Gaussian blobs of `perCluster` points each: centres Gaussian with deviation `spread`, points around them with
 * deviation `sigma`. Rows are interleaved (row i belongs to blob i % k) so that row order says nothing.
 */
export function clustered(k: number, perCluster: number, d: number, seed: number, spread = 10, sigma = 1): Clustered {
  const r = new TestRng(seed);
  const centers = new Float32Array(k * d);
  for (let i = 0; i < centers.length; i++) centers[i] = spread * r.gauss();
  const n = k * perCluster;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    labels[i] = c;
    for (let t = 0; t < d; t++) x[i * d + t] = centers[c * d + t] + sigma * r.gauss();
  }
  return { x, labels, centers };
}

/** Row i of a row-major matrix (a view). */
export function row(x: Float32Array, i: number, d: number): Float32Array {
  return x.subarray(i * d, (i + 1) * d);
}

/** Concatenates row-major matrices. */
export function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** n * d floats uniform in [-scale, scale), row-major. */
export function uniformVectors(n: number, d: number, seed: number, scale = 1): Float32Array {
  const r = new TestRng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = (r.float() * 2 - 1) * scale;
  return out;
}
