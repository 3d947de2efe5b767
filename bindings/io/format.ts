/**
 * The one versioned binary container that every saved quantizer and index is written in. All integers little-endian:
 *
 * ```
 * offset 0   magic        4 bytes  'V' 'Q' 'W' 'F'
 *        4   version      u16      FORMAT_VERSION = 1
 *        6   kind         u16      1 ProductQuantizer, 2 OPQ, 3 PQIndex, 4 IVFPQIndex, 5 FlatIndex, 6 KMeans, 7 OnlineVQ,
 *                                  8 ResidualQuantizer, 9 RQIndex, 10 SemanticIdTokenizer, 11 ScalarQuantizer, 12 SQIndex,
 *                                  13 BinaryQuantizer, 14 BinaryIndex, 15 IVFFlatIndex
 *        8   totalBytes   u32      length of the whole file including the checksum
 *       12   paramsBytes  u32      length of the params JSON (UTF-8), followed by zero padding to a multiple of 4
 *       16   params JSON  (an object of numbers / strings / booleans only)
 *       ...  nsections    u32
 *       per section: tag 4 ASCII bytes, byteLength u32, payload, zero padding to a multiple of 4 (so a payload can be
 *       read as a Float32Array without copying when the buffer is aligned)
 *       end-4 crc32       u32      CRC-32 (IEEE 802.3, the zlib one, polynomial 0xEDB88320) of every byte before it
 * ```
 *
 * Payloads are the raw bytes of the typed arrays, i.e. in the platform's byte order. That is little-endian on every
 * platform vqwasm runs on (WebAssembly memory is little-endian, and the library views it through typed arrays
 * everywhere), so the file is little-endian throughout; a big-endian JS engine is not supported.
 *
 * Within one format version, readers ignore params and sections they do not know, so a writer may add optional ones
 * without a version bump. Anything that changes the meaning of existing fields needs FORMAT_VERSION + 1.
 */
import { checkOptions, fail, firstNonFinite, raw } from '../errors.js';

export const FORMAT_VERSION = 1;

export type Kind = 'ProductQuantizer' | 'OPQ' | 'PQIndex' | 'IVFPQIndex' | 'FlatIndex' | 'KMeans' | 'OnlineVQ' | 'ResidualQuantizer' | 'RQIndex' | 'SemanticIdTokenizer' | 'ScalarQuantizer' | 'SQIndex' | 'BinaryQuantizer' | 'BinaryIndex' | 'IVFFlatIndex';

/** Kind -> the u16 stored at offset 6. Codes are part of the format: never renumber, only append. */
export const KIND_CODES: Readonly<Record<Kind, number>> = Object.freeze({
  ProductQuantizer: 1,
  OPQ: 2,
  PQIndex: 3,
  IVFPQIndex: 4,
  FlatIndex: 5,
  KMeans: 6,
  OnlineVQ: 7,
  ResidualQuantizer: 8,
  RQIndex: 9,
  SemanticIdTokenizer: 10,
  ScalarQuantizer: 11,
  SQIndex: 12,
  BinaryQuantizer: 13,
  BinaryIndex: 14,
  IVFFlatIndex: 15,
});

/** The u16 at offset 6 -> Kind (the inverse of KIND_CODES). */
export const KINDS_BY_CODE: Readonly<Record<number, Kind>> = Object.freeze(
  Object.fromEntries(Object.entries(KIND_CODES).map(([k, c]) => [c, k as Kind])) as Record<number, Kind>,
);

export type ParamValue = number | string | boolean;
export type Params = Record<string, ParamValue>;

export interface Section {
  /** Exactly 4 printable ASCII characters, unique within a file. */
  tag: string;
  data: Uint8Array | Float32Array | Int32Array | Float64Array;
}

export interface Container {
  kind: Kind;
  version: number;
  /** Own properties only (read with the param* accessors, which tell a missing param from an inherited name). */
  params: Params;
  /**
   * Tag -> payload, as views (subarray) into the bytes given to readContainer: no copy, so they are valid only while
   * the caller leaves those bytes alone. The section* accessors return copies.
   */
  sections: Map<string, Uint8Array>;
}

const MAGIC = [0x56, 0x51, 0x57, 0x46]; // 'VQWF'
const HEADER_BYTES = 16;
/** Header, nsections and the checksum: the fixed fields of the smallest conceivable file. */
const MIN_BYTES = HEADER_BYTES + 4 + 4;
const MAX_FILE_BYTES = 0xffffffff;

/** n rounded up to a multiple of 4, in float arithmetic so that u32 values near 2^32 cannot wrap. */
function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

function article(kind: string): string {
  // by sound: "an OPQ", "an IVFFlatIndex", "an RQIndex", "an SQIndex"
  return /^(OPQ|IVF|RQ|SQ)/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

function kindList(kinds: readonly Kind[]): string {
  return kinds.map(article).join(' or ');
}

function isTag(tag: unknown): tag is string {
  if (typeof tag !== 'string' || tag.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const c = tag.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 as in zlib / PNG / IEEE 802.3 (reflected, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF). */
export function crc32(bytes: Uint8Array): number {
  let t = crcTable;
  if (t === null) {
    t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c;
    }
    crcTable = t;
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/**
 * Options of an index's save(). `empty: true` leaves the vectors out: the file holds the parameters and the trained
 * parts only, and loads as the same index with size 0 (Faiss: writing the trained index before any add, to fill
 * copies of it elsewhere).
 */
export interface SaveOptions {
  empty?: boolean;
}

/** save()'s options, checked: true when the vectors are to be left out. */
export function saveEmpty(where: string, options: SaveOptions | undefined): boolean {
  if (options === undefined) return false;
  const o = checkOptions(where, options);
  if (o.empty !== undefined && typeof o.empty !== 'boolean') fail('INVALID_TYPE', where, 'options.empty must be a boolean', o.empty, 'true or false');
  return o.empty === true;
}

/**
 * Serializes one object. The writer's inputs come from vqwasm itself (a save() method), so a bad tag or param is a
 * bug in vqwasm and fails with INTERNAL. Sizes are computed first and the result is one allocation of the exact size.
 */
export function writeContainer(kind: Kind, params: Params, sections: readonly Section[]): Uint8Array {
  const where = 'writeContainer';
  const code = KIND_CODES[kind];
  if (!Object.hasOwn(KIND_CODES, kind)) fail('INTERNAL', where, 'unknown kind', kind, `one of ${Object.keys(KIND_CODES).join(', ')}`);
  if (params === null || typeof params !== 'object' || Array.isArray(params)) fail('INTERNAL', where, 'params must be a plain object', params, 'an object of numbers, strings and booleans');
  for (const [name, v] of Object.entries(params)) {
    // JSON.stringify would turn NaN/Infinity into null and drop undefined: refuse rather than write what reads back different
    const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
    if (!ok) fail('INTERNAL', where, `param '${name}' is not a finite number, string or boolean`, v, 'a finite number, a string or a boolean');
  }
  const json = new TextEncoder().encode(JSON.stringify(params));
  const seen = new Set<string>();
  let total = HEADER_BYTES + pad4(json.length) + 4;
  for (const s of sections) {
    if (!isTag(s.tag)) fail('INTERNAL', where, 'section tag must be 4 printable ASCII characters', s.tag, 'e.g. "CENT"');
    if (seen.has(s.tag)) fail('INTERNAL', where, `duplicate section tag '${s.tag}'`, s.tag, 'unique tags');
    seen.add(s.tag);
    const d = s.data;
    if (!(d instanceof Uint8Array || d instanceof Float32Array || d instanceof Int32Array || d instanceof Float64Array)) {
      fail('INTERNAL', where, `section '${s.tag}' data has an unsupported type`, d, 'a Uint8Array, Float32Array, Int32Array or Float64Array');
    }
    total += 8 + pad4(d.byteLength);
  }
  total += 4;
  if (total > MAX_FILE_BYTES) fail('OUT_OF_MEMORY', where, 'the object is too large for one vqwasm file', raw(`${total} bytes`), `at most ${MAX_FILE_BYTES} bytes`);

  const out = new Uint8Array(total); // zero-filled, so every padding byte is already 0
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, FORMAT_VERSION, true);
  dv.setUint16(6, code, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, json.length, true);
  out.set(json, HEADER_BYTES);
  let p = HEADER_BYTES + pad4(json.length);
  dv.setUint32(p, sections.length, true);
  p += 4;
  for (const s of sections) {
    for (let i = 0; i < 4; i++) out[p + i] = s.tag.charCodeAt(i);
    const n = s.data.byteLength;
    dv.setUint32(p + 4, n, true);
    out.set(new Uint8Array(s.data.buffer, s.data.byteOffset, n), p + 8);
    p += 8 + pad4(n);
  }
  dv.setUint32(p, crc32(out.subarray(0, p)), true);
  return out;
}

function corrupt(where: string, what: string, got: unknown, expected: string): never {
  fail('CORRUPT_DATA', where, what, got, expected);
}

/** Fails unless u8[from, to) is all zero (padding: the writer always zeroes it, so anything else is damage). */
function checkZero(where: string, u8: Uint8Array, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) if (u8[i] !== 0) corrupt(where, `non-zero padding after ${what}`, raw(`byte ${u8[i]} at offset ${i}`), 'zero padding');
}

/**
 * Parses and validates a file. `where` names the caller for messages (e.g. 'PQIndex.load'); `expected` is the kind
 * or kinds the caller can load. Every check that fails throws VQError CORRUPT_DATA (INVALID_TYPE if `bytes` is not a
 * Uint8Array or ArrayBuffer). The version is checked before anything after it is trusted, since a newer version may
 * lay the rest out differently; every length read from the file is checked against the bytes that remain before it
 * is used, so a damaged length can never cause a large allocation.
 */
export function readContainer(where: string, bytes: unknown, expected: Kind | readonly Kind[]): Container {
  let u8: Uint8Array;
  if (bytes instanceof Uint8Array) u8 = bytes;
  else if (bytes instanceof ArrayBuffer) u8 = new Uint8Array(bytes);
  else fail('INVALID_TYPE', where, 'a saved file must be a Uint8Array or an ArrayBuffer', bytes, 'a Uint8Array or ArrayBuffer holding a vqwasm file');
  const expectedKinds: readonly Kind[] = typeof expected === 'string' ? [expected] : expected;
  const len = u8.length;
  if (len < MIN_BYTES) corrupt(where, 'too short to be a vqwasm file', raw(`${len} bytes`), `at least ${MIN_BYTES} bytes`);
  for (let i = 0; i < 4; i++) {
    if (u8[i] !== MAGIC[i]) {
      const got = Array.from(u8.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      corrupt(where, 'not a vqwasm file', raw(`first bytes ${got}`), "'VQWF' (56 51 57 46)");
    }
  }
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const version = dv.getUint16(4, true);
  if (version > FORMAT_VERSION) {
    corrupt(where, `written by a newer vqwasm (format version ${version}), this one reads up to ${FORMAT_VERSION}`, raw(`format version ${version}`), `format version ${FORMAT_VERSION} or lower`);
  }
  if (version === 0) corrupt(where, 'invalid format version 0', raw('format version 0'), `format version 1 to ${FORMAT_VERSION}`);
  const total = dv.getUint32(8, true);
  if (total > len) corrupt(where, 'the file is truncated', raw(`${len} bytes`), `${total} bytes as recorded in its header`);
  if (total < len) corrupt(where, `${len - total} trailing bytes after the end of the file`, raw(`${len} bytes`), `${total} bytes as recorded in its header`);
  const stored = dv.getUint32(len - 4, true);
  const actual = crc32(u8.subarray(0, len - 4));
  if (stored !== actual) corrupt(where, 'checksum mismatch: the file is damaged', raw(`crc32 ${hex(actual)}`), `${hex(stored)} as stored in the file`);

  const code = dv.getUint16(6, true);
  const kind = Object.hasOwn(KINDS_BY_CODE, code) ? KINDS_BY_CODE[code] : undefined;
  if (kind === undefined) corrupt(where, 'unknown kind code', code, `1 to ${Object.keys(KIND_CODES).length}`);
  if (!expectedKinds.includes(kind)) corrupt(where, 'wrong kind of file', raw(`${article(kind)} file`), `${kindList(expectedKinds)} file`);

  const end = len - 4; // sections end where the checksum starts
  const paramsBytes = dv.getUint32(12, true);
  const paramsEnd = HEADER_BYTES + paramsBytes;
  if (HEADER_BYTES + pad4(paramsBytes) + 4 > end) {
    corrupt(where, 'params length runs past the end of the file', raw(`${paramsBytes} bytes`), `at most ${end - HEADER_BYTES - 4} bytes`);
  }
  const params = parseParams(where, u8.subarray(HEADER_BYTES, paramsEnd));
  checkZero(where, u8, paramsEnd, HEADER_BYTES + pad4(paramsBytes), 'the params');

  let p = HEADER_BYTES + pad4(paramsBytes);
  const nsections = dv.getUint32(p, true);
  p += 4;
  // each section needs at least its 8-byte header
  if (nsections * 8 > end - p) corrupt(where, 'section count runs past the end of the file', nsections, `at most ${Math.floor((end - p) / 8)} sections in the remaining ${end - p} bytes`);
  const sections = new Map<string, Uint8Array>();
  for (let s = 0; s < nsections; s++) {
    if (end - p < 8) corrupt(where, `section ${s} header runs past the end of the file`, raw(`${end - p} bytes left`), 'at least 8 bytes');
    let tag = '';
    for (let i = 0; i < 4; i++) tag += String.fromCharCode(u8[p + i]);
    if (!isTag(tag)) corrupt(where, `section ${s} has an invalid tag`, raw(Array.from(u8.subarray(p, p + 4), (b) => b.toString(16).padStart(2, '0')).join(' ')), '4 printable ASCII characters');
    const n = dv.getUint32(p + 4, true);
    p += 8;
    if (pad4(n) > end - p) corrupt(where, `section '${tag}' length runs past the end of the file`, raw(`${n} bytes`), `at most ${end - p} bytes`);
    if (sections.has(tag)) corrupt(where, `duplicate section tag '${tag}'`, tag, 'unique tags');
    sections.set(tag, u8.subarray(p, p + n));
    checkZero(where, u8, p + n, p + pad4(n), `section '${tag}'`);
    p += pad4(n);
  }
  if (p !== end) corrupt(where, 'bytes left over after the last section', raw(`${end - p} bytes`), '0 bytes before the checksum');
  return { kind, version, params, sections };
}

function parseParams(where: string, bytes: Uint8Array): Params {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    corrupt(where, 'params are not valid UTF-8 JSON', raw(`${bytes.length} bytes (${(e as Error).message})`), 'a JSON object');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) corrupt(where, 'params are not a JSON object', v, 'a JSON object');
  const params = v as Record<string, unknown>;
  for (const [name, x] of Object.entries(params)) {
    // JSON.parse can yield Infinity ("1e999"), which the writer never writes
    const ok = typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
    if (!ok) corrupt(where, `param '${name}' is not a finite number, string or boolean`, x, 'a finite number, a string or a boolean');
  }
  return params as Params;
}

function section(where: string, c: Container, tag: string, count: number, elemBytes: number, elemName: string): Uint8Array {
  const s = c.sections.get(tag);
  const want = `${count * elemBytes} bytes (${count} ${elemName})`;
  if (s === undefined) corrupt(where, `missing section '${tag}'`, raw('no such section'), want);
  if (s.byteLength !== count * elemBytes) corrupt(where, `section '${tag}' has the wrong size`, raw(`${s.byteLength} bytes`), want);
  return s;
}

/** Copies the bytes into a fresh buffer (the payload may sit at any offset) and returns that buffer. */
function copyOut(s: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(s.byteLength);
  new Uint8Array(buf).set(s);
  return buf;
}

function checkFinite(where: string, tag: string, a: Float32Array | Float64Array): void {
  const i = firstNonFinite(a);
  if (i >= 0) corrupt(where, `section '${tag}' holds a non-finite value at index ${i}`, a[i], 'finite numbers');
}

/** A copy of section `tag` as exactly `count` float32 values, all finite. */
export function sectionF32(where: string, c: Container, tag: string, count: number): Float32Array {
  const out = new Float32Array(copyOut(section(where, c, tag, count, 4, 'float32')));
  checkFinite(where, tag, out);
  return out;
}

/** A copy of section `tag` as exactly `count` float64 values, all finite. */
export function sectionF64(where: string, c: Container, tag: string, count: number): Float64Array {
  const out = new Float64Array(copyOut(section(where, c, tag, count, 8, 'float64')));
  checkFinite(where, tag, out);
  return out;
}

/** A copy of section `tag` as exactly `count` int32 values (range checks are the caller's). */
export function sectionI32(where: string, c: Container, tag: string, count: number): Int32Array {
  return new Int32Array(copyOut(section(where, c, tag, count, 4, 'int32')));
}

/** A copy of section `tag` as exactly `count` bytes. */
export function sectionU8(where: string, c: Container, tag: string, count: number): Uint8Array {
  return new Uint8Array(copyOut(section(where, c, tag, count, 1, 'bytes')));
}

function param(where: string, c: Container, name: string, expected: string): ParamValue {
  if (!Object.hasOwn(c.params, name)) corrupt(where, `missing param '${name}'`, raw('no such param'), expected);
  return c.params[name];
}

/** Param `name` as an integer in [min, max]. */
export function paramInt(where: string, c: Container, name: string, min: number, max: number): number {
  const range = `an integer in [${min}, ${max}]`;
  const v = param(where, c, name, range);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) corrupt(where, `param '${name}' is out of range`, v, range);
  return v;
}

/** Param `name` as a finite number in [min, max]. */
export function paramNumber(where: string, c: Container, name: string, min: number, max: number): number {
  const range = `a number in [${min}, ${max}]`;
  const v = param(where, c, name, range);
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) corrupt(where, `param '${name}' is out of range`, v, range);
  return v;
}

/** Param `name` as one of `allowed`. */
export function paramString<T extends string>(where: string, c: Container, name: string, allowed: readonly T[]): T {
  const list = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  const v = param(where, c, name, list);
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) corrupt(where, `param '${name}' has an unknown value`, v, list);
  return v as T;
}

/** Param `name` as a boolean. */
export function paramBool(where: string, c: Container, name: string): boolean {
  const v = param(where, c, name, 'true or false');
  if (typeof v !== 'boolean') corrupt(where, `param '${name}' is not a boolean`, v, 'true or false');
  return v;
}
