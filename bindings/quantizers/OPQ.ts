import { checkInt, checkOneOf, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramInt, readContainer, sectionF32, writeContainer } from '../io/format.js';
import { chunkRows } from '../search/scan.js';
import type { KMeansInit } from '../training/KMeans.js';
import { runSteps, type TrainSteps } from '../training/steps.js';
import type { Metric } from '../types.js';
import { procrustes, randomOrthogonal } from '../util/linalg.js';
import { Rng } from '../util/rng.js';
import { gatherRows } from '../util/rows.js';
import type { Engine } from '../wasm/engine.js';
import { Owned } from '../wasm/owned.js';
import { ProductQuantizer, SEED_LIMIT, type ProductQuantizerTrainResult } from './ProductQuantizer.js';
import { refuseIfHeld, type Quantizer } from './Quantizer.js';

export interface OPQOptions {
  d: number;
  m: number;
  /** Bits per sub-quantizer code, 1..8. Default 8. */
  nbits?: number;
  /** Seed of the sample, the initial random rotation and the PQ training. Default 1234. */
  seed?: number;
  /** Alternating rotation / PQ steps. Default 50 (Faiss OPQMatrix niter). */
  iterations?: number;
  /** k-means iterations of the first PQ step. Default 40 (Faiss niter_pq_0). */
  pqIterationsFirst?: number;
  /** k-means iterations of every later PQ step, warm-started from the previous codebook. Default 4 (Faiss niter_pq). */
  pqIterations?: number;
  /** Training vectors used by the rotation search (sampled with the seed). Default 65536 (Faiss max_train_points). */
  maxTrainPoints?: number;
  /** Iterations of the final PQ, trained from scratch on the rotated data. Default 25. */
  finalPqIterations?: number;
  init?: KMeansInit;
}

export interface OPQTrainResult {
  nTrain: number;
  /** Mean squared reconstruction error (on the centered, rotated sample) after each alternating step. */
  rotationMse: number[];
  /** The final PQ's training result. */
  pq: ProductQuantizerTrainResult;
}

/**
 * Optimized product quantization (Ge, He, Ke & Sun 2013, the non-parametric solution; Faiss OPQMatrix + PQ): an
 * orthogonal d x d rotation r learned in front of a product quantizer so that the sub-spaces carry balanced, less
 * correlated variance. Codes are the PQ's codes of r x; decode returns r^T of the PQ's reconstruction, in the
 * original space. Distances are unchanged by the rotation, so an ADC table of r q scores codes of r x exactly as a
 * PQ table scores plain codes.
 *
 * Training (Faiss's recipe): center a sample; start from a random orthogonal r; repeat `iterations` times: train the
 * PQ on x r^T (warm-started after the first step), reconstruct, and set r to the orthogonal Procrustes solution of
 * x r^T ~ reconstruction (SVD of x^T y, d x d, in float64). A final PQ is then trained from scratch on the rotated,
 * uncentered data.
 *
 * Storage (wasm, owned): the rotation as two register-panel buffers (assembly/kernels/panels.ts), rows of r
 * (to rotate) and rows of r^T (to rotate back), each f32[padTo8(d)/8][d][8] plus a zero bias f32[padTo8(d)].
 */
export class OPQ extends Owned implements Quantizer {
  readonly d: number;
  readonly m: number;
  readonly nbits: number;
  readonly seed: number;
  readonly iterations: number;
  readonly pqIterationsFirst: number;
  readonly pqIterations: number;
  readonly maxTrainPoints: number;
  readonly finalPqIterations: number;
  readonly init: KMeansInit;
  private pqModel: ProductQuantizer | null = null;
  private rotPtr = 0;
  private rotTPtr = 0;
  private zeroBiasPtr = 0;

  constructor(options: OPQOptions) {
    const W = 'new OPQ';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 14);
    const m = checkInt(W, 'm', o.m, 1, d);
    if (d % m !== 0) fail('INVALID_OPTION', W, 'd must be a multiple of m', raw(`d = ${d}, m = ${m}`), 'm dividing d');
    const nbits = checkInt(W, 'nbits', o.nbits ?? 8, 1, 8);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    const iterations = checkInt(W, 'iterations', o.iterations ?? 50, 0, 100_000);
    const first = checkInt(W, 'pqIterationsFirst', o.pqIterationsFirst ?? 40, 1, 1_000_000);
    const later = checkInt(W, 'pqIterations', o.pqIterations ?? 4, 1, 1_000_000);
    const maxTrain = checkInt(W, 'maxTrainPoints', o.maxTrainPoints ?? 65536, 1);
    const finalIt = checkInt(W, 'finalPqIterations', o.finalPqIterations ?? 25, 1, 1_000_000);
    const init = checkOneOf(W, 'init', o.init ?? 'kmeans++', ['kmeans++', 'random'] as const);
    super(W);
    this.d = d;
    this.m = m;
    this.nbits = nbits;
    this.seed = seed;
    this.iterations = iterations;
    this.pqIterationsFirst = first;
    this.pqIterations = later;
    this.maxTrainPoints = maxTrain;
    this.finalPqIterations = finalIt;
    this.init = init;
  }

  get codeSize(): number {
    return Math.ceil((this.m * this.nbits) / 8);
  }

  get isTrained(): boolean {
    return this.pqModel !== null;
  }

  /** A copy of the rotation r, f32[d][d] row-major: codes are those of r x. */
  get rotation(): Float32Array {
    const where = 'OPQ.rotation';
    const eng = this.alive(where);
    this.trainedOr(where);
    const [op] = eng.scratch([this.d * this.d * 4], where);
    eng.abi.unpackPanels(this.rotPtr, 0, this.d, this.d, op);
    return eng.f32(op, this.d * this.d).slice();
  }

  /** A copy of the codebook, f32[m][ksub][dsub], of the rotated vectors r x (as ProductQuantizer.centroids). */
  get centroids(): Float32Array {
    return this.pqFor('OPQ.centroids').centroids;
  }

  /** @internal The product quantizer behind the rotation (owned by this object). */
  pqFor(where: string): ProductQuantizer {
    this.alive(where);
    this.trainedOr(where);
    return this.pqModel!;
  }

  private trainedOr(where: string): void {
    if (this.pqModel === null) fail('NOT_TRAINED', where, 'the quantizer has no rotation and codebook yet', raw('an untrained OPQ'), 'train(x) or OPQ.load() first');
  }

  train(x: Float32Array): OPQTrainResult {
    refuseIfHeld('OPQ.train', this);
    return runSteps(this.trainSteps(x));
  }

  /**
   * @internal train() as steps (training/steps.ts): each alternation's PQ training and the final one are yielded, so
   * that WorkerPool.trainIndex can run their sub-spaces on its workers; the rotation search runs here.
   */
  *trainSteps(x: Float32Array): TrainSteps<OPQTrainResult> {
    const where = 'OPQ.train';
    const eng = this.alive(where);
    const { d, m, nbits } = this;
    const n = checkVectors(where, 'x', x, d);
    const ksub = 1 << nbits;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per sub-space', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    const rng = new Rng(this.seed);
    let xs = x;
    let nt = n;
    if (n > this.maxTrainPoints) {
      nt = this.maxTrainPoints;
      const rows = rng.sortedSample(n, nt);
      xs = new Float32Array(nt * d);
      gatherRows(xs, x, rows, d);
    }
    // centered sample, for the rotation search only (the codes are of r x, uncentered, as in Faiss)
    const mean = new Float64Array(d);
    for (let i = 0; i < nt; i++) for (let t = 0; t < d; t++) mean[t] += xs[i * d + t];
    for (let t = 0; t < d; t++) mean[t] /= nt;
    const xc = new Float32Array(nt * d);
    for (let i = 0; i < nt; i++) for (let t = 0; t < d; t++) xc[i * d + t] = xs[i * d + t] - mean[t];
    // x^T as panels (d "vectors" of nt components) for the d x d products x^T y
    const xcT = transpose(xc, nt, d);

    let r = randomOrthogonal(d, new Rng(this.seed + 0x5eed));
    const rotationMse: number[] = [];
    const scratchPq = new ProductQuantizer({ d, m, nbits, seed: this.seed, init: this.init, maxPointsPerCentroid: Math.ceil(nt / ksub) + 1 });
    const tmp: number[] = [];
    try {
      const kp = Math.ceil(d / 8) * 8;
      const rp = eng.alloc(kp * d * 4, where); tmp.push(rp);
      const bias = eng.alloc(kp * 4, where); tmp.push(bias);
      const yTp = eng.alloc(Math.ceil(d / 8) * 8 * nt * 4, where); tmp.push(yTp);
      const ybias = eng.alloc(kp * 4, where); tmp.push(ybias);
      const xTp = eng.alloc(d * nt * 4, where); tmp.push(xTp);
      const mp = eng.alloc(d * d * 4, where); tmp.push(mp);
      eng.abi.panelZeroBias(0, d, bias);
      eng.abi.panelZeroBias(0, d, ybias);
      eng.f32(xTp, d * nt).set(xcT);
      for (let it = 0; it < this.iterations; it++) {
        eng.f32(mp, d * d).set(Float32Array.from(r));
        eng.abi.packPanels(mp, d, d, rp, 0);
        const xproj = rotateWith(eng, xc, nt, d, rp, bias, where);
        yield* scratchPq.trainSteps(xproj, it === 0 ? { iterations: this.pqIterationsFirst } : { iterations: this.pqIterations, warmStart: true });
        this.alive(where);
        const y = scratchPq.decode(scratchPq.encode(xproj));
        let err = 0;
        for (let i = 0; i < nt * d; i++) err += (y[i] - xproj[i]) ** 2;
        rotationMse.push(err / nt);
        // m = x^T y: rows of x^T against rows of y^T, both nt long
        const yT = transpose(y, nt, d);
        const [yp] = eng.scratch([d * nt * 4], where);
        eng.f32(yp, d * nt).set(yT);
        eng.abi.packPanels(yp, d, nt, yTp, 0);
        eng.abi.scorePanels(xTp, d, nt, yTp, ybias, d, 1, mp);
        r = procrustes(Float64Array.from(eng.f32(mp, d * d)), d);
      }
    } finally {
      for (const p of tmp) eng.free(p);
      scratchPq.dispose();
    }
    // commit: rotation panels, then the final PQ on r x
    const rot = Float32Array.from(r);
    let pq: ProductQuantizer | null = null;
    let rotPtr = 0, rotTPtr = 0, biasPtr = 0;
    let kept = false;
    try {
      ({ rotPtr, rotTPtr, biasPtr } = this.allocRotation(rot, where));
      pq = new ProductQuantizer({ d, m, nbits, seed: this.seed, iterations: this.finalPqIterations, init: this.init });
      const xr = rotateWith(eng, xs, nt, d, rotPtr, biasPtr, where);
      const res = yield* pq.trainSteps(xr);
      this.alive(where);
      this.pqModel?.dispose();
      this.release(this.rotPtr);
      this.release(this.rotTPtr);
      this.release(this.zeroBiasPtr);
      this.pqModel = pq;
      this.rotPtr = rotPtr;
      this.rotTPtr = rotTPtr;
      this.zeroBiasPtr = biasPtr;
      kept = true;
      return { nTrain: nt, rotationMse, pq: res };
    } finally {
      // a failure, or a driver that stopped at a step: the previous model stays
      if (!kept) {
        pq?.dispose();
        this.release(rotPtr);
        this.release(rotTPtr);
        this.release(biasPtr);
      }
    }
  }

  /** Owned panels of r and r^T from a row-major f32[d][d] rotation. */
  private allocRotation(rot: Float32Array, where: string): { rotPtr: number; rotTPtr: number; biasPtr: number } {
    const eng = this.eng;
    const d = this.d;
    const kp = Math.ceil(d / 8) * 8;
    const ptrs: number[] = [];
    try {
      ptrs.push(this.own(kp * d * 4, where));
      ptrs.push(this.own(kp * d * 4, where));
      ptrs.push(this.own(kp * 4, where));
    } catch (e) {
      for (const p of ptrs) this.release(p);
      throw e;
    }
    const [rotPtr, rotTPtr, biasPtr] = ptrs;
    const [mp] = eng.scratch([d * d * 4], where);
    eng.f32(mp, d * d).set(rot);
    eng.abi.packPanels(mp, d, d, rotPtr, 0);
    eng.f32(mp, d * d).set(transpose(rot, d, d));
    eng.abi.packPanels(mp, d, d, rotTPtr, 0);
    eng.abi.panelZeroBias(0, d, biasPtr);
    return { rotPtr, rotTPtr, biasPtr };
  }

  /** r x for each row of x (row-major Float32Array of n * d, already checked). */
  rotate(x: Float32Array, where = 'OPQ.rotate'): Float32Array {
    const eng = this.alive(where);
    checkVectors(where, 'x', x, this.d, { minRows: 0 });
    this.trainedOr(where);
    return rotateWith(eng, x, x.length / this.d, this.d, this.rotPtr, this.zeroBiasPtr, where);
  }

  /** r^T y for each row of y: back to the original space. */
  rotateBack(y: Float32Array, where = 'OPQ.rotateBack'): Float32Array {
    const eng = this.alive(where);
    checkVectors(where, 'y', y, this.d, { minRows: 0 });
    this.trainedOr(where);
    return rotateWith(eng, y, y.length / this.d, this.d, this.rotTPtr, this.zeroBiasPtr, where);
  }

  encode(x: Float32Array): Uint8Array {
    const where = 'OPQ.encode';
    this.alive(where);
    checkVectors(where, 'x', x, this.d, { minRows: 0 });
    this.trainedOr(where);
    return this.pqModel!.encode(this.rotate(x, where));
  }

  encodeInto(x: Float32Array, out: Uint8Array): void {
    const where = 'OPQ.encodeInto';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    if (!(out instanceof Uint8Array)) fail('INVALID_TYPE', where, 'out must be a Uint8Array', out, `a Uint8Array of ${n * this.codeSize} bytes`);
    if (out.length !== n * this.codeSize) fail('INVALID_SIZE', where, 'out has the wrong length', raw(`length ${out.length}`), `n * codeSize = ${n * this.codeSize}`);
    this.trainedOr(where);
    this.pqModel!.encodeInto(this.rotate(x, where), out);
  }

  decode(codes: Uint8Array): Float32Array {
    const where = 'OPQ.decode';
    this.alive(where);
    if (!(codes instanceof Uint8Array)) fail('INVALID_TYPE', where, 'codes must be a Uint8Array', codes, `a Uint8Array of n * ${this.codeSize} bytes`);
    if (codes.length % this.codeSize !== 0) fail('INVALID_SIZE', where, `codes.length must be a multiple of codeSize = ${this.codeSize}`, raw(`length ${codes.length}`), `n * ${this.codeSize}`);
    this.trainedOr(where);
    return this.rotateBack(this.pqModel!.decode(codes), where);
  }

  computeDistanceTable(q: Float32Array, metric: Metric = 'l2'): Float32Array {
    const where = 'OPQ.computeDistanceTable';
    this.alive(where);
    checkVectors(where, 'q', q, this.d);
    checkOneOf(where, 'metric', metric, ['l2', 'ip'] as const);
    this.trainedOr(where);
    return this.pqModel!.computeDistanceTable(this.rotate(q, where), metric);
  }

  /** The quantizer as bytes (kind OPQ; sections ROT = r f32[d][d], CENT = the PQ codebook f32[m][ksub][dsub]). */
  save(): Uint8Array {
    this.alive('OPQ.save');
    return writeContainer('OPQ', this.params(), this.sections());
  }

  /** @internal */
  params(): Record<string, number | string | boolean> {
    return {
      d: this.d, m: this.m, nbits: this.nbits, seed: this.seed, iterations: this.iterations, pqIterationsFirst: this.pqIterationsFirst,
      pqIterations: this.pqIterations, maxTrainPoints: this.maxTrainPoints, finalPqIterations: this.finalPqIterations, init: this.init,
      trained: this.isTrained,
    };
  }

  /** @internal */
  sections(): { tag: string; data: Float32Array }[] {
    if (!this.isTrained) return [];
    return [{ tag: 'ROT ', data: this.rotation }, ...this.pqModel!.sections('CENT')];
  }

  static load(bytes: Uint8Array | ArrayBuffer): OPQ {
    const where = 'OPQ.load';
    return OPQ.fromContainer(where, readContainer(where, bytes, 'OPQ'));
  }

  /** @internal */
  static fromContainer(where: string, c: ReturnType<typeof readContainer>): OPQ {
    const d = paramInt(where, c, 'd', 1, 1 << 14);
    const m = paramInt(where, c, 'm', 1, d);
    const nbits = paramInt(where, c, 'nbits', 1, 8);
    const opts: OPQOptions = { d, m, nbits };
    for (const k of ['seed', 'iterations', 'pqIterationsFirst', 'pqIterations', 'maxTrainPoints', 'finalPqIterations'] as const) {
      if (typeof c.params[k] === 'number') opts[k] = c.params[k] as number;
    }
    if (c.params.init === 'random' || c.params.init === 'kmeans++') opts.init = c.params.init;
    let opq: OPQ;
    try {
      opq = new OPQ(opts);
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (c.params.trained === false) return opq;
    try {
      const rot = sectionF32(where, c, 'ROT ', d * d);
      checkOrthogonal(where, rot, d);
      // the inner PQ's own settings: the final PQ's iterations, not the OPQ's alternating steps
      opq.pqModel = ProductQuantizer.fromParams(where, { ...c, params: { ...c.params, iterations: opq.finalPqIterations, trained: true } }, 'CENT');
      const ptrs = opq.allocRotation(rot, where);
      opq.rotPtr = ptrs.rotPtr;
      opq.rotTPtr = ptrs.rotTPtr;
      opq.zeroBiasPtr = ptrs.biasPtr;
    } catch (e) {
      opq.dispose();
      throw e;
    }
    return opq;
  }

  override dispose(): void {
    this.pqModel?.dispose();
    super.dispose();
  }
}

/** A saved rotation must be orthogonal (r r^T = I within float32 rounding); anything else decodes to garbage. */
function checkOrthogonal(where: string, r: Float32Array, d: number): void {
  let worst = 0;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += r[i * d + t] * r[j * d + t];
      worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  if (worst > 1e-3) fail('CORRUPT_DATA', where, 'the saved rotation is not orthogonal', raw(`max |r r^T - I| = ${worst.toExponential(2)}`), 'an orthogonal matrix');
}

function transpose(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) out[t * n + i] = x[i * d + t];
  return out;
}

/** Rows of x times the matrix whose rows are packed at rowsPtr: out_i = (<x_i, row_0>, ..., <x_i, row_{d-1}>). */
export function rotateWith(eng: Engine, x: Float32Array, n: number, d: number, rowsPtr: number, biasPtr: number, where: string): Float32Array {
  const out = new Float32Array(n * d);
  const rows = chunkRows(d * 8, n);
  for (let i0 = 0; i0 < n; i0 += rows) {
    const c = Math.min(rows, n - i0);
    const [xp, op] = eng.scratch([c * d * 4, c * d * 4], where);
    eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
    eng.abi.scorePanels(xp, c, d, rowsPtr, biasPtr, d, 1, op);
    out.set(eng.f32(op, c * d), i0 * d);
  }
  return out;
}
