/**
 * Loading the module (Node, browsers, bundlers, caller-supplied bytes) and the memory boundary every class goes through.
 *
 * Two builds ship side by side: `vqwasm-simd.wasm` (WebAssembly SIMD, everywhere since 2021) and `vqwasm-relaxed.wasm`
 * (plus relaxed SIMD: fused multiply-add; Chromium, Node >= 22 without flags). `init()` picks relaxed where
 * `WebAssembly.validate` accepts it. The two may round differently in the last bit; each is deterministic on its own.
 *
 * `init({ threads: true })` loads the threads build instead (`vqwasm-threads.wasm` / `vqwasm-threads-relaxed.wasm`:
 * the same kernels over an imported shared `WebAssembly.Memory`). A `WorkerPool` then runs its workers on that same
 * memory (no copies of the indexes); this thread stays the only one that allocates from the heap or grows memory, and
 * each worker gets an arena of its own for its scratch (`threadInit`). It needs `SharedArrayBuffer`: Node, or a page
 * that is `crossOriginIsolated` (COOP/COEP headers).
 */
import { VQError, describe } from '../errors.js';
import { type Abi, missingExports } from './abi.js';

export type Build = 'simd' | 'relaxed';
/** Where the module comes from: a URL or path, a fetch Response (or a promise of one), raw bytes, or a compiled Module. */
export type WasmSource = string | URL | Response | PromiseLike<Response> | ArrayBuffer | ArrayBufferView | WebAssembly.Module;

export interface InitOptions {
  /** The module to load; by default the .wasm of the chosen build next to this file (dist/). */
  wasm?: WasmSource;
  /** 'auto' (default): relaxed where supported, else simd. With `wasm` set, say which build it is or leave 'auto'. */
  build?: 'auto' | Build;
  /**
   * Load the threads build over a shared memory (default false): what `WorkerPool` needs to run its workers on this
   * thread's indexes without copying them. NO_THREADS where SharedArrayBuffer is unavailable (a page that is not
   * cross-origin isolated). With `wasm` set, pass the matching threads build.
   */
  threads?: boolean;
}

export interface EngineInfo {
  build: Build;
  relaxedSimdSupported: boolean;
  /** Whether this is the threads build over a shared memory (init({ threads: true })). */
  shared: boolean;
}

/** What a worker needs to run the threads build on this thread's memory: the compiled module and the memory. */
export interface SharedEngine {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
}

/** Pages of 64 KiB a shared memory may reach: the whole wasm32 space (reserved, not committed, by the runtime). */
const MAX_PAGES = 65536;

/** Why shared memory is unavailable here, or null when it is available. */
export function threadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer in this runtime';
  const g = globalThis as { crossOriginIsolated?: boolean; process?: unknown };
  if (!isNode() && g.crossOriginIsolated === false) return 'a page that is not cross-origin isolated';
  return null;
}

// (module (func (result v128) (v128.const i32x4 0 0 0 0)))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);
// (module (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0))))
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 133, 2, 11,
]);

export const MAX_MEMORY_BYTES = 4 * 1024 ** 3;

function validate(bytes: Uint8Array): boolean {
  try {
    return WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p === 'object' && p !== null && typeof p.versions?.node === 'string';
}

/** WASM_LOAD with the usual `(got X, expected Y)`; `got` is the cause (an Error's message, or a description). */
function loadError(what: string, cause: unknown, expected = 'a vqwasm .wasm build reachable from this runtime'): VQError {
  const got = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : describe(cause);
  const err = new VQError('WASM_LOAD', `init: ${what} (got ${got}, expected ${expected})`);
  (err as { cause?: unknown }).cause = cause;
  return err;
}

function isResponse(v: unknown): v is Response {
  return typeof Response !== 'undefined' && v instanceof Response;
}

async function compileResponse(res: Response, where: string): Promise<WebAssembly.Module> {
  if (!res.ok) throw loadError(`fetching ${where} failed`, `HTTP ${res.status} ${res.statusText}`.trim(), 'HTTP 200');
  // compileStreaming needs the application/wasm type; a server that sends anything else gets the buffered path
  if (typeof WebAssembly.compileStreaming === 'function' && /^application\/wasm\b/i.test(res.headers.get('content-type') ?? '')) {
    const copy = res.clone();
    try {
      return await WebAssembly.compileStreaming(res);
    } catch {
      return WebAssembly.compile(await copy.arrayBuffer());
    }
  }
  return WebAssembly.compile(await res.arrayBuffer());
}

async function compileSource(src: WasmSource): Promise<WebAssembly.Module> {
  if (src instanceof WebAssembly.Module) return src;
  if (src instanceof ArrayBuffer) return WebAssembly.compile(src);
  if (ArrayBuffer.isView(src)) {
    return WebAssembly.compile(new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice());
  }
  if (isResponse(src)) return compileResponse(src, src.url || 'the given Response');
  if (typeof src === 'string' || src instanceof URL) {
    const url = src instanceof URL ? src : null;
    // a file: URL, or a string that is not a URL, is a path on disk in Node
    // (a scheme has 2+ letters, so a Windows drive letter like C:\ is a path)
    const isFile = url ? url.protocol === 'file:' : !/^[a-z][a-z0-9+.-]+:/i.test(src as string) || /^file:/i.test(src as string);
    if (isNode() && isFile) {
      const fs = await import('node:fs/promises');
      const bytes = await fs.readFile(url ?? (/^file:/i.test(src as string) ? new URL(src as string) : (src as string)));
      return WebAssembly.compile(bytes);
    }
    if (typeof fetch !== 'function') throw loadError(`no fetch() in this runtime to load ${String(src)}`, 'no fetch', 'fetch(), or pass the bytes or a WebAssembly.Module as options.wasm');
    return compileResponse(await fetch(src), String(src));
  }
  if (src && typeof (src as PromiseLike<Response>).then === 'function') {
    const res = await src;
    if (!isResponse(res)) throw loadError('the promise in options.wasm did not resolve to a Response', describe(res), 'a Response');
    return compileResponse(res, res.url || 'the given Response');
  }
  throw new VQError('INVALID_TYPE', `init: options.wasm has an unsupported type (got ${describe(src)}, expected a URL, path, Response, ArrayBuffer, Uint8Array or WebAssembly.Module)`);
}

/** Compiles and instantiates a module without caching: `init()` is the cached front door. */
export async function loadEngine(options: InitOptions = {}): Promise<{ exports: WebAssembly.Exports; info: EngineInfo; shared?: SharedEngine; module: WebAssembly.Module }> {
  if (options === null || typeof options !== 'object' || Array.isArray(options) || ArrayBuffer.isView(options)) {
    throw new VQError('INVALID_TYPE', `init: options must be an object (got ${describe(options)}, expected { wasm?, build?, threads? })`);
  }
  const want = options.build ?? 'auto';
  const threads = options.threads ?? false;
  if (typeof threads !== 'boolean') {
    throw new VQError('INVALID_OPTION', `init: threads must be a boolean (got ${describe(threads)}, expected true or false)`);
  }
  if (threads) {
    const why = threadsUnavailable();
    if (why) throw new VQError('NO_THREADS', `init: threads asked for, but shared memory is unavailable (got ${why}, expected Node, or a page served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)`);
  }
  if (want !== 'auto' && want !== 'simd' && want !== 'relaxed') {
    throw new VQError('INVALID_OPTION', `init: unknown build (got ${describe(want)}, expected one of 'auto', 'simd', 'relaxed')`);
  }
  if (typeof WebAssembly !== 'object' || !validate(SIMD_PROBE)) {
    throw new VQError('NO_SIMD', 'init: this runtime does not support WebAssembly SIMD (got no v128, expected Chrome/Edge >= 91, Firefox >= 89, Safari >= 16.4, Node >= 16.4)');
  }
  const relaxedSimdSupported = validate(RELAXED_PROBE);
  if (want === 'relaxed' && !relaxedSimdSupported) {
    throw new VQError('NO_SIMD', "init: build 'relaxed' asked for, but this runtime refuses relaxed SIMD (got no relaxed SIMD, expected Chrome >= 114, Node >= 22, or Node 20 with --experimental-wasm-relaxed-simd); use build 'simd' or 'auto'");
  }
  let build: Build = want === 'auto' ? (relaxedSimdSupported ? 'relaxed' : 'simd') : want;
  // one template literal over a variable: the form bundlers (Vite, webpack 5) turn into emitted assets (every
  // dist/vqwasm-*.wasm)
  const file = threads ? (build === 'simd' ? 'threads' : 'threads-relaxed') : build;
  const src = options.wasm ?? new URL(`../vqwasm-${file}.wasm`, import.meta.url);
  let module: WebAssembly.Module;
  try {
    module = await compileSource(src);
  } catch (e) {
    if (e instanceof VQError) throw e;
    throw loadError(`could not load or compile the module from ${src instanceof URL ? src.href : describe(src)}`, e, 'a readable WebAssembly module (a vqwasm .wasm build)');
  }
  const isThreads = importsMemory(module);
  if (isThreads !== threads) {
    throw loadError('the module is not the build asked for', isThreads ? 'a threads build (it imports its memory)' : 'a single-thread build', threads ? 'a threads build (dist/vqwasm-threads*.wasm) with threads: true' : 'dist/vqwasm-simd.wasm or dist/vqwasm-relaxed.wasm, or threads: true for a threads build');
  }
  let instance: WebAssembly.Instance;
  let memory: WebAssembly.Memory | undefined;
  try {
    if (threads) memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    instance = await WebAssembly.instantiate(module, { env: memory ? { abort: abortImport, memory } : { abort: abortImport } });
  } catch (e) {
    throw loadError('could not instantiate the module', e, threads ? 'a shared memory of up to 4 GiB and env.abort' : 'a module importing only env.abort');
  }
  const missing = missingExports(instance.exports);
  if (missing.length > 0) {
    throw loadError('the module is not a vqwasm build of this version', `a module with missing exports ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, 'dist/vqwasm-simd.wasm or dist/vqwasm-relaxed.wasm of this package version');
  }
  // a caller-supplied module says what it is
  build = (instance.exports as unknown as Abi).buildFlavor() === 1 ? 'relaxed' : 'simd';
  return { exports: instance.exports, info: { build, relaxedSimdSupported, shared: threads }, shared: memory ? { module, memory } : undefined, module };
}

function importsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
}

/**
 * Worker side of the threads build: instantiates `module` over the allocating thread's shared `memory`, confined to
 * the arena [base, base + bytes) that thread allocated for this worker, and makes it this worker's engine (what
 * `engine()` returns). Idempotent per arena.
 */
export async function attachEngine(shared: SharedEngine, base: number, bytes: number): Promise<EngineInfo> {
  if (current) return current.info;
  const instance = await WebAssembly.instantiate(shared.module, { env: { abort: abortImport, memory: shared.memory } });
  const abi = instance.exports as unknown as Abi;
  if (abi.threadInit(base, bytes) !== 0) {
    throw new VQError('INTERNAL', `WorkerPool: could not set up a worker's arena (got ${fmtBytes(bytes)} at ${base}, expected at least 20 KiB (16.25 KiB of kernel scratch + 4 KiB) in a fresh instance)`);
  }
  const info: EngineInfo = { build: abi.buildFlavor() === 1 ? 'relaxed' : 'simd', relaxedSimdSupported: abi.buildFlavor() === 1, shared: true };
  const eng = new Engine(instance.exports, info, shared);
  eng.arenaBytes = bytes;
  eng.warmUp();
  current = eng;
  return info;
}

function abortImport(): never {
  // release builds use noAssert and never call abort; a debug build reaching it means a kernel bug, not bad input
  throw new VQError('INTERNAL', 'wasm: a kernel assertion failed (got abort() from the module, expected none: a bug, please report it with the inputs)');
}

/**
 * The live engine: the raw ABI plus the rules of the boundary. Views on memory are made at each use, never kept:
 * an allocation can grow memory, which detaches every earlier view.
 */
export class Engine {
  readonly abi: Abi;
  readonly info: EngineInfo;
  private scratchPtr = 0;
  private scratchBytes = 0;

  /** The threads build's module and shared memory (what a WorkerPool hands its workers); undefined otherwise. */
  readonly shared: SharedEngine | undefined;
  /** A shared-memory worker's engine: the bytes of its arena, which bound its allocations (0 elsewhere). */
  arenaBytes = 0;

  /**
   * shared: see above; module: the compiled module init({ wasm }) was given, which a pool hands its private workers (a
   * CDN URL or bytes reach them too; by default they load the file beside the package, as this thread did).
   */
  constructor(exports: WebAssembly.Exports, info: EngineInfo, shared?: SharedEngine, readonly module?: WebAssembly.Module) {
    this.abi = exports as unknown as Abi;
    this.info = info;
    this.shared = shared;
  }

  /** Allocates `bytes` (64-byte aligned) or throws OUT_OF_MEMORY; nothing is allocated on failure. */
  alloc(bytes: number, where: string): number {
    if (!(bytes > 0) || bytes > MAX_MEMORY_BYTES) {
      throw new VQError('OUT_OF_MEMORY', `${where}: the data does not fit in WebAssembly memory (got a request of ${fmtBytes(bytes)}, expected at most 4 GiB in all; shard larger data across indexes)`);
    }
    const ptr = this.abi.alloc(bytes) >>> 0;
    if (ptr === 0) {
      // (a shared-memory worker allocates from its arena only)
      const limit = this.arenaBytes > 0 ? `this worker's arena of ${fmtBytes(this.arenaBytes)}: a larger arenaBytes, or smaller batches` : 'the 4 GiB wasm32 limit and what the runtime grants';
      throw new VQError('OUT_OF_MEMORY', `${where}: could not allocate ${fmtBytes(bytes)} (got ${fmtBytes(this.abi.heapLiveBytes())} already in use, expected the total to stay under ${limit})`);
    }
    return ptr;
  }

  free(ptr: number): void {
    if (ptr !== 0) this.abi.free(ptr);
  }

  /**
   * Transient buffers for one call: one block reused across calls, grown when too small. Returns a 64-byte-aligned
   * pointer per requested size. Valid until the next scratch() call; never held by an object.
   */
  scratch(sizes: readonly number[], where: string): number[] {
    const offsets: number[] = [];
    let total = 0;
    for (const s of sizes) {
      offsets.push(total);
      total += Math.ceil(s / 64) * 64;
    }
    if (total > this.scratchBytes) {
      if (this.scratchPtr !== 0) this.abi.free(this.scratchPtr);
      this.scratchPtr = 0;
      this.scratchBytes = 0;
      // round up to a power of two so that slowly growing requests do not reallocate every time
      const rounded = 2 ** Math.ceil(Math.log2(Math.max(total, 65536)));
      const want = rounded <= MAX_MEMORY_BYTES && this.abi.heapLiveBytes() + rounded <= MAX_MEMORY_BYTES ? rounded : total;
      this.scratchPtr = this.alloc(want, where);
      this.scratchBytes = want;
    }
    return offsets.map((o) => this.scratchPtr + o);
  }

  /**
   * Runs the hot kernels a few times on a tiny problem (well under a millisecond). V8 starts wasm in its baseline
   * tier and moves a function to the optimizing tier after enough calls and loop trips, but a call already running
   * stays in baseline code: without this, the first large search or k-means iteration after init() runs about 4x
   * slower (measured: 170 ms instead of 40 ms for 500 queries x 20000 x 64).
   */
  warmUp(): void {
    const d = 32;
    const n = 64;
    const nq = 8;
    const k = 4;
    const abi = this.abi;
    const [x, pan, bias, hd, hi, norms, labels, sums, counts, scores, qp, qinfo, qwork] = this.scratch(
      [n * d * 4, n * d * 4, n * 4, nq * k * 4, nq * k * 4, n * 4, n * 4, d * 8, 8, nq * n * 4, abi.qpanelsBytes(n, d), n * 16, abi.qscanWorkBytes(d, k)],
      'init',
    );
    this.i32(labels, n).fill(0); // one cluster
    const xs = this.f32(x, n * d);
    for (let i = 0; i < xs.length; i++) xs[i] = ((i * 7919) % 17) - 8;
    for (let r = 0; r < 20; r++) {
      abi.packPanels(x, n, d, pan, 0);
      abi.panelNormsSq(pan, 0, n, d, bias);
      abi.normsSq(x, nq, d, norms);
      abi.heapInit(hd, hi, nq * k);
      abi.scanPanels(x, nq, d, pan, bias, n, -2, k, hd, hi, 0, 0);
      abi.heapSortRows(hd, hi, nq, k);
      abi.heapFinalize(hd, nq, k, norms, 0);
      abi.l2sqOneToMany(x, x, n, d, norms);
      abi.scorePanels(x, nq, d, pan, bias, n, -2, scores);
      abi.kmeansAccumulate(x, n, d, labels, 1, sums, counts);
      abi.qpanelsPack(pan, bias, 0, n, d, qp, qinfo);
      abi.heapInit(hd, hi, nq * k);
      abi.qscanPanels(x, nq, d, pan, bias, n, -2, k, hd, hi, 0, qp, qinfo, qwork);
    }
    this.warmUpPq();
    this.warmUpRq();
    this.warmUpSq();
  }

  /** warmUp()'s product-quantization part: its own buffers (one scratch() call: a second one would reuse the first's). */
  private warmUpPq(): void {
    const abi = this.abi;
    const d = 32, n = 64, nq = 8, k = 4;
    // m = 8 sub-spaces of 4, 16 codewords each (taken from the rows of x); then the 8-bit scans over x's bytes as codes
    const m = 8;
    const ksubP = 16;
    const [x, hd, hi, cb, cn, codes, packed, tab, tab2, out, idx, tab256, t4, h4d, h4i, lut, par, blocks, ahW, ahWork] = this.scratch(
      [
        n * d * 4, k * 4, k * 4, m * 4 * ksubP * 4, m * ksubP * 4, n * m, n * m, nq * m * ksubP * 4, m * ksubP * 4, n * d * 4, n * 4,
        32 * 256 * 4, 16 * 256 * 16, 4 * k * 4, 4 * k * 4, nq * m * 16, nq * 8, (n / 32) * m * 16, n * 4, m * ksubP * 8,
      ],
      'init',
    );
    const xs = this.f32(x, n * d);
    for (let i = 0; i < xs.length; i++) xs[i] = ((i * 7919) % 17) - 8;
    this.f32(cb, m * 4 * ksubP).set(this.f32(x, m * 4 * ksubP));
    this.f32(cn, m * ksubP).fill(1);
    this.i32(idx, n).fill(1);
    this.f32(tab256, 32 * 256).fill(0.5);
    this.f32(ahW, n).fill(0.01);
    for (let r = 0; r < 20; r++) {
      abi.ahEncode(x, x, ahW, n, d, m, ksubP, cb, cn, 3, ahWork, codes);
      abi.pqEncode(x, n, d, m, ksubP, cb, cn, codes);
      abi.pqPack(codes, n, m, 4, packed);
      abi.pqUnpack(packed, n, m, 4, codes);
      abi.pqDecode(codes, n, d, m, ksubP, cb, out);
      abi.pqTables(x, nq, d, m, ksubP, cb, cn, r % 3, -1, tab);
      abi.addTables(tab, tab, m * ksubP, tab2);
      abi.heapInit(hd, hi, k);
      abi.pqScan(codes, n, m, ksubP, tab2, 0, 0, k, hd, hi, 0, 0);
      abi.pqScan(codes, n, m, ksubP, tab2, 0, 0, k, hd, hi, idx, 0);
      abi.pqDistances(codes, n, m, ksubP, tab2, 0, out);
      abi.scoreRows(x, x, idx, k, d, r % 2, out);
      for (const mm of [8, 16, 32]) {
        abi.heapInit(hd, hi, k);
        abi.pqScan(x, (n * d * 4) / mm, mm, 256, tab256, 0, 0, k, hd, hi, 0, 0);
      }
      abi.pqInterleave4(tab256, 16 * 256, t4);
      for (const mm of [16, 8]) {
        abi.heapInit(h4d, h4i, 4 * k);
        abi.pqScan4(x, (n * d * 4) / 16, mm, t4, k, h4d, h4i, 0);
      }
      abi.pqDistances4(x, (n * d * 4) / 16, 16, t4, out);
      // 4-bit fast-scan (ksubP = 16 tables): quantize, pack, scan, unpack
      abi.fsQuantize(tab, nq, m, lut, par);
      abi.fsPack(codes, n, m, blocks, 0);
      abi.fsScores(blocks, n / 32, m, lut, out);
      abi.heapInit(hd, hi, k);
      abi.fsScan(blocks, n, m, lut, 0.5, 0, k, hd, hi, r % 2 ? idx : 0, 0);
      abi.heapInit(h4d, h4i, 2 * k);
      abi.fsScan2(blocks, n, m, lut, 0.5, 0, lut + m * 16, 0.25, 1, k, h4d, h4i, h4d + k * 4, h4i + k * 4, r % 2 ? idx : 0, 0);
      abi.fsUnpack(blocks, m, 0, n, codes);
    }
  }

  /** warmUp()'s residual-quantization part: greedy and beam encoding over two levels of 16 codewords, and decoding. */
  private warmUpRq(): void {
    const abi = this.abi;
    const d = 32, n = 64, L = 2, ks = 16, beam = 4;
    const [x, pan, cn, work, codes, err, out] = this.scratch(
      [n * d * 4, L * ks * d * 4, L * ks * 4, abi.rqWorkBytes(n, d, L, ks, beam), n * L, n * 4, n * d * 4],
      'init',
    );
    const xs = this.f32(x, n * d);
    for (let i = 0; i < xs.length; i++) xs[i] = ((i * 7919) % 17) - 8;
    abi.packPanels(x, L * ks, d, pan, 0); // two levels of 16 codewords: rows 0..31 of x
    for (let l = 0; l < L; l++) abi.panelNormsSq(pan + l * ks * d * 4, 0, ks, d, cn + l * ks * 4);
    for (let r = 0; r < 20; r++) {
      abi.rqEncode(x, n, d, L, ks, 1, pan, cn, work, codes, err);
      abi.rqEncode(x, n, d, L, ks, beam, pan, cn, work, codes, err);
      abi.rqDecode(codes, n, L, d, L, ks, pan, out);
    }
  }

  /** warmUp()'s scalar-quantization part: the float scans (one and four queries) per type and metric, the integer scan, decode, int4 encode. */
  private warmUpSq(): void {
    const abi = this.abi;
    const d = 32, n = 64, k = 4;
    const [codes, u, b, bias, w, inv, hd, hi, out, c4] = this.scratch(
      [n * d * 2, 4 * d * 4, d * 4, 4 * 4, 4 * d * 2, 4 * 4, 4 * k * 4, 4 * k * 4, n * d * 4, n * d / 2],
      'init',
    );
    const cv = this.u8(codes, n * d * 2);
    for (let i = 0; i < cv.length; i++) cv[i] = (i * 37) & 0x3b; // small finite halfs too
    this.f32(u, 4 * d).fill(0.5);
    this.f32(b, d).fill(0.25);
    this.f32(bias, 4).fill(0);
    this.f32(inv, 4).fill(1);
    new Int16Array(this.abi.memory.buffer, w, 4 * d).fill(3);
    for (let r = 0; r < 10; r++) {
      for (let type = 0; type < 4; type++) {
        for (let metric = 0; metric < 2; metric++) {
          abi.heapInit(hd, hi, 4 * k);
          abi.sqScan(codes, n, d, type, metric, u, b, 0, k, hd, hi, 0);
          abi.sqScan4(codes, n, d, type, metric, u, b, bias, k, hd, hi, 0);
        }
        abi.sqDecode(codes, n, d, type, u, b, out);
      }
      abi.heapInit(hd, hi, 4 * k);
      abi.sqScanInt4(codes, n, d, r % 2, w, bias, inv, r % 4 < 2 ? 0 : out, k, hd, hi, 0);
      abi.heapInit(hd, hi, k);
      abi.sqScanInt1(codes, n, d, r % 2, w, 0, 1, r % 4 < 2 ? 0 : out, k, hd, hi, 0);
      abi.sqEncode4bit(out, n, d, u, b, c4);
    }
  }

  /** Gives the scratch block back (after a very large one-off call). */
  releaseScratch(): void {
    if (this.scratchPtr !== 0) this.abi.free(this.scratchPtr);
    this.scratchPtr = 0;
    this.scratchBytes = 0;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.abi.memory.buffer, ptr, length);
  }

  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.abi.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.abi.memory.buffer, ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.abi.memory.buffer, ptr, length);
  }

  /** Copies a typed array into memory at ptr. */
  write(ptr: number, src: Float32Array | Int32Array | Uint8Array): void {
    new Uint8Array(this.abi.memory.buffer, ptr, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  }
}

function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return String(b);
  if (b >= 1024 ** 3) return `${(b / 1024 ** 3).toFixed(2)} GiB`;
  if (b >= 1024 ** 2) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} bytes`;
}

let current: Engine | null = null;
/**
 * Buffers for the length of one call, freed together: take(bytes) allocates (OUT_OF_MEMORY as Engine.alloc), and
 * freeAll() frees everything taken so far (call it in a finally).
 */
export function allocations(eng: Engine, where: string): { take(bytes: number): number; freeAll(): void } {
  const ptrs: number[] = [];
  return {
    take(bytes: number): number {
      const p = eng.alloc(bytes, where);
      ptrs.push(p);
      return p;
    },
    freeAll(): void {
      for (const p of ptrs.splice(0)) eng.free(p);
    },
  };
}

let pending: Promise<EngineInfo> | null = null;
let pendingThreads = false;

/**
 * Loads the engine once. Async, idempotent and cached: later calls (and concurrent ones) share the first load; a
 * failed load is not cached, so it can be retried. Options only matter on the first successful call, except that a
 * later `threads` that differs from the loaded engine's is refused (INVALID_OPTION).
 */
export function init(options?: InitOptions): Promise<EngineInfo> {
  // threads decides which memory every object lives in: asking for the other kind once one is loaded is an error,
  // not a silent no-op (other options only matter on the first call)
  const want = (options as { threads?: unknown } | undefined)?.threads;
  const loaded = current ? current.info.shared : pending ? pendingThreads : null;
  if (loaded !== null && typeof want === 'boolean' && want !== loaded) {
    return Promise.reject(new VQError('INVALID_OPTION', `init: the engine is already loaded ${loaded ? 'with' : 'without'} threads (got threads: ${want}, expected ${loaded}: the first init() chooses, once per thread)`));
  }
  if (current) return Promise.resolve(current.info);
  if (!pending) {
    pendingThreads = want === true;
    pending = loadEngine(options ?? {}).then(
      ({ exports, info, shared, module }) => {
        // (the module is kept for a pool's workers only when it came from the caller: by default they load the same file)
        const eng = new Engine(exports, info, shared, options?.wasm !== undefined ? module : undefined);
        eng.warmUp();
        current = eng;
        return info;
      },
      (e) => {
        pending = null;
        throw e;
      },
    );
  }
  return pending;
}

/** The loaded engine, or null before init(). */
export function loadedEngine(): Engine | null {
  return current;
}

/** The loaded engine, or NOT_INITIALIZED naming the caller. */
export function engine(where: string): Engine {
  if (!current) throw new VQError('NOT_INITIALIZED', `${where}: the engine is not loaded (got a call before init(), expected \`await init()\` first)`);
  return current;
}

export interface MemoryStats {
  /** Size of the WebAssembly memory (only grows). */
  memoryBytes: number;
  /** Bytes held by live allocations: persistent buffers of live objects plus the scratch block. */
  liveBytes: number;
  liveAllocations: number;
  /** High-water mark of the heap. */
  heapEndBytes: number;
}

export function memoryStats(): MemoryStats {
  const e = engine('memoryStats');
  return {
    memoryBytes: e.abi.memory.buffer.byteLength,
    liveBytes: e.abi.heapLiveBytes(),
    liveAllocations: e.abi.heapLiveBlocks(),
    heapEndBytes: e.abi.heapEnd(),
  };
}
