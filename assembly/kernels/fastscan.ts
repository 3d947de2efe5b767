// 4-bit PQ fast-scan (André et al., "Quicker ADC"; Faiss IndexPQFastScan): the 16-entry distance table of a
// sub-quantizer, quantized to u8, sits in one v128, and i8x16.swizzle looks up 16 codes in one instruction.
//
// Codes are stored in blocks of 32 vectors. A block is u8[m][16]; for sub-quantizer j, byte i holds the code of
// vector i of the block in its low nibble and the code of vector 16 + i in its high nibble:
//
//   block b = bytes [b * m * 16, (b + 1) * m * 16)          vector r of the index is slot r & 31 of block r >> 5
//   ┌──────────── sub-quantizer 0 (16 bytes) ────────────┐┌─── sub-quantizer 1 ───┐     ┌── sub-quantizer m-1 ──┐
//   │ byte:   0      1      2    ...   15                ││ 0    1   ...   15     │ ... │ 0    1   ...   15     │
//   │ lo:   c0[0]  c0[1]  c0[2]  ...  c0[15]   (slots 0..15)                                                   │
//   │ hi:   c0[16] c0[17] c0[18] ...  c0[31]   (slots 16..31)     cj[s] = code j of the vector in slot s        │
//   └─────────────────────────────────────────────────────┘└───────────────────────┘     └───────────────────────┘
//
// So one v128 load gives the codes of all 32 vectors for one sub-quantizer, `& 0x0f` the first 16 and `>> 4` the
// other 16. Bytes per vector are m / 2 (the packed 4-bit size); the last block is padded with unused slots, which
// the scans never report. The block layout is private to the index: saved files hold the standard packed codes.
//
// Quantized tables (fsQuantize): u8[m][16] per query, with invScale and bias such that
//   distance ≈ sum_j lut[j][code_j] * invScale + bias.
// Entries are at most qmax = min(255, floor(65535 / m)), so a sum over m sub-quantizers never exceeds 65535.
//
// Accumulation in u16 lanes without widening (Faiss's trick): the 16 looked-up bytes r, read as 8 u16 lanes, are
// r[2l] + 256 r[2l+1]. Adding them to accA and (lanes >> 8) = r[2l+1] to accB gives, after all m sub-quantizers,
//   odd slots  2l + 1:  accB[l]                 (exact: a sum of bytes, at most 65535)
//   even slots 2l:      accA[l] - (accB[l] << 8) (modulo 2^16, exact since the true sum is at most 65535)

import { heapPush } from './topk';
import { kernelScratch } from '../memory';

// The four u16x8 sums of the last accumulated block: even slots 0..15, odd slots 0..15, even 16..31, odd 16..31.
// Slot s (0..31) is at byte offset (s >> 4) * 32 + (s & 1) * 16 + ((s & 15) >> 1) * 2. fsScan2 keeps its second
// query's sums at SUMS + 64.
// SUMS is bytes 128..255 of the per-thread scratch (memory.ts).
@inline function sumsBase(): usize {
  return kernelScratch() + 128;
}

@inline function lookup(table: v128, idx: v128): v128 {
  // indices are nibbles (< 16), where the relaxed and the plain swizzle agree; the relaxed one skips the
  // out-of-range fix-up that the plain one costs on x64
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}

@inline function slotOffset(s: u32): usize {
  return <usize>(((s >> 4) << 5) + ((s & 1) << 4) + ((s & 15) >> 1 << 1));
}

/** Sums the tables over the m sub-quantizers of one block into SUMS (see above). */
@inline function accumulateBlock(code: usize, lut: usize, m: u32): void {
  const low = i8x16.splat(0x0f);
  let aLo = i16x8.splat(0), bLo = i16x8.splat(0), aHi = i16x8.splat(0), bHi = i16x8.splat(0);
  let j: u32 = 0;
  for (; j + 2 <= m; j += 2) {
    const c0 = v128.load(code);
    const t0 = v128.load(lut);
    const c1 = v128.load(code, 16);
    const t1 = v128.load(lut, 16);
    const r0 = lookup(t0, v128.and(c0, low));
    const s0 = lookup(t0, v128.and(i16x8.shr_u(c0, 4), low));
    const r1 = lookup(t1, v128.and(c1, low));
    const s1 = lookup(t1, v128.and(i16x8.shr_u(c1, 4), low));
    aLo = i16x8.add(aLo, i16x8.add(r0, r1));
    bLo = i16x8.add(bLo, i16x8.add(i16x8.shr_u(r0, 8), i16x8.shr_u(r1, 8)));
    aHi = i16x8.add(aHi, i16x8.add(s0, s1));
    bHi = i16x8.add(bHi, i16x8.add(i16x8.shr_u(s0, 8), i16x8.shr_u(s1, 8)));
    code += 32;
    lut += 32;
  }
  if (j < m) {
    const c0 = v128.load(code);
    const t0 = v128.load(lut);
    const r0 = lookup(t0, v128.and(c0, low));
    const s0 = lookup(t0, v128.and(i16x8.shr_u(c0, 4), low));
    aLo = i16x8.add(aLo, r0);
    bLo = i16x8.add(bLo, i16x8.shr_u(r0, 8));
    aHi = i16x8.add(aHi, s0);
    bHi = i16x8.add(bHi, i16x8.shr_u(s0, 8));
  }
  v128.store(sumsBase(), i16x8.sub(aLo, i16x8.shl(bLo, 8)));
  v128.store(sumsBase(), bLo, 16);
  v128.store(sumsBase(), i16x8.sub(aHi, i16x8.shl(bHi, 8)), 32);
  v128.store(sumsBase(), bHi, 48);
}

/**
 * Writes count vectors of unpacked codes srcPtr: u8[count][m] (values < 16) into the blocks at rows row0 ..
 * row0 + count - 1, leaving the other nibbles of the touched bytes as they were.
 */
export function fsPack(srcPtr: usize, count: u32, m: u32, blocksPtr: usize, row0: u32): void {
  for (let i: u32 = 0; i < count; i++) {
    const r = row0 + i;
    const s = r & 31;
    let dst = blocksPtr + (<usize>(r >> 5) * m << 4) + (s & 15);
    const src = srcPtr + <usize>i * m;
    const high = s >= 16;
    for (let j: u32 = 0; j < m; j++, dst += 16) {
      const c = <u32>load<u8>(src + j) & 15;
      const old = <u32>load<u8>(dst);
      store<u8>(dst, high ? (old & 0x0f) | (c << 4) : (old & 0xf0) | c);
    }
  }
}

/** Reads the codes of rows row0 .. row0 + count - 1 out of the blocks into outPtr: u8[count][m]. */
export function fsUnpack(blocksPtr: usize, m: u32, row0: u32, count: u32, outPtr: usize): void {
  for (let i: u32 = 0; i < count; i++) {
    const r = row0 + i;
    const s = r & 31;
    let src = blocksPtr + (<usize>(r >> 5) * m << 4) + (s & 15);
    const dst = outPtr + <usize>i * m;
    const shift: u32 = s >= 16 ? 4 : 0;
    for (let j: u32 = 0; j < m; j++, src += 16) store<u8>(dst + j, <u8>((<u32>load<u8>(src) >> shift) & 15));
  }
}

/**
 * Quantizes count float tables tPtr: f32[count][m][16] to lutPtr: u8[count][m][16], and writes paramsPtr:
 * f32[count][2] = (invScale, bias). Finite tables assumed. Per table (Faiss's round_uint8_per_column): min_j = smallest entry of row j (a zero as +0),
 * span = the largest (max_j - min_j) over rows, a = qmax / span, entry = floor((t - min_j) * a + 0.5) (at most
 * qmax), invScale = span / qmax, bias = sum of min_j (in order j = 0 .. m-1, float32). A table whose rows are all
 * constant gets a = 0, entries 0 and invScale 0. All arithmetic is float32.
 */
export function fsQuantize(tPtr: usize, count: u32, m: u32, lutPtr: usize, paramsPtr: usize): void {
  const qmax: f32 = m <= 257 ? <f32>255 : <f32>(<u32>65535 / m);
  const qmaxV = f32x4.splat(qmax);
  const half = f32x4.splat(0.5);
  for (let q: u32 = 0; q < count; q++) {
    const t = tPtr + (<usize>q * m << 6);
    const out = lutPtr + (<usize>q * m << 4);
    let span: f32 = 0;
    let bias: f32 = 0;
    // pass 1: row minima, parked in the first 4 bytes of the row's own output slot until pass 2 overwrites it
    for (let j: u32 = 0; j < m; j++) {
      const row = t + (<usize>j << 6);
      const v0 = v128.load(row), v1 = v128.load(row, 16), v2 = v128.load(row, 32), v3 = v128.load(row, 48);
      const mn = lanesMin(f32x4.pmin(f32x4.pmin(v0, v1), f32x4.pmin(v2, v3)));
      const mx = lanesMax(f32x4.pmax(f32x4.pmax(v0, v1), f32x4.pmax(v2, v3)));
      store<f32>(out + (<usize>j << 4), mn);
      bias += mn;
      const sp = mx - mn;
      if (sp > span) span = sp;
    }
    const a: f32 = span > 0 ? qmax / span : 0;
    const aV = f32x4.splat(a);
    for (let j: u32 = 0; j < m; j++) {
      const row = t + (<usize>j << 6);
      const mnV = f32x4.splat(load<f32>(out + (<usize>j << 4)));
      // per lane the scalar float32 steps: floor((t - min) * a + 0.5), capped at qmax, then to u8
      const e0 = i32x4.trunc_sat_f32x4_u(f32x4.pmin(f32x4.floor(f32x4.add(f32x4.mul(f32x4.sub(v128.load(row), mnV), aV), half)), qmaxV));
      const e1 = i32x4.trunc_sat_f32x4_u(f32x4.pmin(f32x4.floor(f32x4.add(f32x4.mul(f32x4.sub(v128.load(row, 16), mnV), aV), half)), qmaxV));
      const e2 = i32x4.trunc_sat_f32x4_u(f32x4.pmin(f32x4.floor(f32x4.add(f32x4.mul(f32x4.sub(v128.load(row, 32), mnV), aV), half)), qmaxV));
      const e3 = i32x4.trunc_sat_f32x4_u(f32x4.pmin(f32x4.floor(f32x4.add(f32x4.mul(f32x4.sub(v128.load(row, 48), mnV), aV), half)), qmaxV));
      v128.store(out + (<usize>j << 4), i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(e0, e1), i16x8.narrow_i32x4_u(e2, e3)));
    }
    store<f32>(paramsPtr + (<usize>q << 3), span > 0 ? span / qmax : 0);
    store<f32>(paramsPtr + (<usize>q << 3), bias, 4);
  }
}

// Smallest / largest of 4 lanes with single-instruction pseudo-min/max (tables are finite, so only the sign of a zero
// could depend on the order: + 0 turns -0 into +0, as the reference does).
@inline function lanesMin(v: v128): f32 {
  v = f32x4.pmin(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  v = f32x4.pmin(v, v128.shuffle<f32>(v, v, 1, 0, 3, 2));
  return f32x4.extract_lane(v, 0) + <f32>0;
}

@inline function lanesMax(v: v128): f32 {
  v = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  v = f32x4.pmax(v, v128.shuffle<f32>(v, v, 1, 0, 3, 2));
  return f32x4.extract_lane(v, 0) + <f32>0;
}

/** Integer sums sum_j lut[j][code_j] of every slot of nblocks blocks: outPtr: u16[nblocks * 32] in slot order. */
export function fsScores(blocksPtr: usize, nblocks: u32, m: u32, lutPtr: usize, outPtr: usize): void {
  for (let b: u32 = 0; b < nblocks; b++) {
    accumulateBlock(blocksPtr + (<usize>b * m << 4), lutPtr, m);
    const out = outPtr + (<usize>b << 6);
    for (let s: u32 = 0; s < 32; s++) store<u16>(out + (<usize>s << 1), load<u16>(sumsBase() + slotOffset(s)));
  }
}

/**
 * Largest integer sum that may still enter the heap whose worst kept distance is `root`: candidates need
 * sum * invScale + bias <= root, i.e. sum <= (root - bias) / invScale. The float32 rounding of the real distance
 * is covered by a slack of 1 + 2^-22 (|root| + |bias|) / invScale; heapPush then decides exactly. -1: none can.
 */
@inline function threshold(root: f32, bias: f32, invScale: f32): i32 {
  if (root == Infinity) return 65535;
  if (invScale == 0) return root >= bias ? 65535 : -1;
  const a = 1.0 / <f64>invScale;
  const t = (<f64>root - <f64>bias) * a + 1.0 + (Math.abs(<f64>root) + Math.abs(<f64>bias)) * a * 2.4e-7;
  if (t < 0) return -1;
  if (t >= 65535) return 65535;
  return <i32>t;
}

/**
 * Offers the candidates of the block accumulated at `sums` (see SUMS) whose sum is <= thr to the heap; returns the
 * new threshold (-1 when nothing can enter any more).
 */
@inline function collect(
  sums: usize, thr: i32, bias: f32, invScale: f32, row0: u32, n: u32, k: u32, hd: usize, hi: usize, posPtr: usize, idBase: i32,
): i32 {
  const thrV = i16x8.splat(<i16>thr);
  const m0 = i16x8.bitmask(i16x8.le_u(v128.load(sums), thrV));
  const m1 = i16x8.bitmask(i16x8.le_u(v128.load(sums, 16), thrV));
  const m2 = i16x8.bitmask(i16x8.le_u(v128.load(sums, 32), thrV));
  const m3 = i16x8.bitmask(i16x8.le_u(v128.load(sums, 48), thrV));
  if ((m0 | m1 | m2 | m3) == 0) return thr;
  // candidate slots: bit l of m0 is slot 2l, of m1 slot 2l + 1, of m2 slot 16 + 2l, of m3 slot 17 + 2l
  let bits: u32 = <u32>m0 | (<u32>m1 << 8) | (<u32>m2 << 16) | (<u32>m3 << 24);
  while (bits != 0) {
    const t = <u32>ctz(bits);
    bits &= bits - 1;
    const l = t & 7;
    const g = t >> 3;
    const row = row0 + ((g >> 1) << 4) + (l << 1) + (g & 1);
    if (row >= n) continue;
    const dist = <f32>load<u16>(sums + (<usize>t << 1)) * invScale + bias;
    heapPush(hd, hi, k, dist, posPtr != 0 ? load<i32>(posPtr + (<usize>row << 2)) : idBase + <i32>row);
  }
  return threshold(load<f32>(hd), bias, invScale);
}

/**
 * Offers the n vectors of the blocks at blocksPtr (rows 0 .. n - 1, in ceil(n / 32) blocks) to the top-k heap
 * (hd, hi) of one query (see topk.ts), with distance f32(sum) * invScale + bias. A vector's id is
 * positions[row] (posPtr != 0, i32) or idBase + row. A whole block is skipped by one SIMD compare when none of
 * its sums can beat the heap's worst kept distance; the scan stops once no sum can.
 */
export function fsScan(
  blocksPtr: usize, n: u32, m: u32, lutPtr: usize, invScale: f32, bias: f32, k: u32, hd: usize, hi: usize, posPtr: usize, idBase: i32,
): void {
  const nblocks = (n + 31) >> 5;
  let thr = threshold(load<f32>(hd), bias, invScale);
  for (let b: u32 = 0; b < nblocks && thr >= 0; b++) {
    accumulateBlock(blocksPtr + (<usize>b * m << 4), lutPtr, m);
    thr = collect(sumsBase(), thr, bias, invScale, b << 5, n, k, hd, hi, posPtr, idBase);
  }
}

/**
 * fsScan for two queries in one pass over the blocks (each code vector loaded and split into nibbles once):
 * query 0 with (lut0, invScale0, bias0, heap hd0/hi0), query 1 likewise; same results as two fsScan calls.
 */
export function fsScan2(
  blocksPtr: usize, n: u32, m: u32, lut0: usize, invScale0: f32, bias0: f32, lut1: usize, invScale1: f32, bias1: f32,
  k: u32, hd0: usize, hi0: usize, hd1: usize, hi1: usize, posPtr: usize, idBase: i32,
): void {
  const nblocks = (n + 31) >> 5;
  let thr0 = threshold(load<f32>(hd0), bias0, invScale0);
  let thr1 = threshold(load<f32>(hd1), bias1, invScale1);
  const low = i8x16.splat(0x0f);
  for (let b: u32 = 0; b < nblocks && (thr0 >= 0 || thr1 >= 0); b++) {
    let code = blocksPtr + (<usize>b * m << 4);
    let t0p = lut0, t1p = lut1;
    let aLo0 = i16x8.splat(0), bLo0 = i16x8.splat(0), aHi0 = i16x8.splat(0), bHi0 = i16x8.splat(0);
    let aLo1 = i16x8.splat(0), bLo1 = i16x8.splat(0), aHi1 = i16x8.splat(0), bHi1 = i16x8.splat(0);
    for (let j: u32 = 0; j < m; j++) {
      const c = v128.load(code);
      const lo = v128.and(c, low);
      const hi = v128.and(i16x8.shr_u(c, 4), low);
      const t0 = v128.load(t0p);
      const r0 = lookup(t0, lo);
      const s0 = lookup(t0, hi);
      aLo0 = i16x8.add(aLo0, r0);
      bLo0 = i16x8.add(bLo0, i16x8.shr_u(r0, 8));
      aHi0 = i16x8.add(aHi0, s0);
      bHi0 = i16x8.add(bHi0, i16x8.shr_u(s0, 8));
      const t1 = v128.load(t1p);
      const r1 = lookup(t1, lo);
      const s1 = lookup(t1, hi);
      aLo1 = i16x8.add(aLo1, r1);
      bLo1 = i16x8.add(bLo1, i16x8.shr_u(r1, 8));
      aHi1 = i16x8.add(aHi1, s1);
      bHi1 = i16x8.add(bHi1, i16x8.shr_u(s1, 8));
      code += 16;
      t0p += 16;
      t1p += 16;
    }
    v128.store(sumsBase(), i16x8.sub(aLo0, i16x8.shl(bLo0, 8)));
    v128.store(sumsBase(), bLo0, 16);
    v128.store(sumsBase(), i16x8.sub(aHi0, i16x8.shl(bHi0, 8)), 32);
    v128.store(sumsBase(), bHi0, 48);
    v128.store(sumsBase(), i16x8.sub(aLo1, i16x8.shl(bLo1, 8)), 64);
    v128.store(sumsBase(), bLo1, 80);
    v128.store(sumsBase(), i16x8.sub(aHi1, i16x8.shl(bHi1, 8)), 96);
    v128.store(sumsBase(), bHi1, 112);
    if (thr0 >= 0) thr0 = collect(sumsBase(), thr0, bias0, invScale0, b << 5, n, k, hd0, hi0, posPtr, idBase);
    if (thr1 >= 0) thr1 = collect(sumsBase() + 64, thr1, bias1, invScale1, b << 5, n, k, hd1, hi1, posPtr, idBase);
  }
}
