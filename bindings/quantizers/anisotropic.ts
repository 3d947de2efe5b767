// Score-aware (anisotropic) product quantization (Guo et al. 2020, "Accelerating Large-Scale Inference with Anisotropic
// Vector Quantization", https://arxiv.org/abs/1908.10396; ScaNN). The training pieces that run in TypeScript: the
// weights the ahEncode kernel reads, the loss, and the codebook update. Encoding is the kernel (assembly/kernels/anisotropic.ts).
//
// Loss of a vector x coded as x~ with parallel direction v (v = x, or for IVF residuals the vector the residual is of):
//   L = ||e||^2 + (eta - 1) (e . v)^2 / ||v||^2 = eta ||e_par||^2 + ||e_perp||^2,  e = x - x~.
// Threshold T relative to the norm: ScaNN's parallel cost multiplier (d - 1) (T^2 / ||x||^2) / (1 - T^2 / ||x||^2)
// with T replaced by T ||x|| is eta = (d - 1) T^2 / (1 - T^2), the same for every vector whatever its norm.
//
// Codebook training minimizes sum_i omega_i L_i with omega_i = ||v_i||^p / mean_i ||v_i||^p (p = anisotropicNormWeight;
// p = 0 is the paper's unweighted sum). The weight does not change any vector's best code, only how much each vector
// pulls the codewords: with p = 2, towards the long vectors that make up most top-k lists of inner-product search
// (ScaNN applies its threshold to the raw norm, which also makes a vector's loss weights grow with its norm). Measured on
// MovieLens d64, 16x8, mean over seeds 1, 2, 1234 of the MIPS recall@10 gain over plain PQ: T = 0.2: +0.019 with p = 0,
// +0.028 with p = 2; T = 0.3, p = 2: +0.032.
//
// Codebook layout here: cent f32[m][ksub][dsub] (natural order); codes u8[n][m] unpacked.

/** Coordinate-descent sweeps per vector at most (ScaNN's kMaxRounds). */
export const AH_ROUNDS = 10;
/** Largest sub-space the codebook update solves (dsub x dsub systems per codeword). */
export const AH_MAX_DSUB = 64;

/** eta = (d - 1) T^2 / (1 - T^2): the weight of the residual parallel to a vector (Theorem 3.4 of the paper). */
export function etaOf(T: number, d: number): number {
  return ((d - 1) * T * T) / (1 - T * T);
}

/** w_i = (eta - 1) / ||v_i||^2 (float32; 0 for v_i = 0, where parallel means nothing): the per-vector weight of ahEncode. */
export function ahWeights(v: Float32Array, n: number, d: number, eta: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += v[i * d + t] * v[i * d + t];
    w[i] = s > 0 ? (eta - 1) / s : 0;
  }
  return w;
}

/** omega_i = ||v_i||^p / mean_j ||v_j||^p (all 1 when p = 0 or every v is zero). */
export function normWeights(v: Float32Array, n: number, d: number, p: number): Float64Array {
  const om = new Float64Array(n).fill(1);
  if (p === 0) return om;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += v[i * d + t] * v[i * d + t];
    om[i] = Math.pow(s, p / 2);
    sum += om[i];
  }
  if (!(sum > 0) || !Number.isFinite(sum)) return om.fill(1);
  for (let i = 0; i < n; i++) om[i] *= n / sum;
  return om;
}

/**
 * Weighted mean anisotropic loss (float64) of codes over x (directions v, weights omega), and each sub-space's summed
 * (unweighted) squared error.
 */
export function anisotropicLoss(
  x: Float32Array, v: Float32Array, omega: Float64Array, n: number, d: number, m: number, ksub: number, eta: number, codes: Uint8Array,
  cent: Float32Array,
): { loss: number; subspaceSquaredError: number[] } {
  const dsub = d / m;
  const sse = new Array<number>(m).fill(0);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let e2 = 0;
    let ev = 0;
    let v2 = 0;
    for (let j = 0; j < m; j++) {
      const cw = (j * ksub + codes[i * m + j]) * dsub;
      let s = 0;
      for (let t = 0; t < dsub; t++) {
        const at = i * d + j * dsub + t;
        const e = x[at] - cent[cw + t];
        s += e * e;
        ev += e * v[at];
        v2 += v[at] * v[at];
      }
      sse[j] += s;
      e2 += s;
    }
    total += omega[i] * (e2 + (v2 > 0 ? ((eta - 1) * ev * ev) / v2 : 0));
  }
  return { loss: total / n, subspaceSquaredError: sse };
}

/**
 * One sweep of block coordinate descent on the codebook for fixed codes, sub-space after sub-space (Gauss-Seidel),
 * in place on cent f32[m][ksub][dsub]. With the other sub-spaces fixed, the loss of the vectors coded by codeword c of
 * sub-space j is sum_i omega_i (||x_ij - c||^2 + w_i ((x_ij - c) . v_ij + s_i)^2) (w_i = (eta - 1) / ||v_i||^2, s_i
 * the parallel residual of the other sub-spaces), a convex quadratic in c whose minimizer solves the dsub x dsub system
 *   (sum_i omega_i I + sum_i omega_i w_i v_ij v_ij^T) c = sum_i omega_i (x_ij + w_i (x_ij . v_ij + s_i) v_ij).
 * The matrix is positive definite for every eta > 0 (its eigenvalues are at least sum_i omega_i min(1, eta), as
 * ||v_ij|| <= ||v_i||),
 * so each step is the exact minimizer over its block and the sweep never raises the loss. ScaNN's paper solves the
 * joint least squares over all codewords at once (an (m ksub dsub)^2 system: 16384^2 at m = 16, ksub = 256); the
 * blocks need dsub^2 per codeword, and a sweep per alternation with re-encoding in between converges in a few steps
 * (the losses train() reports). Codewords no vector uses are left as they are. Float64 throughout; deterministic.
 */
export function anisotropicUpdate(
  x: Float32Array, v: Float32Array, omega: Float64Array, n: number, d: number, m: number, ksub: number, eta: number, codes: Uint8Array,
  cent: Float32Array,
): void {
  const dsub = d / m;
  const w = new Float64Array(n);
  const P = new Float64Array(n); // e_i . v_i, kept current as codewords move
  for (let i = 0; i < n; i++) {
    let v2 = 0;
    let ev = 0;
    for (let j = 0; j < m; j++) {
      const cw = (j * ksub + codes[i * m + j]) * dsub;
      for (let t = 0; t < dsub; t++) {
        const at = i * d + j * dsub + t;
        v2 += v[at] * v[at];
        ev += (x[at] - cent[cw + t]) * v[at];
      }
    }
    w[i] = v2 > 0 ? (eta - 1) / v2 : 0;
    P[i] = ev;
  }
  // vectors grouped by codeword, per sub-space (counting sort)
  const start = new Int32Array(ksub + 1);
  const order = new Int32Array(n);
  const A = new Float64Array(dsub * dsub);
  const b = new Float64Array(dsub);
  const old = new Float64Array(dsub);
  for (let j = 0; j < m; j++) {
    start.fill(0);
    for (let i = 0; i < n; i++) start[codes[i * m + j] + 1]++;
    for (let c = 0; c < ksub; c++) start[c + 1] += start[c];
    const fill = start.slice(0, ksub);
    for (let i = 0; i < n; i++) order[fill[codes[i * m + j]]++] = i;
    for (let c = 0; c < ksub; c++) {
      const cnt = start[c + 1] - start[c];
      if (cnt === 0) continue;
      const cw = (j * ksub + c) * dsub;
      for (let t = 0; t < dsub; t++) old[t] = cent[cw + t];
      A.fill(0);
      b.fill(0);
      let wsum = 0;
      for (let r = start[c]; r < start[c + 1]; r++) {
        const i = order[r];
        const o = i * d + j * dsub;
        let xv = 0;
        let ejv = 0;
        for (let t = 0; t < dsub; t++) {
          xv += x[o + t] * v[o + t];
          ejv += (x[o + t] - old[t]) * v[o + t];
        }
        const om = omega[i];
        const wi = om * w[i];
        const coef = wi * (xv + P[i] - ejv);
        wsum += om;
        for (let t = 0; t < dsub; t++) {
          const vt = v[o + t];
          b[t] += om * x[o + t] + coef * vt;
          const wvt = wi * vt;
          for (let u = 0; u < dsub; u++) A[t * dsub + u] += wvt * v[o + u];
        }
      }
      if (!(wsum > 0)) continue; // only zero-weight vectors: nothing to fit
      for (let t = 0; t < dsub; t++) A[t * dsub + t] += wsum;
      if (!solveInPlace(A, b, dsub)) continue;
      for (let t = 0; t < dsub; t++) cent[cw + t] = b[t];
      // the stored codeword is b rounded to float32: P moves by what the vectors really see
      for (let r = start[c]; r < start[c + 1]; r++) {
        const i = order[r];
        const o = i * d + j * dsub;
        let dp = 0;
        for (let t = 0; t < dsub; t++) dp += (old[t] - cent[cw + t]) * v[o + t];
        P[i] += dp;
      }
    }
  }
}

/** Solves A y = b (A dsub x dsub, row-major) by Gaussian elimination with partial pivoting; y into b. False if singular. */
function solveInPlace(A: Float64Array, b: Float64Array, k: number): boolean {
  for (let col = 0; col < k; col++) {
    let piv = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(A[r * k + col]) > Math.abs(A[piv * k + col])) piv = r;
    const p = A[piv * k + col];
    if (!(Math.abs(p) > 0)) return false;
    if (piv !== col) {
      for (let u = 0; u < k; u++) {
        const t = A[col * k + u];
        A[col * k + u] = A[piv * k + u];
        A[piv * k + u] = t;
      }
      const t = b[col];
      b[col] = b[piv];
      b[piv] = t;
    }
    for (let r = col + 1; r < k; r++) {
      const f = A[r * k + col] / p;
      if (f === 0) continue;
      for (let u = col; u < k; u++) A[r * k + u] -= f * A[col * k + u];
      b[r] -= f * b[col];
    }
  }
  for (let r = k - 1; r >= 0; r--) {
    let s = b[r];
    for (let u = r + 1; u < k; u++) s -= A[r * k + u] * b[u];
    b[r] = s / A[r * k + r];
  }
  for (let r = 0; r < k; r++) if (!Number.isFinite(b[r])) return false;
  return true;
}
