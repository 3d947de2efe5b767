// Many-vs-many scores on register panels: the GEMM-style micro-kernel behind exact search, nearest-codeword
// assignment and pairwise distances.
//
// The "database" side (base vectors or codewords) is packed once into panels of 8 vectors, transposed:
//   panelsPtr: f32[np / 8][d][8], np = n rounded up to a multiple of 8, padding vectors all zero.
// Component t of vectors 8p..8p+7 is one 32-byte row, so the kernel loads 2 v128 of database and broadcasts one
// query component per row of 4 queries: 8 multiply-adds per 6 loads, and no horizontal sums, no d tail.
// Queries stay row-major f32[nq][d].
//
// score(q, j) = bias[j] + alpha * <q, x_j>, with biasPtr: f32[np] (padding entries +Infinity so that they never win):
//   squared L2:    bias = ||x_j||^2, alpha = -2 (add ||q||^2 afterwards)
//   inner product: bias = 0,         alpha = -1 (smaller is better everywhere)

import { madd } from './simd';
import { armedAllowMask, armedExclLists, heapPush, heapPushMany } from './topk';
import { kernelScratch } from '../memory';

// 4 rows x 8 lanes of panel scores, written by the panel functions and read right after (stays in L1): the first 128
// bytes of the per-thread scratch.
@inline export function tileBase(): usize {
  return kernelScratch();
}

// Query rows of a chunk packed by groups of 4 (packQueries): bytes 256.. of the per-thread scratch, QCHUNK_BYTES long.
@inline export function qpackBase(): usize {
  return kernelScratch() + 256;
}

// Database vectors per cache block: 128 KiB of panels, so a block stays in L2 while every query group passes over it.
const BLOCK_BYTES: u32 = 128 * 1024;
// Queries per chunk: 16 KiB of query rows, kept in L1 across a block (and the size of the packed copy in the scratch).
const QCHUNK_BYTES: u32 = 16 * 1024;
// Largest d whose chunk of 4 rows fits the packed copy; above it the kernels read the rows where they are.
const PACK_MAX_D: u32 = QCHUNK_BYTES / 16;

/**
 * Whether packing a group of 4 query rows pays for itself before it scores np database vectors: a packing step costs
 * about half a panel step, and the packed loop saves about a tenth of one (plain build), so it takes 8 panels.
 */
@inline export function packPays(np: u32, d: u32): bool {
  return d <= PACK_MAX_D && np >= 64;
}

/** Rounds n up to a multiple of 8. */
@inline export function padTo8(n: u32): u32 {
  return (n + 7) & ~7;
}

/**
 * Packs rows xPtr: f32[n][d] into positions [from, from + n) of a panel buffer (layout above), and zeroes the
 * positions after them up to the end of the last panel touched. Earlier positions are left as they are, so vectors
 * can be appended to a partly filled panel.
 */
export function packPanels(xPtr: usize, n: u32, d: u32, panelsPtr: usize, from: u32): void {
  const to = from + n;
  const end = padTo8(to);
  for (let i = from; i < end; i++) {
    const dst = panelsPtr + (<usize>(i & ~7) * d << 2) + (<usize>(i & 7) << 2);
    if (i < to) {
      const src = xPtr + (<usize>(i - from) * d << 2);
      for (let t: u32 = 0; t < d; t++) store<f32>(dst + (<usize>t << 5), load<f32>(src + (<usize>t << 2)));
    } else {
      for (let t: u32 = 0; t < d; t++) store<f32>(dst + (<usize>t << 5), 0);
    }
  }
}

/**
 * Moves positions keep[i] (keepPtr: u32[count], ascending, keep[i] >= i) of a panel layout of 4-byte words at ptr,
 * [np / 8][w][8] (word t of position p at ((p >> 3) * w + t) * 8 + (p & 7): the panels with w = d, the int16 copy
 * with w = pairs, qinfo with w = 4, a bias with w = 1), to positions i, in order (a destination is never a source
 * still to read); then sets the padding after position count - 1 in its panel to the word `pad`. For remove().
 */
export function panelMoveRows(ptr: usize, w: u32, keepPtr: usize, count: u32, pad: u32): void {
  const stride = <usize>w << 5;
  for (let i: u32 = 0; i < count; i++) {
    const p = load<u32>(keepPtr + (<usize>i << 2));
    if (p == i) continue;
    let to = ptr + <usize>(i >> 3) * stride + (<usize>(i & 7) << 2);
    let from = ptr + <usize>(p >> 3) * stride + (<usize>(p & 7) << 2);
    for (let t: u32 = 0; t < w; t++, to += 32, from += 32) store<u32>(to, load<u32>(from));
  }
  for (let i = count; i < padTo8(count); i++) {
    let to = ptr + <usize>(i >> 3) * stride + (<usize>(i & 7) << 2);
    for (let t: u32 = 0; t < w; t++, to += 32) store<u32>(to, pad);
  }
}

/** Writes positions [from, from + count) of a panel buffer back as row-major f32[count][d] (the inverse of packPanels). */
export function unpackPanels(panelsPtr: usize, from: u32, count: u32, d: u32, outPtr: usize): void {
  for (let r: u32 = 0; r < count; r++) {
    const i = from + r;
    const src = panelsPtr + (<usize>(i & ~7) * d << 2) + (<usize>(i & 7) << 2);
    const dst = outPtr + (<usize>r * d << 2);
    for (let t: u32 = 0; t < d; t++) store<f32>(dst + (<usize>t << 2), load<f32>(src + (<usize>t << 5)));
  }
}

/**
 * Squared-L2 bias for positions [from, to) of a panel buffer: biasPtr: f32[padTo8(to)] gets ||x_j||^2 for every
 * panel touched, and +Infinity for the padding positions after `to`.
 */
export function panelNormsSq(panelsPtr: usize, from: u32, to: u32, d: u32, biasPtr: usize): void {
  const end = padTo8(to);
  for (let p = from & ~7; p < end; p += 8) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let c = panelsPtr + (<usize>p * d << 2);
    for (let t: u32 = 0; t < d; t++, c += 32) {
      const c0 = v128.load(c), c1 = v128.load(c, 16);
      a0 = madd(c0, c0, a0);
      a1 = madd(c1, c1, a1);
    }
    v128.store(biasPtr + (<usize>p << 2), a0);
    v128.store(biasPtr + (<usize>p << 2), a1, 16);
  }
  for (let j = to; j < end; j++) store<f32>(biasPtr + (<usize>j << 2), Infinity);
}

/** Inner-product bias for positions [from, to): 0, and +Infinity for the padding after `to` in its panel. */
export function panelZeroBias(from: u32, to: u32, biasPtr: usize): void {
  const end = padTo8(to);
  for (let j = from; j < end; j++) store<f32>(biasPtr + (<usize>j << 2), j < to ? 0 : Infinity);
}

/** Scores of 4 query rows against one panel (8 vectors) into the tile rows 0..3. */
@inline export function panel4x8(q0: usize, qstride: usize, c: usize, d: u32, bias: usize, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const q1 = q0 + qstride, q2 = q1 + qstride, q3 = q2 + qstride;
  const end = q0 + (<usize>d << 2);
  let q = q0;
  while (q < end) {
    const c0 = v128.load(c), c1 = v128.load(c, 16);
    const o = q - q0;
    const b0 = v128.load32_splat(q);
    a00 = madd(b0, c0, a00); a01 = madd(b0, c1, a01);
    const b1 = v128.load32_splat(q1 + o);
    a10 = madd(b1, c0, a10); a11 = madd(b1, c1, a11);
    const b2 = v128.load32_splat(q2 + o);
    a20 = madd(b2, c0, a20); a21 = madd(b2, c1, a21);
    const b3 = v128.load32_splat(q3 + o);
    a30 = madd(b3, c0, a30); a31 = madd(b3, c1, a31);
    q += 4;
    c += 32;
  }
  tile4x8(a00, a01, a10, a11, a20, a21, a30, a31, bias, alpha);
}

/** Writes bias + alpha * (4 x 8 accumulated dot products) to the tile. */
@inline function tile4x8(a00: v128, a01: v128, a10: v128, a11: v128, a20: v128, a21: v128, a30: v128, a31: v128, bias: usize, alpha: v128): void {
  const z0 = v128.load(bias), z1 = v128.load(bias, 16);
  v128.store(tileBase(), madd(alpha, a00, z0)); v128.store(tileBase(), madd(alpha, a01, z1), 16);
  v128.store(tileBase(), madd(alpha, a10, z0), 32); v128.store(tileBase(), madd(alpha, a11, z1), 48);
  v128.store(tileBase(), madd(alpha, a20, z0), 64); v128.store(tileBase(), madd(alpha, a21, z1), 80);
  v128.store(tileBase(), madd(alpha, a30, z0), 96); v128.store(tileBase(), madd(alpha, a31, z1), 112);
}

/**
 * Copies g groups of 4 query rows (row-major from q0, d components) to out: f32[g][d][4], component t of the group's
 * 4 rows side by side, so that panel4x8P reads the 4 rows through one pointer: x64 has too few registers for
 * 4 row pointers plus the loop's own, and the address arithmetic cost the plain build about 8 % of its speed.
 */
export function packQueries(q0: usize, g: u32, d: u32, out: usize): void {
  const qstride = <usize>d << 2;
  for (let i: u32 = 0; i < g; i++) {
    const r0 = q0 + <usize>(i << 2) * qstride;
    const o = out + <usize>i * (qstride << 2);
    for (let t: u32 = 0; t < d; t++) {
      const s = r0 + (<usize>t << 2);
      v128.store(o + (<usize>t << 4), f32x4(load<f32>(s), load<f32>(s + qstride), load<f32>(s + 2 * qstride), load<f32>(s + 3 * qstride)));
    }
  }
}

/** panel4x8 on a packed group of 4 rows (q: f32[d][4], see packQueries): the same sums in the same order. */
@inline export function panel4x8P(q: usize, c: usize, d: u32, bias: usize, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const end = q + (<usize>d << 4);
  while (q < end) {
    const c0 = v128.load(c), c1 = v128.load(c, 16);
    const b0 = v128.load32_splat(q);
    a00 = madd(b0, c0, a00); a01 = madd(b0, c1, a01);
    const b1 = v128.load32_splat(q, 4);
    a10 = madd(b1, c0, a10); a11 = madd(b1, c1, a11);
    const b2 = v128.load32_splat(q, 8);
    a20 = madd(b2, c0, a20); a21 = madd(b2, c1, a21);
    const b3 = v128.load32_splat(q, 12);
    a30 = madd(b3, c0, a30); a31 = madd(b3, c1, a31);
    q += 16;
    c += 32;
  }
  tile4x8(a00, a01, a10, a11, a20, a21, a30, a31, bias, alpha);
}

/** Scores of 1 query row against one panel into tile row 0. */
@inline export function panel1x8(q0: usize, c: usize, d: u32, bias: usize, alpha: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  const end = q0 + (<usize>d << 2);
  for (let q = q0; q < end; q += 4, c += 32) {
    const b = v128.load32_splat(q);
    a0 = madd(b, v128.load(c), a0);
    a1 = madd(b, v128.load(c, 16), a1);
  }
  v128.store(tileBase(), madd(alpha, a0, v128.load(bias)));
  v128.store(tileBase(), madd(alpha, a1, v128.load(bias, 16)), 16);
}

/** Offers tile row r (8 scores of vectors j0..j0+7) to the heap at (hd, hi) of size k, if any can enter it. */
@inline function pushTileRow(r: u32, hd: usize, hi: usize, k: u32, j0: i32): void {
  const t = tileBase() + (<usize>r << 5);
  const s0 = v128.load(t), s1 = v128.load(t, 16);
  const thr = f32x4.splat(load<f32>(hd));
  // strict <: a tie with the root has a larger id (ids rise along the scan), so it could not enter anyway. Only the
  // lanes under the root as it was are visited (the root only falls as entries go in), in lane order
  let bits = i32x4.bitmask(f32x4.lt(s0, thr)) | (i32x4.bitmask(f32x4.lt(s1, thr)) << 4);
  while (bits != 0) {
    const l = <u32>ctz(bits);
    bits &= bits - 1;
    const s = load<f32>(t + (<usize>l << 2));
    if (s < load<f32>(hd)) heapPush(hd, hi, k, s, j0 + <i32>l);
  }
}

// Large k: the scan's candidates go to a reservoir per query (scanPanels with workPtr != 0) instead of straight into
// its heap. An entry costs a store there, where a heap entry costs a sift of log2(k) levels (1000 queries over 10000
// vectors, d 64: 20.6 ms for their top-1, 65.5 ms for their top-100 in the heaps). A full reservoir is cut: a bar t
// with at least k entries <= t (every entry above it has k better ones), found by halving [min, max] with counts 4
// lanes at a time, keeps the entries <= t; the bar a candidate must beat is then the smaller of t and the heap's root.
// What is left goes into the heap at the end of each query chunk, or when ties leave no bar to cut at: the heaps
// settle every order and tie, so the result is theirs bit for bit.
// workPtr (scanWorkBytes): bar f32[qc] | count u32[qc] | dist f32[qc][cap] | ids i32[qc][cap], qc = chunkRows(d),
// cap = 3k (a cut keeps at most 2k, or empties the reservoir into the heap, so it never stays full).
const RES_MIN_K: u32 = 16;
// Entries a reservoir holds, in k (more than 2: see above).
const RES_CAP: u32 = 3;
// Above this the heaps serve (a small d has many rows per chunk; a k in the thousands is rare).
const RES_MAX_BYTES: f64 = 8 * 1024 * 1024;
let resBar: usize = 0;
let resCount: usize = 0;
let resDist: usize = 0;
let resIds: usize = 0;
let resCap: u32 = 0;
let resK: u32 = 0;

/** Bytes of the reservoirs scanPanels needs for top-k over d dimensions (0: k is small, the heaps serve). */
export function scanWorkBytes(d: u32, k: u32): f64 {
  const bytes = <f64>chunkRows(d) * (8 + 8 * <f64>RES_CAP * <f64>k);
  return k >= RES_MIN_K && bytes <= RES_MAX_BYTES ? bytes : 0;
}

/**
 * Reservoir `row` (of the chunk) cut, when it holds over 2k entries (with `flush`, over k + k / 8) and a bar keeps at
 * most 2k; then, with `flush` or when no bar could cut it (ties), what it holds goes into the heap (hd, hi). Sets the
 * row's bar.
 */
function resSettle(row: usize, hd: usize, hi: usize, flush: bool): void {
  const k = resK;
  const dist = resDist + row * (<usize>resCap << 2);
  const ids = resIds + row * (<usize>resCap << 2);
  let n = load<u32>(resCount + (row << 2));
  let t: f32 = Infinity;
  // the last cut of a chunk aims closer to k: what it keeps goes into the heap one entry at a time (1-4 % off a top-64
  // to top-256 search against aiming at 1.5k there too)
  const aim = flush ? k + (k >> 3) : k + (k >> 1);
  if (n > (flush ? aim : 2 * k)) {
    let lo = load<f32>(dist);
    let top = lo;
    for (let i: u32 = 1; i < n; i++) {
      const v = load<f32>(dist + (<usize>i << 2));
      lo = min(lo, v);
      top = max(top, v);
    }
    let kept = n;
    for (let it = 0; it < 24 && kept > aim; it++) {
      const mid = lo + (top - lo) * 0.5;
      if (!(mid > lo && mid < top)) break;
      // how many are <= mid, 4 lanes at a time; the last n % 4 are left out: a count that can only fall short keeps
      // the cut safe (it then keeps more)
      const tv = f32x4.splat(mid);
      let acc = i32x4.splat(0);
      for (let i: u32 = 0; i + 4 <= n; i += 4) acc = i32x4.sub(acc, f32x4.le(v128.load(dist + (<usize>i << 2)), tv));
      const c = <u32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
      if (c >= k) {
        top = mid;
        kept = c;
      } else lo = mid;
    }
    if (kept <= 2 * k) {
      // keep the entries <= top, without branches
      let w: u32 = 0;
      for (let j: u32 = 0; j < n; j++) {
        const v = load<f32>(dist + (<usize>j << 2));
        store<f32>(dist + (<usize>w << 2), v);
        store<i32>(ids + (<usize>w << 2), load<i32>(ids + (<usize>j << 2)));
        w += <u32>(v <= top);
      }
      n = w;
      t = top;
    } else flush = true;
  }
  if (flush) {
    heapPushMany(hd, hi, k, dist, ids, n);
    n = 0;
    t = Infinity;
  }
  store<u32>(resCount + (row << 2), n);
  store<f32>(resBar + (row << 2), min(t, load<f32>(hd)));
}

/**
 * The tile's rows r < rows into reservoirs row0 + r (heap rows at hd, hi, k apart): their lanes under the bar, ids
 * j0 + lane.
 */
function resTile(rows: u32, row0: usize, hd: usize, hi: usize, j0: i32): void {
  for (let r: u32 = 0; r < rows; r++) {
    const row = row0 + <usize>r;
    const t = tileBase() + (<usize>r << 5);
    const barP = resBar + (row << 2);
    const thr = f32x4.splat(load<f32>(barP));
    let bits = i32x4.bitmask(f32x4.lt(v128.load(t), thr)) | (i32x4.bitmask(f32x4.lt(v128.load(t, 16), thr)) << 4);
    if (bits == 0) continue; // most tile rows, once the bars settle
    const dist = resDist + row * (<usize>resCap << 2);
    const ids = resIds + row * (<usize>resCap << 2);
    const hr = <usize>r * (<usize>resK << 2);
    while (bits != 0) {
      const l = <u32>ctz(bits);
      bits &= bits - 1;
      const s = load<f32>(t + (<usize>l << 2));
      // strict <, as in pushTileRow: ids rise along the scan, so a tie with the bar is worse than it
      if (!(s < load<f32>(barP))) continue;
      const n = load<u32>(resCount + (row << 2));
      store<f32>(dist + (<usize>n << 2), s);
      store<i32>(ids + (<usize>n << 2), j0 + <i32>l);
      store<u32>(resCount + (row << 2), n + 1);
      if (n + 1 == resCap) resSettle(row, hd + hr, hi + hr, false);
    }
  }
}

@inline function chunkRows(d: u32): u32 {
  let qc = QCHUNK_BYTES / (d << 2);
  qc &= ~3;
  return qc < 4 ? 4 : qc;
}

@inline function blockVectors(d: u32): u32 {
  let nb = BLOCK_BYTES / (d << 2);
  nb &= ~7;
  return nb < 8 ? 8 : nb;
}

/**
 * Top-k scan: offers score(q, j) for every query q < nq and database vector j < nb to the heap of q
 * (heapDistPtr: f32[nq][k], heapIdPtr: i32[nq][k], see topk.ts), with id idBase + j. Heaps must be initialised;
 * scanning several databases into the same heaps merges them. Database vectors must come in rising id order.
 */
export function scanPanels(
  qPtr: usize, nq: u32, d: u32, panelsPtr: usize, biasPtr: usize, nb: u32, alpha: f32,
  k: u32, heapDistPtr: usize, heapIdPtr: usize, idBase: i32, workPtr: usize,
): void {
  const av = f32x4.splat(alpha);
  const qstride = <usize>d << 2;
  const panelBytes = <usize>d << 5;
  const qc = chunkRows(d);
  const bv = blockVectors(d);
  const np = padTo8(nb);
  const packed = packPays(np, d);
  const hstep = <usize>k << 2;
  // the reservoirs (workPtr: scanWorkBytes(d, k) bytes, or 0); the filters sit in heapPush, so a filtered search
  // keeps the heaps
  const res = workPtr != 0 && armedAllowMask() == 0 && armedExclLists() == 0;
  if (res) {
    resK = k;
    resCap = RES_CAP * k;
    resBar = workPtr;
    resCount = workPtr + (<usize>qc << 2);
    resDist = resCount + (<usize>qc << 2);
    resIds = resDist + (<usize>qc * resCap << 2);
  }
  for (let qa: u32 = 0; qa < nq; qa += qc) {
    const qe = min(qa + qc, nq);
    const q4end = qa + ((qe - qa) & ~3);
    if (packed) packQueries(qPtr + <usize>qa * qstride, (q4end - qa) >> 2, d, qpackBase());
    if (res) {
      for (let qi = qa; qi < qe; qi++) {
        const row = <usize>(qi - qa);
        store<u32>(resCount + (row << 2), 0);
        store<f32>(resBar + (row << 2), load<f32>(heapDistPtr + <usize>qi * hstep));
      }
    }
    for (let ja: u32 = 0; ja < np; ja += bv) {
      const je = min(ja + bv, np);
      let qi = qa;
      for (; qi < q4end; qi += 4) {
        const qrow = qPtr + <usize>qi * qstride;
        const qp = qpackBase() + <usize>(qi - qa) * qstride; // group (qi - qa) / 4, 16 d bytes a group
        const hd = heapDistPtr + (<usize>qi * k << 2);
        const hi = heapIdPtr + (<usize>qi * k << 2);
        for (let j = ja; j < je; j += 8) {
          const c = panelsPtr + (<usize>(j >> 3)) * panelBytes;
          if (packed) panel4x8P(qp, c, d, biasPtr + (<usize>j << 2), av);
          else panel4x8(qrow, qstride, c, d, biasPtr + (<usize>j << 2), av);
          const id = idBase + <i32>j;
          if (res) {
            resTile(4, <usize>(qi - qa), hd, hi, id);
            continue;
          }
          pushTileRow(0, hd, hi, k, id);
          pushTileRow(1, hd + hstep, hi + hstep, k, id);
          pushTileRow(2, hd + 2 * hstep, hi + 2 * hstep, k, id);
          pushTileRow(3, hd + 3 * hstep, hi + 3 * hstep, k, id);
        }
      }
      for (; qi < qe; qi++) {
        const qrow = qPtr + <usize>qi * qstride;
        const hd = heapDistPtr + (<usize>qi * k << 2);
        const hi = heapIdPtr + (<usize>qi * k << 2);
        for (let j = ja; j < je; j += 8) {
          panel1x8(qrow, panelsPtr + (<usize>(j >> 3)) * panelBytes, d, biasPtr + (<usize>j << 2), av);
          if (res) resTile(1, <usize>(qi - qa), hd, hi, idBase + <i32>j);
          else pushTileRow(0, hd, hi, k, idBase + <i32>j);
        }
      }
    }
    if (res) for (let qi = qa; qi < qe; qi++) resSettle(<usize>(qi - qa), heapDistPtr + <usize>qi * hstep, heapIdPtr + <usize>qi * hstep, true);
  }
}

/**
 * The columns of one row of scorePanels's scores (scoresPtr: f32[n]) within a radius, with their distances as
 * heapFinalize gives them: l2 != 0: v = max(score + add, 0) (add = ||q||^2), a hit when v < r; else v = 0 - score,
 * a hit when v > r. Writes the hits' columns to idxPtr: u32[] and v to distPtr: f32[], ascending; returns their number.
 */
export function rangeHits(scoresPtr: usize, n: u32, add: f32, r: f32, l2: u32, idxPtr: usize, distPtr: usize): u32 {
  const av = f32x4.splat(add), rv = f32x4.splat(r), zero = f32x4.splat(0);
  let m: u32 = 0;
  for (let j: u32 = 0; j < n; j += 4) {
    let bits: i32;
    if (j + 4 <= n) {
      const s = v128.load(scoresPtr + (<usize>j << 2));
      bits = l2 != 0 ? i32x4.bitmask(f32x4.lt(f32x4.max(f32x4.add(s, av), zero), rv)) : i32x4.bitmask(f32x4.gt(f32x4.sub(zero, s), rv));
    } else {
      bits = 15 >> (j + 4 - n); // the tail: each lane checked below
    }
    while (bits != 0) {
      const c = j + <u32>ctz(bits);
      bits &= bits - 1;
      const s = load<f32>(scoresPtr + (<usize>c << 2));
      const v: f32 = l2 != 0 ? max(s + add, <f32>0) : <f32>0 - s;
      if (l2 != 0 ? !(v < r) : !(v > r)) continue;
      store<u32>(idxPtr + (<usize>m << 2), c);
      store<f32>(distPtr + (<usize>m << 2), v);
      m++;
    }
  }
  return m;
}

/**
 * Full score matrix: outPtr: f32[nq][nb] = score(q, j) (no padding columns). No cache blocking: each group of 4 query
 * rows passes over every panel once (callers keep nb moderate: centroids, or y chunks).
 */
export function scorePanels(
  qPtr: usize, nq: u32, d: u32, panelsPtr: usize, biasPtr: usize, nb: u32, alpha: f32, outPtr: usize,
): void {
  const av = f32x4.splat(alpha);
  const qstride = <usize>d << 2;
  const ostride = <usize>nb << 2;
  const panelBytes = <usize>d << 5;
  const np = padTo8(nb);
  let qi: u32 = 0;
  const q4end = nq & ~3;
  const packGroups = packPays(np, d);
  for (; qi < nq; ) {
    const rows: u32 = qi < q4end ? 4 : 1;
    const qrow = qPtr + <usize>qi * qstride;
    const packed = rows == 4 && packGroups;
    if (packed) packQueries(qrow, 1, d, qpackBase());
    for (let j: u32 = 0; j < np; j += 8) {
      const c = panelsPtr + (<usize>(j >> 3)) * panelBytes;
      if (packed) panel4x8P(qpackBase(), c, d, biasPtr + (<usize>j << 2), av);
      else if (rows == 4) panel4x8(qrow, qstride, c, d, biasPtr + (<usize>j << 2), av);
      else panel1x8(qrow, c, d, biasPtr + (<usize>j << 2), av);
      const cols = min<u32>(8, nb - j);
      for (let r: u32 = 0; r < rows; r++) {
        const dst = outPtr + <usize>(qi + r) * ostride + (<usize>j << 2);
        const src = tileBase() + (<usize>r << 5);
        if (cols == 8) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
        } else {
          for (let l: u32 = 0; l < cols; l++) store<f32>(dst + (<usize>l << 2), load<f32>(src + (<usize>l << 2)));
        }
      }
    }
    qi += rows;
  }
}
