// Batch search on every core: a pool of workers (Node worker_threads, or module Web Workers in browsers), each with its
// own engine and wasm memory holding a full copy of every index shared with it. A batch of queries is cut into
// contiguous chunks handed to idle workers; each query is answered by the same kernels as index.search on the main
// thread, so the result is identical (same ids, same distances), whatever the number of workers.
//
// Two ways to give the workers the index:
// - private memories (the default after a plain init()): every worker holds a whole copy (memory x threads), made
//   through save() / load() by share(); later add() calls on the original do not reach the copies.
// - one shared memory (after init({ threads: true }), the threads build): the workers' engines run on this thread's
//   WebAssembly.Memory, each confined to an arena of it for its scratch (engine.ts attachEngine); share() copies
//   nothing, and each search sends the workers a view of the index's current JS state (borrow.ts) while the index's
//   buffers are pinned (owned.ts): an add() during a pooled search stays invisible to it and frees nothing it reads.
//   This thread remains the only one that allocates from the heap or grows memory.
// Either way a query is answered whole by one worker (no merge), so results cannot depend on the split.
import { checkInt, checkK, checkOptions, checkVectors, fail, raw, type VQErrorCode, VQError } from '../errors.js';
import { TRAINABLE, type AnyIndex, type AnyQuantizer, type Trainable, type TrainableKind } from '../io/loadIndex.js';
import { loadedEngine, threadsUnavailable, type Build, type Engine } from '../wasm/engine.js';
import type { Owned } from '../wasm/owned.js';
import { sameSnapshot, snapshot, type Snapshot } from './borrow.js';
import { abortSeeding, SEED_WORDS } from './seed.js';
import { guidedChunk, PULL_ABORT, PULL_MAX_QUERY_BYTES, PULL_NEXT, searchPullBuffer, searchPullViews } from './pull.js';
import type { RangeSearchResult, SearchResult } from '../types.js';
import { KMeans, type KMeansOptions, type KMeansProgress, type KMeansTrainResult } from '../training/KMeans.js';
import { drawBlock, type StepCounts } from '../training/kmeansBlock.js';
import { ProductQuantizer, type PQTrainOptions, type ProductQuantizerOptions, type ProductQuantizerTrainResult, type SubspaceResult } from '../quantizers/ProductQuantizer.js';
import type { KMeansPlace, WorkerReply, WorkerRequest } from './worker.js';
import { PQIndex } from '../search/PQIndex.js';
import { IVFFlatIndex } from '../search/IVFFlatIndex.js';
import { IVFPQIndex } from '../search/IVFPQIndex.js';
import { RQIndex } from '../search/RQIndex.js';
import type { TrainSteps } from '../training/steps.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { concatBatches, type AddBatch, type Addable } from '../search/addBatch.js';

export interface WorkerPoolOptions {
  /** Workers to start. Default: the number of logical cores (os.availableParallelism / navigator.hardwareConcurrency). */
  threads?: number;
  /**
   * The engine build each worker loads: 'auto' (default: as init() picks, or the module init({ wasm }) was given),
   * 'simd' or 'relaxed' (see init()).
   */
  build?: Build | 'auto';
  /** Where the worker module is (default: worker.js beside this file). Bundlers may need to pass it explicitly. */
  workerUrl?: URL | string;
  /**
   * Run the workers on this thread's shared memory instead of copies. Default: true when init({ threads: true })
   * loaded the threads build, false otherwise. NO_THREADS when asked for without the threads build.
   */
  shared?: boolean;
  /** Shared memory only: bytes of each worker's arena for its per-call scratch (default 64 MiB, at least 1 MiB). */
  arenaBytes?: number;
  /**
   * @internal Private memories: do what pools do where SharedArrayBuffer is missing even where it exists (for tests):
   * k-means++ in one worker, batch searches one message per chunk (two queued per worker).
   */
  byMessage?: boolean;
}

/** What a pooled search takes besides the index's own options (they run on the calling thread). */
export interface PoolRunOptions {
  /** Rejects with VQError ABORTED once fired: chunks not yet started are not run (a running chunk finishes). */
  signal?: AbortSignal;
  /** Called after each chunk with the queries answered so far. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** SharedIndex.search's options for an index of type I: I's search options plus signal and onProgress. */
export type PoolSearchOptions<I extends AnyIndex = AnyIndex> = (I extends { search(q: Float32Array, k: number, options?: infer O): unknown } ? O : never) & PoolRunOptions;

/** SharedIndex.rangeSearch's options for an index of type I: I's rangeSearch options plus signal and onProgress. */
export type PoolRangeSearchOptions<I extends AnyIndex = AnyIndex> = (I extends { rangeSearch(q: Float32Array, radius: number, options?: infer O): unknown } ? O : never) & PoolRunOptions;

/** The options, as checked at run time (any index kind). */
type LooseRunOptions = PoolRunOptions & Record<string, unknown>;

/** A worker, whatever the runtime. */
interface Port {
  post(msg: WorkerRequest, transfer: ArrayBuffer[]): void;
  /** Resolves (Node) once the worker has stopped. */
  terminate(): Promise<unknown> | void;
  /** Node: whether the worker keeps the process alive (only while a call is pending); no-op in browsers. */
  hold(on: boolean): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  progress?: (p: unknown) => void;
  /** What the caller's progress callback threw (the first time): the call rejects with it once the worker answers. */
  progressError?: { e: unknown };
}

/** Training points per k-means block: fixed, so that the result does not depend on the number of workers. */
const KMEANS_BLOCK = 8192;

/** Chunks queued per worker in a batch search by message (runChunks's depth). */
const PIPELINE_DEPTH = 2;

/** Private memories: the largest k-means sample (bytes of f32 points) copied whole into every worker (kmeans). */
const REPLICATE_MAX_BYTES = 256 * 1024 * 1024;

/** Private memories: the largest such copy the pool keeps for its next kmeans() (until terminate()). */
const KEEP_MAX_BYTES = 64 * 1024 * 1024;

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

async function defaultThreads(): Promise<number> {
  if (isNode) {
    const os = (await import(/* @vite-ignore */ 'node:os' as string)) as { availableParallelism?: () => number; cpus(): unknown[] };
    return os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}

async function spawn(url: URL | null, onReply: (r: WorkerReply) => void, onFail: (e: unknown) => void): Promise<Port> {
  if (isNode) {
    const { Worker } = (await import(/* @vite-ignore */ 'node:worker_threads' as string)) as {
      Worker: new (u: URL) => {
        on(ev: string, fn: (v: never) => void): void;
        postMessage(m: unknown, t: ArrayBuffer[]): void;
        terminate(): Promise<number>;
        ref(): void;
        unref(): void;
      };
    };
    // (the name is built so that bundlers do not also copy the file as an asset: the browser branch below is theirs)
    const w = new Worker(url ?? new URL(['.', 'worker.js'].join('/'), import.meta.url));
    w.on('message', (m: WorkerReply) => onReply(m));
    w.on('error', (e: unknown) => onFail(e));
    // a worker that stops without an 'error' (killed, or its thread torn down) answers nothing more: its pending calls,
    // and any later ones, fail instead of waiting forever
    w.on('exit', (code: number) => onFail(new Error(`the worker exited with code ${code}`)));
    // an idle pool must not keep the process alive; a pending call must
    w.unref();
    return { post: (m, t) => w.postMessage(m, t), terminate: () => w.terminate(), hold: (on) => (on ? w.ref() : w.unref()) };
  }
  if (typeof Worker === 'undefined') fail('INVALID_OPTION', 'WorkerPool.create', 'this runtime has no Worker', raw('no globalThis.Worker'), 'Node >= 20 or a browser with module workers');
  // the literal new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }) is the form bundlers (Vite,
  // webpack 5) recognize and compile into a worker chunk with its imports; a given workerUrl is used as it is
  const w = url ? new Worker(url, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = (e: MessageEvent<WorkerReply>) => onReply(e.data);
  // (a module worker that fails to load reports no message: name the URL when it was given)
  w.onerror = (e: ErrorEvent) => onFail(new Error(e.message || `${url ? `worker ${url}` : 'the worker'} failed to start`));
  return { post: (m, t) => w.postMessage(m, t), terminate: () => w.terminate(), hold: () => {} };
}

class Lane {
  busy = false;
  /** Set once the worker has failed or stopped: calls are refused with it instead of sent to a worker that will not answer. */
  private dead: unknown = null;
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  port!: Port;

  /** Calls sent and not yet answered. */
  get pendingCount(): number {
    return this.pending.size;
  }

  reply(r: WorkerReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.progress !== undefined) {
      // the caller's callback runs inside the port's message listener: a throw there would be uncaught (Node ends the
      // process), so it is kept and the call rejects with it instead
      if (!p.progressError) {
        try {
          p.progress?.(r.progress);
        } catch (e) {
          p.progressError = { e };
        }
      }
      return;
    }
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.port.hold(false);
    if (p.progressError) p.reject(p.progressError.e);
    else if (r.ok) p.resolve(r.value);
    else p.reject(new VQError((r.error?.code ?? 'INTERNAL') as VQErrorCode, r.error?.message ?? 'worker failed'));
  }

  failAll(e: unknown): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.port?.hold(false);
  }

  call(req: Omit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = [], progress?: (p: unknown) => void): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      if (this.dead !== null) return reject(this.dead);
      if (this.pending.size === 0) this.port.hold(true);
      this.pending.set(id, { resolve, reject, progress });
      try {
        this.port.post({ ...req, id } as WorkerRequest, transfer);
      } catch (e) {
        // (a message the runtime cannot clone, say a WebAssembly.Module where that is refused: nothing was sent)
        this.pending.delete(id);
        if (this.pending.size === 0) this.port.hold(false);
        reject(e);
      }
    });
  }
}

export class WorkerPool {
  readonly threads: number;
  /** The engine build the workers run. */
  readonly build: Build;
  private readonly lanes: Lane[];
  private nextSlot = 1;
  private closed = false;
  private readonly waiters: (() => void)[] = [];
  /** Workers of their own that train() started for a call (abortable, or next to a shared memory). */
  private readonly ownLanes = new Set<Lane>();
  private kmeansTurn: Promise<void> = Promise.resolve();
  /** Private memories: the buffer kmeans() hands every worker the training points in, kept for the next run. */
  private kmSample?: SharedArrayBuffer;

  /** Whether the workers run on this thread's shared memory (see the file comment). */
  readonly shared: boolean;

  private constructor(
    lanes: Lane[], build: Build, private readonly url: URL | null, private readonly arenas: { eng: Engine; ptrs: number[] } | null,
    /** @internal SharedArrayBuffer and Atomics work here (k-means++ rounds and search chunks go through shared words). */
    readonly sharedWords: boolean,
  ) {
    this.lanes = lanes;
    this.threads = lanes.length;
    this.build = build;
    this.shared = arenas !== null;
  }

  /** Starts the workers and loads an engine in each. */
  static async create(options: WorkerPoolOptions = {}): Promise<WorkerPool> {
    const where = 'WorkerPool.create';
    const o = checkOptions(where, options);
    const threads = o.threads === undefined ? await defaultThreads() : checkInt(where, 'threads', o.threads, 1, 256);
    const url = o.workerUrl !== undefined ? new URL(String(o.workerUrl), (globalThis as { location?: { href: string } }).location?.href) : null;
    const eng = loadedEngine();
    const shared = o.shared === undefined ? eng?.shared !== undefined : o.shared;
    if (typeof shared !== 'boolean') fail('INVALID_OPTION', where, 'shared must be a boolean', shared, 'true or false');
    const arenaBytes = o.arenaBytes === undefined ? 64 * 2 ** 20 : checkInt(where, 'arenaBytes', o.arenaBytes, 2 ** 20, 2 ** 31);
    if (shared && !eng?.shared) {
      fail('NO_THREADS', where, 'a shared-memory pool needs the threads build on this thread', raw(threadsUnavailable() ?? (eng ? `the ${eng.info.build} build, which has a memory of its own` : 'no engine loaded')), 'await init({ threads: true }) before WorkerPool.create({ shared: true })');
    }
    const lanes: Lane[] = [];
    const arenas = shared ? { eng: eng!, ptrs: [] as number[] } : null;
    try {
      for (let i = 0; i < threads; i++) {
        const lane = new Lane();
        lane.port = await spawn(url, (r) => lane.reply(r), (e) => lane.failAll(toAborted(e)));
        lanes.push(lane);
      }
      const builds = await Promise.all(
        lanes.map((l) => {
          if (!arenas) return initPrivate(l, (o.build as Build | 'auto' | undefined) ?? 'auto');
          const base = arenas.eng.alloc(arenaBytes, where);
          arenas.ptrs.push(base);
          return l.call({ op: 'init', shared: arenas.eng.shared, base, arenaBytes });
        }),
      );
      // private memories can still share words (Node, isolated pages): k-means++ rounds and the taking of search
      // chunks then need no messages
      const sharedWords = arenas !== null || (o.byMessage !== true && threadsUnavailable() === null);
      return new WorkerPool(lanes, String(builds[0]) as Build, url, arenas, sharedWords);
    } catch (e) {
      for (const l of lanes) l.port.terminate();
      for (const p of arenas?.ptrs ?? []) arenas!.eng.free(p);
      throw e;
    }
  }

  /**
   * Copies an index into every worker (a snapshot of its current contents, through save()): later add() calls on the
   * original do not reach the copies; share it again for that.
   */
  async share<I extends AnyIndex>(index: I): Promise<SharedIndex<I>> {
    const where = 'WorkerPool.share';
    const slot = await this.load(where, index, 'index');
    return new SharedIndex<I>(this, slot, index.d, this.shared ? index : null);
  }

  /**
   * Copies a trained quantizer into every worker, for encode() on all cores (shared memory: nothing is copied; each
   * encode() reads the quantizer as it is then).
   */
  async shareQuantizer(quantizer: AnyQuantizer): Promise<SharedQuantizer> {
    const where = 'WorkerPool.shareQuantizer';
    const slot = await this.load(where, quantizer, 'quantizer');
    return new SharedQuantizer(this, slot, quantizer.d, quantizer.codeSize, this.shared ? quantizer : null);
  }

  private async load(where: string, obj: AnyIndex | AnyQuantizer, what: 'index' | 'quantizer'): Promise<number> {
    this.open(where);
    if (obj === null || typeof obj !== 'object' || typeof (obj as { save?: unknown }).save !== 'function') {
      fail('INVALID_TYPE', where, `the argument must be a vqwasm ${what}`, obj, what === 'index' ? 'a FlatIndex, PQIndex, IVFPQIndex, RQIndex, SQIndex or BinaryIndex' : 'a ProductQuantizer, OPQ, ResidualQuantizer, ScalarQuantizer or BinaryQuantizer');
    }
    // (a disposed IVF index reads as untrained: DISPOSED says what happened)
    if ((obj as { disposed?: boolean }).disposed === true) fail('DISPOSED', where, `the ${what} was disposed`, raw(`a disposed ${obj.constructor.name}`), `a live ${what}`);
    if ((obj as { isTrained?: boolean }).isTrained === false) fail('NOT_TRAINED', where, `the ${what} is not trained`, raw(`an untrained ${obj.constructor.name}`), 'train(x) first');
    if (this.shared) {
      // nothing to copy: views go out with the calls (Shared.withView); this checks that one can be made
      this.pinView(where, obj, what).unpin();
      return this.nextSlot++;
    }
    const { slot, ready } = this.sendCopy(obj.save(), what);
    await ready;
    return slot;
  }

  /**
   * @internal Runs task(lane, r0, count) over rows 0..n-1 on idle workers, honouring signal and reporting progress;
   * the first failure rejects. Chunks shrink as the rows run out (guided scheduling): each takes a 2 * threads-th of
   * what is left, at most maxChunk and at least minChunk rows, so that early chunks are large and the last ones leave
   * no worker idle for long while another finishes a large one (a fixed size of n / (4 * threads) left up to an
   * eighth of the work on one worker at the end). depth > 1: a worker keeps its lane until the rows run out, with
   * `depth` chunks queued on it, so that it starts the next chunk as soon as one is done instead of idling for a
   * message round trip (0.15-0.3 ms a hop here: a batch search by message lost 5-10 % to it); a chunk already queued
   * when the signal fires still runs.
   */
  async runChunks(
    where: string, n: number, maxChunk: number, minChunk: number, signal: AbortSignal | undefined,
    onProgress: ((p: { done: number; total: number }) => void) | undefined,
    task: (lane: Lane, r0: number, count: number) => Promise<void>,
    depth = 1,
  ): Promise<void> {
    const aborted = () => abortError(where, 'the work');
    if (signal?.aborted) throw aborted();
    let next = 0;
    // (a callback that throws: no more chunks are taken)
    const report = progressOf(onProgress, n, () => (next = n));
    const parts = Math.max(1, 2 * this.threads);
    // one loop per worker: each takes the next chunk once it holds an idle lane, so sizes follow what is left then
    const take = (lane: Lane): Promise<void> => {
      if (signal?.aborted) throw aborted();
      const r0 = next;
      const c = guidedChunk(n - r0, minChunk, parts, maxChunk);
      next += c;
      return task(lane, r0, c).then(() => report(c));
    };
    const loop = async () => {
      while (next < n) {
        const lane = await this.acquire(where);
        const queued: Promise<void>[] = [];
        try {
          for (let i = 0; i < depth && next < n; i++) queued.push(take(lane));
          while (queued.length > 0) {
            await queued.shift();
            if (depth > 1 && next < n) queued.push(take(lane));
          }
        } catch (e) {
          // (what is still queued on the lane settles before it is released)
          await Promise.allSettled(queued);
          throw e;
        } finally {
          this.releaseLane(lane);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.threads, n)) }, loop));
    if (signal?.aborted) throw aborted();
  }

  /**
   * @internal The searches of nq queries in pull mode (pull.ts): `buf` holds them; each worker, as soon as it holds an
   * idle lane, takes chunks off the shared counter until none is left, so chunk sizes follow what is left as in
   * runChunks, and the calling thread only waits. A fired signal or a worker's failure sets the abort word: chunks not
   * yet taken are not run (a running chunk finishes); the first failure rejects.
   */
  async runPull(
    where: string, buf: SharedArrayBuffer, nq: number, signal: AbortSignal | undefined,
    onProgress: ((p: { done: number; total: number }) => void) | undefined,
    request: Omit<WorkerRequest, 'id' | 'op' | 'pull' | 'wantProgress'>,
  ): Promise<void> {
    const aborted = () => abortError(where, 'the work');
    if (signal?.aborted) throw aborted();
    const ctrl = new Int32Array(buf, 0, 8);
    const stop = () => Atomics.store(ctrl, PULL_ABORT, 1);
    signal?.addEventListener('abort', stop);
    // (a callback that throws: the workers take no more chunks, and the call rejects with its error: Lane.reply)
    const report = progressOf(onProgress, nq, stop);
    const progress = onProgress ? (c: unknown) => report(c as number) : undefined;
    const one = async () => {
      const lane = await this.acquire(where);
      try {
        if (Atomics.load(ctrl, PULL_NEXT) >= nq || Atomics.load(ctrl, PULL_ABORT) !== 0) return;
        await lane.call({ ...request, op: 'searchPull', pull: buf, wantProgress: progress !== undefined }, [], progress);
      } catch (e) {
        stop();
        throw e;
      } finally {
        this.releaseLane(lane);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(this.threads, nq)) }, one));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    if (signal?.aborted) throw aborted();
  }

  /**
   * Builds `new <kind>(options)` and trains it on x in a worker, so that the calling thread (a page) stays responsive;
   * resolves to the trained object, loaded on this thread, and train()'s result. The same seed gives the same bytes as
   * training here. `add: true` also adds x (indexes). KMeans reports each iteration through onProgress (its own
   * onProgress option cannot cross threads). Without a signal an idle pool worker trains; with one, a worker of its
   * own, which aborting terminates at once (rejects ABORTED).
   */
  async train<K extends TrainableKind>(
    kind: K, options: ConstructorParameters<(typeof TRAINABLE)[K]>[0], x: Float32Array,
    run: { signal?: AbortSignal; onProgress?: (p: unknown) => void; add?: boolean } = {},
  ): Promise<{ trained: InstanceType<(typeof TRAINABLE)[K]>; result: ReturnType<InstanceType<(typeof TRAINABLE)[K]>['train']> }> {
    const where = 'WorkerPool.train';
    this.open(where);
    if (typeof kind !== 'string' || !Object.hasOwn(TRAINABLE, kind)) fail('INVALID_OPTION', where, 'unknown kind', kind, `one of ${Object.keys(TRAINABLE).join(', ')}`);
    const o = checkOptions(where, options);
    for (const key of ['onProgress', 'onWarning']) if (o[key] !== undefined) fail('INVALID_OPTION', where, `options.${key} cannot cross to a worker`, raw('a function'), 'run.onProgress instead');
    if (!(x instanceof Float32Array)) fail('INVALID_TYPE', where, 'x must be a Float32Array', x, 'a Float32Array of n * d values');
    const r = checkOptions(where, run) as { signal?: AbortSignal; onProgress?: (p: unknown) => void; add?: boolean };
    checkCallbacks(where, r.signal, r.onProgress);
    const aborted = () => abortError(where);
    if (r.signal?.aborted) throw aborted();
    const data = x.slice();
    const req = { op: 'train' as const, kind, options: o, q: data, add: r.add === true };
    let value: { bytes: Uint8Array; result: unknown };
    if (!r.signal && !this.shared) {
      // no way to abort: an idle worker of the pool does it (no start-up cost; a shared-memory worker's arena is
      // only for scratch, so training there goes to a worker of its own too)
      const lane = await this.acquire(where);
      try {
        value = (await lane.call(req, [data.buffer], r.onProgress)) as typeof value;
      } finally {
        this.releaseLane(lane);
      }
    } else {
      // abortable: a worker of its own, which abort terminates at once without touching the pool's workers
      const lane = new Lane();
      lane.port = await spawn(this.url, (m) => lane.reply(m), (e) => lane.failAll(toAborted(e)));
      if (this.closed) {
        lane.port.terminate();
        throw terminated();
      }
      const onAbort = () => {
        lane.port.terminate();
        lane.failAll(aborted());
      };
      r.signal?.addEventListener('abort', onAbort, { once: true });
      // terminate() stops it as it stops the pool's own workers
      this.ownLanes.add(lane);
      try {
        await initPrivate(lane, this.build);
        value = (await lane.call(req, [data.buffer], r.onProgress)) as typeof value;
      } finally {
        this.ownLanes.delete(lane);
        r.signal?.removeEventListener('abort', onAbort);
        lane.port.terminate();
      }
    }
    const Cls = TRAINABLE[kind] as unknown as { load(b: Uint8Array): InstanceType<(typeof TRAINABLE)[K]> };
    return { trained: Cls.load(value.bytes), result: value.result as ReturnType<InstanceType<(typeof TRAINABLE)[K]>['train']> };
  }

  /**
   * k-means with the per-point work of every iteration split across the workers: the training points (after
   * sampling) are cut into blocks of 8192, a contiguous run of blocks per worker, each keeping its points' labels and
   * Hamerly bounds; the calling thread seeds, updates the centroids from the per-block sums (added in block order) and
   * repairs empty clusters exactly as KMeans.train does. Options are KMeans's (onProgress and onWarning run here).
   * The result does not depend on the number of workers; it equals KMeans.train's whenever the f64 sums of the f32
   * points are exact, which they are unless coordinates span more than about 2^29 in magnitude (tested on integer and
   * Gaussian data). signal: checked before each iteration (rejects ABORTED).
   */
  async kmeans(options: KMeansOptions, x: Float32Array, run: { signal?: AbortSignal } = {}): Promise<{ trained: KMeans; result: KMeansTrainResult }> {
    const where = 'WorkerPool.kmeans';
    this.open(where);
    const r = checkOptions(where, run) as { signal?: AbortSignal };
    checkCallbacks(where, r.signal, undefined);
    if (r.signal?.aborted) throw abortError(where);
    const km = new KMeans(options);
    try {
      return { trained: km, result: await this.kmeansOn(where, km, x, r.signal) };
    } catch (e) {
      km.dispose();
      throw e;
    }
  }

  /** kmeans() on a KMeans made by the caller (who disposes it if this throws); its previous centroids stay then. */
  private async kmeansOn(where: string, km: KMeans, x: Float32Array, signal: AbortSignal | undefined, onIteration?: (p: KMeansProgress) => void): Promise<KMeansTrainResult> {
    const aborted = () => abortError(where);
    if (signal?.aborted) throw aborted();
    const slot = this.nextSlot++;
    const { d, k } = km;
    let used: Lane[] = [];
    // one k-means at a time on a pool: each uses every worker, and the shared-memory seeding holds them all in a loop
    // until it is done, so a second one would only queue behind it, holding its buffers meanwhile
    const turn = this.kmeansTurn;
    let done!: () => void;
    this.kmeansTurn = new Promise<void>((res) => (done = res));
    await turn;
    try {
      const result = await km.trainOn(x, async (at, useSep) => {
        const nt = at.nt;
        const nb = Math.ceil(nt / KMEANS_BLOCK);
        const allDone = (got: number) => got === nb || fail('INTERNAL', where, 'a k-means step left blocks undone', raw(`${got} blocks`), `${nb}`);
        const parts: [Lane, number, number][] = [];
        for (let i = 0; i < this.lanes.length; i++) {
          const b0 = Math.floor((i * nb) / this.lanes.length);
          const b1 = Math.floor(((i + 1) * nb) / this.lanes.length);
          if (b1 > b0) parts.push([this.lanes[i], b0 * KMEANS_BLOCK, Math.min(nt, b1 * KMEANS_BLOCK)]);
        }
        used = parts.map(([l]) => l);
        // private memories where SharedArrayBuffer works, and the sample is not too large to copy into every worker:
        // each worker holds every point, and the steps share the blocks out as on a shared memory (a block's cost
        // depends on how many of its points the bounds let through, and a worker can lose milliseconds to the OS or
        // the calling thread's garbage collector: fixed shares left the other waiting: k = 256, 1.61-1.84x on 2
        // threads against 1.79-1.87x on a shared memory, 2026-11-28). The blocks' labels and bounds travel through
        // `state` (labels i32[nt], lower f32[nt]: worker.ts KMeansShare), lower = -1 meaning none yet
        let state: SharedArrayBuffer | null = null;
        let sample: Float32Array | null = null;
        if (!this.shared && this.sharedWords && nt * d * 4 <= REPLICATE_MAX_BYTES) {
          try {
            state = new SharedArrayBuffer(nt * 8);
            // (the last run's buffer when large enough: a new one's pages fault in as it is written, 12 ms for
            // 25.6 MB here against 2 ms for the copy; one k-means runs at a time; kept up to KEEP_MAX_BYTES)
            const buf = this.kmSample!?.byteLength >= nt * d * 4 ? this.kmSample! : new SharedArrayBuffer(nt * d * 4);
            if (buf.byteLength <= KEEP_MAX_BYTES) this.kmSample = buf;
            sample = new Float32Array(buf, 0, nt * d);
          } catch {
            // (the runtime refused the shared buffers: fixed shares, below, need none)
            state = sample = null;
          }
          sample?.set(loadedEngine()!.f32(at.xt, nt * d));
        }
        const resetState = () => state && new Float32Array(state, nt * 4, nt).fill(-1);
        resetState();
        // private memories: each worker gets a copy of its points (or of all of them, above); shared: where they are
        // in this thread's buffer
        const started = (await Promise.all(
          parts.map(([l, r0, r1]) => {
            // (own: unused on a shared memory)
            const m = { op: 'kmStart' as const, slot, d, k, useSep, blockRows: KMEANS_BLOCK, own: [r0 / KMEANS_BLOCK, Math.ceil(r1 / KMEANS_BLOCK)] as [number, number] };
            if (this.shared) return l.call({ ...m, base: at.xt + r0 * d * 4, rows: r1 - r0 });
            if (sample) return l.call({ ...m, q: sample, state: state! });
            const q = at.rows(r0, r1);
            return l.call({ ...m, q }, [q.buffer as ArrayBuffer]);
          }),
        )) as { places?: KMeansPlace[] }[];
        sample = null;
        // shared memory: every worker gets every block (all in this memory), so that a step can share them out
        const places = this.shared ? started.flatMap((s) => s.places!) : [];
        if (this.shared) await Promise.all(used.map((l) => l.call({ op: 'kmViews', slot, places })));
        // private memories: the last step's buffers of block sums, handed back to the workers to fill
        const spare: Float64Array[] = [];
        return {
          reset: async () => {
            resetState();
            await Promise.all(used.map((l) => l.call({ op: 'kmReset', slot })));
          },
          // k-means++ over KMeans's seeding sample (at most initPointsPerCentroid * k points): every round in the
          // first worker, the others folding each centroid into their part of the sample through Atomics words
          // (seed.ts) instead of a message a round: in place on a shared memory; with private memories where
          // SharedArrayBuffer exists, on copies of their parts (the sample passed in a SharedArrayBuffer, the
          // centroids named by row); without it, every round in one worker over a copy of the sample (a message
          // round trip a round, 0.15-0.3 ms here, cost more than the round's work)
          seed: async (sample, rng) => {
            const eng = loadedEngine()!;
            const row = d * 4;
            const copyRows = (rows: Int32Array) => {
              const mem = new Uint8Array(eng.abi.memory.buffer);
              for (let j = 1; j < k; j++) mem.copyWithin(sample.cent + j * row, sample.x + rows[j] * row, sample.x + (rows[j] + 1) * row);
            };
            let sab: SharedArrayBuffer | undefined;
            let mail: SharedArrayBuffer | undefined;
            if (!this.shared && this.sharedWords) {
              try {
                sab = new SharedArrayBuffer(sample.n * row);
                mail = new SharedArrayBuffer(8);
                new Float32Array(sab).set(eng.f32(sample.x, sample.n * d));
              } catch {
                // (the runtime refused the buffers: one worker, below)
                sab = mail = undefined;
              }
            }
            if (!this.shared && !sab) {
              const q = eng.f32(sample.x, sample.n * d).slice();
              const done = (await used[0].call({ op: 'kmSeedOne', q, d, k, rng, first: sample.first }, [q.buffer as ArrayBuffer])) as { state: number; rows: Int32Array };
              copyRows(done.rows);
              return done.state;
            }
            const blocks: { row0: number; rows: number }[] = [];
            for (let i = 0; i < used.length; i++) {
              const r0 = Math.floor((i * sample.n) / used.length);
              const r1 = Math.floor(((i + 1) * sample.n) / used.length);
              if (r1 > r0) blocks.push({ row0: r0, rows: r1 - r0 });
            }
            const ctrl = new Int32Array(new SharedArrayBuffer(SEED_WORDS * 4));
            const totals = new Float64Array(new SharedArrayBuffer(blocks.length * 8));
            const plan = {
              rng, k, d, n: sample.n, first: sample.first, blocks, helpers: blocks.length - 1,
              ...(sab ? { x: 0, minD: 0, cent: 0, sab, mail } : { x: sample.x, minD: sample.minD, cent: sample.cent }),
            };
            const calls = blocks.map((_, i) => {
              const common = { ctrl, totals, seed: plan, own: [i, i + 1] as [number, number] };
              const call = used[i].call(i === 0 ? { op: 'kmSeedAll' as const, ...common } : { op: 'kmSeed' as const, ...common });
              // a helper that fails never counts down, a driver that fails never says stop: the others give up too
              call.catch(() => abortSeeding(ctrl));
              return call;
            });
            const done = (await Promise.all(calls))[0] as number | { state: number; rows: Int32Array };
            if (typeof done === 'number') return done;
            copyRows(done.rows);
            return done.state;
          },
          step: async (cent, it, shift, into) => {
            if (signal?.aborted) throw aborted();
            let obj = 0;
            let rescanned = 0;
            let movedOnly = 0;
            const eng = loadedEngine()!;
            if (this.arenas) {
              // shared memory: the workers read the centroids at at.cent (this thread's copy, unchanged until they
              // answer), take the blocks one at a time from ctrl[0] and leave each block's sums where kmStart said;
              // they are added here in block order (in wasm), whichever worker stepped which
              const ctrl = new Int32Array(new SharedArrayBuffer(8));
              const outs = (await Promise.all(used.map((l) => l.call({ op: 'kmStep', slot, base: at.cent, it, shift, ctrl })))) as ({ block: number } & StepCounts)[][];
              const per: StepCounts[] = new Array(places.length);
              for (const o of outs) for (const b of o) per[b.block] = b;
              // (the atomic count also orders the workers' writes before these reads)
              allDone(Atomics.load(ctrl, 1));
              per.forEach((b, i) => {
                eng.abi.addF64(into.sums, places[i].sums, k * d);
                eng.abi.addF64(into.counts, places[i].counts, k);
                obj += b.obj;
                rescanned += b.rescanned;
                movedOnly += b.movedOnly;
              });
            } else {
              // private memories: each block's sums come back in a buffer of its own (worker.ts), added here in block
              // order; with every point (state) the workers take the blocks off ctrl[0], else each steps its own
              const ctrl = state ? new Int32Array(new SharedArrayBuffer(8)) : undefined;
              const give = spare.splice(0);
              const each = Math.ceil(give.length / used.length);
              const res = (await Promise.all(
                used.map((l, i) => {
                  const mine = give.slice(i * each, (i + 1) * each);
                  return l.call({ op: 'kmStep', slot, q: cent, it, shift, ctrl, spare: mine }, mine.map((b) => b.buffer as ArrayBuffer));
                }),
              )) as { outs: Float64Array[]; blocks: ({ block: number } & StepCounts)[] }[];
              const outs: Float64Array[] = new Array(nb);
              const per: StepCounts[] = new Array(nb);
              let got = 0;
              for (const r of res) r.blocks.forEach((b, j) => ((outs[b.block] = r.outs[j]), (per[b.block] = b), got++));
              allDone(got);
              // added in wasm from a copy (a JS loop took 3.4 ms an iteration at k = 1024, d = 64, the workers
              // idle): the same additions in the same order, so the same bits (nothing in the loop throws)
              const tmp = eng.alloc((k * d + k) * 8, where);
              for (let b = 0; b < nb; b++) {
                eng.f64(tmp, k * d + k).set(outs[b]);
                eng.abi.addF64(into.sums, tmp, k * d);
                eng.abi.addF64(into.counts, tmp + k * d * 8, k);
                obj += per[b].obj;
                rescanned += per[b].rescanned;
                movedOnly += per[b].movedOnly;
              }
              eng.free(tmp);
              spare.push(...outs);
            }
            return { obj, rescanned, movedOnly };
          },
        };
      }, onIteration);
      return result;
    } finally {
      this.dropSlot(slot);
      done();
    }
  }

  /**
   * Trains `new ProductQuantizer(options)` on x with its m sub-space k-means runs spread over the workers (each an
   * ordinary KMeans run, as train() does them one after the other); the sampling, and the anisotropic refinement when
   * asked for, run on this thread. The codebook has the same bytes as `new ProductQuantizer(options).train(x, trainOptions)`
   * (tested; trainOptions: train()'s iterations and directions). onProgress: { done, total } sub-spaces; signal: checked before each sub-space starts (rejects ABORTED).
   */
  async trainPQ(
    options: ProductQuantizerOptions, x: Float32Array,
    run: { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void; trainOptions?: { iterations?: number; directions?: Float32Array } } = {},
  ): Promise<{ trained: ProductQuantizer; result: ProductQuantizerTrainResult }> {
    const where = 'WorkerPool.trainPQ';
    this.open(where);
    const r = checkOptions(where, run) as { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void; trainOptions?: Record<string, unknown> };
    checkCallbacks(where, r.signal, r.onProgress);
    const pq = new ProductQuantizer(options);
    try {
      return { trained: pq, result: await this.trainPQOn(where, pq, x, r.signal, r.onProgress, (r.trainOptions ?? {}) as PQTrainOptions) };
    } catch (e) {
      pq.dispose();
      throw e;
    }
  }

  /** trainPQ() on a ProductQuantizer made by the caller (who disposes it if this throws); its codebook stays then. */
  private async trainPQOn(
    where: string, pq: ProductQuantizer, x: Float32Array, signal: AbortSignal | undefined,
    onProgress: ((p: { done: number; total: number }) => void) | undefined, trainOptions: PQTrainOptions,
  ): Promise<ProductQuantizerTrainResult> {
    const plan = pq.trainPlan(x, trainOptions);
    const done: SubspaceResult[] = new Array(pq.m);
    // one sub-space per chunk: the chunks go to whichever worker is idle
    await this.runChunks(where, pq.m, 1, 1, signal, onProgress, async (lane, j) => {
      const job = plan.job(j);
      done[j] = (await lane.call({ op: 'pqJob', job }, [job.x.buffer as ArrayBuffer])) as SubspaceResult;
    });
    return pq.trainFinish(plan, done);
  }

  /**
   * Trains `index` (this thread's; untrained, or trained and empty) with its k-means and PQ trainings on the
   * workers: IVFFlatIndex and IVFPQIndex (the coarse k-means through kmeans(), the residual PQ through trainPQ()),
   * PQIndex (trainPQ()), OPQ's PQ trainings in either (its rotation search, the coarse assignment and the residuals
   * run on this thread), and RQIndex (each level's k-means through kmeans(); the beam search of the training sample
   * through each new level runs here). The index ends as index.train(x) leaves it whenever kmeans() equals
   * KMeans.train (exact f64 sums: see kmeans) and resolves to train()'s result. onProgress: each step's k-means
   * iterations or PQ sub-spaces (TrainIndexProgress). A PQIndex or RQIndex gets a new quantizer object: read
   * index.quantizer again afterwards. If
   * the index was disposed or given vectors meanwhile, or a step fails or is aborted (signal), it rejects and the
   * index keeps what it had.
   */
  async trainIndex<I extends PQIndex | IVFFlatIndex | IVFPQIndex | RQIndex>(index: I, x: Float32Array, run: { signal?: AbortSignal; onProgress?: (p: TrainIndexProgress) => void } = {}): Promise<ReturnType<I['train']>> {
    const where = 'WorkerPool.trainIndex';
    this.open(where);
    const r = checkOptions(where, run) as { signal?: AbortSignal; onProgress?: (p: TrainIndexProgress) => void };
    checkCallbacks(where, r.signal, r.onProgress);
    if (r.signal?.aborted) throw abortError(where);
    if (index instanceof PQIndex || index instanceof RQIndex) {
      // a quantizer of its own, adopted if the index is still alive and empty at the end
      index.checkTrain(x);
      const fresh = index.freshQuantizer();
      try {
        const result = await this.runSteps(where, fresh.trainSteps(x) as TrainSteps<unknown>, r.signal, r.onProgress);
        (index.adoptTrained as (q: typeof fresh) => void)(fresh);
        return result as ReturnType<I['train']>;
      } catch (e) {
        fresh.dispose();
        throw e;
      }
    }
    if (!(index instanceof IVFFlatIndex || index instanceof IVFPQIndex)) {
      fail('INVALID_TYPE', where, 'index must be a PQIndex, IVFFlatIndex, IVFPQIndex or RQIndex', index, "one of those (pool.train(kind, options, x) trains any kind in a worker of its own)");
    }
    return (await this.runSteps(where, index.trainSteps(x) as TrainSteps<unknown>, r.signal, r.onProgress)) as ReturnType<I['train']>;
  }

  /**
   * index.add(x, ids) with the work of add() that leaves the index as it is (coarse assignment, encoding) done by the
   * workers on chunks of x, and the append done here once every chunk is back: the same index, byte for byte, as
   * add(). Private memories: each worker gets the trained index without its vectors (save({ empty: true })), once per
   * call. Shared memory: the workers read the trained parts in place. A FlatIndex (nothing to compute) adds here. If
   * the index is disposed or trained again before the chunks are back, the call rejects and adds nothing; vectors
   * added here meanwhile come first (default ids are chosen at the append).
   */
  async add(
    index: AnyIndex, x: Float32Array,
    run: { ids?: Int32Array; signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void } = {},
  ): Promise<void> {
    const where = 'WorkerPool.add';
    this.open(where);
    const r = checkOptions(where, run) as { ids?: Int32Array; signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void };
    checkCallbacks(where, r.signal, r.onProgress);
    if (r.signal?.aborted) throw abortError(where, 'the work');
    if (index instanceof FlatIndex) {
      index.add(x, r.ids);
      return;
    }
    if (index === null || typeof index !== 'object' || typeof (index as Partial<Addable>).encodeForAdd !== 'function') {
      fail('INVALID_TYPE', where, 'index must be a vqwasm index', index, 'a FlatIndex, PQIndex, IVFPQIndex, IVFFlatIndex, RQIndex, SQIndex or BinaryIndex');
    }
    const a = index as unknown as Addable;
    const n = a.checkAdd(where, x, r.ids);
    const version = a.addVersion();
    const d = a.d;
    const parts = new Map<number, AddBatch>();
    const encode = (slot: number) =>
      // chunks of at most 65536 rows: a copy of one in flight per worker, whatever n
      this.runChunks(where, n, 1 << 16, 256, r.signal, r.onProgress, async (lane, r0, c) => {
        const part = x.slice(r0 * d, (r0 + c) * d);
        parts.set(r0, (await lane.call({ op: 'encodeAdd', slot, q: part }, [part.buffer])) as AddBatch);
      });
    let slot: number;
    let ready: Promise<unknown>;
    let unpin = () => {};
    if (this.shared) {
      const view = this.pinView(where, index, 'index');
      unpin = view.unpin;
      ({ slot, ready } = this.sendView(view.snap));
    } else {
      ({ slot, ready } = this.sendCopy(a.save({ empty: true }), 'index'));
    }
    try {
      await whenReady(ready, () => encode(slot));
    } finally {
      unpin();
      this.dropSlot(slot);
    }
    if ((index as { disposed?: boolean }).disposed) fail('DISPOSED', where, 'the index was disposed on this thread while the workers encoded for it', raw(`a disposed ${index.constructor.name}`), 'a live index');
    if (a.addVersion() !== version) {
      fail('INVALID_OPTION', where, 'the index was trained again while the workers encoded for it', raw('new trained parts'), 'the ones add started with (add again)');
    }
    a.appendBatch(where, concatBatches([...parts.keys()].sort((p, q) => p - q).map((k) => parts.get(k)!)), x, r.ids);
  }

  /** Drives training steps (training/steps.ts) with their k-means and PQ trainings on the workers. */
  private async runSteps<R>(where: string, steps: TrainSteps<R>, signal: AbortSignal | undefined, onProgress: ((p: TrainIndexProgress) => void) | undefined): Promise<R> {
    let s = steps.next();
    for (let step = 0; !s.done; step++) {
      const st = s.value;
      let result: KMeansTrainResult | ProductQuantizerTrainResult;
      try {
        result = st.kind === 'kmeans'
          ? await this.kmeansOn(where, st.model, st.x, signal, onProgress && ((p) => onProgress({ step, kind: 'kmeans', done: p.iteration, total: p.iterations })))
          : await this.trainPQOn(where, st.model, st.x, signal, onProgress && ((p) => onProgress({ step, kind: 'pq', ...p })), st.trainOptions);
      } catch (e) {
        steps.throw(e); // the steps free what they made and rethrow
        throw e;
      }
      s = steps.next(result);
    }
    return s.value;
  }

  /**
   * @internal Shared memory: the JS state of `obj` now (borrow.ts) and its buffers pinned; call unpin() once the
   * workers are done with it (in a finally).
   */
  pinView(where: string, obj: AnyIndex | AnyQuantizer, what: string): { snap: Snapshot; unpin: () => void } {
    if ((obj as { disposed?: boolean }).disposed) fail('DISPOSED', where, `the shared ${what} was disposed on this thread`, raw(`a disposed ${obj.constructor.name}`), `a live ${what}`);
    // state an index would otherwise build lazily in its first search (SQIndex's kept code norms) is built here, once,
    // so that the views do not each build a copy in their worker's arena
    (obj as { prepareView?(where: string): void }).prepareView?.(where);
    const { snap, owned } = snapshot(obj);
    // (an index's quantizer disposed by hand: this thread's calls refuse, and a view would read its freed codebooks)
    for (const o of owned) if (o.disposed) fail('DISPOSED', where, `a part of the shared ${what} was disposed`, raw(`a disposed ${o.constructor.name}`), `dispose() the ${what} instead`);
    for (const o of owned) o.pin();
    return { snap, unpin: () => owned.forEach((o: Owned) => o.unpin()) };
  }

  /**
   * @internal Shared memory: a new slot with a view of `snap` in every worker. The requests go out without waiting:
   * each worker handles them before the chunks queued after them; the promise settles with them.
   */
  sendView(snap: Snapshot): { slot: number; ready: Promise<unknown> } {
    return this.sendToAll((slot) => ({ op: 'attach', slot, snap }));
  }

  /**
   * @internal Private memories: a new slot with the object saved as `bytes` loaded in every worker (one structured
   * clone of the bytes each; the workers parse them in parallel). Sent as sendView sends.
   */
  sendCopy(bytes: Uint8Array, what: 'index' | 'quantizer'): { slot: number; ready: Promise<unknown> } {
    return this.sendToAll((slot) => ({ op: 'load', slot, bytes, what }));
  }

  private sendToAll(request: (slot: number) => Omit<WorkerRequest, 'id'>): { slot: number; ready: Promise<unknown> } {
    const slot = this.nextSlot++;
    const ready = Promise.all(this.lanes.map((l) => l.call(request(slot))));
    ready.catch(() => {}); // awaited by the caller after its chunks; this only keeps an early failure from going unhandled
    return { slot, ready };
  }

  /**
   * Stops the workers; pending calls reject with ABORTED. Shared memory: the workers' arenas are freed once the
   * workers have stopped.
   */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.kmSample = undefined;
    this.lanes.forEach((l, i) => {
      const running = l.pendingCount > 0;
      const stopped = l.port.terminate();
      l.failAll(terminated());
      const arena = this.arenas?.ptrs[i];
      if (arena === undefined) return;
      // an idle worker runs no wasm, so its arena can go at once; a busy one may still be writing its scratch until
      // it has stopped, which Node reports (terminate() resolves) and browsers do not: there the arena stays
      // allocated (a bounded leak, only when terminating a pool in the middle of a call)
      if (!running) this.arenas!.eng.free(arena);
      else if (stopped) void stopped.then(() => this.arenas!.eng.free(arena));
    });
    for (const l of this.ownLanes) {
      l.port.terminate();
      l.failAll(terminated());
    }
    this.ownLanes.clear();
    for (const w of this.waiters.splice(0)) w();
  }

  [Symbol.dispose](): void {
    this.terminate();
  }

  /** @internal */
  open(where: string): void {
    if (this.closed) fail('DISPOSED', where, 'the pool was terminated', raw('a terminated WorkerPool'), 'a live pool');
  }

  /** @internal an idle lane, waiting for one when all are busy */
  async acquire(where: string): Promise<Lane> {
    this.open(where);
    for (;;) {
      const free = this.lanes.find((l) => !l.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((r) => this.waiters.push(r));
      // a call that was waiting for a worker is pending work, as one already sent is: ABORTED, not DISPOSED
      if (this.closed) throw terminated();
    }
  }

  /** @internal */
  releaseLane(l: Lane): void {
    l.busy = false;
    this.waiters.shift()?.();
  }

  /** @internal */
  dropSlot(slot: number): void {
    if (this.closed) return;
    for (const l of this.lanes) l.call({ op: 'drop', slot }).catch(() => {});
  }
}

/**
 * WorkerPool.trainIndex's progress: within training step `step` (0-based: OPQ's alternations, then the coarse
 * k-means, then the (residual) PQ, as the index has them), k-means iterations or PQ sub-spaces done of total.
 */
export interface TrainIndexProgress {
  step: number;
  kind: 'kmeans' | 'pq';
  done: number;
  total: number;
}

/**
 * A pooled call's progress over `total` items: counts what is done and reports it to onProgress until that throws;
 * then `stop` (no more chunks), the error goes on to the call, and the callback is not called again.
 */
function progressOf(onProgress: ((p: { done: number; total: number }) => void) | undefined, total: number, stop: () => void): (c: number) => void {
  let done = 0;
  let threw = false;
  return (c) => {
    done += c;
    if (threw || !onProgress) return;
    try {
      onProgress({ done, total });
    } catch (e) {
      threw = true;
      stop();
      throw e;
    }
  };
}

/** What terminate() rejects every accepted call with: those running, those waiting for a worker, trainings. */
function terminated(): VQError {
  return new VQError('ABORTED', 'WorkerPool: the pool was terminated (got pending work, expected none)');
}

/** What a call whose signal fired rejects with. */
function abortError(where: string, what = 'training'): VQError {
  return new VQError('ABORTED', `${where}: aborted (got an AbortSignal that fired, expected ${what} to finish)`);
}

function toAborted(e: unknown): VQError {
  return new VQError('ABORTED', `WorkerPool: a worker failed (got ${e instanceof Error ? e.message : String(e)}, expected a running worker)`);
}

/**
 * Runs work() against a slot whose copy or view requests (`ready`) went out just before it, then waits for them too:
 * a failed request wins over the failures it causes in work().
 */
async function whenReady(ready: Promise<unknown>, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    await ready;
    throw e;
  }
  await ready;
}

function checkCallbacks(where: string, signal: unknown, onProgress: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail('INVALID_TYPE', where, 'signal must be an AbortSignal', signal, 'an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') fail('INVALID_TYPE', where, 'onProgress must be a function', onProgress, 'a function');
}

/** An object copied into every worker of a pool, until release(). */
abstract class Shared {
  protected released = false;
  /**
   * Shared memory: the view the workers hold of the origin's state (a slot of its own per state, so that a call still
   * running on an older state keeps reading that one), with the number of calls using it.
   */
  private view: { slot: number; snap: Snapshot; users: number } | null = null;
  /** Calls accepted and not yet settled: release() drops the copies once they are done. */
  private inflight = 0;

  constructor(
    protected readonly pool: WorkerPool,
    protected readonly slot: number,
    readonly d: number,
  ) {}

  /** Checks that the copies and the pool are still there. */
  protected live(where: string, what: string, again: string): void {
    if (this.released) fail('DISPOSED', where, `the shared ${what} was released`, raw(`a released Shared${what[0].toUpperCase()}${what.slice(1)}`), `${again} again`);
    this.pool.open(where);
  }

  /**
   * Runs `work(slot)` with the workers holding, at `slot`, the copy (private memories: origin null) or a view of
   * `origin` as it is now (shared memory; the view is sent again only when origin's JS state changed). A failed view
   * request wins over the failures it causes in `work`.
   */
  protected async withView(where: string, origin: AnyIndex | AnyQuantizer | null, what: string, work: (slot: number) => Promise<void>): Promise<void> {
    // a release() meanwhile lets the call finish (in every pool kind): the slot goes when the last call is done
    this.inflight++;
    try {
      await this.onSlot(where, origin, what, work);
    } finally {
      if (--this.inflight === 0 && this.released) this.pool.dropSlot(this.slot);
    }
  }

  private async onSlot(where: string, origin: AnyIndex | AnyQuantizer | null, what: string, work: (slot: number) => Promise<void>): Promise<void> {
    if (!origin) return work(this.slot);
    const { snap, unpin } = this.pool.pinView(where, origin, what);
    let v = this.view;
    let ready: Promise<unknown> = Promise.resolve();
    if (!v || !sameSnapshot(snap, v.snap)) {
      const sent = this.pool.sendView(snap);
      ready = sent.ready;
      // a copy: the object's typed arrays (list sizes, say) change in place on add()
      v = { slot: sent.slot, snap: structuredClone(snap), users: 0 };
      this.retire(this.view);
      this.view = v;
    }
    v.users++;
    try {
      await whenReady(ready, () => work(v.slot));
    } catch (e) {
      if (this.view === v) this.view = null;
      throw e;
    } finally {
      v.users--;
      unpin();
      if (this.view !== v) this.retire(v);
    }
  }

  /** Drops a view no longer current once no call uses it. */
  private retire(v: { slot: number; users: number } | null): void {
    if (v && v.users === 0) this.pool.dropSlot(v.slot);
  }

  /** Frees the copies (or views) in the workers, once the calls already accepted have settled. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.inflight === 0) this.pool.dropSlot(this.slot);
    // (a view still in use is dropped by its last call: withView's retire)
    this.retire(this.view);
    this.view = null;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** An index copied into every worker of a pool (or viewed by them, shared memory): search() splits the queries across them. */
export class SharedIndex<I extends AnyIndex = AnyIndex> extends Shared {
  constructor(pool: WorkerPool, slot: number, d: number, private readonly origin: AnyIndex | null) {
    super(pool, slot, d);
  }

  /**
   * The same result as index.search(q, k, options) on the main thread, computed by the pool's workers. options take
   * the index's search options (nprobe, rerank, exclude, allow) plus signal and onProgress.
   */
  async search(q: Float32Array, k: number, options?: PoolSearchOptions<I>): Promise<SearchResult> {
    const where = 'SharedIndex.search';
    this.live(where, 'index', 'pool.share(index)');
    const nq = checkVectors(where, 'queries', q, this.d);
    checkK(where, k, nq);
    const { signal, onProgress, rest, exclude } = splitOptions(where, options, nq);
    const d = this.d;
    let buf: SharedArrayBuffer | null = null;
    if (this.pool.sharedWords && nq * d * 4 <= PULL_MAX_QUERY_BYTES) {
      try {
        buf = searchPullBuffer(q, nq, d, k, 16, 2 * this.pool.threads);
      } catch {
        // (the runtime refused the shared buffer: the chunks go by message, below)
      }
    }
    if (buf) {
      // the workers take their chunks themselves (pull.ts): one message each way per worker, not per chunk
      // the exclusion lists go once, beside the options: each worker cuts out its chunks' lists
      const { exclude: _all, ...plain } = rest;
      await this.withView(where, this.origin, 'index', (slot) =>
        this.pool.runPull(where, buf, nq, signal, onProgress, { slot, k, options: plain, ...(exclude !== undefined ? { exclude: exclude as unknown[] } : {}) }),
      );
      const v = searchPullViews(buf);
      return { ids: v.ids.slice(), distances: v.distances.slice() };
    }
    const ids = new Int32Array(nq * k);
    const distances = new Float32Array(nq * k);
    await this.withView(where, this.origin, 'index', (slot) =>
      this.pool.runChunks(where, nq, nq, 16, signal, onProgress, async (lane, s0, c) => {
        const part = q.slice(s0 * d, (s0 + c) * d);
        const opts = exclude !== undefined ? { ...rest, exclude: (exclude as unknown[]).slice(s0, s0 + c) } : rest;
        const r = (await lane.call({ op: 'search', slot, q: part, k, options: opts }, [part.buffer])) as SearchResult;
        ids.set(r.ids, s0 * k);
        distances.set(r.distances, s0 * k);
      }, PIPELINE_DEPTH),
    );
    return { ids, distances };
  }
  /**
   * The same result as index.rangeSearch(q, radius, options) on the main thread (any index kind), the queries
   * split across the pool's workers in chunks by message; options: the index's (nprobe, exclude, allow) plus signal
   * and onProgress.
   */
  async rangeSearch(q: Float32Array, radius: number, options?: PoolRangeSearchOptions<I>): Promise<RangeSearchResult> {
    const where = 'SharedIndex.rangeSearch';
    this.live(where, 'index', 'pool.share(index)');
    const nq = checkVectors(where, 'queries', q, this.d);
    if (typeof radius !== 'number' || !Number.isFinite(radius)) fail('INVALID_OPTION', where, 'radius must be a finite number', radius, 'a finite number');
    const { signal, onProgress, rest, exclude } = splitOptions(where, options, nq);
    const d = this.d;
    const parts: RangeSearchResult[] = [];
    const starts: number[] = [];
    await this.withView(where, this.origin, 'index', (slot) =>
      this.pool.runChunks(where, nq, nq, 16, signal, onProgress, async (lane, s0, c) => {
        const part = q.slice(s0 * d, (s0 + c) * d);
        const opts = exclude !== undefined ? { ...rest, exclude: (exclude as unknown[]).slice(s0, s0 + c) } : rest;
        parts.push((await lane.call({ op: 'rangeSearch', slot, q: part, radius, options: opts }, [part.buffer])) as RangeSearchResult);
        starts.push(s0);
      }, PIPELINE_DEPTH),
    );
    // the chunks in query order, their hits end to end
    const order = starts.map((s0, i) => [s0, i]).sort((a, b) => a[0] - b[0]);
    const total = parts.reduce((t, p) => t + p.ids.length, 0);
    const lims = new Int32Array(nq + 1);
    const ids = new Int32Array(total);
    const distances = new Float32Array(total);
    let at = 0;
    for (const [s0, i] of order) {
      const p = parts[i];
      ids.set(p.ids, at);
      distances.set(p.distances, at);
      for (let t = 1; t < p.lims.length; t++) lims[s0 + t] = at + p.lims[t];
      at += p.ids.length;
    }
    return { lims, ids, distances };
  }

}

/**
 * A private worker's init: the module init({ wasm }) was given (Engine.module) when it is the build asked for (not the
 * threads build), so that a module from a CDN or from bytes reaches the workers too; else they load their own.
 */
function initPrivate(lane: Lane, build: Build | 'auto'): Promise<unknown> {
  const eng = loadedEngine();
  const module = eng && !eng.shared && (build === 'auto' || build === eng.info.build) ? eng.module : undefined;
  // a runtime that cannot post a Module (DataCloneError): the worker loads its own, as it did before
  return module
    ? lane.call({ op: 'init', build, module }).catch((e: unknown) => ((e as Error)?.name === 'DataCloneError' ? lane.call({ op: 'init', build }) : Promise.reject(e)))
    : lane.call({ op: 'init', build });
}

/**
 * A pooled search's options: signal and onProgress (run here) apart from the index's own (sent to the workers), and
 * exclude, one list per query, checked enough to be split by query (the worker's own check gives the full message).
 */
function splitOptions(where: string, options: unknown, nq: number) {
  const { signal, onProgress, ...rest } = checkOptions(where, options === undefined ? {} : options) as LooseRunOptions;
  checkCallbacks(where, signal, onProgress);
  const exclude = rest.exclude;
  if (exclude !== undefined && (!Array.isArray(exclude) || exclude.length !== nq)) {
    fail('INVALID_SIZE', where, 'exclude must hold one id list per query', Array.isArray(exclude) ? `${exclude.length} lists` : exclude, `${nq} (one per query)`);
  }
  return { signal, onProgress, rest, exclude };
}

/** A quantizer copied into every worker of a pool: encode() splits the vectors across them. */
export class SharedQuantizer extends Shared {
  constructor(pool: WorkerPool, slot: number, d: number, readonly codeSize: number, private readonly origin: AnyQuantizer | null) {
    super(pool, slot, d);
  }

  /** The same bytes as quantizer.encode(x) on the main thread, computed by the pool's workers. */
  async encode(x: Float32Array, options: { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void } = {}): Promise<Uint8Array> {
    const where = 'SharedQuantizer.encode';
    this.live(where, 'quantizer', 'pool.shareQuantizer(q)');
    const n = checkVectors(where, 'x', x, this.d);
    const { signal, onProgress } = checkOptions(where, options) as { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void };
    checkCallbacks(where, signal, onProgress);
    const out = new Uint8Array(n * this.codeSize);
    const d = this.d;
    await this.withView(where, this.origin, 'quantizer', (slot) =>
      this.pool.runChunks(where, n, n, 256, signal, onProgress, async (lane, r0, c) => {
        const part = x.slice(r0 * d, (r0 + c) * d);
        const codes = (await lane.call({ op: 'encode', slot, q: part }, [part.buffer])) as Uint8Array;
        out.set(codes, r0 * this.codeSize);
      }),
    );
    return out;
  }
}
