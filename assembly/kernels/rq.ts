// Residual quantization: beam-search encoding and decoding.
//
// An RQ codes a vector with one codeword per level, x^ = sum_l c_l[code_l], level l's codebook holding ksub = 2^nbits
// codewords learned on the residuals left by levels 0..l-1. The codebooks are in the panel layout of panels.ts (so that
// scoring residuals against a codebook is scorePanels, 4 rows x 8 codewords per register tile), one block per level:
//   panels: f32[levels][ksub8 / 8][d][8]   component t of codeword c of level l at
//                                          l * ksub8 * d + (c >> 3) * d * 8 + t * 8 + (c & 7)
//   cnorm:  f32[levels][ksub8]             ||codeword||^2, +Infinity on padding codewords
// ksub8 = max(ksub, 8); padding codewords are zero. The kernels below take the block of one level (rqBeamStep) or of
// level 0 (rqEncode, rqDecode: level l's block follows at l * ksub8 * d floats, its norms at l * ksub8).
//
// Beam state of n vectors after `level` levels, `live` partial encodings per vector (beam p of vector i is row
// i * live + p), beams of a vector sorted by score, best first:
//   res:   f32[n][live][d]        residual x - (the chosen codewords)
//   rnorm: f32[n][live]           ||res||^2, summed in f32 in increasing t
//   codes: u8[n][live][cstride]   the codes so far in bytes 0..level-1 of each row
// live = min(beam, ksub^level) is the same for every vector.
//
// One step (rqBeamStep) scores every pair (beam b, codeword c) as rnorm_b + (||c||^2 - 2 <res_b, c>) = ||res_b - c||^2
// and keeps the best min(beam, live * ksub); equal scores keep the lower beam, then the lower codeword. Its scratch
// (rqStepWorkBytes): the scores of a group of rows (whole vectors, `rows` <= max(GROUP_ROWS, beam) residuals) panel by
// panel, f32[ksub8 / 8][rows][8] (codeword c of row r at ((c >> 3) * rows + r) * 8 + (c & 7)), then the selection
// f32[max(beam, 4)] scores + i32[max(beam, 4)] (b * ksub + c). A greedy step (beam 1) keeps the scores in registers
// and writes only each row's choice, u32[rows], at the start of the scores area; with the int16 codebooks it takes
// them from k = 1 heaps f32[GROUP_ROWS] + i32[GROUP_ROWS] after the selection, then qscanPanels's work area.
//
// rqEncode's scratch (rqWorkBytes(n, d, levels, ksub, beam)): the step scratch, then two beam states of n vectors and
// `beam` rows, each res f32[n * beam * d] | rnorm f32[n * beam] | codes u8[n * beam * levels], every part starting on
// a 16-byte boundary.
//
// Codes outside the kernels are bit-packed with pqPack / pqUnpack (pq.ts) as m = levels codes of nbits.

import { packPays, packQueries, panel1x8, panel4x8, panel4x8P, qpackBase, scorePanels, tileBase } from './panels';
import { qpanelsBytes, qscanPanels, qscanWorkBytes } from './qpanels';
import { heapInit } from './topk';

/** Residual rows scored per scorePanels call: groups of whole vectors, 8 register tiles of 4 rows. */
const GROUP_ROWS: u32 = 32;

@inline function align16(b: u64): u64 {
  return (b + 15) & ~(<u64>15);
}

@inline function scoreBytes(ksub: u32, beam: u32): u64 {
  return align16(<u64>max(GROUP_ROWS, beam) * (ksub < 8 ? 8 : ksub) * 4);
}

/**
 * Bytes of rqBeamStep's scratch. With d > 0 and beam 1, also room for the greedy step's int16 prefilter (qscanPanels
 * with k = 1: heaps f32[GROUP_ROWS] + i32[GROUP_ROWS], then its work area), needed when rqBeamStep gets int16 panels.
 */
export function rqStepWorkBytes(ksub: u32, beam: u32, d: u32): f64 {
  const base = <f64>(scoreBytes(ksub, beam) + align16(<u64>max(beam, 4) * 8));
  return d > 0 && beam == 1 ? base + <f64>(GROUP_ROWS * 8) + qscanWorkBytes(d, 1) : base;
}

@inline function stateBytes(n: u32, d: u32, levels: u32, beam: u32): u64 {
  const rows = <u64>n * beam;
  return align16(rows * d * 4) + align16(rows * 4) + align16(rows * levels);
}

/** Bytes of rqEncode's scratch for n vectors. */
export function rqWorkBytes(n: u32, d: u32, levels: u32, ksub: u32, beam: u32): f64 {
  return rqStepWorkBytes(ksub, beam, d) + 2 * <f64>stateBytes(n, d, levels, beam);
}

/**
 * One level of beam search: beam states (resIn, normIn, codesIn) with liveIn beams per vector -> (resOut, normOut,
 * codesOut) with the returned liveOut = min(beam, liveIn * ksub) beams; the new beams take codeword `level` from the
 * level's codebook (panelsPtr, cnormPtr: that level's block). Input and output must not overlap. Codes rows are
 * cstride bytes in both. qpPtr / qinfoPtr (0: none) are the level's int16 codebook (qpanels.ts, qpanelsPack of its
 * ksub codewords with cnormPtr as the bias): a greedy step (beam 1) then takes each row's nearest codeword through
 * qscanPanels, the same choice with most of the f32 work skipped; workPtr must then have rqStepWorkBytes(ksub, 1, d)
 * bytes.
 */
export function rqBeamStep(
  n: u32, d: u32, ksub: u32, panelsPtr: usize, cnormPtr: usize, level: u32, liveIn: u32, beam: u32, cstride: u32,
  resIn: usize, normIn: usize, codesIn: usize, resOut: usize, normOut: usize, codesOut: usize, workPtr: usize,
  qpPtr: usize, qinfoPtr: usize,
): u32 {
  return beamStep(n, d, ksub, panelsPtr, cnormPtr, level, liveIn, beam, cstride, resIn, normIn, codesIn, resOut, normOut, codesOut, workPtr, qpPtr, qinfoPtr, true);
}

/**
 * rqBeamStep; norms false (greedy only: liveOut 1) leaves normOut unwritten: a greedy step never reads the beams'
 * norms (it ranks ||c||^2 - 2 <res, c>), so a greedy encode without errors skips their sequential sums, which are
 * about a tenth of its time at d = 64.
 */
function beamStep(
  n: u32, d: u32, ksub: u32, panelsPtr: usize, cnormPtr: usize, level: u32, liveIn: u32, beam: u32, cstride: u32,
  resIn: usize, normIn: usize, codesIn: usize, resOut: usize, normOut: usize, codesOut: usize, workPtr: usize,
  qpPtr: usize, qinfoPtr: usize, norms: bool,
): u32 {
  const liveOut = <u32>min<u64>(<u64>liveIn * ksub, <u64>beam);
  const g: u32 = liveIn >= GROUP_ROWS ? 1 : GROUP_ROWS / liveIn;
  const score = workPtr;
  const selS = workPtr + <usize>scoreBytes(ksub, beam);
  const selI = selS + (<usize>max(beam, 4) << 2);
  const rowBytes = <usize>d << 2;
  const panelBytes = <usize>d << 5;
  const last = selS + (<usize>(liveOut - 1) << 2);
  // the prefilter is dropped for the rest of the step once it has rescored more than 8 codewords a row over 64 rows:
  // a codebook of near-copies (k-means on residuals that earlier levels code almost exactly) makes it cost more than
  // the f32 scan. The choices are the same either way.
  let useQ = qpPtr != 0;
  let qRows: f64 = 0, qRescored: f64 = 0;
  for (let i0: u32 = 0; i0 < n; i0 += g) {
    const gi = min(g, n - i0);
    const rows = gi * liveIn;
    // ||c||^2 - 2 <res_b, c> of the group's live rows, one panel of 8 codewords at a time so that it stays in L1 while
    // every row passes over it: score f32[ksub8 / 8][rows][8]
    const rowsIn = resIn + <usize>i0 * liveIn * rowBytes;
    if (liveOut == 1 && useQ) {
      // greedy through the prefilter: the heaps of k = 1 keep the lowest-index minimum, as greedy4 does
      const hd = selI + (<usize>max(beam, 4) << 2);
      const hi = hd + (<usize>GROUP_ROWS << 2);
      heapInit(hd, hi, rows);
      qRescored += qscanPanels(rowsIn, rows, d, panelsPtr, cnormPtr, ksub, -2, 1, hd, hi, 0, qpPtr, qinfoPtr, hi + (<usize>GROUP_ROWS << 2));
      qRows += <f64>rows;
      if (qRows >= 64 && qRescored > 8 * qRows) useQ = false;
      // no codeword scored below +Infinity (overflowing norms): codeword 0, as greedy4 would take
      for (let r: u32 = 0; r < rows; r++) store<u32>(score + (<usize>r << 2), <u32>max(0, load<i32>(hi + (<usize>r << 2))));
    } else if (liveOut == 1) {
      // greedy: the arg-min of every row, u32[rows] at score (liveIn is 1)
      let r: u32 = 0;
      for (; r + 4 <= rows; r += 4) greedy4(rowsIn + <usize>r * rowBytes, rowBytes, d, ksub, panelsPtr, cnormPtr, score + (<usize>r << 2), selS);
      for (; r < rows; r++) greedy1(rowsIn + <usize>r * rowBytes, d, ksub, panelsPtr, cnormPtr, score + (<usize>r << 2), selS);
    } else {
      for (let c0: u32 = 0; c0 < ksub; c0 += 8) {
        scorePanels(rowsIn, rows, d, panelsPtr + <usize>(c0 >> 3) * panelBytes, cnormPtr + (<usize>c0 << 2), 8, -2, score + (<usize>c0 * rows << 2));
      }
    }
    for (let v: u32 = 0; v < gi; v++) {
      const i = i0 + v;
      if (liveOut == 1) {
        store<u32>(selI, load<u32>(score + (<usize>v << 2)));
      } else {
        // insertion into the sorted selection; a candidate equal to a kept one goes after it (lower (b, c) wins)
        let cnt: u32 = 0;
        for (let b: u32 = 0; b < liveIn; b++) {
          const nb = load<f32>(normIn + ((<usize>i * liveIn + b) << 2));
          const nbv = f32x4.splat(nb);
          const r = v * liveIn + b;
          for (let c0: u32 = 0; c0 < ksub; c0 += 4) {
            const sp = score + ((<usize>(c0 >> 3) * rows + r) << 5) + (<usize>(c0 & 7) << 2);
            // four candidates at once against the worst kept: most are rejected here once the selection is full
            if (cnt == liveOut && !v128.any_true(f32x4.lt(f32x4.add(nbv, v128.load(sp)), v128.load32_splat(last)))) continue;
            const cend = min(ksub, c0 + 4);
            for (let c = c0; c < cend; c++) {
              const s = nb + load<f32>(sp + (<usize>(c - c0) << 2));
              let p: u32;
              if (cnt == liveOut) {
                if (!(s < load<f32>(last))) continue;
                p = liveOut - 1;
              } else {
                p = cnt++;
              }
              while (p > 0) {
                const prev = load<f32>(selS + (<usize>(p - 1) << 2));
                if (!(prev > s)) break;
                store<f32>(selS + (<usize>p << 2), prev);
                store<u32>(selI + (<usize>p << 2), load<u32>(selI + (<usize>(p - 1) << 2)));
                p--;
              }
              store<f32>(selS + (<usize>p << 2), s);
              store<u32>(selI + (<usize>p << 2), b * ksub + c);
            }
          }
        }
      }
      // the kept beams: residual minus the codeword, its exact squared norm, the codes
      for (let p: u32 = 0; p < liveOut; p++) {
        const e = load<u32>(selI + (<usize>p << 2));
        const b = e / ksub;
        const c = e % ksub;
        const src = resIn + <usize>(i * liveIn + b) * rowBytes;
        const dst = resOut + <usize>(i * liveOut + p) * rowBytes;
        let cw = panelsPtr + ((<usize>(c >> 3) * d * 8 + (c & 7)) << 2);
        if (norms) {
          let s2: f32 = 0;
          for (let t: u32 = 0; t < d; t++, cw += 32) {
            const r = load<f32>(src + (<usize>t << 2)) - load<f32>(cw);
            store<f32>(dst + (<usize>t << 2), r);
            s2 += r * r;
          }
          store<f32>(normOut + (<usize>(i * liveOut + p) << 2), s2);
        } else {
          for (let t: u32 = 0; t < d; t++, cw += 32) store<f32>(dst + (<usize>t << 2), load<f32>(src + (<usize>t << 2)) - load<f32>(cw));
        }
        const co = codesOut + <usize>(i * liveOut + p) * cstride;
        if (level > 0) memory.copy(co, codesIn + <usize>(i * liveIn + b) * cstride, level);
        store<u8>(co + level, <u8>c);
      }
    }
  }
  return liveOut;
}

// Greedy steps (beam 1): the scores of 4 rows (or 1) against one panel of 8 codewords come from the panel kernels'
// tile (panels.ts, still in L1), and a running arg-min per row takes them panel by panel, instead of going through a
// score buffer of all ksub. The scores are scorePanels's, bit for bit; each lane keeps the first index among equal
// scores and lowestOf the lowest across lanes, so the choice is the lowest-index minimum, as in the beam path.

@inline function lowestOf(best: v128, bestI: v128, tmp: usize): u32 {
  v128.store(tmp, best);
  v128.store(tmp + 16, bestI);
  let bs = load<f32>(tmp);
  let bc = load<u32>(tmp + 16);
  for (let l: usize = 1; l < 4; l++) {
    const sl = load<f32>(tmp + (l << 2));
    const cl = load<u32>(tmp + 16 + (l << 2));
    if (sl < bs || (sl == bs && cl < bc)) { bs = sl; bc = cl; }
  }
  return bc;
}

@inline function takeMin(s: v128, idx: v128, best: v128, bestI: v128): v128 {
  return v128.bitselect(idx, bestI, f32x4.lt(s, best));
}

function greedy4(q0: usize, stride: usize, d: u32, ksub: u32, panelsPtr: usize, cnormPtr: usize, outPtr: usize, tmp: usize): void {
  const m2 = f32x4.splat(-2);
  let b0 = f32x4.splat(Infinity), b1 = b0, b2 = b0, b3 = b0;
  let i0 = i32x4.splat(0), i1 = i0, i2 = i0, i3 = i0;
  let idxLo = i32x4(0, 1, 2, 3);
  const eight = i32x4.splat(8);
  const four = i32x4.splat(4);
  const panelBytes = <usize>d << 5;
  // the 4 rows packed side by side (panels.ts packQueries) where that pays: one row pointer instead of four
  const packed = packPays(ksub, d);
  if (packed) packQueries(q0, 1, d, qpackBase());
  for (let c0: u32 = 0; c0 < ksub; c0 += 8) {
    const c = panelsPtr + <usize>(c0 >> 3) * panelBytes;
    const z = cnormPtr + (<usize>c0 << 2);
    if (packed) panel4x8P(qpackBase(), c, d, z, m2);
    else panel4x8(q0, stride, c, d, z, m2);
    // the panel's 4 x 8 scores, just written to the tile (L1)
    const t = tileBase();
    const idxHi = i32x4.add(idxLo, four);
    let s = v128.load(t); i0 = takeMin(s, idxLo, b0, i0); b0 = f32x4.min(s, b0);
    s = v128.load(t, 16); i0 = takeMin(s, idxHi, b0, i0); b0 = f32x4.min(s, b0);
    s = v128.load(t, 32); i1 = takeMin(s, idxLo, b1, i1); b1 = f32x4.min(s, b1);
    s = v128.load(t, 48); i1 = takeMin(s, idxHi, b1, i1); b1 = f32x4.min(s, b1);
    s = v128.load(t, 64); i2 = takeMin(s, idxLo, b2, i2); b2 = f32x4.min(s, b2);
    s = v128.load(t, 80); i2 = takeMin(s, idxHi, b2, i2); b2 = f32x4.min(s, b2);
    s = v128.load(t, 96); i3 = takeMin(s, idxLo, b3, i3); b3 = f32x4.min(s, b3);
    s = v128.load(t, 112); i3 = takeMin(s, idxHi, b3, i3); b3 = f32x4.min(s, b3);
    idxLo = i32x4.add(idxLo, eight);
  }
  store<u32>(outPtr, lowestOf(b0, i0, tmp));
  store<u32>(outPtr, lowestOf(b1, i1, tmp), 4);
  store<u32>(outPtr, lowestOf(b2, i2, tmp), 8);
  store<u32>(outPtr, lowestOf(b3, i3, tmp), 12);
}

function greedy1(q: usize, d: u32, ksub: u32, panelsPtr: usize, cnormPtr: usize, outPtr: usize, tmp: usize): void {
  const m2 = f32x4.splat(-2);
  let b = f32x4.splat(Infinity);
  let bi = i32x4.splat(0);
  let idxLo = i32x4(0, 1, 2, 3);
  const eight = i32x4.splat(8);
  const four = i32x4.splat(4);
  const panelBytes = <usize>d << 5;
  for (let c0: u32 = 0; c0 < ksub; c0 += 8) {
    panel1x8(q, panelsPtr + <usize>(c0 >> 3) * panelBytes, d, cnormPtr + (<usize>c0 << 2), m2);
    let s = v128.load(tileBase());
    bi = takeMin(s, idxLo, b, bi); b = f32x4.min(s, b);
    s = v128.load(tileBase(), 16);
    bi = takeMin(s, i32x4.add(idxLo, four), b, bi); b = f32x4.min(s, b);
    idxLo = i32x4.add(idxLo, eight);
  }
  store<u32>(outPtr, lowestOf(b, bi, tmp));
}

/**
 * Beam-search encoding of xPtr: f32[n][d] through all levels: codesOut u8[n][levels] (the best beam's codes, unpacked)
 * and, when errOut != 0, errOut f32[n] = ||x - x^||^2 as the final residual's squared norm. Scratch: rqWorkBytes.
 * qpPtr / qinfoPtr (0: none): the int16 codebooks of every level (qpanels.ts), u8[levels][qpanelsBytes(ksub, d)] and
 * f32[levels][ksub8 / 8][4][8], used by greedy steps (see rqBeamStep).
 */
export function rqEncode(
  xPtr: usize, n: u32, d: u32, levels: u32, ksub: u32, beam: u32, panelsPtr: usize, cnormPtr: usize, workPtr: usize,
  codesOut: usize, errOut: usize, qpPtr: usize, qinfoPtr: usize,
): void {
  const ksub8: u32 = ksub < 8 ? 8 : ksub;
  const rows = <u64>n * beam;
  const step = workPtr;
  const a = workPtr + <usize>rqStepWorkBytes(ksub, beam, d);
  const levelQp = <usize>qpanelsBytes(ksub, d);
  const levelQinfo = <usize>ksub8 << 4;
  const sb = <usize>stateBytes(n, d, levels, beam);
  const resOff = <usize>align16(rows * d * 4);
  const normOff = resOff + <usize>align16(rows * 4);
  let rIn = xPtr, nIn = a + resOff, cIn = a + normOff;
  // greedy without errors: no norms at all (beamStep)
  const norms = beam > 1 || errOut != 0;
  // level 0 starts from x itself: one beam, its squared norm in the same f32 order as the steps use
  for (let i: u32 = 0; norms && i < n; i++) {
    const row = xPtr + (<usize>i * d << 2);
    let s2: f32 = 0;
    for (let t: u32 = 0; t < d; t++) {
      const v = load<f32>(row + (<usize>t << 2));
      s2 += v * v;
    }
    store<f32>(nIn + (<usize>i << 2), s2);
  }
  let live: u32 = 1;
  let out = a + sb;
  const levelPanel = <usize>ksub8 * d << 2;
  for (let l: u32 = 0; l < levels; l++) {
    const next = beamStep(
      n, d, ksub, panelsPtr + <usize>l * levelPanel, cnormPtr + (<usize>l * ksub8 << 2), l, live, beam, levels,
      rIn, nIn, cIn, out, out + resOff, out + normOff, step,
      qpPtr != 0 ? qpPtr + <usize>l * levelQp : 0, qpPtr != 0 ? qinfoPtr + <usize>l * levelQinfo : 0, norms,
    );
    rIn = out;
    nIn = out + resOff;
    cIn = out + normOff;
    out = out == a ? a + sb : a;
    live = next;
  }
  for (let i: u32 = 0; i < n; i++) {
    memory.copy(codesOut + <usize>i * levels, cIn + <usize>i * live * levels, levels);
    if (errOut != 0) store<f32>(errOut + (<usize>i << 2), load<f32>(nIn + (<usize>i * live << 2)));
  }
}

/**
 * Reconstruction: codes u8[n][stride] (the first `levels` bytes of each row are the level codes) -> outPtr: f32[n][d],
 * each component the f32 sum of the chosen codewords' in level order (0 + c_0 + c_1 + ...).
 */
export function rqDecode(codesPtr: usize, n: u32, stride: u32, d: u32, levels: u32, ksub: u32, panelsPtr: usize, outPtr: usize): void {
  const ksub8: u32 = ksub < 8 ? 8 : ksub;
  const levelPanel = <usize>ksub8 * d << 2;
  for (let i: u32 = 0; i < n; i++) {
    const o = outPtr + (<usize>i * d << 2);
    memory.fill(o, 0, <usize>d << 2);
    const code = codesPtr + <usize>i * stride;
    for (let l: u32 = 0; l < levels; l++) {
      const c = <u32>load<u8>(code + l);
      let cw = panelsPtr + <usize>l * levelPanel + ((<usize>(c >> 3) * d * 8 + (c & 7)) << 2);
      for (let t: u32 = 0; t < d; t++, cw += 32) {
        const p = o + (<usize>t << 2);
        store<f32>(p, load<f32>(p) + load<f32>(cw));
      }
    }
  }
}
