// Shared by the indexes that hold a product quantizer (PQIndex, IVFPQIndex): option checks, the quantizer they
// build, and exact re-ranking of ADC candidates.
import { checkBool, checkInt, checkNumber, checkOneOf, fail, raw } from '../errors.js';
import type { Container } from '../io/format.js';
import { OPQ } from '../quantizers/OPQ.js';
import { ProductQuantizer, SEED_LIMIT, type PQKernelView } from '../quantizers/ProductQuantizer.js';
import type { KMeansInit } from '../training/KMeans.js';
import { gatherRows } from '../util/rows.js';
import type { Engine } from '../wasm/engine.js';
import type { FilterOptions, PositionFilter } from './filter.js';

export type PQMetric = 'l2' | 'ip';
export const PQ_METRICS: readonly PQMetric[] = ['l2', 'ip'];

export interface PQCommonOptions {
  d: number;
  m: number;
  nbits?: number;
  /** 'l2' (default, squared Euclidean) or 'ip' (inner product, maximum inner-product search). */
  metric?: PQMetric;
  /** Learn an OPQ rotation in front of the PQ (Faiss "OPQm,..."): lower error on correlated data. Default false. */
  opq?: boolean;
  /** Also keep the original vectors (4 d bytes each) so that search can re-rank candidates exactly. Default false. */
  refine?: boolean;
  /** Seed of every training step. Default 1234. */
  seed?: number;
  /** OPQ alternating steps (only with opq: true). Default 50. */
  opqIterations?: number;
  /** Seeding of the sub-space k-means: 'kmeans++' or 'random' (Faiss). Default: 'kmeans++' for 'ip', 'random' for 'l2'. */
  pqInit?: KMeansInit;
  /**
   * 4-bit fast-scan (nbits 4 only): codes kept in blocks of 32 and scored 16 at a time with u8 tables held in SIMD
   * registers; distances come back quantized (within m / 2 table steps of the float ADC distance) unless re-ranked.
   * Default true when nbits is 4; false keeps the float ADC scan (exact ADC distances, several times slower).
   */
  fastScan?: boolean;
  /**
   * Score-aware (anisotropic) PQ for metric 'ip' (Guo et al. 2020, ScaNN): T in (0, 1), relative to each vector's norm;
   * the PQ is trained and vectors are encoded for the loss eta ||r_par||^2 + ||r_perp||^2, eta = (d - 1) T^2 / (1 - T^2)
   * (see ProductQuantizer). Refused with 'l2' (it trades squared error for inner-product error) and with opq (the
   * rotation is learned for squared error). Default: off.
   */
  anisotropicThreshold?: number;
}

export interface PQCommon {
  d: number;
  m: number;
  nbits: number;
  metric: PQMetric;
  opq: boolean;
  refine: boolean;
  seed: number;
  opqIterations: number;
  pqInit: KMeansInit;
  fastScan: boolean;
  anisotropicThreshold: number | undefined;
}

export function checkPQCommon(where: string, o: Record<string, unknown>): PQCommon {
  const d = checkInt(where, 'd', o.d, 1, 1 << 14);
  const m = checkInt(where, 'm', o.m, 1, d);
  if (d % m !== 0) fail('INVALID_OPTION', where, 'd must be a multiple of m', raw(`d = ${d}, m = ${m}`), 'm dividing d');
  const nbits = checkInt(where, 'nbits', o.nbits ?? 8, 1, 8);
  if (o.metric === 'cosine') fail('INVALID_OPTION', where, "metric 'cosine' is not supported by PQ indexes", o.metric, "'l2' or 'ip' (normalize vectors and queries, then use 'ip')");
  const metric = checkOneOf(where, 'metric', o.metric ?? 'l2', PQ_METRICS);
  const opq = checkBool(where, 'opq', o.opq ?? false);
  const refine = checkBool(where, 'refine', o.refine ?? false);
  const seed = checkInt(where, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
  const opqIterations = checkInt(where, 'opqIterations', o.opqIterations ?? 50, 0, 100_000);
  const pqInit = checkOneOf(where, 'pqInit', o.pqInit ?? (metric === 'ip' ? 'kmeans++' : 'random'), ['kmeans++', 'random'] as const);
  const fastScan = checkBool(where, 'fastScan', o.fastScan ?? nbits === 4);
  if (fastScan && nbits !== 4) fail('INVALID_OPTION', where, 'fastScan needs 4-bit codes', raw(`nbits = ${nbits}`), 'nbits: 4 (or fastScan: false)');
  let anisotropicThreshold: number | undefined;
  if (o.anisotropicThreshold !== undefined) {
    anisotropicThreshold = checkNumber(where, 'anisotropicThreshold', o.anisotropicThreshold, 0, 1, { min: true, max: true });
    if (metric !== 'ip') fail('INVALID_OPTION', where, "anisotropicThreshold is for inner-product search", raw(`metric '${metric}'`), "metric: 'ip' (or no anisotropicThreshold)");
    if (opq) fail('INVALID_OPTION', where, 'anisotropicThreshold cannot be combined with opq', raw('opq: true'), 'opq: false (or no anisotropicThreshold)');
  }
  return { d, m, nbits, metric, opq, refine, seed, opqIterations, pqInit, fastScan, anisotropicThreshold };
}

/** PQCommon's anisotropicThreshold as saved in an index file (absent: off, as in files written before it existed). */
export function savedAnisotropicThreshold(params: Record<string, unknown>): number | undefined {
  return params.anisotropicThreshold === undefined ? undefined : (params.anisotropicThreshold as number);
}

/** The quantizer an index holds, from its options or its saved file. */
export function makeQuantizer(c: PQCommon): ProductQuantizer | OPQ {
  return c.opq
    ? new OPQ({ d: c.d, m: c.m, nbits: c.nbits, seed: c.seed, iterations: c.opqIterations, init: c.pqInit })
    : new ProductQuantizer({ d: c.d, m: c.m, nbits: c.nbits, seed: c.seed, init: c.pqInit, anisotropicThreshold: c.anisotropicThreshold });
}

export function loadQuantizer(where: string, c: Container, opq: boolean): ProductQuantizer | OPQ {
  return opq ? OPQ.fromContainer(where, c) : ProductQuantizer.fromParams(where, c, 'CENT');
}

export function pqOf(q: ProductQuantizer | OPQ, where: string): ProductQuantizer {
  return q instanceof OPQ ? q.pqFor(where) : q;
}

/** Queries in the quantizer's space (rotated by OPQ). */
export function toCodeSpace(q: ProductQuantizer | OPQ, x: Float32Array, where: string): Float32Array {
  return q instanceof OPQ ? q.rotate(x, where) : x;
}

export interface SearchOptions extends FilterOptions {
  /** Re-rank this many ADC candidates exactly (needs refine: true); at least k are re-ranked. */
  rerank?: number;
}

/** Candidates per query: k, or max(k, rerank) when re-ranking. */
export function candidatesPerQuery(where: string, k: number, refine: boolean, rerank: unknown): number {
  if (rerank === undefined) return k;
  const r = checkInt(where, 'rerank', rerank, 1, 1 << 20);
  if (!refine) fail('INVALID_OPTION', where, 'rerank needs the original vectors', raw(`rerank = ${r} on an index built with refine: false`), 'refine: true at construction');
  return Math.max(k, r);
}

/** Where a chunk's exact re-ranking reads and writes (all wasm pointers; see finishChunk). */
export interface RerankBuffers {
  /** The chunk's queries in the original space, f32[c][d]. */
  qPtr: number;
  /** The stored original vectors, f32[n][d] by position. */
  vecPtr: number;
  /** f32[kk]: one query's exact candidate scores. */
  scorePtr: number;
  /** The re-ranked heaps, f32 / i32 [c][k]. */
  rd: number;
  ri: number;
}

/**
 * Ends the scan of a chunk of c queries whose ADC candidates are in the heaps (hd, hi) of kk each: sorts them and
 * writes each query's best k (positions, user-facing distances) to ids / distances at row row0. With `rerank`, the
 * candidates are first re-scored exactly against the original vectors (Faiss IndexRefineFlat), all in wasm: the
 * best k of the exact scores, ties by position.
 */
export function finishChunk(
  eng: Engine, hd: number, hi: number, c: number, kk: number, k: number, d: number, metric: PQMetric,
  rerank: RerankBuffers | null, ids: Int32Array, distances: Float32Array, row0: number, filter: PositionFilter | null = null,
): void {
  const abi = eng.abi;
  const negate = metric === 'l2' ? 0 : 1;
  // the chunk's exclusion lists are armed against hd: re-ranking pushes into other heaps
  filter?.disarmChunk(eng);
  abi.heapSortRows(hd, hi, c, kk);
  let outD = hd;
  let outI = hi;
  if (rerank) {
    const { qPtr, vecPtr, scorePtr, rd, ri } = rerank;
    abi.heapInit(rd, ri, c * k);
    for (let qi = 0; qi < c; qi++) {
      const cand = hi + qi * kk * 4;
      abi.scoreRows(qPtr + qi * d * 4, vecPtr, cand, kk, d, negate, scorePtr);
      abi.heapPushMany(rd + qi * k * 4, ri + qi * k * 4, k, scorePtr, cand, kk);
    }
    abi.heapSortRows(rd, ri, c, k);
    outD = rd;
    outI = ri;
  }
  // without rerank kk === k, so the rows are contiguous
  abi.heapFinalize(outD, c, k, 0, negate);
  distances.set(eng.f32(outD, c * k), row0 * k);
  ids.set(eng.i32(outI, c * k), row0 * k);
}

/** Positions -> user ids, in place, through the ids i32[n] at idsPtr (-1, an empty slot, stays -1). */
export function toUserIds(eng: Engine, idsPtr: number, n: number, pos: Int32Array): Int32Array {
  const idView = eng.i32(idsPtr, n);
  for (let i = 0; i < pos.length; i++) if (pos[i] >= 0) pos[i] = idView[pos[i]];
  return pos;
}

/** Map from user id to its first position, over the ids i32[n] at idsPtr. */
export function idPositions(eng: Engine, idsPtr: number, n: number): Map<number, number> {
  const map = new Map<number, number>();
  const view = eng.i32(idsPtr, n);
  for (let i = n - 1; i >= 0; i--) map.set(view[i], i);
  return map;
}

/**
 * Row stride of the ADC tables the scans read for m codes of ksubP entries: 256 where the scan is four queries a pass
 * (`quad`: pqScan4 reads f32[m][256][4], any m) or m % 4 == 0, whatever the code width, so that codes of fewer than
 * 8 bits take the 8-bit kernels (unrolled for m = 8, 16, 32) instead of the generic loop, with the same sums bit for
 * bit (the same entries added in the same order); one-query scans of other m keep ksubP (the generic loop either
 * way: wider rows would only spread the table over more cache).
 */
export function scanKsub(m: number, ksubP: number, quad = false): number {
  return quad || m % 4 === 0 ? 256 : ksubP;
}

/**
 * Copies count tables f32[m][ksubP] at src into f32[m][ks] at dst (row j at j * ks, ks from scanKsub; the entries
 * past ksubP are left as they are: codes never index them).
 */
export function widenTables(eng: Engine, src: number, count: number, m: number, ksubP: number, ks: number, dst: number): void {
  const f = new Float32Array(eng.abi.memory.buffer);
  for (let r = 0; r < count * m; r++) f.copyWithin((dst >>> 2) + r * ks, (src >>> 2) + r * ksubP, (src >>> 2) + (r + 1) * ksubP);
}

/**
 * The ADC tables of c queries at qPtr (pqTables with mode and scale) at `out` with rows ks apart (scanKsub): made
 * there directly when ks == ksubP, else made at `narrow` (c * m * ksubP floats) and widened into `out`.
 */
export function scanTables(eng: Engine, v: PQKernelView, qPtr: number, c: number, mode: number, scale: number, ks: number, narrow: number, out: number): void {
  const { d, m, ksubP } = v;
  eng.abi.pqTables(qPtr, c, d, m, ksubP, v.centTPtr, v.cnormPtr, mode, scale, ks === ksubP ? out : narrow);
  if (ks !== ksubP) widenTables(eng, narrow, c, m, ksubP, ks, out);
}

/** The size of the longest inverted list (the IVF indexes' per-list scratch). */
export function largestList(listSize: Int32Array): number {
  let most = 0;
  for (let l = 0; l < listSize.length; l++) most = Math.max(most, listSize[l]);
  return most;
}

/** The positions of user ids (an Int32Array or array of integers), each looked up with `lookup`; unknown ids throw. */
export function positionsOf(where: string, ids: unknown, lookup: (id: number) => number | undefined): Int32Array {
  if (!(ids instanceof Int32Array) && !Array.isArray(ids)) fail('INVALID_TYPE', where, 'ids must be an Int32Array or an array of integers', ids, 'an Int32Array');
  const list = ids as ArrayLike<number>;
  const pos = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const p = lookup(list[i]);
    if (p === undefined) fail('INVALID_OPTION', where, `ids[${i}] is not in the index`, list[i], 'an id that was added');
    pos[i] = p;
  }
  return pos;
}

/** Copies of the stored vectors f32[*][d] at vecPtr, rows `pos` (in range: positionsOf). */
export function storedRows(eng: Engine, vecPtr: number, pos: Int32Array, d: number): Float32Array {
  let last = -1;
  for (let i = 0; i < pos.length; i++) last = Math.max(last, pos[i]);
  const out = new Float32Array(pos.length * d);
  gatherRows(out, eng.f32(vecPtr, (last + 1) * d), pos, d);
  return out;
}

export type { PQKernelView };
