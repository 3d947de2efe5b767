// One entry point for any saved index: the kind in the file's header picks the class.
import { BinaryIndex } from '../search/BinaryIndex.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { IVFPQIndex } from '../search/IVFPQIndex.js';
import { PQIndex } from '../search/PQIndex.js';
import { RQIndex } from '../search/RQIndex.js';
import { SQIndex } from '../search/SQIndex.js';
import { readContainer, type Kind } from './format.js';

export type AnyIndex = FlatIndex | PQIndex | IVFPQIndex | RQIndex | SQIndex | BinaryIndex;

const LOADERS = {
  FlatIndex: (b: Uint8Array) => FlatIndex.load(b),
  PQIndex: (b: Uint8Array) => PQIndex.load(b),
  IVFPQIndex: (b: Uint8Array) => IVFPQIndex.load(b),
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
