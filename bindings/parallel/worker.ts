// The worker side of WorkerPool (bindings/parallel/WorkerPool.ts): one engine (its own wasm memory) per worker, holding
// full copies of the indexes shared with it, answering query chunks. Runs as a Node worker_threads worker or a module
// Web Worker; the only difference is how messages arrive and leave.
//
// Requests  { id, op: 'init', build, module? }              -> { id, ok, value: build name }  (module: the caller's)
//           { id, op: 'init', shared, base, arenaBytes }    -> { id, ok, value: build name }
//             (shared-memory pool: the threads build's module and memory, and this worker's arena in it)
//           { id, op: 'attach', slot, snap }                -> { id, ok }   (a view of the main thread's object: borrow.ts)
//           { id, op: 'load', slot, bytes, what }           -> { id, ok }          (bytes: a saved index or quantizer)
//           { id, op: 'search', slot, q, k, options }       -> { id, ok, value: { ids, distances } }
//           { id, op: 'rangeSearch', slot, q, radius, options } -> { id, ok, value: { lims, ids, distances } }
//           { id, op: 'searchPull', slot, pull, k, options, exclude? } -> { id, ok, value: queries answered }
//             (pull: a SharedArrayBuffer, searchPullLayout: this worker takes chunks of its queries off a shared
//             counter until none are left or the abort word is set, and writes their results there; progress on the
//             way when asked: { id, progress: queries of the chunk })
//           { id, op: 'encode', slot, q }                   -> { id, ok, value: Uint8Array codes }  (q: the vectors)
//           { id, op: 'drop', slot }                        -> { id, ok }
//           { id, op: 'pqJob', job }                        -> { id, ok, value: { centroids, objective, stats } }
//             (one sub-space k-means of ProductQuantizer training: WorkerPool.trainPQ)
//           { id, op: 'train', kind, options, q, add }      -> { id, ok, value: { bytes, result } }  (q: training set)
//           { id, op: 'kmStart', slot, q, d, k, useSep, blockRows, own?, state? } -> { id, ok, value: { places } }
//             (private memories: own = [b0, b1) the run's blocks this worker holds; q its k-means points, or with
//             state every point, the blocks' labels and bounds kept in state (KMeansShare); on a shared memory base +
//             rows instead of q and own: where the points are, and the reply's places: where all of each block's
//             buffers are and its step's sums f64[k][d] and counts f64[k], which the calling thread reads there and
//             kmViews hands to every worker)
//           { id, op: 'kmSeed', ctrl, totals, seed, own }  -> { id, ok }  once ctrl says stop
//           { id, op: 'kmSeedAll', ctrl, totals, seed, own }
//             -> { id, ok, value: the generator's state after; private memories: { state, rows } }
//             (this worker runs every k-means++ round over the seeding sample, the others' kmSeed loops folding each
//             centroid into their blocks of it, own = [b0, b1) of seed.blocks: seed.ts; in place on a shared memory,
//             else on copies of the blocks, rows: the sample's row each centroid is, for the calling thread to copy)
//           { id, op: 'kmSeedOne', q, d, k, rng, first } -> { id, ok, value: { state, rows } }
//             (private memories without SharedArrayBuffer: every k-means++ round here over the seeding sample q
//             f32[n][d], centroid 0 its row `first`; rows as above)
//           { id, op: 'kmReset', slot }                     -> { id, ok }
//           { id, op: 'kmStep', slot, q, it, shift, ctrl?, spare? } -> { id, ok, value: { outs, blocks: [{ block, obj, rescanned }] } }
//             (private memories; q: the centroids f32[k][d]; ctrl (every point): the blocks taken one at a time from
//             ctrl[0], else this worker's own; outs[i] f64[k * d + k] the sums, then the counts, of blocks[i]; spare:
//             the last step's outs, handed back to be filled again)
//           { id, op: 'kmViews', slot, places }            -> { id, ok }  (shared memory: every block of the run, in
//             order, as kmStart's places said: where its points and buffers are, its sums and counts)
//           { id, op: 'kmStep', slot, base, it, shift, ctrl } -> { id, ok, value: [{ block, obj, rescanned }] }
//             (shared memory: the centroids read at base; the blocks taken one at a time from ctrl[0] by every
//             worker; the sums and counts left where kmStart said)
//             with KMeans, progress on the way: { id, progress: { redo, iteration, iterations, objective } }
// Failures  { id, ok: false, error: { code, message } }      (a VQError's code, or INTERNAL for anything else)
import { VQError } from '../errors.js';
import type { RangeSearchResult } from '../types.js';
import { loadIndex, loadQuantizer, TRAINABLE, type AnyIndex, type AnyQuantizer, type TrainableKind } from '../io/loadIndex.js';
import { CentroidSide, drawBlock, KMeansBlock, seedHere, seedRounds, type KMeansBlockPlace, type KMeansBlockScratch, type Shift, type StepCounts } from '../training/kmeansBlock.js';
import { allocations, attachEngine, engine, init, type Build, type Engine, type SharedEngine } from '../wasm/engine.js';
import { runSubspaceJob, type SubspaceJob } from '../quantizers/ProductQuantizer.js';
import type { Addable } from '../search/addBatch.js';
import { revive, type Snapshot } from './borrow.js';
import { claimChunk, searchPullViews } from './pull.js';
import { SEED_ARG, SEED_AT, SEED_CMD, SEED_FIRST, SEED_GEN, SEED_NEXT, SEED_PENDING, SEED_PICK, SEED_ROW, SEED_STOP, waitChange } from './seed.js';
import { Rng } from '../util/rng.js';

export interface WorkerRequest {
  id: number;
  op: 'init' | 'attach' | 'searchPull' | 'kmSeed' | 'kmSeedAll' | 'kmViews' | 'pqJob' | 'load' | 'search' | 'rangeSearch' | 'encode' | 'encodeAdd' | 'drop' | 'train' | 'kmStart' | 'kmReset' | 'kmStep' | 'kmSeedOne';
  first?: number;
  rng?: number;
  d?: number;
  useSep?: boolean;
  blockRows?: number;
  it?: number;
  shift?: Shift | null;
  kind?: string;
  add?: boolean;
  what?: 'index' | 'quantizer';
  build?: Build | 'auto';
  slot?: number;
  bytes?: Uint8Array;
  q?: Float32Array;
  spare?: Float64Array[];
  own?: [number, number];
  state?: SharedArrayBuffer;
  k?: number;
  radius?: number;
  options?: Record<string, unknown>;
  shared?: SharedEngine;
  module?: WebAssembly.Module;
  base?: number;
  arenaBytes?: number;
  snap?: Snapshot;
  rows?: number;
  ctrl?: Int32Array;
  totals?: Float64Array;
  job?: SubspaceJob;
  seed?: SeedPlan;
  places?: KMeansPlace[];
  pull?: SharedArrayBuffer;
  exclude?: unknown[];
  wantProgress?: boolean;
}

/** What the search ops call on a slot's index. */
type Searchable = { search(q: Float32Array, k: number, o: Record<string, unknown>): { ids: Int32Array; distances: Float32Array } };

/** A k-means block of a shared-memory run: where its points and buffers are, and its step's sums and counts. */
export interface KMeansPlace {
  place: KMeansBlockPlace;
  sums: number;
  counts: number;
}

/**
 * kmSeedAll's data: the calling thread's seeding sample, cut into blocks. Shared memory: the sample f32[n][d] at x,
 * its working distances f32[n] at minD and the centroids f32[k][d] at cent (KMeans's SeedSample), all read and
 * written in place. Private memories: the sample in `sab` (each worker copies its blocks in), the draw handed to the
 * block's holder in `mail` (f64), and 0 for the pointers; the centroids are named by their row in the sample.
 */
export interface SeedPlan {
  rng: number;
  k: number;
  d: number;
  x: number;
  n: number;
  minD: number;
  cent: number;
  /** The sample's row that centroid 0 is. */
  first: number;
  /** The sample's blocks, in order: first row and rows (the workers' shares are runs of them: own). */
  blocks: { row0: number; rows: number }[];
  /** Workers running a kmSeed loop on ctrl. */
  helpers: number;
  sab?: SharedArrayBuffer;
  mail?: SharedArrayBuffer;
}

/**
 * One worker's blocks [b0, b1) of a seeding run: in place on a shared memory, else a copy of their rows in this
 * memory (x f32[rows][d], minD f32[rows], cent f32[d] the centroid being folded in, copied from the sample's row).
 */
class SeedPart {
  private readonly mem: ReturnType<typeof allocations> | null = null;
  private readonly x: number;
  private readonly minD: number;
  private readonly cent: number = 0;
  /** The sample's row at x. */
  private readonly base: number;

  constructor(
    private readonly eng: Engine,
    private readonly plan: SeedPlan,
    private readonly own: [number, number],
  ) {
    const { d, blocks, sab } = plan;
    if (!sab) {
      this.x = plan.x;
      this.minD = plan.minD;
      this.base = 0;
      return;
    }
    const r0 = blocks[own[0]].row0;
    const r1 = blocks[own[1] - 1].row0 + blocks[own[1] - 1].rows;
    this.mem = allocations(eng, 'WorkerPool.kmeans');
    try {
      this.x = this.mem.take((r1 - r0) * d * 4);
      this.minD = this.mem.take((r1 - r0) * 4);
      this.cent = this.mem.take(d * 4);
      eng.f32(this.x, (r1 - r0) * d).set(new Float32Array(sab, r0 * d * 4, (r1 - r0) * d));
      this.base = r0;
    } catch (e) {
      this.mem.freeAll();
      throw e;
    }
  }

  /** Folds in the centroid at `at` (shared: its pointer; private: its row in the sample); totals per block. */
  fold(at: number, first: boolean, totals: Float64Array): void {
    const { eng, plan } = this;
    const { d } = plan;
    let c = at;
    if (plan.sab) {
      eng.f32(this.cent, d).set(new Float32Array(plan.sab, at * d * 4, d));
      c = this.cent;
    }
    for (let b = this.own[0]; b < this.own[1]; b++) {
      const { row0, rows } = plan.blocks[b];
      const r = row0 - this.base;
      totals[b] = eng.abi.minL2Update(this.x + r * d * 4, rows, d, c, this.minD + r * 4, first ? 1 : 0);
    }
  }

  holds(b: number): boolean {
    return b >= this.own[0] && b < this.own[1];
  }

  /** The row of block b in the sample where the draw `rest` falls (private memories: a block this worker holds). */
  pick(b: number, rest: number): number {
    const { row0, rows } = this.plan.blocks[b];
    return row0 + this.eng.abi.cumulativeSearch(this.minD + (row0 - this.base) * 4, rows, rest);
  }

  dispose(): void {
    this.mem?.freeAll();
  }
}

export interface WorkerReply {
  id: number;
  ok?: boolean;
  value?: unknown;
  progress?: unknown;
  error?: { code: string; message: string };
}

type Post = (msg: WorkerReply, transfer?: ArrayBuffer[]) => void;

/**
 * A worker's share of a k-means run: blocks of points with their bounds, and the buffers of one step. Three forms:
 * - shared memory: this worker's blocks over the calling thread's points, read in place; `views` (kmViews) then holds
 *   every worker's blocks, and a step takes whichever is next;
 * - private memory, every point (`state` given): every point at hand (a SharedArrayBuffer), each block copied in when
 *   this worker first needs it, all stepped one at a time with shared rescan buffers and one pair of sums (`blocks`
 *   stays empty); a step takes whichever block is next and carries its labels
 *   and bounds in and out through `state` (a SharedArrayBuffer of the run: labels i32[nt], then lower f32[nt]);
 * - private memory, this worker's points only (where SharedArrayBuffer is missing): each step steps all of them.
 */
class KMeansShare {
  private readonly mem: ReturnType<typeof allocations>;
  readonly blocks: { block: KMeansBlock; sums: number; counts: number }[] = [];
  /** Shared memory: every block of the run, all workers', in order (kmViews), for steps that share out blocks. */
  views: { block: KMeansBlock; sums: number; counts: number }[] | null = null;
  /**
   * Private memory, every point: all the blocks in order, each made (its points copied in) when this worker first
   * steps it (blockAt), and the run's labels and bounds (see above).
   */
  private readonly all: (KMeansBlock | undefined)[] = [];
  private readonly points: Float32Array | null = null;
  private readonly scratch: KMeansBlockScratch | null = null;
  readonly nblocks: number;
  /** Private memory, this worker's points only: the run's index of its first block (`blocks[0]`). */
  readonly block0: number;
  readonly state: { labels: Int32Array; lower: Float32Array } | null = null;
  /** Private memory, every point: where a step's block leaves its sums f64[k][d] and counts f64[k]. */
  readonly pair: { sums: number; counts: number } | null = null;
  readonly blockRows: number;
  readonly cent: number;
  readonly side: CentroidSide;
  readonly d: number;
  readonly k: number;

  /**
   * x: the points, copied into this memory (this worker's, or with `state` every point of the run); or, on a shared
   * memory, where they are (xPtr f32[n][d], the calling thread's training buffer, read in place). own (private
   * memories without state): the run's blocks [b0, b1) this worker holds; state: see above.
   */
  constructor(eng: Engine, x: Float32Array | { xPtr: number; n: number }, d: number, k: number, useSep: boolean, blockRows: number, own?: [number, number], state?: SharedArrayBuffer) {
    this.mem = allocations(eng, 'WorkerPool.kmeans');
    this.d = d;
    this.k = k;
    this.blockRows = blockRows;
    this.block0 = own?.[0] ?? 0;
    const { take } = this.mem;
    try {
      this.cent = take(k * d * 4);
      this.side = new CentroidSide(eng, d, k, useSep, take);
      const n = x instanceof Float32Array ? x.length / d : x.n;
      this.nblocks = Math.ceil(n / blockRows);
      if (x instanceof Float32Array && state) {
        this.state = { labels: new Int32Array(state, 0, n), lower: new Float32Array(state, n * 4, n) };
        this.points = x;
        this.scratch = KMeansBlock.scratch(take, Math.min(n, blockRows), d);
        this.pair = { sums: take(k * d * 8), counts: take(k * 8) };
        return;
      }
      for (let r0 = 0; r0 < n; r0 += blockRows) {
        const c = Math.min(blockRows, n - r0);
        let xt: number;
        if (x instanceof Float32Array) {
          xt = take(c * d * 4);
          eng.f32(xt, c * d).set(x.subarray(r0 * d, (r0 + c) * d));
        } else {
          xt = x.xPtr + r0 * d * 4;
        }
        this.blocks.push({ block: new KMeansBlock(eng, xt, c, d, this.side, take), sums: take(k * d * 8), counts: take(k * 8) });
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Private memory, every point: block b, its points copied into this memory the first time. */
  blockAt(eng: Engine, b: number): KMeansBlock {
    let block = this.all[b];
    if (!block) {
      const { d, blockRows } = this;
      const r0 = b * blockRows;
      const c = Math.min(blockRows, this.points!.length / d - r0);
      const xt = this.mem.take(c * d * 4);
      eng.f32(xt, c * d).set(this.points!.subarray(r0 * d, (r0 + c) * d));
      block = this.all[b] = new KMeansBlock(eng, xt, c, d, this.side, this.mem.take, this.scratch!);
    }
    return block;
  }

  dispose(): void {
    this.mem.freeAll();
  }
}

const seedAborted = () => new VQError('ABORTED', 'WorkerPool.kmeans: a worker failed during k-means++ seeding (got no answer from it, expected every worker to fold each centroid in)');

const slots = new Map<number, AnyIndex | AnyQuantizer | KMeansShare>();

async function handle(req: WorkerRequest, post: Post): Promise<void> {
  try {
    switch (req.op) {
      case 'init': {
        const info = req.shared ? await attachEngine(req.shared, req.base!, req.arenaBytes!) : await init({ build: req.build ?? 'auto', ...(req.module ? { wasm: req.module } : {}) });
        post({ id: req.id, ok: true, value: info.build });
        return;
      }
      case 'attach': {
        slots.get(req.slot!)?.dispose();
        slots.delete(req.slot!);
        slots.set(req.slot!, revive(req.snap, engine('WorkerPool')) as AnyIndex | AnyQuantizer);
        post({ id: req.id, ok: true });
        return;
      }
      case 'load': {
        slots.get(req.slot!)?.dispose();
        slots.delete(req.slot!);
        slots.set(req.slot!, req.what === 'quantizer' ? loadQuantizer(req.bytes!) : loadIndex(req.bytes!));
        post({ id: req.id, ok: true });
        return;
      }
      case 'search': {
        const index = slots.get(req.slot!);
        if (!index) throw new VQError('DISPOSED', `WorkerPool.search: the shared index was released (got slot ${req.slot}, expected a live one)`);
        const r = (index as Searchable)
          .search(req.q!, req.k!, req.options ?? {});
        post({ id: req.id, ok: true, value: r }, [r.ids.buffer as ArrayBuffer, r.distances.buffer as ArrayBuffer]);
        return;
      }
      case 'rangeSearch': {
        const index = slots.get(req.slot!) as unknown as { rangeSearch(q: Float32Array, r: number, o: Record<string, unknown>): RangeSearchResult } | undefined;
        if (!index) throw new VQError('DISPOSED', `WorkerPool.rangeSearch: the shared index was released (got slot ${req.slot}, expected a live one)`);
        const r = index.rangeSearch(req.q!, req.radius!, req.options ?? {});
        post({ id: req.id, ok: true, value: r }, [r.lims.buffer as ArrayBuffer, r.ids.buffer as ArrayBuffer, r.distances.buffer as ArrayBuffer]);
        return;
      }
      case 'searchPull': {
        const index = slots.get(req.slot!);
        if (!index) throw new VQError('DISPOSED', `WorkerPool.search: the shared index was released (got slot ${req.slot}, expected a live one)`);
        const v = searchPullViews(req.pull!);
        const { nq, d, k, minChunk, parts } = v;
        let answered = 0;
        for (;;) {
          const c0 = claimChunk(v.ctrl, nq, minChunk, parts);
          if (c0 === null) break;
          const [r0, c] = c0;
          const opts = req.exclude ? { ...req.options, exclude: req.exclude.slice(r0, r0 + c) } : (req.options ?? {});
          const r = (index as Searchable)
            .search(v.q.subarray(r0 * d, (r0 + c) * d), k, opts);
          v.ids.set(r.ids, r0 * k);
          v.distances.set(r.distances, r0 * k);
          answered += c;
          if (req.wantProgress) post({ id: req.id, progress: c });
        }
        post({ id: req.id, ok: true, value: answered });
        return;
      }
      case 'encode': {
        const quantizer = slots.get(req.slot!);
        if (!quantizer) throw new VQError('DISPOSED', `WorkerPool.encode: the shared quantizer was released (got slot ${req.slot}, expected a live one)`);
        const codes = (quantizer as AnyQuantizer).encode(req.q!);
        post({ id: req.id, ok: true, value: codes }, [codes.buffer as ArrayBuffer]);
        return;
      }
      case 'encodeAdd': {
        const index = slots.get(req.slot!);
        if (!index) throw new VQError('DISPOSED', `WorkerPool.add: the index copy was dropped (got slot ${req.slot}, expected a live one)`);
        const b = (index as unknown as Addable).encodeForAdd('WorkerPool.add', req.q!);
        const transfer = [b.labels?.buffer, b.codes?.buffer].filter((t) => t !== undefined) as ArrayBuffer[];
        post({ id: req.id, ok: true, value: b }, transfer);
        return;
      }
      case 'train': {
        const kind = req.kind as TrainableKind;
        if (!Object.hasOwn(TRAINABLE, kind)) throw new VQError('INVALID_OPTION', `WorkerPool.train: unknown kind (got ${JSON.stringify(req.kind)}, expected one of ${Object.keys(TRAINABLE).join(', ')})`);
        const options = { ...(req.options ?? {}) };
        if (kind === 'KMeans') options.onProgress = (p: unknown) => post({ id: req.id, progress: p });
        const Cls = TRAINABLE[kind] as unknown as new (o: Record<string, unknown>) => { train(x: Float32Array): unknown; add?(x: Float32Array): void; save(): Uint8Array; dispose(): void };
        const obj = new Cls(options);
        try {
          const result = obj.train(req.q!);
          if (req.add) {
            if (typeof obj.add !== 'function') throw new VQError('INVALID_OPTION', `WorkerPool.train: add is only for indexes (got add: true with ${kind}, expected an index kind)`);
            obj.add(req.q!);
          }
          const bytes = obj.save();
          post({ id: req.id, ok: true, value: { bytes, result } }, [bytes.buffer as ArrayBuffer]);
        } finally {
          obj.dispose();
        }
        return;
      }
      case 'kmStart': {
        slots.get(req.slot!)?.dispose();
        const x = req.q ?? { xPtr: req.base!, n: req.rows! };
        const share = new KMeansShare(engine('WorkerPool.kmeans'), x, req.d!, req.k!, req.useSep!, req.blockRows!, req.own, req.state);
        slots.set(req.slot!, share);
        // shared memory: where each block keeps all its buffers, its sums and counts (kmViews, the calling thread's
        // reads after a step)
        post({ id: req.id, ok: true, value: { places: req.q ? undefined : share.blocks.map((b) => ({ place: b.block.place(), sums: b.sums, counts: b.counts })) } });
        return;
      }
      case 'kmViews': {
        // shared memory: every block of the run (the other workers' too), so that a step can take any of them
        const share = slots.get(req.slot!) as KMeansShare;
        const eng = engine('WorkerPool.kmeans');
        share.views = req.places!.map((p) => ({ block: KMeansBlock.at(eng, p.place, share.d, share.side), sums: p.sums, counts: p.counts }));
        post({ id: req.id, ok: true });
        return;
      }
      case 'kmSeed': {
        // k-means++ rounds driven through shared words instead of messages (see WorkerPool.kmeans): this worker
        // sleeps on ctrl[GEN] and, per round, folds the centroid ctrl[AT] names into its blocks of the sample and
        // writes their totals, or (SEED_PICK, private memories) finds the row the draw in the mailbox falls on in
        // block ctrl[ARG] if it holds it; then counts ctrl[PENDING] down; ctrl[CMD] = SEED_STOP ends the loop
        const ctrl = req.ctrl!;
        const plan = req.seed!;
        const part = new SeedPart(engine('WorkerPool.kmeans'), plan, req.own!);
        try {
          const rest = plan.mail ? new Float64Array(plan.mail) : null;
          let gen = 0; // the value ctrl was created with: a command sent before this loop started is not missed
          for (;;) {
            if (!waitChange(ctrl, SEED_GEN, gen)) throw seedAborted();
            gen = Atomics.load(ctrl, SEED_GEN);
            const cmd = Atomics.load(ctrl, SEED_CMD);
            if (cmd === SEED_STOP) break;
            if (cmd === SEED_PICK) {
              const b = Atomics.load(ctrl, SEED_ARG);
              if (part.holds(b)) Atomics.store(ctrl, SEED_ROW, part.pick(b, rest![0]));
            } else {
              part.fold(Atomics.load(ctrl, SEED_AT) >>> 0, cmd === SEED_FIRST, req.totals!);
            }
            if (Atomics.sub(ctrl, SEED_PENDING, 1) === 1) Atomics.notify(ctrl, SEED_PENDING);
          }
        } finally {
          part.dispose();
        }
        post({ id: req.id, ok: true });
        return;
      }
      case 'kmSeedOne': {
        // private memories: every round here, over a copy of the sample
        const d = req.d!;
        const k = req.k!;
        const q = req.q!;
        const n = q.length / d;
        const eng = engine('WorkerPool.kmeans');
        const { take, freeAll } = allocations(eng, 'WorkerPool.kmeans');
        try {
          const x = take(n * d * 4);
          const minD = take(n * 4);
          const cent = take(k * d * 4);
          eng.f32(x, n * d).set(q);
          eng.f32(cent, d).set(q.subarray(req.first! * d, (req.first! + 1) * d));
          const rng = new Rng(0).restore(req.rng!);
          const rows = new Int32Array(k);
          rows[0] = req.first!;
          seedHere(eng, x, n, d, k, cent, minD, rng, rows);
          post({ id: req.id, ok: true, value: { state: rng.state32, rows } }, [rows.buffer]);
        } finally {
          freeAll();
        }
        return;
      }
      case 'kmReset': {
        for (const b of (slots.get(req.slot!) as KMeansShare).blocks) b.block.reset();
        post({ id: req.id, ok: true });
        return;
      }
      case 'kmStep': {
        const share = slots.get(req.slot!) as KMeansShare;
        const eng = engine('WorkerPool.kmeans');
        const { d, k } = share;
        if (req.base !== undefined) {
          // shared memory: the calling thread's centroids read in place, and the blocks shared out: each worker takes
          // the next block of the run from ctrl[0] until none is left (a block's cost depends on how many of its
          // points the bounds let through, so fixed shares leave one worker waiting for the other); each block's
          // sums and counts stay where its kmStart said, for the calling thread to read; ctrl[1] counts blocks done
          const ctrl = req.ctrl!;
          const views = share.views!;
          share.side.prepare(req.base, req.it!, req.shift ?? null);
          const done: ({ block: number } & StepCounts)[] = [];
          for (let b = Atomics.add(ctrl, 0, 1); b < views.length; b = Atomics.add(ctrl, 0, 1)) {
            const v = views[b];
            const r = v.block.step(req.base, req.it!, req.shift ?? null, v.sums, v.counts);
            done.push({ block: b, ...r });
            Atomics.add(ctrl, 1, 1);
          }
          post({ id: req.id, ok: true, value: done });
          return;
        }
        // private memories: the centroids in, each block's sums and counts out by message in a buffer of its own
        // (f64[k * d + k]: sums, then counts), taken from `spare` (the last step's, handed back: a new one each step
        // made 20 MB of garbage in a k = 256 run). With every point (state), the blocks are taken off ctrl[0] as on a
        // shared memory and each one's labels and bounds carried in from the run's state and back out after its
        // step; with this worker's points only, its own blocks in order
        const ctrl = req.ctrl;
        const state = share.state;
        eng.f32(share.cent, k * d).set(req.q!);
        share.side.prepare(share.cent, req.it!, req.shift ?? null);
        const per = k * d + k;
        const spare = req.spare ?? [];
        const outs: Float64Array[] = [];
        const done: ({ block: number } & StepCounts)[] = [];
        let mine = share.block0;
        const next = () => (ctrl ? Atomics.add(ctrl, 0, 1) : mine++);
        const end = state ? share.nblocks : share.block0 + share.blocks.length;
        for (let b = next(); b < end; b = next()) {
          const { block, sums, counts } = state ? { block: share.blockAt(eng, b), ...share.pair! } : share.blocks[b - share.block0];
          const r0 = b * share.blockRows;
          const bl = state?.labels.subarray(r0, r0 + block.n);
          const bb = state?.lower.subarray(r0, r0 + block.n);
          if (bl && bb) block.loadState(bl, bb);
          const r = block.step(share.cent, req.it!, req.shift ?? null, sums, counts);
          if (bl && bb) block.saveState(bl, bb);
          let out = spare.pop();
          if (out?.length !== per) out = new Float64Array(per);
          out.set(eng.f64(sums, k * d));
          out.set(eng.f64(counts, k), k * d);
          outs.push(out);
          done.push({ block: b, ...r });
        }
        post({ id: req.id, ok: true, value: { outs, blocks: done } }, outs.map((o) => o.buffer as ArrayBuffer));
        return;
      }
      case 'kmSeedAll': {
        // every k-means++ round here, without the calling thread: this worker folds each centroid into its blocks of
        // the sample, has the helpers (kmSeed loops on ctrl) fold it into theirs, waits for them on ctrl[PENDING],
        // then draws the next centroid from the blocks' distances exactly as seedHere: in the shared memory, or with
        // private memories by asking the helper that holds the block the draw falls in (SEED_PICK)
        const eng = engine('WorkerPool.kmeans');
        const plan = req.seed!;
        const { ctrl, totals } = { ctrl: req.ctrl!, totals: req.totals! };
        const { d, x, cent, helpers, sab } = plan;
        const command = (cmd: number, pending: number, at: number) => {
          Atomics.store(ctrl, SEED_PENDING, pending);
          Atomics.store(ctrl, SEED_CMD, cmd);
          Atomics.store(ctrl, SEED_AT, at | 0);
          Atomics.add(ctrl, SEED_GEN, 1);
          Atomics.notify(ctrl, SEED_GEN);
        };
        const waitHelpers = () => {
          for (let left = Atomics.load(ctrl, SEED_PENDING); left !== 0; left = Atomics.load(ctrl, SEED_PENDING)) {
            if (!waitChange(ctrl, SEED_PENDING, left)) throw seedAborted();
          }
        };
        const rng = new Rng(0).restore(plan.rng);
        // private memories: the row of each centroid in the sample (what the helpers read the centroid from, and what
        // the calling thread copies the centroids from)
        const rows = new Int32Array(plan.k);
        rows[0] = plan.first;
        const part = new SeedPart(eng, plan, req.own!);
        const min = (j: number, first: boolean): number => {
          const at = sab ? rows[j] : cent + j * d * 4;
          if (helpers > 0) command(first ? SEED_FIRST : SEED_NEXT, helpers, at);
          part.fold(at, first, totals);
          waitHelpers();
          let sum = 0;
          for (const t of totals) sum += t;
          return sum;
        };
        const pick = (r: number): number => {
          const [b, rest] = drawBlock(totals, r);
          // (on a shared memory every block's distances are at hand)
          if (part.holds(b) || !sab) return part.pick(b, rest);
          new Float64Array(plan.mail!)[0] = rest;
          Atomics.store(ctrl, SEED_ARG, b);
          command(SEED_PICK, helpers, 0);
          waitHelpers();
          return Atomics.load(ctrl, SEED_ROW);
        };
        const copyRow = (i: number, j: number) => {
          rows[j] = i;
          if (!sab) new Uint8Array(eng.abi.memory.buffer).copyWithin(cent + j * d * 4, x + i * d * 4, x + (i + 1) * d * 4);
        };
        try {
          const rounds = seedRounds(plan.k, plan.n, rng, copyRow);
          for (let r = rounds.next(); !r.done; ) {
            const q = r.value;
            r = rounds.next(q.kind === 'min' ? min(q.j, q.first) : pick(q.r));
          }
        } finally {
          if (helpers > 0) command(SEED_STOP, 0, 0);
          part.dispose();
        }
        post({ id: req.id, ok: true, value: sab ? { state: rng.state32, rows } : rng.state32 }, sab ? [rows.buffer] : []);
        return;
      }
      case 'pqJob': {
        const r = runSubspaceJob(req.job!);
        post({ id: req.id, ok: true, value: r }, [r.centroids.buffer as ArrayBuffer]);
        return;
      }
      case 'drop': {
        slots.get(req.slot!)?.dispose();
        slots.delete(req.slot!);
        post({ id: req.id, ok: true });
        return;
      }
    }
  } catch (e) {
    const code = e instanceof VQError ? e.code : 'INTERNAL';
    const message = e instanceof Error ? e.message : String(e);
    post({ id: req.id, ok: false, error: { code, message } });
  }
}

// Requests are handled one at a time, in order: each is synchronous wasm work after the first init.
let queue: Promise<void> = Promise.resolve();

interface NodePort {
  on(ev: 'message', fn: (m: WorkerRequest) => void): void;
  postMessage(m: unknown, transfer?: ArrayBuffer[]): void;
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
if (isNode) {
  const { parentPort } = (await import(/* @vite-ignore */ 'node:worker_threads' as string)) as { parentPort: NodePort | null };
  if (parentPort) {
    const port = parentPort;
    const post: Post = (m, t) => port.postMessage(m, t);
    port.on('message', (m) => {
      queue = queue.then(() => handle(m, post));
    });
  }
} else {
  const scope = globalThis as unknown as { onmessage: ((e: { data: WorkerRequest }) => void) | null; postMessage(m: unknown, t?: ArrayBuffer[]): void };
  const post: Post = (m, t) => scope.postMessage(m, t ?? []);
  scope.onmessage = (e) => {
    queue = queue.then(() => handle(e.data, post));
  };
}
