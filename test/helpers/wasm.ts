// Shared by the kernel suites (kernels.test.ts, pq-kernels.test.ts): every build this runtime can execute, a wasm
// memory helper with guard zones, and array comparisons that describe their first mismatch.
import { expect } from 'vitest';
import { init } from '../../dist/index.js';
import { Engine, engine, loadEngine, type Build } from '../../dist/wasm/engine.js';

/** The default build (after init()), plus the other one where this runtime supports it (plain SIMD always). */
/**
 * Every build this runtime runs: plain SIMD, relaxed SIMD where supported, and the threads build of each (the same
 * kernels over a shared memory; only their scratch placement differs, see assembly/memory.ts).
 */
export async function loadBuilds(where: string): Promise<{ name: Build | 'threads' | 'threads-relaxed'; eng: Engine }[]> {
  const initInfo = await init();
  const builds: { name: Build | 'threads' | 'threads-relaxed'; eng: Engine }[] = [{ name: initInfo.build, eng: engine(where) }];
  for (const other of ['simd', 'relaxed'] as const) {
    if (other === 'relaxed' && !initInfo.relaxedSimdSupported) continue;
    if (other !== initInfo.build) {
      const { exports, info } = await loadEngine({ build: other });
      builds.push({ name: info.build, eng: new Engine(exports, info) });
    }
    const t = await loadEngine({ build: other, threads: true });
    builds.push({ name: other === 'simd' ? 'threads' : 'threads-relaxed', eng: new Engine(t.exports, t.info, t.shared) });
  }
  return builds;
}

const GUARD_BYTES = 64;
const GUARD_BYTE = 0xa5;

/** Typed arrays in and out of wasm memory, each buffer followed by a guard zone; freeAll() after each test. */
export class Mem {
  private blocks: { ptr: number; bytes: number }[] = [];
  constructor(readonly eng: Engine, private readonly where = 'kernel tests') {}

  /** A buffer of `bytes` (contents: 0x5a garbage) followed by a guard zone. */
  alloc(bytes: number): number {
    const ptr = this.eng.alloc(bytes + GUARD_BYTES, this.where);
    this.blocks.push({ ptr, bytes });
    const u8 = new Uint8Array(this.eng.abi.memory.buffer, ptr, bytes + GUARD_BYTES);
    u8.fill(0x5a, 0, bytes);
    u8.fill(GUARD_BYTE, bytes);
    return ptr;
  }

  put(a: Float32Array | Int32Array | Float64Array | Uint8Array): number {
    const ptr = this.alloc(Math.max(a.byteLength, 4));
    new Uint8Array(this.eng.abi.memory.buffer, ptr, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return ptr;
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.eng.abi.memory.buffer, ptr, n).slice();
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.eng.abi.memory.buffer, ptr, n).slice();
  }

  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.eng.abi.memory.buffer, ptr, n).slice();
  }

  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.eng.abi.memory.buffer, ptr, n).slice();
  }

  /** How many blocks were allocated so far: a mark for brokenGuards. */
  get count(): number {
    return this.blocks.length;
  }

  /** Blocks (the `from`-th allocated and later) whose guard zone was written to. */
  brokenGuards(from = 0): number[] {
    const bad: number[] = [];
    for (const b of this.blocks.slice(from)) {
      const g = new Uint8Array(this.eng.abi.memory.buffer, b.ptr + b.bytes, GUARD_BYTES);
      if (g.some((v) => v !== GUARD_BYTE)) bad.push(b.ptr);
    }
    return bad;
  }

  freeAll(): void {
    for (const b of this.blocks) expect(this.eng.abi.free(b.ptr)).toBe(0);
    this.blocks = [];
  }
}

// Comparisons. Both return a description of the first mismatch, or null: `expect(...).toBeNull()` then prints it.

export type Num = ArrayLike<number>;

/** Bit-exact agreement (Object.is per element: NaN equals NaN, -0 differs from +0). */
export function exactMismatch(got: Num, want: Num, what = 'value'): string | null {
  if (got.length !== want.length) return `${what}: length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) return `${what}[${i}] = ${got[i]}, expected ${want[i]}`;
  }
  return null;
}

/** |got - want| <= tol * scale[i] + 1e-30 per element (infinities must match exactly). */
export function tolMismatch(got: Num, want: Num, scale: Num, what: string, tol = 1e-5): string | null {
  if (got.length !== want.length) return `${what}: length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(want[i]) || !Number.isFinite(got[i])) {
      if (!Object.is(got[i], want[i])) return `${what}[${i}] = ${got[i]}, expected ${want[i]}`;
      continue;
    }
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * scale[i] + 1e-30)) return `${what}[${i}] = ${got[i]}, expected ${want[i]} (error ${err}, allowed ${tol * scale[i]})`;
  }
  return null;
}
