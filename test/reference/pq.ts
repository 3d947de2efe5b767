// Reference for assembly/kernels/pq.ts: the same functions over typed arrays instead of pointers, as plain loops.
// Layouts (see the header of the kernel file), with dsub = d / m and ksubP = max(ksub, 4):
//   codebook (natural order, reference only): f32[m][ksub][dsub]
//   centT: f32[m][dsub][ksubP]   component t of codeword c of sub-space j at (j * dsub + t) * ksubP + c; padding zero
//   cnorm: f32[m][ksubP]         ||codeword||^2, +Infinity on padding codewords
//   codes: u8[n][m] (unpacked), packed: u8[n][codeSize], codeSize = ceil(m * nbits / 8), LSB-first bit stream
//   tables: f32[nq][m][ksubP]; the ADC distance of a code is bias + sum_j table[j][code_j]
// Sums are taken in float64 and rounded once to float32: exact on integer-valued data, at least as accurate as the
// kernel otherwise.
import { heapInit, heapPush, heapSortRows } from './topk.js';

const f32 = Math.fround;

export function ksubPadded(ksub: number): number {
  return Math.max(ksub, 4);
}

export function codeSize(m: number, nbits: number): number {
  return Math.ceil((m * nbits) / 8);
}

/** Index in centT of component t of codeword c of sub-space j. */
export function centIndex(j: number, t: number, c: number, dsub: number, ksubP: number): number {
  return (j * dsub + t) * ksubP + c;
}

/** Transposes a codebook f32[m][ksub][dsub] to centT (zero padding) and computes cnorm (+Infinity padding). */
export function transposeCodebook(
  cb: Float32Array, m: number, ksub: number, dsub: number,
): { centT: Float32Array; cnorm: Float32Array; ksubP: number } {
  const ksubP = ksubPadded(ksub);
  const centT = new Float32Array(m * dsub * ksubP);
  const cnorm = new Float32Array(m * ksubP).fill(Infinity);
  for (let j = 0; j < m; j++) {
    for (let c = 0; c < ksub; c++) {
      let s = 0;
      for (let t = 0; t < dsub; t++) {
        const v = cb[(j * ksub + c) * dsub + t];
        centT[centIndex(j, t, c, dsub, ksubP)] = v;
        s += v * v;
      }
      cnorm[j * ksubP + c] = f32(s);
    }
  }
  return { centT, cnorm, ksubP };
}

/** <x[off .. off + dsub), codeword c of sub-space j>, float64. */
function dotSub(x: ArrayLike<number>, off: number, j: number, c: number, dsub: number, ksubP: number, centT: Float32Array): number {
  let s = 0;
  for (let t = 0; t < dsub; t++) s += x[off + t] * centT[centIndex(j, t, c, dsub, ksubP)];
  return s;
}

/**
 * codes[i][j] = argmin over c < ksubP of cnorm[j][c] - 2 <x_ij, c> (float64; exact on integers); ties go to the lowest
 * index (strict < while scanning upwards). Padding codewords score +Infinity and are never chosen.
 */
export function pqEncode(
  x: Float32Array, n: number, d: number, m: number, ksubP: number, centT: Float32Array, cnorm: Float32Array, out: Uint8Array,
): void {
  const dsub = d / m;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let best = -1;
      let bestS = Infinity;
      for (let c = 0; c < ksubP; c++) {
        const s = cnorm[j * ksubP + c] - 2 * dotSub(x, i * d + j * dsub, j, c, dsub, ksubP, centT);
        if (best < 0 || s < bestS) {
          best = c;
          bestS = s;
        }
      }
      out[i * m + j] = best;
    }
  }
}

/** out[i] = the concatenation of the codewords codes[i] names. */
export function pqDecode(codes: Uint8Array, n: number, d: number, m: number, ksubP: number, centT: Float32Array, out: Float32Array): void {
  const dsub = d / m;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const c = codes[i * m + j];
      for (let t = 0; t < dsub; t++) out[i * d + j * dsub + t] = centT[centIndex(j, t, c, dsub, ksubP)];
    }
  }
}

/**
 * Tables out: f32[nq][m][ksubP] for every codeword including padding:
 *   mode 0: ||q_j - c||^2, mode 1: scale * <q_j, c>, mode 2: cnorm[j][c] + scale * <q_j, c>.
 */
export function pqTables(
  q: Float32Array, nq: number, d: number, m: number, ksubP: number, centT: Float32Array, cnorm: Float32Array,
  mode: 0 | 1 | 2, scale: number, out: Float32Array,
): void {
  const dsub = d / m;
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < m; j++) {
      const off = i * d + j * dsub;
      for (let c = 0; c < ksubP; c++) {
        let v: number;
        if (mode === 0) {
          v = 0;
          for (let t = 0; t < dsub; t++) {
            const e = q[off + t] - centT[centIndex(j, t, c, dsub, ksubP)];
            v += e * e;
          }
        } else {
          v = scale * dotSub(q, off, j, c, dsub, ksubP, centT);
          if (mode === 2) v = cnorm[j * ksubP + c] + v;
        }
        out[(i * m + j) * ksubP + c] = f32(v);
      }
    }
  }
}

/**
 * The float64 scale against which the rounding error of a table entry is measured: the entry itself (mode 0, a sum
 * of squares), |scale| * sum |q_t c_t| (mode 1), plus |cnorm| (mode 2).
 */
export function tableScale(
  q: Float32Array, qi: number, d: number, m: number, ksubP: number, centT: Float32Array, cnorm: Float32Array,
  mode: 0 | 1 | 2, scale: number, j: number, c: number,
): number {
  const dsub = d / m;
  const off = qi * d + j * dsub;
  let s = 0;
  for (let t = 0; t < dsub; t++) {
    const v = centT[centIndex(j, t, c, dsub, ksubP)];
    s += mode === 0 ? (q[off + t] - v) ** 2 : Math.abs(q[off + t] * v);
  }
  if (mode === 0) return s;
  s *= Math.abs(scale);
  return mode === 2 ? s + Math.abs(cnorm[j * ksubP + c]) : s;
}

/** out[i] = a[i] + b[i] in float32. */
export function addTables(a: Float32Array, b: Float32Array, count: number, out: Float32Array): void {
  for (let i = 0; i < count; i++) out[i] = f32(a[i] + b[i]);
}

/** bias + sum_j table[j][codes[i][j]], float64 rounded once. */
export function adcDistance(codes: Uint8Array, i: number, m: number, ksubP: number, table: Float32Array, bias: number): number {
  let s = bias;
  for (let j = 0; j < m; j++) s += table[j * ksubP + codes[i * m + j]];
  return f32(s);
}

/** |bias| + sum_j |table[j][codes[i][j]]|: the scale of the rounding error of adcDistance. */
export function adcScale(codes: Uint8Array, i: number, m: number, ksubP: number, table: Float32Array, bias: number): number {
  let s = Math.abs(bias);
  for (let j = 0; j < m; j++) s += Math.abs(table[j * ksubP + codes[i * m + j]]);
  return s;
}

export function pqDistances(codes: Uint8Array, n: number, m: number, ksubP: number, table: Float32Array, bias: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = adcDistance(codes, i, m, ksubP, table, bias);
}

/**
 * Every code's ADC distance offered to a bounded top-k (id = ids[i], or idBase + i without ids), then sorted by
 * (distance, id) ascending; slots left empty are (+Infinity, -1).
 */
export function pqScan(
  codes: Uint8Array, n: number, m: number, ksubP: number, table: Float32Array, bias: number, k: number,
  ids: Int32Array | null, idBase: number, norms: Float32Array | null = null,
): { dist: Float32Array; ids: Int32Array } {
  const hd = new Float32Array(k);
  const hi = new Int32Array(k);
  heapInit(hd, hi, k);
  // per-code terms (IVF-PQ's L2 norms) are added to the float32 ADC sum
  for (let i = 0; i < n; i++) heapPush(hd, hi, k, f32(adcDistance(codes, i, m, ksubP, table, bias) + (norms ? norms[i] : 0)), ids ? ids[i] : idBase + i);
  heapSortRows(hd, hi, 1, k);
  return { dist: hd, ids: hi };
}

/**
 * Bit-packs codes u8[n][m] into out: u8[n][codeSize], one bit at a time: bit b of code j of vector i is bit
 * (j * nbits + b) of that vector's byte string, byte (pos >> 3), bit (pos & 7). Unused trailing bits are zero.
 */
export function pqPack(codes: Uint8Array, n: number, m: number, nbits: number, out: Uint8Array): void {
  const cs = codeSize(m, nbits);
  out.fill(0, 0, n * cs);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      for (let b = 0; b < nbits; b++) {
        const pos = j * nbits + b;
        out[i * cs + (pos >> 3)] |= ((codes[i * m + j] >> b) & 1) << (pos & 7);
      }
    }
  }
}

/** The inverse of pqPack, one bit at a time; unused trailing bits are ignored. */
export function pqUnpack(packed: Uint8Array, n: number, m: number, nbits: number, out: Uint8Array): void {
  const cs = codeSize(m, nbits);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let v = 0;
      for (let b = 0; b < nbits; b++) {
        const pos = j * nbits + b;
        v |= ((packed[i * cs + (pos >> 3)] >> (pos & 7)) & 1) << b;
      }
      out[i * m + j] = v;
    }
  }
}
