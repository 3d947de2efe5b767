// Exact top-k over panels with an int16 prefilter.
//
// Why: scanPanels (panels.ts) does 4 f32 multiply-adds per instruction pair in the plain build (mul, then add) and
// 4 per fused instruction in the relaxed one; i32x4.dot_i16x8_s does 8 int16 multiply-adds in one. So the vectors are
// also kept as int16 copies, scored approximately with a proven bound on the error, and only the vectors whose lower
// bound can still beat the k-th best are rescored in f32, the way scanPanels scores them. The results are scanPanels's,
// bit for bit: same scores, and the heaps keep the lexicographically smallest (score, id) whatever the offer order.
//
// Layouts (np = padTo8(nb); dp = ceil(d / 2): components go in pairs, an odd d gets a zero component):
//   qpanels: i16[np / 8][dp][8][2]  pair t of vector 8p + l at byte p * dp * 32 + t * 32 + l * 4: components 2t, 2t + 1
//   qinfo:   f32[np / 8][4][8]      per panel, per vector: scale_j | A_j | B_j | Z_j (below), 128 bytes a panel
// where c^_j = scale_j * C_j is the vector the int16 codes C_j stand for. Both depend on a position only, so vectors
// can be appended (qpanelsPack from any position) as packPanels appends them.
//
// The bound. For a query q quantized to q^ = s_q Q, eq = ||q - q^||:
//   <q, c> = s_q scale_j <Q, C_j> + <q - q^, c^_j> + <q, c - c^_j>,
// so |<q, c_j> - s_q scale_j <Q, C_j>| <= eq ||c^_j|| + ||q|| ||c_j - c^_j||, and scanPanels's f32 sum is within
// g_d ||q|| ||c_j|| of <q, c_j>, g_d = (d + 2) 2^-23 (twice the classic d u / (1 - d u), u = 2^-24). The score is
// bias + alpha * dot, so the approximate score is within
//   m_j = |alpha| eq A_j + |alpha| ||q|| B_j + Z_j
//   A_j = ||c^_j|| (1 + 2^-17) + 2^-19 (||c^_j|| + b_j),  b_j = ||c_j - c^_j|| + g_d ||c_j||
//   B_j = b_j (1 + 2^-17) + 2^-19 (||c^_j|| + b_j)
//   Z_j = 2^-19 |bias_j| + 4 (2d + 8) 2^-149
// of the f32 one, for |alpha| <= 4. The 2^-19 terms cover the remaining f32 roundings (i32 -> f32, the scale
// products, the madd into the score, m_j's own and the bounds' sums), each a few units of 2^-24 of a value under
// |bias_j| + |alpha| (||q|| + eq) (||c^_j|| + b_j); the last term, f32 products in the subnormal range (up to 2^-150
// each). Bounds per vector, not per set: a codebook's zero or small codewords get margins of their own size.
// The int32 sums cannot overflow: |Q|, |C| <= M with 2 dp M^2 < 2^31.
//
// qscanPanels, per chunk of query rows and block of vectors: scores every (row, vector) approximately, keeps per row
// a max-heap of the k smallest upper bounds (approx + the block's largest m_j) and the block's approximate scores,
// then rescores exactly the vectors whose lower bound approx - m_j is <= min(k-th smallest upper bound, the exact
// heap's worst). A vector left
// out has exact score >= lower > that, and k vectors have exact score <= it, so it cannot be in the top k. A zero
// query row needs no bounds: its scores are the biases, bit for bit.
// Its work (qscanWorkBytes(d, k)): rows i32[QROWS / 4][dp][4] | row info f32[QROWS][4] (alpha s_q, |alpha| eq,
// |alpha| ||q||, 1 for a zero row) | 32 bytes of lanes | a rescoring list u32[4][2] | the group's block margins
// f32[4] (+16 spare) | approximate scores f32[4][QBLOCK] | upper-bound heaps f32[QROWS][max(k, 4)] (for k = 1,
// f32[QROWS][8]: the block's running minimum per lane, then the row's bound: ubWords) | exclusion cursors
// u32[QROWS][2] (next, end).
//
// Filters (topk.ts): a filtered-out vector's upper bound would tighten the threshold below what k returnable vectors
// reach, so the scan drops filtered vectors before the bounds (their approximations become +Infinity); what is
// rescored still goes through heapPush, which checks the filters again.

import { madd } from './simd';
import { armedAllowMask, armedExclLists, exclRange, heapPush } from './topk';
import { padTo8 } from './panels';

/** Query rows per chunk (a multiple of 4), at most: the row info and heaps stay small. */
const QROWS_MAX: u32 = 256;
/** Bytes of quantized query rows per chunk: kept in L1 while a block passes. */
const QCHUNK_BYTES: u32 = 16 * 1024;
/** Bytes of int16 panels per block: kept in L2 while every row group of a chunk passes over it. */
const QBLOCK_BYTES: u32 = 64 * 1024;
/** Vectors per block, at most (the approximate-score buffer holds 4 rows of them). */
const QBLOCK_MAX: u32 = 1024;

@inline function pairs(d: u32): u32 {
  return (d + 1) >> 1;
}

/** Largest |code| for dp pairs: 2 dp M^2 < 2^31, so no int32 sum of products overflows. */
@inline function codeMax(dp: u32): f32 {
  return <f32>min<f64>(32767, Math.floor(Math.sqrt(2147483647.0 / <f64>(2 * dp))));
}

@inline function qrows(d: u32): u32 {
  let r = (QCHUNK_BYTES / (pairs(d) << 2)) & ~3;
  if (r < 4) r = 4;
  return r > QROWS_MAX ? QROWS_MAX : r;
}

@inline function qblock(d: u32): u32 {
  let b = (QBLOCK_BYTES / (pairs(d) << 5)) << 3;
  if (b < 8) b = 8;
  return b > QBLOCK_MAX ? QBLOCK_MAX : b;
}

/**
 * f32 words per row of upper bounds: a heap of k (4 at least: approx8 writes 4 lanes); for k = 1 the block's running
 * minimum of the approximations f32[4], then the row's upper bound so far (and 3 spare).
 */
@inline function ubWords(k: u32): u32 {
  return k == 1 ? 8 : max<u32>(k, 4);
}

/** Bytes of qscanPanels's work area for dimension d and heaps of k. */
export function qscanWorkBytes(d: u32, k: u32): f64 {
  const r = <f64>qrows(d);
  return r * <f64>(pairs(d) << 2) + r * 16 + 96 + <f64>(qblock(d) << 4) + r * <f64>ubWords(k) * 4 + r * 8;
}

/** Bytes of the int16 panels of nb vectors of dimension d (qinfo takes 16 * padTo8(nb) more). */
export function qpanelsBytes(nb: u32, d: u32): f64 {
  return <f64>padTo8(nb) * <f64>(pairs(d) << 2);
}

/**
 * Quantizes positions [from, to) of an f32 panel buffer (panels.ts layout) into int16 panels and their qinfo (layout
 * above), with biasPtr: f32[padTo8(to)] the scan's bias. Positions from the start of from's panel are redone, so
 * vectors can be appended as packPanels appends them. Padding positions get zero codes and bounds.
 */
export function qpanelsPack(panelsPtr: usize, biasPtr: usize, from: u32, to: u32, d: u32, qpPtr: usize, infoPtr: usize): void {
  const dp = pairs(d);
  const M = codeMax(dp);
  const g = <f64>(d + 2) * 1.1920928955078125e-7; // (d + 2) 2^-23
  const rel = 1.0 / 524288; // 2^-19
  const up = 1 + 1.0 / 1048576; // f64 -> f32 rounds to nearest: stored bounds are pushed up first
  const end = padTo8(to);
  for (let j = from & ~7; j < end; j++) {
    const src = panelsPtr + (<usize>(j & ~7) * d << 2) + (<usize>(j & 7) << 2);
    const dst = qpPtr + (<usize>(j & ~7) * dp << 2) + (<usize>(j & 7) << 2);
    const info = infoPtr + (<usize>(j & ~7) << 4) + (<usize>(j & 7) << 2);
    if (j >= to) {
      for (let t: u32 = 0; t < dp; t++) store<u32>(dst + (<usize>t << 5), 0);
      for (let f: usize = 0; f < 4; f++) store<f32>(info + (f << 5), 0);
      continue;
    }
    let m: f32 = 0;
    for (let t: u32 = 0; t < d; t++) m = max(m, abs(load<f32>(src + (<usize>t << 5))));
    const s: f32 = m / M;
    let a2: f64 = 0, e2: f64 = 0, n2: f64 = 0;
    for (let t: u32 = 0; t < dp; t++) {
      let w: u32 = 0;
      for (let h: u32 = 0; h < 2; h++) {
        const tt: u32 = 2 * t + h;
        if (tt >= d) break;
        const c = load<f32>(src + (<usize>tt << 5));
        const C: f32 = s > 0 ? min(M, max(-M, nearest(c / s))) : 0;
        const ch = <f64>s * <f64>C;
        a2 += ch * ch;
        e2 += (<f64>c - ch) * (<f64>c - ch);
        n2 += <f64>c * <f64>c;
        w |= (<u32>(<i32>C) & 0xffff) << (h << 4);
      }
      store<u32>(dst + (<usize>t << 5), w);
    }
    const an = Math.sqrt(a2);
    const bn = Math.sqrt(e2) + g * Math.sqrt(n2);
    const z = abs<f64>(<f64>load<f32>(biasPtr + (<usize>j << 2)));
    store<f32>(info, s);
    store<f32>(info, <f32>((an * (1 + 1.0 / 131072) + rel * (an + bn)) * up), 32);
    store<f32>(info, <f32>((bn * (1 + 1.0 / 131072) + rel * (an + bn)) * up), 64);
    store<f32>(info, <f32>(((z < Infinity ? rel * z : 0) + 4 * <f64>(2 * d + 8) * 1.401298464324817e-45) * up), 96);
  }
}

/**
 * Quantizes query rows [0, n) of qPtr: f32[n][d] into groups of 4 (the last one padded with zero rows): out
 * i32[ceil(n / 4)][dp][4], and rowInfo f32[4 * ceil(n / 4)][4] = (alpha s_q, |alpha| eq, |alpha| ||q||, zero row). In f32, 8 components at a time: eq and ||q|| are rounded up by more than their sums' error
 * (the residual's own rounding is under 4 u ||q||); rows under 1e-30 are all residual (s_q = 0).
 */
function qQuantize(qPtr: usize, n: u32, d: u32, outPtr: usize, rowInfo: usize, alpha: f32): void {
  const dp = pairs(d);
  const M = codeMax(dp);
  const aa = abs<f64>(<f64>alpha);
  const grow = 1 + <f64>(d + 2) / 16777216;
  const n4 = (n + 3) & ~3;
  const d8 = d & ~7;
  // round to nearest by adding 1.5 * 2^23: the sum's low mantissa bits are the integer (|v / s| <= M < 2^22, so no
  // clamp: v * (M / m) stays under M + 0.5)
  const magic = f32x4.splat(12582912), magicBits = i32x4.splat(0x4b400000);
  for (let i: u32 = 0; i < n4; i++) {
    const dst = outPtr + (<usize>(i >> 2) * dp << 4) + (<usize>(i & 3) << 2);
    const info = rowInfo + (<usize>i << 4);
    if (i >= n) {
      for (let t: u32 = 0; t < dp; t++) store<u32>(dst + (<usize>t << 4), 0);
      v128.store(info, f32x4.splat(0));
      continue;
    }
    const src = qPtr + (<usize>i * d << 2);
    // four running maxima: one chain of d / 4 dependent pmax would be latency-bound
    let m0 = f32x4.splat(0), m1 = m0, m2 = m0, m3 = m0;
    let t: u32 = 0;
    for (; t + 16 <= d8; t += 16) {
      const s = src + (<usize>t << 2);
      m0 = f32x4.pmax(m0, f32x4.abs(v128.load(s)));
      m1 = f32x4.pmax(m1, f32x4.abs(v128.load(s, 16)));
      m2 = f32x4.pmax(m2, f32x4.abs(v128.load(s, 32)));
      m3 = f32x4.pmax(m3, f32x4.abs(v128.load(s, 48)));
    }
    for (; t < d8; t += 4) m0 = f32x4.pmax(m0, f32x4.abs(v128.load(src + (<usize>t << 2))));
    const mx = f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3));
    let m: f32 = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (; t < d; t++) m = max(m, abs(load<f32>(src + (<usize>t << 2))));
    const tiny = m < <f32>1e-30;
    const s: f32 = tiny ? 0 : m / M;
    const invs: f32 = tiny ? 0 : M / m;
    const inv = f32x4.splat(invs);
    const sv = f32x4.splat(s);
    let e2 = f32x4.splat(0), n2 = f32x4.splat(0);
    t = 0;
    for (; t < d8; t += 8) {
      const v0 = v128.load(src + (<usize>t << 2)), v1 = v128.load(src + (<usize>t << 2), 16);
      const y0 = f32x4.add(f32x4.mul(v0, inv), magic), y1 = f32x4.add(f32x4.mul(v1, inv), magic);
      const c0 = f32x4.sub(y0, magic), c1 = f32x4.sub(y1, magic);
      const r0 = f32x4.sub(v0, f32x4.mul(sv, c0)), r1 = f32x4.sub(v1, f32x4.mul(sv, c1));
      e2 = f32x4.add(e2, f32x4.add(f32x4.mul(r0, r0), f32x4.mul(r1, r1)));
      n2 = f32x4.add(n2, f32x4.add(f32x4.mul(v0, v0), f32x4.mul(v1, v1)));
      const w = i16x8.narrow_i32x4_s(i32x4.sub(y0, magicBits), i32x4.sub(y1, magicBits));
      const o = dst + (<usize>t << 3); // pair t / 2, 16 bytes a pair
      v128.store32_lane(o, w, 0);
      v128.store32_lane(o, w, 1, 16);
      v128.store32_lane(o, w, 2, 32);
      v128.store32_lane(o, w, 3, 48);
    }
    let e2s = <f64>f32x4.extract_lane(e2, 0) + <f64>f32x4.extract_lane(e2, 1) + <f64>f32x4.extract_lane(e2, 2) + <f64>f32x4.extract_lane(e2, 3);
    let n2s = <f64>f32x4.extract_lane(n2, 0) + <f64>f32x4.extract_lane(n2, 1) + <f64>f32x4.extract_lane(n2, 2) + <f64>f32x4.extract_lane(n2, 3);
    for (let tp = t >> 1; tp < dp; tp++) {
      let w: u32 = 0;
      for (let h: u32 = 0; h < 2; h++) {
        const tt: u32 = 2 * tp + h;
        if (tt >= d) break;
        const c = load<f32>(src + (<usize>tt << 2));
        const C: f32 = nearest(c * invs);
        const r = <f64>c - <f64>s * <f64>C;
        e2s += r * r;
        n2s += <f64>c * <f64>c;
        w |= (<u32>(<i32>C) & 0xffff) << (h << 4);
      }
      store<u32>(dst + (<usize>tp << 4), w);
    }
    const nq = Math.sqrt(n2s) * grow;
    const eq = Math.sqrt(e2s) * grow + nq / 2097152;
    const up = aa * (1 + 1.0 / 1048576);
    store<f32>(info, s * alpha);
    store<f32>(info, <f32>(eq * up), 4);
    store<f32>(info, <f32>(nq * up), 8);
    store<f32>(info, n2s == 0 ? 1 : 0, 12);
  }
}

/** Max-heap of k values at h (root = the k-th smallest offered): offers v. */
@inline function ubPush(h: usize, k: u32, v: f32): void {
  if (!(v < load<f32>(h))) return;
  let i: u32 = 0;
  while (true) {
    const l: u32 = 2 * i + 1;
    if (l >= k) break;
    let c = l;
    let cv = load<f32>(h + (<usize>l << 2));
    if (l + 1 < k) {
      const rv = load<f32>(h + (<usize>(l + 1) << 2));
      if (rv > cv) { c = l + 1; cv = rv; }
    }
    if (!(cv > v)) break;
    store<f32>(h + (<usize>i << 2), cv);
    i = c;
  }
  store<f32>(h + (<usize>i << 2), v);
}

/** Offers the upper bounds of 8 vectors (two f32x4) to the heap at h when any beats its root. */
@inline function ubOffer(h: usize, k: u32, u0: v128, u1: v128, tmp: usize): void {
  const root = v128.load32_splat(h);
  let bits = i32x4.bitmask(f32x4.lt(u0, root)) | (i32x4.bitmask(f32x4.lt(u1, root)) << 4);
  if (bits == 0) return;
  v128.store(tmp, u0);
  v128.store(tmp, u1, 16);
  // only the lanes under the root as it was (the root only falls), in lane order
  while (bits != 0) {
    const l = <u32>ctz(bits);
    bits &= bits - 1;
    ubPush(h, k, load<f32>(tmp + (<usize>l << 2)));
  }
}

/**
 * f32 scores of up to 4 (row, vector) pairs, list: u32[4][2] = (query row qi, vector j), cnt of them used, offered to
 * their rows' heaps. Each is panel4x8's sum in its order with its madd; four independent chains, because one chain
 * of d dependent multiply-adds is latency-bound.
 */
function rescorePush(
  list: usize, cnt: u32, qPtr: usize, d: u32, panelsPtr: usize, biasPtr: usize, alpha: v128,
  k: u32, heapDistPtr: usize, heapIdPtr: usize, idBase: i32,
): void {
  for (let l = cnt; l < 4; l++) store<u64>(list + (<usize>l << 3), load<u64>(list));
  const qstride = <usize>d << 2;
  const j0 = load<u32>(list, 4), j1 = load<u32>(list, 12), j2 = load<u32>(list, 20), j3 = load<u32>(list, 28);
  let p0 = qPtr + <usize>load<u32>(list) * qstride, p1 = qPtr + <usize>load<u32>(list, 8) * qstride;
  let p2 = qPtr + <usize>load<u32>(list, 16) * qstride, p3 = qPtr + <usize>load<u32>(list, 24) * qstride;
  let c0 = panelsPtr + (<usize>(j0 & ~7) * d << 2) + (<usize>(j0 & 7) << 2);
  let c1 = panelsPtr + (<usize>(j1 & ~7) * d << 2) + (<usize>(j1 & 7) << 2);
  let c2 = panelsPtr + (<usize>(j2 & ~7) * d << 2) + (<usize>(j2 & 7) << 2);
  let c3 = panelsPtr + (<usize>(j3 & ~7) * d << 2) + (<usize>(j3 & 7) << 2);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  for (let t: u32 = 0; t < d; t++) {
    a0 = madd(v128.load32_splat(p0), v128.load32_splat(c0), a0);
    a1 = madd(v128.load32_splat(p1), v128.load32_splat(c1), a1);
    a2 = madd(v128.load32_splat(p2), v128.load32_splat(c2), a2);
    a3 = madd(v128.load32_splat(p3), v128.load32_splat(c3), a3);
    p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    c0 += 32; c1 += 32; c2 += 32; c3 += 32;
  }
  const s0 = madd(alpha, a0, v128.load32_splat(biasPtr + (<usize>j0 << 2)));
  const s1 = madd(alpha, a1, v128.load32_splat(biasPtr + (<usize>j1 << 2)));
  const s2 = madd(alpha, a2, v128.load32_splat(biasPtr + (<usize>j2 << 2)));
  const s3 = madd(alpha, a3, v128.load32_splat(biasPtr + (<usize>j3 << 2)));
  const hstep = <usize>k << 2;
  for (let l: u32 = 0; l < cnt; l++) {
    const qi = <usize>load<u32>(list + (<usize>l << 3));
    const j = load<u32>(list + (<usize>l << 3), 4);
    const sc = l == 0 ? f32x4.extract_lane(s0, 0) : l == 1 ? f32x4.extract_lane(s1, 0) : l == 2 ? f32x4.extract_lane(s2, 0) : f32x4.extract_lane(s3, 0);
    heapPush(heapDistPtr + qi * hstep, heapIdPtr + qi * hstep, k, sc, idBase + <i32>j);
  }
}

/**
 * One row's 8 approximate scores, approx = bias + (alpha s_q) * scale_j * dot (+Infinity for the lanes set in fbits:
 * filtered out), into the buffer at low; their upper
 * bounds approx + mr (mr: the row's margin over the block, >= every m_j there) offered to the row's heap at ub. For
 * k = 1 the running minimum of the approximations instead: fl(min + mr) = min fl(approx + mr) (rounding is monotone),
 * so the margin is added once per block, in the rescoring pass.
 */
@inline function approx8(
  acc0: v128, acc1: v128, rp: usize, pi: usize, z0: v128, z1: v128, mr: v128, low: usize, ub: usize, k: u32, tmp: usize, fbits: u32,
): void {
  const sq = v128.load32_splat(rp);
  let x0 = madd(f32x4.mul(f32x4.convert_i32x4_s(acc0), v128.load(pi)), sq, z0);
  let x1 = madd(f32x4.mul(f32x4.convert_i32x4_s(acc1), v128.load(pi, 16)), sq, z1);
  if (fbits != 0) {
    // filtered vectors: +Infinity, so that they neither bound the row nor get rescored
    const inf = f32x4.splat(Infinity);
    const bit = i32x4(1, 2, 4, 8);
    x0 = v128.bitselect(inf, x0, i32x4.ne(v128.and(i32x4.splat(fbits), bit), i32x4.splat(0)));
    x1 = v128.bitselect(inf, x1, i32x4.ne(v128.and(i32x4.splat(fbits >> 4), bit), i32x4.splat(0)));
  }
  v128.store(low, x0);
  v128.store(low, x1, 16);
  if (k == 1) {
    // the k-th smallest upper bound is the smallest: a running minimum, no branch (approximations are never NaN)
    v128.store(ub, f32x4.pmin(v128.load(ub), f32x4.pmin(x0, x1)));
  } else {
    ubOffer(ub, k, f32x4.add(x0, mr), f32x4.add(x1, mr), tmp);
  }
}

/**
 * Filtered lanes of the panel of ids id0 .. id0 + 7 for one query row, as 8 bits (bit l: id0 + l): those the armed
 * allow bitmap leaves out (allowBits, the same for every row: filteredByAllow) and the row's excluded ids, read from
 * its cursor slot (u32 next, u32 end into armedExclLists), which moves past them. Ids come in ascending order
 * across a row's calls, so each excluded id is read once.
 */
@inline function filteredBits(id0: i32, allowBits: u32, slot: usize, lists: usize): u32 {
  let bits = allowBits;
  let c = load<u32>(slot);
  const e = load<u32>(slot, 4);
  while (c < e) {
    const v = load<i32>(lists + (<usize>c << 2)) - id0;
    if (v >= 8) break;
    if (v >= 0) bits |= 1 << v;
    c++;
  }
  store<u32>(slot, c);
  return bits;
}

/** The ids id0 .. id0 + 7 the armed allow bitmap at mask leaves out, as 8 bits (0 when no bitmap is armed). */
@inline function filteredByAllow(mask: usize, id0: i32): u32 {
  if (mask == 0) return 0;
  // two bytes: id0 need not be a multiple of 8 (the bitmap has 8 bytes of slack past its end)
  return ~(<u32>load<u16>(mask + (<usize>id0 >>> 3)) >> (<u32>id0 & 7)) & 0xff;
}

/** Largest lane of a f32x4 (all lanes finite or +Infinity). */
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/**
 * Top-k scan as scanPanels (same arguments, same heaps out, bit for bit), with the int16 copy qpPtr / infoPtr of the
 * panels (qpanelsPack) and a work area of qscanWorkBytes(d, k) bytes. The filters armed in topk.ts (allow bitmap,
 * exclusion lists) are applied before the bounds: a filtered vector gets the approximation +Infinity, so it neither
 * enters a row's upper bounds (the k-th smallest bound stays one that k returnable vectors reach) nor is rescored.
 * Returns how many (row, vector) pairs were rescored in f32: what the prefilter left of nq * nb.
 */
export function qscanPanels(
  qPtr: usize, nq: u32, d: u32, panelsPtr: usize, biasPtr: usize, nb: u32, alpha: f32,
  k: u32, heapDistPtr: usize, heapIdPtr: usize, idBase: i32, qpPtr: usize, infoPtr: usize, workPtr: usize,
): f64 {
  const dp = pairs(d);
  const av = f32x4.splat(alpha);
  const qstride = <usize>d << 2;
  const qr = qrows(d);
  const bv = qblock(d);
  const np = padTo8(nb);
  const groupBytes = <usize>dp << 4;
  const panelBytes = <usize>dp << 5;
  const rowsPtr = workPtr;
  const infoRows = rowsPtr + <usize>qr * (<usize>dp << 2);
  const tmp = infoRows + (<usize>qr << 4);
  const list = tmp + 32; // the rescoring list, u32[4][2]
  const margins = tmp + 64; // the 4 rows' margins over the block, f32[4]
  const lowPtr = tmp + 96;
  const ubPtr = lowPtr + (<usize>bv << 4);
  const hstep = <usize>k << 2;
  const ustep = <usize>ubWords(k) << 2;
  const curPtr = ubPtr + <usize>qr * ustep; // per row: u32 next, u32 end of its exclusion list (filteredBits)
  const allowMask = armedAllowMask();
  const exclLists = armedExclLists();
  const armed = allowMask != 0 || exclLists != 0;
  let rescored: f64 = 0;
  for (let qa: u32 = 0; qa < nq; qa += qr) {
    const qe = min(qa + qr, nq);
    qQuantize(qPtr + <usize>qa * qstride, qe - qa, d, rowsPtr, infoRows, alpha);
    const ubCount = <usize>(qe - qa) * (ustep >> 2);
    for (let i: usize = 0; i < ubCount; i++) store<f32>(ubPtr + (i << 2), Infinity);
    for (let qi = qa; qi < qe; qi++) {
      const slot = curPtr + (<usize>(qi - qa) << 3);
      const hd = heapDistPtr + <usize>qi * hstep;
      store<u32>(slot, exclLists != 0 ? exclRange(hd, 0) : 0);
      store<u32>(slot, exclLists != 0 ? exclRange(hd, 1) : 0, 4);
    }
    for (let ja: u32 = 0; ja < np; ja += bv) {
      const je = min(ja + bv, np);
      // the block's largest A_j, B_j, Z_j: one margin per row over the block in the scan loop, where a margin per
      // vector would cost 2 multiply-adds a lane; candidates are then checked with their own m_j
      let va = f32x4.splat(0), vb = f32x4.splat(0), vz = f32x4.splat(0);
      for (let j = ja; j < je; j += 8) {
        const pi = infoPtr + (<usize>j << 4);
        va = f32x4.pmax(va, f32x4.pmax(v128.load(pi, 32), v128.load(pi, 48)));
        vb = f32x4.pmax(vb, f32x4.pmax(v128.load(pi, 64), v128.load(pi, 80)));
        vz = f32x4.pmax(vz, f32x4.pmax(v128.load(pi, 96), v128.load(pi, 112)));
      }
      const amax = <f64>hmax(va), bmax = <f64>hmax(vb), zmax = <f64>hmax(vz);
      for (let g = qa; g < qe; g += 4) {
        const rows = min<u32>(4, qe - g);
        const qg = rowsPtr + <usize>((g - qa) >> 2) * groupBytes;
        const ri = infoRows + (<usize>(g - qa) << 4);
        for (let r: usize = 0; r < 4; r++) {
          const rp = ri + (r << 4);
          const m = <f64>load<f32>(rp, 4) * amax + <f64>load<f32>(rp, 8) * bmax + zmax;
          store<f32>(margins + (r << 2), <f32>(m * (1 + 1.0 / 1048576)));
        }
        const ub0 = ubPtr + <usize>(g - qa) * ustep;
        const ub1 = ub0 + ustep, ub2 = ub1 + ustep, ub3 = ub2 + ustep;
        const qend = qg + groupBytes;
        const slots = curPtr + (<usize>(g - qa) << 3);
        // groups of 1 or 2 rows (a search of one query, the last rows of a batch) get loops of their own, and 3 rows
        // an inner loop of their own: the 4-row loop would spend 3 / 4, 1 / 2 or 1 / 4 of its multiply-adds on rows
        // that are not there
        if (rows == 1) {
          for (let j = ja; j < je; j += 8) {
            let a00 = i32x4.splat(0), a01 = i32x4.splat(0);
            let c = qpPtr + <usize>(j >> 3) * panelBytes;
            for (let q = qg; q < qend; q += 16, c += 32) {
              const b0 = v128.load32_splat(q);
              a00 = i32x4.add(a00, i32x4.dot_i16x8_s(b0, v128.load(c)));
              a01 = i32x4.add(a01, i32x4.dot_i16x8_s(b0, v128.load(c, 16)));
            }
            const z = biasPtr + (<usize>j << 2);
            const f0 = armed ? filteredBits(idBase + <i32>j, filteredByAllow(allowMask, idBase + <i32>j), slots, exclLists) : 0;
            approx8(a00, a01, ri, infoPtr + (<usize>j << 4), v128.load(z), v128.load(z, 16), v128.load32_splat(margins), lowPtr + (<usize>(j - ja) << 2), ub0, k, tmp, f0);
          }
        } else if (rows == 2) {
          for (let j = ja; j < je; j += 8) {
            let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
            let c = qpPtr + <usize>(j >> 3) * panelBytes;
            for (let q = qg; q < qend; q += 16, c += 32) {
              const c0 = v128.load(c), c1 = v128.load(c, 16);
              const b0 = v128.load32_splat(q);
              a00 = i32x4.add(a00, i32x4.dot_i16x8_s(b0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(b0, c1));
              const b1 = v128.load32_splat(q, 4);
              a10 = i32x4.add(a10, i32x4.dot_i16x8_s(b1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(b1, c1));
            }
            const pi = infoPtr + (<usize>j << 4);
            const z0 = v128.load(biasPtr + (<usize>j << 2)), z1 = v128.load(biasPtr + (<usize>j << 2), 16);
            const lo = lowPtr + (<usize>(j - ja) << 2);
            let f0: u32 = 0, f1: u32 = 0;
            if (armed) {
              const fa = filteredByAllow(allowMask, idBase + <i32>j);
              f0 = filteredBits(idBase + <i32>j, fa, slots, exclLists);
              f1 = filteredBits(idBase + <i32>j, fa, slots + 8, exclLists);
            }
            approx8(a00, a01, ri, pi, z0, z1, v128.load32_splat(margins), lo, ub0, k, tmp, f0);
            approx8(a10, a11, ri + 16, pi, z0, z1, v128.load32_splat(margins, 4), lo + (<usize>bv << 2), ub1, k, tmp, f1);
          }
        } else {
          for (let j = ja; j < je; j += 8) {
            let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
            let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
            let c = qpPtr + <usize>(j >> 3) * panelBytes;
            let q = qg;
            if (rows == 4) {
              while (q < qend) {
                const c0 = v128.load(c), c1 = v128.load(c, 16);
                const b0 = v128.load32_splat(q);
                a00 = i32x4.add(a00, i32x4.dot_i16x8_s(b0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(b0, c1));
                const b1 = v128.load32_splat(q, 4);
                a10 = i32x4.add(a10, i32x4.dot_i16x8_s(b1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(b1, c1));
                const b2 = v128.load32_splat(q, 8);
                a20 = i32x4.add(a20, i32x4.dot_i16x8_s(b2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(b2, c1));
                const b3 = v128.load32_splat(q, 12);
                a30 = i32x4.add(a30, i32x4.dot_i16x8_s(b3, c0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(b3, c1));
                q += 16;
                c += 32;
              }
            } else {
              // a group of three: the same loop without the fourth row's multiply-adds. A loop of its own with its
              // own tail would cost 2 KB of wasm, over the size budget (the tail below skips the fourth row); one
              // loop with a branch on the fourth row made 1000-query batches 1-5 % slower.
              while (q < qend) {
                const c0 = v128.load(c), c1 = v128.load(c, 16);
                const b0 = v128.load32_splat(q);
                a00 = i32x4.add(a00, i32x4.dot_i16x8_s(b0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(b0, c1));
                const b1 = v128.load32_splat(q, 4);
                a10 = i32x4.add(a10, i32x4.dot_i16x8_s(b1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(b1, c1));
                const b2 = v128.load32_splat(q, 8);
                a20 = i32x4.add(a20, i32x4.dot_i16x8_s(b2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(b2, c1));
                q += 16;
                c += 32;
              }
            }
            const pi = infoPtr + (<usize>j << 4);
            const z0 = v128.load(biasPtr + (<usize>j << 2)), z1 = v128.load(biasPtr + (<usize>j << 2), 16);
            const lo = lowPtr + (<usize>(j - ja) << 2);
            const lstep = <usize>bv << 2;
            let f0: u32 = 0, f1: u32 = 0, f2: u32 = 0, f3: u32 = 0;
            if (armed) {
              const fa = filteredByAllow(allowMask, idBase + <i32>j);
              f0 = filteredBits(idBase + <i32>j, fa, slots, exclLists);
              f1 = filteredBits(idBase + <i32>j, fa, slots + 8, exclLists);
              f2 = filteredBits(idBase + <i32>j, fa, slots + 16, exclLists);
              if (rows > 3) f3 = filteredBits(idBase + <i32>j, fa, slots + 24, exclLists);
            }
            // the rows' info comes from memory: kept in registers across the loop it would crowd the accumulators out
            approx8(a00, a01, ri, pi, z0, z1, v128.load32_splat(margins), lo, ub0, k, tmp, f0);
            approx8(a10, a11, ri + 16, pi, z0, z1, v128.load32_splat(margins, 4), lo + lstep, ub1, k, tmp, f1);
            approx8(a20, a21, ri + 32, pi, z0, z1, v128.load32_splat(margins, 8), lo + 2 * lstep, ub2, k, tmp, f2);
            if (rows > 3) approx8(a30, a31, ri + 48, pi, z0, z1, v128.load32_splat(margins, 12), lo + 3 * lstep, ub3, k, tmp, f3);
          }
        }
        // rescore what may still enter each row's top k, 4 at a time
        let cnt: u32 = 0;
        for (let r: u32 = 0; r < rows; r++) {
          const qi = g + r;
          const hd = heapDistPtr + <usize>qi * hstep;
          const lrow = lowPtr + <usize>r * (<usize>bv << 2);
          const ub = ubPtr + <usize>(qi - qa) * ustep;
          let ubRoot: f32;
          if (k == 1) {
            // this block's smallest approximation plus its margin, into the row's bound; the minimum starts again
            const low = min(min(load<f32>(ub), load<f32>(ub, 4)), min(load<f32>(ub, 8), load<f32>(ub, 12)));
            ubRoot = min(load<f32>(ub, 16), low + load<f32>(margins + (<usize>r << 2)));
            store<f32>(ub, ubRoot, 16);
            v128.store(ub, f32x4.splat(Infinity));
          } else {
            ubRoot = load<f32>(ub);
          }
          const jend = min(je, nb); // padding vectors (bias +Infinity) never enter
          if (load<f32>(infoRows + (<usize>(qi - qa) << 4), 12) != 0) {
            // a zero row: its f32 scores are bias + alpha * (+0), the biases themselves
            const hi = heapIdPtr + <usize>qi * hstep;
            for (let j = ja; j < jend; j++) heapPush(hd, hi, k, load<f32>(biasPtr + (<usize>j << 2)), idBase + <i32>j);
            continue;
          }
          const mr = f32x4.splat(load<f32>(margins + (<usize>r << 2)));
          const rp = infoRows + (<usize>(qi - qa) << 4);
          const eqa = load<f32>(rp, 4), nqa = load<f32>(rp, 8);
          // the threshold moves only when a batch is rescored: then it is read again
          let thr = min(ubRoot, load<f32>(hd));
          let tv = f32x4.splat(thr);
          for (let j = ja; j < jend; j += 16) {
            // 16 lower bounds (approx - the row's block margin) a test; the buffer holds whole panels, and the lanes
            // past je are checked below
            const lp = lrow + (<usize>(j - ja) << 2);
            // lanes whose lower bound may pass, as bits (lanes past je read panel padding: cut by jend below)
            let bits = i32x4.bitmask(f32x4.le(f32x4.sub(v128.load(lp), mr), tv)) | (i32x4.bitmask(f32x4.le(f32x4.sub(v128.load(lp, 16), mr), tv)) << 4);
            if (j + 16 <= je) bits |= (i32x4.bitmask(f32x4.le(f32x4.sub(v128.load(lp, 32), mr), tv)) << 8) | (i32x4.bitmask(f32x4.le(f32x4.sub(v128.load(lp, 48), mr), tv)) << 12);
            while (bits != 0) {
              const jj = j + <u32>ctz(bits);
              bits &= bits - 1;
              if (jj >= jend) break;
              // the vector's own margin m_j
              const pi = infoPtr + (<usize>(jj & ~7) << 4) + (<usize>(jj & 7) << 2);
              const m = eqa * load<f32>(pi, 32) + (nqa * load<f32>(pi, 64) + load<f32>(pi, 96));
              if (!(load<f32>(lrow + (<usize>(jj - ja) << 2)) - m <= thr)) continue;
              store<u32>(list + (<usize>cnt << 3), qi);
              store<u32>(list + (<usize>cnt << 3), jj, 4);
              if (++cnt == 4) {
                rescorePush(list, 4, qPtr, d, panelsPtr, biasPtr, av, k, heapDistPtr, heapIdPtr, idBase);
                cnt = 0;
                thr = min(ubRoot, load<f32>(hd));
                tv = f32x4.splat(thr);
              }
              rescored++;
            }
          }
        }
        if (cnt > 0) rescorePush(list, cnt, qPtr, d, panelsPtr, biasPtr, av, k, heapDistPtr, heapIdPtr, idBase);
      }
    }
  }
  return rescored;
}
