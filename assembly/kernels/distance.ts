// One-vs-many distances, norms and row normalization. Vectors are row-major f32[n][d]; d needs no padding: the v128
// loop runs over the first d & ~15 (then d & ~3) components and a scalar loop takes the rest.

import { madd, hsum } from './simd';
import { kernelScratch } from '../memory';

/** Squared L2 distance between two d-vectors. */
@inline export function l2sq(a: usize, b: usize, d: u32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let i: u32 = 0;
  const d16 = d & ~15;
  for (; i < d16; i += 16) {
    const o = <usize>i << 2;
    const e0 = f32x4.sub(v128.load(a + o), v128.load(b + o));
    const e1 = f32x4.sub(v128.load(a + o, 16), v128.load(b + o, 16));
    const e2 = f32x4.sub(v128.load(a + o, 32), v128.load(b + o, 32));
    const e3 = f32x4.sub(v128.load(a + o, 48), v128.load(b + o, 48));
    acc0 = madd(e0, e0, acc0);
    acc1 = madd(e1, e1, acc1);
    acc2 = madd(e2, e2, acc2);
    acc3 = madd(e3, e3, acc3);
  }
  const d4 = d & ~3;
  for (; i < d4; i += 4) {
    const o = <usize>i << 2;
    const e = f32x4.sub(v128.load(a + o), v128.load(b + o));
    acc0 = madd(e, e, acc0);
  }
  let s = hsum(f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3)));
  for (; i < d; i++) {
    const o = <usize>i << 2;
    const e = load<f32>(a + o) - load<f32>(b + o);
    s += e * e;
  }
  return s;
}

/** Inner product of two d-vectors. */
@inline export function dot(a: usize, b: usize, d: u32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let i: u32 = 0;
  const d16 = d & ~15;
  for (; i < d16; i += 16) {
    const o = <usize>i << 2;
    acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
    acc1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), acc1);
    acc2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), acc2);
    acc3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), acc3);
  }
  const d4 = d & ~3;
  for (; i < d4; i += 4) {
    const o = <usize>i << 2;
    acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
  }
  let s = hsum(f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3)));
  for (; i < d; i++) {
    const o = <usize>i << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

/** outPtr: f32[n] = ||x - y_i||^2 for the d-vector xPtr and rows of yPtr: f32[n][d]. */
export function l2sqOneToMany(xPtr: usize, yPtr: usize, n: u32, d: u32, outPtr: usize): void {
  const stride = <usize>d << 2;
  for (let i: u32 = 0; i < n; i++) {
    store<f32>(outPtr + (<usize>i << 2), l2sq(xPtr, yPtr + <usize>i * stride, d));
  }
}

/** outPtr: f32[n] = ||x_i||^2 for rows of xPtr: f32[n][d]. */
export function normsSq(xPtr: usize, n: u32, d: u32, outPtr: usize): void {
  const stride = <usize>d << 2;
  for (let i: u32 = 0; i < n; i++) {
    const row = xPtr + <usize>i * stride;
    store<f32>(outPtr + (<usize>i << 2), dot(row, row, d));
  }
}

/** Scales every row of xPtr: f32[n][d] to unit L2 norm in place; all-zero rows stay zero. */
export function normalizeRows(xPtr: usize, n: u32, d: u32): void {
  const stride = <usize>d << 2;
  // each row's squared norm through normsSq (the same bits), into the thread's scratch: one copy of dot's unrolled
  // loop fewer in the module (a call a row costs nothing next to the row)
  const sq = kernelScratch();
  for (let i: u32 = 0; i < n; i++) {
    const row = xPtr + <usize>i * stride;
    normsSq(row, 1, d, sq);
    let nrm = <f32>Math.sqrt(<f64>load<f32>(sq));
    // below ~1e-18 the float32 squares underflow (an audit: 5 components of 1e-22 normalized to 0.4515, not 0.4472;
    // of 1e-23 left as they were): scale the row by 2^64 first, twice for subnormal components, which the
    // normalization undoes (a zero row stays zero)
    for (let t = 0; t < 2 && nrm < <f32>1e-18; t++) {
      scaleRow(row, d, <f32>1.8446744e19);
      normsSq(row, 1, d, sq);
      nrm = <f32>Math.sqrt(<f64>load<f32>(sq));
    }
    if (nrm == 0) continue;
    scaleRow(row, d, <f32>1 / nrm);
  }
}

/** Multiplies the d components at row by f, in place. */
function scaleRow(row: usize, d: u32, f: f32): void {
  const s = f32x4.splat(f);
  let j: u32 = 0;
  const d4 = d & ~3;
  for (; j < d4; j += 4) {
    const p = row + (<usize>j << 2);
    v128.store(p, f32x4.mul(v128.load(p), s));
  }
  for (; j < d; j++) {
    const p = row + (<usize>j << 2);
    store<f32>(p, load<f32>(p) * f);
  }
}

/**
 * Re-ranking: outPtr: f32[count] = ||q - x_{idx[i]}||^2 (metric 0) or -<q, x_{idx[i]}> (metric 1, smaller is better),
 * rows of xPtr: f32[*][d] picked by idxPtr: i32[count]; entries with idx < 0 get +Infinity.
 */
export function scoreRows(qPtr: usize, xPtr: usize, idxPtr: usize, count: u32, d: u32, metric: u32, outPtr: usize): void {
  const stride = <usize>d << 2;
  for (let i: u32 = 0; i < count; i++) {
    const r = load<i32>(idxPtr + (<usize>i << 2));
    let s: f32 = Infinity;
    if (r >= 0) {
      const row = xPtr + <usize>r * stride;
      s = metric == 0 ? l2sq(qPtr, row, d) : <f32>0 - dot(qPtr, row, d);
    }
    store<f32>(outPtr + (<usize>i << 2), s);
  }
}
