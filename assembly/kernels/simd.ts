// Shared SIMD helpers. ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build keeps one branch only:
// the relaxed build fuses multiply-add (one rounding), the plain build multiplies then adds (two roundings).

@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** (l0 + l1) + (l2 + l3): the one summation order the TS references copy. */
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}
