// The MovieLens embeddings of ../shared/data/ml/d64 (6568 items, 500 user queries, exact top-100 ground truth for
// MIPS and L2), read from .fvecs / .ivecs. Absent from a user's clone: suites that use them skip, saying so.
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'vitest';

export const ML = new URL('../../../shared/data/ml/d64/', import.meta.url);

export function readVecs(path: URL, kind: 'f' | 'i'): { data: Float32Array | Int32Array; n: number; d: number } {
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const d = dv.getInt32(0, true);
  const n = buf.byteLength / (4 * (d + 1));
  const data = kind === 'f' ? new Float32Array(n * d) : new Int32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) data[i * d + t] = kind === 'f' ? dv.getFloat32(4 * (i * (d + 1) + 1 + t), true) : dv.getInt32(4 * (i * (d + 1) + 1 + t), true);
  return { data, n, d };
}

export interface MovieLens {
  /** Item embeddings f32[n][d] (the base and training set). */
  x: Float32Array;
  /** User embeddings f32[nq][d] (the queries). */
  q: Float32Array;
  n: number;
  nq: number;
  d: number;
  /** Exact top-100 item ids per user, i32[nq][100]: by inner product ('ip') or squared L2. */
  gt(metric: 'ip' | 'l2'): Int32Array;
}

/**
 * The MovieLens set, or null when ../shared/data is absent: then (called inside a describe block) it registers a
 * skipped test and prints that `suite`'s MovieLens checks were skipped, so a clone without the data says so.
 */
export function movieLensOrSkip(suite: string): MovieLens | null {
  if (!existsSync(new URL('items.fvecs', ML))) {
    it.skip('skipped: ../shared/data/ml/d64 is absent (CI has it)', () => {});
    console.warn(`${suite}: ../shared/data/ml/d64 not found, its MovieLens checks are SKIPPED`);
    return null;
  }
  const items = readVecs(new URL('items.fvecs', ML), 'f');
  const users = readVecs(new URL('users.fvecs', ML), 'f');
  return {
    x: items.data as Float32Array, q: users.data as Float32Array, n: items.n, nq: users.n, d: items.d,
    gt: (metric) => readVecs(new URL(metric === 'ip' ? 'gt_mips_top100.ivecs' : 'gt_l2_top100.ivecs', ML), 'i').data as Int32Array,
  };
}
