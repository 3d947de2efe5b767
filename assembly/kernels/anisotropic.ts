// Score-aware (anisotropic) PQ encoding (Guo et al. 2020, "Accelerating Large-Scale Inference with Anisotropic Vector
// Quantization"; ScaNN's noise-shaped indexing).
//
// For a vector x coded as x~ (the concatenation of one codeword per sub-space) the residual e = x - x~ is split along a
// direction v (the data point itself; for IVF residuals, the original vector whose residual x is): the loss is
//   ||e||^2 + (eta - 1) (e . v)^2 / ||v||^2  =  eta ||e_par||^2 + ||e_perp||^2.
// The sub-spaces are coupled only through P = e . v = sum_j (x_j - c_j) . v_j, so with the per-sub-space quantities
//   score[j][c] = ||c||^2 - 2 <x_j, c>        (||x_j - c||^2 up to a per-sub-space constant)
//   par[j][c]   = <x_j, v_j> - <c, v_j>       ((x_j - c) . v_j)
// the loss of a code vector is sum_j score[j][code_j] + w (sum_j par[j][code_j])^2 + const, w = (eta - 1) / ||v||^2.
// Encoding starts from the nearest codewords (argmin score, plain PQ) and does coordinate descent: sub-space after
// sub-space, the codeword minimizing score[j][c] + w (P - par[j][cur] + par[j][c])^2, for at most `rounds` sweeps or
// until a sweep changes nothing. Each step is m * ksubP lookups; the tables cost two dot products per codeword.
//
// Codebook layout as in pq.ts: centT f32[m][dsub][ksubP], cnorm f32[m][ksubP] (+Infinity on padding codewords, which
// therefore score +Infinity and are never chosen).
//
// The w (P')^2 term is computed as a multiply then an add, never fused, in both builds: on integer-valued data every
// score and par is an exact integer and the whole descent is bit-identical to the reference (test/reference/anisotropic.ts).

import { argminLanes } from './pq';
import { madd } from './simd';

/** Work bytes ahEncode needs: score and par tables, f32[2][m][ksubP]. */
export function ahWorkBytes(m: u32, ksubP: u32): u32 {
  return m * ksubP * 8;
}

/**
 * Anisotropic codes: xPtr f32[n][d] (the vectors coded), vPtr f32[n][d] (their parallel directions; may be xPtr),
 * wPtr f32[n] (w_i = (eta - 1) / ||v_i||^2, 0 for plain nearest-codeword codes), `rounds` coordinate-descent sweeps
 * at most; workPtr: ahWorkBytes(m, ksubP) bytes of scratch; outPtr u8[n][m].
 */
export function ahEncode(
  xPtr: usize, vPtr: usize, wPtr: usize, n: u32, d: u32, m: u32, ksubP: u32, centTPtr: usize, cnormPtr: usize, rounds: u32,
  workPtr: usize, outPtr: usize,
): void {
  const dsub = d / m;
  const rowT = <usize>ksubP << 2;
  const scorePtr = workPtr;
  const parPtr = workPtr + <usize>m * rowT;
  const m2 = f32x4.splat(-2);
  for (let i: u32 = 0; i < n; i++) {
    const xs0 = xPtr + (<usize>i * d << 2);
    const vs0 = vPtr + (<usize>i * d << 2);
    const out = outPtr + <usize>i * m;
    const w = load<f32>(wPtr + (<usize>i << 2));
    // tables and the nearest codeword of every sub-space
    let P: f32 = 0;
    for (let j: u32 = 0; j < m; j++) {
      const xs = xs0 + (<usize>j * dsub << 2);
      const vs = vs0 + (<usize>j * dsub << 2);
      let xv: f32 = 0;
      for (let t: u32 = 0; t < dsub; t++) xv += load<f32>(xs + (<usize>t << 2)) * load<f32>(vs + (<usize>t << 2));
      const xvv = f32x4.splat(xv);
      const ct = centTPtr + <usize>j * dsub * rowT;
      const sRow = scorePtr + <usize>j * rowT;
      const pRow = parPtr + <usize>j * rowT;
      let best = f32x4.splat(Infinity);
      let bestI = i32x4(0, 1, 2, 3);
      let idx = i32x4(0, 1, 2, 3);
      const four = i32x4.splat(4);
      for (let c0: u32 = 0; c0 < ksubP; c0 += 4) {
        const off = <usize>c0 << 2;
        let s = v128.load(cnormPtr + <usize>j * rowT + off);
        let p = f32x4.splat(0);
        let c = ct + off;
        for (let t: u32 = 0; t < dsub; t++, c += rowT) {
          const cv = v128.load(c);
          s = madd(f32x4.mul(v128.load32_splat(xs + (<usize>t << 2)), m2), cv, s);
          p = madd(v128.load32_splat(vs + (<usize>t << 2)), cv, p);
        }
        v128.store(sRow + off, s);
        v128.store(pRow + off, f32x4.sub(xvv, p));
        const lt = f32x4.lt(s, best);
        best = f32x4.min(s, best);
        bestI = v128.bitselect(idx, bestI, lt);
        idx = i32x4.add(idx, four);
      }
      const code = argminLanes(best, bestI);
      store<u8>(out + j, <u8>code);
      P += load<f32>(pRow + (<usize>code << 2));
    }
    if (w == 0) continue;
    // coordinate descent on score + w P^2
    const wv = f32x4.splat(w);
    for (let r: u32 = 0; r < rounds; r++) {
      let changed = false;
      for (let j: u32 = 0; j < m; j++) {
        const sRow = scorePtr + <usize>j * rowT;
        const pRow = parPtr + <usize>j * rowT;
        const cur = <usize>load<u8>(out + j);
        const base: f32 = P - load<f32>(pRow + (cur << 2));
        const bv = f32x4.splat(base);
        let best = f32x4.splat(Infinity);
        let bestI = i32x4(0, 1, 2, 3);
        let idx = i32x4(0, 1, 2, 3);
        const four = i32x4.splat(4);
        for (let c0: u32 = 0; c0 < ksubP; c0 += 4) {
          const off = <usize>c0 << 2;
          const pn = f32x4.add(bv, v128.load(pRow + off));
          const val = f32x4.add(v128.load(sRow + off), f32x4.mul(wv, f32x4.mul(pn, pn)));
          const lt = f32x4.lt(val, best);
          best = f32x4.min(val, best);
          bestI = v128.bitselect(idx, bestI, lt);
          idx = i32x4.add(idx, four);
        }
        const b = argminLanes(best, bestI);
        const pc: f32 = base + load<f32>(pRow + (cur << 2));
        const vCur: f32 = load<f32>(sRow + (cur << 2)) + w * (pc * pc);
        const pb: f32 = base + load<f32>(pRow + (<usize>b << 2));
        const vBest: f32 = load<f32>(sRow + (<usize>b << 2)) + w * (pb * pb);
        if (vBest < vCur) {
          store<u8>(out + j, <u8>b);
          P = pb;
          changed = true;
        }
      }
      if (!changed) break;
    }
  }
}
