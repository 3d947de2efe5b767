/**
 * The standard vector file formats, parsed from and written to bytes (no Node API: browser bundles use this file; the
 * Node path helpers are in vectorFiles.ts). Every parser copies: the result never aliases the input bytes.
 *
 * ```
 * .npy    magic \x93 'NUMPY', major u8 (1, 2 or 3), minor u8, header length u16 (v1) / u32 (v2, v3), the header
 *         (a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }), then the data, n * d
 *         items, row-major (C order) or column-major (fortran_order: True, transposed here). Read: '<f4', '<f2',
 *         '|i1', '|u1' (and '<i4'), shape (d,) (one vector) or (n, d). Written: v1, C order.
 * .fvecs  per vector: d as i32, then d f32            .ivecs  the same with d i32            .bvecs  d as i32, then d u8
 * raw     n * d little-endian f32, d given by the caller
 * ```
 *
 * Malformed input (truncated, bad magic or header, rows of different d, sizes that overflow or exceed the 4 GiB of a
 * wasm32 memory) fails with VQError: CORRUPT_DATA for damage, UNSUPPORTED for a valid file of a kind not read here,
 * OUT_OF_MEMORY for data beyond 4 GiB, INVALID_TYPE / INVALID_OPTION for bad arguments. A length field is always
 * checked against the bytes that are actually there before anything is allocated from it.
 */
import { fail, raw, type VQErrorCode } from '../errors.js';
import { f32ToHalf, halfToF32 } from '../quantizers/ScalarQuantizer.js';

/** Element types of the vector files. float16 is returned widened to float32. */
export type VectorDtype = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32';
export type VectorArray = Float32Array | Int32Array | Int8Array | Uint8Array;

/** n vectors of d components, row-major. `dtype` is the element type in the file. */
export interface Vectors<T extends VectorArray = VectorArray> {
  n: number;
  d: number;
  dtype: VectorDtype;
  data: T;
}

export type VectorFormat = 'npy' | 'fvecs' | 'ivecs' | 'bvecs' | 'f32';
export const VECTOR_FORMATS: readonly VectorFormat[] = ['npy', 'fvecs', 'ivecs', 'bvecs', 'f32'];

/** Largest dimension accepted from a file (a d field beyond it is damage, not data). */
export const MAX_FILE_D = 1 << 24;
/** Largest decoded result: the 4 GiB of a wasm32 memory. */
const MAX_BYTES = 2 ** 32;
/** Largest .npy header read (numpy writes a few hundred bytes; v2 allows u32 lengths). */
const MAX_NPY_HEADER = 1 << 16;

function err(code: VQErrorCode, where: string, what: string, got: unknown, expected: string): never {
  fail(code, where, what, got, expected);
}

export function asBytes(where: string, bytes: unknown): Uint8Array {
  // a plain view even for a Node Buffer, whose slice() is a view into a shared pool rather than a copy
  if (bytes instanceof Uint8Array) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  return err('INVALID_TYPE', where, 'bytes must be a Uint8Array or an ArrayBuffer', bytes, 'a Uint8Array or ArrayBuffer');
}

function checkOutBytes(where: string, n: number, d: number, elemBytes: number): void {
  const bytes = n * d * elemBytes;
  if (bytes > MAX_BYTES) err('OUT_OF_MEMORY', where, `${n} vectors of d = ${d} do not fit in WebAssembly memory`, raw(`${bytes} bytes`), 'at most 4 GiB (read the file in chunks: vectorChunks)');
}

// ------------------------------------------------------------------------------------------------------------------
// .npy

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93 N U M P Y
const NPY_DTYPES: Record<string, { dtype: VectorDtype; size: number }> = {
  '<f4': { dtype: 'float32', size: 4 },
  '<f2': { dtype: 'float16', size: 2 },
  '|i1': { dtype: 'int8', size: 1 },
  '<i1': { dtype: 'int8', size: 1 },
  '|u1': { dtype: 'uint8', size: 1 },
  '<u1': { dtype: 'uint8', size: 1 },
  '<i4': { dtype: 'int32', size: 4 },
};

/** What the header of a .npy file says; `dataOffset` is where the items start. */
export interface NpyHeader {
  dtype: VectorDtype;
  itemBytes: number;
  fortran: boolean;
  n: number;
  d: number;
  /** True for shape (d,): one vector. */
  oneDim: boolean;
  dataOffset: number;
}

/**
 * Parses the magic and header of a .npy file from its first bytes (`prefix`, which may be longer). `need` is set
 * instead when the prefix is too short to hold the whole header: call again with at least that many bytes.
 */
export function parseNpyHeader(where: string, prefix: Uint8Array): NpyHeader | { need: number } {
  if (prefix.length < 10) {
    for (let i = 0; i < Math.min(prefix.length, 6); i++) if (prefix[i] !== NPY_MAGIC[i]) npyBadMagic(where, prefix);
    return { need: 10 };
  }
  for (let i = 0; i < 6; i++) if (prefix[i] !== NPY_MAGIC[i]) npyBadMagic(where, prefix);
  const major = prefix[6];
  if (major < 1 || major > 3) err('CORRUPT_DATA', where, 'unknown .npy format version', raw(`version ${major}.${prefix[7]}`), 'version 1, 2 or 3');
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  let start: number;
  let hlen: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    start = 10;
  } else {
    if (prefix.length < 12) return { need: 12 };
    hlen = dv.getUint32(8, true);
    start = 12;
  }
  if (hlen > MAX_NPY_HEADER) err('CORRUPT_DATA', where, '.npy header length is implausible', raw(`${hlen} bytes`), `at most ${MAX_NPY_HEADER} bytes`);
  if (prefix.length < start + hlen) return { need: start + hlen };
  const text = latin1(prefix.subarray(start, start + hlen));
  const h = parseNpyDict(where, text);
  const dt = Object.hasOwn(NPY_DTYPES, h.descr) ? NPY_DTYPES[h.descr] : undefined;
  if (dt === undefined) {
    err('UNSUPPORTED', where, `.npy element type ${JSON.stringify(h.descr)} is not supported`, h.descr, "'<f4' (float32), '<f2' (float16), '|i1' (int8), '|u1' (uint8) or '<i4' (int32), little-endian");
  }
  const shape = h.shape;
  if (shape.length < 1 || shape.length > 2) err('UNSUPPORTED', where, `.npy arrays of ${shape.length} dimensions are not vectors`, raw(`shape (${shape.join(', ')})`), 'shape (d,) or (n, d)');
  const oneDim = shape.length === 1;
  const n = oneDim ? 1 : shape[0];
  const d = oneDim ? shape[0] : shape[1];
  if (d < 1 || d > MAX_FILE_D) err('CORRUPT_DATA', where, '.npy vector dimension out of range', raw(`shape (${shape.join(', ')})`), `d in [1, ${MAX_FILE_D}]`);
  return { dtype: dt.dtype, itemBytes: dt.size, fortran: h.fortran, n, d, oneDim, dataOffset: start + hlen };
}

function npyBadMagic(where: string, b: Uint8Array): never {
  const got = Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return err('CORRUPT_DATA', where, 'not a .npy file', raw(`first bytes ${got}`), "'\\x93NUMPY' (93 4e 55 4d 50 59)");
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * The header dict, parsed strictly: exactly the keys descr, fortran_order and shape, in any order, with a string,
 * a boolean and a tuple of non-negative integers. Anything else is refused (no eval of Python).
 */
function parseNpyDict(where: string, text: string): { descr: string; fortran: boolean; shape: number[] } {
  const bad = (what: string): never => err('CORRUPT_DATA', where, `bad .npy header: ${what}`, text.length > 120 ? text.slice(0, 120) + '...' : text, "a dict {'descr': ..., 'fortran_order': ..., 'shape': (...)}");
  let p = 0;
  const ws = () => {
    while (p < text.length && (text[p] === ' ' || text[p] === '\n' || text[p] === '\t' || text[p] === '\r')) p++;
  };
  const eat = (c: string) => {
    ws();
    if (text[p] !== c) bad(`expected '${c}' at ${p}`);
    p++;
  };
  const str = (): string => {
    ws();
    const q = text[p];
    if (q !== "'" && q !== '"') bad(`expected a string at ${p}`);
    const end = text.indexOf(q, p + 1);
    if (end < 0) bad('unterminated string');
    const s = text.slice(p + 1, end);
    p = end + 1;
    return s;
  };
  const int = (): number => {
    ws();
    const m = /^[0-9]{1,16}/.exec(text.slice(p));
    if (!m) bad(`expected an integer at ${p}`);
    p += m![0].length;
    if (text[p] === 'L') p++; // Python 2 longs
    return Number(m![0]);
  };
  let descr: string | undefined;
  let fortran: boolean | undefined;
  let shape: number[] | undefined;
  eat('{');
  for (;;) {
    ws();
    if (text[p] === '}') {
      p++;
      break;
    }
    const key = str();
    eat(':');
    ws();
    if (key === 'descr' && descr === undefined) descr = str();
    else if (key === 'fortran_order' && fortran === undefined) {
      if (text.startsWith('True', p)) fortran = true;
      else if (text.startsWith('False', p)) fortran = false;
      else bad('fortran_order is not True or False');
      p += fortran ? 4 : 5;
    } else if (key === 'shape' && shape === undefined) {
      eat('(');
      shape = [];
      ws();
      while (text[p] !== ')') {
        if (shape.length >= 8) bad('too many dimensions');
        shape.push(int());
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== ')') bad(`expected ',' or ')' at ${p}`);
        ws();
      }
      p++;
    } else bad(`unexpected key ${JSON.stringify(key)}`);
    ws();
    if (text[p] === ',') p++;
    else if (text[p] !== '}') bad(`expected ',' or '}' at ${p}`);
  }
  // the rest is space padding and a newline
  if (!/^[ \n\r\t\0]*$/.test(text.slice(p))) bad('text after the dict');
  if (descr === undefined || fortran === undefined || shape === undefined) bad('missing descr, fortran_order or shape');
  return { descr: descr!, fortran: fortran!, shape: shape! };
}

/** Decodes `count` little-endian items of `dtype` from bytes (any alignment) into a new array (float16 -> float32). */
function decodeItems(dtype: VectorDtype, bytes: Uint8Array, count: number): VectorArray {
  const copy = bytes.slice(0, count * itemBytesOf(dtype)); // aligned, owned copy
  switch (dtype) {
    case 'float32':
      return new Float32Array(copy.buffer, 0, count);
    case 'int32':
      return new Int32Array(copy.buffer, 0, count);
    case 'int8':
      return new Int8Array(copy.buffer, 0, count);
    case 'uint8':
      return copy;
    case 'float16': {
      const h = new Uint16Array(copy.buffer, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToF32(h[i]);
      return out;
    }
  }
}

function itemBytesOf(dtype: VectorDtype): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'float16' ? 2 : 1;
}

/** Column-major n x d (items of any array type) -> row-major, in a new array of the same type. */
function transpose<T extends VectorArray>(a: T, n: number, d: number): T {
  const out = new (a.constructor as new (len: number) => T)(n * d);
  for (let j = 0; j < d; j++) for (let i = 0; i < n; i++) out[i * d + j] = a[j * n + i];
  return out;
}

/**
 * Parses a .npy file: float32 and float16 (returned as Float32Array), int8 (Int8Array), uint8 (Uint8Array), int32
 * (Int32Array). Fortran-order arrays are transposed to row-major. The data must be exactly n * d items.
 */
export function parseNpy(bytes: Uint8Array | ArrayBuffer): Vectors {
  const where = 'parseNpy';
  const u8 = asBytes(where, bytes);
  const h = parseNpyHeader(where, u8);
  if ('need' in h) return err('CORRUPT_DATA', where, 'the .npy file is truncated in its header', raw(`${u8.length} bytes`), `at least ${h.need} bytes`);
  const { n, d, dtype, itemBytes } = h;
  const want = n * d * itemBytes;
  const have = u8.length - h.dataOffset;
  if (want > have) err('CORRUPT_DATA', where, 'the .npy data is truncated', raw(`${have} bytes of data`), `${want} bytes for shape (${h.oneDim ? d : `${n}, ${d}`}) of ${dtype}`);
  if (want < have) err('CORRUPT_DATA', where, `${have - want} bytes after the end of the .npy data`, raw(`${have} bytes of data`), `${want} bytes`);
  checkOutBytes(where, n, d, dtype === 'float16' ? 4 : itemBytes);
  let data = decodeItems(dtype, u8.subarray(h.dataOffset), n * d);
  if (h.fortran && n > 1 && d > 1) data = transpose(data, n, d);
  return { n, d, dtype, data };
}

/**
 * A .npy file (format 1.0, C order, shape (n, d)) holding `data` (n * d items; Float32Array, Int8Array, Uint8Array
 * or Int32Array). `dtype: 'float16'` stores a Float32Array as half floats (round to nearest even, clamped to
 * +-65504).
 */
export function writeNpy(data: VectorArray, d: number, options: { dtype?: 'float16' } = {}): Uint8Array {
  const where = 'writeNpy';
  const n = checkRows(where, data, d);
  let descr: string;
  let payload: Uint8Array;
  if (options?.dtype === 'float16') {
    if (!(data instanceof Float32Array)) err('INVALID_TYPE', where, "dtype 'float16' needs a Float32Array", data, 'a Float32Array');
    const h = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) h[i] = f32ToHalf(data[i]);
    descr = '<f2';
    payload = new Uint8Array(h.buffer);
  } else if (options?.dtype !== undefined) {
    return err('INVALID_OPTION', where, 'unknown dtype', options.dtype, "'float16' or nothing (the array's own type)");
  } else {
    descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : data instanceof Int8Array ? '|i1' : '|u1';
    payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${n}, ${d}), }`;
  // numpy pads the header with spaces so that the data starts at a multiple of 64, and ends it with a newline
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + payload.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(payload, total);
  return out;
}

function checkRows(where: string, data: unknown, d: unknown): number {
  if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Int8Array || data instanceof Uint8Array)) {
    err('INVALID_TYPE', where, 'data must be a Float32Array, Int32Array, Int8Array or Uint8Array', data, 'a typed array of n * d values');
  }
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_FILE_D) err('INVALID_OPTION', where, `d must be an integer in [1, ${MAX_FILE_D}]`, d, `an integer in [1, ${MAX_FILE_D}]`);
  if (data.length % d !== 0) err('INVALID_SIZE', where, `data.length must be a multiple of d = ${d}`, raw(`length ${data.length}`), `n * ${d}`);
  return data.length / d;
}

// ------------------------------------------------------------------------------------------------------------------
// .fvecs / .ivecs / .bvecs

const VECS: Record<'fvecs' | 'ivecs' | 'bvecs', { dtype: VectorDtype; size: number }> = {
  fvecs: { dtype: 'float32', size: 4 },
  ivecs: { dtype: 'int32', size: 4 },
  bvecs: { dtype: 'uint8', size: 1 },
};

/** The d of the first row of a .?vecs file, checked; `size` is the item size. */
export function vecsDim(where: string, format: 'fvecs' | 'ivecs' | 'bvecs', u8: Uint8Array): number {
  if (u8.length < 4) err('CORRUPT_DATA', where, `the .${format} file is truncated`, raw(`${u8.length} bytes`), 'at least 4 bytes (the first row length)');
  const d = new DataView(u8.buffer, u8.byteOffset, 4).getInt32(0, true);
  if (d < 1 || d > MAX_FILE_D) err('CORRUPT_DATA', where, `.${format} row length out of range`, d, `an integer in [1, ${MAX_FILE_D}]`);
  return d;
}

/** Checks the row headers of `rows` rows starting at byte 0 of u8 (each must say d); `first` is the row number of the first for messages. */
export function checkVecsRows(where: string, format: string, u8: Uint8Array, rows: number, d: number, rowBytes: number, first: number): void {
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  for (let i = 0; i < rows; i++) {
    const di = dv.getInt32(i * rowBytes, true);
    if (di !== d) err('CORRUPT_DATA', where, `.${format} rows have different lengths (row ${first + i})`, di, `d = ${d} as in row 0`);
  }
}

function parseVecs(where: string, format: 'fvecs' | 'ivecs' | 'bvecs', bytes: unknown): Vectors {
  const u8 = asBytes(where, bytes);
  const { dtype, size } = VECS[format];
  if (u8.length === 0) return { n: 0, d: 0, dtype, data: dtype === 'uint8' ? new Uint8Array(0) : dtype === 'int32' ? new Int32Array(0) : new Float32Array(0) };
  const d = vecsDim(where, format, u8);
  const rowBytes = 4 + d * size;
  if (u8.length % rowBytes !== 0) {
    err('CORRUPT_DATA', where, `the .${format} file is not a whole number of rows (truncated?)`, raw(`${u8.length} bytes`), `a multiple of ${rowBytes} (4 + ${d} * ${size})`);
  }
  const n = u8.length / rowBytes;
  checkOutBytes(where, n, d, size);
  checkVecsRows(where, format, u8, n, d, rowBytes, 0);
  return { n, d, dtype, data: gatherVecs(u8, n, d, size, dtype) };
}

/** The items of n rows of a .?vecs buffer (row headers dropped), as a new typed array. */
export function gatherVecs(u8: Uint8Array, n: number, d: number, size: number, dtype: VectorDtype): VectorArray {
  const rowBytes = 4 + d * size;
  const out = new Uint8Array(n * d * size);
  for (let i = 0; i < n; i++) out.set(u8.subarray(i * rowBytes + 4, (i + 1) * rowBytes), i * d * size);
  return dtype === 'float32' ? new Float32Array(out.buffer) : dtype === 'int32' ? new Int32Array(out.buffer) : out;
}

/** Parses an .fvecs file (each row: d as i32, d f32). An empty file is 0 vectors of d = 0. */
export function parseFvecs(bytes: Uint8Array | ArrayBuffer): Vectors<Float32Array> {
  return parseVecs('parseFvecs', 'fvecs', bytes) as Vectors<Float32Array>;
}

/** Parses an .ivecs file (each row: d as i32, d i32), e.g. ground-truth neighbour ids. */
export function parseIvecs(bytes: Uint8Array | ArrayBuffer): Vectors<Int32Array> {
  return parseVecs('parseIvecs', 'ivecs', bytes) as Vectors<Int32Array>;
}

/** Parses a .bvecs file (each row: d as i32, d u8). */
export function parseBvecs(bytes: Uint8Array | ArrayBuffer): Vectors<Uint8Array> {
  return parseVecs('parseBvecs', 'bvecs', bytes) as Vectors<Uint8Array>;
}

function writeVecs(where: string, data: VectorArray, d: number, size: number): Uint8Array {
  const n = checkRows(where, data, d);
  const rowBytes = 4 + d * size;
  const out = new Uint8Array(n * rowBytes);
  const dv = new DataView(out.buffer);
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n; i++) {
    dv.setInt32(i * rowBytes, d, true);
    out.set(src.subarray(i * d * size, (i + 1) * d * size), i * rowBytes + 4);
  }
  return out;
}

/** An .fvecs file of the n = x.length / d vectors of x. */
export function writeFvecs(x: Float32Array, d: number): Uint8Array {
  if (!(x instanceof Float32Array)) err('INVALID_TYPE', 'writeFvecs', 'x must be a Float32Array', x, 'a Float32Array');
  return writeVecs('writeFvecs', x, d, 4);
}

/** An .ivecs file of the rows of x (Int32Array of n * d). */
export function writeIvecs(x: Int32Array, d: number): Uint8Array {
  if (!(x instanceof Int32Array)) err('INVALID_TYPE', 'writeIvecs', 'x must be an Int32Array', x, 'an Int32Array');
  return writeVecs('writeIvecs', x, d, 4);
}

/** A .bvecs file of the rows of x (Uint8Array of n * d). */
export function writeBvecs(x: Uint8Array, d: number): Uint8Array {
  if (!(x instanceof Uint8Array)) err('INVALID_TYPE', 'writeBvecs', 'x must be a Uint8Array', x, 'a Uint8Array');
  return writeVecs('writeBvecs', x, d, 1);
}

/** Raw little-endian float32 of vectors of dimension d (no header): bytes.length must be a multiple of 4 d. */
export function parseRawF32(bytes: Uint8Array | ArrayBuffer, d: number): Vectors<Float32Array> {
  const where = 'parseRawF32';
  const u8 = asBytes(where, bytes);
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_FILE_D) err('INVALID_OPTION', where, `d must be an integer in [1, ${MAX_FILE_D}]`, d, `an integer in [1, ${MAX_FILE_D}]`);
  if (u8.length % (4 * d) !== 0) err('CORRUPT_DATA', where, 'raw float32 data is not a whole number of vectors', raw(`${u8.length} bytes`), `a multiple of 4 * d = ${4 * d}`);
  const n = u8.length / (4 * d);
  return { n, d, dtype: 'float32', data: new Float32Array(u8.slice().buffer) };
}

/** Any supported array as float32 (a copy for int types; the same array for Float32Array). */
export function toFloat32(data: VectorArray): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

// ------------------------------------------------------------------------------------------------------------------
// Streaming

/** Random access to bytes that need not be in memory (a file, a Blob). read may return fewer bytes only at the end. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface VectorChunkOptions {
  /** 'fvecs', 'npy' or 'f32' (raw little-endian float32; needs d). */
  format: 'fvecs' | 'npy' | 'f32';
  /** Vector dimension, required for 'f32' (and checked against the file otherwise when given). */
  d?: number;
  /** Vectors per chunk. Default 65536 (capped so that a chunk is at most 256 MiB). */
  rows?: number;
}

/** One block of consecutive vectors: rows [start, start + n) of the file. */
export interface VectorChunk {
  start: number;
  n: number;
  d: number;
  /** Row-major f32[n][d] (float16 / int8 / uint8 .npy data widened to float32). */
  data: Float32Array;
}

/** A ByteSource over bytes already in memory (or a browser Blob via `blobSource`). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: async (o, l) => bytes.subarray(o, Math.min(o + l, bytes.length)) };
}

/** A ByteSource over a Blob / File (browser). */
export function blobSource(blob: Blob): ByteSource {
  return { size: blob.size, read: async (o, l) => new Uint8Array(await blob.slice(o, o + l).arrayBuffer()) };
}

async function readExactly(where: string, src: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const b = await src.read(offset, length);
  if (!(b instanceof Uint8Array) || b.length !== length) err('CORRUPT_DATA', where, 'the file ended early', raw(`${b instanceof Uint8Array ? b.length : 0} bytes at offset ${offset}`), `${length} bytes`);
  return asBytes(where, b);
}

/**
 * Reads vectors in blocks of `rows` without holding the file in memory: an async iterator of VectorChunk. The whole
 * layout (header, size, and for .fvecs every row's d as it is read) is validated; errors as for the parsers.
 * C-order .npy only (a Fortran-order array has no row blocks on disk: refused with UNSUPPORTED).
 */
export async function* vectorChunks(source: ByteSource, options: VectorChunkOptions): AsyncGenerator<VectorChunk, void, undefined> {
  const where = 'vectorChunks';
  if (source === null || typeof source !== 'object' || typeof source.read !== 'function' || typeof source.size !== 'number' || !Number.isSafeInteger(source.size) || source.size < 0) {
    err('INVALID_TYPE', where, 'source must be a ByteSource', source, '{ size, read(offset, length) }');
  }
  if (options === null || typeof options !== 'object') err('INVALID_TYPE', where, 'options must be an object', options, "{ format: 'fvecs' | 'npy' | 'f32' }");
  const format = options.format;
  if (format !== 'fvecs' && format !== 'npy' && format !== 'f32') err('INVALID_OPTION', where, 'unknown format', format, "'fvecs', 'npy' or 'f32'");
  const givenD = options.d;
  if (givenD !== undefined && (typeof givenD !== 'number' || !Number.isInteger(givenD) || givenD < 1 || givenD > MAX_FILE_D)) err('INVALID_OPTION', where, `d must be an integer in [1, ${MAX_FILE_D}]`, givenD, `an integer in [1, ${MAX_FILE_D}]`);
  const rowsOpt = options.rows ?? 65536;
  if (typeof rowsOpt !== 'number' || !Number.isInteger(rowsOpt) || rowsOpt < 1) err('INVALID_OPTION', where, 'rows must be an integer >= 1', rowsOpt, 'an integer >= 1');
  const size = source.size;

  let d: number;
  let n: number;
  let dataOffset: number;
  let itemBytes: number;
  let rowBytes: number;
  let dtype: VectorDtype = 'float32';
  if (format === 'f32') {
    if (givenD === undefined) err('INVALID_OPTION', where, "format 'f32' needs d", givenD, 'd: the vector dimension');
    d = givenD;
    itemBytes = 4;
    rowBytes = 4 * d;
    dataOffset = 0;
    if (size % rowBytes !== 0) err('CORRUPT_DATA', where, 'raw float32 data is not a whole number of vectors', raw(`${size} bytes`), `a multiple of 4 * d = ${rowBytes}`);
    n = size / rowBytes;
  } else if (format === 'fvecs') {
    if (size === 0) return;
    d = vecsDim(where, 'fvecs', await readExactly(where, source, 0, Math.min(4, size)));
    itemBytes = 4;
    rowBytes = 4 + 4 * d;
    dataOffset = 0;
    if (size % rowBytes !== 0) err('CORRUPT_DATA', where, 'the .fvecs file is not a whole number of rows (truncated?)', raw(`${size} bytes`), `a multiple of ${rowBytes} (4 + ${d} * 4)`);
    n = size / rowBytes;
  } else {
    let h = parseNpyHeader(where, await readExactly(where, source, 0, Math.min(10, size)));
    while ('need' in h) {
      if (h.need > size) err('CORRUPT_DATA', where, 'the .npy file is truncated in its header', raw(`${size} bytes`), `at least ${h.need} bytes`);
      h = parseNpyHeader(where, await readExactly(where, source, 0, h.need));
    }
    if (h.fortran && h.n > 1 && h.d > 1) err('UNSUPPORTED', where, 'a Fortran-order .npy file cannot be read in row blocks', raw("fortran_order: True"), 'a C-order array (np.ascontiguousarray), or parseNpy on the whole file');
    d = h.d;
    n = h.n;
    dtype = h.dtype;
    itemBytes = h.itemBytes;
    rowBytes = d * itemBytes;
    dataOffset = h.dataOffset;
    const want = n * rowBytes;
    if (want !== size - dataOffset) err('CORRUPT_DATA', where, want > size - dataOffset ? 'the .npy data is truncated' : 'bytes after the end of the .npy data', raw(`${size - dataOffset} bytes of data`), `${want} bytes`);
    if (dtype === 'int32') err('UNSUPPORTED', where, 'int32 .npy data are ids, not vectors to encode', dtype, 'float32, float16, int8 or uint8');
  }
  if (givenD !== undefined && givenD !== d) err('INVALID_SIZE', where, 'the file holds vectors of another dimension', raw(`d = ${d}`), `d = ${givenD}`);
  const rows = Math.max(1, Math.min(rowsOpt, Math.floor((256 * 1024 * 1024) / Math.max(rowBytes, d * 4))));
  for (let start = 0; start < n; start += rows) {
    const c = Math.min(rows, n - start);
    const b = await readExactly(where, source, dataOffset + start * rowBytes, c * rowBytes);
    let data: Float32Array;
    if (format === 'fvecs') {
      checkVecsRows(where, 'fvecs', b, c, d, rowBytes, start);
      data = gatherVecs(b, c, d, 4, 'float32') as Float32Array;
    } else {
      data = toFloat32(decodeItems(dtype, b, c * d));
    }
    yield { start, n: c, d, data };
  }
}
