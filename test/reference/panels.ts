// Reference for assembly/kernels/panels.ts. Layout of a panel buffer holding np = padTo8(n) vectors of dimension d:
//   panels: f32[np / 8][d][8]   component t of vector i is at ((i >> 3) * d + t) * 8 + (i & 7)
// Padding vectors are all zero; their bias is +Infinity.
// score(q, j) = bias[j] + alpha * <q, x_j>, rounded once to float32.
import { heapPush, topk } from './topk.js';

const f32 = Math.fround;

export function padTo8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Index of component t of vector i in a panel buffer of dimension d. */
export function panelIndex(i: number, t: number, d: number): number {
  return (Math.floor(i / 8) * d + t) * 8 + (i % 8);
}

/** Rows x: f32[n][d] go to positions [from, from + n); positions after them up to the end of their panel are zeroed. */
export function packPanels(x: Float32Array, n: number, d: number, panels: Float32Array, from: number): void {
  for (let r = 0; r < n; r++) for (let t = 0; t < d; t++) panels[panelIndex(from + r, t, d)] = x[r * d + t];
  for (let i = from + n; i < padTo8(from + n); i++) for (let t = 0; t < d; t++) panels[panelIndex(i, t, d)] = 0;
}

/**
 * Positions keep[i] (ascending, keep[i] >= i) of a panel layout of 4-byte words with w words a position (words as
 * Int32Array) become positions i; then the padding after the last one in its panel is set to `pad`. Computed from a
 * copy of the input, so it states the result without depending on the order of the moves.
 */
export function panelMoveRows(words: Int32Array, w: number, keep: Int32Array, pad: number): void {
  const src = words.slice();
  for (let i = 0; i < keep.length; i++) for (let t = 0; t < w; t++) words[panelIndex(i, t, w)] = src[panelIndex(keep[i], t, w)];
  for (let i = keep.length; i < padTo8(keep.length); i++) for (let t = 0; t < w; t++) words[panelIndex(i, t, w)] = pad;
}

/**
 * The columns j of scores (one row of scorePanels) within r, with their distances as heapFinalize finishes them:
 * l2: v = max(fl(score + add), 0), a hit when v < r; else v = 0 - score, a hit when v > r.
 */
export function rangeHits(scores: Float32Array, add: number, r: number, l2: boolean): { idx: number[]; dist: number[] } {
  const idx: number[] = [];
  const dist: number[] = [];
  for (let j = 0; j < scores.length; j++) {
    const v = l2 ? Math.max(f32(scores[j] + add), 0) : f32(0 - scores[j]);
    if (l2 ? v < r : v > r) {
      idx.push(j);
      dist.push(v);
    }
  }
  return { idx, dist };
}

/** Positions [from, from + count) back to row-major out: f32[count][d]. */
export function unpackPanels(panels: Float32Array, from: number, count: number, d: number, out: Float32Array): void {
  for (let r = 0; r < count; r++) for (let t = 0; t < d; t++) out[r * d + t] = panels[panelIndex(from + r, t, d)];
}

/** bias[j] = ||x_j||^2 for every position of the panels touched by [from, to); +Infinity for positions >= to. */
export function panelNormsSq(panels: Float32Array, from: number, to: number, d: number, bias: Float32Array): void {
  for (let j = Math.floor(from / 8) * 8; j < padTo8(to); j++) {
    if (j >= to) {
      bias[j] = Infinity;
      continue;
    }
    let s = 0;
    for (let t = 0; t < d; t++) s += panels[panelIndex(j, t, d)] ** 2;
    bias[j] = f32(s);
  }
}

/** bias[j] = 0 for j in [from, to); +Infinity for the rest of the last panel. */
export function panelZeroBias(from: number, to: number, bias: Float32Array): void {
  for (let j = from; j < padTo8(to); j++) bias[j] = j < to ? 0 : Infinity;
}

/** score(q, j) for query row qi of q: f32[nq][d] against position j of the panels. */
export function score(q: Float32Array, qi: number, d: number, panels: Float32Array, bias: Float32Array, j: number, alpha: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += q[qi * d + t] * panels[panelIndex(j, t, d)];
  return f32(bias[j] + alpha * s);
}

/** out: f32[nq][nb] = score(q, j). */
export function scorePanels(
  q: Float32Array, nq: number, d: number, panels: Float32Array, bias: Float32Array, nb: number, alpha: number, out: Float32Array,
): void {
  for (let qi = 0; qi < nq; qi++) for (let j = 0; j < nb; j++) out[qi * nb + j] = score(q, qi, d, panels, bias, j, alpha);
}

/** Offers score(q, j) with id idBase + j, for every q < nq and j < nb, to heap row q (reference rows, see topk.ts). */
export function scanPanels(
  q: Float32Array, nq: number, d: number, panels: Float32Array, bias: Float32Array, nb: number, alpha: number,
  k: number, heapDist: Float32Array, heapIds: Int32Array, idBase: number,
): void {
  for (let qi = 0; qi < nq; qi++) {
    const hd = heapDist.subarray(qi * k, (qi + 1) * k);
    const hi = heapIds.subarray(qi * k, (qi + 1) * k);
    for (let j = 0; j < nb; j++) heapPush(hd, hi, k, score(q, qi, d, panels, bias, j, alpha), idBase + j);
  }
}

/**
 * Exact top-k of each query by full sort of its nb scores on (score, id) ascending, ids idBase + j, padded with
 * (+Infinity, -1): dist/ids f32/i32[nq][k].
 */
export function knnPanels(
  q: Float32Array, nq: number, d: number, panels: Float32Array, bias: Float32Array, nb: number, alpha: number, k: number,
  idBase = 0,
): { dist: Float32Array; ids: Int32Array } {
  const dist = new Float32Array(nq * k);
  const ids = new Int32Array(nq * k);
  const scores = new Float32Array(nb);
  const idOf = Int32Array.from({ length: nb }, (_, j) => idBase + j);
  for (let qi = 0; qi < nq; qi++) {
    for (let j = 0; j < nb; j++) scores[j] = score(q, qi, d, panels, bias, j, alpha);
    const r = topk(scores, nb, k, idOf);
    dist.set(r.dist, qi * k);
    ids.set(r.ids, qi * k);
  }
  return { dist, ids };
}
