import { checkBool, checkInt, checkOneOf, checkOptions, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer } from '../io/format.js';
import { ScalarQuantizer, SQ_TYPES, type ScalarQuantizerTrainResult, type SQType } from '../quantizers/ScalarQuantizer.js';
import type { SearchResult } from '../types.js';
import { finishChunk, PQ_METRICS, type PQMetric } from './adc.js';
import { CodedIndex } from './coded.js';
import type { PositionFilter } from './filter.js';
import type { RangeHits } from './range.js';
import { chunkRows } from './scan.js';

export interface SQIndexOptions {
  d: number;
  /** Code type of the ScalarQuantizer: 'uint8', 'int8' (d bytes a vector), 'int4' (ceil(d / 2) bytes) or 'fp16' (2 d bytes). */
  type: SQType;
  /** 'l2' (default, squared Euclidean) or 'ip' (inner product, maximum inner-product search). */
  metric?: PQMetric;
  /** Also keep the original vectors (4 d bytes each) so that search can re-rank candidates exactly. Default false. */
  refine?: boolean;
}

// Bytes of codes scanned by every query of a chunk before the next block: half of a 1 MiB L2.
const BLOCK_BYTES = 256 * 1024;

/** Codes per block of rangeSearch's scores. */
const RANGE_BLOCK = 8192;

/**
 * The folded queries of the float scan (layout in assembly/kernels/sq.ts) for rows q0 .. q0 + c - 1 of q, into u
 * f32[c][d]: fp16 u = q ('l2') or -q ('ip'); the others (ab: a f32[d] then b f32[d]) u = q - a ('l2') or u = -q b with
 * bias -<q, a> ('ip'). Returns the biases (0 but for 'ip' over 8- and 4-bit codes).
 */
function foldQueries(q: Float32Array, q0: number, c: number, d: number, type: number, l2: boolean, ab: Float32Array, u: Float32Array): Float64Array {
  const bias = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const x = q[(q0 + i) * d + j];
      if (type === 2) u[i * d + j] = l2 ? x : -x;
      else if (l2) u[i * d + j] = x - ab[j];
      else {
        u[i * d + j] = -x * ab[d + j];
        s -= x * ab[j];
      }
    }
    bias[i] = s;
  }
  return bias;
}

/**
 * Exhaustive search over scalar-quantized codes (Faiss IndexScalarQuantizer; with refine, IndexRefineFlat around it).
 * The wasm scan (assembly/kernels/sq.ts) scores each code against the float query without decoding it to memory: the
 * per-dimension offsets and steps are folded into the query once per query, so the inner loop widens code bytes
 * (half floats, or int4 nibble pairs) to f32 and multiply-adds them with the folded query, four queries per pass over the
 * codes.
 * Distances are those to the reconstructions (ScalarQuantizer.decode), within float rounding. Exception: uint8 / int8 /
 * int4 codes with d % 16 == 0 ('l2' and 'ip') quantize the folded query to 16-bit integers and scan with exact integer
 * dot products (see searchInt) to select the candidates, about 2.5 to 3 times faster; the k returned are then scored
 * by the float kernel, so their distances are the float scan's.
 *
 * Storage (wasm memory, owned): codes u8[cap][codeSize], user ids i32[cap] once add() is given ids (before that, ids
 * are positions and cost nothing), with refine the original vectors f32[cap][d], and for the 'l2' integer scan
 * ||b c||^2 per code (f32, filled in by the first search after an add). Capacity grows by 1.5x; the quantizer is
 * owned by the index.
 */
export class SQIndex extends CodedIndex<ScalarQuantizer, ScalarQuantizerTrainResult> {
  readonly type: SQType;

  // 'l2' integer scan: f32[normsCap] of ||b c_i||^2 for the first normsN codes (see codeNorms)
  private normsPtr = 0;
  private normsCap = 0;
  private normsN = 0;

  constructor(options: SQIndexOptions) {
    const W = 'new SQIndex';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 14);
    const type = checkOneOf(W, 'type', o.type, SQ_TYPES);
    if (o.metric === 'cosine') fail('INVALID_OPTION', W, "metric 'cosine' is not supported by SQIndex", o.metric, "'l2' or 'ip' (normalize vectors and queries, then use 'ip')");
    const metric = checkOneOf(W, 'metric', o.metric ?? 'l2', PQ_METRICS);
    const refine = checkBool(W, 'refine', o.refine ?? false);
    super({ kind: 'SQIndex', encodedWith: 'ranges' }, d, metric, refine, () => new ScalarQuantizer({ d, type }));
    this.type = type;
  }

  /** Bytes per vector: the code, 4 for a user id once add() was given ids, 4 d with refine, and 4 for the kept
   * ||b c||^2 of the 'l2' integer scan (uint8 / int8 / int4 codes with d % 16 == 0). */
  override get bytesPerVector(): number {
    return super.bytesPerVector + (this.usesCodeNorms ? 4 : 0);
  }

  private get usesCodeNorms(): boolean {
    return this.metric === 'l2' && this.type !== 'fp16' && this.d % 16 === 0;
  }

  /** search() after the checks: the folded-query scans into heaps of kk, then the re-ranking. */
  protected scan(q: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult {
    const where = 'SQIndex.search';
    const eng = this.eng;
    const v = this.q.kernelView(where);
    const { d, type, codeSize } = v;
    const ab = eng.f32(v.aPtr, 2 * d).slice();
    const l2 = this.metric === 'l2';
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const block = Math.min(Math.max(256, Math.floor(BLOCK_BYTES / codeSize)), this.store.n);
    if (type !== 2 && d % 16 === 0) return this.searchInt(q, nq, k, kk, rerank, block, ab, flt);
    const rows = chunkRows(d * 8 + kk * 12, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [up, bp, qo, hd, hi, sp, rd, ri] = eng.scratch(
        [c * d * 4, c * 4, rerank ? c * d * 4 : 0, c * kk * 4, c * kk * 4, rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0], where,
      );
      const bias = eng.f32(bp, c);
      bias.set(foldQueries(q, q0, c, d, type, l2, ab, eng.f32(up, c * d)));
      const biasOf = bias.slice();
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      for (let b0 = 0; b0 < this.store.n; b0 += block) {
        const cnt = Math.min(block, this.store.n - b0);
        const src = this.store.codesPtr + b0 * codeSize;
        let qi = 0;
        // four queries per pass: each code is loaded and widened once for the four
        for (; qi + 4 <= c; qi += 4) eng.abi.sqScan4(src, cnt, d, type, l2 ? 0 : 1, up + qi * d * 4, v.bPtr, bp + qi * 4, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
        for (; qi < c; qi++) eng.abi.sqScan(src, cnt, d, type, l2 ? 0 : 1, up + qi * d * 4, v.bPtr, biasOf[qi], kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
      }
      const rr = rerank ? { qPtr: qo, vecPtr: this.store.vecPtr, scorePtr: sp, rd, ri } : null;
      finishChunk(eng, hd, hi, c, kk, k, d, this.metric, rr, ids, distances, q0, flt);
    }
    return { ids: this.store.userIds(ids), distances };
  }

  /**
   * search() over uint8 / int8 / int4 codes with d % 16 == 0: the folded query weights are quantized to i16 per query
   * (scale W / max|w|, W = min(32767, (2^31 - 1) / (255 d)), so that no i32 sum can overflow), and the scan is an exact
   * integer dot product with the codes (sqScanInt4, four queries a pass; sqScanInt1 for the last one to three queries,
   * four codes a pass). 'ip': w = -q b, bias -<q, a>. 'l2': the expansion ||u - b c||^2 = ||u||^2 - 2 <u b, c> +
   * ||b c||^2 (u = q - a): w = -2 u b, ||b c||^2 kept per code (codeNorms) and added per code by the kernel, ||u||^2
   * left out (the same for every code). The integer scores differ from those to the reconstructions by at most
   * sum_j |c_j| / 2 / scale (about 2^-16 of the largest term per component); measured on MovieLens and the synthetic
   * 100k set the recall@10 is that of the float scan (within 0.0002). Without re-ranking, each query's candidates are
   * then scored by the float kernel (rescore), so the distances returned are the float scan's (Faiss's within 1e-4).
   */
  private searchInt(q: Float32Array, nq: number, k: number, kc: number, rerank: boolean, block: number, ab: Float32Array, flt: PositionFilter | null): SearchResult {
    const where = 'SQIndex.search';
    const eng = this.eng;
    const d = this.d;
    const { type, bPtr, codeSize } = this.q.kernelView(where);
    const l2 = this.metric === 'l2';
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const W = Math.min(32767, Math.floor((2 ** 31 - 1) / (255 * d)));
    // candidates of the integer scan: the rerank ones, or without re-ranking a margin over k that the float scores
    // then order (so that the k returned are the float scan's best, not only its order)
    const kk = rerank ? kc : Math.max(2 * k, k + 16);
    // l2: ||b c_i||^2 of every code, kept between searches (before the scratch: it may allocate)
    const normsPtr = l2 ? this.codeNorms(where) : 0;
    const rows = chunkRows(d * 6 + 8 + kk * 12 + k * 8, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [wp, bp, ip, qo, hd, hi, sp, rd, ri, gc, uf, sc, ci, kd, ki] = eng.scratch(
        [
          c * d * 2, c * 4, c * 4, rerank ? c * d * 4 : 0, c * kk * 4, c * kk * 4, rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0,
          rerank ? 0 : kk * codeSize, rerank ? 0 : d * 4, rerank ? 0 : kk * 4, rerank ? 0 : kk * 4,
          rerank ? 0 : c * k * 4, rerank ? 0 : c * k * 4,
        ],
        where,
      );
      const w = new Int16Array(eng.abi.memory.buffer, wp, c * d);
      const bias = eng.f32(bp, c);
      const inv = eng.f32(ip, c);
      w.fill(0);
      bias.fill(0);
      inv.fill(0);
      const wf = new Float64Array(d);
      for (let i = 0; i < c; i++) {
        let s = 0;
        let mx = 0;
        for (let j = 0; j < d; j++) {
          const x = q[(q0 + i) * d + j];
          if (l2) {
            // ||u - b c||^2 = ||u||^2 - 2 <u b, c> + ||b c||^2, u = q - a: the first term is the same for every code
            // (left out of the ranking), the last is added per code
            const u = x - ab[j];
            wf[j] = -2 * u * ab[d + j];
          } else {
            wf[j] = -x * ab[d + j];
            s -= x * ab[j];
          }
          if (Math.abs(wf[j]) > mx) mx = Math.abs(wf[j]);
        }
        const scale = mx > 0 ? W / mx : 0;
        for (let j = 0; j < d; j++) w[i * d + j] = Math.round(wf[j] * scale);
        if (!l2) bias[i] = s;
        inv[i] = mx > 0 ? mx / W : 0;
      }
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      const biasOf = bias.slice();
      const invOf = inv.slice();
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      for (let b0 = 0; b0 < this.store.n; b0 += block) {
        const cnt = Math.min(block, this.store.n - b0);
        const src = this.store.codesPtr + b0 * codeSize;
        const np = l2 ? normsPtr + b0 * 4 : 0;
        let qi = 0;
        for (; qi + 4 <= c; qi += 4) eng.abi.sqScanInt4(src, cnt, d, type, wp + qi * d * 2, bp + qi * 4, ip + qi * 4, np, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
        // the last one to three queries one at a time (a search of one query is the serving case)
        for (; qi < c; qi++) eng.abi.sqScanInt1(src, cnt, d, type, wp + qi * d * 2, biasOf[qi], invOf[qi], np, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
      }
      // without exact re-ranking, the candidates the integer scan selected get the float scan's scores (sqScores on
      // their gathered codes), so that distances are those of the float scan, not within the query's quantization
      if (rerank) {
        finishChunk(eng, hd, hi, c, kk, k, d, this.metric, { qPtr: qo, vecPtr: this.store.vecPtr, scorePtr: sp, rd, ri }, ids, distances, q0, flt);
        continue;
      }
      // the exclusion lists are armed against hd: the rescored heaps are others (their candidates passed the filters)
      flt?.disarmChunk(eng);
      for (let i = 0; i < c; i++) this.rescore(q.subarray((q0 + i) * d, (q0 + i + 1) * d), ab, type, bPtr, codeSize, hi + i * kk * 4, kk, kd + i * k * 4, ki + i * k * 4, k, gc, uf, sc, ci);
      finishChunk(eng, kd, ki, c, k, k, d, this.metric, null, ids, distances, q0, flt);
    }
    return { ids: this.store.userIds(ids), distances };
  }

  /**
   * @internal Called by a shared-memory WorkerPool before it hands out views of this index: completes the kept code
   * norms here, so that the workers' views find them and do not each compute (and hold, in their arena) their own.
   */
  prepareView(where: string): void {
    if (this.usesCodeNorms && this.q.isTrained && this.store.n > 0) this.codeNorms(where);
  }

  /** remove() and reset(), as CodedIndex, and then the kept code norms start again (they follow the codes' positions). */
  override compact(where: string, keep: Int32Array): boolean {
    const moved = super.compact(where, keep);
    this.dropNorms();
    return moved;
  }

  override clearVectors(where: string): void {
    super.clearVectors(where);
    this.dropNorms();
  }

  override reset(): void {
    super.reset();
    this.dropNorms();
  }

  /**
   * Forgets the kept code norms once codes moved or went: the next search computes them again, into a new buffer (a
   * pooled call may still read the old one, which a pin keeps until it ends).
   */
  private dropNorms(): void {
    this.normsN = 0;
    this.normsCap = 0;
  }

  /**
   * ||b c_i||^2 of every stored code (f32[size], the float scan's score with u = 0, so the same bits as before it was
   * kept), for the 'l2' integer scan: computed for the codes added since the last search and kept in an owned buffer
   * of the codes' capacity, instead of once per search (which cost a one-query search more than its scan).
   */
  private codeNorms(where: string): number {
    const n = this.store.n;
    if (this.normsN >= n) return this.normsPtr;
    if (this.normsCap < n) {
      // as many as the codes' capacity: the store's growth steps (1.5x) are the norms' too
      const cap = this.store.cap;
      [this.normsPtr] = this.regrow(where, [{ ptr: this.normsPtr, bytes: cap * 4, keep: this.normsN * 4 }]);
      this.normsCap = cap;
    }
    const { d, type, bPtr, codeSize } = this.q.kernelView(where);
    const [zp] = this.eng.scratch([d * 4], where);
    this.eng.f32(zp, d).fill(0);
    this.eng.abi.sqScan(this.store.codesPtr + this.normsN * codeSize, n - this.normsN, d, type, 0, zp, bPtr, 0, 0, this.normsPtr + this.normsN * 4, 0, 0);
    this.normsN = n;
    return this.normsPtr;
  }

  /**
   * One query's best k of its kk integer-scan candidates (positions i32[kk] at hi; -1 an empty slot) by the float
   * scan's scores, into the heap of k at (kd, ki) (type / bPtr / codeSize: the quantizer's kernel view): codes gathered
   * to gc u8[kk][codeSize], the folded query in uf (u = q - a for 'l2'; u = -q b, bias -<q, a> for 'ip'), scores in
   * sc f32[kk], positions copied to ci i32[kk].
   */
  private rescore(
    qv: Float32Array, ab: Float32Array, type: number, bPtr: number, codeSize: number, hi: number, kk: number, kd: number, ki: number, k: number,
    gc: number, uf: number, sc: number, ci: number,
  ): void {
    const eng = this.eng;
    const { d } = this;
    const l2 = this.metric === 'l2';
    const bias = foldQueries(qv, 0, 1, d, type, l2, ab, eng.f32(uf, d))[0];
    eng.i32(ci, kk).set(eng.i32(hi, kk));
    const cand = eng.i32(ci, kk);
    const mem = new Uint8Array(eng.abi.memory.buffer);
    for (let j = 0; j < kk; j++) {
      const p = cand[j];
      if (p >= 0) mem.copyWithin(gc + j * codeSize, this.store.codesPtr + p * codeSize, this.store.codesPtr + (p + 1) * codeSize);
      else mem.fill(0, gc + j * codeSize, gc + (j + 1) * codeSize);
    }
    eng.abi.sqScan(gc, kk, d, type, l2 ? 0 : 1, uf, bPtr, bias, 0, sc, 0, 0);
    eng.abi.heapInit(kd, ki, k);
    eng.abi.heapPushMany(kd, ki, k, sc, ci, kk);
  }

  /**
   * rangeSearch's scores (see CodedIndex.rangeSearch): the float scan's over blocks of codes with the folded queries,
   * four queries a pass (sqScan4 with k = 0 writes their scores), which are the distances search() returns (its
   * integer scan only selects candidates).
   */
  protected rangeScan(where: string, q: Float32Array, hits: RangeHits): void {
    const eng = this.eng;
    const v = this.q.kernelView(where);
    const { d, type, bPtr, codeSize } = v;
    const ab = eng.f32(v.aPtr, 2 * d).slice();
    const l2 = this.metric === 'l2';
    const n = this.store.n;
    const block = Math.min(n, RANGE_BLOCK);
    const rows = chunkRows(d * 4, hits.nq);
    for (let q0 = 0; q0 < hits.nq; q0 += rows) {
      const c = Math.min(rows, hits.nq - q0);
      const [up, bp, sc, hitIdx, hitDist] = eng.scratch([c * d * 4, c * 4, 4 * block * 4, block * 4, block * 4], where);
      const bias = foldQueries(q, q0, c, d, type, l2, ab, eng.f32(up, c * d));
      eng.f32(bp, c).set(bias);
      for (let b0 = 0; b0 < n; b0 += block) {
        const cnt = Math.min(block, n - b0);
        const src = this.store.codesPtr + b0 * codeSize;
        for (let qi = 0; qi < c; ) {
          // sc: f32[4][cnt], the scores of queries qi .. qi + 3 (or of qi alone)
          const four = qi + 4 <= c;
          if (four) eng.abi.sqScan4(src, cnt, d, type, l2 ? 0 : 1, up + qi * d * 4, bPtr, bp + qi * 4, 0, sc, 0, 0);
          else eng.abi.sqScan(src, cnt, d, type, l2 ? 0 : 1, up + qi * d * 4, bPtr, bias[qi], 0, sc, 0, 0);
          for (let t = 0; t < (four ? 4 : 1); t++, qi++) hits.collect(eng, q0 + qi, sc + t * cnt * 4, cnt, 0, hitIdx, hitDist, (j) => b0 + j);
        }
      }
    }
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): SQIndex {
    const where = 'SQIndex.load';
    const c = readContainer(where, bytes, 'SQIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const type = paramString(where, c, 'type', SQ_TYPES);
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const refine = paramBool(where, c, 'refine');
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    let index: SQIndex;
    try {
      index = new SQIndex({ d, type, metric, refine });
    } catch (e) {
      savedOptionsError(where, e);
    }
    try {
      return index.restore(where, c, n, ScalarQuantizer.fromContainer(where, c), (codes, cs) => {
        if (type === 'int4' && d % 2 === 1) {
          for (let i = 0; i < n; i++) {
            const b = codes[(i + 1) * cs - 1];
            if (b >> 4 !== 0) fail('CORRUPT_DATA', where, `the padding nibble of code ${i} is not zero`, raw(`byte ${b}`), 'a last byte below 16 (odd d)');
          }
        }
      });
    } catch (e) {
      index.dispose();
      throw e;
    }
  }
}
