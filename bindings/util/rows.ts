// Row copies between row-major f32 matrices (training samples, stored vectors read back).

/**
 * dst[i] = src[rows[i]] for rows of d floats, rows in any order; each run of consecutive rows is one copy (an
 * ascending sample of half the rows or more, sortedSample's, is mostly runs: 3-4x faster than a copy a row).
 */
export function gatherRows(dst: Float32Array, src: Float32Array, rows: Int32Array, d: number): void {
  const nt = rows.length;
  for (let i = 0; i < nt; ) {
    let e = i + 1;
    while (e < nt && rows[e] === rows[e - 1] + 1) e++;
    dst.set(src.subarray(rows[i] * d, (rows[e - 1] + 1) * d), i * d);
    i = e;
  }
}
