import { checkBool, checkInt, checkNumber, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, paramNumber, readContainer, sectionF32, sectionF64, writeContainer } from '../io/format.js';
import { SEED_LIMIT } from '../quantizers/ProductQuantizer.js';
import { knnPanels } from '../search/scan.js';
import { Rng } from '../util/rng.js';
import { Owned } from '../wasm/owned.js';
import { codebookStats, type CodebookStats } from './codebookStats.js';
import { KMeans } from './KMeans.js';

export interface OnlineVQOptions {
  d: number;
  /** Codebook size. */
  k: number;
  /** EMA decay of the cluster sizes and sums, in (0, 1). Default 0.99 (vector-quantize-pytorch). */
  decay?: number;
  /** Laplace smoothing added to every EMA cluster size before dividing. Default 1e-5. */
  epsilon?: number;
  /**
   * A code whose EMA size falls below this is replaced by a vector of the current batch (its size reset to the
   * threshold): the defence against codebook collapse. 0 (default, as vector-quantize-pytorch) switches it off.
   */
  deadCodeThreshold?: number;
  /** Initialize the codebook by k-means on the first batch; false takes k distinct vectors of it. Default true. */
  kmeansInit?: boolean;
  /** k-means iterations of kmeansInit. Default 10 (vector-quantize-pytorch kmeans_iters). */
  kmeansIterations?: number;
  /** Cosine codebook: inputs and codewords L2-normalized, nearest by cosine similarity. Default false. */
  cosine?: boolean;
  /** Seed of the initialisation and of the dead-code replacement draws. Default 1234. */
  seed?: number;
}

export interface OnlineVQUpdateResult {
  /** Code of each batch vector, assigned with the codebook before this update. */
  labels: Int32Array;
  /** mean over all n * d elements of (x - q)^2, q the assigned codeword before the update (torch's F.mse_loss). */
  commitmentLoss: number;
  /** Usage of the batch's labels. */
  stats: CodebookStats;
  /** Codes replaced by batch vectors in this update (dead-code reset). */
  replaced: number;
  /** True when this call initialized the codebook from the batch. */
  initialized: boolean;
}

export interface QuantizeResult {
  labels: Int32Array;
  /** The assigned codewords, row-major n * d (unit length with cosine). */
  quantized: Float32Array;
}

/**
 * Online vector quantizer with an EMA codebook (van den Oord et al. 2017, appendix; Razavi et al. 2019; the
 * EuclideanCodebook / CosineSimCodebook of vector-quantize-pytorch), for codebooks that follow a stream: each update
 * assigns the batch x (n x d) to the nearest codewords, then with counts n_c and sums s_c of the batch per code
 *   N_c <- decay N_c + (1 - decay) n_c          m_c <- decay m_c + (1 - decay) s_c
 *   N'_c = (N_c + eps) / (sum N + k eps) * sum N (Laplace smoothing)        e_c = m_c / N'_c
 * (unit-normalized with cosine), and replaces the codes with N_c < deadCodeThreshold by random batch vectors.
 *
 * Storage (wasm memory, owned): codebook f32[k][d], the same in panels f32[ceil(k / 8)][d][8] with norms f32[8 ceil(k / 8)]
 * for assignment, EMA sizes f64[k] and EMA sums f64[k][d].
 */
export class OnlineVQ extends Owned {
  readonly d: number;
  readonly k: number;
  readonly decay: number;
  readonly epsilon: number;
  readonly deadCodeThreshold: number;
  readonly kmeansInit: boolean;
  readonly kmeansIterations: number;
  readonly cosine: boolean;
  readonly seed: number;
  private rng: Rng;
  private initialized = false;
  private updates = 0;
  private readonly cbPtr: number;
  private readonly panelsPtr: number;
  private readonly biasPtr: number;
  private readonly sizePtr: number;
  private readonly sumPtr: number;

  constructor(options: OnlineVQOptions) {
    const W = 'new OnlineVQ';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 16);
    const k = checkInt(W, 'k', o.k, 1, 1 << 20);
    const decay = checkNumber(W, 'decay', o.decay ?? 0.99, 0, 1, { min: true, max: true });
    const epsilon = checkNumber(W, 'epsilon', o.epsilon ?? 1e-5, 0, Infinity, { min: true });
    const deadCodeThreshold = checkNumber(W, 'deadCodeThreshold', o.deadCodeThreshold ?? 0, 0, Infinity);
    const kmeansInit = checkBool(W, 'kmeansInit', o.kmeansInit ?? true);
    const kmeansIterations = checkInt(W, 'kmeansIterations', o.kmeansIterations ?? 10, 1, 100_000);
    const cosine = checkBool(W, 'cosine', o.cosine ?? false);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    const kp = Math.ceil(k / 8) * 8;
    const bytes = k * d * 4 + kp * d * 4 + kp * 4 + k * 8 + k * d * 8;
    if (bytes > 2 ** 31) fail('OUT_OF_MEMORY', W, 'the codebook does not fit in WebAssembly memory', raw(`${(bytes / 2 ** 30).toFixed(2)} GiB for k = ${k}, d = ${d}`), 'at most 2 GiB');
    super(W);
    this.d = d;
    this.k = k;
    this.decay = decay;
    this.epsilon = epsilon;
    this.deadCodeThreshold = deadCodeThreshold;
    this.kmeansInit = kmeansInit;
    this.kmeansIterations = kmeansIterations;
    this.cosine = cosine;
    this.seed = seed;
    this.rng = new Rng(seed);
    try {
      this.cbPtr = this.own(k * d * 4, W);
      this.panelsPtr = this.own(kp * d * 4, W);
      this.biasPtr = this.own(kp * 4, W);
      this.sizePtr = this.own(k * 8, W);
      this.sumPtr = this.own(k * d * 8, W);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get isInitialized(): boolean {
    return this.initialized;
  }

  /** Updates applied so far. */
  get updateCount(): number {
    return this.updates;
  }

  /** A copy of the codebook, f32[k][d]. */
  get codebook(): Float32Array {
    const where = 'OnlineVQ.codebook';
    const eng = this.alive(where);
    this.initializedOr(where);
    return eng.f32(this.cbPtr, this.k * this.d).slice();
  }

  /** A copy of the EMA cluster sizes N_c. */
  get clusterSizes(): Float64Array {
    const where = 'OnlineVQ.clusterSizes';
    const eng = this.alive(where);
    this.initializedOr(where);
    return eng.f64(this.sizePtr, this.k).slice();
  }

  private initializedOr(where: string): void {
    if (!this.initialized) fail('NOT_TRAINED', where, 'the codebook is not initialized', raw('an OnlineVQ before its first update()'), 'update(batch) first');
  }

  /** One EMA step on a batch (row-major Float32Array of n * d); the first call initializes the codebook (n >= k). */
  update(batch: Float32Array): OnlineVQUpdateResult {
    const where = 'OnlineVQ.update';
    const eng = this.alive(where);
    const { d, k } = this;
    const n = checkVectors(where, 'batch', batch, d);
    let initialized = false;
    const x = this.cosine ? normalized(batch, n, d) : batch;
    if (!this.initialized) {
      if (n < k) fail('TOO_FEW_POINTS', where, 'the first batch initializes the codebook and needs at least k vectors', raw(`n = ${n}`), `n >= k = ${k}`);
      this.initFrom(x, n, where);
      initialized = true;
    }
    const { labels, sq } = this.assign(x, where);
    let loss = 0;
    for (let i = 0; i < n; i++) loss += sq[i];
    // batch counts and sums per code (f64, in wasm), then the EMA step
    const [xp, lp, sp, cp] = eng.scratch([n * d * 4, n * 4, k * d * 8, k * 8], where);
    eng.f32(xp, n * d).set(x);
    eng.i32(lp, n).set(labels);
    eng.abi.kmeansAccumulate(xp, n, d, lp, k, sp, cp);
    const counts = eng.f64(cp, k).slice();
    const sums = eng.f64(sp, k * d).slice();
    const size = eng.f64(this.sizePtr, k);
    const sum = eng.f64(this.sumPtr, k * d);
    const a = this.decay, b = 1 - this.decay;
    let total = 0;
    for (let c = 0; c < k; c++) {
      size[c] = a * size[c] + b * counts[c];
      total += size[c];
    }
    for (let i = 0; i < k * d; i++) sum[i] = a * sum[i] + b * sums[i];
    const cb = eng.f32(this.cbPtr, k * d);
    const denom = total + k * this.epsilon;
    for (let c = 0; c < k; c++) {
      const smoothed = ((size[c] + this.epsilon) / denom) * total;
      for (let t = 0; t < d; t++) cb[c * d + t] = sum[c * d + t] / smoothed;
    }
    if (this.cosine) normalizeInPlace(cb, k, d);
    const replaced = this.replaceDead(x, n);
    this.repack(where);
    this.updates++;
    return { labels, commitmentLoss: loss / (n * d), stats: codebookStats(labels, k), replaced, initialized };
  }

  /** Nearest codewords of x, without updating anything. */
  quantize(x: Float32Array): QuantizeResult {
    const where = 'OnlineVQ.quantize';
    const eng = this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    this.initializedOr(where);
    const { labels } = this.assign(this.cosine ? normalized(x, n, this.d) : x, where);
    const d = this.d;
    const cb = eng.f32(this.cbPtr, this.k * d);
    const quantized = new Float32Array(n * d);
    for (let i = 0; i < n; i++) quantized.set(cb.subarray(labels[i] * d, (labels[i] + 1) * d), i * d);
    return { labels, quantized };
  }

  /**
   * Gradient of a training loss with respect to the input x, given the gradient with respect to the quantized output,
   * for a JS training loop around the quantizer:
   *   straight-through estimator: q_st = x + sg(q - x), so dL/dx gets gradQuantized unchanged;
   *   commitment term beta * mean((x - sg(q))^2) over the n * d elements adds 2 beta (x - q) / (n d).
   * With cosine, x is the L2-normalized input (the gradient is with respect to it). `beta` defaults to 0.25.
   */
  backward(x: Float32Array, gradQuantized: Float32Array, options: { beta?: number } = {}): Float32Array {
    const where = 'OnlineVQ.backward';
    this.alive(where);
    const d = this.d;
    const n = checkVectors(where, 'x', x, d);
    checkVectors(where, 'gradQuantized', gradQuantized, d);
    if (gradQuantized.length !== x.length) fail('INVALID_SIZE', where, 'gradQuantized must match x', raw(`length ${gradQuantized.length}`), `length ${x.length}`);
    const beta = checkNumber(where, 'beta', checkOptions(where, options).beta ?? 0.25, 0, Infinity);
    this.initializedOr(where);
    const xn = this.cosine ? normalized(x, n, d) : x;
    const { quantized } = this.quantize(xn);
    const scale = (2 * beta) / (n * d);
    const out = new Float32Array(n * d);
    for (let i = 0; i < out.length; i++) out[i] = gradQuantized[i] + scale * (xn[i] - quantized[i]);
    return out;
  }

  /** First batch: k-means (spherical with cosine) or k distinct batch vectors; EMA state consistent with it. */
  private initFrom(x: Float32Array, n: number, where: string): void {
    const eng = this.eng;
    const { d, k } = this;
    let cent: Float32Array;
    let sizes: Float64Array;
    if (this.kmeansInit) {
      const km = new KMeans({ d, k, iterations: this.kmeansIterations, seed: this.seed, spherical: this.cosine, minPointsPerCentroid: 0, maxPointsPerCentroid: Math.max(256, Math.ceil(n / k)) });
      try {
        const res = km.train(x);
        cent = km.centroids;
        // a cluster that k-means left empty starts at size 1, not 0: its EMA sum (centroid x size) would be 0, and the
        // first update would put its codeword at sum / size = the origin, away from the data
        sizes = Float64Array.from(res.clusterSizes, (s) => Math.max(s, 1));
      } finally {
        km.dispose();
      }
    } else {
      // vector-quantize-pytorch starts the EMA sizes at 0 here, which makes every code "dead" at once; the expected
      // batch share n / k keeps a fresh codebook from being replaced wholesale on the first update
      cent = new Float32Array(k * d);
      const rows = this.rng.sample(n, k);
      for (let c = 0; c < k; c++) cent.set(x.subarray(rows[c] * d, (rows[c] + 1) * d), c * d);
      sizes = new Float64Array(k).fill(n / k);
    }
    eng.f32(this.cbPtr, k * d).set(cent);
    eng.f64(this.sizePtr, k).set(sizes);
    const sum = eng.f64(this.sumPtr, k * d);
    for (let c = 0; c < k; c++) for (let t = 0; t < d; t++) sum[c * d + t] = cent[c * d + t] * sizes[c];
    this.repack(where);
    this.initialized = true;
  }

  /** Codes with EMA size under the threshold take random batch vectors (distinct while the batch has enough). */
  private replaceDead(x: Float32Array, n: number): number {
    if (this.deadCodeThreshold <= 0) return 0;
    const { d, k } = this;
    const size = this.eng.f64(this.sizePtr, k);
    const dead: number[] = [];
    for (let c = 0; c < k; c++) if (size[c] < this.deadCodeThreshold) dead.push(c);
    if (!dead.length) return 0;
    const rows = dead.length <= n ? this.rng.sample(n, dead.length) : Int32Array.from(dead, () => this.rng.nextInt(n));
    const cb = this.eng.f32(this.cbPtr, k * d);
    const sum = this.eng.f64(this.sumPtr, k * d);
    const th = this.deadCodeThreshold;
    dead.forEach((c, i) => {
      const r = rows[i];
      size[c] = th;
      for (let t = 0; t < d; t++) {
        cb[c * d + t] = x[r * d + t];
        sum[c * d + t] = x[r * d + t] * th;
      }
    });
    return dead.length;
  }

  /** Panels (and norms, or zero bias with cosine) from the row-major codebook. */
  private repack(where: string): void {
    const eng = this.eng;
    const { d, k } = this;
    const [cp] = eng.scratch([k * d * 4], where);
    eng.u8(cp, k * d * 4).set(eng.u8(this.cbPtr, k * d * 4));
    eng.abi.packPanels(cp, k, d, this.panelsPtr, 0);
    if (this.cosine) eng.abi.panelZeroBias(0, k, this.biasPtr);
    else eng.abi.panelNormsSq(this.panelsPtr, 0, k, d, this.biasPtr);
  }

  /** Labels and squared distances to the assigned codewords (cosine: 2 - 2 cos between unit vectors). */
  private assign(x: Float32Array, where: string): { labels: Int32Array; sq: Float64Array } {
    const res = knnPanels(this.eng, where, x, { panelsPtr: this.panelsPtr, biasPtr: this.biasPtr, nb: this.k, d: this.d }, this.cosine ? 'cosine' : 'l2', 1);
    const n = res.ids.length;
    const sq = new Float64Array(n);
    for (let i = 0; i < n; i++) sq[i] = this.cosine ? Math.max(0, 2 - 2 * res.distances[i]) : res.distances[i];
    return { labels: res.ids, sq };
  }

  /** The state as bytes (kind OnlineVQ): options, RNG position, CODE f32[k][d], SIZE f64[k], ESUM f64[k][d]. */
  save(): Uint8Array {
    const eng = this.alive('OnlineVQ.save');
    const { d, k } = this;
    const params = {
      d, k, decay: this.decay, epsilon: this.epsilon, deadCodeThreshold: this.deadCodeThreshold, kmeansInit: this.kmeansInit,
      kmeansIterations: this.kmeansIterations, cosine: this.cosine, seed: this.seed, initialized: this.initialized,
      updates: this.updates, rngState: this.rng.state32,
    };
    const sections = this.initialized
      ? [{ tag: 'CODE', data: eng.f32(this.cbPtr, k * d) }, { tag: 'SIZE', data: eng.f64(this.sizePtr, k) }, { tag: 'ESUM', data: eng.f64(this.sumPtr, k * d) }]
      : [];
    return writeContainer('OnlineVQ', params, sections);
  }

  /** Restores a quantizer written by save(); updates continue exactly as they would have. */
  static load(bytes: Uint8Array | ArrayBuffer): OnlineVQ {
    const where = 'OnlineVQ.load';
    const c = readContainer(where, bytes, 'OnlineVQ');
    const d = paramInt(where, c, 'd', 1, 1 << 16);
    const k = paramInt(where, c, 'k', 1, 1 << 20);
    const initialized = paramBool(where, c, 'initialized');
    const updates = paramInt(where, c, 'updates', 0, Number.MAX_SAFE_INTEGER);
    const rngState = paramInt(where, c, 'rngState', 0, 0xffffffff);
    const opts = {
      d, k, decay: paramNumber(where, c, 'decay', 0, 1), epsilon: paramNumber(where, c, 'epsilon', 0, Number.MAX_VALUE),
      deadCodeThreshold: paramNumber(where, c, 'deadCodeThreshold', 0, Number.MAX_VALUE), kmeansInit: paramBool(where, c, 'kmeansInit'),
      kmeansIterations: paramInt(where, c, 'kmeansIterations', 1, 100_000), cosine: paramBool(where, c, 'cosine'), seed: paramInt(where, c, 'seed', -SEED_LIMIT, SEED_LIMIT),
    };
    let vq: OnlineVQ;
    try {
      vq = new OnlineVQ(opts);
    } catch (e) {
      savedOptionsError(where, e);
    }
    try {
      vq.rng.restore(rngState);
      vq.updates = updates;
      if (initialized) {
        const cb = sectionF32(where, c, 'CODE', k * d);
        const size = sectionF64(where, c, 'SIZE', k);
        const sum = sectionF64(where, c, 'ESUM', k * d);
        for (let i = 0; i < k; i++) if (size[i] < 0) fail('CORRUPT_DATA', where, 'an EMA cluster size is negative', size[i], 'sizes >= 0');
        const eng = vq.eng;
        eng.f32(vq.cbPtr, k * d).set(cb);
        eng.f64(vq.sizePtr, k).set(size);
        eng.f64(vq.sumPtr, k * d).set(sum);
        vq.repack(where);
        vq.initialized = true;
      } else if (updates > 0) {
        fail('CORRUPT_DATA', where, 'an uninitialized quantizer cannot have updates', raw(`updates = ${updates}`), '0');
      }
      return vq;
    } catch (e) {
      vq.dispose();
      throw e;
    }
  }
}

function normalized(x: Float32Array, n: number, d: number): Float32Array {
  const out = x.slice();
  normalizeInPlace(out, n, d);
  return out;
}

/** Rows scaled to unit L2 norm (zero rows stay zero). */
function normalizeInPlace(x: Float32Array, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += x[i * d + t] * x[i * d + t];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < d; t++) x[i * d + t] *= inv;
  }
}
