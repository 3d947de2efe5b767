// 4-bit fast-scan storage shared by PQIndex and IVFPQIndex: codes held in the block layout of
// assembly/kernels/fastscan.ts (32 vectors per block, u8[m][16] each), converted from and to the standard packed
// codes (u8[n][codeSize], as ProductQuantizer encodes them and as saved files hold them) through the engine's
// scratch block in bounded chunks.
import type { Engine } from '../wasm/engine.js';

/** Vectors per block of the fast-scan layout. */
export const FS_BLOCK = 32;
// rows converted per scratch round trip
const CHUNK = 8192;

/**
 * Inner product tables are quantized Faiss's way up to this m (IndexPQFastScan: the entries of <q, c> from each row's
 * minimum, then complemented); beyond it, 255 m would not fit the u16 sums and the negated table is quantized as it is.
 */
export const FS_FAISS_IP_MAX_M = 257;

/**
 * Quantizes c query tables f32[c][m][16] at tp into lut u8[c][m][16] (fsQuantize) and returns each query's
 * (inv, bias): distance = (sum of entries) * inv + bias. `positiveIp`: tp holds +<q, c> (inner product, m <=
 * FS_FAISS_IP_MAX_M): the entries are then complemented (255 - e) and the bias moved to match, so that the smallest
 * sums are the largest inner products and the distance is -<q, x> (the heaps keep the smallest): the integer sums, and
 * so the ranking, are Faiss IndexPQFastScan's. Otherwise tp holds what is to be minimized (squared distances, or
 * negated inner products).
 */
export function fsTables(eng: Engine, tp: number, c: number, m: number, lut: number, par: number, positiveIp: boolean): Float32Array {
  eng.abi.fsQuantize(tp, c, m, lut, par);
  const params = eng.f32(par, 2 * c).slice();
  if (positiveIp) {
    const e = eng.u8(lut, c * m * 16);
    for (let i = 0; i < e.length; i++) e[i] = 255 - e[i];
    for (let i = 0; i < c; i++) params[2 * i + 1] = Math.fround(-(255 * m * params[2 * i] + params[2 * i + 1]));
  }
  return params;
}

/** Bytes of blocks holding n vectors of m 4-bit codes. */
export function fsBytes(n: number, m: number): number {
  return Math.ceil(n / FS_BLOCK) * m * 16;
}

/** Writes n packed 4-bit codes (u8[n][codeSize]) into the blocks at rows row0 .. row0 + n - 1. */
export function fsWrite(eng: Engine, packed: Uint8Array, n: number, m: number, blocksPtr: number, row0: number, where: string): void {
  const cs = Math.ceil(m / 2);
  for (let i0 = 0; i0 < n; i0 += CHUNK) {
    const c = Math.min(CHUNK, n - i0);
    const [pp, up] = eng.scratch([c * cs, c * m], where);
    eng.u8(pp, c * cs).set(packed.subarray(i0 * cs, (i0 + c) * cs));
    eng.abi.pqUnpack(pp, c, m, 4, up);
    eng.abi.fsPack(up, c, m, blocksPtr, row0 + i0);
  }
}

/** The packed 4-bit codes (u8[n][codeSize]) of rows row0 .. row0 + n - 1 of the blocks. */
export function fsRead(eng: Engine, blocksPtr: number, m: number, row0: number, n: number, where: string): Uint8Array {
  const cs = Math.ceil(m / 2);
  const out = new Uint8Array(n * cs);
  for (let i0 = 0; i0 < n; i0 += CHUNK) {
    const c = Math.min(CHUNK, n - i0);
    const [up, pp] = eng.scratch([c * m, c * cs], where);
    eng.abi.fsUnpack(blocksPtr, m, row0 + i0, c, up);
    eng.abi.pqPack(up, c, m, 4, pp);
    out.set(eng.u8(pp, c * cs), i0 * cs);
  }
  return out;
}

/** The packed 4-bit codes of single rows: `at(i)` gives (blocksPtr, row) of the i-th of count. */
export function fsReadRows(eng: Engine, m: number, count: number, at: (i: number) => [number, number], where: string): Uint8Array {
  const cs = Math.ceil(m / 2);
  const out = new Uint8Array(count * cs);
  for (let i0 = 0; i0 < count; i0 += CHUNK) {
    const c = Math.min(CHUNK, count - i0);
    const [up, pp] = eng.scratch([c * m, c * cs], where);
    for (let i = 0; i < c; i++) {
      const [ptr, row] = at(i0 + i);
      eng.abi.fsUnpack(ptr, m, row, 1, up + i * m);
    }
    eng.abi.pqPack(up, c, m, 4, pp);
    out.set(eng.u8(pp, c * cs), i0 * cs);
  }
  return out;
}
