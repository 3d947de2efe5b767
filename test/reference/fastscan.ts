// Reference for assembly/kernels/fastscan.ts: the block layout, table quantization and 4-bit ADC over quantized
// tables, as plain loops over typed arrays (layouts in the header of the kernel file):
//   codes:  u8[n][m] unpacked (values < 16)
//   blocks: u8[ceil(n / 32)][m][16]; row r, sub-quantizer j: byte ((r >> 5) * m + j) * 16 + (r & 15),
//           low nibble when (r & 31) < 16, else high nibble
//   tables: f32[m][16] -> lut u8[m][16] with (invScale, bias); distance = f32(sum) * invScale + bias
import { heapPush } from './topk.js';

const f32 = Math.fround;

export function blockBytes(n: number, m: number): number {
  return Math.ceil(n / 32) * m * 16;
}

/** Blocks holding rows 0 .. n - 1 of codes (unused nibbles 0). */
export function packBlocks(codes: Uint8Array, n: number, m: number): Uint8Array {
  const out = new Uint8Array(blockBytes(n, m));
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < m; j++) {
      const at = (Math.floor(r / 32) * m + j) * 16 + (r % 16);
      const c = codes[r * m + j] & 15;
      out[at] |= r % 32 < 16 ? c : c << 4;
    }
  }
  return out;
}

/** Code j of row r of the blocks. */
export function codeAt(blocks: Uint8Array, m: number, r: number, j: number): number {
  const byte = blocks[(Math.floor(r / 32) * m + j) * 16 + (r % 16)];
  return r % 32 < 16 ? byte & 15 : byte >> 4;
}

export interface Quantized {
  lut: Uint8Array;
  invScale: number;
  bias: number;
}

/** Quantizes one table f32[m][16] as fsQuantize does, every step rounded to float32. */
export function quantizeTable(t: Float32Array, m: number): Quantized {
  const qmax = m <= 257 ? 255 : Math.floor(65535 / m);
  const mins = new Float32Array(m);
  let span = 0;
  let bias = 0;
  for (let j = 0; j < m; j++) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let c = 0; c < 16; c++) {
      mn = Math.min(mn, t[j * 16 + c]);
      mx = Math.max(mx, t[j * 16 + c]);
    }
    // a zero minimum or maximum counts as +0 (the kernel's order-independent choice)
    mn += 0;
    mx += 0;
    mins[j] = mn;
    bias = f32(bias + mn);
    if (f32(mx - mn) > span) span = f32(mx - mn);
  }
  const a = span > 0 ? f32(qmax / span) : 0;
  const lut = new Uint8Array(m * 16);
  for (let j = 0; j < m; j++) {
    for (let c = 0; c < 16; c++) {
      const v = Math.floor(f32(f32(f32(t[j * 16 + c] - mins[j]) * a) + 0.5));
      lut[j * 16 + c] = Math.min(v, qmax);
    }
  }
  return { lut, invScale: span > 0 ? f32(span / qmax) : 0, bias };
}

/** Integer sum of the quantized table over the codes of row r. */
export function quantizedSum(blocks: Uint8Array, m: number, lut: Uint8Array, r: number): number {
  let s = 0;
  for (let j = 0; j < m; j++) s += lut[j * 16 + codeAt(blocks, m, r, j)];
  return s;
}

export function quantizedDistance(sum: number, q: Quantized): number {
  return f32(f32(sum * q.invScale) + q.bias);
}

/** fsScan into a reference heap row (descending; see topk.ts): every row offered, ids from positions or idBase + row. */
export function scan(
  blocks: Uint8Array, n: number, m: number, q: Quantized, k: number, dist: Float32Array, ids: Int32Array,
  positions: Int32Array | null, idBase: number,
): void {
  for (let r = 0; r < n; r++) {
    const d = quantizedDistance(quantizedSum(blocks, m, q.lut, r), q);
    heapPush(dist, ids, k, d, positions ? positions[r] : idBase + r);
  }
}
