// One entry point for any saved index: the kind in the file's header picks the class.
import { BinaryIndex } from '../search/BinaryIndex.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { IVFFlatIndex } from '../search/IVFFlatIndex.js';
import { IVFPQIndex } from '../search/IVFPQIndex.js';
import { PQIndex } from '../search/PQIndex.js';
import { RQIndex } from '../search/RQIndex.js';
import { SQIndex } from '../search/SQIndex.js';
import { BinaryQuantizer } from '../quantizers/BinaryQuantizer.js';
import { OPQ } from '../quantizers/OPQ.js';
import { ProductQuantizer } from '../quantizers/ProductQuantizer.js';
import { ResidualQuantizer } from '../quantizers/ResidualQuantizer.js';
import { ScalarQuantizer } from '../quantizers/ScalarQuantizer.js';
import { KMeans } from '../training/KMeans.js';
import { readContainer, type Kind } from './format.js';

export type AnyIndex = FlatIndex | PQIndex | IVFPQIndex | IVFFlatIndex | RQIndex | SQIndex | BinaryIndex;
export type AnyQuantizer = ProductQuantizer | OPQ | ResidualQuantizer | ScalarQuantizer | BinaryQuantizer;

const LOADERS = {
  FlatIndex: (b: Uint8Array) => FlatIndex.load(b),
  PQIndex: (b: Uint8Array) => PQIndex.load(b),
  IVFPQIndex: (b: Uint8Array) => IVFPQIndex.load(b),
  IVFFlatIndex: (b: Uint8Array) => IVFFlatIndex.load(b),
  RQIndex: (b: Uint8Array) => RQIndex.load(b),
  SQIndex: (b: Uint8Array) => SQIndex.load(b),
  BinaryIndex: (b: Uint8Array) => BinaryIndex.load(b),
} as const satisfies Partial<Record<Kind, (b: Uint8Array) => AnyIndex>>;

export const INDEX_KINDS = Object.keys(LOADERS) as (keyof typeof LOADERS)[];

/** Restores any index written by an index's save(), whatever its class (CORRUPT_DATA for quantizer files and damage). */
export function loadIndex(bytes: Uint8Array | ArrayBuffer): AnyIndex {
  const where = 'loadIndex';
  const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  const c = readContainer(where, b, INDEX_KINDS);
  return LOADERS[c.kind as keyof typeof LOADERS](b);
}

const QUANTIZER_LOADERS = {
  ProductQuantizer: (b: Uint8Array) => ProductQuantizer.load(b),
  OPQ: (b: Uint8Array) => OPQ.load(b),
  ResidualQuantizer: (b: Uint8Array) => ResidualQuantizer.load(b),
  ScalarQuantizer: (b: Uint8Array) => ScalarQuantizer.load(b),
  BinaryQuantizer: (b: Uint8Array) => BinaryQuantizer.load(b),
} as const satisfies Partial<Record<Kind, (b: Uint8Array) => AnyQuantizer>>;

export const QUANTIZER_KINDS = Object.keys(QUANTIZER_LOADERS) as (keyof typeof QUANTIZER_LOADERS)[];

/** Restores any quantizer written by a quantizer's save() (CORRUPT_DATA for index files and damage). */
export function loadQuantizer(bytes: Uint8Array | ArrayBuffer): AnyQuantizer {
  const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  const c = readContainer('loadQuantizer', b, QUANTIZER_KINDS);
  return QUANTIZER_LOADERS[c.kind as keyof typeof QUANTIZER_LOADERS](b);
}

/** The classes a worker can build and train from options (WorkerPool.train), by name. */
export const TRAINABLE = {
  KMeans, ProductQuantizer, OPQ, ResidualQuantizer, ScalarQuantizer, BinaryQuantizer, PQIndex, IVFPQIndex, IVFFlatIndex, SQIndex, BinaryIndex, RQIndex,
} as const;
export type TrainableKind = keyof typeof TRAINABLE;
export type Trainable = InstanceType<(typeof TRAINABLE)[TrainableKind]>;
