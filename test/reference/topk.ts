// Reference for assembly/kernels/topk.ts: bounded "heaps" of (distance, id), one row of k per query, stored as
// dist: f32[nq][k], ids: i32[nq][k]. Order is lexicographic on (distance, id); smaller is better; empty slots are
// (+Infinity, -1).
//
// Instead of a binary heap, each reference row is kept fully sorted in DESCENDING order (worst first). A descending
// array is also a valid max-heap (every parent >= its children), so a reference row can be handed to the kernel's
// heapSortRows and a kernel row to the reference's, and both agree on what "the worst kept entry" (slot 0) is.

const f32 = Math.fround;

/** (da, ia) ranks after (db, ib). */
export function worse(da: number, ia: number, db: number, ib: number): boolean {
  return da > db || (da === db && ia > ib);
}

/** Fills `count` slots with (+Infinity, -1). */
export function heapInit(dist: Float32Array, ids: Int32Array, count: number): void {
  for (let i = 0; i < count; i++) {
    dist[i] = Infinity;
    ids[i] = -1;
  }
}

/** Offers (d, id) to the row of size k at dist/ids (row views): kept when better than the worst kept entry. */
export function heapPush(dist: Float32Array, ids: Int32Array, k: number, d: number, id: number): void {
  if (!worse(dist[0], ids[0], d, id)) return;
  // drop slot 0 (the worst), insert (d, id) keeping the row descending
  let i = 0;
  while (i + 1 < k && worse(dist[i + 1], ids[i + 1], d, id)) {
    dist[i] = dist[i + 1];
    ids[i] = ids[i + 1];
    i++;
  }
  dist[i] = d;
  ids[i] = id;
}

/** Offers every (inDist[i], inIds[i]) with inIds[i] >= 0 to one row. */
export function heapPushMany(
  dist: Float32Array, ids: Int32Array, k: number, inDist: Float32Array, inIds: Int32Array, count: number,
): void {
  for (let i = 0; i < count; i++) if (inIds[i] >= 0) heapPush(dist, ids, k, inDist[i], inIds[i]);
}

/** Sorts each of nq rows of size k into ascending (distance, id) order. */
export function heapSortRows(dist: Float32Array, ids: Int32Array, nq: number, k: number): void {
  for (let q = 0; q < nq; q++) {
    const pairs: [number, number][] = [];
    for (let j = 0; j < k; j++) pairs.push([dist[q * k + j], ids[q * k + j]]);
    pairs.sort((a, b) => (worse(a[0], a[1], b[0], b[1]) ? 1 : worse(b[0], b[1], a[0], a[1]) ? -1 : 0));
    for (let j = 0; j < k; j++) {
      dist[q * k + j] = pairs[j][0];
      ids[q * k + j] = pairs[j][1];
    }
  }
}

/**
 * User-facing distances from sorted internal scores, in place. qnorm (squared L2): d + ||q||^2 in float32, clamped
 * at 0. negate (inner product): 0 - d (so an exact 0 stays +0). Empty slots (+Infinity) become +Infinity, or -Infinity when negated.
 */
export function heapFinalize(dist: Float32Array, nq: number, k: number, qnorm: Float32Array | null, negate: boolean): void {
  for (let q = 0; q < nq; q++) {
    for (let j = 0; j < k; j++) {
      const p = q * k + j;
      let v = dist[p];
      if (v === Infinity) {
        dist[p] = negate ? -Infinity : Infinity;
        continue;
      }
      if (qnorm) v = Math.max(0, f32(v + qnorm[q]));
      dist[p] = negate ? 0 - v : v;
    }
  }
}

/**
 * The k best of n candidates by full sort on (score, id) ascending, padded with (+Infinity, -1) when n < k.
 * ids defaults to 0..n-1.
 */
export function topk(scores: ArrayLike<number>, n: number, k: number, ids?: ArrayLike<number>): { dist: Float32Array; ids: Int32Array } {
  const order = Array.from({ length: n }, (_, i) => i);
  const id = (i: number) => (ids ? ids[i] : i);
  order.sort((a, b) => (scores[a] < scores[b] ? -1 : scores[a] > scores[b] ? 1 : id(a) - id(b)));
  const outD = new Float32Array(k).fill(Infinity);
  const outI = new Int32Array(k).fill(-1);
  for (let j = 0; j < Math.min(k, n); j++) {
    outD[j] = scores[order[j]];
    outI[j] = id(order[j]);
  }
  return { dist: outD, ids: outI };
}
