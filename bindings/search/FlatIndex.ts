import { checkBool, checkInt, checkK, checkOneOf, checkOptions, checkUserIds, checkVectors, fail, raw } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer, saveEmpty, sectionF32, sectionI32, writeContainer, type SaveOptions } from '../io/format.js';
import { METRICS, type Metric, type RangeSearchResult, type SearchResult } from '../types.js';
import { MAX_MEMORY_BYTES } from '../wasm/engine.js';
import { idPositions, positionsOf, toUserIds } from './adc.js';
import { mergeInto, moveRows, type AddBatch, type Contents, type MergeOptions } from './addBatch.js';
import { IdIndex } from './idIndex.js';
import { checkFilter, filtered, PositionFilter, updateIdSort, type FilterOptions } from './filter.js';
import { RangeHits } from './range.js';
import { chunkRows, knnPanels, PREFILTER_MIN_D, qpanelsSizes, type Panels } from './scan.js';

export interface FlatIndexOptions {
  /** Vector dimension. */
  d: number;
  /**
   * 'l2' (default): squared Euclidean; 'ip': inner product; 'cosine': vectors normalized on add and on query (float32:
   * a vector of norm below about 1e-19 counts as zero, its squared norm underflowing).
   */
  metric?: Metric;
  /**
   * Keep an int16 copy of the vectors (half the float32 size again) that searches score first, with a proven error
   * bound, so that only the vectors that may still enter a top k are scored in float32. Results are
   * the same bit for bit either way; false saves the memory. Filtered searches use it too (filtered vectors are
   * dropped before its bounds); a k large for the index goes to the float32 scan. Default: true from d = 48 up,
   * where it pays (below, the float32 scan alone is as fast).
   */
  prefilter?: boolean;
}

/**
 * Exact k-nearest-neighbour search by brute force (Faiss IndexFlat). Also the oracle that every approximate index is
 * measured against.
 *
 * Storage (wasm memory, owned): vectors in register panels (assembly/kernels/panels.ts) f32[cap/8][d][8], the score
 * bias f32[cap] (||x||^2 for l2, 0 for ip/cosine, +Infinity on padding), user ids i32[cap], and with `prefilter` the
 * int16 copy of the panels and its scales (assembly/kernels/qpanels.ts). Capacity grows by 1.5x.
 *
 * l2 is scored as ||x||^2 - 2 <q, x> + ||q||^2 in float32 (as Faiss's BLAS path does), which loses the distances when
 * the vectors sit far from the origin against their spread: every term is about ||x||^2 and they cancel (vectors
 * around 1000 with a spread of 0.1 came back with distances 0 and most neighbours wrong). So when the first stored
 * vectors say so (each of the first CENTER_ROWS within ||x_0|| / 8 of x_0), distances are taken from x_0 instead: the
 * bias is ||x - x_0||^2 (float64 sums), a query q searches as q' = q - x_0, and its scores get ||q'||^2 + 2 <q', x_0>
 * in the end, which gives the same distances with errors of the order of ||q - x_0|| ||x|| instead of ||x||^2 (for
 * vectors added later far from x_0, the error grows with their distance to it, as it grows with the distance to the
 * origin without a center). The choice depends on the stored vectors at positions 0 .. CENTER_ROWS - 1 only (not on
 * how they were added, saved or loaded), and is made again when they change (adds while fewer are stored, removals).
 */
export class FlatIndex extends IdIndex {
  readonly d: number;
  readonly metric: Metric;
  readonly prefilter: boolean;
  private cap = 0;
  private panelsPtr = 0;
  private biasPtr = 0;
  private qpPtr = 0;
  private qinfoPtr = 0;
  // l2: the point distances are measured from (a copy of the stored vector 0), or null (see the class comment)
  private center: Float32Array | null = null;

  constructor(options: FlatIndexOptions) {
    const o = checkOptions('new FlatIndex', options);
    const d = checkInt('new FlatIndex', 'd', o.d, 1, 1 << 20);
    const metric = checkOneOf('new FlatIndex', 'metric', o.metric ?? 'l2', METRICS);
    const prefilter = checkBool('new FlatIndex', 'prefilter', o.prefilter ?? d >= PREFILTER_MIN_D.topk);
    super('new FlatIndex', 'FlatIndex');
    this.d = d;
    this.metric = metric;
    this.prefilter = prefilter;
  }

  /** Number of vectors added. */
  get size(): number {
    this.alive('FlatIndex.size');
    return this.n;
  }

  /**
   * Adds n vectors (row-major Float32Array of n * d). `ids` (Int32Array of n, each >= 0) defaults to the ids after the
   * largest one stored: the running positions size .. size + n - 1 until ids are given or vectors removed. On any
   * error the index is left exactly as it was.
   */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'FlatIndex.add';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    this.append(x, n, ids, this.metric === 'cosine', where);
  }

  /**
   * Appends the vectors of `other`, a FlatIndex of the same d and metric, as stored (cosine ones are not normalized
   * again), with other's ids plus options.addId (Faiss merge_from). other is left as it was.
   */
  mergeFrom(other: FlatIndex, options?: MergeOptions): void {
    mergeInto('FlatIndex.mergeFrom', this, other, options);
  }

  /**
   * @internal remove(): the kept positions move down in every buffer (panelMoveRows): panels, bias (+Infinity on the
   * new padding), the int16 copy and its qinfo (zero padding, as qpanelsPack leaves it), ids. What packPanels and
   * qpanelsPack would have written for the kept vectors alone, word for word.
   */
  compact(where: string, keep: Int32Array): boolean {
    const eng = this.alive(where);
    const count = keep.length;
    // (the allocations, before anything moves)
    this.unshare(where);
    const [kp] = eng.scratch([Math.max(4, count * 4)], where);
    eng.i32(kp, count).set(keep);
    const abi = eng.abi;
    abi.panelMoveRows(this.panelsPtr, this.d, kp, count, 0);
    abi.panelMoveRows(this.biasPtr, 1, kp, count, 0x7f800000);
    if (this.prefilter) {
      abi.panelMoveRows(this.qpPtr, (this.d + 1) >> 1, kp, count, 0);
      abi.panelMoveRows(this.qinfoPtr, 4, kp, count, 0);
    }
    moveRows(new Uint8Array(abi.memory.buffer), this.idsPtr, 4, keep);
    this.resized(count);
    // (the first CENTER_ROWS vectors may be others now)
    this.recenter(where);
    return true;
  }

  /**
   * The center the first CENTER_ROWS stored vectors call for (class comment); when it changes, every bias (and the
   * int16 copy's margins, which read it) is computed again.
   */
  private recenter(where: string): void {
    if (this.metric !== 'l2') return;
    const m = Math.min(this.n, CENTER_ROWS);
    const want = centerFor(this.reconstructRange(0, m), m, this.d);
    // (no center before or after: nothing to do; a center found again is taken again, to the same bits)
    if (want === this.center) return;
    // the stored biases change in place: new buffers first where a pooled call reads these (it answers from the index
    // as it was)
    this.unshare(where);
    this.center = want;
    this.rebias(0, this.n);
  }

  /** Centered biases at positions from.., and +Infinity on the rest of the last panel (as panelNormsSq leaves it). */
  private putBias(from: number, norms: Float32Array): void {
    const to = from + norms.length;
    const bias = this.eng.f32(this.biasPtr, Math.ceil(to / 8) * 8);
    bias.set(norms, from);
    bias.fill(Infinity, to);
  }

  /** The bias of stored positions [from, to) from the vectors as stored (l2), and the int16 copy's info with it. */
  private rebias(from: number, to: number): void {
    if (to <= from) return;
    const eng = this.eng;
    const rows = chunkRows(this.d * 4, to - from);
    for (let i0 = from; i0 < to; i0 += rows) {
      const c = Math.min(rows, to - i0);
      if (this.center) {
        this.putBias(i0, centeredNorms(this.reconstructRange(i0, c), c, this.d, this.center));
      } else {
        eng.abi.panelNormsSq(this.panelsPtr, i0, i0 + c, this.d, this.biasPtr);
      }
      if (this.prefilter) eng.abi.qpanelsPack(this.panelsPtr, this.biasPtr, i0, i0 + c, this.d, this.qpPtr, this.qinfoPtr);
    }
  }

  protected freshBuffers(where: string): void {
    this.reserve(this.n, where, true);
  }

  /** @internal mergeFrom's snapshot of this index: the stored vectors and ids, by position. */
  contents(_where: string): Contents {
    return { batch: { labels: null, codes: null }, x: this.reconstructRange(0, this.n), ids: this.eng.i32(this.idsPtr, this.n).slice() };
  }

  /** @internal mergeFrom's append: stored vectors x (not normalized again) with ids. */
  appendBatch(where: string, _b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void {
    this.alive(where);
    this.append(x, x.length / this.d, ids, false, where);
  }

  /** Appends n checked vectors; `normalize` is false when they are stored vectors coming back from a saved file. */
  private append(x: Float32Array, n: number, ids: Int32Array | undefined, normalize: boolean, where: string): void {
    const eng = this.eng;
    const total = this.n + n;
    if (total > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${total}`), 'at most 2^31 - 1');
    this.reserve(total, where);
    // a pooled call's view scans the last panel whole, its lanes past the view's size kept out by their +Infinity
    // bias: appending into that panel would let the new vectors in (they did), so it goes to fresh buffers then
    if (this.pinned && this.n % 8 !== 0) this.unshare(where);
    // (before anything is written: it throws where the default ids would pass 2^31 - 1)
    const first = ids ? 0 : this.nextId.take(where, n, () => eng.i32(this.idsPtr, this.n));
    const d = this.d;
    const decide = this.n < CENTER_ROWS;
    const rows = chunkRows(d * 4, n);
    for (let i0 = 0; i0 < n; i0 += rows) {
      const c = Math.min(rows, n - i0);
      // (computed before the scratch is taken: no view of wasm memory is kept across an allocation)
      const norms = this.center ? centeredNorms(x.subarray(i0 * d, (i0 + c) * d), c, d, this.center) : null;
      const [xp] = eng.scratch([c * d * 4], where);
      eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
      if (normalize) eng.abi.normalizeRows(xp, c, d);
      const from = this.n + i0;
      eng.abi.packPanels(xp, c, d, this.panelsPtr, from);
      if (norms) this.putBias(from, norms);
      else if (this.metric === 'l2') eng.abi.panelNormsSq(this.panelsPtr, from, from + c, d, this.biasPtr);
      else eng.abi.panelZeroBias(from, from + c, this.biasPtr);
      if (this.prefilter) eng.abi.qpanelsPack(this.panelsPtr, this.biasPtr, from, from + c, d, this.qpPtr, this.qinfoPtr);
    }
    if (ids) {
      eng.i32(this.idsPtr, total).set(ids, this.n);
      this.nextId.given(ids);
    } else {
      const idView = eng.i32(this.idsPtr, total);
      for (let i = 0; i < n; i++) idView[this.n + i] = first + i;
    }
    this.n = total;
    this.idMap = null;
    // positions below CENTER_ROWS got vectors: the center they call for (the biases taken again if it changed)
    if (decide) this.recenter(where);
  }

  /**
   * Grows the buffers to hold `total` vectors (fresh: into new buffers of the same capacity even if they hold it,
   * for remove() while a pooled call reads the old ones); allocates the new ones before freeing anything.
   */
  private reserve(total: number, where: string, fresh = false): void {
    if (total <= this.cap && !fresh) return;
    const cap = total <= this.cap ? this.cap : Math.ceil(Math.max(total, this.cap * 1.5, 8) / 8) * 8;
    const [qpBytes, qinfoBytes] = this.prefilter ? qpanelsSizes(this.eng, cap, this.d) : [0, 0];
    const need = cap * this.d * 4 + cap * 8 + qpBytes + qinfoBytes;
    if (need > MAX_MEMORY_BYTES) {
      fail('OUT_OF_MEMORY', where, `${total} vectors of d = ${this.d} do not fit in WebAssembly memory`, raw(`${(need / 1024 ** 3).toFixed(2)} GiB`), 'at most 4 GiB per index; shard across indexes');
    }
    const usedPanels = Math.ceil(this.n / 8) * 8;
    const bufs = [
      { ptr: this.panelsPtr, bytes: cap * this.d * 4, keep: usedPanels * this.d * 4 },
      { ptr: this.biasPtr, bytes: cap * 4, keep: usedPanels * 4 },
      { ptr: this.idsPtr, bytes: cap * 4, keep: this.n * 4 },
    ];
    if (this.prefilter) {
      const [qpKeep, qinfoKeep] = qpanelsSizes(this.eng, usedPanels, this.d);
      bufs.push({ ptr: this.qpPtr, bytes: qpBytes, keep: qpKeep }, { ptr: this.qinfoPtr, bytes: qinfoBytes, keep: qinfoKeep });
    }
    [this.panelsPtr, this.biasPtr, this.idsPtr, this.qpPtr = 0, this.qinfoPtr = 0] = this.regrow(where, bufs);
    this.cap = cap;
  }

  /**
   * The k nearest neighbours of each query (row-major Float32Array of nq * d). See SearchResult for the layout and
   * order; k may exceed size (rows are padded with id -1).
   */
  search(q: Float32Array, k: number, options: FilterOptions = {}): SearchResult {
    const where = 'FlatIndex.search';
    const eng = this.alive(where);
    const nq = checkVectors(where, 'queries', q, this.d);
    checkK(where, k, nq);
    const spec = checkFilter(where, checkOptions(where, options), nq);
    if (this.n === 0) return emptyResult(nq, k, this.metric);
    const p: Panels = { panelsPtr: this.panelsPtr, biasPtr: this.biasPtr, nb: this.n, d: this.d, qpPtr: this.qpPtr, qinfoPtr: this.qinfoPtr };
    const flt = spec ? new PositionFilter(spec, this.n, eng.i32(this.idsPtr, this.n), (ids) => (this.idSort = updateIdSort(this.idSort, ids))) : null;
    const s = this.center ? shiftQueries(q, nq, this.d, this.center) : null;
    const res = filtered(eng, where, flt, () => knnPanels(eng, where, s ? s.q : q, p, this.metric, k, flt, s ? s.add : null));
    toUserIds(eng, this.idsPtr, this.n, res.ids);
    return res;
  }

  /**
   * Every stored vector within `radius` of each query (Faiss range_search): squared L2 distance < radius for 'l2',
   * similarity > radius for 'ip' / 'cosine'. Each query's hits come best first (see RangeSearchResult), with the
   * distances search() returns for the same pairs, bit for bit. Filters (exclude / allow) as for search().
   */
  rangeSearch(q: Float32Array, radius: number, options: FilterOptions = {}): RangeSearchResult {
    const where = 'FlatIndex.rangeSearch';
    const eng = this.alive(where);
    const { d, n } = this;
    const hits = new RangeHits(where, q, d, radius, this.metric, options);
    const { nq, l2 } = hits;
    // queries in chunks, the vectors in blocks of whole panels: one f32 score matrix of chunk x block at a time
    const block = Math.min(n, RANGE_BLOCK);
    const rows = Math.max(1, Math.min(nq, Math.floor(RANGE_SCORES / block)));
    // (centered vectors: the queries moved, and what their scores get in the end, as search() does)
    const s = this.center && n > 0 ? shiftQueries(q, nq, d, this.center) : null;
    const qs = s ? s.q : q;
    for (let q0 = 0; q0 < nq && n > 0; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [qp, qn, out, hitIdx, hitDist] = eng.scratch([c * d * 4, c * 4, c * block * 4, block * 4, block * 4], where);
      eng.f32(qp, c * d).set(qs.subarray(q0 * d, (q0 + c) * d));
      if (this.metric === 'cosine') eng.abi.normalizeRows(qp, c, d);
      if (s) eng.f32(qn, c).set(s.add.subarray(q0, q0 + c));
      else if (l2) eng.abi.normsSq(qp, c, d, qn);
      for (let j0 = 0; j0 < n; j0 += block) {
        const nb = Math.min(block, n - j0);
        eng.abi.scorePanels(qp, c, d, this.panelsPtr + j0 * d * 4, this.biasPtr + j0 * 4, nb, l2 ? -2 : -1, out);
        // the distances as search() finishes them (heapFinalize: + ||q||^2 for l2)
        for (let i = 0; i < c; i++) hits.collect(eng, q0 + i, out + i * nb * 4, nb, l2 ? eng.f32(qn + i * 4, 1)[0] : 0, hitIdx, hitDist, (j) => j0 + j);
      }
    }
    return hits.result(this.storedIds());
  }

  /** Copies of the stored vectors by user id (normalized ones for 'cosine'); an id added twice gives its first vector. */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'FlatIndex.reconstruct';
    const eng = this.alive(where);
    const map = (this.idMap ??= idPositions(eng, this.idsPtr, this.n));
    const pos = positionsOf(where, ids, (id) => map.get(id));
    const out = new Float32Array(pos.length * this.d);
    if (pos.length === 0) return out;
    const [op] = eng.scratch([this.d * 4], where);
    for (let i = 0; i < pos.length; i++) {
      eng.abi.unpackPanels(this.panelsPtr, pos[i], 1, this.d, op);
      out.set(eng.f32(op, this.d), i * this.d);
    }
    return out;
  }

  /** Copies of the stored vectors at positions [from, from + count) (normalized ones for 'cosine'). */
  reconstructRange(from: number, count: number): Float32Array {
    const where = 'FlatIndex.reconstructRange';
    const eng = this.alive(where);
    checkInt(where, 'from', from, 0, this.n);
    checkInt(where, 'count', count, 0, this.n - from);
    const out = new Float32Array(count * this.d);
    if (count === 0) return out;
    const [op] = eng.scratch([count * this.d * 4], where);
    eng.abi.unpackPanels(this.panelsPtr, from, count, this.d, op);
    out.set(eng.f32(op, count * this.d));
    return out;
  }

  /** The index as bytes (bindings/io/format.ts, kind FlatIndex: VECS the stored vectors f32[n][d], IDS i32[n]). */
  save(options?: SaveOptions): Uint8Array {
    const where = 'FlatIndex.save';
    const eng = this.alive(where);
    const n = saveEmpty(where, options) ? 0 : this.n;
    // prefilter is written only when it is not the default for d: files of the default are as before
    const dflt = this.d >= PREFILTER_MIN_D.topk;
    return writeContainer('FlatIndex', { d: this.d, metric: this.metric, n, ...(this.prefilter === dflt ? {} : { prefilter: this.prefilter }) }, [
      { tag: 'VECS', data: this.reconstructRange(0, n) },
      { tag: 'IDS ', data: eng.i32(this.idsPtr, n).slice() },
    ]);
  }

  /** Restores an index written by save(): the same vectors (bit for bit, cosine ones not normalized again) and ids. */
  static load(bytes: Uint8Array | ArrayBuffer): FlatIndex {
    const where = 'FlatIndex.load';
    const c = readContainer(where, bytes, 'FlatIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 20);
    const metric = paramString(where, c, 'metric', METRICS);
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    const prefilter = Object.hasOwn(c.params, 'prefilter') ? paramBool(where, c, 'prefilter') : d >= PREFILTER_MIN_D.topk;
    const vecs = sectionF32(where, c, 'VECS', n * d);
    const ids = sectionI32(where, c, 'IDS ', n);
    for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
    const index = new FlatIndex({ d, metric, prefilter });
    try {
      if (n > 0) index.append(vecs, n, ids, false, where);
    } catch (e) {
      index.dispose();
      throw e;
    }
    return index;
  }
}

/**
 * How far from the origin against their spread the vectors must sit before l2 is measured from a center (class
 * comment): ||x_0||^2 > CENTER_RATIO ||x_i - x_0||^2 for every i < CENTER_ROWS. At that ratio the float32 terms
 * ||x||^2 and 2 <q, x> cancel about 6 bits of the distance; embeddings and pixel data sit at ratios of 0.3-3. Every
 * one of the first CENTER_ROWS vectors must be near x_0, not only x_1: two copies of an outlier at positions 0 and 1
 * (an audit's case) would otherwise center the whole index on the outlier, which loses the precision of every
 * vector away from it.
 */
const CENTER_RATIO = 64;
const CENTER_ROWS = 64;

/** The center the first m stored vectors (rows f32[m][d]) call for: a copy of row 0, or null. */
function centerFor(rows: Float32Array, m: number, d: number): Float32Array | null {
  if (m < 2) return null;
  let far = 0;
  for (let j = 0; j < d; j++) far += rows[j] * rows[j];
  for (let i = 1; i < m; i++) {
    let gap = 0;
    for (let j = 0; j < d; j++) gap += (rows[i * d + j] - rows[j]) ** 2;
    if (!(far > CENTER_RATIO * gap)) return null;
  }
  return rows.slice(0, d);
}

/** ||x_i - c||^2 of n rows (float64 sums, rounded once): the bias of centered vectors. */
function centeredNorms(x: Float32Array, n: number, d: number, c: Float32Array): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (x[i * d + j] - c[j]) ** 2;
    out[i] = s;
  }
  return out;
}

/**
 * Queries against centered vectors: q' = q - c (float32) and, per query, ||q'||^2 + 2 <q', c> (float64 sums, rounded
 * once), which heapFinalize / rangeHits add to the scores bias - 2 <q', x> = ||x - c||^2 - 2 <q', x> to give
 * ||q - x||^2.
 */
function shiftQueries(q: Float32Array, nq: number, d: number, c: Float32Array): { q: Float32Array; add: Float32Array } {
  const qs = new Float32Array(nq * d);
  const add = new Float32Array(nq);
  for (let i = 0; i < nq; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = Math.fround(q[i * d + j] - c[j]);
      qs[i * d + j] = v;
      s += v * v + 2 * v * c[j];
    }
    add[i] = s;
  }
  return { q: qs, add };
}

/** Vectors per block of rangeSearch's score matrix (a multiple of 8: whole panels), and its most scores (4 MB). */
const RANGE_BLOCK = 8192;
const RANGE_SCORES = 1 << 20;

export function emptyResult(nq: number, k: number, metric: Metric): SearchResult {
  return {
    ids: new Int32Array(nq * k).fill(-1),
    distances: new Float32Array(nq * k).fill(metric === 'l2' ? Infinity : -Infinity),
  };
}
