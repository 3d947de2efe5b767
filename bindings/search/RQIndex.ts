import { checkInt, checkK, checkOneOf, checkOptions, checkUserIds, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramInt, paramString, readContainer, saveEmpty, sectionI32, sectionU8, writeContainer, type SaveOptions, type Section } from '../io/format.js';
import { checkRQOptions, levelTables, ResidualQuantizer, type ResidualQuantizerOptions, type ResidualQuantizerTrainResult } from '../quantizers/ResidualQuantizer.js';
import { handOut, quantizerAlive } from '../quantizers/Quantizer.js';
import type { RangeSearchResult, SearchResult } from '../types.js';
import type { KMeansInit } from '../training/KMeans.js';
import { MAX_MEMORY_BYTES } from '../wasm/engine.js';
import { finishChunk, idPositions, PQ_METRICS, positionsOf, scanKsub, toUserIds, widenTables, type PQMetric } from './adc.js';
import { mergeInto, moveRows, type AddBatch, type Contents, type MergeOptions } from './addBatch.js';
import { IdIndex } from './idIndex.js';
import { emptyResult } from './FlatIndex.js';
import { checkFilter, filtered, PositionFilter, updateIdSort, type FilterOptions } from './filter.js';
import { RangeHits } from './range.js';
import { chunkRows } from './scan.js';

export interface RQIndexOptions {
  d: number;
  /** Levels of the residual quantizer (one code of nbits each). */
  levels: number;
  /** Bits per level code, 1..8. Default 8. */
  nbits?: number;
  /** Beam width of the encoding (training and add). Default 1. */
  beamSize?: number;
  /** 'l2' (default, squared Euclidean) or 'ip' (inner product, maximum inner-product search). */
  metric?: PQMetric;
  /**
   * l2 only: bits of the stored norm ||x^||^2, 1..24 (rounded up to whole fields of nbits). Default 8 (Faiss
   * ST_norm_qint8); 16 costs one more byte per vector at nbits 8 and makes the distances practically exact.
   */
  normBits?: number;
  seed?: number;
  iterations?: number;
  init?: KMeansInit;
  maxPointsPerCentroid?: number;
}

// Bytes of distance tables (a group of queries) and of codes (a block) kept in cache while the group scans the block.
const CACHE_BUDGET = 256 * 1024;

/** Codes per block of rangeSearch's scores. */
const RANGE_BLOCK = 8192;

/**
 * L2 far from the origin: a value of more than this many norm steps (the stored norms' base at add(), a query's bias
 * at search) is summed in float64, where float32 would be off by whole steps (encodeStored, tables()).
 */
const FAR_STEPS = 2 ** 17;

/**
 * Exhaustive search over residual-quantizer codes with lookup tables (Faiss IndexResidualQuantizer). Per query one
 * table f32[levels][ksub8] of -<q, c_l[k]> ('ip') or -2 <q, c_l[k]> ('l2'); a code's score is the sum of its levels'
 * entries, scanned by the ADC kernels of assembly/kernels/pq.ts with a bounded heap.
 *
 * L2 needs ||x^||^2 as well (||q - x^||^2 = ||q||^2 - 2 <q, x^> + ||x^||^2, and the levels' codewords are not
 * orthogonal). As Faiss's ST_norm_qint8, it is stored quantized: uniformly in 2^(F * nbits) steps over the range of
 * ||x^||^2 seen in training (values outside are clamped), F = ceil(normBits / nbits) so at least normBits bits (8 by
 * default, as Faiss), as F extra fields of nbits after the level codes. The dequantized norm min + (code + 1/2) step is linear in the code, so each field gets a
 * constant table row (field f: v * 2^(f nbits) * step) and the scan stays a pure table sum. The stored norm is within
 * step / 2 of ||x^||^2, so an L2 distance is within step / 2 of ||q - x^||^2, give or take float32 rounding. Far from
 * the origin ||q||^2, ||x^||^2 and 2 <q, x^> are large and cancel: there the stored norms are summed in float64
 * (encodeStored) and so is each query's first table row (tables()).
 *
 * Storage (wasm memory, owned): codes u8[cap][rowBytes], each the bit-packed stream of levels + F fields of nbits
 * (ProductQuantizer's layout), rowBytes = ceil((levels + F) * nbits / 8) (levels + 1 bytes for nbits 8 with l2); ids
 * i32[cap]. Capacity grows by 1.5x; the quantizer is owned by the index.
 */
export class RQIndex extends IdIndex {
  readonly d: number;
  readonly levels: number;
  readonly nbits: number;
  readonly metric: PQMetric;
  readonly normBits: number;
  private q: ResidualQuantizer;
  // the quantizer's options, checked (freshQuantizer makes another with them)
  private readonly qOptions: Required<ResidualQuantizerOptions>;
  /** Norm fields per code (0 for ip). */
  private readonly fields: number;
  /** Fields per stored code: levels + fields. */
  private readonly scanM: number;
  private readonly rowBytes: number;
  private normMin = 0;
  private normMax = 0;
  // train() calls so far (addVersion: the quantizer is trained in place)
  private trainings = 0;
  private cap = 0;
  private codesPtr = 0;

  constructor(options: RQIndexOptions) {
    const W = 'new RQIndex';
    const o = checkOptions(W, options);
    if (o.metric === 'cosine') fail('INVALID_OPTION', W, "metric 'cosine' is not supported by RQIndex", o.metric, "'l2' or 'ip' (normalize vectors and queries, then use 'ip')");
    const metric = checkOneOf(W, 'metric', o.metric ?? 'l2', PQ_METRICS);
    const normBits = checkInt(W, 'normBits', o.normBits ?? 8, 1, 24);
    const { metric: _m, normBits: _b, ...rest } = o;
    const ro = checkRQOptions(W, rest);
    super(W, 'RQIndex');
    const rq = new ResidualQuantizer(ro);
    this.qOptions = ro;
    this.q = rq;
    this.d = rq.d;
    this.levels = rq.levels;
    this.nbits = rq.nbits;
    this.metric = metric;
    this.normBits = normBits;
    this.fields = metric === 'l2' ? Math.ceil(normBits / rq.nbits) : 0;
    this.scanM = rq.levels + this.fields;
    this.rowBytes = Math.ceil((this.scanM * rq.nbits) / 8);
  }

  /** The quantizer, owned by the index: do not dispose it yourself. */
  get quantizer(): ResidualQuantizer {
    this.alive('RQIndex.quantizer');
    // (its train() refuses while this index holds vectors encoded with it)
    return handOut(this.q, this);
  }

  get isTrained(): boolean {
    return this.q.isTrained;
  }

  get size(): number {
    this.alive('RQIndex.size');
    return this.n;
  }

  /** Bytes per vector: the code (with the quantized norm for l2) and a 4-byte id. */
  get bytesPerVector(): number {
    return this.rowBytes + 4;
  }

  /** Trains the quantizer on x (and, for l2, the range of the stored norms). Refused once the index holds vectors. */
  train(x: Float32Array): ResidualQuantizerTrainResult {
    this.checkTrain(x);
    this.trainings++;
    const res = this.q.train(x);
    [this.normMin, this.normMax] = this.q.trainedNormRange() ?? [0, 0];
    return res;
  }

  /** @internal train()'s checks, for WorkerPool.trainIndex too. */
  checkTrain(x: Float32Array): void {
    const where = 'RQIndex.train';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const ksub = 1 << this.nbits;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per level', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    this.checkEmpty(where);
  }

  private checkEmpty(where: string): void {
    if (this.n > 0) fail('INVALID_OPTION', where, 'the index already holds vectors encoded with the current codebooks', raw(`size ${this.n}`), 'train before add (or a new index)');
  }

  /** @internal WorkerPool.trainIndex: an untrained quantizer with this index's options (its beam width now included). */
  freshQuantizer(): ResidualQuantizer {
    return new ResidualQuantizer({ ...this.qOptions, beamSize: this.q.beamSize });
  }

  /**
   * @internal WorkerPool.trainIndex: replaces the quantizer with q, trained elsewhere as train() would have trained
   * this one, if the index is still alive and empty (this thread may have disposed or filled it meanwhile).
   */
  adoptTrained(q: ResidualQuantizer): void {
    const where = 'RQIndex.train';
    this.alive(where);
    this.checkEmpty(where);
    this.q.dispose();
    this.q = q;
    [this.normMin, this.normMax] = q.trainedNormRange() ?? [0, 0];
    this.trainings++;
  }

  /** Width of one norm step (0 when every training norm was equal). */
  private normStep(): number {
    return (this.normMax - this.normMin) / 2 ** (this.fields * this.nbits);
  }

  /**
   * Encodes and appends n vectors; `ids` (Int32Array of n, each >= 0) defaults to the ids after the largest one
   * stored (size .. size + n - 1 until ids are given or vectors removed).
   */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'RQIndex.add';
    this.checkAdd(where, x, ids);
    // encoded before anything is reserved: an encode error leaves the index as it was
    this.appendBatch(where, this.encodeForAdd(where, x), x, ids);
  }

  /** @internal add()'s checks (WorkerPool.add too); returns n. */
  checkAdd(where: string, x: Float32Array, ids: Int32Array | undefined): number {
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index must be trained before vectors are added', raw('an untrained RQIndex'), 'train(x) first');
    if (this.n + n > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${this.n + n}`), 'at most 2^31 - 1');
    return n;
  }

  /** @internal add()'s first half: the stored codes (see encodeStored). Changes nothing. */
  encodeForAdd(where: string, x: Float32Array): AddBatch {
    return { labels: null, codes: this.encodeStored(x, x.length / this.d, where) };
  }

  /** @internal What a batch was computed with: the codebooks and the norm range, trained in place (hence the count). */
  addVersion(): unknown {
    return this.trainings;
  }

  /**
   * Appends the vectors of `other`, an RQIndex trained as this one is (a copy of this one's save({ empty: true })
   * filled elsewhere), their codes as they are, with other's ids plus options.addId (Faiss merge_from). other is left
   * as it was. A different training is INVALID_OPTION.
   */
  mergeFrom(other: RQIndex, options?: MergeOptions): void {
    mergeInto('RQIndex.mergeFrom', this, other, options);
  }

  /** @internal remove(): the kept codes and ids move down in place. */
  compact(where: string, keep: Int32Array): boolean {
    const eng = this.alive(where);
    this.unshare(where);
    const mem = new Uint8Array(eng.abi.memory.buffer);
    moveRows(mem, this.codesPtr, this.rowBytes, keep);
    moveRows(mem, this.idsPtr, 4, keep);
    this.resized(keep.length);
    return true;
  }

  protected freshBuffers(where: string): void {
    this.reserve(this.n, where, true);
  }

  /** @internal mergeFrom's snapshot of this index: stored codes and ids, by position. */
  contents(_where: string): Contents {
    return { batch: { labels: null, codes: this.eng.u8(this.codesPtr, this.n * this.rowBytes).slice() }, x: new Float32Array(0), ids: this.eng.i32(this.idsPtr, this.n).slice() };
  }

  /** @internal add()'s second half: appends the vectors of batch b (from encodeForAdd with this addVersion()). */
  appendBatch(where: string, b: AddBatch, _x: Float32Array, ids: Int32Array | undefined): void {
    const eng = this.alive(where);
    const codes = b.codes!;
    const n = codes.length / this.rowBytes;
    const total = this.n + n;
    if (total > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${total}`), 'at most 2^31 - 1');
    this.reserve(total, where);
    const first = ids ? 0 : this.nextId.take(where, n, () => eng.i32(this.idsPtr, this.n));
    if (ids) this.nextId.given(ids);
    eng.u8(this.codesPtr + this.n * this.rowBytes, n * this.rowBytes).set(codes);
    const idView = eng.i32(this.idsPtr, total);
    if (ids) idView.set(ids, this.n);
    else for (let i = 0; i < n; i++) idView[this.n + i] = first + i;
    this.n = total;
    this.idMap = null;
  }

  /** The stored codes of n checked vectors: level codes, then (l2) the quantized norm's fields, bit-packed. */
  private encodeStored(x: Float32Array, n: number, where: string): Uint8Array {
    const { levels, nbits, scanM, rowBytes, fields } = this;
    const eng = this.eng;
    const out = new Uint8Array(n * rowBytes);
    const step = this.normStep();
    const top = 2 ** (fields * nbits) - 1;
    const mask = (1 << nbits) - 1;
    // far from the origin, ||x^||^2 is large against a norm step and its float32 sum is off by whole steps: it is
    // taken again in float64 from the codewords (read in place), so that only the quantization is left
    const far = fields > 0 && this.normMin > step * FAR_STEPS;
    const v = far ? this.q.kernelView(where) : null;
    this.q.encodeRows(x, n, where, { withNorms: fields > 0, extraPerRow: scanM + rowBytes }, (up, np, ep, i0, c) => {
      let src = up;
      if (fields > 0) {
        const u = eng.u8(up, c * levels);
        const norms = v ? reconstructionNorms(eng.f32(v.panelsPtr, levels * v.ksub8 * v.d), u, c, levels, v.ksub8, v.d) : eng.f32(np, c);
        const dst = eng.u8(ep, c * scanM);
        for (let i = 0; i < c; i++) {
          dst.set(u.subarray(i * levels, (i + 1) * levels), i * scanM);
          // Faiss encode_qint8: floor((v - min) / step), clamped
          const code = step > 0 ? Math.min(top, Math.max(0, Math.floor((norms[i] - this.normMin) / step))) : 0;
          for (let f = 0; f < fields; f++) dst[i * scanM + levels + f] = Math.floor(code / 2 ** (f * nbits)) & mask;
        }
        src = ep;
      }
      const pp = ep + c * scanM;
      eng.abi.pqPack(src, c, scanM, nbits, pp);
      out.set(eng.u8(pp, c * rowBytes), i0 * rowBytes);
    });
    return out;
  }

  /** Room for `total` vectors (fresh: new buffers even if these hold it, for remove() while a pooled call reads them). */
  private reserve(total: number, where: string, fresh = false): void {
    if (total <= this.cap && !fresh) return;
    const cap = total <= this.cap ? this.cap : Math.ceil(Math.max(total, this.cap * 1.5, 16));
    const need = cap * (this.rowBytes + 4);
    if (need > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, `${total} vectors do not fit in WebAssembly memory`, raw(`${(need / 1024 ** 3).toFixed(2)} GiB`), 'at most 4 GiB per index; shard across indexes');
    [this.codesPtr, this.idsPtr] = this.regrow(where, [
      { ptr: this.codesPtr, bytes: cap * this.rowBytes, keep: this.n * this.rowBytes },
      { ptr: this.idsPtr, bytes: cap * 4, keep: this.n * 4 },
    ]);
    this.cap = cap;
  }

  /**
   * The k best codes for each query (row-major Float32Array of nq * d) by table distance: squared L2 ascending ('l2',
   * within half a norm step of the distance to the reconstruction) or inner product descending ('ip'); ties by
   * insertion order.
   */
  search(q: Float32Array, k: number, options: FilterOptions = {}): SearchResult {
    const where = 'RQIndex.search';
    const eng = this.alive(where);
    quantizerAlive(where, this.q);
    const nq = checkVectors(where, 'queries', q, this.d);
    checkK(where, k, nq);
    const spec = checkFilter(where, checkOptions(where, options), nq);
    this.trainedOr(where);
    if (this.n === 0) return emptyResult(nq, k, this.metric);
    const flt = spec ? new PositionFilter(spec, this.n, eng.i32(this.idsPtr, this.n), (ids) => (this.idSort = updateIdSort(this.idSort, ids))) : null;
    return filtered(eng, where, flt, () => this.scanCodes(q, nq, k, flt));
  }

  /** search() after the checks: table scans into heaps of k (plus room for excluded positions). */
  private scanCodes(q: Float32Array, nq: number, k: number, flt: PositionFilter | null): SearchResult {
    const where = 'RQIndex.search';
    const eng = this.eng;
    const kk = k;
    const v = this.q.kernelView(where);
    const { d, levels, ksub8 } = v;
    const { scanM, rowBytes, fields, nbits } = this;
    const lw = levels * ksub8; // table entries of the levels
    // four queries per pass (interleaved tables; l2's per-query bias is in the tables), rows as tables() lays them out
    const ks = scanKsub(scanM, ksub8, true);
    const wide = ks !== ksub8;
    const tsize = scanM * ks; // with the norm rows
    const group = Math.max(4, Math.floor(CACHE_BUDGET / (tsize * 4) / 4) * 4);
    const block = Math.min(Math.max(1024, Math.floor(CACHE_BUDGET / scanM)), this.n);
    const unpack = nbits !== 8;
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const rows = chunkRows(d * 4 + (lw + scanM * ksub8 + (wide ? 2 : 1) * tsize) * 4 + kk * 8, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const quads = Math.floor(c / 4);
      const [qp, zp, sp, tp, tw, t4, hd, hi, up] = eng.scratch(
        [
          c * d * 4, lw * 4, c * lw * 4, fields > 0 ? c * scanM * ksub8 * 4 : 0, wide ? c * tsize * 4 : 0, quads * 4 * tsize * 4, c * kk * 4, c * kk * 4,
          unpack ? block * scanM + 4 : 0,
        ],
        where,
      );
      const tab = this.tables(q.subarray(q0 * d, (q0 + c) * d), c, ks, qp, zp, sp, tp, tw, where);
      for (let g = 0; g < quads; g++) eng.abi.pqInterleave4(tab + g * 4 * tsize * 4, tsize, t4 + g * 4 * tsize * 4);
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      for (let g0 = 0; g0 < c; g0 += group) {
        const g1 = Math.min(c, g0 + group);
        for (let b0 = 0; b0 < this.n; b0 += block) {
          const cnt = Math.min(block, this.n - b0);
          let src = this.codesPtr + b0 * rowBytes;
          if (unpack) {
            eng.abi.pqUnpack(src, cnt, scanM, nbits, up);
            src = up;
          }
          let qi = g0;
          for (; qi + 4 <= g1 && qi + 4 <= quads * 4; qi += 4) eng.abi.pqScan4(src, cnt, scanM, t4 + qi * tsize * 4, kk, hd + qi * kk * 4, hi + qi * kk * 4, b0);
          for (; qi < g1; qi++) eng.abi.pqScan(src, cnt, scanM, ks, tab + qi * tsize * 4, 0, 0, kk, hd + qi * kk * 4, hi + qi * kk * 4, 0, b0);
        }
      }
      finishChunk(eng, hd, hi, c, kk, k, d, this.metric, null, ids, distances, q0, flt);
    }
    return { ids: toUserIds(eng, this.idsPtr, this.n, ids), distances };
  }

  /** search() and rangeSearch(): NOT_TRAINED before a train(). */
  private trainedOr(where: string): void {
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index is not trained', raw('an untrained RQIndex'), 'train(x) first');
  }

  /**
   * The scan tables of c queries qs (row-major) copied to qp: f32[c][scanM][ks] (ks: the callers' scanKsub(scanM, ksub8, true), as
   * the four-query scans read them: in tw, widened from tp, with the norm rows, or sp without them, when ks > ksub8).
   * Heaps keep the smallest: l2 scores -2 <q, x^> + norm + ||q||^2 (the last in the first row), ip scores -<q, x^>. zp:
   * lw floats of work, sp: c * lw floats.
   */
  private tables(qs: Float32Array, c: number, ks: number, qp: number, zp: number, sp: number, tp: number, tw: number, where: string): number {
    const eng = this.eng;
    const v = this.q.kernelView(where);
    const { d, levels, ksub8 } = v;
    const { scanM, fields, nbits } = this;
    const l2 = this.metric === 'l2';
    const lw = levels * ksub8;
    const tsize = scanM * ksub8;
    eng.f32(qp, c * d).set(qs);
    levelTables(eng, v, qp, c, l2 ? -2 : -1, zp, sp);
    let tab = sp;
    const step = this.normStep();
    if (fields > 0) {
      // the norm rows: constant across queries (field f, value c: c * 2^(f nbits) * step)
      const normRows = new Float32Array(fields * ksub8);
      for (let f = 0; f < fields; f++) for (let x = 0; x < 1 << nbits; x++) normRows[f * ksub8 + x] = x * 2 ** (f * nbits) * step;
      const mem = new Uint8Array(eng.abi.memory.buffer);
      for (let i = 0; i < c; i++) mem.copyWithin(tp + i * tsize * 4, sp + i * lw * 4, sp + (i + 1) * lw * 4);
      const t = eng.f32(tp, c * tsize);
      for (let i = 0; i < c; i++) t.set(normRows, i * tsize + lw);
      tab = tp;
    }
    if (ks !== ksub8) {
      widenTables(eng, tab, c, scanM, ksub8, ks, tw);
      tab = tw;
    }
    if (l2) {
      // the query's ||q||^2 + the norms' base goes into its first table row, so that every query is scanned without a
      // bias of its own, four a pass (pqScan4 has none), and search() and rangeSearch() sum the same entries
      const normBase = this.normMin + 0.5 * step;
      const t = eng.f32(tab, c * scanM * ks);
      // level 0's codewords f32[ksub8 / 8][d][8] (panels), read in place: no scratch is taken while the caller's is live
      const book = eng.f32(v.panelsPtr, ksub8 * d);
      for (let i = 0; i < c; i++) {
        let s = 0;
        for (let j = i * d; j < (i + 1) * d; j++) s += qs[j] * qs[j];
        const bias = Math.fround(s + normBase);
        const row = i * scanM * ks;
        if (bias > step * FAR_STEPS) {
          // far from the origin (an audit: vectors around 1000, spread 0.3): bias and -2 <q, c> are both about
          // ||q||^2 and cancel, so their float32 sum lost several norm steps; summed in float64 and rounded once, the
          // first row keeps the distance (the later levels' codewords are small)
          for (let x = 0; x < v.ksub; x++) {
            let dot = 0;
            for (let u = 0; u < d; u++) dot += qs[i * d + u] * book[(x >> 3) * d * 8 + u * 8 + (x & 7)];
            t[row + x] = s + normBase - 2 * dot;
          }
          for (let x = v.ksub; x < ksub8; x++) t[row + x] += bias;
        } else {
          for (let x = row; x < row + ksub8; x++) t[x] += bias;
        }
      }
    }
    return tab;
  }

  /**
   * Every stored vector within `radius` of each query by the table distances search() returns (the same sums, bit for
   * bit): distance < radius for 'l2', inner product > radius for 'ip'; best first, ties by insertion order; filters as
   * for search(). (Faiss 1.7.3 has no range_search for IndexResidualQuantizer.)
   */
  rangeSearch(q: Float32Array, radius: number, options: FilterOptions = {}): RangeSearchResult {
    const where = 'RQIndex.rangeSearch';
    const eng = this.alive(where);
    quantizerAlive(where, this.q);
    const hits = new RangeHits(where, q, this.d, radius, this.metric, options);
    this.trainedOr(where);
    const n = this.n;
    if (n > 0) {
      const v = this.q.kernelView(where);
      const { d, levels, ksub8 } = v;
      const { scanM, rowBytes, fields, nbits } = this;
      const lw = levels * ksub8;
      // four queries a pass, as search() takes them
      const ks = scanKsub(scanM, ksub8, true);
      const wide = ks !== ksub8;
      const tsize = scanM * ks;
      const block = Math.min(n, RANGE_BLOCK);
      const rows = chunkRows(d * 4 + (lw + scanM * ksub8 + (2 + (wide ? 1 : 0)) * tsize) * 4, hits.nq);
      for (let q0 = 0; q0 < hits.nq; q0 += rows) {
        const c = Math.min(rows, hits.nq - q0);
        const quads = Math.floor(c / 4);
        const [qp, zp, sp, tp, tw, t4, up, sc] = eng.scratch(
          [
            c * d * 4, lw * 4, c * lw * 4, fields > 0 ? c * scanM * ksub8 * 4 : 0, wide ? c * tsize * 4 : 0, quads * 4 * tsize * 4,
            nbits !== 8 ? block * scanM + 4 : 0, (quads ? 4 : 1) * block * 4,
          ], where,
        );
        const tab = this.tables(q.subarray(q0 * d, (q0 + c) * d), c, ks, qp, zp, sp, tp, tw, where);
        for (let g = 0; g < quads; g++) eng.abi.pqInterleave4(tab + g * 4 * tsize * 4, tsize, t4 + g * 4 * tsize * 4);
        for (let b0 = 0; b0 < n; b0 += block) {
          const cnt = Math.min(block, n - b0);
          let src = this.codesPtr + b0 * rowBytes;
          if (nbits !== 8) {
            eng.abi.pqUnpack(src, cnt, scanM, nbits, up);
            src = up;
          }
          for (let qi = 0; qi < c; ) {
            // sc: f32[4][cnt], the distances of queries qi .. qi + 3 (or of qi alone)
            const four = qi + 4 <= quads * 4;
            if (four) eng.abi.pqDistances4(src, cnt, scanM, t4 + qi * tsize * 4, sc);
            else eng.abi.pqDistances(src, cnt, scanM, ks, tab + qi * tsize * 4, 0, sc);
            // in JS, not rangeHits: an l2 table distance can be negative (the quantized norm), and search() keeps it so
            for (let t = 0; t < (four ? 4 : 1); t++, qi++) hits.collectScores(q0 + qi, eng.f32(sc + t * cnt * 4, cnt), b0);
          }
        }
      }
    }
    return hits.result(this.storedIds());
  }

  /** Decoded vectors by user id (an id added twice gives its first vector). */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'RQIndex.reconstruct';
    const eng = this.alive(where);
    if (!this.idMap) this.idMap = idPositions(eng, this.idsPtr, this.n);
    const map = this.idMap;
    const pos = positionsOf(where, ids, (id) => map.get(id));
    const v = this.q.kernelView(where);
    const { d, levels, ksub } = v;
    const { scanM, rowBytes, nbits } = this;
    const out = new Float32Array(pos.length * d);
    const rows = chunkRows(d * 4 + scanM + rowBytes, pos.length);
    for (let i0 = 0; i0 < pos.length; i0 += rows) {
      const c = Math.min(rows, pos.length - i0);
      const [pp, up, op] = eng.scratch([c * rowBytes, c * scanM, c * d * 4], where);
      const mem = new Uint8Array(eng.abi.memory.buffer);
      for (let i = 0; i < c; i++) mem.copyWithin(pp + i * rowBytes, this.codesPtr + pos[i0 + i] * rowBytes, this.codesPtr + (pos[i0 + i] + 1) * rowBytes);
      eng.abi.pqUnpack(pp, c, scanM, nbits, up);
      eng.abi.rqDecode(up, c, scanM, d, levels, ksub, v.panelsPtr, op);
      out.set(eng.f32(op, c * d), i0 * d);
    }
    return out;
  }

  /** The index as bytes (kind RQIndex: the quantizer's CENT section, CODE u8[n][rowBytes], IDS i32[n]). */
  save(options?: SaveOptions): Uint8Array {
    const where = 'RQIndex.save';
    const eng = this.alive(where);
    quantizerAlive(where, this.q);
    const n = saveEmpty(where, options) ? 0 : this.n;
    const sections: Section[] = [...this.q.sections()];
    if (this.q.isTrained) {
      sections.push({ tag: 'CODE', data: eng.u8(this.codesPtr, n * this.rowBytes) });
      sections.push({ tag: 'IDS ', data: eng.i32(this.idsPtr, n) });
    }
    return writeContainer('RQIndex', { ...this.q.params(), metric: this.metric, normBits: this.normBits, n, normMin: this.normMin, normMax: this.normMax }, sections);
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): RQIndex {
    const where = 'RQIndex.load';
    const c = readContainer(where, bytes, 'RQIndex');
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    const normBits = paramInt(where, c, 'normBits', 1, 24);
    const normMin = c.params.normMin;
    const normMax = c.params.normMax;
    if (typeof normMin !== 'number' || typeof normMax !== 'number' || !(normMin <= normMax)) {
      fail('CORRUPT_DATA', where, 'saved norm range is invalid', raw(`normMin = ${String(normMin)}, normMax = ${String(normMax)}`), 'two finite numbers, normMin <= normMax');
    }
    const q = ResidualQuantizer.fromContainer(where, c);
    let index: RQIndex;
    try {
      index = new RQIndex({ d: q.d, levels: q.levels, nbits: q.nbits, beamSize: q.beamSize, metric, normBits, seed: q.seed, iterations: q.iterations, init: q.init, maxPointsPerCentroid: q.maxPointsPerCentroid });
    } catch (e) {
      q.dispose();
      savedOptionsError(where, e);
    }
    index.q.dispose();
    index.q = q;
    try {
      index.normMin = normMin;
      index.normMax = normMax;
      if (!q.isTrained) {
        if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
        return index;
      }
      const codes = sectionU8(where, c, 'CODE', n * index.rowBytes);
      const ids = sectionI32(where, c, 'IDS ', n);
      for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
      if (n > 0) {
        index.reserve(n, where);
        index.eng.u8(index.codesPtr, n * index.rowBytes).set(codes);
        index.eng.i32(index.idsPtr, n).set(ids);
        index.n = n;
        index.nextId.forget();
      }
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

/**
 * ||x^||^2 of c vectors from their level codes u8[c][levels] (float64 sums of the decoded components, rounded once):
 * book is the codebooks in panels, f32[levels][ksub8 / 8][d][8] (assembly/kernels/rq.ts).
 */
function reconstructionNorms(book: Float32Array, u: Uint8Array, c: number, levels: number, ksub8: number, d: number): Float64Array {
  const out = new Float64Array(c);
  const xh = new Float64Array(d);
  for (let i = 0; i < c; i++) {
    xh.fill(0);
    for (let l = 0; l < levels; l++) {
      const j = u[i * levels + l];
      const base = l * ksub8 * d + (j >> 3) * d * 8 + (j & 7);
      for (let t = 0; t < d; t++) xh[t] += book[base + t * 8];
    }
    let s = 0;
    for (let t = 0; t < d; t++) s += xh[t] * xh[t];
    out[i] = s;
  }
  return out;
}
