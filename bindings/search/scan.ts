import type { Engine } from '../wasm/engine.js';
import type { Metric, SearchResult } from '../types.js';
import type { PositionFilter } from './filter.js';

/** Scratch budget of one query chunk (query rows + heaps): bounds transient memory whatever nq and k are. */
const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * knnPanels's budget: the chunk is copied in, its norms taken and its rows quantized one after another, so a chunk
 * that stays in L2 is read from cache by the later passes (km.assign of 65536 x 128, k = 256: 3-4 % faster than with
 * 8 MiB chunks, measured 2026-11-28). The vectors' panels are blocked inside the kernels, not by this.
 */
const SCAN_CHUNK_BYTES = 1024 * 1024;

/**
 * A set of nb vectors packed into panels (assembly/kernels/panels.ts): panels f32[padTo8(nb)/8][d][8], bias
 * f32[padTo8(nb)]; with qpPtr / qinfoPtr (both non-zero), their int16 copy (assembly/kernels/qpanels.ts), which makes
 * unfiltered scans skip most f32 work with the same results.
 */
export interface Panels {
  panelsPtr: number;
  biasPtr: number;
  nb: number;
  d: number;
  qpPtr?: number;
  qinfoPtr?: number;
}

/**
 * Smallest d from which the int16 prefilter pays, measured on both builds (in-process A/B, 2026-11-28): top-1 scans
 * (assignment, greedy RQ steps) gain from d = 24 up (d = 16: 1.11x plain, 0.97x relaxed), searches for a top 10 from
 * d = 48 (d = 32 over 6568 vectors: 1.05x plain, 0.93x relaxed). Below it the float32 scan alone is as fast.
 */
export const PREFILTER_MIN_D = { top1: 24, topk: 48 } as const;

/**
 * Whether the int16 prefilter serves a top-k search over nb vectors: its heaps of upper bounds and its rescoring grow
 * with k, and from k = 0.4 sqrt(nb) on the float32 scan alone is as fast or faster. Measured (plain build,
 * 2026-11-29, 1000-2000 queries, d 32-256, nb 256-16384, k 1-128; both give the same bits): the crossover at k = 6
 * over 256 vectors, 12-16 over 1024, 24-28 over 4096, 32-64 over 16384; at k = 128 over 1024 vectors the prefilter
 * took 1.3-2.3x the float scan's time, and an IVF coarse search of 2000 queries with nprobe 64 over 1024 centroids
 * 40.6 ms against 33.2.
 */
export function prefilterPays(nb: number, k: number): boolean {
  return k < 0.4 * Math.sqrt(nb);
}

/** Bytes of the int16 copy of `cap` panel positions of dimension d: [qpanels, qinfo]. */
export function qpanelsSizes(eng: Engine, cap: number, d: number): [number, number] {
  return [eng.abi.qpanelsBytes(cap, d), Math.ceil(cap / 8) * 128];
}

/** qpanelsSizes of a set that top-1 scans read (centroids, RQ codebooks): [0, 0] where the prefilter does not pay. */
export function top1QpanelsSizes(eng: Engine, n: number, d: number): [number, number] {
  return d >= PREFILTER_MIN_D.top1 ? qpanelsSizes(eng, n, d) : [0, 0];
}

/** Rows of one chunk: at least 4 (one register panel), at most what fits `budget` bytes (CHUNK_BYTES). */
export function chunkRows(rowBytes: number, total: number, budget = CHUNK_BYTES): number {
  return Math.max(1, Math.min(total, Math.max(4, Math.floor(budget / rowBytes))));
}

/**
 * Exact top-k of queries q (row-major, finite, already checked) against packed vectors, in internal positions
 * 0..nb-1. With metric 'cosine' the vectors must have been normalized when packed; the queries are normalized here.
 * Returns positions (not user ids) and user-facing distances (see SearchResult).
 */
export function knnPanels(
  eng: Engine, where: string, q: Float32Array, p: Panels, metric: Metric, k: number, flt: PositionFilter | null = null,
  /** l2: what each query's scores get added in the end, instead of ||q||^2 (FlatIndex's centered vectors). */
  qAdd: Float32Array | null = null,
): SearchResult {
  const { d, nb } = p;
  const nq = q.length / d;
  const ids = new Int32Array(nq * k);
  const distances = new Float32Array(nq * k);
  const l2 = metric === 'l2';
  const alpha = l2 ? -2 : -1;
  const rows = chunkRows((d + 1 + 2 * k) * 4, nq, SCAN_CHUNK_BYTES);
  // the int16 prefilter drops filtered vectors before its bounds (qpanels.ts), so it serves filtered searches too;
  // a k that is large for nb goes to the float32 scan (prefilterPays), which the panels always hold
  const prefilter = !!p.qpPtr && !!p.qinfoPtr && prefilterPays(nb, k);
  // the prefilter's work buffer, or the float32 scan's reservoirs (large k)
  const workBytes = prefilter ? eng.abi.qscanWorkBytes(d, k) : eng.abi.scanWorkBytes(d, k);
  for (let q0 = 0; q0 < nq; q0 += rows) {
    const c = Math.min(rows, nq - q0);
    const [qp, qn, hd, hi, work] = eng.scratch([c * d * 4, c * 4, c * k * 4, c * k * 4, workBytes], where);
    eng.f32(qp, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
    if (metric === 'cosine') eng.abi.normalizeRows(qp, c, d);
    if (l2 && qAdd) eng.f32(qn, c).set(qAdd.subarray(q0, q0 + c));
    else if (l2) eng.abi.normsSq(qp, c, d, qn);
    eng.abi.heapInit(hd, hi, c * k);
    flt?.armChunk(eng, hd, k, q0);
    if (prefilter) {
      eng.abi.qscanPanels(qp, c, d, p.panelsPtr, p.biasPtr, nb, alpha, k, hd, hi, 0, p.qpPtr!, p.qinfoPtr!, work);
    } else {
      // (scratch() hands out a pointer for 0 bytes too: 0 tells the kernel there are no reservoirs)
      eng.abi.scanPanels(qp, c, d, p.panelsPtr, p.biasPtr, nb, alpha, k, hd, hi, 0, workBytes > 0 ? work : 0);
    }
    flt?.disarmChunk(eng);
    eng.abi.heapSortRows(hd, hi, c, k);
    eng.abi.heapFinalize(hd, c, k, l2 ? qn : 0, l2 ? 0 : 1);
    distances.set(eng.f32(hd, c * k), q0 * k);
    ids.set(eng.i32(hi, c * k), q0 * k);
  }
  return { ids, distances };
}
