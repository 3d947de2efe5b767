import { checkInt, checkOptions, checkUserIds, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer, sectionF32, sectionI32, sectionU8, writeContainer, type Section } from '../io/format.js';
import type { OPQ } from '../quantizers/OPQ.js';
import type { ProductQuantizer } from '../quantizers/ProductQuantizer.js';
import type { SearchResult } from '../types.js';
import { Owned } from '../wasm/owned.js';
import {
  candidatesPerQuery, checkPQCommon, loadQuantizer, makeQuantizer, PQ_METRICS, pqOf, finishChunk, savedAnisotropicThreshold, toCodeSpace,
  type PQCommon, type PQCommonOptions, type PQMetric, type SearchOptions,
} from './adc.js';
import { fsBytes, fsRead, fsReadRows, fsTables, fsWrite, FS_BLOCK, FS_FAISS_IP_MAX_M } from './fastscan.js';
import { emptyResult } from './FlatIndex.js';
import { checkFilter, filtered, type PositionFilter } from './filter.js';
import { FlatStore } from './store.js';
import { chunkRows } from './scan.js';

export type PQIndexOptions = PQCommonOptions;
export type { SearchOptions };

// Bytes of distance tables (a group of queries) and of codes (a block) kept in cache while the group scans the block:
// together half of a 1 MiB L2, so that neither the tables (16 KiB per query at m = 16) nor the codes are reloaded
// from memory for every query.
const CACHE_BUDGET = 256 * 1024;

/**
 * Exhaustive search over PQ codes with asymmetric distances (Faiss IndexPQ; with opq, IndexPreTransform(OPQ, PQ); with
 * refine, IndexRefineFlat around it). One table f32[m][ksub] per query, then a scan that sums m table entries per
 * code and keeps the top k in a bounded heap, in wasm.
 *
 * With 4-bit codes the scan is fast-scan (option fastScan, default on for nbits 4; Faiss IndexPQFastScan): u8 tables,
 * 16 codes per SIMD lookup, and distances that are quantized unless re-ranked.
 *
 * Storage (wasm memory, owned): codes u8[cap][codeSize] (packed as ProductQuantizer documents; with fastScan, the
 * block layout of assembly/kernels/fastscan.ts, m / 2 bytes per vector), user ids i32[cap]
 * once add() is given ids (before that, ids are positions and cost nothing), and with refine the original vectors
 * f32[cap][d]. Capacity grows by 1.5x; the quantizer is owned by the index.
 */
export class PQIndex extends Owned {
  readonly d: number;
  readonly m: number;
  readonly nbits: number;
  readonly metric: PQMetric;
  readonly opq: boolean;
  readonly refine: boolean;
  /** 4-bit fast-scan storage and search (see the class comment). */
  readonly fastScan: boolean;
  private readonly common: PQCommon;
  private q: ProductQuantizer | OPQ;
  // codes (packed, or fast-scan blocks), user ids once add() is given some, and the originals with refine
  private readonly store: FlatStore;

  constructor(options: PQIndexOptions) {
    const W = 'new PQIndex';
    const c = checkPQCommon(W, checkOptions(W, options));
    super(W);
    this.common = c;
    this.d = c.d;
    this.m = c.m;
    this.nbits = c.nbits;
    this.metric = c.metric;
    this.opq = c.opq;
    this.refine = c.refine;
    this.fastScan = c.fastScan;
    this.store = new FlatStore(this.eng, c.d, c.refine, (n) => this.codeBytes(n), (bytes, where) => this.own(bytes, where), (ptr) => this.release(ptr));
    this.q = makeQuantizer(c);
  }

  /** The quantizer (ProductQuantizer or OPQ), owned by the index: do not dispose it yourself. */
  get quantizer(): ProductQuantizer | OPQ {
    this.alive('PQIndex.quantizer');
    return this.q;
  }

  get isTrained(): boolean {
    return this.q.isTrained;
  }

  get size(): number {
    this.alive('PQIndex.size');
    return this.store.n;
  }

  /** Bytes per vector: the code, plus 4 for a user id once add() was given ids, plus 4 d with refine. */
  get bytesPerVector(): number {
    return this.q.codeSize + this.store.extraBytesPerVector;
  }

  /** Trains the quantizer on x. Training an index that already holds vectors is refused (their codes would be stale). */
  train(x: Float32Array): unknown {
    const where = 'PQIndex.train';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const ksub = 1 << this.nbits;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per sub-space', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    if (this.store.n > 0) fail('INVALID_OPTION', where, 'the index already holds vectors encoded with the current codebook', raw(`size ${this.store.n}`), 'train before add (or a new index)');
    return this.q.train(x);
  }

  /** Encodes and appends n vectors; `ids` (Int32Array of n, each >= 0) defaults to size .. size + n - 1. */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'PQIndex.add';
    const eng = this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index must be trained before vectors are added', raw('an untrained PQIndex'), 'train(x) first');
    const codes = this.q.encode(x); // before reserve: an encode error leaves the index as it was
    const st = this.store;
    st.reserveAdd(where, n, ids);
    if (this.fastScan) fsWrite(eng, codes, n, this.m, st.codesPtr, st.n, where);
    else eng.u8(st.codesPtr + st.n * this.q.codeSize, codes.length).set(codes);
    st.append(x, ids, n);
  }

  /** Bytes of code storage for n vectors. */
  private codeBytes(n: number): number {
    return this.fastScan ? fsBytes(n, this.m) : n * this.q.codeSize;
  }

  /**
   * The k nearest codes to each query (row-major Float32Array of nq * d), by asymmetric distance: squared L2 ascending
   * ('l2') or inner product descending ('ip'), ties by insertion order. With `rerank: R` (refine indexes) the best
   * max(R, k) candidates are re-scored with the original vectors and the distances returned are exact.
   */
  search(q: Float32Array, k: number, options: SearchOptions = {}): SearchResult {
    const where = 'PQIndex.search';
    const eng = this.alive(where);
    const nq = checkVectors(where, 'queries', q, this.d);
    checkInt(where, 'k', k, 1, 1 << 20);
    const o = checkOptions(where, options);
    const spec = checkFilter(where, o, nq);
    const kc = candidatesPerQuery(where, k, this.refine, o.rerank);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index is not trained', raw('an untrained PQIndex'), 'train(x) first');
    if (this.store.n === 0) return emptyResult(nq, k, this.metric);
    const qc = toCodeSpace(this.q, q, where);
    const flt = spec ? this.store.filter(spec) : null;
    const kk = kc;
    const rerank = o.rerank !== undefined;
    return filtered(eng, where, flt, () => (this.fastScan ? this.searchFast(q, qc, nq, k, kk, rerank, flt) : this.searchAdc(q, qc, nq, k, kk, rerank, flt)));
  }

  /** search() over the float tables: pqScan4 / pqScan on the stored (bit-packed) codes. */
  private searchAdc(q: Float32Array, qc: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult {
    const where = 'PQIndex.search';
    const eng = this.eng;
    const v = pqOf(this.q, where).kernelView(where);
    const { d, m, nbits, ksubP, codeSize } = v;
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const l2 = this.metric === 'l2';
    // 8-bit codes with m % 4 == 0 scan four queries per pass over interleaved tables (pqScan4)
    const quadScan = ksubP === 256 && m % 4 === 0;
    // cache budget: the tables of a query group and one block of (unpacked) codes, 256 KiB each; groups are whole quads
    const group = Math.max(4, Math.floor(CACHE_BUDGET / (m * ksubP * 4) / 4) * 4);
    const block = Math.min(Math.max(1024, Math.floor(CACHE_BUDGET / m)), this.store.n);
    const rows = chunkRows(d * 8 + m * ksubP * 4 + kk * 12, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const quads = quadScan ? Math.floor(c / 4) : 0;
      const [qp, qo, tp, t4, hd, hi, up, sp, rd, ri] = eng.scratch(
        [
          c * d * 4, rerank ? c * d * 4 : 0, c * m * ksubP * 4, quads * 4 * m * ksubP * 4, c * kk * 4, c * kk * 4, nbits === 8 ? 0 : block * m + 4,
          rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0,
        ], where,
      );
      eng.f32(qp, c * d).set(qc.subarray(q0 * d, (q0 + c) * d));
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      // l2: table entries are squared distances; ip: negated inner products (the heaps keep the smallest)
      eng.abi.pqTables(qp, c, d, m, ksubP, v.centTPtr, v.cnormPtr, l2 ? 0 : 1, -1, tp);
      const tsize = m * ksubP;
      for (let g = 0; g < quads; g++) eng.abi.pqInterleave4(tp + g * 4 * tsize * 4, tsize, t4 + g * 4 * tsize * 4);
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      // groups of queries whose tables stay in L2 pass together over blocks of codes that stay in L2
      for (let g0 = 0; g0 < c; g0 += group) {
        const g1 = Math.min(c, g0 + group);
        for (let b0 = 0; b0 < this.store.n; b0 += block) {
          const cnt = Math.min(block, this.store.n - b0);
          let src = this.store.codesPtr + b0 * codeSize;
          if (nbits !== 8) {
            eng.abi.pqUnpack(src, cnt, m, nbits, up);
            src = up;
          }
          let qi = g0;
          // four queries per pass where the interleaved tables exist (quad-aligned within the chunk)
          for (; qi + 4 <= g1 && qi + 4 <= quads * 4; qi += 4) {
            eng.abi.pqScan4(src, cnt, m, t4 + qi * tsize * 4, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
          }
          for (; qi < g1; qi++) eng.abi.pqScan(src, cnt, m, ksubP, tp + qi * tsize * 4, 0, kk, hd + qi * kk * 4, hi + qi * kk * 4, 0, b0);
        }
      }
      const rr = rerank ? { qPtr: qo, vecPtr: this.store.vecPtr, scorePtr: sp, rd, ri } : null;
      finishChunk(eng, hd, hi, c, kk, k, d, this.metric, rr, ids, distances, q0, flt);
    }
    return { ids: this.store.userIds(ids), distances };
  }

  /** search() with fast-scan: per query one quantized table u8[m][16], then block scans with a SIMD threshold. */
  private searchFast(q: Float32Array, qc: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult {
    const where = 'PQIndex.search';
    const eng = this.eng;
    const v = pqOf(this.q, where).kernelView(where);
    const { d, m } = v;
    const tsize = m * 16;
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    // blocks of codes that stay in cache while every query of the chunk scans them (tables: m * 16 bytes a query)
    const block = Math.max(1024, Math.floor(CACHE_BUDGET / (m * 16)) * FS_BLOCK);
    const rows = chunkRows(d * 8 + tsize * 5 + 8 + kk * 12, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [qp, qo, tp, lut, par, hd, hi, sp, rd, ri] = eng.scratch(
        [c * d * 4, rerank ? c * d * 4 : 0, c * tsize * 4, c * tsize, c * 8, c * kk * 4, c * kk * 4, rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0],
        where,
      );
      eng.f32(qp, c * d).set(qc.subarray(q0 * d, (q0 + c) * d));
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      // ip: tables of +<q, c>, quantized Faiss's way (fsTables)
      const ipFaiss = this.metric === 'ip' && m <= FS_FAISS_IP_MAX_M;
      eng.abi.pqTables(qp, c, d, m, 16, v.centTPtr, v.cnormPtr, this.metric === 'l2' ? 0 : 1, ipFaiss ? 1 : -1, tp);
      const params = fsTables(eng, tp, c, m, lut, par, ipFaiss);
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      for (let b0 = 0; b0 < this.store.n; b0 += block) {
        const cnt = Math.min(block, this.store.n - b0);
        const codes = this.store.codesPtr + (b0 / FS_BLOCK) * m * 16;
        let qi = 0;
        // two queries per pass: each code vector is loaded and split into nibbles once for both
        for (; qi + 2 <= c; qi += 2) {
          eng.abi.fsScan2(
            codes, cnt, m, lut + qi * tsize, params[2 * qi], params[2 * qi + 1], lut + (qi + 1) * tsize, params[2 * qi + 2], params[2 * qi + 3],
            kk, hd + qi * kk * 4, hi + qi * kk * 4, hd + (qi + 1) * kk * 4, hi + (qi + 1) * kk * 4, 0, b0,
          );
        }
        if (qi < c) eng.abi.fsScan(codes, cnt, m, lut + qi * tsize, params[2 * qi], params[2 * qi + 1], kk, hd + qi * kk * 4, hi + qi * kk * 4, 0, b0);
      }
      const rr = rerank ? { qPtr: qo, vecPtr: this.store.vecPtr, scorePtr: sp, rd, ri } : null;
      finishChunk(eng, hd, hi, c, kk, k, d, this.metric, rr, ids, distances, q0, flt);
    }
    return { ids: this.store.userIds(ids), distances };
  }

  /**
   * Vectors by user id: the decoded codes (in the original space for OPQ), or the stored originals with refine.
   * An id added twice gives its first vector.
   */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'PQIndex.reconstruct';
    this.alive(where);
    return this.reconstructPositions(this.store.positions(where, ids));
  }

  private reconstructPositions(pos: Int32Array): Float32Array {
    const eng = this.eng;
    if (this.refine) return this.store.originals(pos);
    const cs = this.q.codeSize;
    if (this.fastScan) return this.q.decode(fsReadRows(eng, this.m, pos.length, (i) => [this.store.codesPtr, pos[i]], 'PQIndex.reconstruct'));
    const codes = new Uint8Array(pos.length * cs);
    for (let i = 0; i < pos.length; i++) codes.set(eng.u8(this.store.codesPtr + pos[i] * cs, cs), i * cs);
    return this.q.decode(codes);
  }

  /**
   * The index as bytes (kind PQIndex: the quantizer's sections, CODE u8[n][codeSize], IDS i32[n] when add() was given
   * ids (else the ids are the positions), VECS f32[n][d] with refine).
   */
  save(): Uint8Array {
    const eng = this.alive('PQIndex.save');
    const sections: Section[] = [...this.q.sections()];
    if (this.q.isTrained) {
      // fast-scan blocks are saved as the standard packed codes: the file does not depend on the in-memory layout
      const codes = this.fastScan ? fsRead(eng, this.store.codesPtr, this.m, 0, this.store.n, 'PQIndex.save') : eng.u8(this.store.codesPtr, this.store.n * this.q.codeSize);
      sections.push(...this.store.sections(codes));
    }
    return writeContainer('PQIndex', { ...this.q.params(), ...this.ownParams(), n: this.store.n, explicitIds: this.store.explicitIds }, sections);
  }

  private ownParams(): Record<string, number | string | boolean> {
    const c = this.common;
    return { metric: c.metric, opq: c.opq, refine: c.refine, indexSeed: c.seed, opqIterations: c.opqIterations, pqInit: c.pqInit, fastScan: c.fastScan };
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): PQIndex {
    const where = 'PQIndex.load';
    const c = readContainer(where, bytes, 'PQIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const m = paramInt(where, c, 'm', 1, d);
    const nbits = paramInt(where, c, 'nbits', 1, 8);
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const opq = paramBool(where, c, 'opq');
    const refine = paramBool(where, c, 'refine');
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    const seed = typeof c.params.indexSeed === 'number' ? (c.params.indexSeed as number) : 1234;
    const opqIterations = typeof c.params.opqIterations === 'number' ? (c.params.opqIterations as number) : 50;
    const pqInit = c.params.pqInit === 'kmeans++' || c.params.pqInit === 'random' ? c.params.pqInit : undefined;
    // files written before fast-scan existed have no fastScan: they were float ADC indexes
    const fastScan = c.params.fastScan === undefined ? false : paramBool(where, c, 'fastScan');
    const anisotropicThreshold = savedAnisotropicThreshold(c.params);
    let index: PQIndex;
    try {
      index = new PQIndex({ d, m, nbits, metric, opq, refine, seed, opqIterations, pqInit, fastScan, anisotropicThreshold });
    } catch (e) {
      savedOptionsError(where, e);
    }
    try {
      const q = loadQuantizer(where, c, opq);
      index.q.dispose();
      index.q = q;
      if (!q.isTrained) {
        if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
        return index;
      }
      const codes = sectionU8(where, c, 'CODE', n * q.codeSize);
      const explicitIds = paramBool(where, c, 'explicitIds');
      const ids = explicitIds ? sectionI32(where, c, 'IDS ', n) : null;
      if (ids) for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
      const vecs = refine ? sectionF32(where, c, 'VECS', n * d) : null;
      index.store.restore(where, n, ids, vecs, (ptr) => {
        if (index.fastScan) fsWrite(index.eng, codes, n, m, ptr, 0, where);
        else index.eng.u8(ptr, codes.length).set(codes);
      });
      return index;
    } catch (e) {
      index.dispose();
      throw e;
    }
  }

  override dispose(): void {
    this.q.dispose();
    super.dispose();
  }
}
