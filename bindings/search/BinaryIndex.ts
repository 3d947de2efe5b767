import { checkBool, checkInt, checkOneOf, checkOptions, checkUserIds, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer, sectionF32, sectionI32, sectionU8, writeContainer, type Section } from '../io/format.js';
import { BinaryQuantizer, type BinaryQuantizerTrainResult } from '../quantizers/BinaryQuantizer.js';
import { SEED_LIMIT } from '../quantizers/ProductQuantizer.js';
import type { SearchResult } from '../types.js';
import { Owned } from '../wasm/owned.js';
import { candidatesPerQuery, finishChunk, PQ_METRICS, type PQMetric, type SearchOptions } from './adc.js';
import { checkFilter, filtered, type PositionFilter } from './filter.js';
import { emptyResult } from './FlatIndex.js';
import { FlatStore } from './store.js';
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
export class BinaryIndex extends Owned {
  readonly d: number;
  readonly metric: PQMetric;
  readonly refine: boolean;
  private q: BinaryQuantizer;
  private readonly store: FlatStore;

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
    super(W);
    const q = new BinaryQuantizer({ d, center, rotate, seed });
    this.d = d;
    this.metric = metric;
    this.refine = refine;
    this.store = new FlatStore(this.eng, d, refine, (n) => n * this.q.codeSize, (bytes, where) => this.own(bytes, where), (ptr) => this.release(ptr));
    this.q = q;
  }

  /** The quantizer, owned by the index: do not dispose it yourself. */
  get quantizer(): BinaryQuantizer {
    this.alive('BinaryIndex.quantizer');
    return this.q;
  }

  get isTrained(): boolean {
    return this.q.isTrained;
  }

  get size(): number {
    this.alive('BinaryIndex.size');
    return this.store.n;
  }

  /** Bytes per vector: the code (ceil(d / 8)), plus 4 for a user id once add() was given ids, plus 4 d with refine. */
  get bytesPerVector(): number {
    return this.q.codeSize + this.store.extraBytesPerVector;
  }

  /** Trains the quantizer on x. Training an index that already holds vectors is refused (their codes would be stale). */
  train(x: Float32Array): BinaryQuantizerTrainResult {
    const where = 'BinaryIndex.train';
    this.alive(where);
    checkVectors(where, 'x', x, this.d);
    if (this.store.n > 0) fail('INVALID_OPTION', where, 'the index already holds vectors encoded with the current mean', raw(`size ${this.store.n}`), 'train before add (or a new index)');
    return this.q.train(x);
  }

  /** Encodes and appends n vectors; `ids` (Int32Array of n, each >= 0) defaults to size .. size + n - 1. */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'BinaryIndex.add';
    const eng = this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index must be trained before vectors are added', raw('an untrained BinaryIndex'), 'train(x) first');
    const codes = this.q.encode(x);
    const st = this.store;
    st.reserveAdd(where, n, ids);
    eng.u8(st.codesPtr + st.n * this.q.codeSize, codes.length).set(codes);
    st.append(x, ids, n);
  }

  /**
   * The k codes nearest to each query's code (row-major Float32Array of nq * d) in Hamming distance, ascending, ties
   * by insertion order; distances are the Hamming counts (as floats). With `rerank: R` (refine indexes) the best
   * max(R, k) candidates are re-scored exactly with `metric` against the original vectors and the distances returned
   * are exact (squared L2 ascending or inner product descending).
   */
  search(q: Float32Array, k: number, options: SearchOptions = {}): SearchResult {
    const where = 'BinaryIndex.search';
    const eng = this.alive(where);
    const nq = checkVectors(where, 'queries', q, this.d);
    checkInt(where, 'k', k, 1, 1 << 20);
    const o = checkOptions(where, options);
    const spec = checkFilter(where, o, nq);
    const kc = candidatesPerQuery(where, k, this.refine, o.rerank);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index is not trained', raw('an untrained BinaryIndex'), 'train(x) first');
    const rerank = o.rerank !== undefined;
    // Hamming counts are ascending distances whatever the metric; only exact re-ranking uses the metric
    const finishMetric: PQMetric = rerank ? this.metric : 'l2';
    if (this.store.n === 0) return emptyResult(nq, k, finishMetric);
    const flt = spec ? this.store.filter(spec) : null;
    const kk = kc;
    return filtered(eng, where, flt, () => this.scanCodes(q, nq, k, kk, rerank, finishMetric, flt));
  }

  /** search() after the checks: hammingScan4 / hammingScan over the codes into heaps of kk, then the re-ranking. */
  private scanCodes(q: Float32Array, nq: number, k: number, kk: number, rerank: boolean, finishMetric: PQMetric, flt: PositionFilter | null): SearchResult {
    const where = 'BinaryIndex.search';
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

  /** Vectors by user id: the decoded codes, or the stored originals with refine. An id added twice gives its first vector. */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'BinaryIndex.reconstruct';
    const eng = this.alive(where);
    const pos = this.store.positions(where, ids);
    if (this.refine) return this.store.originals(pos);
    const cs = this.q.codeSize;
    const codes = new Uint8Array(pos.length * cs);
    for (let i = 0; i < pos.length; i++) codes.set(eng.u8(this.store.codesPtr + pos[i] * cs, cs), i * cs);
    return this.q.decode(codes);
  }

  /**
   * The index as bytes (kind BinaryIndex: the quantizer's params and sections, CODE u8[n][codeSize], IDS i32[n] when
   * add() was given ids (else the ids are the positions), VECS f32[n][d] with refine).
   */
  save(): Uint8Array {
    const eng = this.alive('BinaryIndex.save');
    const sections: Section[] = [...this.q.sections()];
    if (this.q.isTrained) {
      sections.push(...this.store.sections(eng.u8(this.store.codesPtr, this.store.n * this.q.codeSize)));
    }
    return writeContainer('BinaryIndex', { ...this.q.params(), metric: this.metric, refine: this.refine, n: this.store.n, explicitIds: this.store.explicitIds }, sections);
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
      const q = BinaryQuantizer.fromContainer(where, c);
      index.q.dispose();
      index.q = q;
      if (!q.isTrained) {
        if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
        return index;
      }
      const cs = q.codeSize;
      const codes = sectionU8(where, c, 'CODE', n * cs);
      // the Hamming scan counts every bit of the last byte: its unused high bits must be 0
      const pad = d % 8 === 0 ? 0 : 0xff & ~((1 << (d % 8)) - 1);
      if (pad) for (let i = 0; i < n; i++) if (codes[i * cs + cs - 1] & pad) fail('CORRUPT_DATA', where, `code ${i} has bits set beyond d`, raw(`last byte 0x${codes[i * cs + cs - 1].toString(16)}`), `bits ${d % 8}..7 of the last byte clear`);
      const explicitIds = paramBool(where, c, 'explicitIds');
      const ids = explicitIds ? sectionI32(where, c, 'IDS ', n) : null;
      if (ids) for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
      const vecs = refine ? sectionF32(where, c, 'VECS', n * d) : null;
      index.store.restore(where, n, ids, vecs, (ptr) => index.eng.u8(ptr, codes.length).set(codes));
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
