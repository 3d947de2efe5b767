import { checkInt, checkK, checkOneOf, checkOptions, checkUserIds, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer, saveEmpty, sectionF32, sectionI32, writeContainer, type SaveOptions, type Section } from '../io/format.js';
import { KMeans, KMEANS_SEED_LIMIT, type KMeansInit, type KMeansTrainResult } from '../training/KMeans.js';
import { runSteps, type TrainSteps } from '../training/steps.js';
import type { RangeSearchResult, SearchResult } from '../types.js';
import { MAX_MEMORY_BYTES } from '../wasm/engine.js';
import { finishChunk, idPositions, largestList, positionsOf, PQ_METRICS, toUserIds, type PQMetric } from './adc.js';
import { mergeInto, moveRows, type AddBatch, type Contents, type MergeOptions } from './addBatch.js';
import { IdIndex } from './idIndex.js';
import { compactLists, identityRows, listSlots } from './lists.js';
import { RangeHits } from './range.js';
import { checkFilter, filtered, PositionFilter, updateIdSort, type FilterOptions } from './filter.js';
import { emptyResult, FlatIndex } from './FlatIndex.js';
import { chunkRows } from './scan.js';

export interface IVFFlatIndexOptions {
  d: number;
  /** Number of inverted lists (coarse k-means centroids). */
  nlist: number;
  /** 'l2' (default, squared Euclidean) or 'ip' (inner product). */
  metric?: PQMetric;
  /** Seed of the coarse k-means. Default 1234. */
  seed?: number;
  /** Iterations of the coarse k-means. Default 25. */
  coarseIterations?: number;
  /** Seeding of the coarse k-means: 'kmeans++' (default) or 'random' (Faiss). */
  coarseInit?: KMeansInit;
}

export interface IVFFlatSearchOptions extends FilterOptions {
  /** Lists visited per query, 1..nlist. Default 1. */
  nprobe?: number;
}

/**
 * reconstruct()'s list and slot of every position, kept beside the id map it was built with: every change that moves
 * a position (add, remove, reset) drops that map. Outside the index, so that a shared pool's view does not carry it.
 */
const SLOTS = new WeakMap<object, { listOf: Int32Array; slot: Int32Array }>();

/**
 * Inverted file over the vectors themselves (Faiss IndexIVFFlat): a k-means coarse quantizer splits the space into
 * nlist cells, each vector is stored in the list of its nearest centroid (L2), and a search computes exact distances to
 * the vectors of the nprobe lists nearest to the query (nearest centroid for 'l2', largest <q, c> for 'ip').
 * nprobe = nlist is exact search.
 *
 * Storage (wasm memory, owned): user ids i32[cap] by position (the order of addition); per list (lists.ts), its
 * positions i32[cap_l] in ascending order and its vectors f32[cap_l][d] in the same slots, as Faiss keeps them: a
 * visited list is read in one sweep, whatever order the vectors were added in (scoring rows gathered by position from
 * one array by insertion order was 2.5-4.6x slower on 100k x 64, nlist 1024, nprobe 16: bench/range.js). A list is
 * scored by scoreRows (exact squared L2 or negated inner product) and offered to the query's heap by heapPushMany with
 * its positions as ids, so ties go by insertion order and filters apply as in every other scan. A position's vector
 * is found through its list (save, reconstruct, mergeFrom). The coarse centroids live in FlatIndex objects owned by
 * the index.
 */
export class IVFFlatIndex extends IdIndex {
  readonly d: number;
  readonly nlist: number;
  readonly metric: PQMetric;
  readonly seed: number;
  readonly coarseIterations: number;
  readonly coarseInit: KMeansInit;
  private centroidsJs: Float32Array | null = null;
  private assign: FlatIndex | null = null;
  private probe: FlatIndex | null = null;
  private cap = 0;
  private readonly listPos: number[];
  private readonly listVec: number[];
  private readonly listSize: Int32Array;
  private readonly listCap: Int32Array;

  constructor(options: IVFFlatIndexOptions) {
    const W = 'new IVFFlatIndex';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 14);
    const nlist = checkInt(W, 'nlist', o.nlist, 1, 1 << 20);
    const metric = checkOneOf(W, 'metric', o.metric ?? 'l2', PQ_METRICS);
    // (its coarse KMeans takes the seed as it is)
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -KMEANS_SEED_LIMIT, KMEANS_SEED_LIMIT);
    const coarseIterations = checkInt(W, 'coarseIterations', o.coarseIterations ?? 25, 1, 1_000_000);
    const coarseInit = checkOneOf(W, 'coarseInit', o.coarseInit ?? 'kmeans++', ['kmeans++', 'random'] as const);
    super(W, 'IVFFlatIndex');
    this.d = d;
    this.nlist = nlist;
    this.metric = metric;
    this.seed = seed;
    this.coarseIterations = coarseIterations;
    this.coarseInit = coarseInit;
    this.listPos = new Array<number>(nlist).fill(0);
    this.listVec = new Array<number>(nlist).fill(0);
    this.listSize = new Int32Array(nlist);
    this.listCap = new Int32Array(nlist);
  }

  get isTrained(): boolean {
    return this.assign !== null;
  }

  get size(): number {
    this.alive('IVFFlatIndex.size');
    return this.n;
  }

  /** Bytes per vector: the floats, its list position and its user id. */
  get bytesPerVector(): number {
    return 4 * this.d + 8;
  }

  /** Vectors per list. */
  get listSizes(): Int32Array {
    this.alive('IVFFlatIndex.listSizes');
    return this.listSize.slice();
  }

  /** A copy of the coarse centroids, f32[nlist][d]. */
  get centroids(): Float32Array {
    const where = 'IVFFlatIndex.centroids';
    this.alive(where);
    return this.trainedOr(where).slice();
  }

  private trainedOr(where: string): Float32Array {
    if (!this.centroidsJs) fail('NOT_TRAINED', where, 'the index is not trained', raw('an untrained IVFFlatIndex'), 'train(x) first');
    return this.centroidsJs;
  }

  /** Trains the coarse quantizer (k-means, nlist centroids, n >= nlist). Refused once the index holds vectors. */
  train(x: Float32Array): { coarseObjective: number } {
    return runSteps(this.trainSteps(x));
  }

  /** @internal train() as steps (training/steps.ts): the coarse k-means is yielded, for WorkerPool.trainIndex. */
  *trainSteps(x: Float32Array): TrainSteps<{ coarseObjective: number }> {
    const where = 'IVFFlatIndex.train';
    // again after the step: while a pool trains, this thread may have disposed or filled the index
    const trainable = () => {
      this.alive(where);
      if (this.n > 0) fail('INVALID_OPTION', where, 'the index already holds vectors assigned with the current centroids', raw(`size ${this.n}`), 'train before add (or a new index)');
    };
    trainable();
    const n = checkVectors(where, 'x', x, this.d);
    if (n < this.nlist) fail('TOO_FEW_POINTS', where, 'fewer training vectors than lists', raw(`n = ${n}`), `n >= nlist = ${this.nlist}`);
    const km = new KMeans({ d: this.d, k: this.nlist, seed: this.seed, iterations: this.coarseIterations, init: this.coarseInit, minPointsPerCentroid: 0 });
    try {
      const { objective } = (yield { kind: 'kmeans', model: km, x }) as KMeansTrainResult;
      trainable();
      this.setCentroids(km.centroids);
      return { coarseObjective: objective[objective.length - 1] };
    } finally {
      km.dispose();
    }
  }

  private setCentroids(centroids: Float32Array): void {
    const { d } = this;
    const assign = new FlatIndex({ d, metric: 'l2' });
    let probe = assign;
    try {
      assign.add(centroids);
      if (this.metric === 'ip') {
        probe = new FlatIndex({ d, metric: 'ip' });
        probe.add(centroids);
      }
    } catch (e) {
      assign.dispose();
      if (probe !== assign) probe.dispose();
      throw e;
    }
    this.dropCoarse();
    this.assign = assign;
    this.probe = probe;
    this.centroidsJs = centroids;
  }

  private dropCoarse(): void {
    this.assign?.dispose();
    if (this.probe !== this.assign) this.probe?.dispose();
    this.assign = this.probe = null;
  }

  /**
   * Adds n vectors to the lists of their nearest centroids; `ids` (Int32Array, each >= 0) default to the ids after the
   * largest one stored (size .. size + n - 1 until ids are given or vectors removed).
   */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'IVFFlatIndex.add';
    this.checkAdd(where, x, ids);
    this.appendBatch(where, this.encodeForAdd(where, x), x, ids);
  }

  /** @internal add()'s checks (WorkerPool.add too); returns n. */
  checkAdd(where: string, x: Float32Array, ids: Int32Array | undefined): number {
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    this.trainedOr(where);
    if (this.n + n > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${this.n + n}`), 'at most 2^31 - 1');
    return n;
  }

  /** @internal add()'s first half: the list of each vector. Changes nothing. */
  encodeForAdd(where: string, x: Float32Array): AddBatch {
    this.trainedOr(where);
    return { labels: this.assign!.search(x, 1).ids, codes: null };
  }

  /** @internal The centroids a batch was computed with: replaced by every train(). */
  addVersion(): unknown {
    return this.centroidsJs;
  }

  /**
   * Appends the vectors of `other`, an IVFFlatIndex trained as this one is (a copy of this one's save({ empty: true })
   * filled elsewhere), each into the same list, with other's ids plus options.addId (Faiss merge_from). other is left
   * as it was. A different training is INVALID_OPTION.
   */
  mergeFrom(other: IVFFlatIndex, options?: MergeOptions): void {
    mergeInto('IVFFlatIndex.mergeFrom', this, other, options);
  }

  protected freshBuffers(where: string): void {
    this.reserveGlobal(this.n, where, true);
    for (let l = 0; l < this.nlist; l++) this.reserveList(l, this.listSize[l], where, true);
  }

  /**
   * @internal remove(): the kept ids move down in place, and each list keeps its kept vectors in order with their
   * new positions, still ascending (as adding the kept vectors alone would list them).
   */
  compact(where: string, keep: Int32Array): boolean {
    const eng = this.alive(where);
    this.unshare(where);
    const newPos = this.newPositions(keep);
    moveRows(new Uint8Array(eng.abi.memory.buffer), this.idsPtr, 4, keep);
    compactLists(eng, newPos, this.listPos, this.listSize, [[this.listVec, this.d * 4]]);
    this.resized(keep.length);
    return true;
  }

  protected override emptyLists(): void {
    this.listSize.fill(0);
  }

  /** @internal mergeFrom's snapshot of this index: each position's list, the vectors, the ids. */
  contents(_where: string): Contents {
    const { listOf, x } = this.rowsAt(Int32Array.from({ length: this.n }, (_, i) => i));
    return { batch: { labels: listOf, codes: null }, x, ids: this.storedIds() };
  }

  /** The list of every position (by position), and copies of the vectors at positions pos (in range), f32[pos.length][d]. */
  private rowsAt(pos: Int32Array, slots = listSlots(this.eng, this.n, this.listPos, this.listSize)): { listOf: Int32Array; x: Float32Array } {
    const { d } = this;
    const { listOf, slot } = slots;
    const x = new Float32Array(pos.length * d);
    const f32 = new Float32Array(this.eng.abi.memory.buffer);
    for (let i = 0; i < pos.length; i++) {
      const at = (this.listVec[listOf[pos[i]]] >>> 2) + slot[pos[i]] * d;
      x.set(f32.subarray(at, at + d), i * d);
    }
    return { listOf, x };
  }

  /** @internal add()'s second half: appends the vectors x of batch b (from encodeForAdd with this addVersion()). */
  appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void {
    const eng = this.alive(where);
    const labels = b.labels!;
    const n = labels.length;
    const total = this.n + n;
    if (total > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${total}`), 'at most 2^31 - 1');
    // (before place() writes positions into the lists: it throws where the default ids would pass 2^31 - 1)
    const first = ids ? 0 : this.nextId.take(where, n, () => eng.i32(this.idsPtr, this.n));
    this.place(labels, x, where);
    if (ids) this.nextId.given(ids);
    const idView = eng.i32(this.idsPtr, total);
    if (ids) idView.set(ids, this.n);
    else for (let i = 0; i < n; i++) idView[this.n + i] = first + i;
    this.n = total;
    this.idMap = null;
  }

  /**
   * Makes room for the vectors x and appends them, positions size.., to the lists `labels` names (reserving
   * everything first: a failure leaves the lists as they were).
   */
  private place(labels: Int32Array, x: Float32Array, where: string): void {
    const { d } = this;
    const n = labels.length;
    const count = new Int32Array(this.nlist);
    for (let i = 0; i < n; i++) count[labels[i]]++;
    this.reserveGlobal(this.n + n, where);
    for (let l = 0; l < this.nlist; l++) if (count[l] > 0) this.reserveList(l, this.listSize[l] + count[l], where);
    const i32 = new Int32Array(this.eng.abi.memory.buffer);
    const f32 = new Float32Array(this.eng.abi.memory.buffer);
    for (let i = 0; i < n; i++) {
      const l = labels[i];
      const at = this.listSize[l]++;
      i32[(this.listPos[l] >>> 2) + at] = this.n + i;
      const o = (this.listVec[l] >>> 2) + at * d;
      for (let j = 0; j < d; j++) f32[o + j] = x[i * d + j];
    }
  }

  private reserveGlobal(total: number, where: string, fresh = false): void {
    if (total <= this.cap && !fresh) return;
    const cap = total <= this.cap ? this.cap : Math.ceil(Math.max(total, this.cap * 1.5, 16));
    // (a lower bound: the lists' vectors and positions at their count, not their capacity; a list that cannot grow
    // fails in its own allocation, with the same error and nothing changed)
    const need = cap * 4 + total * (4 * this.d + 4);
    if (need > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, `${total} vectors do not fit in WebAssembly memory`, raw(`${(need / 1024 ** 3).toFixed(2)} GiB`), 'at most 4 GiB per index; shard across indexes');
    [this.idsPtr] = this.regrow(where, [{ ptr: this.idsPtr, bytes: cap * 4, keep: this.n * 4 }]);
    this.cap = cap;
  }

  private reserveList(l: number, size: number, where: string, fresh = false): void {
    if (size <= this.listCap[l] && !(fresh && this.listCap[l] > 0)) return;
    // (at least 1 KB of vectors: with many lists of few vectors each, a minimum in rows would multiply large ones)
    const cap = size <= this.listCap[l] ? this.listCap[l] : Math.ceil(Math.max(size, this.listCap[l] * 1.5, 256 / this.d));
    const used = this.listSize[l];
    [this.listPos[l], this.listVec[l]] = this.regrow(where, [
      { ptr: this.listPos[l], bytes: cap * 4, keep: used * 4 },
      { ptr: this.listVec[l], bytes: cap * this.d * 4, keep: used * this.d * 4 },
    ]);
    this.listCap[l] = cap;
  }

  /**
   * The k nearest vectors to each query among the nprobe lists closest to it: squared L2 ascending or inner product
   * descending, exact; ties by insertion order. Filters (exclude / allow) as for every index.
   */
  search(q: Float32Array, k: number, options: IVFFlatSearchOptions = {}): SearchResult {
    const where = 'IVFFlatIndex.search';
    const eng = this.alive(where);
    const { d } = this;
    const nq = checkVectors(where, 'queries', q, d);
    checkK(where, k, nq);
    const o = checkOptions(where, options);
    const nprobe = checkInt(where, 'nprobe', o.nprobe ?? 1, 1, this.nlist);
    const spec = checkFilter(where, o, nq);
    this.trainedOr(where);
    if (this.n === 0) return emptyResult(nq, k, this.metric);
    // coarse step first, before the filter's bitmap (over this index's positions) is armed
    const coarse = this.probe!.search(q, nprobe);
    const flt = spec ? new PositionFilter(spec, this.n, eng.i32(this.idsPtr, this.n), (ids) => (this.idSort = updateIdSort(this.idSort, ids))) : null;
    return filtered(eng, where, flt, () => this.scanProbed(q, coarse, nprobe, nq, k, flt));
  }

  /**
   * The vectors within `radius` of each query among its nprobe nearest lists (Faiss IndexIVFFlat range_search):
   * squared L2 < radius for 'l2', inner product > radius for 'ip'; best first, ties by insertion order, with the
   * distances search() gives for the same pairs. nprobe = nlist: every vector. Filters as for search().
   */
  rangeSearch(q: Float32Array, radius: number, options: IVFFlatSearchOptions = {}): RangeSearchResult {
    const where = 'IVFFlatIndex.rangeSearch';
    const eng = this.alive(where);
    const { d } = this;
    const hits = new RangeHits(where, q, d, radius, this.metric, options);
    const nprobe = checkInt(where, 'nprobe', hits.options.nprobe ?? 1, 1, this.nlist);
    this.trainedOr(where);
    if (this.n > 0) {
      const coarse = this.probe!.search(q, nprobe);
      const block = this.blockRows();
      const [qp, sp, hitIdx, hitDist, rowIdx] = eng.scratch([d * 4, block * 4, block * 4, block * 4, block * 4], where);
      identityRows(eng, rowIdx, block);
      for (let qi = 0; qi < hits.nq; qi++) {
        eng.f32(qp, d).set(q.subarray(qi * d, (qi + 1) * d));
        for (let p = 0; p < nprobe; p++) {
          const l = coarse.ids[qi * nprobe + p];
          if (l < 0) continue;
          const pos = eng.i32(this.listPos[l], this.listSize[l]).slice();
          // exact scores (squared L2, or -<q, x>): rangeHits with nothing to add
          this.scoreList(qp, l, sp, rowIdx, block, (b0, cnt) => hits.collect(eng, qi, sp, cnt, 0, hitIdx, hitDist, (j) => pos[b0 + j]));
        }
      }
    }
    return hits.result(this.storedIds());
  }

  private scanProbed(q: Float32Array, coarse: SearchResult, nprobe: number, nq: number, k: number, flt: PositionFilter | null): SearchResult {
    const where = 'IVFFlatIndex.search';
    const eng = this.eng;
    const { d } = this;
    const block = this.blockRows();
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const rows = chunkRows(d * 4 + k * 8, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [qp, hd, hi, sp, rowIdx] = eng.scratch([c * d * 4, c * k * 4, c * k * 4, block * 4, block * 4], where);
      identityRows(eng, rowIdx, block);
      eng.f32(qp, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      eng.abi.heapInit(hd, hi, c * k);
      flt?.armChunk(eng, hd, k, q0);
      for (let qi = 0; qi < c; qi++) {
        for (let p = 0; p < nprobe; p++) {
          const l = coarse.ids[(q0 + qi) * nprobe + p];
          if (l < 0) continue;
          // exact scores of the list's rows, then offered to this query's heap (positions as ids)
          this.scoreList(qp + qi * d * 4, l, sp, rowIdx, block, (b0, cnt) => eng.abi.heapPushMany(hd + qi * k * 4, hi + qi * k * 4, k, sp, this.listPos[l] + b0 * 4, cnt));
        }
      }
      finishChunk(eng, hd, hi, c, k, k, d, this.metric, null, ids, distances, q0, flt);
    }
    return { ids: toUserIds(eng, this.idsPtr, this.n, ids), distances };
  }

  /** Rows a list is scored in at a time: its scores and row indices take 8 bytes a row of scratch, not of the list. */
  private blockRows(): number {
    return Math.min(largestList(this.listSize), 4096);
  }

  /**
   * Scores list l's rows against the query at qPtr (squared L2, or -<q, x> for 'ip') into sp, `block` rows at a
   * time (rowIdx: identityRows of block), calling done(first row, rows) after each block.
   */
  private scoreList(qPtr: number, l: number, sp: number, rowIdx: number, block: number, done: (b0: number, count: number) => void): void {
    const size = this.listSize[l];
    for (let b0 = 0; b0 < size; b0 += block) {
      const count = Math.min(block, size - b0);
      this.eng.abi.scoreRows(qPtr, this.listVec[l] + b0 * this.d * 4, rowIdx, count, this.d, this.metric === 'l2' ? 0 : 1, sp);
      done(b0, count);
    }
  }

  /** Copies of the stored vectors by user id (an id added twice gives its first vector). */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'IVFFlatIndex.reconstruct';
    const eng = this.alive(where);
    const map = (this.idMap ??= idPositions(eng, this.idsPtr, this.n));
    let slots = SLOTS.get(map);
    if (!slots) SLOTS.set(map, (slots = listSlots(eng, this.n, this.listPos, this.listSize)));
    return this.rowsAt(positionsOf(where, ids, (id) => map.get(id)), slots).x;
  }

  /**
   * The index as bytes (kind IVFFlatIndex). Sections when trained: COAR coarse centroids f32[nlist][d]; VECS the
   * vectors f32[n][d] and IDS user ids i32[n] by position; LIST the list of each position i32[n] (a list's positions
   * are ascending, so the lists are rebuilt exactly).
   */
  save(options?: SaveOptions): Uint8Array {
    const where = 'IVFFlatIndex.save';
    const eng = this.alive(where);
    const n = saveEmpty(where, options) ? 0 : this.n;
    const params = {
      d: this.d, nlist: this.nlist, metric: this.metric, seed: this.seed, coarseIterations: this.coarseIterations,
      coarseInit: this.coarseInit, n, trained: this.isTrained,
    };
    const sections: Section[] = [];
    if (this.centroidsJs) {
      const { listOf, x } = n > 0 ? this.rowsAt(Int32Array.from({ length: n }, (_, i) => i)) : { listOf: new Int32Array(0), x: new Float32Array(0) };
      sections.push(
        { tag: 'COAR', data: this.centroidsJs },
        { tag: 'VECS', data: x },
        { tag: 'IDS ', data: eng.i32(this.idsPtr, n) },
        { tag: 'LIST', data: listOf.subarray(0, n) },
      );
    }
    return writeContainer('IVFFlatIndex', params, sections);
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): IVFFlatIndex {
    const where = 'IVFFlatIndex.load';
    const c = readContainer(where, bytes, 'IVFFlatIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const nlist = paramInt(where, c, 'nlist', 1, 1 << 20);
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    const trained = paramBool(where, c, 'trained');
    let index: IVFFlatIndex;
    try {
      index = new IVFFlatIndex({
        d, nlist, metric, seed: paramInt(where, c, 'seed', -KMEANS_SEED_LIMIT, KMEANS_SEED_LIMIT),
        coarseIterations: paramInt(where, c, 'coarseIterations', 1, 1_000_000), coarseInit: paramString(where, c, 'coarseInit', ['kmeans++', 'random'] as const),
      });
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (!trained) {
      if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
      return index;
    }
    try {
      const centroids = sectionF32(where, c, 'COAR', nlist * d).slice();
      const vecs = sectionF32(where, c, 'VECS', n * d);
      const ids = sectionI32(where, c, 'IDS ', n);
      const list = sectionI32(where, c, 'LIST', n);
      for (let i = 0; i < n; i++) {
        if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
        if (list[i] < 0 || list[i] >= nlist) fail('CORRUPT_DATA', where, 'a list number is out of range', list[i], `0..${nlist - 1}`);
      }
      index.setCentroids(centroids);
      if (n > 0) {
        index.place(list, vecs, where);
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
    if (this.disposed) return;
    this.dropCoarse();
    super.dispose();
  }
}
