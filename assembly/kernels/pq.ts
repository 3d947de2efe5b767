// Product quantization: encoding, decoding, distance tables and the ADC scan.
//
// A PQ splits a d-vector into m sub-vectors of dsub = d / m components and codes each with one of ksub = 2^nbits
// codewords of its sub-space. The kernels see the codebook transposed, so that SIMD runs across 4 codewords:
//   centT: f32[m][dsub][ksubP]   component t of codeword c of sub-space j at (j * dsub + t) * ksubP + c
//   cnorm: f32[m][ksubP]         ||codeword||^2, +Infinity on padding codewords
// ksubP = max(ksub, 4) (ksub is a power of two), padding codewords are zero.
//
// Codes in kernels are one byte per sub-quantizer, u8[n][m] ("unpacked"); pqPack / pqUnpack convert to and from
// the stored bit-packed form u8[n][codeSize], codeSize = ceil(m * nbits / 8): code j of a vector occupies bits
// [j * nbits, (j + 1) * nbits) of its byte string, least significant bit first (the layout of Faiss's PQEncoderGeneric).
//
// Distance tables: f32[m][ksubP] per query; the distance of a code is bias + sum_j table[j][code_j].

import { madd } from './simd';
import { heapPush } from './topk';
import { kernelScratch } from '../memory';

/** Index of the smallest lane (smallest index among equal values) given lane values and their indices. */
@inline export function argminLanes(v: v128, idx: v128): i32 {
  let bv = f32x4.extract_lane(v, 0);
  let bi = i32x4.extract_lane(idx, 0);
  const v1 = f32x4.extract_lane(v, 1), i1 = i32x4.extract_lane(idx, 1);
  if (v1 < bv || (v1 == bv && i1 < bi)) { bv = v1; bi = i1; }
  const v2 = f32x4.extract_lane(v, 2), i2 = i32x4.extract_lane(idx, 2);
  if (v2 < bv || (v2 == bv && i2 < bi)) { bv = v2; bi = i2; }
  const v3 = f32x4.extract_lane(v, 3), i3 = i32x4.extract_lane(idx, 3);
  if (v3 < bv || (v3 == bv && i3 < bi)) { bv = v3; bi = i3; }
  return bi;
}

/**
 * Nearest codeword of every sub-vector: xPtr: f32[n][d] -> outPtr: u8[n][m]. Scores ||c||^2 - 2 <x, c> (the
 * ||x||^2 term is the same for every codeword); ties go to the lowest codeword index. NaN-free input assumed (f32x4.min
 * and lt agree on ordered values).
 */
export function pqEncode(xPtr: usize, n: u32, d: u32, m: u32, ksubP: u32, centTPtr: usize, cnormPtr: usize, outPtr: usize): void {
  const dsub = d / m;
  const rowT = <usize>ksubP << 2; // bytes between components t and t + 1 of a codeword block
  for (let i: u32 = 0; i < n; i++) {
    let xs = xPtr + (<usize>i * d << 2);
    const out = outPtr + <usize>i * m;
    for (let j: u32 = 0; j < m; j++) {
      const ct = centTPtr + <usize>j * dsub * rowT;
      const cn = cnormPtr + <usize>j * rowT;
      let code: i32;
      if (dsub == 4) code = nearest4(xs, ct, cn, ksubP, rowT);
      else if (dsub == 2) code = nearest2(xs, ct, cn, ksubP, rowT);
      else code = nearestAny(xs, dsub, ct, cn, ksubP, rowT);
      store<u8>(out + j, <u8>code);
      xs += <usize>dsub << 2;
    }
  }
}

// Nearest codeword of one sub-vector. Scores are ||c||^2 + sum_t (-2 x_t) c_t (-2 x_t is exact), four codewords per
// v128; the running minimum keeps the first index among equal scores in each lane, argminLanes the lowest overall.
// dsub = 4 and 2 (the usual d / m) keep the broadcast components in registers.

@inline function nearest4(xs: usize, ct: usize, cn: usize, ksubP: u32, rowT: usize): i32 {
  const m2 = f32x4.splat(-2);
  const x0 = f32x4.mul(v128.load32_splat(xs), m2), x1 = f32x4.mul(v128.load32_splat(xs, 4), m2);
  const x2 = f32x4.mul(v128.load32_splat(xs, 8), m2), x3 = f32x4.mul(v128.load32_splat(xs, 12), m2);
  let best = f32x4.splat(Infinity);
  let bestI = i32x4(0, 1, 2, 3);
  let idx = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  const r2 = rowT << 1;
  const r3 = rowT * 3;
  const end = ct + (<usize>ksubP << 2);
  let c = ct;
  let nrm = cn;
  while (c < end) {
    let s = madd(x0, v128.load(c), v128.load(nrm));
    s = madd(x1, v128.load(c + rowT), s);
    s = madd(x2, v128.load(c + r2), s);
    s = madd(x3, v128.load(c + r3), s);
    const lt = f32x4.lt(s, best);
    best = f32x4.min(s, best);
    bestI = v128.bitselect(idx, bestI, lt);
    idx = i32x4.add(idx, four);
    c += 16;
    nrm += 16;
  }
  return argminLanes(best, bestI);
}

@inline function nearest2(xs: usize, ct: usize, cn: usize, ksubP: u32, rowT: usize): i32 {
  const m2 = f32x4.splat(-2);
  const x0 = f32x4.mul(v128.load32_splat(xs), m2), x1 = f32x4.mul(v128.load32_splat(xs, 4), m2);
  let best = f32x4.splat(Infinity);
  let bestI = i32x4(0, 1, 2, 3);
  let idx = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  const end = ct + (<usize>ksubP << 2);
  let c = ct;
  let nrm = cn;
  while (c < end) {
    let s = madd(x0, v128.load(c), v128.load(nrm));
    s = madd(x1, v128.load(c + rowT), s);
    const lt = f32x4.lt(s, best);
    best = f32x4.min(s, best);
    bestI = v128.bitselect(idx, bestI, lt);
    idx = i32x4.add(idx, four);
    c += 16;
    nrm += 16;
  }
  return argminLanes(best, bestI);
}

@inline function nearestAny(xs: usize, dsub: u32, ct: usize, cn: usize, ksubP: u32, rowT: usize): i32 {
  const m2 = f32x4.splat(-2);
  let best = f32x4.splat(Infinity);
  let bestI = i32x4(0, 1, 2, 3);
  let idx = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  for (let c0: u32 = 0; c0 < ksubP; c0 += 4) {
    let s = v128.load(cn + (<usize>c0 << 2));
    let c = ct + (<usize>c0 << 2);
    for (let t: u32 = 0; t < dsub; t++, c += rowT) s = madd(f32x4.mul(v128.load32_splat(xs + (<usize>t << 2)), m2), v128.load(c), s);
    const lt = f32x4.lt(s, best);
    best = f32x4.min(s, best);
    bestI = v128.bitselect(idx, bestI, lt);
    idx = i32x4.add(idx, four);
  }
  return argminLanes(best, bestI);
}

/** Reconstruction: codes u8[n][m] -> outPtr: f32[n][d], each sub-vector the codeword its code names. */
export function pqDecode(codesPtr: usize, n: u32, d: u32, m: u32, ksubP: u32, centTPtr: usize, outPtr: usize): void {
  const dsub = d / m;
  const rowT = <usize>ksubP << 2;
  for (let i: u32 = 0; i < n; i++) {
    let o = outPtr + (<usize>i * d << 2);
    const code = codesPtr + <usize>i * m;
    for (let j: u32 = 0; j < m; j++) {
      let c = centTPtr + <usize>j * dsub * rowT + (<usize>load<u8>(code + j) << 2);
      for (let t: u32 = 0; t < dsub; t++, c += rowT, o += 4) store<f32>(o, load<f32>(c));
    }
  }
}

/**
 * Distance tables of nq queries qPtr: f32[nq][d] -> outPtr: f32[nq][m][ksubP].
 *   mode 0: ||q_j - c||^2, in the difference form (no cancellation when q_j is close to c)
 *   mode 1: scale * <q_j, c>
 *   mode 2: ||c||^2 + scale * <q_j, c>   (IVF-PQ's precomputed term ||r||^2 + 2 <centroid, r> with scale 2)
 * Padding entries (c >= ksub) hold whatever the padding codewords give; codes never index them.
 */
export function pqTables(
  qPtr: usize, nq: u32, d: u32, m: u32, ksubP: u32, centTPtr: usize, cnormPtr: usize, mode: u32, scale: f32, outPtr: usize,
): void {
  const dsub = d / m;
  const rowT = <usize>ksubP << 2;
  const sv = f32x4.splat(scale);
  for (let i: u32 = 0; i < nq; i++) {
    let qs = qPtr + (<usize>i * d << 2);
    let out = outPtr + <usize>i * m * rowT;
    for (let j: u32 = 0; j < m; j++) {
      const ct = centTPtr + <usize>j * dsub * rowT;
      const cn = cnormPtr + <usize>j * rowT;
      for (let c0: u32 = 0; c0 < ksubP; c0 += 4) {
        let acc = f32x4.splat(0);
        let c = ct + (<usize>c0 << 2);
        if (mode == 0) {
          for (let t: u32 = 0; t < dsub; t++, c += rowT) {
            const diff = f32x4.sub(v128.load32_splat(qs + (<usize>t << 2)), v128.load(c));
            acc = madd(diff, diff, acc);
          }
        } else {
          for (let t: u32 = 0; t < dsub; t++, c += rowT) acc = madd(v128.load32_splat(qs + (<usize>t << 2)), v128.load(c), acc);
          acc = f32x4.mul(acc, sv);
          if (mode == 2) acc = f32x4.add(acc, v128.load(cn + (<usize>c0 << 2)));
        }
        v128.store(out + (<usize>c0 << 2), acc);
      }
      qs += <usize>dsub << 2;
      out += rowT;
    }
  }
}

/** outPtr: f32[count] = aPtr + bPtr (count a multiple of 4): a precomputed IVF-PQ term plus a query's table. */
export function addTables(aPtr: usize, bPtr: usize, count: u32, outPtr: usize): void {
  for (let i: usize = 0; i < <usize>count << 2; i += 16) v128.store(outPtr + i, f32x4.add(v128.load(aPtr + i), v128.load(bPtr + i)));
}

/**
 * ADC scan of one query over n codes u8[n][m] with its table f32[m][ksubP]: offers ((bias + sum_j table[j][code_j])
 * + norms[i], id) to the heap (hd, hi) of size k, id = ids[i] when idsPtr != 0, idBase + i otherwise. norms: f32[n]
 * per-code terms (IVF-PQ's L2 ||r||^2 + 2 <c, r>), or normsPtr = 0 for none (+0 then: the same ordering and values,
 * a -0 sum aside). The sum is (s0 + s1) + (s2 + s3) with s_r the sum over j = r (mod 4) in increasing j (the tail
 * j >= m - m % 4 goes to s0).
 */
export function pqScan(
  codesPtr: usize, n: u32, m: u32, ksubP: u32, tablePtr: usize, bias: f32, normsPtr: usize, k: u32, hd: usize, hi: usize, idsPtr: usize, idBase: i32,
): void {
  // without norms every code reads one +0 from the scratch (the panels tile, unused here): no branch in the loops
  let nrm = normsPtr;
  let step: usize = 4;
  if (normsPtr == 0) {
    nrm = kernelScratch();
    store<f32>(nrm, 0);
    step = 0;
  }
  if (ksubP == 256 && (m == 8 || m == 16 || m == 32)) {
    if (m == 16) {
      let code = codesPtr;
      if (step == 0) {
        // (the common m without norms: its own loop, without the +0 load, 4-5 % of an IVF-PQ ip search)
        for (let i: u32 = 0; i < n; i++, code += 16) {
          const dist = bias + adcUnrolled16(code, tablePtr);
          if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idsPtr != 0 ? load<i32>(idsPtr + (<usize>i << 2)) : idBase + <i32>i);
        }
        return;
      }
      for (let i: u32 = 0; i < n; i++, code += 16, nrm += step) {
        const dist = bias + adcUnrolled16(code, tablePtr) + load<f32>(nrm);
        // cheap reject against the root (the worst kept); heapPush settles ties on id
        if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idsPtr != 0 ? load<i32>(idsPtr + (<usize>i << 2)) : idBase + <i32>i);
      }
      return;
    }
    if (m == 8) {
      let code = codesPtr;
      for (let i: u32 = 0; i < n; i++, code += 8, nrm += step) {
        const dist = bias + adcUnrolled8(code, tablePtr) + load<f32>(nrm);
        // cheap reject against the root (the worst kept); heapPush settles ties on id
        if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idsPtr != 0 ? load<i32>(idsPtr + (<usize>i << 2)) : idBase + <i32>i);
      }
      return;
    }
    if (m == 32) {
      let code = codesPtr;
      for (let i: u32 = 0; i < n; i++, code += 32, nrm += step) {
        const dist = bias + adcUnrolled32(code, tablePtr) + load<f32>(nrm);
        // cheap reject against the root (the worst kept); heapPush settles ties on id
        if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idsPtr != 0 ? load<i32>(idsPtr + (<usize>i << 2)) : idBase + <i32>i);
      }
      return;
    }
  }
  let code = codesPtr;
  const fast = ksubP == 256 && (m & 3) == 0;
  for (let i: u32 = 0; i < n; i++, code += m, nrm += step) {
    const dist = bias + (fast ? adc256(code, m, tablePtr) : adcAny(code, m, ksubP, tablePtr)) + load<f32>(nrm);
    if (dist <= load<f32>(hd)) heapPush(hd, hi, k, dist, idsPtr != 0 ? load<i32>(idsPtr + (<usize>i << 2)) : idBase + <i32>i);
  }
}

/** The four queries' ADC sums of one code (pqScan4's layout), in pqScan's order: (s0 + s1) + (s2 + s3). */
@inline function adc4(code: usize, m: u32, t4Ptr: usize): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  if (m == 16) {
    const t4 = t4Ptr;
    a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code) << 4)));
    a1 = f32x4.add(a1, v128.load(t4 + (<usize>load<u8>(code, 1) << 4), 4096));
    a2 = f32x4.add(a2, v128.load(t4 + (<usize>load<u8>(code, 2) << 4), 8192));
    a3 = f32x4.add(a3, v128.load(t4 + (<usize>load<u8>(code, 3) << 4), 12288));
    a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code, 4) << 4), 16384));
    a1 = f32x4.add(a1, v128.load(t4 + (<usize>load<u8>(code, 5) << 4), 20480));
    a2 = f32x4.add(a2, v128.load(t4 + (<usize>load<u8>(code, 6) << 4), 24576));
    a3 = f32x4.add(a3, v128.load(t4 + (<usize>load<u8>(code, 7) << 4), 28672));
    a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code, 8) << 4), 32768));
    a1 = f32x4.add(a1, v128.load(t4 + (<usize>load<u8>(code, 9) << 4), 36864));
    a2 = f32x4.add(a2, v128.load(t4 + (<usize>load<u8>(code, 10) << 4), 40960));
    a3 = f32x4.add(a3, v128.load(t4 + (<usize>load<u8>(code, 11) << 4), 45056));
    a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code, 12) << 4), 49152));
    a1 = f32x4.add(a1, v128.load(t4 + (<usize>load<u8>(code, 13) << 4), 53248));
    a2 = f32x4.add(a2, v128.load(t4 + (<usize>load<u8>(code, 14) << 4), 57344));
    a3 = f32x4.add(a3, v128.load(t4 + (<usize>load<u8>(code, 15) << 4), 61440));
  } else {
    let t4 = t4Ptr;
    let j: u32 = 0;
    for (; j + 4 <= m; j += 4, t4 += 16384) {
      a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code + j) << 4)));
      a1 = f32x4.add(a1, v128.load(t4 + (<usize>load<u8>(code + j, 1) << 4), 4096));
      a2 = f32x4.add(a2, v128.load(t4 + (<usize>load<u8>(code + j, 2) << 4), 8192));
      a3 = f32x4.add(a3, v128.load(t4 + (<usize>load<u8>(code + j, 3) << 4), 12288));
    }
    // the tail j >= m - m % 4 into a0, as pqScan sums it
    for (; j < m; j++, t4 += 4096) a0 = f32x4.add(a0, v128.load(t4 + (<usize>load<u8>(code + j) << 4)));
  }
  return f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
}

/**
 * ADC scan of four queries at once over the same codes (one byte per code, any m): their tables interleaved as
 * t4Ptr: f32[m][256][4] (pqInterleave4), so one v128 load fetches the entry of a code byte for all four queries and
 * one add accumulates it: a quarter of the loads and adds of four single-query scans. The four heaps are rows
 * 0..3 of (hd, hi) (k each); ids are idBase + i. Each query's sum has the order of pqScan, so the distances are the
 * same bits.
 */
export function pqScan4(codesPtr: usize, n: u32, m: u32, t4Ptr: usize, k: u32, hd: usize, hi: usize, idBase: i32): void {
  const rowBytes = <usize>k << 2;
  let thr = f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
  let code = codesPtr;
  for (let i: u32 = 0; i < n; i++, code += m) {
    const dist = adc4(code, m, t4Ptr);
    if (v128.any_true(f32x4.le(dist, thr))) {
      // rare once the heaps fill: offer each query's distance, then refresh the thresholds
      const id = idBase + <i32>i;
      heapPush(hd, hi, k, f32x4.extract_lane(dist, 0), id);
      heapPush(hd + rowBytes, hi + rowBytes, k, f32x4.extract_lane(dist, 1), id);
      heapPush(hd + 2 * rowBytes, hi + 2 * rowBytes, k, f32x4.extract_lane(dist, 2), id);
      heapPush(hd + 3 * rowBytes, hi + 3 * rowBytes, k, f32x4.extract_lane(dist, 3), id);
      thr = f32x4(load<f32>(hd), load<f32>(hd + rowBytes), load<f32>(hd + 2 * rowBytes), load<f32>(hd + 3 * rowBytes));
    }
  }
}

/** pqScan4's sums without selection (range search): outPtr: f32[4][n], query t's distance of code i at (t n + i). */
export function pqDistances4(codesPtr: usize, n: u32, m: u32, t4Ptr: usize, outPtr: usize): void {
  const outRow = <usize>n << 2;
  let code = codesPtr;
  for (let i: u32 = 0; i < n; i++, code += m) {
    const dist = adc4(code, m, t4Ptr);
    const o = outPtr + (<usize>i << 2);
    v128.store32_lane(o, dist, 0);
    v128.store32_lane(o + outRow, dist, 1);
    v128.store32_lane(o + 2 * outRow, dist, 2);
    v128.store32_lane(o + 3 * outRow, dist, 3);
  }
}

/** Interleaves the tables of four queries, tPtr: f32[4][count] -> outPtr: f32[count][4] (the layout pqScan4 reads). */
export function pqInterleave4(tPtr: usize, count: u32, outPtr: usize): void {
  const stride = <usize>count << 2;
  for (let c: u32 = 0; c < count; c++) {
    const src = tPtr + (<usize>c << 2);
    v128.store(outPtr + (<usize>c << 4), f32x4(load<f32>(src), load<f32>(src + stride), load<f32>(src + 2 * stride), load<f32>(src + 3 * stride)));
  }
}

// ADC sum of one code: four partial sums break the add chain. With 8-bit codes the table rows are 1 KiB apart, a
// constant folded into the loads' immediate offsets; m = 8, 16 and 32 (the common shapes) are fully unrolled: per
// sub-quantizer one byte load, one shift, one add and one table load. (Copying the table to a static address to drop
// the add measured about 10 % slower under V8.)

@inline function adcUnrolled8(code: usize, tab: usize): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  s0 += load<f32>(tab + (<usize>load<u8>(code) << 2));
  s1 += load<f32>(tab + (<usize>load<u8>(code, 1) << 2), 1024);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 2) << 2), 2048);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 3) << 2), 3072);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 4) << 2), 4096);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 5) << 2), 5120);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 6) << 2), 6144);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 7) << 2), 7168);
  return (s0 + s1) + (s2 + s3);
}

@inline function adcUnrolled16(code: usize, tab: usize): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  s0 += load<f32>(tab + (<usize>load<u8>(code) << 2));
  s1 += load<f32>(tab + (<usize>load<u8>(code, 1) << 2), 1024);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 2) << 2), 2048);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 3) << 2), 3072);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 4) << 2), 4096);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 5) << 2), 5120);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 6) << 2), 6144);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 7) << 2), 7168);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 8) << 2), 8192);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 9) << 2), 9216);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 10) << 2), 10240);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 11) << 2), 11264);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 12) << 2), 12288);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 13) << 2), 13312);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 14) << 2), 14336);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 15) << 2), 15360);
  return (s0 + s1) + (s2 + s3);
}

@inline function adcUnrolled32(code: usize, tab: usize): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  s0 += load<f32>(tab + (<usize>load<u8>(code) << 2));
  s1 += load<f32>(tab + (<usize>load<u8>(code, 1) << 2), 1024);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 2) << 2), 2048);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 3) << 2), 3072);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 4) << 2), 4096);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 5) << 2), 5120);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 6) << 2), 6144);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 7) << 2), 7168);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 8) << 2), 8192);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 9) << 2), 9216);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 10) << 2), 10240);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 11) << 2), 11264);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 12) << 2), 12288);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 13) << 2), 13312);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 14) << 2), 14336);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 15) << 2), 15360);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 16) << 2), 16384);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 17) << 2), 17408);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 18) << 2), 18432);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 19) << 2), 19456);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 20) << 2), 20480);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 21) << 2), 21504);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 22) << 2), 22528);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 23) << 2), 23552);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 24) << 2), 24576);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 25) << 2), 25600);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 26) << 2), 26624);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 27) << 2), 27648);
  s0 += load<f32>(tab + (<usize>load<u8>(code, 28) << 2), 28672);
  s1 += load<f32>(tab + (<usize>load<u8>(code, 29) << 2), 29696);
  s2 += load<f32>(tab + (<usize>load<u8>(code, 30) << 2), 30720);
  s3 += load<f32>(tab + (<usize>load<u8>(code, 31) << 2), 31744);
  return (s0 + s1) + (s2 + s3);
}


@inline function adc256(code: usize, m: u32, tab: usize): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  const end = code + m;
  let c = code;
  while (c < end) {
    s0 += load<f32>(tab + (<usize>load<u8>(c) << 2));
    s1 += load<f32>(tab + (<usize>load<u8>(c, 1) << 2), 1024);
    s2 += load<f32>(tab + (<usize>load<u8>(c, 2) << 2), 2048);
    s3 += load<f32>(tab + (<usize>load<u8>(c, 3) << 2), 3072);
    c += 4;
    tab += 4096;
  }
  return (s0 + s1) + (s2 + s3);
}

@inline function adcAny(code: usize, m: u32, ksubP: u32, tab: usize): f32 {
  const rowT = <usize>ksubP << 2;
  const m4 = m & ~3;
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  let j: u32 = 0;
  for (; j < m4; j += 4) {
    s0 += load<f32>(tab + (<usize>load<u8>(code + j) << 2));
    s1 += load<f32>(tab + rowT + (<usize>load<u8>(code + j, 1) << 2));
    s2 += load<f32>(tab + 2 * rowT + (<usize>load<u8>(code + j, 2) << 2));
    s3 += load<f32>(tab + 3 * rowT + (<usize>load<u8>(code + j, 3) << 2));
    tab += rowT << 2;
  }
  for (; j < m; j++, tab += rowT) s0 += load<f32>(tab + (<usize>load<u8>(code + j) << 2));
  return (s0 + s1) + (s2 + s3);
}

/** ADC distances without selection: outPtr: f32[n] = bias + sum_j table[j][code_j] (the same sums as pqScan). */
export function pqDistances(codesPtr: usize, n: u32, m: u32, ksubP: u32, tablePtr: usize, bias: f32, outPtr: usize): void {
  let code = codesPtr;
  const fast = ksubP == 256 && (m & 3) == 0;
  for (let i: u32 = 0; i < n; i++, code += m) {
    const s = fast ? adc256(code, m, tablePtr) : adcAny(code, m, ksubP, tablePtr);
    store<f32>(outPtr + (<usize>i << 2), bias + s);
  }
}

/** Bit-packs codes u8[n][m] (each < 2^nbits) into outPtr: u8[n][codeSize] (layout above); nbits in 1..8. */
export function pqPack(inPtr: usize, n: u32, m: u32, nbits: u32, outPtr: usize): void {
  const codeSize = (m * nbits + 7) >> 3;
  if (nbits == 8) {
    memory.copy(outPtr, inPtr, <usize>n * m);
    return;
  }
  for (let i: u32 = 0; i < n; i++) {
    const src = inPtr + <usize>i * m;
    const dst = outPtr + <usize>i * codeSize;
    let acc: u32 = 0, bits: u32 = 0, o: usize = 0;
    for (let j: u32 = 0; j < m; j++) {
      acc |= <u32>load<u8>(src + j) << bits;
      bits += nbits;
      while (bits >= 8) {
        store<u8>(dst + o++, <u8>acc);
        acc >>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) store<u8>(dst + o, <u8>acc);
  }
}

/** The inverse of pqPack: inPtr: u8[n][codeSize] -> outPtr: u8[n][m]. */
export function pqUnpack(inPtr: usize, n: u32, m: u32, nbits: u32, outPtr: usize): void {
  const codeSize = (m * nbits + 7) >> 3;
  if (nbits == 8) {
    memory.copy(outPtr, inPtr, <usize>n * m);
    return;
  }
  const mask: u32 = (1 << nbits) - 1;
  for (let i: u32 = 0; i < n; i++) {
    const src = inPtr + <usize>i * codeSize;
    const dst = outPtr + <usize>i * m;
    let acc: u32 = 0, bits: u32 = 0, o: usize = 0;
    for (let j: u32 = 0; j < m; j++) {
      if (bits < nbits) {
        acc |= <u32>load<u8>(src + o++) << bits;
        bits += 8;
      }
      store<u8>(dst + j, <u8>(acc & mask));
      acc >>= nbits;
      bits -= nbits;
    }
  }
}
