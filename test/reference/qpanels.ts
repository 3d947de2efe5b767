// Plain-TypeScript reference of assembly/kernels/qpanels.ts's packing: the int16 codes of a set of vectors and the
// per-vector quantities of the error bound, in float64 (the kernel rounds the bounds up when it stores them as f32).
// The scan itself has no reference of its own: its results must be scanPanels's (reference/panels.ts knnPanels),
// bit for bit.

/** Largest |code| for dp pairs of components: 2 dp M^2 < 2^31. */
export function codeMax(d: number): number {
  const dp = (d + 1) >> 1;
  return Math.min(32767, Math.floor(Math.sqrt(2147483647 / (2 * dp))));
}

export interface QVector {
  /** The f32 scale s: the vector stands for s * codes. */
  scale: number;
  /** The int16 codes, one per component. */
  codes: Int16Array;
  /** ||s C|| (1 + 2^-17) + 2^-19 (||s C|| + b), b = ||c - s C|| + (d + 2) 2^-23 ||c||. */
  A: number;
  /** b (1 + 2^-17) + 2^-19 (||s C|| + b). */
  B: number;
  /** 2^-19 |bias| + 4 (2d + 8) 2^-149 (the first term 0 for an infinite bias). */
  Z: number;
}

/** Quantizes one vector c (d components) with its scan bias. */
export function quantizeVector(c: Float32Array, bias: number): QVector {
  const d = c.length;
  const M = codeMax(d);
  let m = 0;
  for (const v of c) m = Math.max(m, Math.abs(v));
  const s = Math.fround(m / M);
  const codes = new Int16Array(d);
  let a2 = 0;
  let e2 = 0;
  let n2 = 0;
  for (let t = 0; t < d; t++) {
    // round half to even, as f32.nearest does
    const C = s > 0 ? Math.min(M, Math.max(-M, roundHalfEven(Math.fround(c[t] / s)))) : 0;
    codes[t] = C;
    const ch = s * C;
    a2 += ch * ch;
    e2 += (c[t] - ch) ** 2;
    n2 += c[t] * c[t];
  }
  const an = Math.sqrt(a2);
  const bn = Math.sqrt(e2) + (d + 2) * 2 ** -23 * Math.sqrt(n2);
  const rel = 2 ** -19;
  return {
    scale: s,
    codes,
    A: an * (1 + 2 ** -17) + rel * (an + bn),
    B: bn * (1 + 2 ** -17) + rel * (an + bn),
    Z: (Number.isFinite(bias) ? rel * Math.abs(bias) : 0) + 4 * (2 * d + 8) * 2 ** -149,
  };
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Reads vector j back from the kernel's buffers: codes from qpanels (i16[np/8][dp][8][2]) and scale, A, B, Z from
 * qinfo (f32[np/8][4][8]).
 */
export function readQVector(qp: Int16Array, info: Float32Array, j: number, d: number): QVector {
  const dp = (d + 1) >> 1;
  const codes = new Int16Array(d);
  const base = (j >> 3) * dp * 16 + (j & 7) * 2;
  for (let t = 0; t < d; t++) codes[t] = qp[base + (t >> 1) * 16 + (t & 1)];
  const ib = (j >> 3) * 32 + (j & 7);
  return { scale: info[ib], A: info[ib + 8], B: info[ib + 16], Z: info[ib + 24], codes };
}
