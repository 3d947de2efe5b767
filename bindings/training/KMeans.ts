import { statsFromCounts, type CodebookStats } from './codebookStats.js';
import { checkBool, checkInt, checkOneOf, checkOptions, checkVectors, fail, raw, VQError } from '../errors.js';
import { paramBool, paramInt, paramString, readContainer, sectionF32, writeContainer } from '../io/format.js';
import { knnPanels, top1QpanelsSizes } from '../search/scan.js';
import { Rng } from '../util/rng.js';
import { gatherRows } from '../util/rows.js';
import { CentroidSide, KMeansBlock, seedHere, type BlockRunner, type SeedSample, type Shift, type StepCounts, type TrainingSample } from './kmeansBlock.js';
import { allocations, MAX_MEMORY_BYTES } from '../wasm/engine.js';
import { Owned } from '../wasm/owned.js';

export type KMeansInit = 'kmeans++' | 'random';

export interface KMeansProgress {
  /** 0-based run index when nredo > 1. */
  redo: number;
  /** 1-based iteration just finished. */
  iteration: number;
  iterations: number;
  /** Sum of squared distances at this iteration's assignment. */
  objective: number;
}

/**
 * Largest |seed| of a KMeans: 2^52, so that seed + r (restart r; the quantizers' sub-space and level runs add their
 * index) is still an exact integer, and each run its own (at 2^53 - 1, seed + 1 and seed + 2 were the same number).
 */
export const KMEANS_SEED_LIMIT = 2 ** 52;

export interface KMeansOptions {
  /** Vector dimension. */
  d: number;
  /** Number of centroids. */
  k: number;
  /** Lloyd iterations per run. Default 25 (Faiss niter). */
  iterations?: number;
  /**
   * Seed of every random choice (sampling, initialisation, splits): an integer in [-2^52, 2^52], so that the restarts'
   * seed + 1, seed + 2, ... stay distinct. The generator keeps 32 bits: seeds that differ by a multiple of 2^32 give the
   * same run. Default 1234 (Faiss).
   */
  seed?: number;
  /** 'kmeans++' (default): D^2 seeding (Arthur & Vassilvitskii 2007); 'random': k distinct training points (Faiss). */
  init?: KMeansInit;
  /**
   * Independent runs initialised as with seeds seed, seed + 1, ... (on the same training sample); the one with the
   * lowest final objective is kept. Default 1.
   */
  nredo?: number;
  /** Normalize centroids to unit length after each update (for cosine / inner-product data). Default false. */
  spherical?: boolean;
  /** Training uses at most maxPointsPerCentroid * k points, sampled with the seed. Default 256 (Faiss). */
  maxPointsPerCentroid?: number;
  /** Fewer than minPointsPerCentroid * k points raise a warning. Default 39 (Faiss). */
  minPointsPerCentroid?: number;
  /**
   * k-means++ draws its centroids from at most initPointsPerCentroid * k of the training points, a uniform subsample
   * drawn with the run's seed (as scikit-learn's MiniBatchKMeans seeds on init_size points). Default 16: seeding on
   * every point (up to 256 a centroid) cost a fifth of KMeans.train's time at k = 256 and more than a quarter at k =
   * 1024 (it is k sequential passes), and 16 a centroid end at the same objective (README, k-means). At least
   * maxPointsPerCentroid: every training point. 'random' init ignores it.
   */
  initPointsPerCentroid?: number;
  /** Called after every iteration. */
  onProgress?: (p: KMeansProgress) => void;
  /** Receives warnings (too few points per centroid, subsampling) instead of the console. */
  onWarning?: (message: string) => void;
}

export interface KMeansTrainResult {
  /** Sum of squared distances of the training points to their nearest centroid, at each iteration of the kept run. */
  objective: number[];
  iterations: number;
  /** Training points used (after subsampling). */
  nTrain: number;
  /** Training points k-means++ drew its seeds from (initPointsPerCentroid); 0 with 'random' init or initialCentroids. */
  nSeed: number;
  /** Empty clusters repaired by splitting a large one, summed over the kept run's iterations. */
  emptyClustersRepaired: number;
  /** Index of the kept run (0 when nredo = 1). */
  bestRedo: number;
  /** Final objective of every run. */
  redoObjectives: number[];
  /** Warnings also sent to onWarning. */
  warnings: string[];
  /** Points per cluster in the last assignment of the kept run (before any split that followed it). */
  clusterSizes: Int32Array;
  /** Codebook usage of that assignment (utilization, perplexity, dead codes): collapse shows here. */
  stats: CodebookStats;
  /**
   * Points compared against all k centroids at each iteration of the kept run; the others were proven by Hamerly's
   * bounds to keep their cluster, or settled against the centroids that moved (movedOnly) (nTrain in the first
   * iteration, usually a small fraction after a few). 0 for the iterations after a fixed point (centroids unchanged
   * to the bit): they repeat it exactly, so they are not run.
   */
  rescanned: number[];
  /**
   * Points that Hamerly's test did not clear but a scan against only the centroids that moved in the last update
   * settled, at each iteration (0 where too many moved for that scan to pay, or none was needed).
   */
  movedOnly: number[];
}

interface Plan {
  nt: number;
  /** k-means++'s points: all nt, or a subsample (initPointsPerCentroid); 0 when no run seeds by k-means++. */
  seedN: number;
  picked: Int32Array | null;
  useSep: boolean;
  warnings: string[];
  initial: Float32Array | null;
  /** The point training runs around (farCenter), or null. */
  center: Float32Array | null;
}

/**
 * What lloyd() asks of the point side: null = drop the bounds (a new run); an iteration against the centroids at
 * cent; 'seed' = k-means++'s rounds over the seeding sample with the generator at state rng (answer the state after
 * them, or null to have them run here).
 */
type PointRequest =
  | null
  | { kind: 'step'; it: number; shift: Shift | null }
  | { kind: 'seed'; sample: SeedSample; rng: number };
type PointReply = null | StepCounts | number;

interface LoopBuffers {
  xt: number;
  cent: number;
  old: number;
  shift: number;
  /** k-means++'s subsample f32[seedN][d] (= xt when seedN = nt) and its working distances f32[seedN]. */
  seedX: number;
  seedMin: number;
  sums: number;
  counts: number;
  best: number;
  bestBias: number;
}

export interface AssignResult {
  labels: Int32Array;
  /** Squared L2 distance to the assigned centroid. */
  distances: Float32Array;
}

// Faiss's relative perturbation when a large cluster is split to fill an empty one
const SPLIT_EPS = 1 / 1024;
// Largest k for which Hamerly's centroid-separation test is used (its k x k score buffer: 64 MiB at 4096)
const SEPARATION_MAX_K = 4096;

/** a and b hold the same 32-bit words (centroids compared to the bit: -0 and +0 differ). */
function sameWords(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Lloyd's k-means with k-means++ or random seeding, subsampling, empty-cluster repair and restarts (the options of
 * Faiss ClusteringParameters). Assignment runs in wasm on register panels, and Hamerly's bounds (SDM 2010) skip the
 * points that provably keep their cluster: the iterations are Lloyd's, up to float rounding at exact ties, for a
 * fraction of the distance computations. The same seed gives the same centroids, bit for bit, for a given build
 * (simd / relaxed).
 */
export class KMeans extends Owned {
  readonly d: number;
  readonly k: number;
  readonly iterations: number;
  readonly seed: number;
  readonly init: KMeansInit;
  readonly nredo: number;
  readonly spherical: boolean;
  readonly maxPointsPerCentroid: number;
  readonly minPointsPerCentroid: number;
  readonly initPointsPerCentroid: number;
  private readonly onProgress?: (p: KMeansProgress) => void;
  private readonly onWarning?: (message: string) => void;
  private trained = false;
  // persistent: centroids in panels f32[padTo8(k)/8][d][8] and their squared norms f32[padTo8(k)]
  private panelsPtr = 0;
  private biasPtr = 0;
  // the centroids' int16 copy (assembly/kernels/qpanels.ts): assign() scans it first
  private qpPtr = 0;
  private qinfoPtr = 0;
  // the panels hold centroid - center when the training points sat far from the origin (farCenter); null: as they are
  private center: Float32Array | null = null;
  /** @internal Train on the points as they are, however far from the origin (ResidualQuantizer's levels: see there). */
  keepOrigin = false;

  constructor(options: KMeansOptions) {
    const W = 'new KMeans';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 20);
    const k = checkInt(W, 'k', o.k, 1, 1 << 24);
    const iterations = checkInt(W, 'iterations', o.iterations ?? 25, 1, 1_000_000);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -KMEANS_SEED_LIMIT, KMEANS_SEED_LIMIT);
    const init = checkOneOf(W, 'init', o.init ?? 'kmeans++', ['kmeans++', 'random'] as const);
    const nredo = checkInt(W, 'nredo', o.nredo ?? 1, 1, 1000);
    const spherical = checkBool(W, 'spherical', o.spherical ?? false);
    const maxPPC = checkInt(W, 'maxPointsPerCentroid', o.maxPointsPerCentroid ?? 256, 1);
    const minPPC = checkInt(W, 'minPointsPerCentroid', o.minPointsPerCentroid ?? 39, 0);
    const initPPC = checkInt(W, 'initPointsPerCentroid', o.initPointsPerCentroid ?? 16, 1);
    if (minPPC > maxPPC) fail('INVALID_OPTION', W, 'minPointsPerCentroid exceeds maxPointsPerCentroid', raw(`${minPPC} > ${maxPPC}`), 'min <= max');
    for (const name of ['onProgress', 'onWarning'] as const) {
      if (o[name] !== undefined && typeof o[name] !== 'function') fail('INVALID_OPTION', W, `${name} must be a function`, o[name], 'a function or undefined');
    }
    const bytes = Math.ceil(k / 8) * 8 * (d + 1) * 4;
    if (bytes > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', W, `k * d centroids do not fit in WebAssembly memory`, raw(`${k} x ${d}`), 'k * d * 4 bytes under 4 GiB');
    super(W);
    this.d = d;
    this.k = k;
    this.iterations = iterations;
    this.seed = seed;
    this.init = init;
    this.nredo = nredo;
    this.spherical = spherical;
    this.maxPointsPerCentroid = maxPPC;
    this.minPointsPerCentroid = minPPC;
    this.initPointsPerCentroid = initPPC;
    this.onProgress = o.onProgress as KMeans['onProgress'];
    this.onWarning = o.onWarning as KMeans['onWarning'];
  }

  get isTrained(): boolean {
    return this.trained;
  }

  /** A copy of the centroids, row-major f32[k][d]. */
  get centroids(): Float32Array {
    return shiftRows(this.panelRows('KMeans.centroids'), this.center, 1);
  }

  /** The panels' rows, f32[k][d]: the centroids, less the center if there is one. */
  private panelRows(where: string): Float32Array {
    const eng = this.alive(where);
    if (!this.trained) fail('NOT_TRAINED', where, 'the model has no centroids yet', raw('an untrained KMeans'), 'train(x) first');
    const [op] = eng.scratch([this.k * this.d * 4], where);
    eng.abi.unpackPanels(this.panelsPtr, 0, this.k, this.d, op);
    return eng.f32(op, this.k * this.d).slice();
  }

  /**
   * Trains on x (row-major Float32Array of n * d, n >= k). Retraining replaces the centroids; if training throws,
   * the previous centroids stay. `initialCentroids` (f32[k][d]) replaces the seeding: a warm start from an earlier
   * solution (OPQ's alternating steps use it, as Faiss's Train_hot_start does).
   */
  train(x: Float32Array, options: { initialCentroids?: Float32Array } = {}): KMeansTrainResult {
    const where = 'KMeans.train';
    const eng = this.alive(where);
    const plan = this.plan(where, x, options);
    const { nt, useSep } = plan;
    const { take, freeAll } = allocations(eng, where);
    try {
      const xt = this.trainingPoints(plan, x, take);
      // one block over every training point, here
      const side = new CentroidSide(eng, this.d, this.k, useSep, take);
      const block = new KMeansBlock(eng, xt, nt, this.d, side, take);
      const bufs = this.loopBuffers(take, xt, plan);
      const run = this.lloyd(plan, bufs);
      let r = run.next();
      while (!r.done) {
        const req = r.value;
        let reply: PointReply = null;
        if (req === null) {
          block.reset();
        } else if (req.kind === 'step') {
          side.prepare(bufs.cent, req.it, req.shift);
          reply = block.step(bufs.cent, req.it, req.shift, bufs.sums, bufs.counts);
        } else {
          reply = null; // 'seed': the rounds run here, in initCentroids
        }
        r = run.next(reply);
      }
      return r.value;
    } finally {
      freeAll();
    }
  }

  /**
   * train() with the per-point work of each iteration done elsewhere (WorkerPool.kmeans: blocks of points in
   * workers): `start` receives the training points (after sampling) and whether Hamerly's second test is on, and
   * returns the runner of iterations. Seeding, the centroid update, empty-cluster repair and the result are computed
   * here exactly as in train(); the per-centroid sums come back from the blocks and are added in block order.
   * onIteration gets each iteration's progress, as the options' onProgress does (WorkerPool.trainIndex).
   * @internal
   */
  async trainOn(
    x: Float32Array, start: (sample: TrainingSample, useSep: boolean) => Promise<BlockRunner>, onIteration?: (p: KMeansProgress) => void,
  ): Promise<KMeansTrainResult> {
    const where = 'KMeans.train';
    const eng = this.alive(where);
    const plan = this.plan(where, x, {});
    const { take, freeAll } = allocations(eng, where);
    try {
      const xt = this.trainingPoints(plan, x, take);
      const bufs = this.loopBuffers(take, xt, plan);
      const d4 = this.d * 4;
      const rows = (r0: number, r1: number) => eng.f32(xt + r0 * d4, (r1 - r0) * this.d).slice();
      const runner = await start({ nt: plan.nt, xt, cent: bufs.cent, rows }, plan.useSep);
      const run = this.lloyd(plan, bufs, onIteration);
      let r = run.next();
      while (!r.done) {
        const req = r.value;
        let reply: PointReply = null;
        if (req === null) {
          await runner.reset();
        } else if (req.kind === 'step') {
          const cent = eng.f32(bufs.cent, this.k * this.d).slice();
          eng.f64(bufs.sums, this.k * this.d).fill(0);
          eng.f64(bufs.counts, this.k).fill(0);
          reply = await runner.step(cent, req.it, req.shift, { sums: bufs.sums, counts: bufs.counts });
        } else {
          reply = await runner.seed(req.sample, req.rng);
        }
        r = run.next(reply);
      }
      return r.value;
    } finally {
      freeAll();
    }
  }

  /** Checks train()'s arguments and decides the training sample and the bounds to use. */
  private plan(where: string, x: Float32Array, options: { initialCentroids?: Float32Array }): Plan {
    const { d, k } = this;
    const n = checkVectors(where, 'x', x, d);
    const o = checkOptions(where, options);
    const initial = o.initialCentroids;
    if (initial !== undefined) checkVectors(where, 'initialCentroids', initial, d, { minRows: k });
    if (initial !== undefined && (initial as Float32Array).length !== k * d) {
      fail('INVALID_SIZE', where, 'initialCentroids must hold k centroids', raw(`length ${(initial as Float32Array).length}`), `k * d = ${k * d}`);
    }
    if (n < k) fail('TOO_FEW_POINTS', where, 'fewer training points than centroids', raw(`n = ${n}`), `n >= k = ${k}`);
    const warnings: string[] = [];
    const warn = (m: string) => {
      warnings.push(m);
      this.onWarning?.(m);
    };
    if (n < this.minPointsPerCentroid * k) {
      warn(`KMeans.train: ${n} training points for ${k} centroids (${(n / k).toFixed(1)} per centroid); at least ${this.minPointsPerCentroid * k} (${this.minPointsPerCentroid} per centroid) are advised`);
    }
    const kp = Math.ceil(k / 8) * 8;
    const sampleRng = new Rng(this.seed);
    let nt = n;
    let picked: Int32Array | null = null;
    if (n > this.maxPointsPerCentroid * k) {
      nt = this.maxPointsPerCentroid * k;
      picked = sampleRng.sortedSample(n, nt);
      warn(`KMeans.train: sampling ${nt} of ${n} training points (maxPointsPerCentroid = ${this.maxPointsPerCentroid})`);
    }
    // Hamerly's second test (half the gap to the nearest other centroid) needs the k x k centroid scores each
    // iteration: worth it while that costs a small part of the n x k scan and its buffer stays small.
    const useSep = k <= SEPARATION_MAX_K && k * 8 <= nt;
    const seedN = this.init === 'kmeans++' && !initial ? Math.min(nt, this.initPointsPerCentroid * k) : 0;
    const trainBytes = nt * (2 * d + 24) * 4 + kp * d * 4 * 2 + kp * 8 + k * d * 16 + k * 16 + (useSep ? k * k * 4 : 0) + (seedN < nt ? seedN * d * 4 : 0) + seedN * 4;
    if (trainBytes > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, 'the training set does not fit in WebAssembly memory', raw(`${nt} x ${d}`), 'under 4 GiB; lower maxPointsPerCentroid');
    const center = this.spherical || this.keepOrigin ? null : farCenter(x, d, nt, picked);
    return { nt, seedN, picked, useSep, warnings, initial: (initial as Float32Array | undefined) ?? null, center };
  }

  /** The training points xt f32[nt][d] (the sample when there is one), in wasm memory from `take`. */
  private trainingPoints(plan: Plan, x: Float32Array, take: (bytes: number) => number): number {
    const { d } = this;
    const { nt, picked } = plan;
    const xt = take(nt * d * 4);
    const view = this.eng.f32(xt, nt * d);
    if (picked) gatherRows(view, x, picked, d);
    else view.set(x);
    if (plan.center) shiftRows(view, plan.center, -1);
    return xt;
  }

  /**
   * The buffers of the centroid side: cent / old f32[k][d] centroids now and before the update, shift f32[k],
   * sums f64[k][d], counts f64[k], best + bestBias: the kept run's centroids in panels.
   */
  private loopBuffers(take: (bytes: number) => number, xt: number, plan: Plan): LoopBuffers {
    const { d, k } = this;
    const { nt, seedN } = plan;
    const kp = Math.ceil(k / 8) * 8;
    return {
      xt, cent: take(k * d * 4), old: take(k * d * 4), shift: take(k * 4), sums: take(k * d * 8), counts: take(k * 8),
      best: take(kp * d * 4), bestBias: take(kp * 4), seedX: seedN > 0 && seedN < nt ? take(seedN * d * 4) : xt,
      seedMin: seedN > 0 ? take(seedN * 4) : 0,
    };
  }

  /**
   * Lloyd's iterations, runs and the commit of the best run. Yields null when the point side must drop its bounds (a
   * new run), or an iteration to run against the centroids at cent; receives that iteration's objective and rescans
   * (the point side has written the assignment's sums and counts to sums / counts). Returns train()'s result.
   * onIteration: trainOn's caller's progress, beside the options' own onProgress.
   */
  private *lloyd(plan: Plan, b: LoopBuffers, onIteration?: (p: KMeansProgress) => void): Generator<PointRequest, KMeansTrainResult, PointReply> {
    const where = 'KMeans.train';
    const eng = this.eng;
    const { d, k } = this;
    const kp = Math.ceil(k / 8) * 8;
    const { nt, initial } = plan;
    let bestObj = Infinity;
    let bestRun: { objective: number[]; repaired: number; sizes: Int32Array; rescanned: number[]; movedOnly: number[] } | null = null;
    let bestRedo = 0;
    const redoObjectives: number[] = [];
    for (let redo = 0; redo < this.nredo; redo++) {
      // run r initialises exactly like a single run with seed + r (on the same training sample)
      const rng = new Rng(this.seed + redo + 1);
      if (initial) eng.f32(b.cent, k * d).set(plan.center ? shiftRows(initial.slice(), plan.center, -1) : initial);
      else yield* this.initCentroids(b, plan, rng);
      const objective: number[] = [];
      const rescanned: number[] = [];
      const movedOnly: number[] = [];
      let repaired = 0;
      const sizes = new Int32Array(k); // cluster sizes, halved by splits as Faiss does
      const assigned = new Int32Array(k); // the counts of the last assignment, before any split
      // no bounds yet: every point is rescanned in the first iteration
      yield null;
      let shift: Shift | null = null;
      for (let it = 0; it < this.iterations; it++) {
        const r = (yield { kind: 'step', it, shift }) as StepCounts;
        rescanned.push(r.rescanned);
        movedOnly.push(r.movedOnly);
        objective.push(r.obj);
        // update, repair, and how far each centroid moved (to loosen the lower bounds)
        new Uint8Array(eng.abi.memory.buffer).copyWithin(b.old, b.cent, b.cent + k * d * 4);
        eng.abi.kmeansUpdate(b.sums, b.counts, k, d, b.cent);
        const cnt = eng.f64(b.counts, k);
        for (let j = 0; j < k; j++) sizes[j] = cnt[j];
        assigned.set(sizes);
        const splits = this.splitEmpty(b.cent, sizes, rng);
        repaired += splits;
        if (this.spherical) eng.abi.normalizeRows(b.cent, k, d);
        eng.abi.centroidShift(b.old, b.cent, k, d, b.shift);
        const sh = eng.f32(b.shift, k);
        let max = 0;
        let second = 0;
        let argMax = -1;
        let nMoved = 0;
        for (let j = 0; j < k; j++) {
          if (sh[j] > 0) nMoved++;
          if (sh[j] > max) {
            second = max;
            max = sh[j];
            argMax = j;
          } else if (sh[j] > second) second = sh[j];
        }
        const moved = new Int32Array(nMoved);
        for (let j = 0, r = 0; j < k; j++) if (sh[j] > 0) moved[r++] = j;
        shift = [max, second, argMax, moved];
        const p = { redo, iteration: it + 1, iterations: this.iterations, objective: r.obj };
        this.onProgress?.(p);
        onIteration?.(p);
        // a fixed point: centroids unchanged to the bit and no split (which draws from rng), so the next assignment
        // is this one (the scans are deterministic per point), its sums and update the same, and so on: the
        // iterations left would repeat this one exactly: their objectives are recorded and reported without running
        // them (no points rescanned).
        if (max === 0 && splits === 0 && it + 1 < this.iterations && sameWords(eng.i32(b.old, k * d), eng.i32(b.cent, k * d))) {
          for (let rest = it + 1; rest < this.iterations; rest++) {
            objective.push(r.obj);
            rescanned.push(0);
            movedOnly.push(0);
            const q = { redo, iteration: rest + 1, iterations: this.iterations, objective: r.obj };
            this.onProgress?.(q);
            onIteration?.(q);
          }
          break;
        }
      }
      const final = objective[objective.length - 1];
      redoObjectives.push(final);
      if (final < bestObj || bestRun === null) {
        bestObj = final;
        bestRedo = redo;
        bestRun = { objective, repaired, sizes: assigned.slice(), rescanned, movedOnly };
        eng.abi.packPanels(b.cent, k, d, b.best, 0);
        eng.abi.panelNormsSq(b.best, 0, k, d, b.bestBias);
      }
    }
    // commit: the kept centroids become this model's (allocated before the old ones are freed)
    this.adopt(where, (panels, bias) => {
      const mem = new Uint8Array(eng.abi.memory.buffer);
      mem.copyWithin(panels, b.best, b.best + kp * d * 4);
      mem.copyWithin(bias, b.bestBias, b.bestBias + kp * 4);
    });
    this.center = plan.center;
    const run = bestRun!;
    return {
      objective: run.objective,
      iterations: this.iterations,
      nTrain: nt,
      nSeed: plan.seedN,
      emptyClustersRepaired: run.repaired,
      bestRedo,
      redoObjectives,
      warnings: plan.warnings,
      clusterSizes: run.sizes,
      stats: statsFromCounts(run.sizes),
      rescanned: run.rescanned,
      movedOnly: run.movedOnly,
    };
  }

  /**
   * Seeds cent f32[k][d] from the training points xt f32[nt][d]. k-means++ draws from plan.seedN of them: all, or a
   * uniform subsample gathered into seedX (sorted indices drawn from the run's generator, so a run's sample and seeds
   * follow from its seed alone); it asks the point side to run the rounds ('seed': a pool runs them in its workers)
   * and runs them here if it answers null.
   */
  private *initCentroids(b: LoopBuffers, plan: Plan, rng: Rng): Generator<PointRequest, void, PointReply> {
    const { d, k } = this;
    const { nt, seedN } = plan;
    const eng = this.eng;
    const row = d * 4;
    const copyRow = (x: number, i: number, j: number) => new Uint8Array(eng.abi.memory.buffer).copyWithin(b.cent + j * row, x + i * row, x + (i + 1) * row);
    if (this.init === 'random') {
      const idx = rng.sample(nt, k);
      for (let j = 0; j < k; j++) copyRow(b.xt, idx[j], j);
    } else {
      if (seedN < nt) gatherRows(eng.f32(b.seedX, seedN * d), eng.f32(b.xt, nt * d), rng.sortedSample(nt, seedN), d);
      const first = rng.nextInt(seedN);
      copyRow(b.seedX, first, 0);
      const sample: SeedSample = { x: b.seedX, n: seedN, first, minD: b.seedMin, cent: b.cent };
      const done = (yield { kind: 'seed', sample, rng: rng.state32 }) as number | null;
      if (done !== null) rng.restore(done);
      else seedHere(eng, b.seedX, seedN, d, k, b.cent, b.seedMin, rng);
    }
    if (this.spherical) eng.abi.normalizeRows(b.cent, k, d);
  }

  /**
   * Faiss's empty-cluster repair: each empty cluster takes a copy of a cluster drawn with probability proportional
   * to (size - 1), and the two are pushed apart by a relative +-SPLIT_EPS; the sizes are split in half. Returns the
   * number repaired.
   */
  private splitEmpty(cent: number, sizes: Int32Array, rng: Rng): number {
    const { d, k } = this;
    let repaired = 0;
    for (let ci = 0; ci < k; ci++) {
      if (sizes[ci] !== 0) continue;
      let total = 0;
      for (let j = 0; j < k; j++) if (sizes[j] > 1) total += sizes[j] - 1;
      if (total === 0) break; // cannot happen while nt >= k, kept as a guard
      let r = rng.nextFloat() * total;
      let cj = 0;
      for (; cj < k; cj++) {
        if (sizes[cj] > 1) {
          r -= sizes[cj] - 1;
          if (r < 0) break;
        }
      }
      if (cj === k) for (cj = k - 1; sizes[cj] <= 1; cj--); // rounding left r >= 0: take the last candidate
      const c = new Float32Array(this.eng.abi.memory.buffer, cent, k * d);
      for (let t = 0; t < d; t++) {
        const v = c[cj * d + t];
        const up = t % 2 === 0;
        c[ci * d + t] = v * (up ? 1 + SPLIT_EPS : 1 - SPLIT_EPS);
        c[cj * d + t] = v * (up ? 1 - SPLIT_EPS : 1 + SPLIT_EPS);
      }
      sizes[ci] = sizes[cj] >> 1;
      sizes[cj] -= sizes[ci];
      repaired++;
    }
    return repaired;
  }

  /** The model as bytes (bindings/io/format.ts, kind KMeans: its options, and CENT = centroids f32[k][d] once trained). */
  save(): Uint8Array {
    this.alive('KMeans.save');
    const params = {
      d: this.d, k: this.k, iterations: this.iterations, seed: this.seed, init: this.init, nredo: this.nredo, spherical: this.spherical,
      maxPointsPerCentroid: this.maxPointsPerCentroid, minPointsPerCentroid: this.minPointsPerCentroid, initPointsPerCentroid: this.initPointsPerCentroid,
      trained: this.trained,
    };
    // CENT the centroids; with a center also CENC, the panels' rows relative to it, and CNTR, the center (a load is
    // then exact; a reader that knows neither still gets the centroids from CENT)
    const sections = this.trained ? [{ tag: 'CENT', data: this.centroids }] : [];
    if (this.trained && this.center) sections.push({ tag: 'CENC', data: this.panelRows('KMeans.save') }, { tag: 'CNTR', data: this.center });
    return writeContainer('KMeans', params, sections);
  }

  /** Restores a model written by save() (callbacks are not saved: pass none, or set them on a new KMeans). */
  static load(bytes: Uint8Array | ArrayBuffer): KMeans {
    const where = 'KMeans.load';
    const c = readContainer(where, bytes, 'KMeans');
    const d = paramInt(where, c, 'd', 1, 1 << 20);
    const k = paramInt(where, c, 'k', 1, 1 << 24);
    const opts: KMeansOptions = {
      d, k,
      iterations: paramInt(where, c, 'iterations', 1, 1_000_000),
      seed: paramInt(where, c, 'seed', -KMEANS_SEED_LIMIT, KMEANS_SEED_LIMIT),
      init: paramString(where, c, 'init', ['kmeans++', 'random'] as const),
      nredo: paramInt(where, c, 'nredo', 1, 1000),
      spherical: paramBool(where, c, 'spherical'),
      maxPointsPerCentroid: paramInt(where, c, 'maxPointsPerCentroid', 1, Number.MAX_SAFE_INTEGER),
      minPointsPerCentroid: paramInt(where, c, 'minPointsPerCentroid', 0, Number.MAX_SAFE_INTEGER),
      // (files written before the option existed seeded on every point: a value >= maxPointsPerCentroid does that)
      initPointsPerCentroid: Object.hasOwn(c.params, 'initPointsPerCentroid') ? paramInt(where, c, 'initPointsPerCentroid', 1, Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER,
    };
    let km: KMeans;
    try {
      km = new KMeans(opts);
    } catch (e) {
      if (e instanceof VQError && e.code !== 'NOT_INITIALIZED') throw new VQError('CORRUPT_DATA', `${where}: saved parameters are invalid (${e.message})`);
      throw e;
    }
    if (!paramBool(where, c, 'trained')) return km;
    try {
      const center = c.sections.has('CNTR') ? sectionF32(where, c, 'CNTR', d).slice() : null;
      const cent = sectionF32(where, c, center ? 'CENC' : 'CENT', k * d);
      if (center?.some((v) => !Number.isFinite(v))) fail('CORRUPT_DATA', where, 'the saved center is not finite', raw('NaN or Infinity'), 'finite values');
      km.adopt(where, (panels, bias) => {
        const [cp] = km.eng.scratch([k * d * 4], where);
        km.eng.f32(cp, k * d).set(cent);
        km.eng.abi.packPanels(cp, k, d, panels, 0);
        km.eng.abi.panelNormsSq(panels, 0, k, d, bias);
      });
      km.center = center;
    } catch (e) {
      km.dispose();
      throw e;
    }
    return km;
  }

  /**
   * New centroids: allocates panels f32[kp][d], bias f32[kp] and their int16 copy (from d = 24, where it pays), lets fill() write the first two,
   * packs the copy, then frees the old buffers; on any failure the model is as it was.
   */
  private adopt(where: string, fill: (panels: number, bias: number) => void): void {
    const { k, d } = this;
    const kp = Math.ceil(k / 8) * 8;
    const fresh = this.ownAll(where, [kp * d * 4, kp * 4, ...top1QpanelsSizes(this.eng, k, d)]);
    const [panels, bias, qp, qinfo] = fresh;
    fill(panels, bias);
    if (qp !== 0) this.eng.abi.qpanelsPack(panels, bias, 0, k, d, qp, qinfo);
    for (const p of [this.panelsPtr, this.biasPtr, this.qpPtr, this.qinfoPtr]) this.release(p);
    [this.panelsPtr, this.biasPtr, this.qpPtr, this.qinfoPtr] = fresh;
    this.trained = true;
  }

  /** Nearest centroid of each vector of x (row-major Float32Array of n * d). */
  assign(x: Float32Array): AssignResult {
    const where = 'KMeans.assign';
    const eng = this.alive(where);
    checkVectors(where, 'x', x, this.d);
    if (!this.trained) fail('NOT_TRAINED', where, 'the model has no centroids yet', raw('an untrained KMeans'), 'train(x) first');
    const xc = this.center ? shiftRows(x.slice(), this.center, -1) : x;
    const res = knnPanels(eng, where, xc, { panelsPtr: this.panelsPtr, biasPtr: this.biasPtr, nb: this.k, d: this.d, qpPtr: this.qpPtr, qinfoPtr: this.qinfoPtr }, 'l2', 1);
    return { labels: res.ids, distances: res.distances };
  }
}

/** rows f32[*][d] += sign * center, row by row, in place (none when center is null); returns rows. */
function shiftRows(rows: Float32Array, center: Float32Array | null, sign: 1 | -1): Float32Array {
  if (!center) return rows;
  const d = center.length;
  for (let i = 0; i < rows.length; i += d) for (let j = 0; j < d; j++) rows[i + j] += sign * center[j];
  return rows;
}

/**
 * Where training should run around. Far from the origin against their spread, points lose their distances to float32
 * rounding in ||x||^2 - 2 <x, c> + ||c||^2 (an audit: d 32, clusters of spread ~1 at offset 300 got 16 % of assign()'s
 * labels wrong, 93 % at 1000), as FlatIndex's would without its own center: then training and assign() work on x minus
 * the mean of (up to 4096 evenly spaced) training points, and the centroids are reported with it added back. null
 * (x as it is, bit for bit as before) while the mean's squared norm is under 256 times the points' mean squared
 * distance to it.
 */
function farCenter(x: Float32Array, d: number, nt: number, picked: Int32Array | null): Float32Array | null {
  const step = Math.ceil(nt / 4096);
  const rows: number[] = [];
  for (let j = 0; j < nt; j += step) rows.push(picked ? picked[j] : j);
  const m = new Float64Array(d);
  for (const r of rows) for (let t = 0; t < d; t++) m[t] += x[r * d + t];
  let norm = 0;
  for (let t = 0; t < d; t++) norm += (m[t] /= rows.length) ** 2;
  let spread = 0;
  for (const r of rows) for (let t = 0; t < d; t++) spread += (x[r * d + t] - m[t]) ** 2;
  return norm > (256 * spread) / rows.length ? Float32Array.from(m) : null;
}
