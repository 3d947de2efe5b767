import { fail, raw } from '../errors.js';
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

/** An index whose quantizer was handed out (its `quantizer` getter): what it holds, for the quantizer's train(). */
interface QuantizerOwner {
  readonly constructor: { name: string };
  readonly disposed: boolean;
  readonly size: number;
}
const OWNERS = new WeakMap<object, QuantizerOwner>();

/** @internal The index `owner` handed out its quantizer q: q.train() refuses while the index holds vectors. */
export function handOut<Q extends object>(q: Q, owner: QuantizerOwner): Q {
  OWNERS.set(q, owner);
  return q;
}

/**
 * @internal train()'s check: a quantizer an index handed out must not be retrained while the index holds vectors
 * encoded with it (the codes would be read against another codebook: wrong results, and save() would write them so).
 */
export function refuseIfHeld(where: string, q: object): void {
  const owner = OWNERS.get(q);
  // (a disposed index disposed its quantizer too: train() says so itself)
  if (owner && !owner.disposed && owner.size > 0) {
    fail('INVALID_OPTION', where, 'this quantizer belongs to an index', raw(`a ${owner.constructor.name} of size ${owner.size}`), 'an empty index, or a copy: loadQuantizer(q.save())');
  }
}

/**
 * @internal An index's calls on its own quantizer q (the index owns it: dispose the index, never q): disposed by hand,
 * the index refuses as if it were disposed itself, instead of reading codebooks freed and handed out again.
 */
export function quantizerAlive(where: string, q: { readonly disposed: boolean; readonly constructor: { name: string } } | null | undefined): void {
  if (q?.disposed) fail('DISPOSED', where, "the index's quantizer was disposed", raw(q.constructor.name), 'dispose() the index instead');
}
