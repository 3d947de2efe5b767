import { checkCodes, decodePacked } from './packed.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramInt, readContainer, sectionF32, writeContainer } from '../io/format.js';
import { chunkRows } from '../search/scan.js';
import type { CodebookStats } from '../training/codebookStats.js';
import { KMeans, type KMeansInit, type KMeansOptions } from '../training/KMeans.js';
import type { TrainSteps } from '../training/steps.js';
import type { Metric } from '../types.js';
import { Rng } from '../util/rng.js';
import type { Engine } from '../wasm/engine.js';
import { Owned } from '../wasm/owned.js';
import { anisotropicLoss, anisotropicUpdate, ahWeights, AH_MAX_DSUB, AH_ROUNDS, etaOf, normWeights } from './anisotropic.js';
import { refuseIfHeld, type Quantizer } from './Quantizer.js';

export interface ProductQuantizerOptions {
  /** Vector dimension; a multiple of m. */
  d: number;
  /** Number of sub-quantizers (sub-spaces of d / m components). */
  m: number;
  /** Bits per sub-quantizer code, 1..8: ksub = 2^nbits codewords per sub-space. Default 8. */
  nbits?: number;
  /** Seed of the training sample and of sub-space j's k-means (seed + j). Default 1234. */
  seed?: number;
  /** k-means iterations per sub-space. Default 25 (Faiss). */
  iterations?: number;
  /** k-means seeding. Default 'kmeans++'. */
  init?: KMeansInit;
  /** Training uses at most maxPointsPerCentroid * ksub vectors, sampled with the seed. Default 256 (Faiss). */
  maxPointsPerCentroid?: number;
  /**
   * Score-aware (anisotropic) quantization for inner-product search (Guo et al. 2020, ScaNN): a number T in (0, 1)
   * turns it on. T is relative to each vector's norm (ScaNN's threshold on unit vectors), so the weight of the residual
   * parallel to a vector against the perpendicular one is the same for every vector: eta = (d - 1) T^2 / (1 - T^2)
   * (eta > 1 from T > 1 / sqrt(d)). Training refines the k-means codebook for the loss eta ||r_par||^2 + ||r_perp||^2,
   * and encode() chooses codes for that loss. Needs d / m <= 64. Default: off (plain PQ).
   */
  anisotropicThreshold?: number;
  /** Alternations of anisotropic encoding and codebook update after k-means (with anisotropicThreshold). Default 10. */
  anisotropicIterations?: number;
  /**
   * Exponent p of the per-vector weight ||x||^p (normalized to mean 1) in the anisotropic training loss; 0 weighs every
   * vector alike (the paper's loss). Codes are unaffected, only the codebook. Default 2: long vectors, which fill most
   * inner-product top-k lists, pull the codewords harder (bindings/quantizers/anisotropic.ts has the measurements).
   */
  anisotropicNormWeight?: number;
}

/** One sub-space's k-means of a ProductQuantizer's training: KMeans options, its points f32[nt][dsub], warm start. */
export interface SubspaceJob {
  options: KMeansOptions;
  x: Float32Array;
  initial?: Float32Array;
}

export interface SubspaceResult {
  centroids: Float32Array;
  /** The final k-means objective. */
  objective: number;
  stats: CodebookStats;
}

/** @internal What ProductQuantizer.trainPlan hands to trainFinish. */
export interface PQTrainPlan {
  x: Float32Array;
  dirs: Float32Array | null;
  nt: number;
  rows: Int32Array | null;
  warnings: string[];
  /** The job of sub-space j (0..m-1). */
  job(j: number): SubspaceJob;
}

/** Trains one sub-space (a job of ProductQuantizer.trainPlan) on this thread's engine. */
export function runSubspaceJob(job: SubspaceJob): SubspaceResult {
  const km = new KMeans(job.options);
  try {
    const res = km.train(job.x, job.initial ? { initialCentroids: job.initial } : {});
    return { centroids: km.centroids, objective: res.objective[res.objective.length - 1], stats: res.stats };
  } finally {
    km.dispose();
  }
}

/** train()'s options (see train). */
export interface PQTrainOptions {
  iterations?: number;
  warmStart?: boolean;
  directions?: Float32Array;
}

export interface ProductQuantizerTrainResult {
  /** Training vectors used (after subsampling). */
  nTrain: number;
  /** Final k-means objective (sum of squared distances) of each sub-space. */
  objectives: number[];
  /** Sum of the objectives over nTrain: the training set's mean squared reconstruction error. */
  mse: number;
  /** Codebook usage of each sub-space's final k-means assignment. */
  stats: CodebookStats[];
  warnings: string[];
  /**
   * With anisotropicThreshold: mean anisotropic loss eta ||r_par||^2 + ||r_perp||^2 on the training sample (weighted
   * by ||x||^p, p = anisotropicNormWeight, normalized to mean 1), of the
   * k-means codebook with plain nearest-codeword codes (`plain`), then of the anisotropic codes at each alternation
   * (`loss[0]` the k-means codebook, `loss[i]` after i codebook updates). objectives / mse are then those of the
   * final anisotropic codes (higher than k-means': the loss trades squared error for parallel error).
   */
  anisotropic?: { eta: number; plain: number; loss: number[] };
}

/** Seeds of quantizers and indexes: |seed| <= 2^40, so that the derived seeds (seed + j, seed + 1, ...) stay exact integers. */
export const SEED_LIMIT = 2 ** 40;

/** Internal handles an index needs to run the kernels on this quantizer's codebook (not part of the public API). */
export interface PQKernelView {
  d: number;
  m: number;
  nbits: number;
  ksubP: number;
  codeSize: number;
  centTPtr: number;
  cnormPtr: number;
}

/**
 * Product quantizer (Jégou, Douze & Schmid 2011; Faiss ProductQuantizer): d = m * dsub, each sub-vector coded with
 * one of ksub = 2^nbits codewords learned by k-means in its sub-space. nbits from 1 to 8 (Faiss goes to 16; more than
 * 256 codewords per sub-space make the distance tables outgrow L1 and are rarely worth it).
 *
 * Codes: codeSize = ceil(m * nbits / 8) bytes per vector; code j occupies bits [j * nbits, (j + 1) * nbits) of the
 * vector's byte string, least significant bit first (Faiss's layout), so nbits = 8 is one byte per sub-quantizer and
 * nbits = 4 packs two per byte, low nibble first.
 *
 * Storage (wasm memory, owned): the codebook transposed, centT f32[m][dsub][ksubP], and cnorm f32[m][ksubP] =
 * ||codeword||^2 with ksubP = max(ksub, 4); see assembly/kernels/pq.ts.
 */
export class ProductQuantizer extends Owned implements Quantizer {
  readonly d: number;
  readonly m: number;
  readonly nbits: number;
  readonly ksub: number;
  readonly dsub: number;
  readonly codeSize: number;
  readonly seed: number;
  readonly iterations: number;
  readonly init: KMeansInit;
  readonly maxPointsPerCentroid: number;
  /** T of score-aware quantization, or undefined (plain PQ). */
  readonly anisotropicThreshold: number | undefined;
  readonly anisotropicIterations: number;
  readonly anisotropicNormWeight: number;
  /** Weight of the parallel residual, (d - 1) T^2 / (1 - T^2); 1 (plain squared error) without anisotropicThreshold. */
  readonly eta: number;
  private readonly ksubP: number;
  private centTPtr = 0;
  private cnormPtr = 0;

  constructor(options: ProductQuantizerOptions) {
    const W = 'new ProductQuantizer';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 20);
    const m = checkInt(W, 'm', o.m, 1, d);
    if (d % m !== 0) fail('INVALID_OPTION', W, 'd must be a multiple of m', raw(`d = ${d}, m = ${m}`), 'm dividing d');
    const nbits = checkInt(W, 'nbits', o.nbits ?? 8, 1, 8);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    const iterations = checkInt(W, 'iterations', o.iterations ?? 25, 1, 1_000_000);
    const init = checkOneOf(W, 'init', o.init ?? 'kmeans++', ['kmeans++', 'random'] as const);
    const maxPPC = checkInt(W, 'maxPointsPerCentroid', o.maxPointsPerCentroid ?? 256, 1);
    const T = o.anisotropicThreshold === undefined ? undefined : checkNumber(W, 'anisotropicThreshold', o.anisotropicThreshold, 0, 1, { min: true, max: true });
    const ahIters = checkInt(W, 'anisotropicIterations', o.anisotropicIterations ?? 10, 0, 10_000);
    const ahNorm = checkNumber(W, 'anisotropicNormWeight', o.anisotropicNormWeight ?? 2, 0, 8);
    if (T !== undefined && d / m > AH_MAX_DSUB) fail('INVALID_OPTION', W, 'anisotropicThreshold needs sub-spaces of at most 64 components', raw(`d / m = ${d / m}`), `m >= d / ${AH_MAX_DSUB}`);
    if (T !== undefined && d < 2) fail('INVALID_OPTION', W, 'anisotropicThreshold needs d >= 2 (eta = (d - 1) T^2 / (1 - T^2))', raw(`d = ${d}`), 'd >= 2');
    super(W);
    this.d = d;
    this.m = m;
    this.nbits = nbits;
    this.ksub = 1 << nbits;
    this.ksubP = Math.max(this.ksub, 4);
    this.dsub = d / m;
    this.codeSize = Math.ceil((m * nbits) / 8);
    this.seed = seed;
    this.iterations = iterations;
    this.init = init;
    this.maxPointsPerCentroid = maxPPC;
    this.anisotropicThreshold = T;
    this.anisotropicIterations = ahIters;
    this.anisotropicNormWeight = ahNorm;
    this.eta = T === undefined ? 1 : etaOf(T, d);
  }

  get isTrained(): boolean {
    return this.centTPtr !== 0;
  }

  /** A copy of the codebook, f32[m][ksub][dsub] (Faiss's `centroids` layout). */
  get centroids(): Float32Array {
    const where = 'ProductQuantizer.centroids';
    const eng = this.alive(where);
    this.trainedOr(where);
    const { m, ksub, ksubP, dsub } = this;
    const t = eng.f32(this.centTPtr, m * dsub * ksubP);
    const out = new Float32Array(m * ksub * dsub);
    for (let j = 0; j < m; j++) for (let c = 0; c < ksub; c++) for (let s = 0; s < dsub; s++) out[(j * ksub + c) * dsub + s] = t[(j * dsub + s) * ksubP + c];
    return out;
  }

  /**
   * Learns the m codebooks from x (row-major Float32Array of n * d, n >= ksub): k-means in each sub-space on the
   * same sample of at most maxPointsPerCentroid * ksub vectors. Retraining replaces the codebook; if training throws,
   * the previous codebook stays. Options: `iterations` overrides the k-means iterations of this call; `warmStart`
   * starts k-means from the current codebook instead of seeding anew (OPQ's alternating steps use both).
   * `directions` (anisotropic quantizers only; f32[n][d]): the vectors whose direction is "parallel" for row i of x,
   * when x holds residuals of them (IVF-PQ passes the vectors whose residuals it codes); default x itself.
   */
  train(x: Float32Array, options: PQTrainOptions = {}): ProductQuantizerTrainResult {
    refuseIfHeld('ProductQuantizer.train', this);
    const plan = this.trainPlan(x, options);
    return this.trainFinish(plan, Array.from({ length: this.m }, (_, j) => runSubspaceJob(plan.job(j))));
  }

  /**
   * @internal train() as one step (training/steps.ts), so that whatever holds a quantizer (OPQ or this) trains it
   * through the same driver: WorkerPool.trainIndex runs the step's sub-spaces on its workers.
   */
  *trainSteps(x: Float32Array, options: PQTrainOptions = {}): TrainSteps<ProductQuantizerTrainResult> {
    return (yield { kind: 'pq', model: this, x, trainOptions: options }) as ProductQuantizerTrainResult;
  }

  /**
   * @internal train() in three steps, so that the m sub-space k-means runs can go elsewhere (WorkerPool.trainPQ):
   * trainPlan checks the arguments and samples, and its job(j) cuts sub-space j of the sample; runSubspaceJob
   * (exported) trains one; trainFinish installs the codebook (after the anisotropic refinement, if any) and returns the
   * result.
   */
  trainPlan(x: Float32Array, options: PQTrainOptions = {}): PQTrainPlan {
    const where = 'ProductQuantizer.train';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const o = checkOptions(where, options);
    const dirs = this.checkDirections(where, o.directions, n);
    const iterations = checkInt(where, 'iterations', o.iterations ?? this.iterations, 1, 1_000_000);
    const warm = checkBool(where, 'warmStart', o.warmStart ?? false);
    if (warm) this.trainedOr(where);
    const previous = warm ? this.centroids : null;
    const { d, m, dsub, ksub } = this;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per sub-space', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    let nt = n;
    let rows: Int32Array | null = null;
    if (n > this.maxPointsPerCentroid * ksub) {
      nt = this.maxPointsPerCentroid * ksub;
      rows = new Rng(this.seed).sortedSample(n, nt);
    }
    const warnings: string[] = [];
    if (rows) warnings.push(`${where}: sampling ${nt} of ${n} training vectors (maxPointsPerCentroid = ${this.maxPointsPerCentroid})`);
    // cut on demand: only the sub-spaces being trained are held at once
    const job = (j: number): SubspaceJob => {
      const sub = new Float32Array(nt * dsub);
      for (let i = 0; i < nt; i++) {
        const r = rows ? rows[i] : i;
        for (let s = 0; s < dsub; s++) sub[i * dsub + s] = x[r * d + j * dsub + s];
      }
      return {
        options: {
          d: dsub, k: ksub, iterations, seed: this.seed + j, init: this.init,
          maxPointsPerCentroid: Math.max(1, Math.ceil(nt / ksub)), minPointsPerCentroid: 0,
        },
        x: sub,
        initial: previous ? previous.slice(j * ksub * dsub, (j + 1) * ksub * dsub) : undefined,
      };
    };
    return { x, dirs, nt, rows, warnings, job };
  }

  /** @internal See trainPlan. `done[j]`: job j's result (from runSubspaceJob, here or in a worker). */
  trainFinish(plan: PQTrainPlan, done: SubspaceResult[]): ProductQuantizerTrainResult {
    const where = 'ProductQuantizer.train';
    this.alive(where);
    const { x, dirs, nt, rows, warnings } = plan;
    const { d, m, dsub, ksub } = this;
    const cent = new Float32Array(m * ksub * dsub);
    const objectives: number[] = [];
    const stats: CodebookStats[] = [];
    done.forEach((r, j) => {
      objectives.push(r.objective);
      stats.push(r.stats);
      cent.set(r.centroids, j * ksub * dsub);
    });
    let anisotropic: ProductQuantizerTrainResult['anisotropic'];
    if (this.anisotropicThreshold !== undefined) {
      const pick = (a: Float32Array) => {
        if (!rows) return a;
        const s = new Float32Array(nt * d);
        for (let i = 0; i < nt; i++) s.set(a.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
        return s;
      };
      const xs = pick(x);
      const vs = dirs ? pick(dirs) : xs;
      // the refinement installs codebooks as it goes: on a throw, the previous codebook comes back
      const before = this.isTrained ? this.centroids : null;
      let r: ReturnType<ProductQuantizer['trainAnisotropic']>;
      try {
        r = this.trainAnisotropic(xs, vs, nt, cent, where);
      } catch (e) {
        if (before) this.setCentroids(before, where);
        else this.dropCentroids();
        throw e;
      }
      anisotropic = r.anisotropic;
      objectives.splice(0, m, ...r.objectives);
    } else {
      this.setCentroids(cent, where);
    }
    const total = objectives.reduce((a, b) => a + b, 0);
    return { nTrain: nt, objectives, mse: total / nt, warnings, stats, ...(anisotropic ? { anisotropic } : {}) };
  }

  /**
   * Anisotropic refinement of the k-means codebook cent f32[m][ksub][dsub] on the sample xs (directions vs): alternates
   * anisotropic encoding (the ahEncode kernel) and the codebook update for those codes (anisotropicUpdate), then leaves
   * the refined codebook installed. Returns the losses and the final codes' per-sub-space squared errors.
   */
  private trainAnisotropic(xs: Float32Array, vs: Float32Array, nt: number, cent: Float32Array, where: string): { anisotropic: { eta: number; plain: number; loss: number[] }; objectives: number[] } {
    const { d, m, ksub, eta } = this;
    const w = ahWeights(vs, nt, d, eta);
    const omega = normWeights(vs, nt, d, this.anisotropicNormWeight);
    const codes = new Uint8Array(nt * m);
    this.setCentroids(cent, where);
    this.encodeUnpackedRows(xs, vs, w, nt, 0, codes, where);
    const plain = anisotropicLoss(xs, vs, omega, nt, d, m, ksub, eta, codes, cent).loss;
    const loss: number[] = [];
    for (let it = 0; ; it++) {
      this.encodeUnpackedRows(xs, vs, w, nt, AH_ROUNDS, codes, where);
      loss.push(anisotropicLoss(xs, vs, omega, nt, d, m, ksub, eta, codes, cent).loss);
      if (it === this.anisotropicIterations) break;
      anisotropicUpdate(xs, vs, omega, nt, d, m, ksub, eta, codes, cent);
      this.setCentroids(cent, where);
    }
    const objectives = anisotropicLoss(xs, vs, omega, nt, d, m, ksub, eta, codes, cent).subspaceSquaredError;
    return { anisotropic: { eta, plain, loss }, objectives };
  }

  private checkDirections(where: string, dirs: unknown, n: number): Float32Array | null {
    if (dirs === undefined) return null;
    if (this.anisotropicThreshold === undefined) fail('INVALID_OPTION', where, 'directions are only used by anisotropic quantizers', raw('directions without anisotropicThreshold'), 'anisotropicThreshold at construction, or no directions');
    const nd = checkVectors(where, 'directions', dirs, this.d);
    if (nd !== n) fail('INVALID_SIZE', where, 'directions must have one row per vector', raw(`${nd} rows for ${n} vectors`), `${n} rows`);
    return dirs as Float32Array;
  }

  /**
   * Unpacked codes u8[n][m] of x with parallel directions v and weights w (f32[n], see ahWeights) by the ahEncode
   * kernel; rounds = 0 gives plain nearest-codeword codes.
   */
  private encodeUnpackedRows(x: Float32Array, v: Float32Array, w: Float32Array, n: number, rounds: number, out: Uint8Array, where: string): void {
    const eng = this.eng;
    const { d, m, ksubP } = this;
    const same = v === x;
    const work = eng.abi.ahWorkBytes(m, ksubP);
    const rows = chunkRows(d * 4 * (same ? 1 : 2) + 4 + m, n);
    for (let i0 = 0; i0 < n; i0 += rows) {
      const c = Math.min(rows, n - i0);
      const [xp, vp, wp, up, wk] = eng.scratch([c * d * 4, same ? 0 : c * d * 4, c * 4, c * m, work], where);
      eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
      if (!same) eng.f32(vp, c * d).set(v.subarray(i0 * d, (i0 + c) * d));
      eng.f32(wp, c).set(w.subarray(i0, i0 + c));
      eng.abi.ahEncode(xp, same ? xp : vp, wp, c, d, m, ksubP, this.centTPtr, this.cnormPtr, rounds, wk, up);
      out.set(eng.u8(up, c * m), i0 * m);
    }
  }

  /** Replaces the codebook with centroids f32[m][ksub][dsub] (finite; checked by the caller). */
  private setCentroids(cent: Float32Array, where: string): void {
    const { m, ksub, ksubP, dsub } = this;
    const eng = this.eng;
    const t = this.own(m * dsub * ksubP * 4, where);
    let nrm = 0;
    try {
      nrm = this.own(m * ksubP * 4, where);
    } catch (e) {
      this.release(t);
      throw e;
    }
    const tv = eng.f32(t, m * dsub * ksubP);
    tv.fill(0);
    const nv = eng.f32(nrm, m * ksubP);
    nv.fill(Infinity);
    for (let j = 0; j < m; j++) {
      for (let c = 0; c < ksub; c++) {
        let s2 = 0;
        for (let s = 0; s < dsub; s++) {
          const v = cent[(j * ksub + c) * dsub + s];
          tv[(j * dsub + s) * ksubP + c] = v;
          s2 = Math.fround(s2 + Math.fround(v * v));
        }
        nv[j * ksubP + c] = s2;
      }
    }
    this.release(this.centTPtr);
    this.release(this.cnormPtr);
    this.centTPtr = t;
    this.cnormPtr = nrm;
  }

  private dropCentroids(): void {
    this.release(this.centTPtr);
    this.release(this.cnormPtr);
    this.centTPtr = 0;
    this.cnormPtr = 0;
  }

  private trainedOr(where: string): void {
    if (this.centTPtr === 0) fail('NOT_TRAINED', where, 'the quantizer has no codebook yet', raw('an untrained ProductQuantizer'), 'train(x) or ProductQuantizer.load() first');
  }

  /** @internal Kernel handles for indexes that hold this quantizer. */
  kernelView(where: string): PQKernelView {
    this.alive(where);
    this.trainedOr(where);
    const { d, m, nbits, ksubP, codeSize } = this;
    return { d, m, nbits, ksubP, codeSize, centTPtr: this.centTPtr, cnormPtr: this.cnormPtr };
  }

  /**
   * Codes of x (row-major Float32Array of n * d): Uint8Array(n * codeSize). Anisotropic quantizers choose the codes
   * for the anisotropic loss, with `directions` (f32[n][d], default x) as the parallel directions (see train()).
   */
  encode(x: Float32Array, directions?: Float32Array): Uint8Array {
    const where = 'ProductQuantizer.encode';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    const dirs = this.checkDirections(where, directions, n);
    this.trainedOr(where);
    const out = new Uint8Array(n * this.codeSize);
    this.encodeChecked(x, dirs, n, out, where);
    return out;
  }

  /** Writes the codes of x into out (a Uint8Array of exactly n * codeSize bytes); `directions` as in encode(). */
  encodeInto(x: Float32Array, out: Uint8Array, directions?: Float32Array): void {
    const where = 'ProductQuantizer.encodeInto';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    if (!(out instanceof Uint8Array)) fail('INVALID_TYPE', where, 'out must be a Uint8Array', out, `a Uint8Array of ${n * this.codeSize} bytes`);
    if (out.length !== n * this.codeSize) fail('INVALID_SIZE', where, 'out has the wrong length', raw(`length ${out.length}`), `n * codeSize = ${n * this.codeSize}`);
    const dirs = this.checkDirections(where, directions, n);
    this.trainedOr(where);
    this.encodeChecked(x, dirs, n, out, where);
  }

  private encodeChecked(x: Float32Array, dirs: Float32Array | null, n: number, out: Uint8Array, where: string): void {
    const eng = this.eng;
    const { d, m, nbits, codeSize } = this;
    if (this.anisotropicThreshold !== undefined) {
      const v = dirs ?? x;
      const unpacked = new Uint8Array(n * m);
      this.encodeUnpackedRows(x, v, ahWeights(v, n, d, this.eta), n, AH_ROUNDS, unpacked, where);
      const rows = chunkRows(2 * m, n);
      for (let i0 = 0; i0 < n; i0 += rows) {
        const c = Math.min(rows, n - i0);
        const [up, pp] = eng.scratch([c * m, c * codeSize], where);
        eng.u8(up, c * m).set(unpacked.subarray(i0 * m, (i0 + c) * m));
        eng.abi.pqPack(up, c, m, nbits, pp);
        out.set(eng.u8(pp, c * codeSize), i0 * codeSize);
      }
      return;
    }
    const rows = chunkRows(d * 4 + 2 * m, n);
    for (let i0 = 0; i0 < n; i0 += rows) {
      const c = Math.min(rows, n - i0);
      const [xp, up, pp] = eng.scratch([c * d * 4, c * m, c * codeSize], where);
      eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
      encodeUnpacked(eng, this.kernelView(where), xp, c, up);
      eng.abi.pqPack(up, c, m, nbits, pp);
      out.set(eng.u8(pp, c * codeSize), i0 * codeSize);
    }
  }

  /** Reconstructions of codes (a Uint8Array of n * codeSize bytes): Float32Array(n * d). */
  decode(codes: Uint8Array): Float32Array {
    const where = 'ProductQuantizer.decode';
    const eng = this.alive(where);
    const { d, m, nbits, codeSize } = this;
    const n = checkCodes(where, codes, codeSize);
    this.trainedOr(where);
    return decodePacked(eng, where, codes, n, m, nbits, d, (up, c, op) => eng.abi.pqDecode(up, c, d, m, this.ksubP, this.centTPtr, op));
  }

  /**
   * Lookup tables of queries q (row-major Float32Array of nq * d): f32[nq][m][ksub] with squared L2 distances
   * ||q_j - c||^2 ('l2', default) or inner products <q_j, c> ('ip') between each query's sub-vector j and codeword c.
   */
  computeDistanceTable(q: Float32Array, metric: Metric = 'l2'): Float32Array {
    const where = 'ProductQuantizer.computeDistanceTable';
    const eng = this.alive(where);
    const nq = checkVectors(where, 'q', q, this.d);
    const mt = checkOneOf(where, 'metric', metric, ['l2', 'ip'] as const);
    this.trainedOr(where);
    const { d, m, ksub, ksubP } = this;
    const out = new Float32Array(nq * m * ksub);
    const rows = chunkRows(d * 4 + m * ksubP * 4, nq);
    for (let i0 = 0; i0 < nq; i0 += rows) {
      const c = Math.min(rows, nq - i0);
      const [qp, tp] = eng.scratch([c * d * 4, c * m * ksubP * 4], where);
      eng.f32(qp, c * d).set(q.subarray(i0 * d, (i0 + c) * d));
      eng.abi.pqTables(qp, c, d, m, ksubP, this.centTPtr, this.cnormPtr, mt === 'l2' ? 0 : 1, 1, tp);
      const t = eng.f32(tp, c * m * ksubP);
      if (ksubP === ksub) out.set(t, i0 * m * ksub);
      else for (let r = 0; r < c * m; r++) out.set(t.subarray(r * ksubP, r * ksubP + ksub), (i0 * m + r) * ksub);
    }
    return out;
  }

  /** The quantizer as bytes (format: bindings/io/format.ts, kind ProductQuantizer; section CENT = centroids f32[m][ksub][dsub]). */
  save(): Uint8Array {
    this.alive('ProductQuantizer.save');
    return writeContainer('ProductQuantizer', this.params(), this.sections());
  }

  /** @internal Parameters as saved (also embedded by indexes and OPQ). */
  params(): Record<string, number | string | boolean> {
    const p: Record<string, number | string | boolean> = { d: this.d, m: this.m, nbits: this.nbits, seed: this.seed, iterations: this.iterations, init: this.init, maxPointsPerCentroid: this.maxPointsPerCentroid, trained: this.isTrained };
    // written only when set: plain quantizers' files stay as they were, and files without it load as plain PQ
    if (this.anisotropicThreshold !== undefined) {
      p.anisotropicThreshold = this.anisotropicThreshold;
      p.anisotropicIterations = this.anisotropicIterations;
      p.anisotropicNormWeight = this.anisotropicNormWeight;
    }
    return p;
  }

  /** @internal */
  sections(tag = 'CENT'): { tag: string; data: Float32Array }[] {
    return this.isTrained ? [{ tag, data: this.centroids }] : [];
  }

  /** Restores a quantizer written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): ProductQuantizer {
    const where = 'ProductQuantizer.load';
    const c = readContainer(where, bytes, 'ProductQuantizer');
    return ProductQuantizer.fromParams(where, c, 'CENT');
  }

  /** @internal Rebuilds a quantizer from saved params + a centroid section (shared with the index loaders). */
  static fromParams(where: string, c: ReturnType<typeof readContainer>, tag: string, keyPrefix = ''): ProductQuantizer {
    const p = (name: string) => keyPrefix + name;
    const d = paramInt(where, c, p('d'), 1, 1 << 20);
    const m = paramInt(where, c, p('m'), 1, d);
    const nbits = paramInt(where, c, p('nbits'), 1, 8);
    if (d % m !== 0) fail('CORRUPT_DATA', where, 'saved d is not a multiple of m', raw(`d = ${d}, m = ${m}`), 'm dividing d');
    const opts: ProductQuantizerOptions = { d, m, nbits };
    if (typeof c.params[p('seed')] === 'number') opts.seed = c.params[p('seed')] as number;
    if (typeof c.params[p('iterations')] === 'number') opts.iterations = c.params[p('iterations')] as number;
    if (c.params[p('init')] === 'random' || c.params[p('init')] === 'kmeans++') opts.init = c.params[p('init')] as KMeansInit;
    if (typeof c.params[p('maxPointsPerCentroid')] === 'number') opts.maxPointsPerCentroid = c.params[p('maxPointsPerCentroid')] as number;
    if (c.params[p('anisotropicThreshold')] !== undefined) opts.anisotropicThreshold = c.params[p('anisotropicThreshold')] as number;
    if (c.params[p('anisotropicIterations')] !== undefined) opts.anisotropicIterations = c.params[p('anisotropicIterations')] as number;
    if (c.params[p('anisotropicNormWeight')] !== undefined) opts.anisotropicNormWeight = c.params[p('anisotropicNormWeight')] as number;
    let pq: ProductQuantizer;
    try {
      pq = new ProductQuantizer(opts);
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (c.params[p('trained')] !== false) {
      try {
        const cent = sectionF32(where, c, tag, m * (1 << nbits) * (d / m));
        pq.setCentroids(cent, where);
      } catch (e) {
        pq.dispose();
        throw e;
      }
    }
    return pq;
  }
}

/** Unpacked codes u8[n][m] at codesPtr for the n vectors at xPtr (f32[n][d], in wasm). */
export function encodeUnpacked(eng: Engine, v: PQKernelView, xPtr: number, n: number, codesPtr: number): void {
  eng.abi.pqEncode(xPtr, n, v.d, v.m, v.ksubP, v.centTPtr, v.cnormPtr, codesPtr);
}
