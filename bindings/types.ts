/** Squared L2 distance ('l2'), inner product ('ip'), or cosine similarity ('cosine': vectors L2-normalized on add and query). */
export type Metric = 'l2' | 'ip' | 'cosine';
export const METRICS: readonly Metric[] = ['l2', 'ip', 'cosine'];

/**
 * k nearest neighbours of nq queries, row-major (`nq * k`), best first: squared L2 ascending, or inner product / cosine
 * similarity descending. Rows with fewer than k hits are padded with id -1 and distance +Infinity (l2) / -Infinity (ip, cosine).
 */
export interface SearchResult {
  ids: Int32Array;
  distances: Float32Array;
}

/**
 * rangeSearch()'s result (Faiss RangeSearchResult): the hits of query i are ids / distances [lims[i], lims[i + 1]),
 * best first (squared L2 ascending, similarity descending), ties by insertion order.
 */
export interface RangeSearchResult {
  lims: Int32Array;
  ids: Int32Array;
  distances: Float32Array;
}
