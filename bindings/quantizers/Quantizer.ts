import type { Metric } from '../types.js';

/**
 * What every vector quantizer offers (ProductQuantizer, OPQ, ...): learn codebooks, map vectors to fixed-size codes
 * and back. Codes are `codeSize` bytes per vector, row-major `Uint8Array(n * codeSize)`.
 */
export interface Quantizer {
  readonly d: number;
  /** Bytes per encoded vector. */
  readonly codeSize: number;
  readonly isTrained: boolean;
  readonly disposed: boolean;
  train(x: Float32Array): unknown;
  encode(x: Float32Array): Uint8Array;
  encodeInto(x: Float32Array, out: Uint8Array): void;
  decode(codes: Uint8Array): Float32Array;
  /**
   * Per-query lookup tables for asymmetric distance computation: f32[nq][m][ksub]; the distance (l2) or inner product
   * (ip) of a query to a code is the sum over j of table[j][code_j].
   */
  computeDistanceTable(q: Float32Array, metric?: Metric): Float32Array;
  save(): Uint8Array;
  dispose(): void;
  [Symbol.dispose](): void;
}

export type QuantizerMetric = Exclude<Metric, 'cosine'>;
