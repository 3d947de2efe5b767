// Reference for assembly/kernels/rq.ts: the same functions over typed arrays instead of pointers, as plain loops.
// Layouts (see the header of the kernel file), ksub8 = max(ksub, 8):
//   codebooks (natural order, reference only): f32[levels][ksub][d]
//   panels: f32[levels][ksub8 / 8][d][8]   component t of codeword c of level l at l*ksub8*d + (c >> 3)*d*8 + t*8 + (c & 7)
//   cnorm:  f32[levels][ksub8]             ||codeword||^2, +Infinity on padding
//   beam state: res f32[n][live][d], rnorm f32[n][live], codes u8[n][live][cstride]
// Scores ||res_b||^2 + ||c||^2 - 2 <res_b, c> are taken in float64 (exact on integer-valued data); the selection keeps
// the smallest, ties to the lower beam then the lower codeword. New residuals and their squared norms are f32
// operations in the kernel's order (bit-exact on any data); decoding is the f32 sum in level order.

const f32 = Math.fround;

export function ksub8Of(ksub: number): number {
  return Math.max(ksub, 8);
}

export function panelIndex(l: number, c: number, t: number, d: number, ksub8: number): number {
  return l * ksub8 * d + (c >> 3) * d * 8 + t * 8 + (c & 7);
}

/** Codebooks f32[levels][ksub][d] -> the kernel's panels (zero padding) and norms (+Infinity padding). */
export function packCodebooks(cb: Float32Array, levels: number, ksub: number, d: number): { panels: Float32Array; cnorm: Float32Array; ksub8: number } {
  const ksub8 = ksub8Of(ksub);
  const panels = new Float32Array(levels * ksub8 * d);
  const cnorm = new Float32Array(levels * ksub8).fill(Infinity);
  for (let l = 0; l < levels; l++) {
    for (let c = 0; c < ksub; c++) {
      let s = 0;
      for (let t = 0; t < d; t++) {
        const v = cb[(l * ksub + c) * d + t];
        panels[panelIndex(l, c, t, d, ksub8)] = v;
        s += v * v;
      }
      cnorm[l * ksub8 + c] = f32(s);
    }
  }
  return { panels, cnorm, ksub8 };
}

/** f32 sum of squares in increasing t (the kernel's order). */
export function normSqF32(v: ArrayLike<number>, off: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s = f32(s + f32(v[off + t] * v[off + t]));
  return s;
}

export interface BeamState {
  res: Float32Array;
  rnorm: Float32Array;
  codes: Uint8Array;
  live: number;
}

/**
 * One level of beam search on codebook level `level` of (panels, cnorm) (the whole buffers, levels-major), from a state
 * with liveIn beams per vector. Returns the new state with min(beam, liveIn * ksub) beams. cstride: bytes per code row.
 */
export function rqBeamStep(
  n: number, d: number, ksub: number, panels: Float32Array, cnorm: Float32Array, level: number, beam: number, cstride: number, st: BeamState,
): BeamState {
  const ksub8 = ksub8Of(ksub);
  const liveIn = st.live;
  const liveOut = Math.min(beam, liveIn * ksub);
  const res = new Float32Array(n * liveOut * d);
  const rnorm = new Float32Array(n * liveOut);
  const codes = new Uint8Array(n * liveOut * cstride);
  for (let i = 0; i < n; i++) {
    const cand: { s: number; b: number; c: number }[] = [];
    for (let b = 0; b < liveIn; b++) {
      const ro = (i * liveIn + b) * d;
      for (let c = 0; c < ksub; c++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += st.res[ro + t] * panels[panelIndex(level, c, t, d, ksub8)];
        cand.push({ s: st.rnorm[i * liveIn + b] + cnorm[level * ksub8 + c] - 2 * dot, b, c });
      }
    }
    // stable sort: candidates are in (b, c) order, so equal scores keep it
    cand.sort((p, q) => p.s - q.s);
    for (let p = 0; p < liveOut; p++) {
      const { b, c } = cand[p];
      const src = (i * liveIn + b) * d;
      const dst = (i * liveOut + p) * d;
      for (let t = 0; t < d; t++) res[dst + t] = f32(st.res[src + t] - panels[panelIndex(level, c, t, d, ksub8)]);
      rnorm[i * liveOut + p] = normSqF32(res, dst, d);
      const co = (i * liveOut + p) * cstride;
      codes.set(st.codes.subarray((i * liveIn + b) * cstride, (i * liveIn + b) * cstride + level), co);
      codes[co + level] = c;
    }
  }
  return { res, rnorm, codes, live: liveOut };
}

/** The starting state of x f32[n][d]: one beam, the vector itself. */
export function initialState(x: Float32Array, n: number, d: number, cstride: number): BeamState {
  const rnorm = new Float32Array(n);
  for (let i = 0; i < n; i++) rnorm[i] = normSqF32(x, i * d, d);
  return { res: x.slice(), rnorm, codes: new Uint8Array(n * cstride), live: 1 };
}

/** Beam-search encoding through all levels: the best beam's codes u8[n][levels] and ||residual||^2 f32[n]. */
export function rqEncode(
  x: Float32Array, n: number, d: number, levels: number, ksub: number, beam: number, panels: Float32Array, cnorm: Float32Array,
): { codes: Uint8Array; err: Float32Array } {
  let st = initialState(x, n, d, levels);
  for (let l = 0; l < levels; l++) st = rqBeamStep(n, d, ksub, panels, cnorm, l, beam, levels, st);
  const codes = new Uint8Array(n * levels);
  const err = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    codes.set(st.codes.subarray(i * st.live * levels, i * st.live * levels + levels), i * levels);
    err[i] = st.rnorm[i * st.live];
  }
  return { codes, err };
}

/** out[i] = f32 sum over levels (in order) of the codewords codes[i * stride + l] names. */
export function rqDecode(codes: Uint8Array, n: number, stride: number, d: number, levels: number, ksub: number, panels: Float32Array): Float32Array {
  const ksub8 = ksub8Of(ksub);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < levels; l++) {
      const c = codes[i * stride + l];
      for (let t = 0; t < d; t++) out[i * d + t] = f32(out[i * d + t] + panels[panelIndex(l, c, t, d, ksub8)]);
    }
  }
  return out;
}

/** True squared distance (float64) of two rows. */
export function l2sq64(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += (a[ao + t] - b[bo + t]) ** 2;
  return s;
}
