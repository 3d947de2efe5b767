// Scalar quantization: scoring codes against a float query without decoding them to memory.
//
// Codes are u8[n][codeSize], one component after another:
//   type 0 uint8: codeSize = d, component j decodes to a_j + b_j * c   (c in 0..255)
//   type 1 int8:  codeSize = d, component j decodes to a_j + b_j * c   (c in -128..127, two's complement byte)
//   type 2 fp16:  codeSize = 2 d, component j is an IEEE half float, little-endian (a = 0, b = 1)
//   type 3 int4:  codeSize = ceil(d / 2), component j decodes to a_j + b_j * c   (c in 0..15): component 2t is the low
//                 nibble of byte t, component 2t + 1 its high nibble. For odd d the high nibble of the last byte is
//                 padding: sqEncode4bit writes 0 there, and every kernel here ignores it.
// The caller folds the query into u: f32[d] once per query (see bindings/search/SQIndex.ts):
//   metric 0 (squared L2): u_j = q_j - a_j and score = sum_j (u_j - b_j c_j)^2       (fp16: u = q, b unused)
//   metric 1 (inner product, negated for the min-heaps): u_j = -q_j b_j, score = bias + sum_j u_j c_j
//                                                                                     (fp16: u = -q, bias = 0)
// (int4 folds like uint8.) Summation order: one f32x4 accumulator over blocks of 4 components, s = hsum(acc), then
// the scalar tail j >= d - d % 4 added to s in increasing j, then the bias (ip). sqScan and sqScan4 (four queries per
// pass over the codes) give the same bits.

import { madd, hsum } from './simd';
import { heapPush } from './topk';

// Four code components widened to f32x4: c holds them in its low lanes (u8 / i8 in bytes 0..3, halfs in bytes 0..7).
// (convert_i32x4_s: the values fit in 16 bits, and the unsigned conversion has no x86 instruction: V8 emulates it)
@inline function widenU8(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(c)));
}
@inline function widenI8(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(c)));
}
// Half -> float for finite halfs (encoders clamp to +-65504): the exponent-mantissa bits shifted into float position
// and scaled by 2^112 rebias the exponent and also turn subnormal halfs into the right normal floats.
@inline function widenF16(c: v128): v128 {
  const h = i32x4.extend_low_i16x8_u(c);
  const em = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(5.192296858534828e33));
  return v128.or(em, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// The 16 components held by bytes 0..7 of v, in component order: byte t's low nibble, then its high nibble.
@inline function nibbles(v: v128): v128 {
  return i8x16.shuffle(v128.and(v, i8x16.splat(0x0f)), i8x16.shr_u(v, 4), 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

@inline function halfToF32(h: u32): f32 {
  const em = reinterpret<f32>((h & 0x7fff) << 13) * <f32>5.192296858534828e33;
  return reinterpret<f32>(reinterpret<u32>(em) | ((h & 0x8000) << 16));
}

/** Bytes per code (layout above). */
@inline function codeBytes(d: u32, type: u32): usize {
  if (type == 2) return <usize>d << 1;
  if (type == 3) return (<usize>d + 1) >> 1;
  return <usize>d;
}

@inline function comp(code: usize, j: usize, type: u32): f32 {
  if (type == 0) return <f32>load<u8>(code + j);
  if (type == 3) return <f32>((<u32>load<u8>(code + (j >> 1)) >> (<u32>(j & 1) << 2)) & 15);
  if (type == 1) return <f32>load<i8>(code + j);
  return halfToF32(<u32>load<u16>(code + (j << 1)));
}

@inline function load4(code: usize, j: usize, type: u32): v128 {
  if (type == 0) return widenU8(v128.load32_zero(code + j));
  if (type == 1) return widenI8(v128.load32_zero(code + j));
  if (type == 3) return widenU8(nibbles(v128.load16_splat(code + (j >> 1)))); // j % 4 == 0: two whole bytes
  return widenF16(v128.load64_zero(code + (j << 1)));
}

/** The score of one code (layout and order above). */
@inline function score(code: usize, d: u32, type: u32, metric: u32, u: usize, b: usize, bias: f32): f32 {
  let acc = f32x4.splat(0);
  const d4 = <usize>(d & ~3);
  const l2 = metric == 0;
  const f16 = type == 2;
  let j: usize = 0;
  if (type == 3) {
    // 16 components (8 bytes) unpacked at once, then added block by block of 4: the order of the loop below
    const d16 = <usize>(d & ~15);
    for (; j < d16; j += 16) {
      const c = nibbles(v128.load64_zero(code + (j >> 1)));
      const lo = i16x8.extend_low_i8x16_u(c);
      const hi = i16x8.extend_high_i8x16_u(c);
      acc = step1(acc, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), j, l2, u, b);
      acc = step1(acc, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), j + 4, l2, u, b);
      acc = step1(acc, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), j + 8, l2, u, b);
      acc = step1(acc, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), j + 12, l2, u, b);
    }
  }
  for (; j < d4; j += 4) {
    const o = j << 2;
    const c = load4(code, j, type);
    if (l2) {
      const e = f32x4.sub(v128.load(u + o), f16 ? c : f32x4.mul(v128.load(b + o), c));
      acc = madd(e, e, acc);
    } else {
      acc = madd(v128.load(u + o), c, acc);
    }
  }
  return tail(code, d, type, metric, u, b, bias, j, hsum(acc));
}

/** One block of 4 widened components c at j into acc (not fp16). */
@inline function step1(acc: v128, c: v128, j: usize, l2: bool, u: usize, b: usize): v128 {
  const o = j << 2;
  if (l2) {
    const e = f32x4.sub(v128.load(u + o), f32x4.mul(v128.load(b + o), c));
    return madd(e, e, acc);
  }
  return madd(v128.load(u + o), c, acc);
}

/** One query's block of 4 in score4: l2 adds (u - bc)^2, ip adds u * c (bc = c); uPtr: its 4 folded components. */
@inline function step4(acc: v128, uPtr: usize, bc: v128, l2: bool): v128 {
  if (l2) {
    const e = f32x4.sub(v128.load(uPtr), bc);
    return madd(e, e, acc);
  }
  return madd(v128.load(uPtr), bc, acc);
}

/** Adds the components j0 .. d - 1 (fewer than 4) to s in increasing j, then the bias (ip). */
@inline function tail(code: usize, d: u32, type: u32, metric: u32, u: usize, b: usize, bias: f32, j0: usize, s: f32): f32 {
  const l2 = metric == 0;
  for (let j = j0; j < <usize>d; j++) {
    const o = j << 2;
    const c = comp(code, j, type);
    if (l2) {
      const e = load<f32>(u + o) - (type == 2 ? c : load<f32>(b + o) * c);
      s += e * e;
    } else {
      s += load<f32>(u + o) * c;
    }
  }
  return l2 ? s : bias + s;
}

/**
 * Scores of one code for four queries at once (folded queries u4: f32[4][d]): each code block is loaded and widened
 * once for the four; each query's sum has the order of score(), so the values are the same bits.
 */
@inline function score4(code: usize, d: u32, type: u32, metric: u32, u4: usize, b: usize, bias: v128): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const d4 = <usize>(d & ~3);
  const row = <usize>d << 2;
  const l2 = metric == 0;
  const f16 = type == 2;
  let j: usize = 0;
  if (type == 3) {
    // as in score(): 16 components unpacked at once, added block by block of 4 (the order of the loop below)
    const d16 = <usize>(d & ~15);
    for (; j < d16; j += 16) {
      const c = nibbles(v128.load64_zero(code + (j >> 1)));
      const lo = i16x8.extend_low_i8x16_u(c);
      const hi = i16x8.extend_high_i8x16_u(c);
      let cv = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo));
      let o = j << 2;
      let bc = l2 ? f32x4.mul(v128.load(b + o), cv) : cv;
      a0 = step4(a0, u4 + o, bc, l2);
      a1 = step4(a1, u4 + o + row, bc, l2);
      a2 = step4(a2, u4 + o + 2 * row, bc, l2);
      a3 = step4(a3, u4 + o + 3 * row, bc, l2);
      cv = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo));
      o += 16;
      bc = l2 ? f32x4.mul(v128.load(b + o), cv) : cv;
      a0 = step4(a0, u4 + o, bc, l2);
      a1 = step4(a1, u4 + o + row, bc, l2);
      a2 = step4(a2, u4 + o + 2 * row, bc, l2);
      a3 = step4(a3, u4 + o + 3 * row, bc, l2);
      cv = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi));
      o += 16;
      bc = l2 ? f32x4.mul(v128.load(b + o), cv) : cv;
      a0 = step4(a0, u4 + o, bc, l2);
      a1 = step4(a1, u4 + o + row, bc, l2);
      a2 = step4(a2, u4 + o + 2 * row, bc, l2);
      a3 = step4(a3, u4 + o + 3 * row, bc, l2);
      cv = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi));
      o += 16;
      bc = l2 ? f32x4.mul(v128.load(b + o), cv) : cv;
      a0 = step4(a0, u4 + o, bc, l2);
      a1 = step4(a1, u4 + o + row, bc, l2);
      a2 = step4(a2, u4 + o + 2 * row, bc, l2);
      a3 = step4(a3, u4 + o + 3 * row, bc, l2);
    }
  }
  for (; j < d4; j += 4) {
    const o = j << 2;
    const c = load4(code, j, type);
    const u = u4 + o;
    if (l2) {
      const bc = f16 ? c : f32x4.mul(v128.load(b + o), c);
      const e0 = f32x4.sub(v128.load(u), bc);
      const e1 = f32x4.sub(v128.load(u + row), bc);
      const e2 = f32x4.sub(v128.load(u + 2 * row), bc);
      const e3 = f32x4.sub(v128.load(u + 3 * row), bc);
      a0 = madd(e0, e0, a0);
      a1 = madd(e1, e1, a1);
      a2 = madd(e2, e2, a2);
      a3 = madd(e3, e3, a3);
    } else {
      a0 = madd(v128.load(u), c, a0);
      a1 = madd(v128.load(u + row), c, a1);
      a2 = madd(v128.load(u + 2 * row), c, a2);
      a3 = madd(v128.load(u + 3 * row), c, a3);
    }
  }
  if (j == <usize>d) {
    // no tail: the four horizontal sums as one transpose-free vector
    const s = f32x4(hsum(a0), hsum(a1), hsum(a2), hsum(a3));
    return l2 ? s : f32x4.add(bias, s);
  }
  return f32x4(
    tail(code, d, type, metric, u4, b, f32x4.extract_lane(bias, 0), j, hsum(a0)),
    tail(code, d, type, metric, u4 + row, b, f32x4.extract_lane(bias, 1), j, hsum(a1)),
    tail(code, d, type, metric, u4 + 2 * row, b, f32x4.extract_lane(bias, 2), j, hsum(a2)),
    tail(code, d, type, metric, u4 + 3 * row, b, f32x4.extract_lane(bias, 3), j, hsum(a3)),
  );
}

/**
 * Scan of four queries over n codes: folded queries u4Ptr: f32[4][d], their biases biasPtr: f32[4]; the four heaps
 * are rows 0..3 of (hd, hi) (k each); ids are idBase + i. The scores are those of sqScan, bit for bit. k = 0: no
 * heaps, the scores themselves go to hd: f32[4][n] (query t's at hd + (t n + i) 4; range search, hi unused).
 */
export function sqScan4(
  codesPtr: usize, n: u32, d: u32, type: u32, metric: u32, u4Ptr: usize, bPtr: usize, biasPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  if (type == 0 && metric == 0) scan4(codesPtr, n, d, 0, 0, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (type == 0) scan4(codesPtr, n, d, 0, 1, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (type == 1 && metric == 0) scan4(codesPtr, n, d, 1, 0, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (type == 1) scan4(codesPtr, n, d, 1, 1, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (type == 3 && metric == 0) scan4(codesPtr, n, d, 3, 0, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (type == 3) scan4(codesPtr, n, d, 3, 1, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else if (metric == 0) scan4(codesPtr, n, d, 2, 0, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
  else scan4(codesPtr, n, d, 2, 1, u4Ptr, bPtr, biasPtr, k, hd, hi, idBase);
}

@inline function scan4(
  codesPtr: usize, n: u32, d: u32, type: u32, metric: u32, u4Ptr: usize, bPtr: usize, biasPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  const cs = codeBytes(d, type);
  const rowBytes = <usize>k << 2;
  const bias = v128.load(biasPtr);
  const outRow = <usize>n << 2;
  let thr = k == 0 ? f32x4.splat(Infinity) : f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
  let code = codesPtr;
  for (let i: u32 = 0; i < n; i++, code += cs) {
    const s = score4(code, d, type, metric, u4Ptr, bPtr, bias);
    // (k = 0: thr is +Infinity, so every code enters here, off the heaps' hot path)
    if (v128.any_true(f32x4.le(s, thr))) {
      if (k == 0) {
        const o = hd + (<usize>i << 2);
        v128.store32_lane(o, s, 0);
        v128.store32_lane(o + outRow, s, 1);
        v128.store32_lane(o + 2 * outRow, s, 2);
        v128.store32_lane(o + 3 * outRow, s, 3);
        continue;
      }
      // rare once the heaps fill: offer each query's score, then refresh the thresholds
      const id = idBase + <i32>i;
      heapPush(hd, hi, k, f32x4.extract_lane(s, 0), id);
      heapPush(hd + rowBytes, hi + rowBytes, k, f32x4.extract_lane(s, 1), id);
      heapPush(hd + 2 * rowBytes, hi + 2 * rowBytes, k, f32x4.extract_lane(s, 2), id);
      heapPush(hd + 3 * rowBytes, hi + 3 * rowBytes, k, f32x4.extract_lane(s, 3), id);
      thr = f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
    }
  }
}

/**
 * Scan of one query over n codes: offers (score, id) to the heap (hd, hi) of size k, id = idBase + i. uPtr: f32[d],
 * bPtr: f32[d] (unused for fp16), bias as above. k = 0: no heap, the scores go to hd: f32[n] (hi, idBase unused).
 */
export function sqScan(
  codesPtr: usize, n: u32, d: u32, type: u32, metric: u32, uPtr: usize, bPtr: usize, bias: f32, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  const cs = codeBytes(d, type);
  let code = codesPtr;
  // one loop per (type, metric): the branches in score() fold away
  if (type == 0 && metric == 0) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 0, 0, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (type == 0) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 0, 1, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (type == 1 && metric == 0) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 1, 0, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (type == 1) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 1, 1, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (type == 3 && metric == 0) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 3, 0, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (type == 3) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 3, 1, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else if (metric == 0) for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 2, 0, uPtr, bPtr, bias), hd, hi, k, idBase, i);
  else for (let i: u32 = 0; i < n; i++, code += cs) push(score(code, d, 2, 1, uPtr, bPtr, bias), hd, hi, k, idBase, i);
}

@inline function push(dist: f32, hd: usize, hi: usize, k: u32, idBase: i32, i: u32): void {
  // cheap reject against the root (the worst kept); heapPush settles ties on id
  if (k == 0) store<f32>(hd + (<usize>i << 2), dist);
  else if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idBase + <i32>i);
}

/** Decoding: codes u8[n][codeSize] -> outPtr: f32[n][d], component a_j + b_j c (uint8 / int8 / int4) or the half's value. */
export function sqDecode(codesPtr: usize, n: u32, d: u32, type: u32, aPtr: usize, bPtr: usize, outPtr: usize): void {
  const cs = codeBytes(d, type);
  for (let i: u32 = 0; i < n; i++) {
    const code = codesPtr + <usize>i * cs;
    const out = outPtr + (<usize>i * d << 2);
    for (let j: usize = 0; j < <usize>d; j++) {
      const c = comp(code, j, type);
      store<f32>(out + (j << 2), type == 2 ? c : load<f32>(aPtr + (j << 2)) + load<f32>(bPtr + (j << 2)) * c);
    }
  }
}

/**
 * int4 encoding: xPtr: f32[n][d] -> codesPtr: u8[n][ceil(d / 2)] (layout above), c_j = nearest((x_j - min_j) / step_j)
 * (f32 subtract and divide, ties to even) clamped to 0..15, and 0 where step_j = 0; minPtr, stepPtr: f32[d] (the
 * trained range, step = (max - min) / 15). The padding nibble of odd d is 0. Eight components (four bytes) per block.
 */
export function sqEncode4bit(xPtr: usize, n: u32, d: u32, minPtr: usize, stepPtr: usize, codesPtr: usize): void {
  const cs = codeBytes(d, 3);
  const d8 = <usize>(d & ~7);
  const zero = f32x4.splat(0);
  const top = f32x4.splat(15);
  for (let i: u32 = 0; i < n; i++) {
    const x = xPtr + (<usize>i * d << 2);
    const out = codesPtr + <usize>i * cs;
    let j: usize = 0;
    for (; j < d8; j += 8) {
      const o = j << 2;
      const c0 = quant4(v128.load(x + o), v128.load(minPtr + o), v128.load(stepPtr + o), zero, top);
      const c1 = quant4(v128.load(x + o, 16), v128.load(minPtr + o, 16), v128.load(stepPtr + o, 16), zero, top);
      // i32 lane t of w: c_{2t} | c_{2t+1} << 16; (w | w >> 12) & 0xff is the byte c_{2t} | c_{2t+1} << 4
      const w = i16x8.narrow_i32x4_u(c0, c1);
      const p = v128.or(w, i32x4.shr_u(w, 12));
      v128.store32_lane(out + (j >> 1), i8x16.shuffle(p, p, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
    }
    for (; j < <usize>d; j += 2) {
      let byte = quant1(load<f32>(x + (j << 2)), load<f32>(minPtr + (j << 2)), load<f32>(stepPtr + (j << 2)));
      if (j + 1 < <usize>d) byte |= quant1(load<f32>(x + (j << 2), 4), load<f32>(minPtr + (j << 2), 4), load<f32>(stepPtr + (j << 2), 4)) << 4;
      store<u8>(out + (j >> 1), byte);
    }
  }
}

// (clamping before masking: 0 / 0 is NaN, which max / min keep and the mask then zeroes)
@inline function quant4(x: v128, mn: v128, st: v128, zero: v128, top: v128): v128 {
  const c = f32x4.min(f32x4.max(f32x4.nearest(f32x4.div(f32x4.sub(x, mn), st)), zero), top);
  return i32x4.trunc_sat_f32x4_u(v128.and(c, f32x4.gt(st, zero)));
}

@inline function quant1(x: f32, mn: f32, st: f32): u32 {
  if (!(st > 0)) return 0;
  const c = nearest<f32>((x - mn) / st);
  return c <= 0 ? 0 : c >= 15 ? 15 : <u32>c;
}

/**
 * Integer scan of four queries over uint8 (type 0), int8 (type 1) or int4 (type 3) codes with the queries quantized
 * too (d a multiple of 16): w4Ptr: i16[4][d], query t's folded weights scaled to integers, so that the sum over j of w_j c_j is an exact
 * i32 (the caller bounds |w| so that it cannot overflow: d / 4 * 255 * max|w| < 2^31); the score offered is
 * bias_t + f32(sum) * inv_t (mul then add, the same bits on both builds), plus norms_i when normsPtr != 0
 * (normsPtr: f32[n], one value per code for all four queries: the squared L2 path adds ||b c_i||^2 there).
 * biasPtr / invPtr: f32[4]. i32x4.dot_i16x8_s does 8 multiply-adds per instruction on codes widened once for the four.
 */
export function sqScanInt4(
  codesPtr: usize, n: u32, d: u32, type: u32, w4Ptr: usize, biasPtr: usize, invPtr: usize, normsPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  // (the norms test stays a per-code branch: one variant per type keeps the module under its size budget)
  if (type == 1) scanInt4(codesPtr, n, d, 1, w4Ptr, biasPtr, invPtr, normsPtr, k, hd, hi, idBase);
  else if (type == 3) scanInt4(codesPtr, n, d, 3, w4Ptr, biasPtr, invPtr, normsPtr, k, hd, hi, idBase);
  else scanInt4(codesPtr, n, d, 0, w4Ptr, biasPtr, invPtr, normsPtr, k, hd, hi, idBase);
}

@inline function scanInt4(
  codesPtr: usize, n: u32, d: u32, type: u32, w4Ptr: usize, biasPtr: usize, invPtr: usize, normsPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  const row = <usize>d << 1;
  const rowBytes = <usize>k << 2;
  const bias = v128.load(biasPtr);
  const inv = v128.load(invPtr);
  let thr = f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
  const cs = codeBytes(d, type);
  let code = codesPtr;
  for (let i: u32 = 0; i < n; i++, code += cs) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let j: usize = 0; j < <usize>d; j += 16) {
      const c = codeBlock16(code, j, type);
      const lo = widenLo(c, type);
      const hi8 = widenHi(c, type);
      const w = w4Ptr + (j << 1);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(w)), i32x4.dot_i16x8_s(hi8, v128.load(w, 16))));
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(w + row)), i32x4.dot_i16x8_s(hi8, v128.load(w + row, 16))));
      a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(w + 2 * row)), i32x4.dot_i16x8_s(hi8, v128.load(w + 2 * row, 16))));
      a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(w + 3 * row)), i32x4.dot_i16x8_s(hi8, v128.load(w + 3 * row, 16))));
    }
    const sum = lanesSum4(a0, a1, a2, a3);
    let s = f32x4.add(bias, f32x4.mul(f32x4.convert_i32x4_s(sum), inv));
    if (normsPtr != 0) s = f32x4.add(s, v128.load32_splat(normsPtr + (<usize>i << 2)));
    if (v128.any_true(f32x4.le(s, thr))) {
      const id = idBase + <i32>i;
      heapPush(hd, hi, k, f32x4.extract_lane(s, 0), id);
      heapPush(hd + rowBytes, hi + rowBytes, k, f32x4.extract_lane(s, 1), id);
      heapPush(hd + 2 * rowBytes, hi + 2 * rowBytes, k, f32x4.extract_lane(s, 2), id);
      heapPush(hd + 3 * rowBytes, hi + 3 * rowBytes, k, f32x4.extract_lane(s, 3), id);
      thr = f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
    }
  }
}

/**
 * sqScanInt4 for one query (wPtr: i16[d], its bias and inv): the same score bits as sqScanInt4 gives that query, with a
 * quarter of the work when fewer than four queries are left (one query at a time is the serving case).
 */
export function sqScanInt1(
  codesPtr: usize, n: u32, d: u32, type: u32, wPtr: usize, bias: f32, inv: f32, normsPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  if (type == 1) scanInt1(codesPtr, n, d, 1, wPtr, bias, inv, normsPtr, k, hd, hi, idBase);
  else if (type == 3) scanInt1(codesPtr, n, d, 3, wPtr, bias, inv, normsPtr, k, hd, hi, idBase);
  else scanInt1(codesPtr, n, d, 0, wPtr, bias, inv, normsPtr, k, hd, hi, idBase);
}

// The four horizontal sums of a0..a3 as one vector (integer adds: exact in any order).
@inline function lanesSum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = i32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t1 = i32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

// The integer dot product of one code (bytes at code) with w: i16[d] as four partial i32 lanes.
@inline function dotInt(code: usize, d: u32, type: u32, wPtr: usize): v128 {
  let a = i32x4.splat(0);
  for (let j: usize = 0; j < <usize>d; j += 16) a = dot16(a, code, j, type, wPtr);
  return a;
}

@inline function scanInt1(
  codesPtr: usize, n: u32, d: u32, type: u32, wPtr: usize, bias: f32, inv: f32, normsPtr: usize, k: u32, hd: usize, hi: usize, idBase: i32,
): void {
  const cs = codeBytes(d, type);
  const biasV = f32x4.splat(bias);
  const invV = f32x4.splat(inv);
  let thr = load<f32>(hd);
  let code = codesPtr;
  let i: u32 = 0;
  // four codes a pass: the weights are loaded once for the four, and the four sums are compared at once
  for (; i + 4 <= n; i += 4, code += cs << 2) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let j: usize = 0; j < <usize>d; j += 16) {
      const wj = wPtr + (j << 1);
      const w0 = v128.load(wj), w1 = v128.load(wj, 16);
      a0 = addDot16(a0, codeBlock16(code, j, type), w0, w1, type);
      a1 = addDot16(a1, codeBlock16(code + cs, j, type), w0, w1, type);
      a2 = addDot16(a2, codeBlock16(code + 2 * cs, j, type), w0, w1, type);
      a3 = addDot16(a3, codeBlock16(code + 3 * cs, j, type), w0, w1, type);
    }
    const sum = lanesSum4(a0, a1, a2, a3);
    let s = f32x4.add(biasV, f32x4.mul(f32x4.convert_i32x4_s(sum), invV));
    if (normsPtr != 0) s = f32x4.add(s, v128.load(normsPtr + (<usize>i << 2)));
    if (v128.any_true(f32x4.le(s, f32x4.splat(thr)))) {
      for (let l: u32 = 0; l < 4; l++) {
        const v = f32x4.extract_lane(s, 0);
        s = v128.shuffle<f32>(s, s, 1, 2, 3, 0);
        if (v <= thr) {
          heapPush(hd, hi, k, v, idBase + <i32>(i + l));
          thr = load<f32>(hd);
        }
      }
    }
  }
  for (; i < n; i++, code += cs) {
    const a = dotInt(code, d, type, wPtr);
    const sum = (i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1)) + (i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3));
    let s = bias + <f32>sum * inv;
    if (normsPtr != 0) s += load<f32>(normsPtr + (<usize>i << 2));
    if (s <= thr) {
      heapPush(hd, hi, k, s, idBase + <i32>i);
      thr = load<f32>(hd);
    }
  }
}

// Components [j, j + 16) of the code at `code` as 16 bytes (j % 16 == 0; int4 unpacked from 8 bytes).
@inline function codeBlock16(code: usize, j: usize, type: u32): v128 {
  return type == 3 ? nibbles(v128.load64_zero(code + (j >> 1))) : v128.load(code + j);
}

// a + the dot product of 16 code components c with the weights w0 (components 0..7) and w1 (8..15).
@inline function addDot16(a: v128, c: v128, w0: v128, w1: v128, type: u32): v128 {
  return i32x4.add(a, i32x4.add(i32x4.dot_i16x8_s(widenLo(c, type), w0), i32x4.dot_i16x8_s(widenHi(c, type), w1)));
}

// a + the dot product of components [j, j + 16) of the code at `code` with those of w: i16[d] (j % 16 == 0)
@inline function dot16(a: v128, code: usize, j: usize, type: u32, w: usize): v128 {
  const wj = w + (j << 1);
  return addDot16(a, codeBlock16(code, j, type), v128.load(wj), v128.load(wj, 16), type);
}

@inline function widenLo(c: v128, type: u32): v128 {
  return type == 1 ? i16x8.extend_low_i8x16_s(c) : i16x8.extend_low_i8x16_u(c);
}

@inline function widenHi(c: v128, type: u32): v128 {
  return type == 1 ? i16x8.extend_high_i8x16_s(c) : i16x8.extend_high_i8x16_u(c);
}
