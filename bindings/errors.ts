/**
 * One error class for everything the library refuses. `code` is stable (match on it); `message` follows
 * `Class.method: what (got X, expected Y)` so that a log line alone says what to fix.
 */
export type VQErrorCode =
  | 'NOT_INITIALIZED' // a class was used before `await init()`
  | 'NO_SIMD' // this runtime cannot run WebAssembly SIMD
  | 'NO_THREADS' // init({ threads: true }) or a shared-memory WorkerPool where SharedArrayBuffer is unavailable
  | 'WASM_LOAD' // the .wasm could not be fetched, compiled or instantiated
  | 'INVALID_TYPE' // wrong JS type (number[] or Float64Array where Float32Array is expected, null, ...)
  | 'INVALID_SIZE' // a length that does not fit (not a multiple of d, empty input, wrong id count)
  | 'INVALID_OPTION' // an option out of range or not one of the listed values
  | 'NON_FINITE' // NaN or +-Infinity in input data, or a value of magnitude 2^50 (about 1.1e15) or more
  | 'TOO_FEW_POINTS' // fewer training points than clusters
  | 'NOT_TRAINED' // an operation that needs a trained object
  | 'DISPOSED' // use after dispose()
  | 'OUT_OF_MEMORY' // the request does not fit in the 4 GiB of a wasm32 memory
  | 'CORRUPT_DATA' // a saved file or buffer that is truncated, damaged or of another kind
  | 'ABORTED' // the caller's AbortSignal fired, or the worker pool was terminated, before the work finished
  | 'UNSUPPORTED' // a well-formed file of a kind, type or layout that vqwasm does not read (a Faiss index type, a .npy dtype)
  | 'INTERNAL'; // a kernel assertion failed: a bug in vqwasm, never the caller's input

export class VQError extends Error {
  readonly code: VQErrorCode;
  constructor(code: VQErrorCode, message: string) {
    super(message);
    this.name = 'VQError';
    this.code = code;
  }
}

/** Short, bounded description of any value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an Array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) {
    const len = (v as unknown as { length?: number }).length;
    return `${v.constructor.name}${len !== undefined ? ` of length ${len}` : ''}`;
  }
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return typeof v;
}

export function fail(code: VQErrorCode, where: string, what: string, got: unknown, expected: string): never {
  throw new VQError(code, `${where}: ${what} (got ${typeof got === 'string' && got.startsWith('\u0000') ? got.slice(1) : describe(got)}, expected ${expected})`);
}

/** A literal already formatted for the "got" slot (so that describe() does not quote it). */
export function raw(text: string): string {
  return '\u0000' + text;
}

export function checkInt(where: string, name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    fail('INVALID_OPTION', where, `${name} must be ${range}`, v, range);
  }
  return v;
}

/** A finite number in an interval; `open` excludes the ends it names. */
export function checkNumber(where: string, name: string, v: unknown, min: number, max: number, open: { min?: boolean; max?: boolean } = {}): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (open.min ? v > min : v >= min) && (open.max ? v < max : v <= max);
  if (!ok) {
    const range = `a number in ${open.min ? '(' : '['}${min}, ${max === Infinity ? 'Infinity' : max}${open.max || max === Infinity ? ')' : ']'}`;
    fail('INVALID_OPTION', where, `${name} must be ${range}`, v, range);
  }
  return v as number;
}

export function checkOneOf<T extends string>(where: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail('INVALID_OPTION', where, `unknown ${name}`, v, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return v as T;
}

/** Most entries one result array may hold: 2^30 (4 GiB of int32 or float32, both beyond what a page can hold). */
export const MAX_RESULT_ENTRIES = 2 ** 30;

/**
 * A search's k (an integer in [1, 2^20]) for nq queries: OUT_OF_MEMORY when the nq x k results (ids and distances)
 * would not fit in typed arrays, before any work (a RangeError from the allocation otherwise).
 */
export function checkK(where: string, k: unknown, nq: number): number {
  const kk = checkInt(where, 'k', k, 1, 1 << 20);
  resultsFit(where, nq, kk, `${nq} queries x k = ${kk}`);
  return kk;
}

/** OUT_OF_MEMORY when a result of rows x cols entries (over MAX_RESULT_ENTRIES) would not fit in typed arrays. */
export function resultsFit(where: string, rows: number, cols: number, got: string): void {
  if (rows * cols > MAX_RESULT_ENTRIES) fail('OUT_OF_MEMORY', where, 'the results do not fit in typed arrays', raw(got), 'at most 2^30 entries');
}

export function checkBool(where: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail('INVALID_OPTION', where, `${name} must be a boolean`, v, 'true or false');
  return v;
}

export function checkOptions(where: string, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('INVALID_TYPE', where, 'options must be an object', v, 'an options object');
  return v as Record<string, unknown>;
}

/**
 * Index of the first NaN or +-Infinity in x, or -1. Float32 reads the bits: a float32 is not finite exactly when its
 * 8 exponent bits are all ones, and then (bits & 0x7f800000) + 0x00800000 carries into the sign bit. OR-ing that over
 * a block of values with four independent accumulators runs at about twice the speed of a compare and branch per
 * value (measured 6-7 ms against 14-15 ms for 8.4 M values); a block that holds one is then searched value by value.
 * On the 2-core Xeon VM of 2026-11-29 the same 8.4 M values (33.5 MB) take 16.5 ms, as long as a bare loop that only
 * sums them (14 ms) or Float32Array.includes(NaN) (13.7 ms): V8 reads them no faster, and the check must come
 * before the values reach wasm memory. Later that day, in a quieter hour, 5.5 ms (a multiply-by-zero sum: 4.7 ms).
 */
export function firstNonFinite(x: Float32Array | Float64Array): number {
  // (float64 values, only in saved files' f64 sections: a plain scan)
  if (x instanceof Float64Array) {
    for (let i = 0; i < x.length; i++) if (x[i] - x[i] !== 0) return i;
    return -1;
  }
  return firstExponentAtLeast(x, 255);
}

/**
 * Index of the first value of x whose biased float32 exponent is minExp or more (255: NaN or +-Infinity), or -1:
 * (bits & 0x7f800000) + ((256 - minExp) << 23) reaches 2^31, the sign bit of the OR-ed int32, exactly then.
 */
function firstExponentAtLeast(x: Float32Array, minExp: number): number {
  const b = new Int32Array(x.buffer, x.byteOffset, x.length);
  const len = b.length;
  const BLOCK = 4096;
  const C = (256 - minExp) << 23;
  for (let s = 0; s < len; s += BLOCK) {
    const e = Math.min(len, s + BLOCK);
    let f0 = 0;
    let f1 = 0;
    let f2 = 0;
    let f3 = 0;
    let i = s;
    for (; i + 4 <= e; i += 4) {
      f0 |= (b[i] & 0x7f800000) + C;
      f1 |= (b[i + 1] & 0x7f800000) + C;
      f2 |= (b[i + 2] & 0x7f800000) + C;
      f3 |= (b[i + 3] & 0x7f800000) + C;
    }
    for (; i < e; i++) f0 |= (b[i] & 0x7f800000) + C;
    if ((f0 | f1 | f2 | f3) < 0) {
      for (let j = s; j < e; j++) if (((b[j] >>> 23) & 0xff) >= minExp) return j;
    }
  }
  return -1;
}

/**
 * Largest magnitude an input value may have: 2^50 (about 1.1e15). The kernels work in float32, whose largest value is
 * about 3.4e38 = 2^128: a squared distance of values up to 2^50 (differences up to 2^51) summed over d up to 2^20 stays
 * under 2^123, where values of 1e20 overflowed to Infinity and then read as missing vectors or NaN centroids.
 */
export const MAX_INPUT_MAGNITUDE = 2 ** 50;

/** Index of the first value of x that is NaN, +-Infinity or of magnitude >= MAX_INPUT_MAGNITUDE, or -1. */
export function firstOutOfRange(x: Float32Array): number {
  // the biased exponent of a float32 of magnitude >= 2^50 is 127 + 50 = 177 or more
  return firstExponentAtLeast(x, 177);
}

/**
 * Checks a batch of d-dimensional row-major vectors and returns n. Scans every value for NaN/Infinity and for
 * magnitudes of 2^50 and more (MAX_INPUT_MAGNITUDE; code NON_FINITE too: values that float32 arithmetic cannot
 * square): one pass over the data, far cheaper than the work that follows, and it keeps garbage out of codebooks.
 */
export function checkVectors(where: string, name: string, x: unknown, d: number, opts: { minRows?: number } = {}): number {
  if (!(x instanceof Float32Array)) fail('INVALID_TYPE', where, `${name} must be a Float32Array`, x, `a Float32Array of n * ${d} values`);
  const minRows = opts.minRows ?? 1;
  if (x.length % d !== 0) fail('INVALID_SIZE', where, `${name}.length must be a multiple of d = ${d}`, raw(`length ${x.length}`), `n * ${d}`);
  const n = x.length / d;
  if (n < minRows) fail('INVALID_SIZE', where, `${name} holds too few vectors`, raw(`${n} vectors`), `at least ${minRows}`);
  const i = firstOutOfRange(x);
  if (i >= 0) {
    fail('NON_FINITE', where, `${name} holds a ${Number.isFinite(x[i]) ? 'too large' : 'non-finite'} value at vector ${Math.floor(i / d)}, component ${i % d}`, x[i], 'finite numbers below 2^50 in magnitude');
  }
  return n;
}

/** checkIds, and every id >= 0 (-1 is reserved for empty result slots). */
export function checkUserIds(where: string, ids: unknown, n: number): Int32Array {
  const v = checkIds(where, ids, n);
  for (let i = 0; i < n; i++) if (v[i] < 0) fail('INVALID_OPTION', where, `ids[${i}] is negative (-1 marks empty result slots)`, v[i], 'ids >= 0');
  return v;
}

/** Rethrows a constructor's INVALID_OPTION, met while rebuilding an object from a saved file, as CORRUPT_DATA. */
export function savedOptionsError(where: string, e: unknown): never {
  if (e instanceof VQError && e.code === 'INVALID_OPTION') throw new VQError('CORRUPT_DATA', `${where}: saved parameters are invalid (${e.message})`);
  throw e;
}

export function checkIds(where: string, ids: unknown, n: number): Int32Array {
  if (!(ids instanceof Int32Array)) fail('INVALID_TYPE', where, 'ids must be an Int32Array', ids, `an Int32Array of length ${n}`);
  if (ids.length !== n) fail('INVALID_SIZE', where, 'ids must have one entry per vector', raw(`length ${ids.length}`), `length ${n}`);
  return ids;
}
