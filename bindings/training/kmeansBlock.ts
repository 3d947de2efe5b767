// The per-point half of a Lloyd iteration with Hamerly's bounds, over one block of training points held in one engine:
// KMeans.train runs one block over all its points; WorkerPool.kmeans runs blocks in workers, each keeping its points'
// labels and bounds from one iteration to the next, so that only centroids go out and per-centroid sums come back.
import type { Rng } from '../util/rng.js';
import { VQError } from '../errors.js';
import type { Engine } from '../wasm/engine.js';
import { PREFILTER_MIN_D, qpanelsSizes } from '../search/scan.js';

/**
 * What the last update did to the centroids: the largest shift, the second largest, the argmax (they loosen the lower
 * bounds), and the centroids that moved at all (shift > 0), in increasing order.
 */
export type Shift = [max: number, second: number, argMax: number, moved: Int32Array];

/**
 * What one step of a block reports: the objective (sum of squared distances to the assigned centroids), the points
 * scanned against all k centroids (rescanned), and those settled by a scan against the centroids that moved only.
 */
export interface StepCounts {
  obj: number;
  rescanned: number;
  movedOnly: number;
}

/**
 * The training sample KMeans.trainOn hands to its point side: nt points f32[nt][d] at xt and the centroids f32[k][d]
 * at cent, in the calling engine's memory (a runner on the same shared memory reads them there), and rows(r0, r1), a
 * copy of points r0 .. r1 - 1 (for a runner that sends them elsewhere).
 */
export interface TrainingSample {
  nt: number;
  xt: number;
  cent: number;
  rows(r0: number, r1: number): Float32Array;
}

/** The point side of KMeans.trainOn, run elsewhere: per-centroid sums and counts added over its blocks in block order. */
export interface BlockRunner {
  reset(): Promise<void>;
  /**
   * One iteration's point side against the centroids `cent` (also at the sample's `cent`): adds its blocks' sums
   * f64[k][d] and counts f64[k], in block order, into the calling engine's buffers at into.sums / into.counts (zeroed
   * by the caller); the objective and the points scanned (StepCounts).
   */
  step(cent: Float32Array, it: number, shift: Shift | null, into: { sums: number; counts: number }): Promise<StepCounts>;
  /**
   * k-means++ over the seeding sample (SeedSample, after centroid 0 is in place) with the generator at state `rng`:
   * every round where the runner decides, the centroids left at the sample's `cent`; resolves to the generator's state
   * after them.
   */
  seed(sample: SeedSample, rng: number): Promise<number>;
}

/**
 * k-means++'s points: n points f32[n][d] at x (the training points, or the uniform subsample of at most
 * initPointsPerCentroid * k of them that KMeans gathered), minD f32[n] their working distances, centroids f32[k][d]
 * at cent; all in the calling engine's memory.
 */
export interface SeedSample {
  x: number;
  n: number;
  /** The point centroid 0 is. */
  first: number;
  minD: number;
  cent: number;
}

/** What a k-means++ round asks of the points: fold centroid j into their nearest distances ('min', first: start from
 * it; the reply is their total), or the point where the running sum of those distances exceeds r ('pick'). */
export type SeedRequest = { kind: 'min'; j: number; first: boolean } | { kind: 'pick'; r: number };

/**
 * The k-means++ rounds after the first centroid, the one copy of them: seedHere runs them on one engine, and a worker
 * of a shared-memory pool with helpers (kmSeedAll). copyRow(i, j) makes point i centroid j. The same generator state
 * gives the same draws, so the same centroids, on either side.
 */
export function* seedRounds(k: number, nt: number, rng: Rng, copyRow: (i: number, j: number) => void): Generator<SeedRequest, void, number> {
  let total = yield { kind: 'min', j: 0, first: true };
  for (let j = 1; j < k; j++) {
    // D^2 draw; when every point already coincides with a centroid (duplicates), fall back to uniform
    const i = total > 0 ? yield { kind: 'pick', r: rng.nextFloat() * total } : rng.nextInt(nt);
    copyRow(i, j);
    total = yield { kind: 'min', j, first: false };
  }
}

/**
 * Every k-means++ round on one engine, over points f32[n][d] at x with working distances minD f32[n], centroid 0
 * already at cent f32[k][d]; rows (if given) gets the point each centroid j >= 1 is.
 */
export function seedHere(eng: Engine, x: number, n: number, d: number, k: number, cent: number, minD: number, rng: Rng, rows?: Int32Array): void {
  const abi = eng.abi;
  const row = d * 4;
  const rounds = seedRounds(k, n, rng, (i, j) => {
    new Uint8Array(abi.memory.buffer).copyWithin(cent + j * row, x + i * row, x + (i + 1) * row);
    if (rows) rows[j] = i;
  });
  for (let r = rounds.next(); !r.done; ) {
    const q = r.value;
    r = rounds.next(q.kind === 'min' ? abi.minL2Update(x, n, d, cent + q.j * row, minD, q.first ? 1 : 0) : abi.cumulativeSearch(minD, n, q.r));
  }
}

/**
 * A D^2 draw over points kept in blocks: the block whose running total (in block order) first exceeds `target`, and
 * the target left for that block; past the end (rounding), the last block with any weight and Infinity.
 */
export function drawBlock(totals: ArrayLike<number>, target: number): [block: number, rest: number] {
  let acc = 0;
  for (let i = 0; i < totals.length; i++) {
    if (acc + totals[i] > target) return [i, target - acc];
    acc += totals[i];
  }
  let b = totals.length - 1;
  while (b > 0 && !(totals[b] > 0)) b--;
  return [b, Infinity];
}

/**
 * Smallest k * d (with d >= PREFILTER_MIN_D.topk) from which a step's top-2 rescan goes through the int16 prefilter.
 * In-process A/B of KMeans.train, 2026-11-29 (Xeon; plain / relaxed build): d = 64, k = 256 1.17-1.19x / 1.03-1.06x,
 * k = 1024 1.34x / 1.15x; d = 128, k = 128 1.15x / 1.03x, k = 256 1.29x / 1.15x; but d = 48, k = 64 0.92x / 0.88x,
 * d = 64, k = 128 1.04x / 0.97x, d = 128, k = 64 1.01x / 0.95x, d = 24 or 32, k = 256 1.01-1.05x / 0.94-0.96x.
 */
const STEP_PREFILTER_MIN_KD = 16384;

/**
 * Largest share of the centroids that may have moved for a step to scan the gathered points against the moved ones
 * first (hamerlyPartial): the others did not move, so a point's lower bound still holds for them as it was, and only
 * the points that scan cannot settle are scanned against all k. On MovieLens (6568 x 64, k = 256) 130-250 of the 256
 * centroids keep their place exactly from the fifth iteration on, while the shift of the one that moves most loosens
 * every point's bound enough that Hamerly's test alone rescans 60-90 % of the points.
 */
const PARTIAL_MAX_SHARE = 0.6;

/**
 * Smallest d for that scan: below it a point's full scan is too cheap for the extra pass to pay. ProductQuantizer on
 * MovieLens (6568 x 64, ksub 256), train time with the scan against without it: dsub 2 and 4 9-11 % slower, 8 the
 * same, 16 8 % faster, 32 22 % (and KMeans at d = 64 1.4x).
 */
const PARTIAL_MIN_D = 16;

/**
 * The centroid side of an iteration, shared by the blocks of one engine: panels f32[kp/8][d][8] + bias f32[kp] the
 * centroids being scanned, sep f32[k] half the distance to the nearest other centroid, cc f32[k][k] centroid-centroid
 * scores (useSep). prepare() fills them once per iteration, whatever the number of blocks.
 */
export class CentroidSide {
  readonly panels: number;
  readonly bias: number;
  readonly sep: number;
  private readonly cc: number;
  /** The panels' int16 copy and the prefilter's work area (qpanels.ts) where it pays (STEP_PREFILTER_MIN_KD); else 0. */
  readonly qp: number;
  readonly qinfo: number;
  readonly work: number;
  /**
   * The centroids that moved in the last update, when few enough (PARTIAL_MAX_SHARE): their count (0: none, or too
   * many), ids i32[nMoved], and panels + bias and, where it pays, the int16 copy, as above but over them only
   * (0 where there is no room for them: the scan of the moved centroids only saves time, the results are the same).
   */
  nMoved = 0;
  movedIds = 0;
  movedPanels = 0;
  movedBias = 0;
  movedQp = 0;
  movedQinfo = 0;
  private maxMoved = 0;

  constructor(
    private readonly eng: Engine,
    private readonly d: number,
    readonly k: number,
    readonly useSep: boolean,
    take: (bytes: number) => number,
  ) {
    const kp = Math.ceil(k / 8) * 8;
    this.panels = take(kp * d * 4);
    this.bias = take(kp * 4);
    this.sep = take(k * 4);
    this.cc = useSep ? take(k * k * 4) : 0;
    const [qpBytes, qinfoBytes] = this.usePrefilter(k) ? qpanelsSizes(eng, k, d) : [0, 0];
    this.qp = qpBytes ? take(qpBytes) : 0;
    this.qinfo = qpBytes ? take(qinfoBytes) : 0;
    // (k = 3 heaps for the moved scan take the same work area as k = 2; a moved scan through the prefilter implies
    // the full one's)
    this.work = qpBytes ? take(eng.abi.qscanWorkBytes(d, 3)) : 0;
    const maxMoved = d >= PARTIAL_MIN_D ? Math.floor(k * PARTIAL_MAX_SHARE) : 0;
    if (maxMoved === 0) return;
    const mp = Math.ceil(maxMoved / 8) * 8;
    try {
      this.movedIds = take(maxMoved * 4);
      this.movedPanels = take(mp * d * 4);
      this.movedBias = take(mp * 4);
      if (this.usePrefilter(maxMoved)) {
        const [mqpBytes, mqinfoBytes] = qpanelsSizes(eng, maxMoved, d);
        this.movedQp = take(mqpBytes);
        this.movedQinfo = take(mqinfoBytes);
      }
      this.maxMoved = maxMoved;
    } catch (e) {
      // no room (a worker's arena, the 4 GiB): every step scans all k, as it did before this scan existed
      if (!(e instanceof VQError && e.code === 'OUT_OF_MEMORY')) throw e;
      this.movedQp = 0;
    }
  }

  /** Whether a top-k scan of nb centroids goes through the int16 prefilter (STEP_PREFILTER_MIN_KD). */
  usePrefilter(nb: number): boolean {
    return this.d >= PREFILTER_MIN_D.topk && nb * this.d >= STEP_PREFILTER_MIN_KD;
  }

  /**
   * Packs the centroids cent f32[k][d] for the scans and, from the second iteration on, their half-separations and
   * (shift: the last update's) the panels of the centroids that moved.
   */
  prepare(cent: number, it: number, shift: Shift | null): void {
    const { eng, d, k } = this;
    const abi = eng.abi;
    abi.packPanels(cent, k, d, this.panels, 0);
    abi.panelNormsSq(this.panels, 0, k, d, this.bias);
    if (this.qp !== 0) abi.qpanelsPack(this.panels, this.bias, 0, k, d, this.qp, this.qinfo);
    if (it > 0 && this.useSep) {
      abi.scorePanels(cent, k, d, this.panels, this.bias, k, -2, this.cc);
      abi.halfSeparation(this.cc, this.bias, k, this.sep);
    }
    const moved = it > 0 && shift ? shift[3] : null;
    this.nMoved = moved && moved.length > 0 && moved.length <= this.maxMoved ? moved.length : 0;
    if (this.nMoved === 0) return;
    // lane by lane out of the panels (f32[kp / 8][d][8]): the same floats, so the same scores as the full scan
    const nm = this.nMoved;
    const mp = Math.ceil(nm / 8) * 8;
    eng.i32(this.movedIds, nm).set(moved!);
    const src = eng.f32(this.panels, Math.ceil(k / 8) * 8 * d);
    const dst = eng.f32(this.movedPanels, mp * d);
    const bias = eng.f32(this.bias, k);
    const mbias = eng.f32(this.movedBias, mp);
    dst.fill(0);
    mbias.fill(Infinity); // padding lanes: never offered (panelNormsSq's convention)
    for (let r = 0; r < nm; r++) {
      const j = moved![r];
      const s0 = (j >> 3) * d * 8 + (j & 7);
      const d0 = (r >> 3) * d * 8 + (r & 7);
      for (let t = 0; t < d; t++) dst[d0 + t * 8] = src[s0 + t * 8];
      mbias[r] = bias[j];
    }
    if (this.movedQp !== 0 && this.usePrefilter(nm)) abi.qpanelsPack(this.movedPanels, this.movedBias, 0, nm, d, this.movedQp, this.movedQinfo);
  }
}

/** Where a block's points and buffers are (see KMeansBlock): what another thread on the same memory needs to step it. */
export interface KMeansBlockPlace {
  xt: number;
  n: number;
  xnorm: number;
  labels: number;
  dist: number;
  lower: number;
  idx: number;
  gx: number;
  gnorm: number;
  hd: number;
  hi: number;
}

/** A block's rescan buffers (see KMeansBlock), which blocks stepped by one thread one at a time can share. */
export type KMeansBlockScratch = Pick<KMeansBlockPlace, 'idx' | 'gx' | 'gnorm' | 'hd' | 'hi'>;

/**
 * Buffers (all from `take`, freed by the caller): xnorm f32[n] ||x||^2, labels i32[n], dist f32[n] squared distance
 * to the assigned centroid, lower f32[n] Hamerly lower bounds, idx i32[n] + gx f32[n][d] + gnorm f32[n] the points to
 * rescan, hd f32[n][3] + hi i32[n][3] their heaps (top 3 against the moved centroids, then top 2 against all). The points xt f32[n][d] are the caller's; the centroid side
 * is shared (CentroidSide). On a shared memory, KMeansBlock.at gives another thread a block over the same buffers
 * (place()), with its own centroid side; one thread at a time may step it.
 */
export class KMeansBlock {
  private readonly xnorm: number;
  private readonly labels: number;
  private readonly dist: number;
  private readonly lower: number;
  private readonly idx: number;
  private readonly gx: number;
  private readonly gnorm: number;
  private readonly hd: number;
  private readonly hi: number;

  /**
   * scratch: the rescan buffers (idx, gx, gnorm, hd, hi) of blocks that one thread steps one after the other, made by
   * KMeansBlock.scratch for the largest of them; without it the block takes its own.
   */
  constructor(
    private readonly eng: Engine,
    private readonly xt: number,
    readonly n: number,
    private readonly d: number,
    private readonly side: CentroidSide,
    take: ((bytes: number) => number) | KMeansBlockPlace,
    scratch?: KMeansBlockScratch,
  ) {
    if (typeof take !== 'function') {
      ({ xnorm: this.xnorm, labels: this.labels, dist: this.dist, lower: this.lower, idx: this.idx, gx: this.gx, gnorm: this.gnorm, hd: this.hd, hi: this.hi } = take);
      return;
    }
    this.xnorm = take(n * 4);
    this.labels = take(n * 4);
    this.dist = take(n * 4);
    this.lower = take(n * 4);
    ({ idx: this.idx, gx: this.gx, gnorm: this.gnorm, hd: this.hd, hi: this.hi } = scratch ?? KMeansBlock.scratch(take, n, d));
    eng.abi.normsSq(xt, n, d, this.xnorm);
  }

  /** Rescan buffers for blocks of up to n points (see the constructor). */
  static scratch(take: (bytes: number) => number, n: number, d: number): KMeansBlockScratch {
    return { idx: take(n * 4), gx: take(n * d * 4), gnorm: take(n * 4), hd: take(n * 12), hi: take(n * 12) };
  }

  /**
   * What a step hands the next one besides the centroids: each point's label and Hamerly lower bound (the distances
   * are recomputed). Copied out to / in from labels i32[n] and lower f32[n] elsewhere, so that a worker with a private
   * memory can step a block that another worker stepped last (WorkerPool.kmeans).
   */
  saveState(labels: Int32Array, lower: Float32Array): void {
    labels.set(this.eng.i32(this.labels, this.n));
    lower.set(this.eng.f32(this.lower, this.n));
  }

  loadState(labels: Int32Array, lower: Float32Array): void {
    this.eng.i32(this.labels, this.n).set(labels);
    this.eng.f32(this.lower, this.n).set(lower);
  }

  /** A block over the buffers at `place` (another thread's block, on the same shared memory), with this side. */
  static at(eng: Engine, place: KMeansBlockPlace, d: number, side: CentroidSide): KMeansBlock {
    return new KMeansBlock(eng, place.xt, place.n, d, side, place);
  }

  /** Where this block's points and buffers are (for KMeansBlock.at). */
  place(): KMeansBlockPlace {
    const { xt, n, xnorm, labels, dist, lower, idx, gx, gnorm, hd, hi } = this;
    return { xt, n, xnorm, labels, dist, lower, idx, gx, gnorm, hd, hi };
  }

  /** Before a new run: no bounds, so every point is rescanned in the first iteration. */
  reset(): void {
    this.eng.f32(this.lower, this.n).fill(-1);
  }

  /**
   * Iteration `it` against centroids cent f32[k][d], after side.prepare(cent, it, shift): the exact distance to each
   * point's label, Hamerly's test with the bounds loosened by the previous update's shift (it > 0), for the points it
   * does not rule out a scan against the centroids that moved (when few did: side.nMoved) and, for those that one
   * cannot settle, a top-2 scan against all; then the per-centroid sums f64[k][d] and counts f64[k] of the new
   * assignment (written to sums / counts, in this engine). Returns the objective (sum of squared distances) and the
   * points scanned against all k centroids and against the moved ones only.
   */
  step(cent: number, it: number, shift: Shift | null, sums: number, counts: number): StepCounts {
    const { eng, xt, n, d, side } = this;
    const k = side.k;
    const abi = eng.abi;
    if (it > 0) abi.l2sqToAssigned(xt, n, d, cent, this.labels, this.dist, 0);
    const sep = it > 0 && side.useSep ? side.sep : 0;
    const m = abi.hamerlyGather(
      xt, n, d, this.xnorm, this.dist, this.lower, this.labels, sep, shift?.[0] ?? 0, shift?.[1] ?? 0, shift?.[2] ?? -1, this.idx, this.gx, this.gnorm,
    );
    let full = m;
    if (m > 0 && side.nMoved > 0) {
      const nm = side.nMoved;
      abi.heapInit(this.hd, this.hi, m * 3);
      if (side.movedQp !== 0 && side.usePrefilter(nm)) {
        abi.qscanPanels(this.gx, m, d, side.movedPanels, side.movedBias, nm, -2, 3, this.hd, this.hi, 0, side.movedQp, side.movedQinfo, side.work);
      } else abi.scanPanels(this.gx, m, d, side.movedPanels, side.movedBias, nm, -2, 3, this.hd, this.hi, 0, 0);
      abi.heapSortRows(this.hd, this.hi, m, 3);
      full = abi.hamerlyPartial(m, this.idx, this.hd, this.hi, this.gx, this.gnorm, d, side.movedIds, side.bias, xt, cent, this.labels, this.dist, this.lower);
    }
    if (full > 0) {
      abi.heapInit(this.hd, this.hi, full * 2);
      // (the int16 prefilter gives the float scan's heaps bit for bit, in a fraction of its float work)
      if (side.qp !== 0) abi.qscanPanels(this.gx, full, d, side.panels, side.bias, k, -2, 2, this.hd, this.hi, 0, side.qp, side.qinfo, side.work);
      else abi.scanPanels(this.gx, full, d, side.panels, side.bias, k, -2, 2, this.hd, this.hi, 0, 0);
      abi.heapSortRows(this.hd, this.hi, full, 2);
      abi.hamerlyScatter(full, this.idx, this.hd, this.hi, this.gnorm, side.bias, this.labels, this.dist, this.lower);
      // the objective in the difference form ||x - c||^2 for every point: the others have it already
      abi.l2sqToAssigned(xt, full, d, cent, this.labels, this.dist, this.idx);
    }
    const obj = abi.sumF32(this.dist, n);
    abi.kmeansAccumulate(xt, n, d, this.labels, k, sums, counts);
    return { obj, rescanned: full, movedOnly: m - full };
  }
}
