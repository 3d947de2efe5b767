// Reference for assembly/kernels/anisotropic.ts: the same descent as plain loops over typed arrays, plus the float64
// anisotropic loss the tests judge codes by. Layouts as in reference/pq.ts (centT f32[m][dsub][ksubP], cnorm
// f32[m][ksubP] with +Infinity padding, codes u8[n][m]).
//
// Table entries (score, par) are float64 sums rounded once to float32, as in reference/pq.ts: exact on integer-valued
// data. The descent itself is done in float32 steps in the kernel's order (base = P - par[cur], P' = base + par[c],
// value = score + w * (P' * P'), each rounded), so on integer-valued data the codes are bit-identical.
import { centIndex } from './pq.js';

const f32 = Math.fround;

/** eta of a threshold T (relative to ||x||): (d - 1) T^2 / (1 - T^2) (Guo et al. 2020, Theorem 3.4). */
export function etaOf(T: number, d: number): number {
  return ((d - 1) * T * T) / (1 - T * T);
}

/** w_i = (eta - 1) / ||v_i||^2 as float32 (0 for a zero v_i): the weight ahEncode reads. */
export function ahWeights(v: Float32Array, n: number, d: number, eta: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += v[i * d + t] ** 2;
    w[i] = s > 0 ? (eta - 1) / s : 0;
  }
  return w;
}

/** Same contract as the kernel: x, v f32[n][d], w f32[n], at most `rounds` sweeps, codes into out u8[n][m]. */
export function ahEncode(
  x: Float32Array, v: Float32Array, w: Float32Array, n: number, d: number, m: number, ksubP: number, centT: Float32Array,
  cnorm: Float32Array, rounds: number, out: Uint8Array,
): void {
  const dsub = d / m;
  const score = new Float32Array(m * ksubP);
  const par = new Float32Array(m * ksubP);
  for (let i = 0; i < n; i++) {
    let P = 0;
    for (let j = 0; j < m; j++) {
      const off = i * d + j * dsub;
      let xv = 0;
      for (let t = 0; t < dsub; t++) xv += x[off + t] * v[off + t];
      let best = 0;
      for (let c = 0; c < ksubP; c++) {
        let xc = 0;
        let vc = 0;
        for (let t = 0; t < dsub; t++) {
          const cv = centT[centIndex(j, t, c, dsub, ksubP)];
          xc += x[off + t] * cv;
          vc += v[off + t] * cv;
        }
        score[j * ksubP + c] = f32(cnorm[j * ksubP + c] - 2 * xc);
        par[j * ksubP + c] = f32(f32(xv) - f32(vc));
        if (score[j * ksubP + c] < score[j * ksubP + best]) best = c;
      }
      out[i * m + j] = best;
      P = f32(P + par[j * ksubP + best]);
    }
    const wi = w[i];
    if (wi === 0) continue;
    const value = (j: number, base: number, c: number) => {
      const p = f32(base + par[j * ksubP + c]);
      return { p, v: f32(score[j * ksubP + c] + f32(wi * f32(p * p))) };
    };
    for (let r = 0; r < rounds; r++) {
      let changed = false;
      for (let j = 0; j < m; j++) {
        const cur = out[i * m + j];
        const base = f32(P - par[j * ksubP + cur]);
        let b = 0;
        let bv = value(j, base, 0);
        for (let c = 1; c < ksubP; c++) {
          const cv = value(j, base, c);
          if (cv.v < bv.v) {
            b = c;
            bv = cv;
          }
        }
        if (bv.v < value(j, base, cur).v) {
          out[i * m + j] = b;
          P = bv.p;
          changed = true;
        }
      }
      if (!changed) break;
    }
  }
}

/**
 * Mean anisotropic loss (float64) of reconstructions xh of x with parallel directions v:
 * (1 / n) sum_i ||e_i||^2 + (eta - 1) (e_i . v_i)^2 / ||v_i||^2, e_i = x_i - xh_i (= eta ||e_par||^2 + ||e_perp||^2).
 */
/** Row weights ||v_i||^p scaled to mean 1 (p = 0: all 1), in float64. */
export function normWeights(v: Float32Array, n: number, d: number, p: number): Float64Array {
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += v[i * d + t] ** 2;
    w[i] = p === 0 ? 1 : s ** (p / 2);
    sum += w[i];
  }
  for (let i = 0; i < n; i++) w[i] *= n / sum;
  return w;
}

export function anisotropicLoss(x: Float32Array, xh: Float32Array, v: Float32Array, n: number, d: number, eta: number, omega?: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let e2 = 0;
    let ev = 0;
    let v2 = 0;
    for (let t = 0; t < d; t++) {
      const e = x[i * d + t] - xh[i * d + t];
      e2 += e * e;
      ev += e * v[i * d + t];
      v2 += v[i * d + t] ** 2;
    }
    total += (omega ? omega[i] : 1) * (e2 + (v2 > 0 ? ((eta - 1) * ev * ev) / v2 : 0));
  }
  return total / n;
}
