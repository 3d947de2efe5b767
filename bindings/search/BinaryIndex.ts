import { checkBool, checkInt, checkOneOf, checkOptions, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer } from '../io/format.js';
import { BinaryQuantizer, type BinaryQuantizerTrainResult } from '../quantizers/BinaryQuantizer.js';
import { SEED_LIMIT } from '../quantizers/ProductQuantizer.js';
import type { SearchResult } from '../types.js';
import { finishChunk, PQ_METRICS, type PQMetric } from './adc.js';
import { CodedIndex } from './coded.js';
import type { PositionFilter } from './filter.js';
import type { RangeHits } from './range.js';
import { chunkRows } from './scan.js';

export interface BinaryIndexOptions {
  d: number;
  /** Subtract the training mean before taking signs (BinaryQuantizer). Default true. */
  center?: boolean;
  /** Random orthogonal rotation before taking signs (BinaryQuantizer). Default false. */
  rotate?: boolean;
  /**
   * The exact score of re-ranking: 'l2' (default, squared Euclidean) or 'ip' (inner product). The Hamming scan itself
   * ranks by sign agreement whatever the metric.
   */
  metric?: PQMetric;
  /** Also keep the original vectors (4 d bytes each) so that search can re-rank candidates exactly. Default false. */
  refine?: boolean;
  /** Seed of the rotation. Default 1234. */
  seed?: number;
}

// Bytes of codes scanned by every query of a chunk before the next block: half of a 1 MiB L2.
const BLOCK_BYTES = 256 * 1024;

/** Codes per block of rangeSearch's scores. */
const RANGE_BLOCK = 8192;

/**
 * Exhaustive Hamming search over binary (sign) codes (Faiss IndexBinaryFlat over a BinaryQuantizer's codes; with
 * refine, IndexRefineFlat around it). Each query is encoded with the same quantizer and the stored codes are ranked
 * by the number of differing bits (assembly/kernels/binary.ts: XOR + popcount, four queries a pass), ascending, ties by insertion
 * order. The ranking is by sign agreement whatever `metric` says: `metric` only chooses the exact score used by
 * `rerank` (refine indexes), and the distances returned are Hamming counts without rerank, exact scores with it.
 *
 * Storage (wasm memory, owned): codes u8[cap][codeSize], user ids i32[cap] once add() is given ids (before that, ids
 * are positions), and with refine the original vectors f32[cap][d]. Capacity grows by 1.5x; the quantizer is owned
 * by the index.
 */
export class BinaryIndex extends CodedIndex<BinaryQuantizer, BinaryQuantizerTrainResult> {
  constructor(options: BinaryIndexOptions) {
    const W = 'new BinaryIndex';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 14);
    const center = checkBool(W, 'center', o.center ?? true);
    const rotate = checkBool(W, 'rotate', o.rotate ?? false);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    if (o.metric === 'cosine') fail('INVALID_OPTION', W, "metric 'cosine' is not supported by BinaryIndex", o.metric, "'l2' or 'ip' (normalize vectors and queries, then use 'ip')");
    const metric = checkOneOf(W, 'metric', o.metric ?? 'l2', PQ_METRICS);
    const refine = checkBool(W, 'refine', o.refine ?? false);
    if (rotate && d > 4096) fail('INVALID_OPTION', W, 'rotate needs a d x d matrix in memory', raw(`d = ${d}`), 'd <= 4096 with rotate: true');
    super({ kind: 'BinaryIndex', encodedWith: 'mean' }, d, metric, refine, () => new BinaryQuantizer({ d, center, rotate, seed }));
  }

  /** Hamming counts are ascending distances whatever the metric; only exact re-ranking uses the metric. */
  protected override resultMetric(rerank: boolean): PQMetric {
    return rerank ? this.metric : 'l2';
  }

  /** search() after the checks: hammingScan4 / hammingScan over the codes into heaps of kk, then the re-ranking. */
  protected scan(q: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult {
    const where = 'BinaryIndex.search';
    const finishMetric = this.resultMetric(rerank);
    const eng = this.eng;
    const d = this.d;
    const cs = this.q.codeSize;
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const block = Math.min(Math.max(256, Math.floor(BLOCK_BYTES / cs)), this.store.n);
    const rows = chunkRows(cs + kk * 8 + (rerank ? d * 4 + k * 8 : 0), nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const qcodes = this.q.encodeRows(q.subarray(q0 * d, (q0 + c) * d), c, new Uint8Array(c * cs));
      const [qc, qo, hd, hi, sp, rd, ri] = eng.scratch(
        [c * cs, rerank ? c * d * 4 : 0, c * kk * 4, c * kk * 4, rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0], where,
      );
      eng.u8(qc, c * cs).set(qcodes);
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      for (let b0 = 0; b0 < this.store.n; b0 += block) {
        const cnt = Math.min(block, this.store.n - b0);
        const src = this.store.codesPtr + b0 * cs;
        let qi = 0;
        // four queries per pass: each code is loaded once for the four (about 2x for 8-byte codes)
        for (; qi + 4 <= c; qi += 4) eng.abi.hammingScan4(src, cnt, cs, qc + qi * cs, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
        for (; qi < c; qi++) eng.abi.hammingScan(src, cnt, cs, qc + qi * cs, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
      }
      const rr = rerank ? { qPtr: qo, vecPtr: this.store.vecPtr, scorePtr: sp, rd, ri } : null;
      finishChunk(eng, hd, hi, c, kk, k, d, finishMetric, rr, ids, distances, q0, flt);
    }
    return { ids: this.store.userIds(ids), distances };
  }

  /** rangeSearch's scores (see CodedIndex.rangeSearch): Hamming distances to the encoded query (hammingDistances). */
  protected rangeScan(where: string, q: Float32Array, hits: RangeHits): void {
    const eng = this.eng;
    const d = this.d;
    const cs = this.q.codeSize;
    const n = this.store.n;
    const block = Math.min(n, RANGE_BLOCK);
    const rows = chunkRows(cs, hits.nq);
    for (let q0 = 0; q0 < hits.nq; q0 += rows) {
      const c = Math.min(rows, hits.nq - q0);
      const qcodes = this.q.encodeRows(q.subarray(q0 * d, (q0 + c) * d), c, new Uint8Array(c * cs));
      const [qc, hamming, sc, hitIdx, hitDist] = eng.scratch([c * cs, block * 4, block * 4, block * 4, block * 4], where);
      eng.u8(qc, c * cs).set(qcodes);
      for (let b0 = 0; b0 < n; b0 += block) {
        const cnt = Math.min(block, n - b0);
        for (let qi = 0; qi < c; qi++) {
          eng.abi.hammingDistances(this.store.codesPtr + b0 * cs, cnt, cs, qc + qi * cs, hamming);
          eng.f32(sc, cnt).set(eng.i32(hamming, cnt));
          hits.collect(eng, q0 + qi, sc, cnt, 0, hitIdx, hitDist, (j) => b0 + j);
        }
      }
    }
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): BinaryIndex {
    const where = 'BinaryIndex.load';
    const c = readContainer(where, bytes, 'BinaryIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const refine = paramBool(where, c, 'refine');
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    let index: BinaryIndex;
    try {
      index = new BinaryIndex({ d, metric, refine });
    } catch (e) {
      savedOptionsError(where, e);
    }
    try {
      return index.restore(where, c, n, BinaryQuantizer.fromContainer(where, c), (codes, cs) => {
        // the Hamming scan counts every bit of the last byte: its unused high bits must be 0
        const pad = d % 8 === 0 ? 0 : 0xff & ~((1 << (d % 8)) - 1);
        if (pad) for (let i = 0; i < n; i++) if (codes[i * cs + cs - 1] & pad) fail('CORRUPT_DATA', where, `code ${i} has bits set beyond d`, raw(`last byte 0x${codes[i * cs + cs - 1].toString(16)}`), `bits ${d % 8}..7 of the last byte clear`);
      });
    } catch (e) {
      index.dispose();
      throw e;
    }
  }
}
