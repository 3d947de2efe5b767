// What the exhaustive code indexes (PQIndex, SQIndex, BinaryIndex) share: a quantizer owned by the index, its codes in
// a FlatStore, and around them the getters, train / add / reconstruct, the checks in front of search, save, and the
// part of load after the index is made. Each index brings its scans and, where its code layout is not the packed
// codes (PQ fast-scan blocks), the hooks that read and write it.
import { checkInt, checkK, checkOptions, checkUserIds, checkVectors, fail, raw } from '../errors.js';
import { paramBool, saveEmpty, sectionF32, sectionI32, sectionU8, writeContainer, type Container, type SaveOptions, type Section } from '../io/format.js';
import type { RangeSearchResult, SearchResult } from '../types.js';
import { Owned } from '../wasm/owned.js';
import { candidatesPerQuery, type PQMetric, type SearchOptions } from './adc.js';
import { mergeInto, removeFrom, type AddBatch, type Contents, type MergeOptions } from './addBatch.js';
import { checkFilter, filtered, type FilterOptions, type PositionFilter } from './filter.js';
import { RangeHits } from './range.js';
import { emptyResult } from './FlatIndex.js';
import { FlatStore } from './store.js';
import { handOut, quantizerAlive } from '../quantizers/Quantizer.js';

/** What a code index needs of its quantizer. */
export interface CodeQuantizer {
  readonly codeSize: number;
  readonly isTrained: boolean;
  readonly disposed: boolean;
  train(x: Float32Array): unknown;
  encode(x: Float32Array): Uint8Array;
  decode(codes: Uint8Array): Float32Array;
  params(): Record<string, number | string | boolean>;
  sections(): Section[];
  dispose(): void;
}

/** The kind in messages and saved files, and what the stored codes depend on (for train()'s refusal). */
export interface CodedKind {
  kind: 'PQIndex' | 'SQIndex' | 'BinaryIndex';
  encodedWith: string;
}

export abstract class CodedIndex<Q extends CodeQuantizer, TrainResult> extends Owned {
  readonly d: number;
  readonly metric: PQMetric;
  readonly refine: boolean;
  protected q: Q;
  // codes (the layout is the index's), user ids once add() is given some, and the originals with refine
  protected readonly store: FlatStore;
  private readonly kind: CodedKind;
  // train() calls so far (addVersion: the quantizer is trained in place)
  private trainings = 0;

  /** Call after checking every option: the quantizer is made here, after the engine is known. */
  protected constructor(kind: CodedKind, d: number, metric: PQMetric, refine: boolean, quantizer: () => Q) {
    super(`new ${kind.kind}`);
    this.kind = kind;
    this.d = d;
    this.metric = metric;
    this.refine = refine;
    this.store = new FlatStore(this.eng, d, refine, (n) => this.codeBytes(n), (bytes, where) => this.own(bytes, where), (ptr) => this.release(ptr));
    this.q = quantizer();
  }

  /** The quantizer, owned by the index: do not dispose it yourself. */
  get quantizer(): Q {
    this.alive(`${this.kind.kind}.quantizer`);
    // (its train() refuses while this index holds vectors encoded with it)
    return handOut(this.q, this);
  }

  get isTrained(): boolean {
    return this.q.isTrained;
  }

  get size(): number {
    this.alive(`${this.kind.kind}.size`);
    return this.store.n;
  }

  /** Bytes per vector: the code, plus 4 for a user id once add() was given ids, plus 4 d with refine. */
  get bytesPerVector(): number {
    return this.q.codeSize + this.store.extraBytesPerVector;
  }

  /** Trains the quantizer on x. Training an index that already holds vectors is refused (their codes would be stale). */
  train(x: Float32Array): TrainResult {
    this.checkTrain(x);
    this.trainings++;
    return this.q.train(x) as TrainResult;
  }

  /** @internal train()'s checks, for WorkerPool.trainIndex too. */
  checkTrain(x: Float32Array): void {
    const where = `${this.kind.kind}.train`;
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    this.checkTrainingSet(where, n);
    this.checkEmpty(where);
  }

  private checkEmpty(where: string): void {
    if (this.store.n > 0) fail('INVALID_OPTION', where, `the index already holds vectors encoded with the current ${this.kind.encodedWith}`, raw(`size ${this.store.n}`), 'train before add (or a new index)');
  }

  /**
   * @internal WorkerPool.trainIndex: replaces the quantizer with q, trained elsewhere as train() would have trained
   * this one, if the index is still alive and empty (this thread may have disposed or filled it meanwhile).
   */
  adoptTrained(q: Q): void {
    const where = `${this.kind.kind}.train`;
    this.alive(where);
    this.checkEmpty(where);
    this.q.dispose();
    this.q = q;
    this.trainings++;
  }

  /**
   * Encodes and appends n vectors; `ids` (Int32Array of n, each >= 0) defaults to the ids after the largest one
   * stored (size .. size + n - 1 until ids are given or vectors removed).
   */
  add(x: Float32Array, ids?: Int32Array): void {
    const where = `${this.kind.kind}.add`;
    this.checkAdd(where, x, ids);
    // encoded before anything is reserved: an encode error leaves the index as it was
    this.appendBatch(where, this.encodeForAdd(where, x), x, ids);
  }

  /** @internal add()'s checks (WorkerPool.add too); returns n. */
  checkAdd(where: string, x: Float32Array, ids: Int32Array | undefined): number {
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    if (ids !== undefined) checkUserIds(where, ids, n);
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index must be trained before vectors are added', raw(`an untrained ${this.kind.kind}`), 'train(x) first');
    return n;
  }

  /** @internal add()'s first half: the codes (packed, the quantizer's encode()). Changes nothing. */
  encodeForAdd(_where: string, x: Float32Array): AddBatch {
    return { labels: null, codes: this.q.encode(x) };
  }

  /** @internal What a batch was computed with: the quantizer, trained in place by train() (hence the count). */
  addVersion(): unknown {
    return this.trainings;
  }

  /**
   * Appends the vectors of `other`, an index of this class trained as this one is (a copy of this one's
   * save({ empty: true }) filled elsewhere), their codes as they are, with other's ids plus options.addId (Faiss
   * merge_from). other is left as it was. A different training is INVALID_OPTION.
   */
  mergeFrom(other: this, options?: MergeOptions): void {
    mergeInto(`${this.kind.kind}.mergeFrom`, this, other, options);
  }

  /** @internal mergeFrom's snapshot of this index: codes (packed), originals with refine, ids, by position. */
  contents(where: string): Contents {
    const st = this.store;
    const pos = Int32Array.from({ length: st.n }, (_, i) => i);
    return {
      batch: { labels: null, codes: this.allCodes(where).slice() },
      x: this.refine ? st.originals(pos) : new Float32Array(0),
      ids: st.userIds(pos),
    };
  }

  /** @internal add()'s second half: appends the vectors x of batch b (from encodeForAdd with this addVersion()). */
  appendBatch(where: string, b: AddBatch, x: Float32Array, ids: Int32Array | undefined): void {
    this.alive(where);
    const codes = b.codes!;
    const n = codes.length / this.q.codeSize;
    const st = this.store;
    st.reserveAdd(where, n, ids);
    const first = ids ? st.n : st.takeIds(where, n);
    this.putCodes(codes, n, st.codesPtr, st.n, where);
    st.append(x, ids, n, first);
  }

  /**
   * Removes every vector whose id is in `ids` (Int32Array or number[]; ids not stored are ignored), as Faiss
   * remove_ids does; returns how many went. The others keep their ids, order and codes (nothing is encoded again);
   * an index whose ids were its positions keeps them as explicit ids (4 more bytes a vector). O(size): the index is
   * rebuilt within its buffers.
   */
  remove(ids: Int32Array | readonly number[]): number {
    const where = `${this.kind.kind}.remove`;
    this.alive(where);
    return removeFrom(where, this, ids);
  }

  /** Removes every vector (Faiss reset): the trained index, empty, as save({ empty: true }) would restore it. */
  reset(): void {
    const where = `${this.kind.kind}.reset`;
    this.alive(where);
    this.store.reset(where, this.pinned);
  }

  /** @internal remove(): the id of every position. */
  storedIds(): Int32Array {
    const pos = new Int32Array(this.store.n);
    for (let i = 0; i < pos.length; i++) pos[i] = i;
    return this.store.userIds(pos);
  }

  /** @internal remove(): row-major codes move down in place; a layout of its own (packedRows() false) is rebuilt. */
  compact(where: string, keep: Int32Array): boolean {
    this.alive(where);
    if (!this.packedRows()) return false;
    this.store.compact(where, keep, this.q.codeSize, this.pinned);
    return true;
  }

  /** @internal remove(): empty, keeping the quantizer and the buffers. */
  clearVectors(where: string): void {
    this.alive(where);
    this.store.clear(where, this.pinned);
  }

  /**
   * The k nearest codes to each query (row-major Float32Array of nq * d), best first, ties by insertion order (the
   * distances are each index's: see its class comment). With `rerank: R` (refine indexes) the best max(R, k)
   * candidates are re-scored with the original vectors and the distances returned are exact. `exclude` / `allow`
   * filter the ids inside the scan.
   */
  search(q: Float32Array, k: number, options: SearchOptions = {}): SearchResult {
    const where = `${this.kind.kind}.search`;
    const eng = this.alive(where);
    quantizerAlive(where, this.q);
    const nq = checkVectors(where, 'queries', q, this.d);
    checkK(where, k, nq);
    const o = checkOptions(where, options);
    const spec = checkFilter(where, o, nq);
    const kk = candidatesPerQuery(where, k, this.refine, o.rerank);
    this.trainedOr(where);
    const rerank = o.rerank !== undefined;
    if (this.store.n === 0) return emptyResult(nq, k, this.resultMetric(rerank));
    const flt = spec ? this.store.filter(spec) : null;
    return filtered(eng, where, flt, () => this.scan(q, nq, k, kk, rerank, flt));
  }

  /** search() and rangeSearch(): NOT_TRAINED before a train(). */
  private trainedOr(where: string): void {
    if (!this.q.isTrained) fail('NOT_TRAINED', where, 'the index is not trained', raw(`an untrained ${this.kind.kind}`), 'train(x) first');
  }

  /** search() after its checks, over a non-empty index: heaps of kk candidates per query, then the re-ranking. */
  protected abstract scan(q: Float32Array, nq: number, k: number, kk: number, rerank: boolean, flt: PositionFilter | null): SearchResult;

  /**
   * Every stored vector within `radius` of each query by the code distances search() returns without re-ranking
   * (Faiss range_search): distance < radius for 'l2', similarity > radius for 'ip' (BinaryIndex: Hamming distance <
   * radius, whatever the metric). Each query's hits come best first, ties by insertion order, with the distances
   * search(q, size) gives for the same pairs, bit for bit. Filters (exclude / allow) as for search(). With refine, the
   * originals do not take part: re-rank the hits yourself (reconstruct) or search them with rerank.
   */
  rangeSearch(q: Float32Array, radius: number, options: FilterOptions = {}): RangeSearchResult {
    const where = `${this.kind.kind}.rangeSearch`;
    this.alive(where);
    quantizerAlive(where, this.q);
    const hits = new RangeHits(where, q, this.d, radius, this.resultMetric(false), options);
    this.trainedOr(where);
    if (this.store.n > 0) this.rangeScan(where, q, hits);
    return hits.result(this.storedIds());
  }

  /**
   * rangeSearch() after its checks, over a non-empty index: each query's scores, as its scan ranks them (smaller is
   * better; search() returns them negated for 'ip'), handed to hits.collect block by block with add = 0.
   */
  protected abstract rangeScan(where: string, q: Float32Array, hits: RangeHits): void;

  /** Vectors by user id: the decoded codes, or the stored originals with refine. An id added twice gives its first vector. */
  reconstruct(ids: Int32Array | readonly number[]): Float32Array {
    const where = `${this.kind.kind}.reconstruct`;
    this.alive(where);
    const pos = this.store.positions(where, ids);
    if (this.refine) return this.store.originals(pos);
    return this.q.decode(this.readCodes(pos, where));
  }

  /**
   * The index as bytes (kind PQIndex / SQIndex / BinaryIndex: the quantizer's params and sections, the index's own
   * params, CODE u8[n][codeSize] as the packed codes whatever the layout in memory, IDS i32[n] when add() was given
   * ids (else the ids are the positions), VECS f32[n][d] with refine).
   */
  save(options?: SaveOptions): Uint8Array {
    const where = `${this.kind.kind}.save`;
    this.alive(where);
    quantizerAlive(where, this.q);
    const empty = saveEmpty(where, options);
    const st = this.store;
    const sections: Section[] = [...this.q.sections()];
    if (this.q.isTrained) sections.push(...(empty ? st.emptySections() : st.sections(this.allCodes(where))));
    return writeContainer(this.kind.kind, { ...this.q.params(), ...this.ownParams(), n: empty ? 0 : st.n, explicitIds: !empty && st.explicitIds }, sections);
  }

  /**
   * load()'s part after the index is made from the saved options: installs the saved quantizer q, then (trained) the n
   * codes (checked by checkCodes first), ids and originals. The caller disposes the index if this throws.
   */
  protected restore(where: string, c: Container, n: number, q: Q, checkCodes?: (codes: Uint8Array, codeSize: number) => void): this {
    this.q.dispose();
    this.q = q;
    if (!q.isTrained) {
      if (n > 0) fail('CORRUPT_DATA', where, 'an untrained index cannot hold vectors', raw(`n = ${n}`), 'n = 0');
      return this;
    }
    const codes = sectionU8(where, c, 'CODE', n * q.codeSize);
    checkCodes?.(codes, q.codeSize);
    const explicitIds = paramBool(where, c, 'explicitIds');
    const ids = explicitIds ? sectionI32(where, c, 'IDS ', n) : null;
    if (ids) for (let i = 0; i < n; i++) if (ids[i] < 0) fail('CORRUPT_DATA', where, 'a saved id is negative', ids[i], 'ids >= 0');
    const vecs = this.refine ? sectionF32(where, c, 'VECS', n * this.d) : null;
    this.store.restore(where, n, ids, vecs, (ptr) => this.putCodes(codes, n, ptr, 0, where));
    return this;
  }

  override dispose(): void {
    this.q.dispose();
    super.dispose();
  }

  // Hooks, by default for codes stored as the packed codes u8[n][codeSize].

  /** Whether the storage holds the packed codes u8[n][codeSize] row by row (the hooks below not overridden). */
  protected packedRows(): boolean {
    return true;
  }

  /** Bytes of code storage for n vectors. */
  protected codeBytes(n: number): number {
    return n * this.q.codeSize;
  }

  /** Writes n packed codes into the storage at ptr as rows row0 .. row0 + n - 1. */
  protected putCodes(codes: Uint8Array, n: number, ptr: number, row0: number, _where: string): void {
    this.eng.u8(ptr + row0 * this.q.codeSize, codes.length).set(codes);
  }

  /** The packed codes of the vectors at positions pos. */
  protected readCodes(pos: Int32Array, _where: string): Uint8Array {
    const cs = this.q.codeSize;
    const codes = new Uint8Array(pos.length * cs);
    for (let i = 0; i < pos.length; i++) codes.set(this.eng.u8(this.store.codesPtr + pos[i] * cs, cs), i * cs);
    return codes;
  }

  /** Every stored code, packed (what save() writes). */
  protected allCodes(_where: string): Uint8Array {
    return this.eng.u8(this.store.codesPtr, this.store.n * this.q.codeSize);
  }

  /** The index's params in its saved file, besides the quantizer's, n and explicitIds. */
  protected ownParams(): Record<string, number | string | boolean> {
    return { metric: this.metric, refine: this.refine };
  }

  /** train()'s check of the training set size (beyond the vectors' shape), where the quantizer needs one. */
  protected checkTrainingSet(_where: string, _n: number): void {}

  /** The metric the returned distances are in (an empty index's result is filled for it). */
  protected resultMetric(_rerank: boolean): PQMetric {
    return this.metric;
  }
}
