// The worker side of WorkerPool (bindings/parallel/WorkerPool.ts): one engine (its own wasm memory) per worker, holding
// full copies of the indexes shared with it, answering query chunks. Runs as a Node worker_threads worker or a module
// Web Worker; the only difference is how messages arrive and leave.
//
// Requests  { id, op: 'init', build }                       -> { id, ok, value: build name }
//           { id, op: 'load', slot, bytes, what }           -> { id, ok }          (bytes: a saved index or quantizer)
//           { id, op: 'search', slot, q, k, options }       -> { id, ok, value: { ids, distances } }
//           { id, op: 'encode', slot, q }                   -> { id, ok, value: Uint8Array codes }  (q: the vectors)
//           { id, op: 'drop', slot }                        -> { id, ok }
// Failures  { id, ok: false, error: { code, message } }      (a VQError's code, or INTERNAL for anything else)
import { VQError } from '../errors.js';
import { loadIndex, loadQuantizer, type AnyIndex, type AnyQuantizer } from '../io/loadIndex.js';
import { init, type Build } from '../wasm/engine.js';

export interface WorkerRequest {
  id: number;
  op: 'init' | 'load' | 'search' | 'encode' | 'drop';
  what?: 'index' | 'quantizer';
  build?: Build | 'auto';
  slot?: number;
  bytes?: Uint8Array;
  q?: Float32Array;
  k?: number;
  options?: Record<string, unknown>;
}

export interface WorkerReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { code: string; message: string };
}

type Post = (msg: WorkerReply, transfer?: ArrayBuffer[]) => void;

const slots = new Map<number, AnyIndex | AnyQuantizer>();

async function handle(req: WorkerRequest, post: Post): Promise<void> {
  try {
    switch (req.op) {
      case 'init': {
        const info = await init({ build: req.build ?? 'auto' });
        post({ id: req.id, ok: true, value: info.build });
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
        const r = (index as { search(q: Float32Array, k: number, o: Record<string, unknown>): { ids: Int32Array; distances: Float32Array } })
          .search(req.q!, req.k!, req.options ?? {});
        post({ id: req.id, ok: true, value: r }, [r.ids.buffer as ArrayBuffer, r.distances.buffer as ArrayBuffer]);
        return;
      }
      case 'encode': {
        const quantizer = slots.get(req.slot!);
        if (!quantizer) throw new VQError('DISPOSED', `WorkerPool.encode: the shared quantizer was released (got slot ${req.slot}, expected a live one)`);
        const codes = (quantizer as AnyQuantizer).encode(req.q!);
        post({ id: req.id, ok: true, value: codes }, [codes.buffer as ArrayBuffer]);
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
