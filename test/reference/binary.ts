// Plain-TS references for assembly/kernels/binary.ts and the sign codes of BinaryQuantizer.

/** popcount(a XOR b) over codeSize bytes of rows i of a and j of b. */
export function hamming(a: Uint8Array, i: number, b: Uint8Array, j: number, codeSize: number): number {
  let s = 0;
  for (let t = 0; t < codeSize; t++) {
    let v = a[i * codeSize + t] ^ b[j * codeSize + t];
    while (v) {
      s += v & 1;
      v >>= 1;
    }
  }
  return s;
}

/** hammingDistances: i32[n], the distance of each of n codes to the query code q (one row). */
export function hammingDistances(codes: Uint8Array, n: number, codeSize: number, q: Uint8Array): Int32Array {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) out[r] = hamming(codes, r, q, 0, codeSize);
  return out;
}

/** hammingScan from empty heaps, then sorted: the best min(k, n) (distance, idBase + r) ascending, ties by id; padded with (Infinity, -1). */
export function hammingTopK(codes: Uint8Array, n: number, codeSize: number, q: Uint8Array, k: number, idBase: number): { dist: Float32Array; ids: Int32Array } {
  const d = hammingDistances(codes, n, codeSize, q);
  const order = Array.from({ length: n }, (_, r) => r).sort((a, b) => d[a] - d[b] || a - b);
  const dist = new Float32Array(k).fill(Infinity);
  const ids = new Int32Array(k).fill(-1);
  for (let j = 0; j < Math.min(k, n); j++) {
    dist[j] = d[order[j]];
    ids[j] = idBase + order[j];
  }
  return { dist, ids };
}

/**
 * Sign codes of rows x f32[n][d]: y = R (x - mean) (float32 differences, float64 sums in the order j = 0..d-1), bit j =
 * y_j > 0, LSB first in ceil(d / 8) bytes; rot null means the identity.
 */
export function signCodes(x: Float32Array, n: number, d: number, mean: Float32Array, rot: Float32Array | null): Uint8Array {
  const cs = (d + 7) >> 3;
  const out = new Uint8Array(n * cs);
  for (let i = 0; i < n; i++) {
    const c = new Float64Array(d);
    for (let j = 0; j < d; j++) c[j] = Math.fround(x[i * d + j] - mean[j]);
    for (let r = 0; r < d; r++) {
      let y = c[r];
      if (rot) {
        y = 0;
        for (let j = 0; j < d; j++) y += rot[r * d + j] * c[j];
      }
      if (y > 0) out[i * cs + (r >> 3)] |= 1 << (r & 7);
    }
  }
  return out;
}
