// Hamming distances between binary codes (BinaryQuantizer / BinaryIndex).
//
// Codes: u8[n][codeSize], codeSize = ceil(d / 8), bit j of a vector in byte j >> 3 at bit j & 7 (LSB first); unused
// high bits of the last byte are 0 in every code, so they never count. The query code qPtr is u8[codeSize].
// Distance = popcount(code XOR query): 16-byte blocks with i8x16.popcnt, widened pairwise to i32 lanes and
// accumulated (a lane grows by at most 32 per block, so no overflow below 2^26 blocks), then an 8-byte and a byte
// tail with scalar popcnt.
import { heapPush } from './topk';

@inline function hamming(a: usize, q: usize, codeSize: u32): u32 {
  let acc = i32x4.splat(0);
  let i: u32 = 0;
  const c16 = codeSize & ~15;
  for (; i < c16; i += 16) {
    const x = v128.xor(v128.load(a + i), v128.load(q + i));
    acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(x))));
  }
  let s: u32 = <u32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  if (i + 8 <= codeSize) {
    s += <u32>popcnt<i64>(load<i64>(a + i) ^ load<i64>(q + i));
    i += 8;
  }
  for (; i < codeSize; i++) s += <u32>popcnt<i32>(<i32>(load<u8>(a + i) ^ load<u8>(q + i)));
  return s;
}

/** out i32[n]: the Hamming distance of each code to the query code. */
export function hammingDistances(codesPtr: usize, n: u32, codeSize: u32, qPtr: usize, outPtr: usize): void {
  for (let r: u32 = 0; r < n; r++) {
    store<i32>(outPtr + (<usize>r << 2), <i32>hamming(codesPtr + <usize>r * codeSize, qPtr, codeSize));
  }
}

/** Offers (Hamming distance as f32, idBase + r) of every code r to the heap (hd, hi) of size k (assembly/kernels/topk.ts). */
export function hammingScan(codesPtr: usize, n: u32, codeSize: u32, qPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32): void {
  for (let r: u32 = 0; r < n; r++) {
    const h = hamming(codesPtr + <usize>r * codeSize, qPtr, codeSize);
    heapPush(hd, hi, k, <f32>h, idBase + <i32>r);
  }
}
