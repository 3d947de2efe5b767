// Views of this thread's indexes and quantizers for the workers of a shared-memory pool (the threads build: every
// worker's engine runs on this thread's WebAssembly.Memory). Instead of a copy through save() / load(), a worker gets
// the object's JS fields (sizes, pointers into the shared memory, id maps) and rebuilds the same object around them:
// searches there read the very buffers this thread owns. Nothing is copied but the small JS state.
//
// snapshot(obj) walks the object graph into structured-clonable data:
//   primitives, typed arrays     as they are
//   the Engine                   { $t: 'eng' }             (the worker puts its own engine there)
//   a function (a callback)      { $t: 'fn' }              (a view cannot allocate persistent buffers: it throws)
//   an instance of a class below { $t: 'cls', c, id, v }   (fields by name; c names the class in CLASSES)
//   a plain object / Map / Set   { $t: 'obj' | 'map' | 'set', id, v }
//   an object seen before        { $t: 'ref', id }         (cycles and sharing: an index and its store)
// and lists every Owned it met, for the caller to pin() while workers hold views. revive() is the inverse, in a worker;
// each Owned it rebuilds is Owned.borrowed: disposing the view frees only what the view allocated in its arena.
import { VQError } from '../errors.js';
import { BinaryQuantizer } from '../quantizers/BinaryQuantizer.js';
import { OPQ } from '../quantizers/OPQ.js';
import { ProductQuantizer } from '../quantizers/ProductQuantizer.js';
import { ResidualQuantizer } from '../quantizers/ResidualQuantizer.js';
import { ScalarQuantizer } from '../quantizers/ScalarQuantizer.js';
import { BinaryIndex } from '../search/BinaryIndex.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { IVFFlatIndex } from '../search/IVFFlatIndex.js';
import { IVFPQIndex, IVFPQTrained } from '../search/IVFPQIndex.js';
import { PQIndex } from '../search/PQIndex.js';
import { RQIndex } from '../search/RQIndex.js';
import { SQIndex } from '../search/SQIndex.js';
import { NextId } from '../search/addBatch.js';
import { FlatStore } from '../search/store.js';
import { KMeans } from '../training/KMeans.js';
import { Rng } from '../util/rng.js';
import { Engine } from '../wasm/engine.js';
import { Owned } from '../wasm/owned.js';

/** Every class a view can contain, by a name that survives minification. */
const CLASSES: Record<string, { prototype: object }> = {
  FlatIndex, PQIndex, IVFPQIndex, IVFFlatIndex, RQIndex, SQIndex, BinaryIndex,
  ProductQuantizer, OPQ, ResidualQuantizer, ScalarQuantizer, BinaryQuantizer, KMeans,
  FlatStore, IVFPQTrained, Rng, NextId,
};
const NAMES = new Map<object, string>(Object.entries(CLASSES).map(([name, c]) => [c.prototype, name]));

export type Snapshot = unknown;

/**
 * Fields a view gets as null: caches that only calls a view never makes read (reconstruct's user id -> position map,
 * rebuilt on demand), which would otherwise be copied into the snapshot and compared on every pooled call (a map of
 * 300k ids made each pooled FlatIndex search 12x slower after one reconstruct).
 */
const LEFT_OUT = new Set(['idMap']);

export function snapshot(root: object): { snap: Snapshot; owned: Owned[] } {
  const seen = new Map<object, number>();
  const owned: Owned[] = [];
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') {
      return typeof v === 'function' ? { $t: 'fn' } : v;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
    if (v instanceof Engine) return { $t: 'eng' };
    const prior = seen.get(v);
    if (prior !== undefined) return { $t: 'ref', id: prior };
    const id = seen.size;
    seen.set(v, id);
    if (Array.isArray(v)) return { $t: 'arr', id, v: v.map(walk) };
    if (v instanceof Map) return { $t: 'map', id, v: [...v].map(([a, b]) => [walk(a), walk(b)]) };
    if (v instanceof Set) return { $t: 'set', id, v: [...v].map(walk) };
    const proto = Object.getPrototypeOf(v);
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(v)) fields[key] = LEFT_OUT.has(key) ? null : walk((v as Record<string, unknown>)[key]);
    if (proto === Object.prototype || proto === null) return { $t: 'obj', id, v: fields };
    const name = NAMES.get(proto);
    if (name === undefined) {
      throw new VQError('INVALID_TYPE', `WorkerPool: cannot share a ${proto?.constructor?.name ?? 'value'} with a shared-memory worker (got an object of a class vqwasm has no view of, expected a vqwasm index or quantizer: ${Object.keys(CLASSES).join(', ')})`);
    }
    if (v instanceof Owned) owned.push(v);
    return { $t: 'cls', c: name, id, v: fields };
  };
  return { snap: walk(root), owned };
}

function cannotAllocate(): never {
  throw new VQError('INVALID_OPTION', "WorkerPool: a shared index's worker view cannot change the index (got a call that grows or retrains it, expected searches only: add to the index on the main thread)");
}

export function revive(snap: Snapshot, eng: Engine): unknown {
  const made = new Map<number, unknown>();
  const walk = (s: unknown): unknown => {
    if (s === null || typeof s !== 'object' || ArrayBuffer.isView(s) || s instanceof ArrayBuffer) return s;
    const t = s as { $t: string; id: number; c?: string; v: unknown };
    switch (t.$t) {
      case 'eng':
        return eng;
      case 'fn':
        return cannotAllocate;
      case 'ref':
        return made.get(t.id);
      case 'arr': {
        const out: unknown[] = [];
        made.set(t.id, out);
        for (const e of t.v as unknown[]) out.push(walk(e));
        return out;
      }
      case 'map': {
        const out = new Map();
        made.set(t.id, out);
        for (const [a, b] of t.v as [unknown, unknown][]) out.set(walk(a), walk(b));
        return out;
      }
      case 'set': {
        const out = new Set();
        made.set(t.id, out);
        for (const e of t.v as unknown[]) out.add(walk(e));
        return out;
      }
      default: {
        // filled as a plain object, then given its class: V8 turns an Object.create(prototype) object into a
        // dictionary (hash-table properties) after about 20 properties set by key, and a worker then ran an IVF-PQ
        // view's (31 fields) per-list JS with generic property loads and its small methods not inlined (a plain
        // object keeps fast properties, and so does setPrototypeOf on it)
        const out: Record<string, unknown> = {};
        made.set(t.id, out);
        for (const [key, val] of Object.entries(t.v as Record<string, unknown>)) out[key] = walk(val);
        if (t.$t !== 'obj') Object.setPrototypeOf(out, CLASSES[t.c!].prototype);
        if (out instanceof Owned) Owned.borrowed(out, eng);
        return out;
      }
    }
  };
  return walk(snap);
}

/** Whether two snapshots hold the same state (typed arrays by contents): then the workers' views are still current. */
export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor || a.byteLength !== b.byteLength) return false;
    // by 32-bit words where both are aligned (bit patterns: NaN payloads and -0 count as changes, which is safe)
    const w = a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && a.byteLength % 4 === 0;
    const view = (v: ArrayBufferView): Uint32Array | Uint8Array =>
      w ? new Uint32Array(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength / 4) : new Uint8Array(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength);
    const x = view(a);
    const y = view(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    // by index: Object.keys would make a string per element (an IVF-PQ index holds arrays of nlist numbers, and
    // keying them cost most of the compare's 0.26 ms at nlist = 1024); a hole reads as undefined on both sides, as
    // the views would read it
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameSnapshot(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !sameSnapshot((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
