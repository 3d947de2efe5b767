// Plain-TS references of assembly/kernels/sq.ts: the same per-component formulas in float64 (callers compare within a
// relative tolerance of the sum of |terms|), and decoding with the kernel's float32 roundings (bit-exact).

/** Bytes per code: d (uint8, int8), 2 d (fp16), ceil(d / 2) (int4). */
export function codeSize(d: number, type: number): number {
  return type === 2 ? 2 * d : type === 3 ? Math.ceil(d / 2) : d;
}

/** Component j of code i as the integer (uint8, int8, int4) or the half's value (fp16). */
export function component(codes: Uint8Array, i: number, j: number, d: number, type: number): number {
  if (type === 0) return codes[i * d + j];
  if (type === 3) {
    const b = codes[i * Math.ceil(d / 2) + Math.floor(j / 2)];
    return j % 2 === 0 ? b % 16 : Math.floor(b / 16);
  }
  if (type === 1) {
    const b = codes[i * d + j];
    return b > 127 ? b - 256 : b;
  }
  const o = 2 * (i * d + j);
  return halfValue(codes[o] | (codes[o + 1] << 8));
}

export function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * sqScores: per code, metric 0 sum_j (u_j - b_j c_j)^2 (fp16: (u_j - c_j)^2), metric 1 bias + sum_j u_j c_j; also the
 * sum of |terms| of each, the scale of float32 rounding error.
 */
export function sqScores(
  codes: Uint8Array, n: number, d: number, type: number, metric: number, u: Float32Array, b: Float32Array, bias: number,
): { scores: Float64Array; scale: Float64Array } {
  const scores = new Float64Array(n);
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = metric === 0 ? 0 : bias;
    let a = Math.abs(s);
    for (let j = 0; j < d; j++) {
      const c = component(codes, i, j, d, type);
      let t: number;
      if (metric === 0) {
        const e = type === 2 ? u[j] - c : u[j] - b[j] * c;
        t = e * e;
        a += Math.abs(u[j]) ** 2 + Math.abs(type === 2 ? c : b[j] * c) ** 2;
      } else {
        t = u[j] * c;
        a += Math.abs(t);
      }
      s += t;
    }
    scores[i] = s;
    scale[i] = a;
  }
  return { scores, scale };
}

/** sqDecode: f32[n][d], a_j + b_j c in float32 (fp16: the half's value). */
export function sqDecode(codes: Uint8Array, n: number, d: number, type: number, a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const c = component(codes, i, j, d, type);
      out[i * d + j] = type === 2 ? c : Math.fround(a[j] + Math.fround(b[j] * c));
    }
  }
  return out;
}

/**
 * sqScanInt4's score of each code for one query: bias + f32(sum_j w_j c_j) * inv, then + norms_i when norms are given,
 * with the float32 roundings of the kernel.
 */
export function sqScoresInt(
  codes: Uint8Array, n: number, d: number, type: number, w: Int16Array, bias: number, inv: number, norms: Float32Array | null = null,
): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[j] * component(codes, i, j, d, type);
    out[i] = Math.fround(bias + Math.fround(Math.fround(s) * inv));
    if (norms) out[i] = Math.fround(out[i] + norms[i]);
  }
  return out;
}

/** Round half to even (f32.nearest on an f32 value). */
function nearestEven(t: number): number {
  const f = Math.floor(t);
  const r = t - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * sqEncode4bit: x f32[n][d] -> u8[n][ceil(d / 2)], c = nearest(f32(f32(x - min) / step)) clamped to 0..15 (0 where
 * step = 0), component 2t in the low nibble of byte t, the padding nibble 0.
 */
export function sqEncode4bit(x: Float32Array, n: number, d: number, min: Float32Array, step: Float32Array): Uint8Array {
  const cs = Math.ceil(d / 2);
  const out = new Uint8Array(n * cs);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let c = 0;
      if (step[j] > 0) c = Math.min(15, Math.max(0, nearestEven(Math.fround(Math.fround(x[i * d + j] - min[j]) / step[j]))));
      out[i * cs + (j >> 1)] |= c << (4 * (j & 1));
    }
  }
  return out;
}
