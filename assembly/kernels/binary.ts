// Hamming distances between binary codes (BinaryQuantizer / BinaryIndex).
//
// Codes: u8[n][codeSize], codeSize = ceil(d / 8), bit j of a vector in byte j >> 3 at bit j & 7 (LSB first); unused
// high bits of the last byte are 0 in every code, so they never count. The query code qPtr is u8[codeSize].
// Distance = popcount(code XOR query): 16-byte blocks with i8x16.popcnt, the per-byte counts added in u8 lanes for up
// to 31 blocks (8 x 31 = 248 < 256), then widened pairwise into u16 lanes (each lane grows by at most 16 a block: no
// overflow below 4096 blocks, i.e. codeSize < 65536, d < 2^19); then one 8-byte step with i64 popcnt and a byte tail.
// Codes shorter than 16 bytes skip the vector part altogether (its reduction would cost more than the scalar path).
import { heapPush } from './topk';

@inline function hamming(a: usize, q: usize, codeSize: u32): u32 {
  let s: u32 = 0;
  let i: u32 = 0;
  const c16 = codeSize & ~15;
  if (c16 != 0) {
    // per-byte counts (at most 8 a block) add up in u8 lanes for 31 blocks, then widen into the u16 total
    let acc = i16x8.splat(0);
    while (i < c16) {
      let bytes = i8x16.splat(0);
      const end = min(c16, i + 31 * 16);
      for (; i < end; i += 16) bytes = i8x16.add(bytes, i8x16.popcnt(v128.xor(v128.load(a + i), v128.load(q + i))));
      acc = i16x8.add(acc, i16x8.extadd_pairwise_i8x16_u(bytes));
    }
    const w = i32x4.extadd_pairwise_i16x8_u(acc);
    s = <u32>(i32x4.extract_lane(w, 0) + i32x4.extract_lane(w, 1) + i32x4.extract_lane(w, 2) + i32x4.extract_lane(w, 3));
  }
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

/**
 * hammingScan for four queries a pass over the codes: query codes u8[4][codeSize] at q4Ptr, heaps f32 / i32 [4][k] at
 * (hd, hi). Each code is loaded once for the four (an 8-byte code, 57 <= d <= 64, is one i64 against four i64 locals);
 * the same heap contents as four hammingScan calls.
 */
export function hammingScan4(codesPtr: usize, n: u32, codeSize: u32, q4Ptr: usize, k: u32, hd: usize, hi: usize, idBase: i32): void {
  const hs = <usize>k << 2;
  const cs = <usize>codeSize;
  if (codeSize == 8) {
    const q0 = load<i64>(q4Ptr);
    const q1 = load<i64>(q4Ptr + 8);
    const q2 = load<i64>(q4Ptr + 16);
    const q3 = load<i64>(q4Ptr + 24);
    for (let r: u32 = 0; r < n; r++) {
      const c = load<i64>(codesPtr + (<usize>r << 3));
      const id = idBase + <i32>r;
      heapPush(hd, hi, k, <f32>popcnt<i64>(c ^ q0), id);
      heapPush(hd + hs, hi + hs, k, <f32>popcnt<i64>(c ^ q1), id);
      heapPush(hd + 2 * hs, hi + 2 * hs, k, <f32>popcnt<i64>(c ^ q2), id);
      heapPush(hd + 3 * hs, hi + 3 * hs, k, <f32>popcnt<i64>(c ^ q3), id);
    }
    return;
  }
  for (let r: u32 = 0; r < n; r++) {
    const a = codesPtr + <usize>r * cs;
    const id = idBase + <i32>r;
    heapPush(hd, hi, k, <f32>hamming(a, q4Ptr, codeSize), id);
    heapPush(hd + hs, hi + hs, k, <f32>hamming(a, q4Ptr + cs, codeSize), id);
    heapPush(hd + 2 * hs, hi + 2 * hs, k, <f32>hamming(a, q4Ptr + 2 * cs, codeSize), id);
    heapPush(hd + 3 * hs, hi + 3 * hs, k, <f32>hamming(a, q4Ptr + 3 * cs, codeSize), id);
  }
}
