// Shared by the indexes that hold a product quantizer (PQIndex, IVFPQIndex): option checks, the quantizer they
// build, and exact re-ranking of ADC candidates.
import { checkBool, checkInt, checkOneOf, fail, raw } from '../errors.js';
import type { Container } from '../io/format.js';
import { OPQ } from '../quantizers/OPQ.js';
import { ProductQuantizer, SEED_LIMIT, type PQKernelView } from '../quantizers/ProductQuantizer.js';
import type { KMeansInit } from '../training/KMeans.js';
import type { Engine } from '../wasm/engine.js';

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
  return { d, m, nbits, metric, opq, refine, seed, opqIterations, pqInit };
}

/** The quantizer an index holds, from its options or its saved file. */
export function makeQuantizer(c: PQCommon): ProductQuantizer | OPQ {
  return c.opq
    ? new OPQ({ d: c.d, m: c.m, nbits: c.nbits, seed: c.seed, iterations: c.opqIterations, init: c.pqInit })
    : new ProductQuantizer({ d: c.d, m: c.m, nbits: c.nbits, seed: c.seed, init: c.pqInit });
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

export interface SearchOptions {
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

/**
 * Exact re-ranking (Faiss IndexRefineFlat), all in wasm: for each of c queries (row-major at qPtr, original space), the
 * kk candidate positions in the heap rows hi (i32[c][kk], -1 = empty) are re-scored against the stored vectors
 * f32[n][d] at vecPtr (scores into scorePtr: f32[kk]), and the best k (ties by position) go to heaps rd / ri
 * (f32 / i32 [c][k]), sorted and finalized to user-facing distances; ids stay positions.
 */
export function rerankRows(
  eng: Engine, qPtr: number, c: number, d: number, vecPtr: number, hi: number, kk: number, k: number, metric: PQMetric,
  scorePtr: number, rd: number, ri: number,
): void {
  const abi = eng.abi;
  abi.heapInit(rd, ri, c * k);
  for (let qi = 0; qi < c; qi++) {
    const cand = hi + qi * kk * 4;
    abi.scoreRows(qPtr + qi * d * 4, vecPtr, cand, kk, d, metric === 'l2' ? 0 : 1, scorePtr);
    abi.heapPushMany(rd + qi * k * 4, ri + qi * k * 4, k, scorePtr, cand, kk);
  }
  abi.heapSortRows(rd, ri, c, k);
  abi.heapFinalize(rd, c, k, 0, metric === 'l2' ? 0 : 1);
}

export type { PQKernelView };
