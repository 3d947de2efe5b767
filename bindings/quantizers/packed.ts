// Shared by the quantizers whose codes are m fields of nbits packed LSB-first (ProductQuantizer, ResidualQuantizer):
// the check of a codes argument and chunked decoding through the engine's scratch block.
import { fail, raw } from '../errors.js';
import { chunkRows } from '../search/scan.js';
import type { Engine } from '../wasm/engine.js';

/** Refuses anything but a Uint8Array of whole codes; returns the number of codes. */
export function checkCodes(where: string, codes: unknown, codeSize: number): number {
  if (!(codes instanceof Uint8Array)) fail('INVALID_TYPE', where, 'codes must be a Uint8Array', codes, `a Uint8Array of n * ${codeSize} bytes`);
  if (codes.length % codeSize !== 0) fail('INVALID_SIZE', where, `codes.length must be a multiple of codeSize = ${codeSize}`, raw(`length ${codes.length}`), `n * ${codeSize}`);
  return codes.length / codeSize;
}

/**
 * Reconstructions f32[n][d] of n packed codes: each chunk is copied into scratch, unpacked to u8[c][m] (pqUnpack) and
 * handed to `decodeUnpacked(unpackedPtr, c, outPtr)`, which writes f32[c][d] at outPtr.
 */
export function decodePacked(
  eng: Engine, where: string, codes: Uint8Array, n: number, m: number, nbits: number, d: number,
  decodeUnpacked: (unpackedPtr: number, c: number, outPtr: number) => void,
): Float32Array {
  const codeSize = Math.ceil((m * nbits) / 8);
  const out = new Float32Array(n * d);
  const rows = chunkRows(d * 4 + m + codeSize, n);
  for (let i0 = 0; i0 < n; i0 += rows) {
    const c = Math.min(rows, n - i0);
    const [pp, up, op] = eng.scratch([c * codeSize, c * m, c * d * 4], where);
    eng.u8(pp, c * codeSize).set(codes.subarray(i0 * codeSize, (i0 + c) * codeSize));
    eng.abi.pqUnpack(pp, c, m, nbits, up);
    decodeUnpacked(up, c, op);
    out.set(eng.f32(op, c * d), i0 * d);
  }
  return out;
}
