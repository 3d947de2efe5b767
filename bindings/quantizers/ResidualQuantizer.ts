import { checkCodes, decodePacked } from './packed.js';
import { codebookStats, type CodebookStats } from '../training/codebookStats.js';
import { checkInt, checkOneOf, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramInt, readContainer, sectionF32, writeContainer } from '../io/format.js';
import { chunkRows, top1QpanelsSizes } from '../search/scan.js';
import { KMeans, type KMeansInit } from '../training/KMeans.js';
import { runSteps, type TrainSteps } from '../training/steps.js';
import type { Metric } from '../types.js';
import { Rng } from '../util/rng.js';
import { gatherRows } from '../util/rows.js';
import { MAX_MEMORY_BYTES, type Engine } from '../wasm/engine.js';
import { Owned } from '../wasm/owned.js';
import { SEED_LIMIT } from './ProductQuantizer.js';
import { refuseIfHeld, type Quantizer } from './Quantizer.js';

export interface ResidualQuantizerOptions {
  /** Vector dimension. */
  d: number;
  /** Number of levels (codebooks), 1..255: one code of nbits per level. */
  levels: number;
  /** Bits per level code, 1..8: ksub = 2^nbits codewords per level. Default 8. */
  nbits?: number;
  /** Partial encodings kept per vector by the beam search, 1..64 (Faiss max_beam_size). Default 1 (greedy). */
  beamSize?: number;
  /** Seed of the training sample and of level l's k-means (seed + l). Default 1234. */
  seed?: number;
  /** k-means iterations per level. Default 25 (Faiss). */
  iterations?: number;
  /** k-means seeding. Default 'kmeans++'. */
  init?: KMeansInit;
  /** Training encodes at most maxPointsPerCentroid * ksub vectors, and each level's k-means sees at most as many residuals. Default 256 (Faiss). */
  maxPointsPerCentroid?: number;
}

export interface ResidualQuantizerTrainResult {
  /** Training vectors used (after subsampling). */
  nTrain: number;
  /** Mean squared residual ||x - x^||^2 of the training vectors after each level (with the beam search of beamSize). */
  mse: number[];
  /** Code usage of each level in the training vectors' final (best-beam) codes: collapse shows here. */
  stats: CodebookStats[];
  warnings: string[];
}

/** Internal handles an index needs to run the kernels on this quantizer's codebooks (not part of the public API). */
export interface RQKernelView {
  d: number;
  levels: number;
  nbits: number;
  ksub: number;
  /** max(ksub, 8): codewords per level in the panel layout. */
  ksub8: number;
  codeSize: number;
  panelsPtr: number;
  cnormPtr: number;
}

/** The options of a ResidualQuantizer, checked and with their defaults (also checked by RQIndex, under its own name). */
export function checkRQOptions(where: string, options: unknown): Required<ResidualQuantizerOptions> {
  const o = checkOptions(where, options);
  const d = checkInt(where, 'd', o.d, 1, 1 << 20);
  const levels = checkInt(where, 'levels', o.levels, 1, 255);
  const nbits = checkInt(where, 'nbits', o.nbits ?? 8, 1, 8);
  const beamSize = checkInt(where, 'beamSize', o.beamSize ?? 1, 1, 64);
  const seed = checkInt(where, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
  const iterations = checkInt(where, 'iterations', o.iterations ?? 25, 1, 1_000_000);
  const init = checkOneOf(where, 'init', o.init ?? 'kmeans++', ['kmeans++', 'random'] as const);
  const maxPointsPerCentroid = checkInt(where, 'maxPointsPerCentroid', o.maxPointsPerCentroid ?? 256, 1);
  const bytes = levels * Math.max(1 << nbits, 8) * (d + 1) * 4;
  if (bytes > MAX_MEMORY_BYTES) fail('OUT_OF_MEMORY', where, 'the codebooks do not fit in WebAssembly memory', raw(`${levels} levels x ${1 << nbits} x ${d}`), 'levels * ksub * d * 4 bytes under 4 GiB');
  return { d, levels, nbits, beamSize, seed, iterations, init, maxPointsPerCentroid };
}

/** Vectors encoded per kernel call by encode / decode (bounds the beam states in scratch). */
const ENCODE_ROWS = 256;

/**
 * Residual quantizer (Juang & Gray 1982, Chen, Guan & Wang 2010; Faiss ResidualQuantizer): x^ = c_0[i_0] + c_1[i_1] +
 * ... + c_{L-1}[i_{L-1}], level l's codebook of ksub = 2^nbits codewords learned by k-means on the residuals that levels
 * 0..l-1 leave. Encoding is a beam search (Faiss's): per vector the best beamSize partial encodings are kept from level
 * to level, scored by their true squared residual; beamSize 1 is greedy nearest-codeword coding. Training encodes its
 * sample with the same beam and trains each level on the residuals of every kept beam (as Faiss does with its
 * max_beam_size).
 *
 * Codes: codeSize = ceil(levels * nbits / 8) bytes per vector, level l's code in bits [l * nbits, (l + 1) * nbits),
 * least significant bit first (ProductQuantizer's layout, with levels in place of sub-quantizers).
 *
 * Storage (wasm memory, owned): the codebooks in the panel layout of assembly/kernels/rq.ts, f32[levels][ksub8 / 8][d][8]
 * with ksub8 = max(ksub, 8), their squared norms f32[levels][ksub8], and from d = 24 their int16 copy per level
 * (assembly/kernels/qpanels.ts), which greedy (beam 1) encoding scans first.
 */
export class ResidualQuantizer extends Owned implements Quantizer {
  readonly d: number;
  readonly levels: number;
  readonly nbits: number;
  readonly ksub: number;
  readonly codeSize: number;
  readonly seed: number;
  readonly iterations: number;
  readonly init: KMeansInit;
  readonly maxPointsPerCentroid: number;
  private readonly ksub8: number;
  private beam: number;
  private panelsPtr = 0;
  private cnormPtr = 0;
  private qpPtr = 0;
  private qinfoPtr = 0;
  /** min / max of ||x^||^2 over the last training sample (RQIndex quantizes stored norms in this range). */
  private normRange: [number, number] | null = null;

  constructor(options: ResidualQuantizerOptions) {
    const W = 'new ResidualQuantizer';
    const o = checkRQOptions(W, options);
    super(W);
    this.d = o.d;
    this.levels = o.levels;
    this.nbits = o.nbits;
    this.ksub = 1 << o.nbits;
    this.ksub8 = Math.max(this.ksub, 8);
    this.beam = o.beamSize;
    this.codeSize = Math.ceil((o.levels * o.nbits) / 8);
    this.seed = o.seed;
    this.iterations = o.iterations;
    this.init = o.init;
    this.maxPointsPerCentroid = o.maxPointsPerCentroid;
  }

  get isTrained(): boolean {
    return this.panelsPtr !== 0;
  }

  /**
   * Beam width of encode() and of the next train(), 1..64. Settable, like Faiss's max_beam_size: a codebook trained
   * with one beam can encode with a wider one (lower error, slower).
   */
  get beamSize(): number {
    return this.beam;
  }

  set beamSize(v: number) {
    const where = 'ResidualQuantizer.beamSize';
    this.alive(where);
    this.beam = checkInt(where, 'beamSize', v, 1, 64);
  }

  /** A copy of the codebooks, f32[levels][ksub][d] (Faiss's `codebooks` layout). */
  get centroids(): Float32Array {
    const where = 'ResidualQuantizer.centroids';
    const eng = this.alive(where);
    this.trainedOr(where);
    const { d, levels, ksub, ksub8 } = this;
    const [op] = eng.scratch([levels * ksub * d * 4], where);
    for (let l = 0; l < levels; l++) eng.abi.unpackPanels(this.panelsPtr + l * ksub8 * d * 4, 0, ksub, d, op + l * ksub * d * 4);
    return eng.f32(op, levels * ksub * d).slice();
  }

  /**
   * Learns the codebooks from x (row-major Float32Array of n * d, n >= ksub), level by level: k-means on the residuals
   * of a sample of at most maxPointsPerCentroid * ksub vectors, then the beam search of the sample through the new
   * level. Retraining replaces the codebooks; if training throws, the previous ones stay.
   */
  train(x: Float32Array): ResidualQuantizerTrainResult {
    refuseIfHeld('ResidualQuantizer.train', this);
    return runSteps(this.trainSteps(x));
  }

  /**
   * @internal train() as steps (training/steps.ts): each level's k-means is a step, for WorkerPool.trainIndex; the
   * beam search of the sample through each new level runs here, between the steps.
   */
  *trainSteps(x: Float32Array): TrainSteps<ResidualQuantizerTrainResult> {
    const where = 'ResidualQuantizer.train';
    const eng = this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const { d, levels, ksub, ksub8, beamSize: beam } = this;
    if (n < ksub) fail('TOO_FEW_POINTS', where, 'fewer training vectors than codewords per level', raw(`n = ${n}`), `n >= ksub = ${ksub}`);
    const maxTrain = this.maxPointsPerCentroid * ksub;
    let nt = n;
    let rows: Int32Array | null = null;
    if (n > maxTrain) {
      nt = maxTrain;
      rows = new Rng(this.seed).sortedSample(n, nt);
    }
    const warnings: string[] = [];
    if (rows) warnings.push(`${where}: sampling ${nt} of ${n} training vectors (maxPointsPerCentroid = ${this.maxPointsPerCentroid})`);
    // one beam state of the whole sample (res f32[nt][live][d], rnorm f32[nt][live], codes u8[nt][live][levels]) updated
    // in place chunk by chunk through a chunk-sized state; the new codebooks; the step's scratch
    const chunk = Math.min(nt, 1024);
    const stateBytes = nt * beam * (d * 4 + 4 + levels);
    if (stateBytes + levels * ksub8 * (d + 1) * 4 > MAX_MEMORY_BYTES) {
      fail('OUT_OF_MEMORY', where, 'the beam states of the training sample do not fit in WebAssembly memory', raw(`${nt} x ${beam} beams x ${d}`), 'under 4 GiB; lower maxPointsPerCentroid or beamSize');
    }
    const tmp: number[] = [];
    const take = (bytes: number) => {
      const p = eng.alloc(Math.max(bytes, 4), where);
      tmp.push(p);
      return p;
    };
    let books: number[] = [];
    try {
      const res = take(nt * beam * d * 4);
      const rn = take(nt * beam * 4);
      const codes = take(nt * beam * levels);
      const cres = take(chunk * beam * d * 4);
      const crn = take(chunk * beam * 4);
      const ccodes = take(chunk * beam * levels);
      const work = take(eng.abi.rqStepWorkBytes(ksub, beam, d));
      books = this.ownBooks(where);
      const xs = eng.f32(res, nt * d);
      if (rows) gatherRows(xs, x, rows, d);
      else xs.set(x);
      eng.abi.normsSq(res, nt, d, rn);
      const mse: number[] = [];
      let live = 1;
      for (let l = 0; l < levels; l++) {
        const cent = yield* this.trainLevel(res, nt * live, l, where);
        this.alive(where); // disposed on this thread while a pool trained the level
        const { pl, cn, qpl, qil } = this.packLevel(books, l, cent, where);
        // last chunk first: a chunk's output rows (stride liveOut) only cover input rows of itself and later chunks
        const liveOut = Math.min(beam, live * ksub);
        for (let i0 = Math.floor((nt - 1) / chunk) * chunk; i0 >= 0; i0 -= chunk) {
          const c = Math.min(chunk, nt - i0);
          eng.abi.rqBeamStep(
            c, d, ksub, pl, cn, l, live, beam, levels,
            res + i0 * live * d * 4, rn + i0 * live * 4, codes + i0 * live * levels, cres, crn, ccodes, work, qpl, qil,
          );
          const mem = new Uint8Array(eng.abi.memory.buffer);
          mem.copyWithin(res + i0 * liveOut * d * 4, cres, cres + c * liveOut * d * 4);
          mem.copyWithin(rn + i0 * liveOut * 4, crn, crn + c * liveOut * 4);
          mem.copyWithin(codes + i0 * liveOut * levels, ccodes, ccodes + c * liveOut * levels);
        }
        live = liveOut;
        const norms = eng.f32(rn, nt * live);
        let s = 0;
        for (let i = 0; i < nt; i++) s += norms[i * live];
        mse.push(s / nt);
      }
      const cv = eng.u8(codes, nt * live * levels);
      const stats: CodebookStats[] = [];
      for (let l = 0; l < levels; l++) stats.push(codebookStats(Int32Array.from({ length: nt }, (_, i) => cv[i * live * levels + l]), ksub));
      // ||x^||^2 = ||x - r||^2 of the best beam, for the stored-norm quantization of RQIndex
      const r = eng.f32(res, nt * live * d);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < nt; i++) {
        const xo = (rows ? rows[i] : i) * d;
        const ro = i * live * d;
        let s = 0;
        for (let t = 0; t < d; t++) s += (x[xo + t] - r[ro + t]) ** 2;
        lo = Math.min(lo, s);
        hi = Math.max(hi, s);
      }
      this.adoptBooks(books);
      books = [];
      this.normRange = [lo, hi];
      return { nTrain: nt, mse, stats, warnings };
    } finally {
      for (const p of tmp) eng.free(p);
      for (const p of books) this.release(p);
    }
  }

  /** k-means codebook f32[ksub][d] of level l on the residual rows f32[count][d] at resPtr (subsampled with the seed). */
  private *trainLevel(resPtr: number, count: number, l: number, where: string): TrainSteps<Float32Array> {
    const { d, ksub } = this;
    const eng = this.eng;
    const maxRows = this.maxPointsPerCentroid * ksub;
    let sample: Float32Array;
    if (count > maxRows) {
      const pick = new Rng(this.seed + 1 + l).sortedSample(count, maxRows);
      sample = new Float32Array(maxRows * d);
      const all = eng.f32(resPtr, count * d);
      gatherRows(sample, all, pick, d);
    } else {
      sample = eng.f32(resPtr, count * d).slice();
    }
    const km = new KMeans({ d, k: ksub, iterations: this.iterations, seed: this.seed + l, init: this.init, maxPointsPerCentroid: Math.max(1, Math.ceil(sample.length / d / ksub)), minPointsPerCentroid: 0 });
    // (as before KMeans trained far-from-origin points around their mean: rqEncode scores level 0 in the points' own
    // coordinates, which loses precision far from the origin, and a level 0 trained exactly made it pick the nearest
    // codeword less often: 1119 of 1500 codes not the nearest at offset 1000, against 625; until the encode centers
    // too, the levels train as the encode sees them)
    km.keepOrigin = true;
    try {
      yield { kind: 'kmeans', model: km, x: sample };
      return km.centroids;
    } finally {
      km.dispose();
    }
  }

  private trainedOr(where: string): void {
    if (this.panelsPtr === 0) fail('NOT_TRAINED', where, 'the quantizer has no codebooks yet', raw('an untrained ResidualQuantizer'), 'train(x) or ResidualQuantizer.load() first');
  }

  /** Replaces the codebooks with cent f32[levels][ksub][d] (finite; checked by the caller). */
  private setCentroids(cent: Float32Array, where: string): void {
    const { d, levels, ksub } = this;
    const books = this.ownBooks(where);
    for (let l = 0; l < levels; l++) this.packLevel(books, l, cent.subarray(l * ksub * d, (l + 1) * ksub * d), where);
    this.adoptBooks(books);
  }

  /**
   * New codebook buffers, all or none: [panels f32[levels][ksub8 / 8][d][8], norms f32[levels][ksub8], and from d = 24
   * the int16 copy: qpanels and qinfo per level (else 0, 0)].
   */
  private ownBooks(where: string): number[] {
    const { d, levels, ksub, ksub8 } = this;
    const [qp, qinfo] = top1QpanelsSizes(this.eng, ksub, d);
    return this.ownAll(where, [levels * ksub8 * d * 4, levels * ksub8 * 4, levels * qp, levels * qinfo]);
  }

  /** Packs level l's codewords cent f32[ksub][d] into its block of the ownBooks buffers; returns the level's pointers. */
  private packLevel(books: readonly number[], l: number, cent: Float32Array, where: string): { pl: number; cn: number; qpl: number; qil: number } {
    const { d, ksub, ksub8 } = this;
    const eng = this.eng;
    const [panels, cnorm, qp, qinfo] = books;
    const [qpLevel, qinfoLevel] = top1QpanelsSizes(eng, ksub, d);
    const pl = panels + l * ksub8 * d * 4;
    const cn = cnorm + l * ksub8 * 4;
    const [cp] = eng.scratch([ksub * d * 4], where);
    eng.f32(cp, ksub * d).set(cent);
    eng.abi.packPanels(cp, ksub, d, pl, 0);
    eng.abi.panelNormsSq(pl, 0, ksub, d, cn);
    if (qp === 0) return { pl, cn, qpl: 0, qil: 0 };
    const qpl = qp + l * qpLevel;
    const qil = qinfo + l * qinfoLevel;
    eng.abi.qpanelsPack(pl, cn, 0, ksub, d, qpl, qil);
    return { pl, cn, qpl, qil };
  }

  /** The ownBooks buffers become the codebooks; the old ones are released. */
  private adoptBooks(books: readonly number[]): void {
    for (const p of [this.panelsPtr, this.cnormPtr, this.qpPtr, this.qinfoPtr]) this.release(p);
    [this.panelsPtr, this.cnormPtr, this.qpPtr, this.qinfoPtr] = books;
  }

  /** @internal Kernel handles for indexes that hold this quantizer. */
  kernelView(where: string): RQKernelView {
    this.alive(where);
    this.trainedOr(where);
    const { d, levels, nbits, ksub, ksub8, codeSize } = this;
    return { d, levels, nbits, ksub, ksub8, codeSize, panelsPtr: this.panelsPtr, cnormPtr: this.cnormPtr };
  }

  /** @internal The range of ||x^||^2 seen in training (null after load()). */
  trainedNormRange(): [number, number] | null {
    return this.normRange;
  }

  /** Codes of x (row-major Float32Array of n * d): Uint8Array(n * codeSize). */
  encode(x: Float32Array): Uint8Array {
    const where = 'ResidualQuantizer.encode';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    this.trainedOr(where);
    const out = new Uint8Array(n * this.codeSize);
    const cs = this.codeSize;
    this.encodeRows(x, n, where, { extraPerRow: cs }, (up, _np, pp, i0, c) => {
      this.eng.abi.pqPack(up, c, this.levels, this.nbits, pp);
      out.set(this.eng.u8(pp, c * cs), i0 * cs);
    });
    return out;
  }

  /** Writes the codes of x into out (a Uint8Array of exactly n * codeSize bytes). */
  encodeInto(x: Float32Array, out: Uint8Array): void {
    const where = 'ResidualQuantizer.encodeInto';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    if (!(out instanceof Uint8Array)) fail('INVALID_TYPE', where, 'out must be a Uint8Array', out, `a Uint8Array of ${n * this.codeSize} bytes`);
    if (out.length !== n * this.codeSize) fail('INVALID_SIZE', where, 'out has the wrong length', raw(`length ${out.length}`), `n * codeSize = ${n * this.codeSize}`);
    this.trainedOr(where);
    out.set(this.encode(x));
  }

  /**
   * @internal Beam-search encoding of n checked vectors, chunk by chunk. `use(up, np, ep, i0, c)` gets, as wasm pointers
   * valid until the next scratch() call: the unpacked codes u8[c][levels] of rows i0..i0+c-1 (up), with `withNorms`
   * the squared norms of their reconstructions ||x^||^2 f32[c] (np, else 0), and `extraPerRow * c` free bytes (ep).
   */
  encodeRows(
    x: Float32Array, n: number, where: string, opts: { withNorms?: boolean; extraPerRow?: number },
    use: (up: number, np: number, ep: number, i0: number, c: number) => void,
  ): void {
    const eng = this.eng;
    const { d, levels, ksub, beamSize } = this;
    const withNorms = opts.withNorms ?? false;
    const rows = Math.min(ENCODE_ROWS, Math.max(1, n));
    for (let i0 = 0; i0 < n; i0 += rows) {
      const c = Math.min(rows, n - i0);
      const work = eng.abi.rqWorkBytes(c, d, levels, ksub, beamSize);
      const [xp, wp, up, dp, np, ep] = eng.scratch(
        [c * d * 4, work, c * levels, withNorms ? c * d * 4 : 0, withNorms ? c * 4 : 0, c * (opts.extraPerRow ?? 0)], where,
      );
      eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
      eng.abi.rqEncode(xp, c, d, levels, ksub, beamSize, this.panelsPtr, this.cnormPtr, wp, up, 0, this.qpPtr, this.qinfoPtr);
      if (withNorms) {
        eng.abi.rqDecode(up, c, levels, d, levels, ksub, this.panelsPtr, dp);
        eng.abi.normsSq(dp, c, d, np);
      }
      use(up, withNorms ? np : 0, ep, i0, c);
    }
  }

  /** Reconstructions of codes (a Uint8Array of n * codeSize bytes): Float32Array(n * d). */
  decode(codes: Uint8Array): Float32Array {
    const where = 'ResidualQuantizer.decode';
    const eng = this.alive(where);
    const { d, levels, nbits, codeSize, ksub } = this;
    const n = checkCodes(where, codes, codeSize);
    this.trainedOr(where);
    return decodePacked(eng, where, codes, n, levels, nbits, d, (up, c, op) => eng.abi.rqDecode(up, c, levels, d, levels, ksub, this.panelsPtr, op));
  }

  /**
   * Lookup tables of queries q (row-major Float32Array of nq * d): f32[nq][levels][ksub]. 'ip': <q, c_l[k]>, so that
   * <q, x^> = sum_l table[l][code_l]. 'l2' (default): -2 <q, c_l[k]>, so that ||q - x^||^2 = ||q||^2 + ||x^||^2 +
   * sum_l table[l][code_l] (the levels' codewords are not orthogonal: the norm of the reconstruction is a separate term,
   * which RQIndex stores per vector, as Faiss does).
   */
  computeDistanceTable(q: Float32Array, metric: Metric = 'l2'): Float32Array {
    const where = 'ResidualQuantizer.computeDistanceTable';
    this.alive(where);
    const nq = checkVectors(where, 'q', q, this.d);
    const mt = checkOneOf(where, 'metric', metric, ['l2', 'ip'] as const);
    this.trainedOr(where);
    const { d, levels, ksub, ksub8 } = this;
    const v = this.kernelView(where);
    const width = levels * ksub8;
    const out = new Float32Array(nq * levels * ksub);
    const rows = chunkRows(d * 4 + width * 4, nq);
    for (let i0 = 0; i0 < nq; i0 += rows) {
      const c = Math.min(rows, nq - i0);
      const [qp, zp, tp] = this.eng.scratch([c * d * 4, width * 4, c * width * 4], where);
      this.eng.f32(qp, c * d).set(q.subarray(i0 * d, (i0 + c) * d));
      levelTables(this.eng, v, qp, c, mt === 'l2' ? -2 : 1, zp, tp);
      const t = this.eng.f32(tp, c * width);
      if (ksub8 === ksub) out.set(t, i0 * width);
      else for (let r = 0; r < c * levels; r++) out.set(t.subarray(r * ksub8, r * ksub8 + ksub), (i0 * levels + r) * ksub);
    }
    return out;
  }

  /** The quantizer as bytes (format: bindings/io/format.ts, kind ResidualQuantizer; section CENT = centroids f32[levels][ksub][d]). */
  save(): Uint8Array {
    this.alive('ResidualQuantizer.save');
    return writeContainer('ResidualQuantizer', this.params(), this.sections());
  }

  /** @internal Parameters as saved (also embedded by RQIndex). */
  params(): Record<string, number | string | boolean> {
    return {
      d: this.d, levels: this.levels, nbits: this.nbits, beamSize: this.beamSize, seed: this.seed, iterations: this.iterations, init: this.init,
      maxPointsPerCentroid: this.maxPointsPerCentroid, trained: this.isTrained,
    };
  }

  /** @internal */
  sections(tag = 'CENT'): { tag: string; data: Float32Array }[] {
    return this.isTrained ? [{ tag, data: this.centroids }] : [];
  }

  /** Restores a quantizer written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): ResidualQuantizer {
    const where = 'ResidualQuantizer.load';
    return ResidualQuantizer.fromContainer(where, readContainer(where, bytes, 'ResidualQuantizer'));
  }

  /** @internal Rebuilds a quantizer from saved params + its CENT section (shared with RQIndex.load). */
  static fromContainer(where: string, c: ReturnType<typeof readContainer>): ResidualQuantizer {
    const d = paramInt(where, c, 'd', 1, 1 << 20);
    const levels = paramInt(where, c, 'levels', 1, 255);
    const nbits = paramInt(where, c, 'nbits', 1, 8);
    const opts: ResidualQuantizerOptions = { d, levels, nbits, beamSize: paramInt(where, c, 'beamSize', 1, 64) };
    if (typeof c.params.seed === 'number') opts.seed = c.params.seed;
    if (typeof c.params.iterations === 'number') opts.iterations = c.params.iterations;
    if (c.params.init === 'random' || c.params.init === 'kmeans++') opts.init = c.params.init;
    if (typeof c.params.maxPointsPerCentroid === 'number') opts.maxPointsPerCentroid = c.params.maxPointsPerCentroid;
    let rq: ResidualQuantizer;
    try {
      rq = new ResidualQuantizer(opts);
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (c.params.trained !== false) {
      try {
        rq.setCentroids(sectionF32(where, c, 'CENT', levels * (1 << nbits) * d), where);
      } catch (e) {
        rq.dispose();
        throw e;
      }
    }
    return rq;
  }
}

/**
 * Tables alpha * <q, c_l[k]> of the c queries at qPtr (f32[c][d]) against every level: outPtr f32[c][levels][ksub8]
 * (padding entries 0). zeroPtr: f32[levels * ksub8] of scratch. The level blocks of the panel buffer read as one panel
 * buffer of levels * ksub8 codewords, so one scorePanels call covers all levels.
 */
export function levelTables(eng: Engine, v: RQKernelView, qPtr: number, c: number, alpha: number, zeroPtr: number, outPtr: number): void {
  const width = v.levels * v.ksub8;
  eng.f32(zeroPtr, width).fill(0);
  eng.abi.scorePanels(qPtr, c, v.d, v.panelsPtr, zeroPtr, width, alpha, outPtr);
}
