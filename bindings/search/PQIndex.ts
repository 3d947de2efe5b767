import { checkOptions, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer } from '../io/format.js';
import type { OPQ, OPQTrainResult } from '../quantizers/OPQ.js';
import type { ProductQuantizer, ProductQuantizerTrainResult } from '../quantizers/ProductQuantizer.js';
import type { SearchResult } from '../types.js';
import {
  checkPQCommon, loadQuantizer, makeQuantizer, PQ_METRICS, pqOf, finishChunk, savedAnisotropicThreshold, scanKsub, scanTables, toCodeSpace,
  type PQCommon, type PQCommonOptions, type SearchOptions,
} from './adc.js';
import { fsBytes, fsRead, fsReadRows, fsTables, fsWrite, FS_BLOCK, FS_FAISS_IP_MAX_M } from './fastscan.js';
import { CodedIndex } from './coded.js';
import type { PositionFilter } from './filter.js';
import type { RangeHits } from './range.js';
import { chunkRows } from './scan.js';

export type PQIndexOptions = PQCommonOptions;
export type { SearchOptions };

// Bytes of distance tables (a group of queries) and of codes (a block) kept in cache while the group scans the block:
// together half of a 1 MiB L2, so that neither the tables (16 KiB per query at m = 16) nor the codes are reloaded
// from memory for every query.
const CACHE_BUDGET = 256 * 1024;

/** Codes per block of rangeSearch's scores (a multiple of 32: whole fast-scan blocks). */
const RANGE_BLOCK = 8192;

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
export class PQIndex extends CodedIndex<ProductQuantizer | OPQ, ProductQuantizerTrainResult | OPQTrainResult> {
  readonly m: number;
  readonly nbits: number;
  readonly opq: boolean;
  /** 4-bit fast-scan storage and search (see the class comment). */
  readonly fastScan: boolean;
  private readonly common: PQCommon;

  constructor(options: PQIndexOptions) {
    const W = 'new PQIndex';
    const c = checkPQCommon(W, checkOptions(W, options));
    super({ kind: 'PQIndex', encodedWith: 'codebook' }, c.d, c.metric, c.refine, () => makeQuantizer(c));
    this.common = c;
    this.m = c.m;
    this.nbits = c.nbits;
    this.opq = c.opq;
    this.fastScan = c.fastScan;
  }

  /** @internal An untrained quantizer made as this index made its own (WorkerPool.trainIndex trains it, then adoptTrained). */
  freshQuantizer(): ProductQuantizer | OPQ {
    return makeQuantizer(this.common);
  }

  protected override checkTrainingSet(where: string, n: number): void {
    const ksub = 1 << this.nbits;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per sub-space', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
  }

  /** Bytes of code storage for n vectors (fast-scan: whole blocks of 32). */
  protected override packedRows(): boolean {
    return !this.fastScan;
  }

  protected override codeBytes(n: number): number {
    return this.fastScan ? fsBytes(n, this.m) : n * this.q.codeSize;
  }

  protected override putCodes(codes: Uint8Array, n: number, ptr: number, row0: number, where: string): void {
    if (this.fastScan) fsWrite(this.eng, codes, n, this.m, ptr, row0, where);
    else super.putCodes(codes, n, ptr, row0, where);
  }

  protected override readCodes(pos: Int32Array, where: string): Uint8Array {
    if (this.fastScan) return fsReadRows(this.eng, this.m, pos.length, (i) => [this.store.codesPtr, pos[i]], where);
    return super.readCodes(pos, where);
  }

  /** Fast-scan blocks are saved as the standard packed codes: the file does not depend on the in-memory layout. */
  protected override allCodes(where: string): Uint8Array {
    return this.fastScan ? fsRead(this.eng, this.store.codesPtr, this.m, 0, this.store.n, where) : super.allCodes(where);
  }

  protected override ownParams(): Record<string, number | string | boolean> {
    const c = this.common;
    return { metric: c.metric, opq: c.opq, refine: c.refine, indexSeed: c.seed, opqIterations: c.opqIterations, pqInit: c.pqInit, fastScan: c.fastScan };
  }

  /** ADC search (see the class comment): the float tables, or fast-scan with 4-bit codes. */
  protected scan(q: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult {
    const qc = toCodeSpace(this.q, q, 'PQIndex.search');
    return this.fastScan ? this.searchFast(q, qc, nq, k, kk, rerank, flt) : this.searchAdc(q, qc, nq, k, kk, rerank, flt);
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
    // four queries per pass over interleaved tables (pqScan4), their rows 256 apart whatever the code width
    // (scanKsub, scanTables)
    const ks = scanKsub(m, ksubP, true);
    const wide = ks !== ksubP;
    const tsize = m * ks;
    // cache budget: the tables of a query group and one block of (unpacked) codes, 256 KiB each; groups are whole quads
    const group = Math.max(4, Math.floor(CACHE_BUDGET / (tsize * 4) / 4) * 4);
    const block = Math.min(Math.max(1024, Math.floor(CACHE_BUDGET / m)), this.store.n);
    const rows = chunkRows(d * 8 + 2 * tsize * 4 + (wide ? m * ksubP * 4 : 0) + kk * 12, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const quads = Math.floor(c / 4);
      const [qp, qo, tp, tn, t4, hd, hi, up, sp, rd, ri] = eng.scratch(
        [
          c * d * 4, rerank ? c * d * 4 : 0, c * tsize * 4, wide ? c * m * ksubP * 4 : 0, quads * 4 * tsize * 4, c * kk * 4, c * kk * 4, nbits === 8 ? 0 : block * m + 4,
          rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0,
        ], where,
      );
      eng.f32(qp, c * d).set(qc.subarray(q0 * d, (q0 + c) * d));
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      // l2: table entries are squared distances; ip: negated inner products (the heaps keep the smallest)
      scanTables(eng, v, qp, c, l2 ? 0 : 1, -1, ks, tn, tp);
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
          for (; qi < g1; qi++) eng.abi.pqScan(src, cnt, m, ks, tp + qi * tsize * 4, 0, 0, kk, hd + qi * kk * 4, hi + qi * kk * 4, 0, b0);
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
   * rangeSearch's scores (see CodedIndex.rangeSearch): per block of codes (unpacked once), the ADC sums search()
   * offers, bit for bit: four queries a pass where search() takes them so (pqDistances4, pqScan4's sums), else
   * pqDistances; or with fast-scan the u16 sums of fsScores, whose hits are those under an integer threshold
   * (RangeHits.collectFastScan, fsScan's distances), then the hits.
   */
  protected rangeScan(where: string, q: Float32Array, hits: RangeHits): void {
    const eng = this.eng;
    const v = pqOf(this.q, where).kernelView(where);
    const { d, m, nbits, codeSize } = v;
    const n = this.store.n;
    const qc = toCodeSpace(this.q, q, where);
    const l2 = this.metric === 'l2';
    const nq = hits.nq;
    const ksubP = this.fastScan ? 16 : v.ksubP;
    // float tables with rows as search() scans them (scanKsub, scanTables)
    const ks = this.fastScan ? 16 : scanKsub(m, ksubP, true);
    const wide = ks !== ksubP;
    const tsize = m * ks;
    // blocks of codes (whole fast-scan blocks of 32) whose scores fit in cache; tables of a chunk of queries
    const block = Math.min(Math.ceil(n / FS_BLOCK) * FS_BLOCK, RANGE_BLOCK);
    const quadScan = !this.fastScan;
    const rows = chunkRows(d * 4 + tsize * (quadScan ? 8 : 5) + (wide ? m * ksubP * 4 : 0) + 8, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const quads = quadScan ? Math.floor(c / 4) : 0;
      const [qp, tp, tn, t4, lut, par, up, sums, sc, hitIdx, hitDist] = eng.scratch(
        [
          c * d * 4, c * tsize * 4, wide ? c * m * ksubP * 4 : 0, quads * 4 * tsize * 4, this.fastScan ? c * tsize : 0, this.fastScan ? c * 8 : 0,
          nbits === 8 || this.fastScan ? 0 : block * m + 4, this.fastScan ? block * 2 : 0, this.fastScan ? 0 : (quads ? 4 : 1) * block * 4,
          this.fastScan ? 0 : block * 4, this.fastScan ? 0 : block * 4,
        ], where,
      );
      eng.f32(qp, c * d).set(qc.subarray(q0 * d, (q0 + c) * d));
      // the tables search() makes: l2 squared distances, ip negated inner products (fast-scan: +<q, c>, fsTables)
      const ipFaiss = this.fastScan && !l2 && m <= FS_FAISS_IP_MAX_M;
      scanTables(eng, v, qp, c, l2 ? 0 : 1, ipFaiss ? 1 : -1, ks, tn, tp);
      const params = this.fastScan ? fsTables(eng, tp, c, m, lut, par, ipFaiss) : null;
      for (let g = 0; g < quads; g++) eng.abi.pqInterleave4(tp + g * 4 * tsize * 4, tsize, t4 + g * 4 * tsize * 4);
      for (let b0 = 0; b0 < n; b0 += block) {
        const cnt = Math.min(block, n - b0);
        let src = this.store.codesPtr + (this.fastScan ? (b0 / FS_BLOCK) * m * 16 : b0 * codeSize);
        if (!this.fastScan && nbits !== 8) {
          eng.abi.pqUnpack(src, cnt, m, nbits, up);
          src = up;
        }
        for (let qi = 0; qi < c; ) {
          if (params) {
            eng.abi.fsScores(src, Math.ceil(cnt / FS_BLOCK), m, lut + qi * tsize, sums);
            hits.collectFastScan(q0 + qi, new Uint16Array(eng.abi.memory.buffer, sums, cnt), cnt, params[2 * qi], params[2 * qi + 1], (j) => b0 + j);
            qi++;
            continue;
          }
          // sc: f32[4][cnt], the distances of queries qi .. qi + 3 (or of qi alone)
          const four = qi + 4 <= quads * 4;
          if (four) eng.abi.pqDistances4(src, cnt, m, t4 + qi * tsize * 4, sc);
          else eng.abi.pqDistances(src, cnt, m, ks, tp + qi * tsize * 4, 0, sc);
          for (let t = 0; t < (four ? 4 : 1); t++, qi++) hits.collect(eng, q0 + qi, sc + t * cnt * 4, cnt, 0, hitIdx, hitDist, (j) => b0 + j);
        }
      }
    }
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
      return index.restore(where, c, n, loadQuantizer(where, c, opq));
    } catch (e) {
      index.dispose();
      throw e;
    }
  }
}
