// The MovieLens embeddings of ../shared/data/ml/d64 (6568 items, 500 user queries, exact top-100 ground truth for
// MIPS and L2), read from .fvecs / .ivecs. Absent from a user's clone: suites that use them skip, saying so.
import { readFileSync } from 'node:fs';

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
