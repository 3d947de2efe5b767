// Batch search with the workers taking their chunks themselves (WorkerPool's SharedIndex.search, where
// SharedArrayBuffer exists): the queries and the results live in one SharedArrayBuffer, and each worker takes the next
// chunk off a shared counter until none is left. The calling thread sends one message per worker and gets one reply,
// instead of one of each per chunk: on 2 cores its message handling otherwise runs on a core the workers need.
//
// Layout: ctrl i32[8] = [next query, abort (non-zero: take no more chunks), nq, d, k, minChunk, parts, 0]
//         | queries f32[nq][d] | ids i32[nq][k] | distances f32[nq][k]
// Chunks are guided as runChunks's are: each takes a parts-th of what is left, at least minChunk queries.

/** The ctrl words. */
export const PULL_NEXT = 0;
export const PULL_ABORT = 1;
const CTRL_BYTES = 32;

/** Largest query block pull mode copies into shared memory; larger batches go by messages, chunk by chunk. */
export const PULL_MAX_QUERY_BYTES = 64 * 1024 * 1024;

export interface PullViews {
  ctrl: Int32Array;
  q: Float32Array;
  ids: Int32Array;
  distances: Float32Array;
  nq: number;
  d: number;
  k: number;
  minChunk: number;
  parts: number;
}

/** A buffer holding the nq queries q (row-major, d each), with room for nq * k results. */
export function searchPullBuffer(q: Float32Array, nq: number, d: number, k: number, minChunk: number, parts: number): SharedArrayBuffer {
  const buf = new SharedArrayBuffer(CTRL_BYTES + nq * d * 4 + nq * k * 8);
  const ctrl = new Int32Array(buf, 0, 8);
  ctrl.set([0, 0, nq, d, k, minChunk, parts, 0]);
  new Float32Array(buf, CTRL_BYTES, nq * d).set(q);
  return buf;
}

export function searchPullViews(buf: SharedArrayBuffer): PullViews {
  const ctrl = new Int32Array(buf, 0, 8);
  const [, , nq, d, k, minChunk, parts] = ctrl;
  const qBytes = nq * d * 4;
  return {
    ctrl,
    q: new Float32Array(buf, CTRL_BYTES, nq * d),
    ids: new Int32Array(buf, CTRL_BYTES + qBytes, nq * k),
    distances: new Float32Array(buf, CTRL_BYTES + qBytes + nq * k * 4, nq * k),
    nq, d, k, minChunk, parts,
  };
}

/**
 * The guided size of the next chunk when `left` items are left: a parts-th of them, at least minChunk, at most
 * maxChunk (and what is left). runChunks and claimChunk both cut by it.
 */
export function guidedChunk(left: number, minChunk: number, parts: number, maxChunk = Infinity): number {
  return Math.min(left, maxChunk, Math.max(minChunk, Math.ceil(left / parts)));
}

/** Takes the next chunk: [first query, count], or null when none is left or the abort word is set. */
export function claimChunk(ctrl: Int32Array, nq: number, minChunk: number, parts: number): [number, number] | null {
  let r0 = Atomics.load(ctrl, PULL_NEXT);
  for (;;) {
    if (r0 >= nq || Atomics.load(ctrl, PULL_ABORT) !== 0) return null;
    const c = guidedChunk(nq - r0, minChunk, parts);
    const seen = Atomics.compareExchange(ctrl, PULL_NEXT, r0, r0 + c);
    if (seen === r0) return [r0, c];
    r0 = seen;
  }
}
