import { checkInt, checkK, checkOneOf, checkOptions, checkUserIds, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import {
  paramBool, paramInt, paramString, readContainer, saveEmpty, sectionF32, sectionI32, sectionU8, writeContainer, type SaveOptions, type Section,
} from '../io/format.js';
import { OPQ } from '../quantizers/OPQ.js';
import { ProductQuantizer, type PQKernelView } from '../quantizers/ProductQuantizer.js';
import { handOut, quantizerAlive } from '../quantizers/Quantizer.js';
import { KMeans, type KMeansInit, type KMeansTrainResult } from '../training/KMeans.js';
import { runSteps, type TrainSteps } from '../training/steps.js';
import type { RangeSearchResult, SearchResult } from '../types.js';
import { MAX_MEMORY_BYTES } from '../wasm/engine.js';
import {
  candidatesPerQuery, largestList, checkPQCommon, scanKsub, scanTables, finishChunk, storedRows, idPositions, positionsOf, PQ_METRICS, savedAnisotropicThreshold, toUserIds, type PQCommon, type PQCommonOptions,
  type PQMetric,
} from './adc.js';
import { mergeInto, moveRows, type AddBatch, type Contents, type MergeOptions } from './addBatch.js';
import { IdIndex } from './idIndex.js';
import { compactLists, listSlots } from './lists.js';
import { fsBytes, fsRead, fsReadRows, fsTables, fsWrite, FS_FAISS_IP_MAX_M } from './fastscan.js';
import { checkFilter, filtered, PositionFilter, updateIdSort, type FilterOptions } from './filter.js';
import { emptyResult, FlatIndex } from './FlatIndex.js';
import { RangeHits } from './range.js';
import { chunkRows } from './scan.js';

export interface IVFPQIndexOptions extends PQCommonOptions {
  /** Number of inverted lists (coarse k-means centroids). */
  nlist: number;
  /** Iterations of the coarse k-means. Default 25. */
  coarseIterations?: number;
  /**
   * Seeding of the coarse k-means: 'kmeans++' (default) or 'random' (Faiss). Measured: on the demo's items (100 topics,
   * nlist = 128) random seeding leaves topics without a centroid (a list of 777 vectors against at most 402) and drops
   * recall@10 at nprobe = 4 from 0.718 to 0.654; on a 100k mixture of 256 Gaussians with nlist = 1024 it routes 53 %
   * of queries to their nearest neighbour's list at nprobe = 1 against 51 %; on MovieLens the two tie (mean over 8
   * seeds 0.513 and 0.518).
   */
  coarseInit?: KMeansInit;
}

export interface IVFPQSearchOptions extends FilterOptions {
  /** Lists visited per query, 1..nlist. Default 1. */
  nprobe?: number;
  /** Re-rank this many candidates exactly (needs refine: true). */
  rerank?: number;
}

export interface IVFPQTrainResult {
  /** Final objective of the coarse k-means (sum of squared distances to the nearest centroid). */
  coarseObjective: number;
  /** Mean squared error of the residual PQ on its training sample. */
  residualMse: number;
  /** Mean squared OPQ rotation-step error per alternating step (opq only). */
  opqMse?: number[];
}

// Largest precomputed L2 table (nlist x m x ksub floats) kept; beyond it, tables are computed per visited list
// (Faiss's use_precomputed_table has the same trade-off).
let maxPrecomputedBytes = 256 * 1024 * 1024;

/**
 * @internal Tests: sets the precomputed-table limit that later train() / load() calls see (0: never precompute, so
 * that the per-list residual tables can be tested without a 256 MiB table); returns the previous limit.
 */
export function setMaxPrecomputedBytes(bytes: number): number {
  const was = maxPrecomputedBytes;
  maxPrecomputedBytes = bytes;
  return was;
}
// Codes unpacked per block when nbits < 8.
const UNPACK_BLOCK = 4096;

/**
 * Inverted file with product-quantized residuals (Jégou et al. 2011; Faiss IndexIVFPQ, by_residual): a k-means coarse
 * quantizer splits the space into nlist cells, each vector is stored in the list of its nearest centroid c as the PQ
 * code of x - c, and a search visits the nprobe lists nearest to the query.
 *
 * Distances. L2: ||q - c - r||^2 = ||q - c||^2 + (||r||^2 + 2 <c, r>) - 2 <q, r>; the middle term is kept per vector
 * (float ADC: listNorms, see usesNorms) or, for fast-scan, a per-list table precomputed at training (nlist x m x ksub
 * floats, up to 256 MiB; above that, the table of q - c is built per visited list) added to the query's for each
 * visited list; the last term is one table per query. Inner product:
 * <q, c + r> = <q, c> + <q, r>: one table per query, and the query-centroid term <q, c> is added back for each list.
 * Lists are chosen by nearest centroid (l2) or largest <q, c> (ip); vectors always go to their nearest centroid in L2.
 *
 * With 4-bit codes lists are scanned with fast-scan (option fastScan, default on for nbits 4; Faiss IndexIVFPQFastScan):
 * each visited list's float table is quantized to u8 on its own (scale and bias per list and query), so distances
 * from different lists stay in real units and compare in one heap.
 *
 * Storage (wasm memory, owned): per list, codes u8[cap][codeSize] (fastScan: the 32-vector block layout of
 * assembly/kernels/fastscan.ts) and positions i32[cap] (the order of addition);
 * ids i32[cap] (user id of each position); with refine, the original vectors f32[cap][d] by position. The coarse
 * centroids live in FlatIndex objects (exact search), the residual codebook in a ProductQuantizer, the rotation in an
 * OPQ; all owned by the index.
 */
export class IVFPQIndex extends IdIndex {
  readonly d: number;
  readonly nlist: number;
  readonly m: number;
  readonly nbits: number;
  readonly metric: PQMetric;
  readonly opq: boolean;
  readonly refine: boolean;
  /** 4-bit fast-scan lists (see the class comment). */
  readonly fastScan: boolean;
  readonly coarseIterations: number;
  readonly coarseInit: KMeansInit;
  private readonly common: PQCommon;
  private trained: Trained | null = null;
  private cap = 0;
  private vecPtr = 0;
  private listCodes: number[] = [];
  private listPos: number[] = [];
  // L2 ADC codes (not fast-scan): each vector's ||r||^2 + 2 <c, r>, f32[listCap[l]] per list (see fillNorms)
  private listNorms: number[] = [];
  private listSize: Int32Array;
  private listCap: Int32Array;

  constructor(options: IVFPQIndexOptions) {
    const W = 'new IVFPQIndex';
    const o = checkOptions(W, options);
    const c = checkPQCommon(W, o);
    const nlist = checkInt(W, 'nlist', o.nlist, 1, 1 << 20);
    const coarseIterations = checkInt(W, 'coarseIterations', o.coarseIterations ?? 25, 1, 1_000_000);
    const coarseInit = checkOneOf(W, 'coarseInit', o.coarseInit ?? 'kmeans++', ['kmeans++', 'random'] as const);
    super(W, 'IVFPQIndex');
    this.coarseInit = coarseInit;
    this.common = c;
    this.d = c.d;
    this.m = c.m;
    this.nbits = c.nbits;
    this.metric = c.metric;
    this.opq = c.opq;
    this.refine = c.refine;
    this.fastScan = c.fastScan;
    this.nlist = nlist;
    this.coarseIterations = coarseIterations;
    this.listSize = new Int32Array(nlist);
    this.listCap = new Int32Array(nlist);
    this.listCodes = new Array<number>(nlist).fill(0);
    this.listPos = new Array<number>(nlist).fill(0);
    this.listNorms = new Array<number>(nlist).fill(0);
  }

  /**
   * Whether vectors keep their L2 term ||r||^2 + 2 <c, r> (4 bytes each): L2 with float ADC. search() then scans a
   * list with the query's own table -2 <q, r> (one per query, as for ip), the list's ||q - c||^2 and each vector's
   * term, instead of adding a precomputed nlist x m x ksub table to it for every visited list (Faiss's
   * use_precomputed_table), whose 16 KB reads a list (m = 16, 8 bits) from a table of megabytes cost as much as the
   * scan. Fast-scan keeps the precomputed table: its u16 sums have no room for a per-vector float.
   */
  private get usesNorms(): boolean {
    return this.metric === 'l2' && !this.fastScan;
  }

  get isTrained(): boolean {
    return this.trained !== null;
  }

  get size(): number {
    this.alive('IVFPQIndex.size');
    return this.n;
  }

  get codeSize(): number {
    return Math.ceil((this.m * this.nbits) / 8);
  }

  /** Bytes per vector: code, list position and user id (4 + 4), the L2 term (4, L2 float ADC), plus 4 d with refine. */
  get bytesPerVector(): number {
    return this.codeSize + 8 + (this.usesNorms ? 4 : 0) + (this.refine ? 4 * this.d : 0);
  }

  /** Vectors per list. */
  get listSizes(): Int32Array {
    this.alive('IVFPQIndex.listSizes');
    return this.listSize.slice();
  }

  /** The residual product quantizer (owned by the index). */
  get quantizer(): ProductQuantizer {
    const where = 'IVFPQIndex.quantizer';
    this.alive(where);
    // (its train() refuses while this index holds vectors encoded with it)
    return handOut(this.trainedOr(where).pq, this);
  }

  /** A copy of the coarse centroids, f32[nlist][d] (in the rotated space with opq). */
  get centroids(): Float32Array {
    const where = 'IVFPQIndex.centroids';
    this.alive(where);
    return this.trainedOr(where).centroids.slice();
  }

  private trainedOr(where: string): Trained {
    if (!this.trained) fail('NOT_TRAINED', where, 'the index is not trained', raw('an untrained IVFPQIndex'), 'train(x) first');
    return this.trained;
  }

  /**
   * Trains the rotation (opq), the coarse quantizer (k-means with nlist centroids, n >= nlist) and the residual PQ
   * on x. Refused when the index already holds vectors. If training throws, the index is left as it was.
   */
  train(x: Float32Array): IVFPQTrainResult {
    return runSteps(this.trainSteps(x));
  }

  /**
   * @internal train() as steps (training/steps.ts): OPQ's PQ trainings, the coarse k-means and the residual PQ are
   * yielded, so that WorkerPool.trainIndex can run them on its workers; the rest (OPQ's rotation search, the
   * assignment, the residuals) runs here.
   */
  *trainSteps(x: Float32Array): TrainSteps<IVFPQTrainResult> {
    const where = 'IVFPQIndex.train';
    const { d, nlist } = this;
    // again after each step: while a pool trains, this thread may have disposed or filled the index
    const trainable = () => {
      this.alive(where);
      if (this.n > 0) fail('INVALID_OPTION', where, 'the index already holds vectors encoded with the current quantizers', raw(`size ${this.n}`), 'train before add (or a new index)');
    };
    trainable();
    const n = checkVectors(where, 'x', x, d);
    if (n < nlist) fail('TOO_FEW_POINTS', where, 'fewer training vectors than lists', raw(`n = ${n}`), `n >= nlist = ${nlist}`);
    const ksub = 1 << this.nbits;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per sub-space', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    const c = this.common;
    const made: { dispose(): void }[] = [];
    let kept = false;
    try {
      let rot: OPQ | null = null;
      let xr = x;
      let opqMse: number[] | undefined;
      if (c.opq) {
        rot = new OPQ({ d, m: c.m, nbits: c.nbits, seed: c.seed, iterations: c.opqIterations, init: c.pqInit });
        made.push(rot);
        opqMse = (yield* rot.trainSteps(x)).rotationMse;
        this.alive(where);
        xr = rot.rotate(x, where);
      }
      const km = new KMeans({ d, k: nlist, seed: c.seed, iterations: this.coarseIterations, init: this.coarseInit, minPointsPerCentroid: 0 });
      made.push(km);
      const kres = (yield { kind: 'kmeans', model: km, x: xr }) as KMeansTrainResult;
      this.alive(where);
      const centroids = km.centroids;
      const labels = km.assign(xr).labels;
      const res = residuals(xr, labels, centroids, d);
      const pq = new ProductQuantizer({ d, m: c.m, nbits: c.nbits, seed: c.seed, init: c.pqInit, anisotropicThreshold: c.anisotropicThreshold });
      made.push(pq);
      // anisotropic: the residual's error is judged along the vector it is the residual of
      const pres = yield* pq.trainSteps(res, c.anisotropicThreshold === undefined ? {} : { directions: xr });
      trainable();
      const t = this.buildTrained(rot, centroids, pq, where, made);
      this.trained?.dispose((p) => this.release(p));
      this.trained = t;
      kept = true;
      km.dispose();
      return { coarseObjective: kres.objective[kres.objective.length - 1], residualMse: pres.mse, opqMse };
    } finally {
      // a failed step, a failure here, or a driver that stopped early: nothing made stays allocated
      if (!kept) for (const o of made) o.dispose();
    }
  }

  /** Coarse search indexes and precomputed tables around trained parts; registers what it creates in `made`. */
  private buildTrained(rot: OPQ | null, centroids: Float32Array, pq: ProductQuantizer, where: string, made: { dispose(): void }[]): Trained {
    const { d, nlist } = this;
    const assign = new FlatIndex({ d, metric: 'l2' });
    made.push(assign);
    assign.add(centroids);
    let probe = assign;
    if (this.metric === 'ip') {
      probe = new FlatIndex({ d, metric: 'ip' });
      made.push(probe);
      probe.add(centroids);
    }
    const v = pq.kernelView(where);
    let precomputed = 0;
    const bytes = nlist * v.m * v.ksubP * 4;
    if (this.metric === 'l2' && this.fastScan && bytes <= maxPrecomputedBytes) {
      // term ||r||^2 + 2 <c, r> of every (list, sub-space, codeword)
      precomputed = this.own(bytes, where);
      made.push({ dispose: () => this.release(precomputed) });
      const rows = chunkRows(d * 4 + v.m * v.ksubP * 4, nlist);
      for (let l0 = 0; l0 < nlist; l0 += rows) {
        const cnt = Math.min(rows, nlist - l0);
        const [cp] = this.eng.scratch([cnt * d * 4], where);
        this.eng.f32(cp, cnt * d).set(centroids.subarray(l0 * d, (l0 + cnt) * d));
        this.eng.abi.pqTables(cp, cnt, d, v.m, v.ksubP, v.centTPtr, v.cnormPtr, 2, 2, precomputed + l0 * v.m * v.ksubP * 4);
      }
    }
    return new Trained(rot, centroids, pq, assign, probe, precomputed);
  }

  /**
   * Adds n vectors to the lists of their nearest centroids; `ids` (Int32Array, each >= 0) default to the ids after the
   * largest one stored (size .. size + n - 1 until ids are given or vectors removed).
   */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = 'IVFPQIndex.add';
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

  /** @internal add()'s first half: the list of each vector and its residual code. Changes nothing. */
  encodeForAdd(where: string, x: Float32Array): AddBatch {
    const t = this.trainedOr(where);
    const xr = t.rot ? t.rot.rotate(x, where) : x;
    const labels = t.assign.search(xr, 1).ids;
    const codes = t.pq.encode(residuals(xr, labels, t.centroids, this.d), this.common.anisotropicThreshold === undefined ? undefined : xr);
    return { labels, codes };
  }

  /** @internal The trained parts a batch was computed with: replaced by every train(). */
  addVersion(): unknown {
    return this.trained;
  }

  /** @internal add()'s second half: appends the vectors x of batch b (from encodeForAdd with this addVersion()). */
  appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void {
    const eng = this.alive(where);
    const { d } = this;
    const labels = b.labels!;
    const codes = b.codes!;
    const n = labels.length;
    const total = this.n + n;
    if (total > 0x7fffffff) fail('OUT_OF_MEMORY', where, 'too many vectors', raw(`${total}`), 'at most 2^31 - 1');
    // reserve everything first: a failure leaves the index as it was (only capacities may have grown)
    const count = new Int32Array(this.nlist);
    for (let i = 0; i < n; i++) count[labels[i]]++;
    this.reserveGlobal(total, where);
    for (let l = 0; l < this.nlist; l++) if (count[l] > 0) this.reserveList(l, this.listSize[l] + count[l], where);
    const first = ids ? 0 : this.nextId.take(where, n, () => eng.i32(this.idsPtr, this.n));
    if (ids) this.nextId.given(ids);
    const cs = this.codeSize;
    if (this.fastScan) {
      // rows grouped by list (counting sort), then one block write per list
      const start = new Int32Array(this.nlist + 1);
      for (let l = 0; l < this.nlist; l++) start[l + 1] = start[l] + count[l];
      const fill = start.slice(0, this.nlist);
      const order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[fill[labels[i]]++] = i;
      const grouped = new Uint8Array(n * cs);
      for (let r = 0; r < n; r++) grouped.set(codes.subarray(order[r] * cs, (order[r] + 1) * cs), r * cs);
      for (let l = 0; l < this.nlist; l++) {
        if (count[l] === 0) continue;
        fsWrite(eng, grouped.subarray(start[l] * cs, start[l + 1] * cs), count[l], this.m, this.listCodes[l], this.listSize[l], where);
        const posView = eng.i32(this.listPos[l] + this.listSize[l] * 4, count[l]);
        for (let r = start[l]; r < start[l + 1]; r++) posView[r - start[l]] = this.n + order[r];
        this.listSize[l] += count[l];
      }
    } else {
      // (the norms' scratch before anything changes: taking it may grow memory)
      const sc = this.usesNorms ? this.normScratch(where) : null;
      const before = sc ? this.listSize.slice() : null;
      const mem = new Uint8Array(eng.abi.memory.buffer);
      const i32 = new Int32Array(eng.abi.memory.buffer);
      for (let i = 0; i < n; i++) {
        const l = labels[i];
        const at = this.listSize[l]++;
        mem.set(codes.subarray(i * cs, (i + 1) * cs), this.listCodes[l] + at * cs);
        i32[(this.listPos[l] >>> 2) + at] = this.n + i;
      }
      if (sc && before) for (let l = 0; l < this.nlist; l++) if (count[l] > 0) this.fillNorms(l, before[l], sc);
    }
    const idView = eng.i32(this.idsPtr, total);
    if (ids) idView.set(ids, this.n);
    else for (let i = 0; i < n; i++) idView[this.n + i] = first + i;
    if (this.refine) eng.f32(this.vecPtr + this.n * d * 4, n * d).set(x);
    this.n = total;
    this.idMap = null;
  }

  private reserveGlobal(total: number, where: string, fresh = false): void {
    if (total <= this.cap && !fresh) return;
    const cap = total <= this.cap ? this.cap : Math.ceil(Math.max(total, this.cap * 1.5, 16));
    const need = cap * (4 + (this.refine ? this.d * 4 : 0)) + total * (this.codeSize + 4 + (this.usesNorms ? 4 : 0));
    if (need > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, `${total} vectors do not fit in WebAssembly memory`, raw(`${(need / 1024 ** 3).toFixed(2)} GiB`), 'at most 4 GiB per index; shard across indexes');
    const vecBytes = this.refine ? this.d * 4 : 0;
    [this.idsPtr, this.vecPtr] = this.regrow(where, [
      { ptr: this.idsPtr, bytes: cap * 4, keep: this.n * 4 },
      { ptr: this.vecPtr, bytes: cap * vecBytes, keep: this.n * vecBytes },
    ]);
    this.cap = cap;
  }

  private reserveList(l: number, size: number, where: string, fresh = false): void {
    if (size <= this.listCap[l] && !(fresh && this.listCap[l] > 0)) return;
    const cap = size <= this.listCap[l] ? this.listCap[l] : Math.ceil(Math.max(size, this.listCap[l] * 1.5, 8));
    const used = this.listSize[l];
    const norms = this.usesNorms ? 4 : 0;
    [this.listCodes[l], this.listPos[l], this.listNorms[l]] = this.regrow(where, [
      { ptr: this.listCodes[l], bytes: this.codeBytes(cap), keep: used > 0 ? this.codeBytes(used) : 0 },
      { ptr: this.listPos[l], bytes: cap * 4, keep: used * 4 },
      { ptr: this.listNorms[l], bytes: cap * norms, keep: used * norms },
    ]);
    this.listCap[l] = cap;
  }

  /** fillNorms' scratch: the centroid, its term table f32[m][ksubP] and, below 8 bits, a block of unpacked codes. */
  private normScratch(where: string): { cp: number; tab: number; up: number; block: number } {
    const v = this.trainedOr(where).pq.kernelView(where);
    // (a fixed block: lists may be empty yet when the scratch is taken)
    const block = UNPACK_BLOCK;
    const [cp, tab, up] = this.eng.scratch([this.d * 4, v.m * v.ksubP * 4, v.nbits === 8 ? 0 : block * v.m + 4], where);
    return { cp, tab, up, block };
  }

  /**
   * The L2 terms ||r||^2 + 2 <c, r> = sum_j (||r_j||^2 + 2 <c_j, r_j>) of list l's vectors from position `from` on,
   * from their codes: list l's row of Faiss's precomputed table (made here, then dropped) summed over each code as
   * pqDistances sums a table. `sc` from normScratch (taken before the lists changed).
   */
  private fillNorms(l: number, from: number, sc: { cp: number; tab: number; up: number; block: number }): void {
    const eng = this.eng;
    const t = this.trained!;
    const v = t.pq.kernelView('IVFPQIndex.fillNorms');
    const { d } = this;
    eng.f32(sc.cp, d).set(t.centroids.subarray(l * d, (l + 1) * d));
    eng.abi.pqTables(sc.cp, 1, d, v.m, v.ksubP, v.centTPtr, v.cnormPtr, 2, 2, sc.tab);
    const cs = this.codeSize;
    const size = this.listSize[l];
    for (let b0 = from; b0 < size; b0 += sc.block) {
      const cnt = Math.min(sc.block, size - b0);
      let codes = this.listCodes[l] + b0 * cs;
      if (v.nbits !== 8) {
        eng.abi.pqUnpack(codes, cnt, v.m, v.nbits, sc.up);
        codes = sc.up;
      }
      eng.abi.pqDistances(codes, cnt, v.m, v.ksubP, sc.tab, 0, this.listNorms[l] + b0 * 4);
    }
  }

  /** Bytes of code storage for n vectors of one list. */
  private codeBytes(n: number): number {
    return this.fastScan ? fsBytes(n, this.m) : n * this.codeSize;
  }

  /**
   * The k nearest vectors to each query among the nprobe lists closest to it, by asymmetric distance (squared L2
   * ascending, or inner product descending). nprobe = nlist visits everything: the same result as an exhaustive scan
   * of these codes. With `rerank` (refine indexes) candidates are re-scored exactly.
   */
  search(q: Float32Array, k: number, options: IVFPQSearchOptions = {}): SearchResult {
    const where = 'IVFPQIndex.search';
    const eng = this.alive(where);
    quantizerAlive(where, this.trained?.pq);
    const { d } = this;
    const nq = checkVectors(where, 'queries', q, d);
    checkK(where, k, nq);
    const o = checkOptions(where, options);
    const nprobe = checkInt(where, 'nprobe', o.nprobe ?? 1, 1, this.nlist);
    const spec = checkFilter(where, o, nq);
    const kc = candidatesPerQuery(where, k, this.refine, o.rerank);
    const t = this.trainedOr(where);
    if (this.n === 0) return emptyResult(nq, k, this.metric);
    const rerank = o.rerank !== undefined;
    const qr = t.rot ? t.rot.rotate(q, where) : q;
    // coarse step first: FlatIndex.search uses the engine's scratch block, which the scan below reuses (and the
    // filter's bitmap is over this index's positions: it must not be armed while the coarse quantizer searches)
    const coarse = t.probe.search(qr, nprobe);
    const flt = spec ? new PositionFilter(spec, this.n, eng.i32(this.idsPtr, this.n), (ids) => (this.idSort = updateIdSort(this.idSort, ids))) : null;
    const kk = kc;
    return filtered(eng, where, flt, () => this.scanProbed(q, qr, coarse, nprobe, nq, k, kk, rerank, flt));
  }

  /**
   * The vectors within `radius` of each query among its nprobe nearest lists by the code distances search() returns
   * without re-ranking (Faiss IndexIVFPQ range_search): distance < radius for 'l2', similarity > radius for 'ip'; best
   * first, ties by insertion order, the distances of search() for the same pairs, bit for bit. Filters as for
   * search(); with refine the originals do not take part.
   */
  rangeSearch(q: Float32Array, radius: number, options: IVFPQSearchOptions = {}): RangeSearchResult {
    const where = 'IVFPQIndex.rangeSearch';
    const eng = this.alive(where);
    quantizerAlive(where, this.trained?.pq);
    const { d } = this;
    const hits = new RangeHits(where, q, d, radius, this.metric, options);
    const nprobe = checkInt(where, 'nprobe', hits.options.nprobe ?? 1, 1, this.nlist);
    const t = this.trainedOr(where);
    if (this.n > 0) {
      const qr = t.rot ? t.rot.rotate(q, where) : q;
      // (the coarse search uses the engine's scratch block: before the buffers below)
      const coarse = t.probe.search(qr, nprobe);
      const v = t.pq.kernelView(where);
      const { m, nbits, ksubP } = v;
      const l2 = this.metric === 'l2';
      const fast = this.fastScan;
      // (the tables search() scans: float ADC rows as scanKsub lays them out)
      const ks = fast ? ksubP : scanKsub(m, ksubP);
      const wide = ks !== ksubP;
      const tsize = m * ks;
      const maxList = largestList(this.listSize);
      const maxBlocks = Math.ceil(maxList / 32);
      const [qp, t3, t3n, tl, rq, up, lut, par, sums, sc, hitIdx, hitDist] = eng.scratch(
        [
          d * 4, tsize * 4, wide ? m * ksubP * 4 : 0, tsize * 4, d * 4, nbits === 8 || fast ? 0 : maxList * m + 4, fast ? tsize : 0, fast ? 8 : 0, fast ? maxBlocks * 64 : 0,
          fast ? 0 : maxList * 4, fast ? 0 : maxList * 4, fast ? 0 : maxList * 4,
        ], where,
      );
      const ipFaiss = fast && !l2 && m <= FS_FAISS_IP_MAX_M;
      for (let qi = 0; qi < hits.nq; qi++) {
        eng.f32(qp, d).set(qr.subarray(qi * d, (qi + 1) * d));
        // the tables scanProbed makes, for one query
        if (!l2 || this.usesNorms || t.precomputed) scanTables(eng, v, qp, 1, 1, l2 ? -2 : ipFaiss ? 1 : -1, ks, t3n, t3);
        const ipParams = fast && !l2 ? fsTables(eng, t3, 1, m, lut, par, ipFaiss) : null;
        for (let p = 0; p < nprobe; p++) {
          const at = qi * nprobe + p;
          const l = coarse.ids[at];
          const size = l < 0 ? 0 : this.listSize[l];
          if (size === 0) continue;
          const { table, bias } = this.listTable(t, v, l, coarse.distances[at], qp, t3, tl, rq);
          const pos = eng.i32(this.listPos[l], size);
          if (fast) {
            const f = this.fastTable(v, table, bias, ipParams, 0, lut, par);
            // fsScan's distances: f32(sum) * invScale + bias, the bias as the f32 it is passed as
            eng.abi.fsScores(this.listCodes[l], Math.ceil(size / 32), m, f.lut, sums);
            hits.collectFastScan(qi, new Uint16Array(eng.abi.memory.buffer, sums, size), size, f.inv, Math.fround(f.bias), (j) => pos[j]);
            continue;
          }
          if (nbits === 8) {
            eng.abi.pqDistances(this.listCodes[l], size, m, ks, table, bias, sc);
          } else {
            eng.abi.pqUnpack(this.listCodes[l], size, m, nbits, up);
            eng.abi.pqDistances(up, size, m, ks, table, bias, sc);
          }
          if (this.usesNorms) {
            // pqScan's (bias + sum) + norm, in float32
            const sv = eng.f32(sc, size);
            const nv = eng.f32(this.listNorms[l], size);
            for (let j = 0; j < size; j++) sv[j] += nv[j];
          }
          hits.collect(eng, qi, sc, size, 0, hitIdx, hitDist, (j) => pos[j]);
        }
      }
    }
    return hits.result(this.storedIds());
  }

  /**
   * The table and bias one query scans list l with (scanProbed and rangeSearch): t3q is the query's table made before
   * the lists (-2 <q, r> for l2 with per-vector terms or precomputed ones, -<q, r> or, for Faiss-style fast-scan,
   * +<q, r> for ip). l2 float ADC: t3q, bias ||q - c||^2 (coarseDist; the scan adds each vector's term). l2 fast-scan:
   * t3q plus the list's precomputed terms into tl, bias ||q - c||^2; without precomputed terms, the residual's own
   * table from the query at qPtr (through rq) into tl, bias 0. ip: t3q, bias -<q, c> (the query-centroid term, added
   * back).
   */
  private listTable(t: Trained, v: PQKernelView, l: number, coarseDist: number, qPtr: number, t3q: number, tl: number, rq: number): { table: number; bias: number } {
    const eng = this.eng;
    const { d } = this;
    const { m, ksubP } = v;
    if (!this.fastScan || this.metric !== 'l2') return { table: t3q, bias: this.adcBias(coarseDist) };
    if (t.precomputed) {
      eng.abi.addTables(t.precomputed + l * m * ksubP * 4, t3q, m * ksubP, tl);
      return { table: tl, bias: coarseDist };
    }
    const rv = eng.f32(rq, d);
    const qv = eng.f32(qPtr, d);
    for (let j = 0; j < d; j++) rv[j] = qv[j] - t.centroids[l * d + j];
    eng.abi.pqTables(rq, 1, d, m, ksubP, v.centTPtr, v.cnormPtr, 0, 1, tl);
    return { table: tl, bias: 0 };
  }

  /** A list's bias beside the query's own table: l2 ||q - c||^2 (coarseDist), ip -<q, c> (added back). */
  private adcBias(coarseDist: number): number {
    return this.metric === 'l2' ? coarseDist : 0 - coarseDist;
  }

  /**
   * Fast-scan's quantized table, inv and bias for a list whose float table and bias listTable gave: for ip the query's
   * one quantized table (ipParams from fsTables over the chunk's tables, query qi's at lut + qi m ksubP) with its own
   * bias added; for l2 the list's own table, quantized on its own into lut / par.
   */
  private fastTable(v: PQKernelView, table: number, bias: number, ipParams: Float32Array | null, qi: number, lut: number, par: number): { lut: number; inv: number; bias: number } {
    if (ipParams) return { lut: lut + qi * v.m * v.ksubP, inv: ipParams[2 * qi], bias: bias + ipParams[2 * qi + 1] };
    const pv = fsTables(this.eng, table, 1, v.m, lut, par, false);
    return { lut, inv: pv[0], bias: bias + pv[1] };
  }

  /** search() after the coarse step: the nprobe lists of each query, scanned with its tables into heaps of kk. */
  private scanProbed(
    q: Float32Array, qr: Float32Array, coarse: SearchResult, nprobe: number, nq: number, k: number, kk: number, rerank: boolean,
    flt: PositionFilter | null,
  ): SearchResult {
    const where = 'IVFPQIndex.search';
    const eng = this.eng;
    const { d } = this;
    const t = this.trainedOr(where);
    const v = t.pq.kernelView(where);
    const { m, nbits, ksubP, codeSize } = v;
    const fast = this.fastScan;
    // float ADC tables are scanned with rows 256 apart where m % 4 == 0, whatever the code width (scanKsub)
    const ks = fast ? ksubP : scanKsub(m, ksubP);
    const wide = ks !== ksubP;
    const tsize = m * ks;
    const l2 = this.metric === 'l2';
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    const maxList = largestList(this.listSize);
    const block = Math.min(UNPACK_BLOCK, maxList);
    // 8-bit float ADC makes each query's table just before its lists (one 16 KB table stays in cache, where a chunk's
    // tables made up front took megabytes); list by list (bit-packed) and fast-scan need the chunk's tables at once
    const oneTable = !fast && nbits === 8;
    const rows = chunkRows(d * 8 + tsize * (oneTable ? 1 : 5) + (wide ? m * ksubP * 4 : 0) + 8 + kk * 12, nq);
    for (let q0 = 0; q0 < nq; q0 += rows) {
      const c = Math.min(rows, nq - q0);
      const [qp, qo, t3, t3n, tl, rq, hd, hi, up, sp, rd, ri, lut, par] = eng.scratch(
        [
          c * d * 4, rerank ? c * d * 4 : 0, (oneTable ? 1 : c) * tsize * 4, wide ? c * m * ksubP * 4 : 0, tsize * 4, d * 4, c * kk * 4, c * kk * 4, nbits === 8 || fast ? 0 : block * m + 4,
          rerank ? kk * 4 : 0, rerank ? c * k * 4 : 0, rerank ? c * k * 4 : 0, fast ? c * tsize : 0, fast ? c * 8 : 0,
        ], where,
      );
      eng.f32(qp, c * d).set(qr.subarray(q0 * d, (q0 + c) * d));
      if (rerank) eng.f32(qo, c * d).set(q.subarray(q0 * d, (q0 + c) * d));
      // per-query tables: -2 <q, r> (l2 with precomputed terms) or -<q, r> (ip; +<q, r> for fast-scan, see fsTables)
      const ipFaiss = fast && !l2 && m <= FS_FAISS_IP_MAX_M;
      const scale = l2 ? -2 : ipFaiss ? 1 : -1;
      if (!oneTable && (!l2 || this.usesNorms || t.precomputed)) scanTables(eng, v, qp, c, 1, scale, ks, t3n, t3);
      // fast-scan, ip: one quantized table per query serves every list (only the bias <q, c> differs), quantized as
      // PQIndex quantizes it
      const ipParams = fast && !l2 ? fsTables(eng, t3, c, m, lut, par, ipFaiss) : null;
      eng.abi.heapInit(hd, hi, c * kk);
      flt?.armChunk(eng, hd, kk, q0);
      if (!fast && nbits !== 8) {
        this.scanPacked(v, coarse, nprobe, q0, c, t3, ks, kk, hd, hi, up, block);
      } else for (let qi = 0; qi < c; qi++) {
        const hdq = hd + qi * kk * 4;
        const hiq = hi + qi * kk * 4;
        if (oneTable) scanTables(eng, v, qp + qi * d * 4, 1, 1, scale, ks, t3n, t3);
        const t3q = oneTable ? t3 : t3 + qi * tsize * 4;
        for (let p = 0; p < nprobe; p++) {
          const at = (q0 + qi) * nprobe + p;
          const l = coarse.ids[at];
          if (l < 0 || this.listSize[l] === 0) continue;
          const { table, bias } = this.listTable(t, v, l, coarse.distances[at], qp + qi * d * 4, t3q, tl, rq);
          if (fast) {
            const f = this.fastTable(v, table, bias, ipParams, qi, lut, par);
            eng.abi.fsScan(this.listCodes[l], this.listSize[l], m, f.lut, f.inv, f.bias, kk, hdq, hiq, this.listPos[l], 0);
            continue;
          }
          this.scanList(v, l, table, bias, kk, hdq, hiq);
        }
      }
      const rr = rerank ? { qPtr: qo, vecPtr: this.vecPtr, scorePtr: sp, rd, ri } : null;
      finishChunk(eng, hd, hi, c, kk, k, d, this.metric, rr, ids, distances, q0, flt);
    }
    return { ids: toUserIds(eng, this.idsPtr, this.n, ids), distances };
  }

  /** One query's scan of list l's 8-bit codes with its table and bias, into its heap. */
  private scanList(v: PQKernelView, l: number, table: number, bias: number, kk: number, hd: number, hi: number): void {
    this.eng.abi.pqScan(this.listCodes[l], this.listSize[l], v.m, v.ksubP, table, bias, this.listNorms[l], kk, hd, hi, this.listPos[l], 0);
  }

  /**
   * The scan of a chunk's c queries (q0 ..) over bit-packed codes (nbits < 8, float ADC), list by list: each probed
   * list is unpacked (a block of up to `block` codes at a time) once for all the chunk's queries that probe it, not
   * once per query (unpacking cost 5x the scan itself). Each query's heap gets the same offers as in probe order, so
   * the same top-k ((distance, id) order decides, not arrival). Tables: the queries' t3, f32[c][m][ks].
   */
  private scanPacked(
    v: PQKernelView, coarse: SearchResult, nprobe: number, q0: number, c: number, t3: number, ks: number, kk: number, hd: number, hi: number,
    up: number, block: number,
  ): void {
    const abi = this.eng.abi;
    const { m, nbits, codeSize } = v;
    const tsize = m * ks;
    // the chunk's (query, probe) visits grouped by list: a counting sort of the probed lists
    const start = new Int32Array(this.nlist + 1);
    const base = q0 * nprobe;
    const visits = c * nprobe;
    for (let i = 0; i < visits; i++) {
      const l = coarse.ids[base + i];
      if (l >= 0) start[l + 1]++;
    }
    for (let l = 0; l < this.nlist; l++) start[l + 1] += start[l];
    const fill = start.slice(0, this.nlist);
    const order = new Int32Array(start[this.nlist]);
    for (let i = 0; i < visits; i++) {
      const l = coarse.ids[base + i];
      if (l >= 0) order[fill[l]++] = i;
    }
    for (let l = 0; l < this.nlist; l++) {
      const size = this.listSize[l];
      if (size === 0 || start[l] === start[l + 1]) continue;
      for (let b0 = 0; b0 < size; b0 += block) {
        const cnt = Math.min(block, size - b0);
        abi.pqUnpack(this.listCodes[l] + b0 * codeSize, cnt, m, nbits, up);
        const norms = this.listNorms[l] && this.listNorms[l] + b0 * 4;
        for (let o = start[l]; o < start[l + 1]; o++) {
          const i = order[o];
          const qi = Math.floor(i / nprobe);
          // (float ADC: the query's own table, as listTable gives it)
          abi.pqScan(up, cnt, m, ks, t3 + qi * tsize * 4, this.adcBias(coarse.distances[base + i]), norms, kk, hd + qi * kk * 4, hi + qi * kk * 4, this.listPos[l] + b0 * 4, 0);
        }
      }
    }
  }

  /** The stored approximation of the vectors at positions pos (order of addition), in the original space. */
  reconstructPositions(pos: Int32Array): Float32Array {
    const where = 'IVFPQIndex.reconstructPositions';
    const eng = this.alive(where);
    if (!(pos instanceof Int32Array)) fail('INVALID_TYPE', where, 'pos must be an Int32Array', pos, 'an Int32Array of positions');
    const t = this.trainedOr(where);
    const { d } = this;
    for (let i = 0; i < pos.length; i++) checkInt(where, `pos[${i}]`, pos[i], 0, this.n - 1);
    const { listOf, codes } = this.codesAt(pos, where);
    const r = t.pq.decode(codes);
    for (let i = 0; i < pos.length; i++) for (let j = 0; j < d; j++) r[i * d + j] += t.centroids[listOf[pos[i]] * d + j];
    return t.rot ? t.rot.rotateBack(r, where) : r;
  }

  /** The list of every position (by position) and the packed codes of positions pos (checked), in their order. */
  private codesAt(pos: Int32Array, where: string): { listOf: Int32Array; codes: Uint8Array } {
    const eng = this.eng;
    const { listOf, slot } = listSlots(eng, this.n, this.listPos, this.listSize);
    const cs = this.codeSize;
    let codes: Uint8Array;
    if (this.fastScan) {
      codes = fsReadRows(eng, this.m, pos.length, (i) => [this.listCodes[listOf[pos[i]]], slot[pos[i]]], where);
    } else {
      codes = new Uint8Array(pos.length * cs);
      for (let i = 0; i < pos.length; i++) codes.set(eng.u8(this.listCodes[listOf[pos[i]]] + slot[pos[i]] * cs, cs), i * cs);
    }
    return { listOf, codes };
  }

  /**
   * Appends the vectors of `other`, an IVFPQIndex trained as this one is (a copy of this one's save({ empty: true })
   * filled elsewhere), each into the same list with its code as it is, with other's ids plus options.addId (Faiss
   * merge_from). other is left as it was. A different training is INVALID_OPTION.
   */
  mergeFrom(other: IVFPQIndex, options?: MergeOptions): void {
    mergeInto('IVFPQIndex.mergeFrom', this, other, options);
  }

  protected freshBuffers(where: string): void {
    this.reserveGlobal(this.n, where, true);
    for (let l = 0; l < this.nlist; l++) this.reserveList(l, this.listSize[l], where, true);
  }

  /**
   * @internal remove(): ids and originals move down in place, and each list keeps its kept vectors' codes and new
   * positions in order (as adding the kept vectors alone would list them). Fast-scan blocks are rebuilt instead.
   */
  compact(where: string, keep: Int32Array): boolean {
    const eng = this.alive(where);
    if (this.fastScan) return false;
    this.unshare(where);
    const newPos = this.newPositions(keep);
    const mem = new Uint8Array(eng.abi.memory.buffer);
    moveRows(mem, this.idsPtr, 4, keep);
    if (this.refine) moveRows(mem, this.vecPtr, this.d * 4, keep);
    // codes and norms move with their entries, one copy per run of kept entries
    compactLists(eng, newPos, this.listPos, this.listSize, [[this.listCodes, this.codeSize], [this.listNorms, this.usesNorms ? 4 : 0]]);
    this.resized(keep.length);
    return true;
  }

  protected override emptyLists(): void {
    this.listSize.fill(0);
  }

  /** @internal mergeFrom's snapshot of this index: each position's list and code, originals with refine, ids. */
  contents(where: string): Contents {
    const pos = Int32Array.from({ length: this.n }, (_, i) => i);
    const { listOf, codes } = this.codesAt(pos, where);
    const x = this.refine ? this.eng.f32(this.vecPtr, this.n * this.d).slice() : new Float32Array(0);
    return { batch: { labels: listOf, codes }, x, ids: this.eng.i32(this.idsPtr, this.n).slice() };
  }

  /** Vectors by user id (first occurrence): decoded approximations, or the stored originals with refine. */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = 'IVFPQIndex.reconstruct';
    const eng = this.alive(where);
    if (!this.idMap) this.idMap = idPositions(eng, this.idsPtr, this.n);
    const map = this.idMap;
    const pos = positionsOf(where, ids, (id) => map.get(id));
    if (this.refine) return storedRows(eng, this.vecPtr, pos, this.d);
    return this.reconstructPositions(pos);
  }

  /**
   * The index as bytes (kind IVFPQIndex). Sections: COAR coarse centroids f32[nlist][d]; RPQC residual codebook
   * f32[m][ksub][dsub]; with opq ROT + CENT (the OPQ); LSZ list sizes i32[nlist]; LPOS positions i32[n] and LCOD codes
   * u8[n][codeSize], list after list; IDS user ids by position i32[n]; VECS f32[n][d] with refine.
   */
  save(options?: SaveOptions): Uint8Array {
    const where = 'IVFPQIndex.save';
    const eng = this.alive(where);
    quantizerAlive(where, this.trained?.pq);
    const n = saveEmpty(where, options) ? 0 : this.n;
    const c = this.common;
    const params: Record<string, number | string | boolean> = {
      d: this.d, m: c.m, nbits: c.nbits, nlist: this.nlist, metric: c.metric, opq: c.opq, refine: c.refine, seed: c.seed,
      opqIterations: c.opqIterations, coarseIterations: this.coarseIterations, coarseInit: this.coarseInit, pqInit: c.pqInit, n,
      trained: this.isTrained, fastScan: c.fastScan,
    };
    if (c.anisotropicThreshold !== undefined) params.anisotropicThreshold = c.anisotropicThreshold;
    const sections: Section[] = [];
    const t = this.trained;
    if (t) {
      sections.push({ tag: 'COAR', data: t.centroids }, ...t.pq.sections('RPQC'));
      if (t.rot) sections.push(...t.rot.sections());
      const sizes = n > 0 ? this.listSize : new Int32Array(this.nlist);
      sections.push({ tag: 'LSZ ', data: sizes });
      const pos = new Int32Array(n);
      const codes = new Uint8Array(n * this.codeSize);
      let at = 0;
      for (let l = 0; l < this.nlist; l++) {
        const s = sizes[l];
        pos.set(eng.i32(this.listPos[l], s), at);
        // fast-scan blocks are saved as standard packed codes
        codes.set(this.fastScan ? fsRead(eng, this.listCodes[l], this.m, 0, s, where) : eng.u8(this.listCodes[l], s * this.codeSize), at * this.codeSize);
        at += s;
      }
      sections.push({ tag: 'LPOS', data: pos }, { tag: 'LCOD', data: codes }, { tag: 'IDS ', data: eng.i32(this.idsPtr, n) });
      if (this.refine) sections.push({ tag: 'VECS', data: eng.f32(this.vecPtr, n * this.d) });
    }
    return writeContainer('IVFPQIndex', params, sections);
  }

  /** Restores an index written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): IVFPQIndex {
    const where = 'IVFPQIndex.load';
    const c = readContainer(where, bytes, 'IVFPQIndex');
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const m = paramInt(where, c, 'm', 1, d);
    const nbits = paramInt(where, c, 'nbits', 1, 8);
    const nlist = paramInt(where, c, 'nlist', 1, 1 << 20);
    const metric = paramString(where, c, 'metric', PQ_METRICS);
    const opq = paramBool(where, c, 'opq');
    const refine = paramBool(where, c, 'refine');
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    const trained = paramBool(where, c, 'trained');
    const num = (k: string, def: number) => (typeof c.params[k] === 'number' ? (c.params[k] as number) : def);
    let index: IVFPQIndex;
    try {
      const coarseInit = c.params.coarseInit === 'random' ? 'random' : 'kmeans++';
      const pqInit = c.params.pqInit === 'kmeans++' || c.params.pqInit === 'random' ? c.params.pqInit : undefined;
      // files written before fast-scan existed have no fastScan: they were float ADC indexes
      const fastScan = c.params.fastScan === undefined ? false : paramBool(where, c, 'fastScan');
      index = new IVFPQIndex({
        d, m, nbits, nlist, metric, opq, refine, seed: num('seed', 1234), opqIterations: num('opqIterations', 50), coarseIterations: num('coarseIterations', 25), coarseInit, pqInit,
        fastScan, anisotropicThreshold: savedAnisotropicThreshold(c.params),
      });
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (!trained) {
      if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
      return index;
    }
    const made: { dispose(): void }[] = [];
    try {
      const centroids = sectionF32(where, c, 'COAR', nlist * d);
      const sizes = sectionI32(where, c, 'LSZ ', nlist);
      let sum = 0;
      for (let l = 0; l < nlist; l++) {
        if (sizes[l] < 0) fail('CORRUPT_DATA', where, 'a list size is negative', sizes[l], 'sizes >= 0');
        sum += sizes[l];
      }
      if (sum !== n) fail('CORRUPT_DATA', where, 'the list sizes do not add up to n', raw(`${sum}`), `${n}`);
      const pos = sectionI32(where, c, 'LPOS', n);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= n || seen[pos[i]]) fail('CORRUPT_DATA', where, 'list positions are not a permutation of 0..n-1', pos[i], 'each position once');
        seen[pos[i]] = 1;
      }
      const cs = index.codeSize;
      const codes = sectionU8(where, c, 'LCOD', n * cs);
      const ids = sectionI32(where, c, 'IDS ', n);
      for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
      const vecs = refine ? sectionF32(where, c, 'VECS', n * d) : null;
      const pq = ProductQuantizer.fromParams(where, { ...c, params: { ...c.params, seed: num('seed', 1234), trained: true } }, 'RPQC');
      made.push(pq);
      let rot: OPQ | null = null;
      if (opq) {
        rot = OPQ.fromContainer(where, { ...c, params: { ...c.params, trained: true, iterations: num('opqIterations', 50) } });
        made.push(rot);
      }
      index.trained = index.buildTrained(rot, centroids, pq, where, made);
      index.reserveGlobal(n, where);
      const eng = index.eng;
      let at = 0;
      for (let l = 0; l < nlist; l++) {
        const s = sizes[l];
        if (s === 0) continue;
        index.reserveList(l, s, where);
        if (index.fastScan) fsWrite(eng, codes.subarray(at * cs, (at + s) * cs), s, m, index.listCodes[l], 0, where);
        else eng.u8(index.listCodes[l], s * cs).set(codes.subarray(at * cs, (at + s) * cs));
        eng.i32(index.listPos[l], s).set(pos.subarray(at, at + s));
        index.listSize[l] = s;
        at += s;
      }
      // the L2 terms are not saved: recomputed from the codes (as Faiss recomputes its precomputed table)
      if (index.usesNorms && n > 0) {
        const sc = index.normScratch(where);
        for (let l = 0; l < nlist; l++) if (sizes[l] > 0) index.fillNorms(l, 0, sc);
      }
      eng.i32(index.idsPtr, n).set(ids);
      if (vecs) eng.f32(index.vecPtr, n * d).set(vecs);
      index.n = n;
      index.nextId.forget();
      return index;
    } catch (e) {
      for (const o of made) o.dispose();
      index.trained = null;
      index.dispose();
      throw e;
    }
  }

  override dispose(): void {
    if (this.disposed) return;
    this.trained?.dispose((p) => this.release(p));
    this.trained = null;
    super.dispose();
  }
}

/** The trained parts of an IVFPQIndex, replaced as a whole by train(). */
class Trained {
  constructor(
    readonly rot: OPQ | null,
    readonly centroids: Float32Array,
    readonly pq: ProductQuantizer,
    readonly assign: FlatIndex,
    readonly probe: FlatIndex,
    readonly precomputed: number,
  ) {}

  /** Frees the parts; `release` frees the precomputed table, a buffer owned by the index. */
  dispose(release: (ptr: number) => void): void {
    this.rot?.dispose();
    this.pq.dispose();
    this.assign.dispose();
    if (this.probe !== this.assign) this.probe.dispose();
    if (this.precomputed) release(this.precomputed);
  }
}

/** x - centroids[labels] row by row. */
function residuals(x: Float32Array, labels: Int32Array, centroids: Float32Array, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] * d;
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] - centroids[c + j];
  }
  return out;
}

// for bindings/parallel/borrow.ts: a shared-memory worker rebuilds an index around its trained parts
export { Trained as IVFPQTrained };
