import { checkCodes } from './packed.js';
import { checkOneOf, checkInt, checkOptions, checkVectors, fail, raw, savedOptionsError } from '../errors.js';
import { paramInt, paramString, readContainer, sectionF32, writeContainer, type Container } from '../io/format.js';
import { chunkRows } from '../search/scan.js';
import type { Metric } from '../types.js';
import { Owned } from '../wasm/owned.js';
import { refuseIfHeld, type Quantizer } from './Quantizer.js';

export type SQType = 'uint8' | 'int8' | 'int4' | 'fp16';
export const SQ_TYPES: readonly SQType[] = ['uint8', 'int8', 'int4', 'fp16'];
/** The type number of the kernels in assembly/kernels/sq.ts. */
export const SQ_TYPE_CODES: Readonly<Record<SQType, number>> = { uint8: 0, int8: 1, fp16: 2, int4: 3 };

/** Bytes per code of d components. */
export function sqCodeSize(d: number, type: SQType): number {
  return type === 'fp16' ? 2 * d : type === 'int4' ? Math.ceil(d / 2) : d;
}

export interface ScalarQuantizerOptions {
  /** Vector dimension. */
  d: number;
  /**
   * 'uint8' / 'int8' (one byte per component, per-dimension min-max range), 'int4' (4 bits per component, two per byte,
   * the same kind of range with 16 levels) or 'fp16' (half floats: nothing is learned, but train() is still
   * called first, as for every quantizer: encode() before it is NOT_TRAINED).
   */
  type: SQType;
}

export interface ScalarQuantizerTrainResult {
  nTrain: number;
  /** Mean squared reconstruction error per vector over the training set. */
  mse: number;
}

/** Internal handles an index needs to run the kernels (not part of the public API). */
export interface SQKernelView {
  d: number;
  type: number;
  codeSize: number;
  /** f32[d] offsets a and f32[d] steps b: component j decodes to a_j + b_j c (both 0 for fp16; a = min for uint8 / int4). */
  aPtr: number;
  bPtr: number;
}

/**
 * Scalar quantizer (Faiss ScalarQuantizer QT_8bit / QT_4bit / QT_fp16): every component coded on its own.
 *
 *  - 'uint8': train(x) learns per-dimension min and max (Faiss RS_minmax); code c = round((x - min) / step) clamped to
 *    0..255 with step = (max - min) / 255 (float32), decoded min + step * c. (Faiss decodes the middle of the bucket,
 *    min + (c + 0.5) step; we decode its end points so that values on the grid round-trip exactly.)
 *  - 'int8': the same range and grid, code c - 128 as a two's complement byte, decoded (min + 128 step) + step * c:
 *    the same reconstructions as uint8, signed bytes for kernels that multiply codes as integers. (A symmetric
 *    +-max|x| range would waste half the codes on data that is not centred.)
 *  - 'int4': the same min-max range with 16 levels, step = (max - min) / 15, c = nearest((x - min) / step) (float32,
 *    ties to even, in wasm: sqEncode4bit) clamped to 0..15, decoded min + step * c. Two components per byte: component
 *    2t in the low nibble of byte t, 2t + 1 in the high nibble; codeSize = ceil(d / 2). For odd d the last byte's high
 *    nibble is padding: encode writes 0, decode and search ignore it, SQIndex.load refuses a file where it is not 0.
 *    (Faiss QT_4bit also decodes bucket middles, and encodes with floor((x - min) / (max - min) * 15).)
 *  - 'fp16': IEEE half floats (round to nearest even, clamped to +-65504); train(x) only checks x.
 *
 * A dimension with max = min has step 0 and decodes to min. computeDistanceTable is not meaningful for SQ (no
 * codebook: a table would be d x 256 floats, larger than the vector) and throws INVALID_OPTION; SQIndex scores codes
 * directly against the query.
 *
 * Storage (wasm memory, owned, once trained): f32[2][d]: the offsets a and the steps b of the kernels
 * (assembly/kernels/sq.ts); zeros for fp16.
 */
export class ScalarQuantizer extends Owned implements Quantizer {
  readonly d: number;
  readonly type: SQType;
  /** Bytes per encoded vector: d (uint8, int8), ceil(d / 2) (int4) or 2 d (fp16). */
  readonly codeSize: number;
  private rangePtr = 0;
  // JS copies of the trained min and step (float32), used by encode
  private vmin: Float32Array | null = null;
  private step: Float32Array | null = null;

  constructor(options: ScalarQuantizerOptions) {
    const W = 'new ScalarQuantizer';
    const o = checkOptions(W, options);
    const d = checkInt(W, 'd', o.d, 1, 1 << 16);
    const type = checkOneOf(W, 'type', o.type, SQ_TYPES);
    super(W);
    this.d = d;
    this.type = type;
    this.codeSize = sqCodeSize(d, type);
  }

  get isTrained(): boolean {
    return this.rangePtr !== 0;
  }

  /** Per-dimension [min, max] as learned (copies, f32[d] each); null for fp16. */
  get ranges(): { min: Float32Array; max: Float32Array } | null {
    const where = 'ScalarQuantizer.ranges';
    this.alive(where);
    this.trainedOr(where);
    if (this.type === 'fp16') return null;
    const min = this.vmin!.slice();
    const max = new Float32Array(this.d);
    const top = this.levels;
    for (let j = 0; j < this.d; j++) max[j] = Math.fround(min[j] + Math.fround(this.step![j] * top));
    return { min, max };
  }

  /** Learns the per-dimension ranges from x (row-major Float32Array of n * d, n >= 1). Retraining replaces them. */
  train(x: Float32Array): ScalarQuantizerTrainResult {
    const where = 'ScalarQuantizer.train';
    refuseIfHeld(where, this);
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d);
    const d = this.d;
    const vmin = new Float32Array(d).fill(Infinity);
    const vmax = new Float32Array(d).fill(-Infinity);
    const step = new Float32Array(d);
    if (this.type !== 'fp16') {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) {
          const v = x[i * d + j];
          if (v < vmin[j]) vmin[j] = v;
          if (v > vmax[j]) vmax[j] = v;
        }
      }
      const top = this.levels;
      for (let j = 0; j < d; j++) step[j] = (vmax[j] - vmin[j]) / top;
    } else {
      vmin.fill(0);
    }
    this.setRanges(vmin, step, where);
    const rec = this.decodeJS(this.encodeRows(x, n, where), n);
    let err = 0;
    for (let i = 0; i < x.length; i++) err += (x[i] - rec[i]) ** 2;
    return { nTrain: n, mse: err / n };
  }

  /** Installs min f32[d] and step f32[d] (finite, step >= 0; checked by the caller). */
  private setRanges(vmin: Float32Array, step: Float32Array, where: string): void {
    const d = this.d;
    const p = this.own(2 * d * 4, where);
    const v = this.eng.f32(p, 2 * d);
    if (this.type !== 'fp16') {
      for (let j = 0; j < d; j++) v[j] = this.type === 'int8' ? vmin[j] + 128 * step[j] : vmin[j];
      v.set(step, d);
    } else {
      v.fill(0);
    }
    this.release(this.rangePtr);
    this.rangePtr = p;
    this.vmin = vmin;
    this.step = step;
  }

  private trainedOr(where: string): void {
    if (this.rangePtr === 0) fail('NOT_TRAINED', where, 'the quantizer has no ranges yet', raw('an untrained ScalarQuantizer'), 'train(x) or ScalarQuantizer.load() first');
  }

  /** @internal Kernel handles for indexes that hold this quantizer. */
  kernelView(where: string): SQKernelView {
    this.alive(where);
    this.trainedOr(where);
    return { d: this.d, type: SQ_TYPE_CODES[this.type], codeSize: this.codeSize, aPtr: this.rangePtr, bPtr: this.rangePtr + this.d * 4 };
  }

  /** Codes of x (row-major Float32Array of n * d): Uint8Array(n * codeSize). */
  encode(x: Float32Array): Uint8Array {
    const where = 'ScalarQuantizer.encode';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    this.trainedOr(where);
    return this.encodeRows(x, n, where);
  }

  /** Writes the codes of x into out (a Uint8Array of exactly n * codeSize bytes). */
  encodeInto(x: Float32Array, out: Uint8Array): void {
    const where = 'ScalarQuantizer.encodeInto';
    this.alive(where);
    const n = checkVectors(where, 'x', x, this.d, { minRows: 0 });
    if (!(out instanceof Uint8Array)) fail('INVALID_TYPE', where, 'out must be a Uint8Array', out, `a Uint8Array of ${n * this.codeSize} bytes`);
    if (out.length !== n * this.codeSize) fail('INVALID_SIZE', where, 'out has the wrong length', raw(`length ${out.length}`), `n * codeSize = ${n * this.codeSize}`);
    this.trainedOr(where);
    this.encodeRows(x, n, where, out);
  }

  /** The largest code: 255 (uint8, int8) or 15 (int4); the step is (max - min) / levels. */
  private get levels(): number {
    return this.type === 'int4' ? 15 : 255;
  }

  // int4 in wasm (sqEncode4bit); uint8 / int8 / fp16 in JS as before (float64 division, Math.round), so their codes and
  // saved bytes are unchanged
  private encodeRows(x: Float32Array, n: number, where: string, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    const d = this.d;
    if (this.type === 'int4') {
      // chunked through scratch; min is the kernels' a for int4
      const eng = this.eng;
      const cs = this.codeSize;
      const rows = chunkRows(d * 4 + cs, n);
      for (let i0 = 0; i0 < n; i0 += rows) {
        const c = Math.min(rows, n - i0);
        const [xp, cp] = eng.scratch([c * d * 4, c * cs], where);
        eng.f32(xp, c * d).set(x.subarray(i0 * d, (i0 + c) * d));
        eng.abi.sqEncode4bit(xp, c, d, this.rangePtr, this.rangePtr + d * 4, cp);
        out.set(eng.u8(cp, c * cs), i0 * cs);
      }
      return out;
    }
    if (this.type === 'fp16') {
      const h = new Uint16Array(out.buffer, out.byteOffset, n * d);
      if (out.byteOffset % 2 === 0) {
        for (let i = 0; i < n * d; i++) h[i] = f32ToHalf(x[i]);
      } else {
        for (let i = 0; i < n * d; i++) {
          const v = f32ToHalf(x[i]);
          out[2 * i] = v & 0xff;
          out[2 * i + 1] = v >>> 8;
        }
      }
      return out;
    }
    const vmin = this.vmin!;
    const step = this.step!;
    const shift = this.type === 'int8' ? 128 : 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const s = step[j];
        let c = s > 0 ? Math.round((x[i * d + j] - vmin[j]) / s) : 0;
        c = c < 0 ? 0 : c > 255 ? 255 : c;
        out[i * d + j] = (c - shift) & 0xff;
      }
    }
    return out;
  }

  // The reconstructions of the kernels' sqDecode, in JS (float32 a + float32(b * c)).
  private decodeJS(codes: Uint8Array, n: number): Float32Array {
    const d = this.d;
    const out = new Float32Array(n * d);
    if (this.type === 'fp16') {
      for (let i = 0; i < n * d; i++) out[i] = halfToF32(codes[2 * i] | (codes[2 * i + 1] << 8));
      return out;
    }
    const ab = this.eng.f32(this.rangePtr, 2 * d).slice();
    if (this.type === 'int4') {
      const cs = this.codeSize;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) {
          const c = (codes[i * cs + (j >> 1)] >> ((j & 1) * 4)) & 15;
          out[i * d + j] = Math.fround(ab[j] + Math.fround(ab[d + j] * c));
        }
      }
      return out;
    }
    const signed = this.type === 'int8';
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const b = codes[i * d + j];
        const c = signed && b > 127 ? b - 256 : b;
        out[i * d + j] = Math.fround(ab[j] + Math.fround(ab[d + j] * c));
      }
    }
    return out;
  }

  /** Reconstructions of codes (a Uint8Array of n * codeSize bytes): Float32Array(n * d), decoded in wasm. */
  decode(codes: Uint8Array): Float32Array {
    const where = 'ScalarQuantizer.decode';
    const eng = this.alive(where);
    const n = checkCodes(where, codes, this.codeSize);
    this.trainedOr(where);
    const { d, codeSize } = this;
    const out = new Float32Array(n * d);
    const rows = chunkRows(d * 4 + codeSize, n);
    const type = SQ_TYPE_CODES[this.type];
    for (let i0 = 0; i0 < n; i0 += rows) {
      const c = Math.min(rows, n - i0);
      const [cp, op] = eng.scratch([c * codeSize, c * d * 4], where);
      eng.u8(cp, c * codeSize).set(codes.subarray(i0 * codeSize, (i0 + c) * codeSize));
      eng.abi.sqDecode(cp, c, d, type, this.rangePtr, this.rangePtr + d * 4, op);
      out.set(eng.f32(op, c * d), i0 * d);
    }
    return out;
  }

  /** Not meaningful for scalar quantization (see the class comment): throws INVALID_OPTION. */
  computeDistanceTable(q: Float32Array, metric: Metric = 'l2'): Float32Array {
    const where = 'ScalarQuantizer.computeDistanceTable';
    this.alive(where);
    void q;
    void metric;
    return fail('INVALID_OPTION', where, 'scalar quantizers have no distance tables', raw('a ScalarQuantizer'), 'SQIndex.search, or decode() and compare the vectors');
  }

  /** The quantizer as bytes (kind ScalarQuantizer; sections MIN f32[d] and STEP f32[d] once trained, uint8 / int8 / int4). */
  save(): Uint8Array {
    this.alive('ScalarQuantizer.save');
    return writeContainer('ScalarQuantizer', this.params(), this.sections());
  }

  /** @internal Parameters as saved (also embedded by SQIndex). */
  params(): Record<string, number | string | boolean> {
    return { d: this.d, type: this.type, trained: this.isTrained };
  }

  /** @internal */
  sections(): { tag: string; data: Float32Array }[] {
    if (!this.isTrained || this.type === 'fp16') return [];
    return [{ tag: 'MIN ', data: this.vmin!.slice() }, { tag: 'STEP', data: this.step!.slice() }];
  }

  /** Restores a quantizer written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): ScalarQuantizer {
    const where = 'ScalarQuantizer.load';
    return ScalarQuantizer.fromContainer(where, readContainer(where, bytes, 'ScalarQuantizer'));
  }

  /** @internal Rebuilds a quantizer from saved params and sections (shared with SQIndex.load). */
  static fromContainer(where: string, c: Container): ScalarQuantizer {
    const d = paramInt(where, c, 'd', 1, 1 << 16);
    const type = paramString(where, c, 'type', SQ_TYPES);
    const trained = c.params.trained;
    if (typeof trained !== 'boolean') fail('CORRUPT_DATA', where, "param 'trained' is not a boolean", trained, 'true or false');
    let sq: ScalarQuantizer;
    try {
      sq = new ScalarQuantizer({ d, type });
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (!trained) return sq;
    try {
      if (type === 'fp16') {
        sq.setRanges(new Float32Array(d), new Float32Array(d), where);
      } else {
        const vmin = sectionF32(where, c, 'MIN ', d);
        const step = sectionF32(where, c, 'STEP', d);
        for (let j = 0; j < d; j++) if (!(step[j] >= 0)) fail('CORRUPT_DATA', where, `a saved step is negative (dimension ${j})`, step[j], 'steps >= 0');
        sq.setRanges(vmin, step, where);
      }
    } catch (e) {
      sq.dispose();
      throw e;
    }
    return sq;
  }
}

/** float32 -> IEEE half bits, round to nearest even, clamped to +-65504 (no infinities; input finite). */
export function f32ToHalf(x: number): number {
  F32[0] = x;
  const bits = U32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  const e = exp - 127;
  if (e > 15) return sign | 0x7bff;
  if (e >= -14) {
    let he = e + 15;
    let hm = mant >>> 13;
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (hm & 1) === 1)) hm++;
    if (hm === 0x400) {
      hm = 0;
      he++;
    }
    if (he >= 31) return sign | 0x7bff;
    return sign | (he << 10) | hm;
  }
  if (exp === 0) return sign; // float32 subnormals are far below half precision
  const m = mant | 0x800000;
  const shift = 126 - exp; // value / 2^-24 = m >> shift
  if (shift > 24) return sign;
  let hm = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (hm & 1) === 1)) hm++;
  return sign | hm; // hm = 0x400 is the smallest normal, which these bits also spell
}

/** IEEE half bits -> number (finite halfs; infinities and NaN as such). */
export function halfToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
