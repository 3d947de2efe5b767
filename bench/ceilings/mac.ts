// Peak multiply-add rates for bench/ceilings.js: six independent accumulator chains whose operands stay in
// registers (no loads, no stores but the result), so that nothing but the arithmetic bounds them (eight chains made
// V8 spill accumulators to the stack: 39 G/s against 65 G/s for dotI16; four gave 58 G/s). Each function:
// (trips, p) -> a lane of the sums; p points at 64 bytes of operands. Products per trip: dotI16 6 x 8 (i16 pairs
// into i32 lanes, what FlatIndex's integer prefilter runs on), dotI8 6 x 16 (relaxed builds only; 0 otherwise).

@inline function reduce(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128): v128 {
  return i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(a4, a5));
}

export function dotI16(trips: u32, p: usize): i32 {
  const x = v128.load(p), y = v128.load(p, 16), z = v128.load(p, 32);
  let a0 = v128.load(p, 48), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (let i: u32 = 0; i < trips; i++) {
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, y)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x, z));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(y, z)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(x, x));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(y, y)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(z, z));
  }
  return i32x4.extract_lane(reduce(a0, a1, a2, a3, a4, a5), 0);
}

export function dotI8(trips: u32, p: usize): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const x = v128.load(p), y = v128.load(p, 16), z = v128.load(p, 32);
  let a0 = v128.load(p, 48), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (let i: u32 = 0; i < trips; i++) {
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, a0); a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, z, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y, z, a2); a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(z, y, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y, y, a4); a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(z, z, a5);
  }
  return i32x4.extract_lane(reduce(a0, a1, a2, a3, a4, a5), 0);
}
