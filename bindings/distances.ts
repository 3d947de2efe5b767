import { checkBool, checkInt, checkOneOf, checkVectors, resultsFit } from './errors.js';
import { chunkRows } from './search/scan.js';
import { METRICS, type Metric } from './types.js';
import { engine } from './wasm/engine.js';

/**
 * All distances between the rows of x (nx * d) and of y (ny * d): Float32Array nx * ny, row-major (row i holds x_i
 * against every y_j). 'l2': squared Euclidean distance; 'ip': inner product; 'cosine': cosine similarity.
 * Computed as ||x||^2 + ||y||^2 - 2<x,y> for 'l2' (clamped at 0), like Faiss's pairwise_L2sqr.
 */
export function pairwiseDistances(x: Float32Array, y: Float32Array, d: number, metric: Metric = 'l2'): Float32Array {
  const where = 'pairwiseDistances';
  checkInt(where, 'd', d, 1, 1 << 20);
  checkOneOf(where, 'metric', metric, METRICS);
  const nx = checkVectors(where, 'x', x, d);
  const ny = checkVectors(where, 'y', y, d);
  resultsFit(where, nx, ny, `${nx} x ${ny}`);
  const eng = engine(where);
  const out = new Float32Array(nx * ny);
  const l2 = metric === 'l2';
  const nyp = Math.ceil(ny / 8) * 8;
  const rows = chunkRows((d + ny + 1) * 4, nx);
  // y packed once into panels; x in chunks of rows
  const [yp, ypan, bias, xp, xn, op] = eng.scratch([ny * d * 4, nyp * d * 4, nyp * 4, rows * d * 4, rows * 4, rows * ny * 4], where);
  eng.f32(yp, ny * d).set(y);
  if (metric === 'cosine') eng.abi.normalizeRows(yp, ny, d);
  eng.abi.packPanels(yp, ny, d, ypan, 0);
  if (l2) eng.abi.panelNormsSq(ypan, 0, ny, d, bias);
  else eng.abi.panelZeroBias(0, ny, bias);
  for (let i0 = 0; i0 < nx; i0 += rows) {
    const c = Math.min(rows, nx - i0);
    eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
    if (metric === 'cosine') eng.abi.normalizeRows(xp, c, d);
    eng.abi.scorePanels(xp, c, d, ypan, bias, ny, l2 ? -2 : 1, op);
    const block = eng.f32(op, c * ny);
    if (l2) {
      eng.abi.normsSq(xp, c, d, xn);
      const norms = eng.f32(xn, c);
      for (let r = 0; r < c; r++) {
        const base = r * ny;
        const q = norms[r];
        for (let j = 0; j < ny; j++) {
          const v = block[base + j] + q;
          block[base + j] = v > 0 ? v : 0;
        }
      }
    }
    out.set(block, i0 * ny);
  }
  return out;
}

/** L2 norm of each row of x (n * d): Float32Array n; `squared: true` for ||x||^2. */
export function norms(x: Float32Array, d: number, squared = false): Float32Array {
  const where = 'norms';
  checkInt(where, 'd', d, 1, 1 << 20);
  checkBool(where, 'squared', squared);
  const n = checkVectors(where, 'x', x, d);
  const eng = engine(where);
  const rows = chunkRows((d + 1) * 4, n);
  const out = new Float32Array(n);
  const [xp, np] = eng.scratch([rows * d * 4, rows * 4], where);
  for (let i0 = 0; i0 < n; i0 += rows) {
    const c = Math.min(rows, n - i0);
    eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
    eng.abi.normsSq(xp, c, d, np);
    out.set(eng.f32(np, c), i0);
  }
  if (!squared) for (let i = 0; i < n; i++) out[i] = Math.sqrt(out[i]);
  return out;
}
