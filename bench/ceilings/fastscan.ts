// Fast-scan accumulation loops for bench/ceilings.js: how many codes a second V8 runs the block loop of
// assembly/kernels/fastscan.ts at, and at which the leaner variants one could ship instead would run. Bare loops: the
// codes' 32-vector blocks (layout in fastscan.ts), m sub-quantizers, the u16 sums of every slot, then only a count of
// the slots under a threshold (no heap, no tables made, no ids), so each figure is a ceiling for a full scan built
// the same way. Every function: (codes, nblocks, m, lut0, lut1, thr) -> number of (slot, query) sums <= thr; lut0 and
// lut1 are u8[m][16] tables of two queries (the one-query loops read lut0 only). A variant that sums tables as u8
// before widening needs entries <= 127 (pairs) or <= 63 (quads); the bench fills every table with 0..63 so that all of
// them count the same slots.
//
// The loops are written out one by one on purpose: one constant-folded template for all of them ran the shipped loop
// 25 % slower (V8 allocated its registers differently), which would have measured the template, not the loops.

@inline function lookup(t: v128, i: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(t, i);
  return i8x16.swizzle(t, i);
}

// slots whose sum is <= thr, from the four u16x8 sums of a block (even / odd slots of each half)
@inline function under(e0: v128, o0: v128, e1: v128, o1: v128, thr: v128): u32 {
  return popcnt<u32>(<u32>i16x8.bitmask(i16x8.le_u(e0, thr)) | (<u32>i16x8.bitmask(i16x8.le_u(o0, thr)) << 8) |
    (<u32>i16x8.bitmask(i16x8.le_u(e1, thr)) << 16) | (<u32>i16x8.bitmask(i16x8.le_u(o1, thr)) << 24));
}

// a = sum of the looked-up bytes read as u16 (even + 256 odd), b = sum of the odd bytes: even = a - (b << 8)
@inline function underAB(aLo: v128, bLo: v128, aHi: v128, bHi: v128, thr: v128): u32 {
  return under(i16x8.sub(aLo, i16x8.shl(bLo, 8)), bLo, i16x8.sub(aHi, i16x8.shl(bHi, 8)), bHi, thr);
}

// a as above, p = sum of (even + odd) pairs: odd = (p - a) * 257 and even = p - odd, modulo 2^16 (255 * 257 = 1 - 2^16)
@inline function underAP(aLo: v128, pLo: v128, aHi: v128, pHi: v128, thr: v128): u32 {
  const dl = i16x8.sub(pLo, aLo), dh = i16x8.sub(pHi, aHi);
  const ol = i16x8.add(dl, i16x8.shl(dl, 8)), oh = i16x8.add(dh, i16x8.shl(dh, 8));
  return under(i16x8.sub(pLo, ol), ol, i16x8.sub(pHi, oh), oh, thr);
}

/** fsScan2's loop as shipped: two queries a pass, one sub-quantizer a trip, 8-bit tables. */
export function twoShipped(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), bLo0 = aLo0, aHi0 = aLo0, bHi0 = aLo0, aLo1 = aLo0, bLo1 = aLo0, aHi1 = aLo0, bHi1 = aLo0;
    for (let j: u32 = 0; j < m; j++) {
      const c = v128.load(code), lo = v128.and(c, low), hi = v128.and(i16x8.shr_u(c, 4), low);
      const t0 = v128.load(t0p), r0 = lookup(t0, lo), s0 = lookup(t0, hi);
      aLo0 = i16x8.add(aLo0, r0); bLo0 = i16x8.add(bLo0, i16x8.shr_u(r0, 8));
      aHi0 = i16x8.add(aHi0, s0); bHi0 = i16x8.add(bHi0, i16x8.shr_u(s0, 8));
      const t1 = v128.load(t1p), r1 = lookup(t1, lo), s1 = lookup(t1, hi);
      aLo1 = i16x8.add(aLo1, r1); bLo1 = i16x8.add(bLo1, i16x8.shr_u(r1, 8));
      aHi1 = i16x8.add(aHi1, s1); bHi1 = i16x8.add(bHi1, i16x8.shr_u(s1, 8));
      code += 16; t0p += 16; t1p += 16;
    }
    total += underAB(aLo0, bLo0, aHi0, bHi0, T) + underAB(aLo1, bLo1, aHi1, bHi1, T);
  }
  return total;
}

/** As shipped, two sub-quantizers a trip (the loop unrolled by hand). */
export function twoUnrolled(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), bLo0 = aLo0, aHi0 = aLo0, bHi0 = aLo0, aLo1 = aLo0, bLo1 = aLo0, aHi1 = aLo0, bHi1 = aLo0;
    for (let j: u32 = 0; j < m; j += 2) {
      for (let u: usize = 0; u < 32; u += 16) {
        const c = v128.load(code + u), lo = v128.and(c, low), hi = v128.and(i16x8.shr_u(c, 4), low);
        const t0 = v128.load(t0p + u), r0 = lookup(t0, lo), s0 = lookup(t0, hi);
        aLo0 = i16x8.add(aLo0, r0); bLo0 = i16x8.add(bLo0, i16x8.shr_u(r0, 8));
        aHi0 = i16x8.add(aHi0, s0); bHi0 = i16x8.add(bHi0, i16x8.shr_u(s0, 8));
        const t1 = v128.load(t1p + u), r1 = lookup(t1, lo), s1 = lookup(t1, hi);
        aLo1 = i16x8.add(aLo1, r1); bLo1 = i16x8.add(bLo1, i16x8.shr_u(r1, 8));
        aHi1 = i16x8.add(aHi1, s1); bHi1 = i16x8.add(bHi1, i16x8.shr_u(s1, 8));
      }
      code += 32; t0p += 32; t1p += 32;
    }
    total += underAB(aLo0, bLo0, aHi0, bHi0, T) + underAB(aLo1, bLo1, aHi1, bHi1, T);
  }
  return total;
}

/** As shipped, the odd bytes summed through pairs (extadd_pairwise: a multiply port on x64) instead of shifts. */
export function twoPairwise(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), pLo0 = aLo0, aHi0 = aLo0, pHi0 = aLo0, aLo1 = aLo0, pLo1 = aLo0, aHi1 = aLo0, pHi1 = aLo0;
    for (let j: u32 = 0; j < m; j++) {
      const c = v128.load(code), lo = v128.and(c, low), hi = v128.and(i16x8.shr_u(c, 4), low);
      const t0 = v128.load(t0p), r0 = lookup(t0, lo), s0 = lookup(t0, hi);
      aLo0 = i16x8.add(aLo0, r0); pLo0 = i16x8.add(pLo0, i16x8.extadd_pairwise_i8x16_u(r0));
      aHi0 = i16x8.add(aHi0, s0); pHi0 = i16x8.add(pHi0, i16x8.extadd_pairwise_i8x16_u(s0));
      const t1 = v128.load(t1p), r1 = lookup(t1, lo), s1 = lookup(t1, hi);
      aLo1 = i16x8.add(aLo1, r1); pLo1 = i16x8.add(pLo1, i16x8.extadd_pairwise_i8x16_u(r1));
      aHi1 = i16x8.add(aHi1, s1); pHi1 = i16x8.add(pHi1, i16x8.extadd_pairwise_i8x16_u(s1));
      code += 16; t0p += 16; t1p += 16;
    }
    total += underAP(aLo0, pLo0, aHi0, pHi0, T) + underAP(aLo1, pLo1, aHi1, pHi1, T);
  }
  return total;
}

/** Two queries, two sub-quantizers' lookups added as u8 before widening (tables <= 127: 7 bits). */
export function twoPairSums(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), bLo0 = aLo0, aHi0 = aLo0, bHi0 = aLo0, aLo1 = aLo0, bLo1 = aLo0, aHi1 = aLo0, bHi1 = aLo0;
    for (let j: u32 = 0; j < m; j += 2) {
      const c = v128.load(code), lo = v128.and(c, low), hi = v128.and(i16x8.shr_u(c, 4), low);
      const e = v128.load(code, 16), lo2 = v128.and(e, low), hi2 = v128.and(i16x8.shr_u(e, 4), low);
      const t0 = v128.load(t0p), u0 = v128.load(t0p, 16);
      const r0 = i8x16.add(lookup(t0, lo), lookup(u0, lo2)), s0 = i8x16.add(lookup(t0, hi), lookup(u0, hi2));
      aLo0 = i16x8.add(aLo0, r0); bLo0 = i16x8.add(bLo0, i16x8.shr_u(r0, 8));
      aHi0 = i16x8.add(aHi0, s0); bHi0 = i16x8.add(bHi0, i16x8.shr_u(s0, 8));
      const t1 = v128.load(t1p), u1 = v128.load(t1p, 16);
      const r1 = i8x16.add(lookup(t1, lo), lookup(u1, lo2)), s1 = i8x16.add(lookup(t1, hi), lookup(u1, hi2));
      aLo1 = i16x8.add(aLo1, r1); bLo1 = i16x8.add(bLo1, i16x8.shr_u(r1, 8));
      aHi1 = i16x8.add(aHi1, s1); bHi1 = i16x8.add(bHi1, i16x8.shr_u(s1, 8));
      code += 32; t0p += 32; t1p += 32;
    }
    total += underAB(aLo0, bLo0, aHi0, bHi0, T) + underAB(aLo1, bLo1, aHi1, bHi1, T);
  }
  return total;
}

/** Two queries, four sub-quantizers' lookups added as u8 before widening (tables <= 63: 6 bits). */
export function twoQuadSums(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), bLo0 = aLo0, aHi0 = aLo0, bHi0 = aLo0, aLo1 = aLo0, bLo1 = aLo0, aHi1 = aLo0, bHi1 = aLo0;
    for (let j: u32 = 0; j < m; j += 4) {
      const c0 = v128.load(code), c1 = v128.load(code, 16), c2 = v128.load(code, 32), c3 = v128.load(code, 48);
      const l0 = v128.and(c0, low), l1 = v128.and(c1, low), l2 = v128.and(c2, low), l3 = v128.and(c3, low);
      const h0 = v128.and(i16x8.shr_u(c0, 4), low), h1 = v128.and(i16x8.shr_u(c1, 4), low);
      const h2 = v128.and(i16x8.shr_u(c2, 4), low), h3 = v128.and(i16x8.shr_u(c3, 4), low);
      let t0 = v128.load(t0p), t1 = v128.load(t0p, 16), t2 = v128.load(t0p, 32), t3 = v128.load(t0p, 48);
      let r = i8x16.add(i8x16.add(lookup(t0, l0), lookup(t1, l1)), i8x16.add(lookup(t2, l2), lookup(t3, l3)));
      let s = i8x16.add(i8x16.add(lookup(t0, h0), lookup(t1, h1)), i8x16.add(lookup(t2, h2), lookup(t3, h3)));
      aLo0 = i16x8.add(aLo0, r); bLo0 = i16x8.add(bLo0, i16x8.shr_u(r, 8));
      aHi0 = i16x8.add(aHi0, s); bHi0 = i16x8.add(bHi0, i16x8.shr_u(s, 8));
      t0 = v128.load(t1p); t1 = v128.load(t1p, 16); t2 = v128.load(t1p, 32); t3 = v128.load(t1p, 48);
      r = i8x16.add(i8x16.add(lookup(t0, l0), lookup(t1, l1)), i8x16.add(lookup(t2, l2), lookup(t3, l3)));
      s = i8x16.add(i8x16.add(lookup(t0, h0), lookup(t1, h1)), i8x16.add(lookup(t2, h2), lookup(t3, h3)));
      aLo1 = i16x8.add(aLo1, r); bLo1 = i16x8.add(bLo1, i16x8.shr_u(r, 8));
      aHi1 = i16x8.add(aHi1, s); bHi1 = i16x8.add(bHi1, i16x8.shr_u(s, 8));
      code += 64; t0p += 64; t1p += 64;
    }
    total += underAB(aLo0, bLo0, aHi0, bHi0, T) + underAB(aLo1, bLo1, aHi1, bHi1, T);
  }
  return total;
}

/** fsScan's loop as shipped (accumulateBlock): one query, two sub-quantizers a trip added as u16, 8-bit tables. */
export function oneShipped(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), lut = lut0;
    let aLo = i16x8.splat(0), bLo = aLo, aHi = aLo, bHi = aLo;
    for (let j: u32 = 0; j < m; j += 2) {
      const c0 = v128.load(code), t0 = v128.load(lut), c1 = v128.load(code, 16), t1 = v128.load(lut, 16);
      const r0 = lookup(t0, v128.and(c0, low)), s0 = lookup(t0, v128.and(i16x8.shr_u(c0, 4), low));
      const r1 = lookup(t1, v128.and(c1, low)), s1 = lookup(t1, v128.and(i16x8.shr_u(c1, 4), low));
      aLo = i16x8.add(aLo, i16x8.add(r0, r1)); bLo = i16x8.add(bLo, i16x8.add(i16x8.shr_u(r0, 8), i16x8.shr_u(r1, 8)));
      aHi = i16x8.add(aHi, i16x8.add(s0, s1)); bHi = i16x8.add(bHi, i16x8.add(i16x8.shr_u(s0, 8), i16x8.shr_u(s1, 8)));
      code += 32; lut += 32;
    }
    total += underAB(aLo, bLo, aHi, bHi, T);
  }
  return total;
}

/** One query, two sub-quantizers' lookups added as u8 before widening (7-bit tables). */
export function onePairSums(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), lut = lut0;
    let aLo = i16x8.splat(0), bLo = aLo, aHi = aLo, bHi = aLo;
    for (let j: u32 = 0; j < m; j += 2) {
      const c0 = v128.load(code), t0 = v128.load(lut), c1 = v128.load(code, 16), t1 = v128.load(lut, 16);
      const r = i8x16.add(lookup(t0, v128.and(c0, low)), lookup(t1, v128.and(c1, low)));
      const s = i8x16.add(lookup(t0, v128.and(i16x8.shr_u(c0, 4), low)), lookup(t1, v128.and(i16x8.shr_u(c1, 4), low)));
      aLo = i16x8.add(aLo, r); bLo = i16x8.add(bLo, i16x8.shr_u(r, 8));
      aHi = i16x8.add(aHi, s); bHi = i16x8.add(bHi, i16x8.shr_u(s, 8));
      code += 32; lut += 32;
    }
    total += underAB(aLo, bLo, aHi, bHi, T);
  }
  return total;
}

/** One query, four sub-quantizers' lookups added as u8 before widening (6-bit tables). */
export function oneQuadSums(codes: usize, nb: u32, m: u32, lut0: usize, lut1: usize, thr: u32): u32 {
  const low = i8x16.splat(0x0f), T = i16x8.splat(<i16>thr);
  let total: u32 = 0;
  for (let b: u32 = 0; b < nb; b++) {
    let code = codes + (<usize>b * m << 4), lut = lut0;
    let aLo = i16x8.splat(0), bLo = aLo, aHi = aLo, bHi = aLo;
    for (let j: u32 = 0; j < m; j += 4) {
      const c0 = v128.load(code), c1 = v128.load(code, 16), c2 = v128.load(code, 32), c3 = v128.load(code, 48);
      const t0 = v128.load(lut), t1 = v128.load(lut, 16), t2 = v128.load(lut, 32), t3 = v128.load(lut, 48);
      const r = i8x16.add(i8x16.add(lookup(t0, v128.and(c0, low)), lookup(t1, v128.and(c1, low))),
        i8x16.add(lookup(t2, v128.and(c2, low)), lookup(t3, v128.and(c3, low))));
      aLo = i16x8.add(aLo, r); bLo = i16x8.add(bLo, i16x8.shr_u(r, 8));
      const s = i8x16.add(i8x16.add(lookup(t0, v128.and(i16x8.shr_u(c0, 4), low)), lookup(t1, v128.and(i16x8.shr_u(c1, 4), low))),
        i8x16.add(lookup(t2, v128.and(i16x8.shr_u(c2, 4), low)), lookup(t3, v128.and(i16x8.shr_u(c3, 4), low))));
      aHi = i16x8.add(aHi, s); bHi = i16x8.add(bHi, i16x8.shr_u(s, 8));
      code += 64; lut += 64;
    }
    total += underAB(aLo, bLo, aHi, bHi, T);
  }
  return total;
}
