import { checkCodes } from './packed.js';
import { checkBool, checkInt, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { readContainer, sectionF32, writeContainer, type Container } from '../io/format.js';
import type { Metric } from '../types.js';
import { randomOrthogonal } from '../util/linalg.js';
import { Rng } from '../util/rng.js';
import { Owned } from '../wasm/owned.js';
import { SEED_LIMIT } from './ProductQuantizer.js';
import { refuseIfHeld, type Quantizer } from './Quantizer.js';

export interface BinaryQuantizerOptions {
  /** Vector dimension. */
  d: number;
  /** Subtract the per-dimension training mean before taking signs. Default true. */
  center?: boolean;
  /** Apply a random orthogonal rotation (after centering) before taking signs: spreads the variance over the bits. Default false. */
  rotate?: boolean;
  /** Seed of the rotation. Default 1234. */
  seed?: number;
}

export interface BinaryQuantizerTrainResult {
  nTrain: number;
}

// A d x d rotation is 4 d^2 bytes: 64 MiB at this bound.
const MAX_ROTATE_D = 4096;

/**
 * Binary quantizer (sign bits, "1-bit" codes): component j of y = R (x - mean) becomes bit j, 1 when y_j > 0 (so 0
 * and -0 give 0). The mean is learned by train() when `center` (else 0); R is a random orthogonal matrix drawn from
 * `seed` by train() when `rotate` (else the identity). Codes are ceil(d / 8) bytes per vector, bit j in byte j >> 3
 * at bit j & 7 (LSB first); the unused high bits of the last byte are always 0.
 *
 * decode() gives mean + R^T (s * b) with b_j = +-1 and s_j the mean absolute value of y_j over the training set:
 * the best per-dimension scale of the signs in the L1 sense, so that reconstructions have the data's spread rather
 * than unit length (plain +-1 would be off by the data's scale for L2).
 *
 * Storage (wasm memory, owned, once trained): f32[d] mean, f32[d] scale s, and with rotate f32[d][d] R (row-major,
 * y_i = sum_j R[i][j] (x_j - mean_j)). Encoding runs in TS over views of these buffers (float64 sums of the float32
 * rotation entries times the float32 centred components); Hamming search over the codes runs in wasm
 * (assembly/kernels/binary.ts).
 */
export class BinaryQuantizer extends Owned implements Quantizer {
  readonly d: number;
  readonly center: boolean;
  readonly rotate: boolean;
  readonly seed: number;
  /** Bytes per encoded vector: ceil(d / 8). */
  readonly codeSize: number;
  private paramsPtr = 0;

  constructor(options: BinaryQuantizerOptions) {
    const W = 'new BinaryQuantizer';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 16);
    const center = checkBool(W, 'center', o.center ?? true);
    const rotate = checkBool(W, 'rotate', o.rotate ?? false);
    const seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    if (rotate && d > MAX_ROTATE_D) fail('INVALID_OPTION', W, 'rotate needs a d x d matrix in memory', raw(`d = ${d}`), `d <= ${MAX_ROTATE_D} with rotate: true`);
    super(W);
    this.d = d;
    this.center = center;
    this.rotate = rotate;
    this.seed = seed;
    this.codeSize = (d + 7) >> 3;
  }

  get isTrained(): boolean {
    return this.paramsPtr !== 0;
  }

  private trainedOr(where: string): void {
    if (this.paramsPtr === 0) fail('NOT_TRAINED', where, 'the quantizer has no mean and scales yet', raw('an untrained BinaryQuantizer'), 'train(x) or BinaryQuantizer.load() first');
  }

  /** The centring vector (a copy, f32[d]; zeros without center). */
  get mean(): Float32Array {
    const where = 'BinaryQuantizer.mean';
    this.alive(where);
    this.trainedOr(where);
    return this.eng.f32(this.paramsPtr, this.d).slice();
  }

  /** The decode scales s (a copy, f32[d]). */
  get scale(): Float32Array {
    const where = 'BinaryQuantizer.scale';
    this.alive(where);
    this.trainedOr(where);
    return this.eng.f32(this.paramsPtr + this.d * 4, this.d).slice();
  }

  /** The rotation R (a copy, f32[d][d] row-major), or null without rotate. */
  get rotation(): Float32Array | null {
    const where = 'BinaryQuantizer.rotation';
    this.alive(where);
    this.trainedOr(where);
    return this.rotate ? this.eng.f32(this.paramsPtr + 2 * this.d * 4, this.d * this.d).slice() : null;
  }

  /** Learns the mean (center), draws the rotation (rotate) and learns the decode scales from x. Retraining replaces them. */
  train(x: Float32Array): BinaryQuantizerTrainResult {
    const where = 'BinaryQuantizer.train';
    refuseIfHeld(where, this);
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const d = this.d;
    const mean = new Float32Array(d);
    if (this.center) {
      const s = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) s[j] += x[i * d + j];
      for (let j = 0; j < d; j++) mean[j] = s[j] / n;
    }
    const rot = this.rotate ? Float32Array.from(randomOrthogonal(d, new Rng(this.seed))) : null;
    const acc = new Float64Array(d);
    const y = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      project(x, i, d, mean, rot, y);
      for (let j = 0; j < d; j++) acc[j] += Math.abs(y[j]);
    }
    const scale = new Float32Array(d);
    for (let j = 0; j < d; j++) scale[j] = acc[j] / n;
    this.install(mean, scale, rot, where);
    return { nTrain: n };
  }

  /** Copies mean, scale and rotation into a fresh owned buffer (layout in the class comment). */
  private install(mean: Float32Array, scale: Float32Array, rot: Float32Array | null, where: string): void {
    const d = this.d;
    const p = this.own((2 * d + (rot ? d * d : 0)) * 4, where);
    const v = this.eng.f32(p, 2 * d + (rot ? d * d : 0));
    v.set(mean);
    v.set(scale, d);
    if (rot) v.set(rot, 2 * d);
    this.release(this.paramsPtr);
    this.paramsPtr = p;
  }

  /** Codes of x (row-major Float32Array of n * d): Uint8Array(n * codeSize). */
  encode(x: Float32Array): Uint8Array {
    const where = 'BinaryQuantizer.encode';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    this.trainedOr(where);
    return this.encodeRows(x, n, new Uint8Array(n * this.codeSize));
  }

  /** Writes the codes of x into out (a Uint8Array of exactly n * codeSize bytes). */
  encodeInto(x: Float32Array, out: Uint8Array): void {
    const where = 'BinaryQuantizer.encodeInto';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    if (!(out instanceof Uint8Array)) fail('INVALID_TYPE', where, 'out must be a Uint8Array', out, `a Uint8Array of ${n * this.codeSize} bytes`);
    if (out.length !== n * this.codeSize) fail('INVALID_SIZE', where, 'out has the wrong length', raw(`length ${out.length}`), `n * codeSize = ${n * this.codeSize}`);
    this.trainedOr(where);
    this.encodeRows(x, n, out);
  }

  /** @internal Sign codes of n checked rows of x into out (trained quantizer). */
  encodeRows(x: Float32Array, n: number, out: Uint8Array): Uint8Array {
    const d = this.d;
    const cs = this.codeSize;
    const mean = this.eng.f32(this.paramsPtr, d).slice();
    const rot = this.rotate ? this.eng.f32(this.paramsPtr + 2 * d * 4, d * d).slice() : null;
    const y = new Float64Array(d);
    out.fill(0);
    for (let i = 0; i < n; i++) {
      project(x, i, d, mean, rot, y);
      for (let j = 0; j < d; j++) if (y[j] > 0) out[i * cs + (j >> 3)] |= 1 << (j & 7);
    }
    return out;
  }

  /** Reconstructions mean + R^T (s * (+-1)) of codes (a Uint8Array of n * codeSize bytes): Float32Array(n * d). */
  decode(codes: Uint8Array): Float32Array {
    const where = 'BinaryQuantizer.decode';
    this.alive(where);
    const n = checkCodes(where, codes, this.codeSize);
    this.trainedOr(where);
    const d = this.d;
    const cs = this.codeSize;
    const p = this.eng.f32(this.paramsPtr, 2 * d + (this.rotate ? d * d : 0)).slice();
    const out = new Float32Array(n * d);
    const y = new Float64Array(d);
    const z = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) y[j] = (codes[i * cs + (j >> 3)] >> (j & 7)) & 1 ? p[d + j] : -p[d + j];
      if (this.rotate) {
        // x - mean = R^T y: z_j = sum_r R[r][j] y_r
        z.fill(0);
        for (let r = 0; r < d; r++) {
          const yr = y[r];
          const off = 2 * d + r * d;
          for (let j = 0; j < d; j++) z[j] += p[off + j] * yr;
        }
      } else {
        z.set(y);
      }
      for (let j = 0; j < d; j++) out[i * d + j] = p[j] + z[j];
    }
    return out;
  }

  /** Not meaningful for binary codes (no codebook): throws INVALID_OPTION. */
  computeDistanceTable(q: Float32Array, metric: Metric = 'l2'): Float32Array {
    const where = 'BinaryQuantizer.computeDistanceTable';
    this.alive(where);
    void q;
    void metric;
    return fail('INVALID_OPTION', where, 'binary quantizers have no distance tables', raw('a BinaryQuantizer'), 'BinaryIndex.search, or decode() and compare the vectors');
  }

  /** The quantizer as bytes (kind BinaryQuantizer; sections MEAN f32[d], SCAL f32[d] and with rotate ROT f32[d][d], once trained). */
  save(): Uint8Array {
    this.alive('BinaryQuantizer.save');
    return writeContainer('BinaryQuantizer', this.params(), this.sections());
  }

  /** @internal Parameters as saved (also embedded by BinaryIndex). */
  params(): Record<string, number | string | boolean> {
    return { d: this.d, center: this.center, rotate: this.rotate, seed: this.seed, trained: this.isTrained };
  }

  /** @internal */
  sections(): { tag: string; data: Float32Array }[] {
    if (!this.isTrained) return [];
    const d = this.d;
    const s = [{ tag: 'MEAN', data: this.eng.f32(this.paramsPtr, d).slice() }, { tag: 'SCAL', data: this.eng.f32(this.paramsPtr + d * 4, d).slice() }];
    if (this.rotate) s.push({ tag: 'ROT ', data: this.eng.f32(this.paramsPtr + 2 * d * 4, d * d).slice() });
    return s;
  }

  /** Restores a quantizer written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): BinaryQuantizer {
    const where = 'BinaryQuantizer.load';
    return BinaryQuantizer.fromContainer(where, readContainer(where, bytes, 'BinaryQuantizer'));
  }

  /** @internal Rebuilds a quantizer from saved params and sections (shared with BinaryIndex.load). */
  static fromContainer(where: string, c: Container): BinaryQuantizer {
    const p = c.params;
    for (const name of ['center', 'rotate', 'trained']) {
      if (typeof p[name] !== 'boolean') fail('CORRUPT_DATA', where, `param '${name}' is not a boolean`, p[name], 'true or false');
    }
    let bq: BinaryQuantizer;
    try {
      bq = new BinaryQuantizer({ d: p.d as number, center: p.center as boolean, rotate: p.rotate as boolean, seed: p.seed as number });
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (!p.trained) return bq;
    try {
      const d = bq.d;
      const mean = sectionF32(where, c, 'MEAN', d);
      const scale = sectionF32(where, c, 'SCAL', d);
      const rot = bq.rotate ? sectionF32(where, c, 'ROT ', d * d) : null;
      for (const [name, a] of [['MEAN', mean], ['SCAL', scale], ['ROT ', rot]] as const) {
        if (a) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) fail('CORRUPT_DATA', where, `section ${name} holds a non-finite value`, a[i], 'finite values');
      }
      for (let j = 0; j < d; j++) if (!(scale[j] >= 0)) fail('CORRUPT_DATA', where, `a saved scale is negative (dimension ${j})`, scale[j], 'scales >= 0');
      if (!bq.center) for (let j = 0; j < d; j++) if (mean[j] !== 0) fail('CORRUPT_DATA', where, 'a quantizer without center has a nonzero mean', mean[j], '0');
      bq.install(mean, scale, rot, where);
    } catch (e) {
      bq.dispose();
      throw e;
    }
    return bq;
  }
}

/** y = R (x_i - mean) (float32 differences, float64 sums); y = x_i - mean without a rotation. */
function project(x: Float32Array, i: number, d: number, mean: Float32Array, rot: Float32Array | null, y: Float64Array): void {
  const off = i * d;
  if (!rot) {
    for (let j = 0; j < d; j++) y[j] = Math.fround(x[off + j] - mean[j]);
    return;
  }
  const c = new Float64Array(d);
  for (let j = 0; j < d; j++) c[j] = Math.fround(x[off + j] - mean[j]);
  for (let r = 0; r < d; r++) {
    let s = 0;
    const ro = r * d;
    for (let j = 0; j < d; j++) s += rot[ro + j] * c[j];
    y[r] = s;
  }
}
