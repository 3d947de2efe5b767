// Reference for OnlineVQ's update (bindings/training/OnlineVQ.ts), as plain float64 loops over its saved state:
// codebook f32[k][d], EMA sizes f64[k], EMA sums f64[k][d]. Assignment by brute force (lowest index on ties).

export interface VQState {
  codebook: Float32Array;
  size: Float64Array;
  sum: Float64Array;
}

/** Nearest codeword (squared L2, or largest cosine of unit vectors) of every row of x. */
export function assign(x: Float32Array, codebook: Float32Array, k: number, d: number, cosine: boolean): { labels: Int32Array; sq: Float64Array } {
  const n = x.length / d;
  const labels = new Int32Array(n);
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let t = 0; t < d; t++) {
        const diff = x[i * d + t] - codebook[c * d + t];
        s += diff * diff; // for unit vectors ||x - c||^2 = 2 - 2 cos: the same order as cosine
      }
      if (s < best) {
        best = s;
        labels[i] = c;
      }
    }
    sq[i] = best;
  }
  void cosine;
  return { labels, sq };
}

/** One EMA step without dead-code replacement; returns the new state (the input is left as it was). */
export function emaStep(s: VQState, x: Float32Array, labels: Int32Array, k: number, d: number, decay: number, eps: number, cosine: boolean): VQState {
  const n = x.length / d;
  const counts = new Float64Array(k);
  const sums = new Float64Array(k * d);
  for (let i = 0; i < n; i++) {
    counts[labels[i]]++;
    for (let t = 0; t < d; t++) sums[labels[i] * d + t] += x[i * d + t];
  }
  const size = s.size.map((v, c) => decay * v + (1 - decay) * counts[c]);
  const sum = s.sum.map((v, i) => decay * v + (1 - decay) * sums[i]);
  const total = size.reduce((a, b) => a + b, 0);
  const codebook = new Float32Array(k * d);
  for (let c = 0; c < k; c++) {
    const smoothed = ((size[c] + eps) / (total + k * eps)) * total;
    let norm = 0;
    for (let t = 0; t < d; t++) {
      codebook[c * d + t] = sum[c * d + t] / smoothed;
      norm += codebook[c * d + t] ** 2;
    }
    if (cosine && norm > 0) for (let t = 0; t < d; t++) codebook[c * d + t] /= Math.sqrt(norm);
  }
  return { codebook, size, sum };
}
