// Range search (Faiss range_search), the parts every index's rangeSearch shares: the radius as a float32 threshold,
// the checks, the hits of each query gathered from wasm (rangeHits, assembly/kernels/panels.ts), and the result:
// best first, ties by position, filters applied, positions turned into user ids.
import { checkOptions, checkVectors, fail } from '../errors.js';
import type { Metric, RangeSearchResult } from '../types.js';
import type { Engine } from '../wasm/engine.js';
import { checkFilter, type FilterSpec } from './filter.js';

/**
 * The float32 t with (v < t) == (v < radius) for every float32 v (l2; for similarities, (v > t) == (v > radius)):
 * radius rounded up (l2) or down (similarities) to a float32 where it is not one.
 */
export function f32Threshold(radius: number, l2: boolean): number {
  const f = Math.fround(radius);
  if (f === radius || !Number.isFinite(f) || (l2 ? f > radius : f < radius)) return f;
  // one float32 step towards radius (up for l2, down for similarities): the bit pattern moves by one
  if (f === 0) return l2 ? 1.401298464324817e-45 : -1.401298464324817e-45;
  const u = new Int32Array(new Float32Array([f]).buffer);
  u[0] += (f > 0) === l2 ? 1 : -1;
  return new Float32Array(u.buffer)[0];
}

/** rangeSearch's filters over its hits: whether query i must drop the vector with user id `id`. */
function rangeFilter(spec: FilterSpec): (i: number, id: number) => boolean {
  const allow = spec.allow;
  const allowSet = allow instanceof Int32Array ? new Set(allow) : null;
  const excluded = spec.exclude ? spec.exclude.map((l) => new Set(l)) : null;
  return (i, id) => {
    if (allow instanceof Uint8Array && !(id >> 3 < allow.length && (allow[id >> 3] & (1 << (id & 7))) !== 0)) return true;
    if (allowSet && !allowSet.has(id)) return true;
    return excluded !== null && excluded[i].has(id);
  };
}

/**
 * One rangeSearch call: its checked arguments (queries, radius as a float32 threshold, options, filters) and the
 * hits of each query, added block by block from rangeHits, until result() orders them.
 */
export class RangeHits {
  readonly nq: number;
  /** The float32 threshold (see f32Threshold). */
  readonly r: number;
  readonly l2: boolean;
  readonly options: Record<string, unknown>;
  private readonly spec: FilterSpec | null;
  private readonly pos: number[][];
  private readonly dist: number[][];

  constructor(where: string, q: Float32Array, d: number, radius: number, metric: Metric, options: unknown) {
    this.nq = checkVectors(where, 'queries', q, d);
    this.l2 = metric === 'l2';
    if (typeof radius !== 'number' || !Number.isFinite(radius)) {
      fail('INVALID_OPTION', where, 'radius must be a finite number', radius, this.l2 ? 'a squared L2 distance' : 'a similarity');
    }
    this.r = f32Threshold(radius, this.l2);
    this.options = checkOptions(where, options);
    // (unknown keys are ignored as everywhere, but rerank would be read as a promise it does not keep)
    if (this.options.rerank !== undefined) {
      fail('INVALID_OPTION', where, 'a range search has no rerank: it keeps what is within the radius by the distances search() ranks with', this.options.rerank, 'no rerank (search the hits again with rerank, or reconstruct them)');
    }
    this.spec = checkFilter(where, this.options, this.nq);
    this.pos = Array.from({ length: this.nq }, () => []);
    this.dist = Array.from({ length: this.nq }, () => []);
  }

  /**
   * Query qi's hits among `count` scores at scoresPtr (rangeHits's input; add: ||q||^2 for panel scores, 0 for exact
   * ones): the j-th hit is at position posOf(j); idxPtr / distPtr: rangeHits's outputs, room for count each.
   */
  collect(eng: Engine, qi: number, scoresPtr: number, count: number, add: number, idxPtr: number, distPtr: number, posOf: (j: number) => number): void {
    const m = eng.abi.rangeHits(scoresPtr, count, add, this.r, this.l2 ? 1 : 0, idxPtr, distPtr);
    if (m === 0) return;
    const idx = eng.i32(idxPtr, m);
    const dist = eng.f32(distPtr, m);
    const p = this.pos[qi];
    const v = this.dist[qi];
    for (let t = 0; t < m; t++) {
      p.push(posOf(idx[t]));
      v.push(dist[t]);
    }
  }

  /**
   * Query qi's hits among scores ranked smaller-first (search()'s heaps: the distance for 'l2', its negation for
   * similarities) of positions pos0, pos0 + 1, ..., tested here as they are (rangeHits clamps l2 distances at 0).
   */
  collectScores(qi: number, scores: Float32Array, pos0: number): void {
    const p = this.pos[qi];
    const v = this.dist[qi];
    const r = this.r;
    if (this.l2) {
      for (let j = 0; j < scores.length; j++) {
        if (scores[j] < r) {
          p.push(pos0 + j);
          v.push(scores[j]);
        }
      }
      return;
    }
    for (let j = 0; j < scores.length; j++) {
      // 0 - s as heapFinalize negates (a similarity of 0 is +0)
      const s = 0 - scores[j];
      if (s > r) {
        p.push(pos0 + j);
        v.push(s);
      }
    }
  }

  /**
   * Query qi's hits among count fast-scan slots: u16 sums s at sums (fsScores), distance f(s) = f32(f32(s) * inv +
   * bias) as fsScan computes it, ranked smaller-first (negated for similarities), slot j at position posOf(j). f is
   * non-decreasing in s, so the hits are the slots whose sum is at most the largest s with f(s) within the radius
   * (found by bisection): one integer compare a slot, and only the hits are turned into distances, as rangeHits would.
   */
  collectFastScan(qi: number, sums: Uint16Array, count: number, inv: number, bias: number, posOf: (j: number) => number): void {
    const f = (s: number) => Math.fround(Math.fround(s * inv) + bias);
    // within the radius: rangeHits's tests (l2: max(f + 0, 0) < r; similarities: 0 - f > r)
    const inside = (v: number) => (this.l2 ? Math.max(v + 0, 0) < this.r : 0 - v > this.r);
    if (!inside(f(0))) return;
    let lo = 0;
    let hi = 65536;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (inside(f(mid))) lo = mid;
      else hi = mid;
    }
    const p = this.pos[qi];
    const v = this.dist[qi];
    for (let j = 0; j < count; j++) {
      if (sums[j] > lo) continue;
      const d = f(sums[j]);
      p.push(posOf(j));
      v.push(this.l2 ? Math.max(d + 0, 0) : 0 - d);
    }
  }

  /** The result: each query's hits best first, ties by position, filtered; ids: the user id of every position. */
  result(ids: Int32Array): RangeSearchResult {
    const drop = this.spec ? rangeFilter(this.spec) : null;
    const lims = new Int32Array(this.nq + 1);
    let total = 0;
    for (const p of this.pos) total += p.length;
    const outIds = new Int32Array(total);
    const outDist = new Float32Array(total);
    let o = 0;
    for (let i = 0; i < this.nq; i++) {
      const pos = this.pos[i];
      const dist = this.dist[i];
      for (const t of bestFirst(dist, pos, this.l2)) {
        const id = ids[pos[t]];
        if (drop?.(i, id)) continue;
        outIds[o] = id;
        outDist[o++] = dist[t];
      }
      lims[i + 1] = o;
    }
    return { lims, ids: o < total ? outIds.slice(0, o) : outIds, distances: o < total ? outDist.slice(0, o) : outDist };
  }
}

const TIE_BITS = 2 ** 21;
const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/**
 * The order of a query's hits, best first (l2: distance ascending; similarities descending), ties by position. The
 * distances are float32 values: each one's bits, made monotone as an unsigned integer K, sort as the exact float64
 * K 2^21 + t (t the hit's index) with the native numeric sort, no comparator (which took a third of an IVF-PQ range
 * search of 115 hits a query); runs of equal K (equal distances) are then put in position order.
 * @internal exported for its test (keyLimit: the hit count from which the comparator sort is used instead,
 * 2^21 where the keys stop being exact).
 */
export function bestFirst(dist: number[], pos: number[], l2: boolean, keyLimit = TIE_BITS): Int32Array | number[] {
  const h = dist.length;
  if (h < 2) return h === 0 ? [] : [0];
  if (h >= keyLimit) {
    return Array.from(pos.keys()).sort((a, b) => (l2 ? dist[a] - dist[b] : dist[b] - dist[a]) || pos[a] - pos[b]);
  }
  const keys = new Float64Array(h);
  for (let t = 0; t < h; t++) {
    f32Box[0] = (l2 ? dist[t] : -dist[t]) + 0; // (+ 0: -0 sorts as +0)
    const b = u32Box[0];
    keys[t] = (b >= 0x80000000 ? ~b >>> 0 : b + 0x80000000) * TIE_BITS + t;
  }
  keys.sort();
  const order = new Int32Array(h);
  for (let j = 0; j < h; j++) order[j] = keys[j] % TIE_BITS;
  for (let j = 0; j < h; ) {
    const k = Math.floor(keys[j] / TIE_BITS);
    let e = j + 1;
    while (e < h && Math.floor(keys[e] / TIE_BITS) === k) e++;
    if (e - j > 1) order.subarray(j, e).sort((a, b) => pos[a] - pos[b]);
    j = e;
  }
  return order;
}
