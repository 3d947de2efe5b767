import { checkInt, fail, raw } from '../errors.js';

/**
 * How a codebook is used by an assignment: codebook collapse (few codes doing all the work, the rest dead) shows up as
 * low utilization and perplexity. perplexity = exp(entropy of the code frequencies), between 1 (one code takes
 * everything) and k (all codes equally used).
 */
export interface CodebookStats {
  /** Number of codes. */
  k: number;
  /** Codes assigned at least once. */
  used: number;
  /** used / k. */
  utilization: number;
  /** exp(-sum p log p) over the code frequencies p. */
  perplexity: number;
  /** Codes never assigned (k - used). */
  deadCodes: number;
  /** Share of the points in the largest cluster. */
  maxClusterFraction: number;
  /** Points per code (a copy). */
  counts: Float64Array;
}

/** Usage statistics of labels (Int32Array of codes in [0, k)). */
export function codebookStats(labels: Int32Array, k: number): CodebookStats {
  const where = 'codebookStats';
  checkInt(where, 'k', k, 1, 1 << 30);
  if (!(labels instanceof Int32Array)) fail('INVALID_TYPE', where, 'labels must be an Int32Array', labels, 'an Int32Array of codes in [0, k)');
  const counts = new Float64Array(k);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (c < 0 || c >= k) fail('INVALID_OPTION', where, `labels[${i}] is out of range`, c, `a code in [0, ${k - 1}]`);
    counts[c]++;
  }
  return statsFromCounts(counts);
}

/** The same statistics from (possibly fractional, e.g. EMA) cluster sizes; a code of size 0 is dead. */
export function statsFromCounts(counts: Float64Array | Int32Array | Float32Array): CodebookStats {
  const k = counts.length;
  let total = 0;
  let used = 0;
  let max = 0;
  for (let c = 0; c < k; c++) {
    if (!(counts[c] >= 0)) fail('INVALID_OPTION', 'codebookStats', `counts[${c}] is negative or NaN`, counts[c], 'sizes >= 0');
    total += counts[c];
    if (counts[c] > 0) used++;
    if (counts[c] > max) max = counts[c];
  }
  let entropy = 0;
  if (total > 0) {
    for (let c = 0; c < k; c++) {
      if (counts[c] > 0) {
        const p = counts[c] / total;
        entropy -= p * Math.log(p);
      }
    }
  }
  if (k === 0) fail('INVALID_SIZE', 'codebookStats', 'no codes', raw('k = 0'), 'k >= 1');
  return {
    k,
    used,
    utilization: used / k,
    perplexity: total > 0 ? Math.exp(entropy) : 0,
    deadCodes: k - used,
    maxClusterFraction: total > 0 ? max / total : 0,
    counts: Float64Array.from(counts),
  };
}
