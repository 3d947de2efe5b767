/**
 * Faiss index files (what `faiss.write_index` writes; the layout of Faiss's impl/index_write.cpp, read here by our own
 * code). Everything little-endian; `vec<T>` is a u64 count followed by count items; `header` is
 *
 * ```
 * header   d i32, ntotal i64, two unused i64 (1 << 20), is_trained u8, metric_type i32 (0 inner product, 1 L2),
 *          metric_arg f32 only when metric_type > 1
 * IxF2 / IxFI / IxFl   header, vec<f32> xb (ntotal * d)                                   -> FlatIndex
 * IxPq     header, pq, vec<u8> codes (ntotal * code_size), search_type i32, encode_signs u8, polysemous_ht i32
 *                                                                                          -> PQIndex
 *          pq = d u64, M u64, nbits u64, vec<f32> centroids (M * 2^nbits * d / M, layout [M][ksub][dsub]); code j
 *          in bits [j nbits, (j + 1) nbits) of the code, least significant bit first (our layout too)
 * IxSQ     header, qtype i32, rangestat i32, rangestat_arg f32, d u64, code_size u64, vec<f32> trained,
 *          vec<u8> codes                                                                   -> SQIndex
 * IwPQ     header, nlist u64, nprobe u64, coarse quantizer (a nested IxF2 / IxFI), direct map (type u8, vec<i64>,
 *          and for type 2 vec<(i64, i64)>), by_residual u8, code_size u64, pq, inverted lists -> IVFPQIndex
 *          inverted lists = 'ilar', nlist u64, code_size u64, 'full' vec<u64> sizes[nlist] or 'sprs' vec<u64>
 *          (list, size) pairs, then per non-empty list its codes u8[size][code_size] and ids i64[size]
 * IwFl     header, nlist, nprobe, coarse quantizer and direct map as IwPQ, then inverted lists with code_size 4 d
 *          (each code is the vector, d float32)                                          -> IVFFlatIndex
 * IxRq     header, d u64, M u64, vec<u64> nbits (per level), is_trained u8, vec<f32> codebooks ([M][2^nbits][d]),
 *          search_type i32, norm_min f32, norm_max f32, train_type i32, max_beam_size i32, code_size u64, vec<u8> codes
 *          (M codes of nbits, then for ST_norm_qint8 the norm in 8 bits, ST_norm_float 32, bit-packed LSB first)
 *                                                                                          -> RQIndex
 * IxMp / IxM2  header, the wrapped index, vec<i64> ids                                     -> the index with those ids
 * IxPT     header, count i32 (1 here), 'LTra' have_bias u8, vec<f32> A (d_out x d_in, y = A x), vec<f32> b,
 *          d_in i32, d_out i32, is_trained u8, then the wrapped IxPq / IwPQ               -> PQIndex / IVFPQIndex with opq
 * ```
 *
 * Scalar quantizer mapping. Faiss QT_8bit decodes code c of dimension j to vmin_j + (c + 0.5) / 255 * vdiff_j (the
 * middle of the bucket); vqwasm decodes a_j + b_j c. So b = vdiff / 255 and a = vmin + b / 2 on reading, and the
 * inverse on writing; the two decoders then agree to float rounding (a few ulps). Encoding new vectors differs at
 * bucket edges: Faiss takes floor(255 (x - vmin) / vdiff), vqwasm the nearest reconstruction, which is the same
 * bucket except for float rounding at the edges. int8 SQIndex codes are written as their uint8 equivalents
 * (c xor 0x80). QT_4bit is the same with 15 for 255, and int4 SQIndex codes as they are (two a byte, component j in
 * the low nibble of byte j / 2 when j is even: Faiss's order). QT_8bit_uniform, QT_4bit_uniform and QT_8bit_direct are
 * read (as per-dimension ranges); the 6-bit and bf16 types are not.
 *
 * Reading is hostile-input safe: every count is checked against the bytes that remain before anything is allocated
 * (so no allocation is larger than a small multiple of the file), and every failure is a VQError: CORRUPT_DATA for
 * damage, UNSUPPORTED (naming the fourcc or type) for a valid file of a kind vqwasm does not serve.
 */
import { fail, firstNonFinite, raw, VQError, type VQErrorCode } from '../errors.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { IVFFlatIndex } from '../search/IVFFlatIndex.js';
import { IVFPQIndex } from '../search/IVFPQIndex.js';
import { PQIndex } from '../search/PQIndex.js';
import { RQIndex } from '../search/RQIndex.js';
import { SQIndex } from '../search/SQIndex.js';
import { readContainer, writeContainer, type Container, type Kind, type Params, type Section } from './format.js';
import { asBytes } from './vectors.js';

/** What readFaissIndex returns. */
export type FaissIndex = FlatIndex | PQIndex | SQIndex | IVFPQIndex | IVFFlatIndex | RQIndex;

const W = 'readFaissIndex';
const MAX_D = 1 << 14;
const MAX_N = 0x7fffffff;
const MAX_NLIST = 1 << 20;
const MAX_DEPTH = 4;

type Metric = 'l2' | 'ip';

interface Header {
  d: number;
  n: number;
  trained: boolean;
  metric: Metric;
}

interface PQPart {
  m: number;
  nbits: number;
  cent: Float32Array;
}

type Parsed =
  | { type: 'flat'; h: Header; xb: Float32Array }
  | { type: 'pq'; h: Header; pq: PQPart; codes: Uint8Array; fastScan?: boolean }
  | { type: 'sq'; h: Header; sqType: 'uint8' | 'int4' | 'fp16'; min: Float32Array; step: Float32Array; codes: Uint8Array }
  | { type: 'ivfpq'; h: Header; nlist: number; coarse: Float32Array; pq: PQPart; sizes: Int32Array; codes: Uint8Array; ids: Int32Array }
  | { type: 'ivfflat'; h: Header; nlist: number; coarse: Float32Array; sizes: Int32Array; codes: Uint8Array; ids: Int32Array }
  | { type: 'rq'; h: Header; levels: number; nbits: number; beam: number; cent: Float32Array; searchType: number; normMin: number; normMax: number; codeSize: number; codes: Uint8Array }
  | { type: 'idmap'; h: Header; inner: Parsed; ids: Int32Array }
  | { type: 'opq'; h: Header; rot: Float32Array; inner: Parsed };

function corrupt(what: string, got: unknown, expected: string): never {
  fail('CORRUPT_DATA', W, what, got, expected);
}

function unsupported(what: string, got: unknown, expected: string): never {
  fail('UNSUPPORTED', W, what, got, expected);
}

/** A cursor over the file; every read checks that the bytes are there. */
class Reader {
  p = 0;
  readonly dv: DataView;
  constructor(readonly u8: Uint8Array) {
    this.dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  }

  get left(): number {
    return this.u8.length - this.p;
  }

  need(bytes: number, what: string): void {
    if (bytes > this.left) corrupt(`the file is truncated in ${what}`, raw(`${this.left} bytes left at offset ${this.p}`), `${bytes} bytes`);
  }

  u8v(what: string): number {
    this.need(1, what);
    return this.u8[this.p++];
  }

  bool(what: string): boolean {
    const v = this.u8v(what);
    if (v > 1) corrupt(`${what} is not a boolean`, v, '0 or 1');
    return v === 1;
  }

  i32(what: string): number {
    this.need(4, what);
    const v = this.dv.getInt32(this.p, true);
    this.p += 4;
    return v;
  }

  f32(what: string): number {
    this.need(4, what);
    const v = this.dv.getFloat32(this.p, true);
    this.p += 4;
    return v;
  }

  /** An unsigned 64-bit count as a number; anything at or above 2^53 is damage. */
  u64(what: string): number {
    this.need(8, what);
    const lo = this.dv.getUint32(this.p, true);
    const hi = this.dv.getUint32(this.p + 4, true);
    this.p += 8;
    if (hi >= 1 << 21) corrupt(`${what} is implausibly large`, raw(`0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`), 'a count below 2^53');
    return hi * 2 ** 32 + lo;
  }

  fourcc(what: string): string {
    this.need(4, what);
    let s = '';
    for (let i = 0; i < 4; i++) s += String.fromCharCode(this.u8[this.p + i]);
    this.p += 4;
    return s;
  }

  /** A vec<f32> of exactly `count` finite values (count checked against the file before allocating). */
  f32vec(what: string, count: number): Float32Array {
    const c = this.u64(`the length of ${what}`);
    if (c !== count) corrupt(`${what} has the wrong length`, raw(`${c} floats`), `${count}`);
    this.need(c * 4, what);
    const out = new Float32Array(this.u8.slice(this.p, this.p + c * 4).buffer);
    this.p += c * 4;
    const bad = firstNonFinite(out);
    if (bad >= 0) corrupt(`${what} holds a non-finite value at index ${bad}`, out[bad], 'finite numbers');
    return out;
  }

  /** A vec<u8> of exactly `count` bytes. */
  u8vec(what: string, count: number): Uint8Array {
    const c = this.u64(`the length of ${what}`);
    if (c !== count) corrupt(`${what} has the wrong length`, raw(`${c} bytes`), `${count}`);
    this.need(c, what);
    const out = this.u8.slice(this.p, this.p + c);
    this.p += c;
    return out;
  }

  /** `count` i64 ids, each in [0, 2^31 - 1] (vqwasm ids are int32). */
  ids(what: string, count: number, out: Int32Array, at: number): void {
    this.need(count * 8, what);
    for (let i = 0; i < count; i++) {
      const lo = this.dv.getUint32(this.p, true);
      const hi = this.dv.getInt32(this.p + 4, true);
      this.p += 8;
      if (hi !== 0 || lo > MAX_N) unsupported(`${what}: an id outside the int32 range of vqwasm ids`, raw(`${hi * 2 ** 32 + lo}`), 'ids in [0, 2^31 - 1]');
      out[at + i] = lo;
    }
  }

  /** Skips a vec of items of `size` bytes. */
  skipVec(what: string, size: number): void {
    const c = this.u64(`the length of ${what}`);
    this.need(c * size, what);
    this.p += c * size;
  }
}

function readHeader(r: Reader, fourcc: string): Header {
  const d = r.i32(`the ${fourcc} header`);
  if (d < 1) corrupt(`${fourcc}: dimension out of range`, d, 'd >= 1');
  if (d > MAX_D) unsupported(`${fourcc}: dimension above the vqwasm limit`, d, `d <= ${MAX_D}`);
  const n = r.u64(`the ${fourcc} header (ntotal)`);
  if (n > MAX_N) unsupported(`${fourcc}: more vectors than a vqwasm index holds`, n, `ntotal <= ${MAX_N}`);
  r.u64(`the ${fourcc} header`);
  r.u64(`the ${fourcc} header`);
  const trained = r.bool(`the ${fourcc} header (is_trained)`);
  const mt = r.i32(`the ${fourcc} header (metric_type)`);
  if (mt > 1) {
    const arg = r.f32(`the ${fourcc} header (metric_arg)`);
    unsupported(`${fourcc}: metric type ${mt} is not supported`, raw(`metric_type ${mt} (metric_arg ${arg})`), 'METRIC_INNER_PRODUCT (0) or METRIC_L2 (1)');
  }
  if (mt < 0) corrupt(`${fourcc}: negative metric type`, mt, '0 or 1');
  return { d, n, trained, metric: mt === 0 ? 'ip' : 'l2' };
}

function readPQ(r: Reader, d: number, fourcc: string): PQPart {
  const pd = r.u64(`the ${fourcc} product quantizer`);
  const m = r.u64(`the ${fourcc} product quantizer`);
  const nbits = r.u64(`the ${fourcc} product quantizer`);
  if (pd !== d) corrupt(`${fourcc}: the product quantizer's d differs from the index's`, pd, `${d}`);
  if (m < 1 || m > d || d % m !== 0) corrupt(`${fourcc}: M must divide d`, raw(`M = ${m}, d = ${d}`), 'M dividing d');
  if (nbits < 1 || nbits > 24) corrupt(`${fourcc}: nbits out of range`, nbits, 'nbits in [1, 24]');
  if (nbits > 8) unsupported(`${fourcc}: ${nbits}-bit product quantizer codes`, nbits, 'nbits <= 8');
  const cent = r.f32vec(`${fourcc} centroids`, m * (1 << nbits) * (d / m));
  return { m, nbits, cent };
}

/** Bytes of one PQ code: ceil(M nbits / 8). */
function pqCodeSize(pq: PQPart): number {
  return Math.ceil((pq.m * pq.nbits) / 8);
}

/**
 * IndexPQFastScan's code blocks (Faiss impl/pq4_fast_scan.cpp, bbs = 32): per block of 32 vectors, per pair of
 * sub-quantizers (2p, 2p + 1), 32 bytes; vector v of the block (w = v & 15) sits at byte 2w (w < 8) or 2 (w - 8) + 1,
 * plus 16 for the odd sub-quantizer, in the low nibble for v < 16 and the high one for v >= 16. M is padded to even.
 */
const FS_BBS = 32;

function fastScanAddress(v: number, sq: number, m2: number): [byte: number, high: boolean] {
  const w = v % FS_BBS;
  const u = w & 15;
  const byte = Math.floor(v / FS_BBS) * (m2 / 2) * FS_BBS + (sq >> 1) * FS_BBS + (u < 8 ? u * 2 : (u - 8) * 2 + 1) + (sq & 1 ? 16 : 0);
  return [byte, w > 15];
}

/** Standard 4-bit PQ codes (code j in the low nibble of byte j / 2 for even j) from the fast-scan blocks. */
function unpackFastScan(packed: Uint8Array, n: number, m: number): Uint8Array {
  const cs = Math.ceil(m / 2);
  const m2 = m + (m & 1);
  const codes = new Uint8Array(n * cs);
  for (let v = 0; v < n; v++) {
    for (let sq = 0; sq < m; sq++) {
      const [byte, high] = fastScanAddress(v, sq, m2);
      const c = high ? packed[byte] >> 4 : packed[byte] & 15;
      codes[v * cs + (sq >> 1)] |= c << (4 * (sq & 1));
    }
  }
  return codes;
}

/** The fast-scan blocks of n standard 4-bit codes (the inverse of unpackFastScan; padding vectors and M stay 0). */
function packFastScan(codes: Uint8Array, n: number, m: number): Uint8Array {
  const cs = Math.ceil(m / 2);
  const m2 = m + (m & 1);
  const packed = new Uint8Array((Math.ceil(n / FS_BBS) * FS_BBS * m2) / 2);
  for (let v = 0; v < n; v++) {
    for (let sq = 0; sq < m; sq++) {
      const c = (codes[v * cs + (sq >> 1)] >> (4 * (sq & 1))) & 15;
      const [byte, high] = fastScanAddress(v, sq, m2);
      packed[byte] |= high ? c << 4 : c;
    }
  }
  return packed;
}

const SQ_NAMES = ['QT_8bit', 'QT_4bit', 'QT_8bit_uniform', 'QT_4bit_uniform', 'QT_fp16', 'QT_8bit_direct', 'QT_6bit', 'QT_bf16', 'QT_8bit_direct_signed'];

/** The header of every IndexIVF: the index header, nlist, nprobe, the coarse quantizer (flat), the direct map. */
function readIVFHead(r: Reader, fourcc: string, depth: number): { h: Header; nlist: number; coarse: Float32Array } {
  const h = readHeader(r, fourcc);
  const nlist = r.u64(`${fourcc} nlist`);
  if (nlist < 1 || nlist > MAX_NLIST) unsupported(`${fourcc}: nlist out of range`, nlist, `nlist in [1, ${MAX_NLIST}]`);
  r.u64(`${fourcc} nprobe`);
  const q = readIndex(r, depth + 1);
  if (q.type !== 'flat') unsupported(`${fourcc}: only a flat coarse quantizer is supported`, raw(`a ${q.type} quantizer`), 'IndexFlatL2 or IndexFlatIP');
  // an untrained IVF index has an empty coarse quantizer
  if (q.h.d !== h.d || q.h.n !== (h.trained ? nlist : q.h.n === 0 ? 0 : nlist)) corrupt(`${fourcc}: the coarse quantizer does not match`, raw(`d ${q.h.d}, ${q.h.n} centroids`), `d ${h.d}, ${nlist} centroids`);
  if (q.h.metric !== h.metric) unsupported(`${fourcc}: the coarse quantizer's metric differs from the index's`, q.h.metric, h.metric);
  const dmType = r.u8v(`${fourcc} direct map`);
  if (dmType > 2) corrupt(`${fourcc}: unknown direct map type`, dmType, '0, 1 or 2');
  r.skipVec(`${fourcc} direct map`, 8);
  if (dmType === 2) r.skipVec(`${fourcc} direct map hash table`, 16);
  return { h, nlist, coarse: q.xb };
}

/** In-memory inverted lists ('ilar'; 'il00' when empty): list sizes, then the codes u8[n][cs] and ids, list after list. */
function readInvLists(r: Reader, fourcc: string, h: Header, nlist: number, cs: number): { sizes: Int32Array; codes: Uint8Array; ids: Int32Array } {
  const il = r.fourcc(`${fourcc} inverted lists`);
  const sizes = new Int32Array(nlist);
  let codes = new Uint8Array(0);
  const ids = new Int32Array(h.n);
  if (il === 'il00') {
    if (h.n !== 0) corrupt(`${fourcc}: no inverted lists but ntotal > 0`, h.n, '0');
  } else if (il === 'ilar') {
    const ln = r.u64(`${fourcc} inverted lists`);
    const lcs = r.u64(`${fourcc} inverted lists`);
    if (ln !== nlist || lcs !== cs) corrupt(`${fourcc}: the inverted lists do not match the index`, raw(`nlist ${ln}, code_size ${lcs}`), `nlist ${nlist}, code_size ${cs}`);
    const kind = r.fourcc(`${fourcc} inverted list type`);
    if (kind === 'full') {
      const c = r.u64(`${fourcc} list sizes`);
      if (c !== nlist) corrupt(`${fourcc}: list sizes have the wrong length`, c, `${nlist}`);
      r.need(c * 8, `${fourcc} list sizes`);
      for (let l = 0; l < nlist; l++) {
        const s = r.u64(`${fourcc} list sizes`);
        if (s > h.n) corrupt(`${fourcc}: a list is longer than ntotal`, s, `at most ${h.n}`);
        sizes[l] = s;
      }
    } else if (kind === 'sprs') {
      const c = r.u64(`${fourcc} list sizes`);
      if (c % 2 !== 0 || c / 2 > nlist) corrupt(`${fourcc}: sparse list sizes have a bad length`, c, `an even count up to ${2 * nlist}`);
      r.need(c * 8, `${fourcc} list sizes`);
      let prev = -1;
      for (let i = 0; i < c / 2; i++) {
        const l = r.u64(`${fourcc} list sizes`);
        const s = r.u64(`${fourcc} list sizes`);
        if (l >= nlist || l <= prev) corrupt(`${fourcc}: sparse list numbers out of order`, l, `increasing, below ${nlist}`);
        if (s > h.n) corrupt(`${fourcc}: a list is longer than ntotal`, s, `at most ${h.n}`);
        sizes[l] = s;
        prev = l;
      }
    } else {
      corrupt(`${fourcc}: unknown inverted list layout`, raw(JSON.stringify(kind)), "'full' or 'sprs'");
    }
    let total = 0;
    for (let l = 0; l < nlist; l++) total += sizes[l];
    if (total !== h.n) corrupt(`${fourcc}: the list sizes do not add up to ntotal`, total, `${h.n}`);
    r.need(total * (cs + 8), `${fourcc} inverted lists`);
    codes = new Uint8Array(total * cs);
    let at = 0;
    for (let l = 0; l < nlist; l++) {
      const s = sizes[l];
      if (s === 0) continue;
      codes.set(r.u8.subarray(r.p, r.p + s * cs), at * cs);
      r.p += s * cs;
      r.ids(`${fourcc} ids`, s, ids, at);
      at += s;
    }
  } else {
    unsupported(`${fourcc}: inverted lists of type '${il}' are not supported`, raw(JSON.stringify(il)), "'ilar' (in-memory array lists)");
  }
  return { sizes, codes, ids };
}

function readIndex(r: Reader, depth: number): Parsed {
  if (depth > MAX_DEPTH) corrupt('indexes nested too deeply', raw(`depth ${depth}`), `at most ${MAX_DEPTH}`);
  const fourcc = r.fourcc('the index type (fourcc)');
  switch (fourcc) {
    case 'IxF2':
    case 'IxFI':
    case 'IxFl': {
      const h = readHeader(r, fourcc);
      if ((fourcc === 'IxF2' && h.metric !== 'l2') || (fourcc === 'IxFI' && h.metric !== 'ip')) corrupt(`${fourcc}: the metric contradicts the type`, h.metric, fourcc === 'IxF2' ? 'l2' : 'ip');
      const xb = r.f32vec(`${fourcc} vectors`, h.n * h.d);
      return { type: 'flat', h, xb };
    }
    case 'IxPq': {
      const h = readHeader(r, fourcc);
      const pq = readPQ(r, h.d, fourcc);
      const codes = r.u8vec(`${fourcc} codes`, h.n * pqCodeSize(pq));
      r.i32(`${fourcc} search_type`);
      r.bool(`${fourcc} encode_signs`);
      r.i32(`${fourcc} polysemous_ht`);
      return { type: 'pq', h, pq, codes };
    }
    case 'IPfs': {
      const h = readHeader(r, fourcc);
      const pq = readPQ(r, h.d, fourcc);
      if (pq.nbits !== 4) corrupt(`${fourcc}: fast-scan codes must have 4 bits`, pq.nbits, '4');
      r.i32(`${fourcc} implem`);
      const bbs = r.i32(`${fourcc} bbs`);
      if (bbs !== FS_BBS) unsupported(`${fourcc}: block size ${bbs}`, bbs, `bbs = ${FS_BBS} (the Faiss default)`);
      r.i32(`${fourcc} qbs`);
      const n2 = r.u64(`${fourcc} ntotal2`);
      const m2 = r.u64(`${fourcc} M2`);
      if (n2 !== Math.ceil(h.n / FS_BBS) * FS_BBS || m2 !== pq.m + (pq.m & 1)) corrupt(`${fourcc}: the block layout does not match`, raw(`ntotal2 ${n2}, M2 ${m2}`), `ntotal2 ${Math.ceil(h.n / FS_BBS) * FS_BBS}, M2 ${pq.m + (pq.m & 1)}`);
      const packed = r.u8vec(`${fourcc} codes`, (n2 * m2) / 2);
      return { type: 'pq', h, pq, codes: unpackFastScan(packed, h.n, pq.m), fastScan: true };
    }
    case 'IxSQ': {
      const h = readHeader(r, fourcc);
      const qtype = r.i32(`${fourcc} qtype`);
      r.i32(`${fourcc} rangestat`);
      r.f32(`${fourcc} rangestat_arg`);
      const sd = r.u64(`${fourcc} d`);
      const cs = r.u64(`${fourcc} code_size`);
      if (sd !== h.d) corrupt(`${fourcc}: the scalar quantizer's d differs from the index's`, sd, `${h.d}`);
      const name = qtype >= 0 && qtype < SQ_NAMES.length ? SQ_NAMES[qtype] : `qtype ${qtype}`;
      const d = h.d;
      const min = new Float32Array(d);
      const step = new Float32Array(d);
      let sqType: 'uint8' | 'int4' | 'fp16' = 'uint8';
      if (qtype === 4) {
        sqType = 'fp16';
        if (cs !== 2 * d) corrupt(`${fourcc}: code_size does not match ${name}`, cs, `${2 * d}`);
        r.f32vec(`${fourcc} trained ranges`, 0);
      } else if (qtype >= 0 && qtype <= 3 || qtype === 5) {
        // QT_8bit 0, QT_4bit 1, QT_8bit_uniform 2, QT_4bit_uniform 3 (odd: 4 bits), QT_8bit_direct 5
        const levels = qtype & 1 && qtype < 5 ? 15 : 255;
        if (levels === 15) sqType = 'int4';
        const size = levels === 15 ? Math.ceil(d / 2) : d;
        if (cs !== size) corrupt(`${fourcc}: code_size does not match ${name}`, cs, `${size}`);
        const want = qtype < 2 ? 2 * d : qtype < 5 ? 2 : 0;
        // an untrained index has no ranges yet
        const t = r.f32vec(`${fourcc} trained ranges`, h.trained || qtype === 5 ? want : 0);
        if (h.trained) {
          for (let j = 0; j < d; j++) {
            let vmin = 0;
            let vdiff = 255;
            if (qtype !== 5) {
              vmin = qtype < 2 ? t[j] : t[0];
              vdiff = qtype < 2 ? t[d + j] : t[1];
            }
            if (!(vdiff >= 0)) unsupported(`${fourcc}: a negative range (dimension ${j})`, vdiff, 'vdiff >= 0');
            // decode vmin + (c + 0.5) / levels vdiff = a + b c (QT_8bit_direct: c itself)
            const b = Math.fround(vdiff / levels);
            step[j] = b;
            min[j] = qtype === 5 ? 0 : Math.fround(vmin + Math.fround(b * 0.5));
            if (!Number.isFinite(min[j])) corrupt(`${fourcc}: a range overflows float32 (dimension ${j})`, min[j], 'finite ranges');
          }
        }
      } else {
        unsupported(`${fourcc}: scalar quantizer type ${name} is not supported`, raw(name), 'QT_8bit, QT_4bit, QT_8bit_uniform, QT_4bit_uniform, QT_8bit_direct or QT_fp16');
      }
      const codes = r.u8vec(`${fourcc} codes`, h.n * cs);
      // (odd d at 4 bits: Faiss ignores the last byte's high nibble, which SQIndex keeps 0; a copy of the file's bytes)
      if (sqType === 'int4' && d % 2) for (let i = cs - 1; i < codes.length; i += cs) codes[i] &= 15;
      return { type: 'sq', h, sqType, min, step, codes };
    }
    case 'IwPQ': {
      const { h, nlist, coarse } = readIVFHead(r, fourcc, depth);
      const byResidual = r.bool(`${fourcc} by_residual`);
      if (!byResidual) unsupported(`${fourcc}: IndexIVFPQ without by_residual`, raw('by_residual = false'), 'by_residual = true (the Faiss default)');
      const cs = r.u64(`${fourcc} code_size`);
      const pq = readPQ(r, h.d, fourcc);
      if (cs !== pqCodeSize(pq)) corrupt(`${fourcc}: code_size does not match the product quantizer`, cs, `${pqCodeSize(pq)}`);
      return { type: 'ivfpq', h, nlist, coarse, pq, ...readInvLists(r, fourcc, h, nlist, cs) };
    }
    case 'IwFl': {
      const { h, nlist, coarse } = readIVFHead(r, fourcc, depth);
      // the codes of IndexIVFFlat are the vectors themselves, d float32 each
      return { type: 'ivfflat', h, nlist, coarse, ...readInvLists(r, fourcc, h, nlist, h.d * 4) };
    }
    case 'IxRq': {
      const h = readHeader(r, fourcc);
      const rd = r.u64(`${fourcc} d`);
      if (rd !== h.d) corrupt(`${fourcc}: the residual quantizer's d differs from the index's`, rd, `${h.d}`);
      const levels = r.u64(`${fourcc} M`);
      if (levels < 1 || levels > 64) unsupported(`${fourcc}: ${levels} levels`, levels, 'M in [1, 64]');
      const nb = r.u64(`the length of ${fourcc} nbits`);
      if (nb !== levels) corrupt(`${fourcc}: nbits has the wrong length`, nb, `${levels}`);
      r.need(nb * 8, `${fourcc} nbits`);
      const bits: number[] = [];
      for (let i = 0; i < nb; i++) bits.push(r.u64(`${fourcc} nbits`));
      const nbits = bits[0];
      if (bits.some((b) => b !== nbits) || nbits < 1 || nbits > 8) unsupported(`${fourcc}: level code sizes other than one nbits in 1..8`, raw(`nbits [${bits.slice(0, 8).join(', ')}]`), 'the same nbits, 1 to 8, at every level');
      const qTrained = r.bool(`${fourcc} is_trained`);
      const cent = r.f32vec(`${fourcc} codebooks`, qTrained ? levels * (1 << nbits) * h.d : 0);
      const searchType = r.i32(`${fourcc} search_type`);
      const normMin = r.f32(`${fourcc} norm_min`);
      const normMax = r.f32(`${fourcc} norm_max`);
      const AQ_SEARCH = ['ST_decompress', 'ST_LUT_nonorm', 'ST_norm_from_LUT', 'ST_norm_float', 'ST_norm_qint8'];
      if (searchType < 0 || searchType >= AQ_SEARCH.length) unsupported(`${fourcc}: search type ${searchType} is not supported`, raw(`search_type ${searchType}`), AQ_SEARCH.join(', '));
      if (searchType === 1 && h.metric === 'l2') unsupported(`${fourcc}: L2 with ST_LUT_nonorm (distances without the norm term)`, raw('ST_LUT_nonorm'), 'another search type, or METRIC_INNER_PRODUCT');
      if (searchType === 4 && h.metric === 'l2' && 8 % nbits !== 0) unsupported(`${fourcc}: ST_norm_qint8 with ${nbits}-bit levels`, nbits, 'nbits 1, 2, 4 or 8 (the 8-bit norm is whole fields of nbits)');
      if (searchType === 4 && !(normMin <= normMax && Number.isFinite(normMin) && Number.isFinite(normMax))) corrupt(`${fourcc}: invalid norm range`, raw(`[${normMin}, ${normMax}]`), 'finite norm_min <= norm_max');
      r.i32(`${fourcc} train_type`);
      const beam = r.i32(`${fourcc} max_beam_size`);
      const codeSize = r.u64(`${fourcc} code_size`);
      const extra = searchType === 3 ? 32 : searchType === 4 ? 8 : 0;
      if (codeSize !== Math.ceil((levels * nbits + extra) / 8)) corrupt(`${fourcc}: code_size does not match the levels and search type`, codeSize, `${Math.ceil((levels * nbits + extra) / 8)}`);
      const codes = r.u8vec(`${fourcc} codes`, h.n * codeSize);
      if (h.trained && !qTrained) corrupt(`${fourcc}: a trained index with an untrained quantizer`, raw('is_trained = false'), 'true');
      return { type: 'rq', h, levels, nbits, beam: beam >= 1 && beam <= 64 ? beam : 1, cent, searchType, normMin, normMax, codeSize, codes };
    }
    case 'IxMp':
    case 'IxM2': {
      const h = readHeader(r, fourcc);
      const inner = readIndex(r, depth + 1);
      if (inner.type !== 'flat' && inner.type !== 'pq' && inner.type !== 'sq' && inner.type !== 'opq' && inner.type !== 'rq') unsupported(`${fourcc}: an id map around ${inner.type}`, raw(inner.type), 'an id map around a flat, PQ or SQ index');
      if (inner.h.n !== h.n || inner.h.d !== h.d) corrupt(`${fourcc}: the wrapped index does not match`, raw(`d ${inner.h.d}, ntotal ${inner.h.n}`), `d ${h.d}, ntotal ${h.n}`);
      const c = r.u64(`${fourcc} ids`);
      if (c !== h.n) corrupt(`${fourcc}: the id map has the wrong length`, c, `${h.n}`);
      r.need(c * 8, `${fourcc} ids`);
      const out = new Int32Array(c);
      r.ids(`${fourcc} ids`, c, out, 0);
      return { type: 'idmap', h, inner, ids: out };
    }
    case 'IxPT': {
      const h = readHeader(r, fourcc);
      const nt = r.i32(`${fourcc} transform count`);
      if (nt !== 1) unsupported(`${fourcc}: a chain of ${nt} transforms`, nt, 'exactly one (an OPQMatrix)');
      const vt = r.fourcc(`${fourcc} transform type`);
      if (vt !== 'LTra') unsupported(`${fourcc}: vector transform '${vt}' is not supported`, raw(JSON.stringify(vt)), "'LTra' (OPQMatrix)");
      const haveBias = r.bool(`${fourcc} have_bias`);
      const d = h.d;
      const A = r.f32vec(`${fourcc} matrix`, d * d);
      const bc = r.u64(`the length of ${fourcc} bias`);
      if (bc !== (haveBias ? d : 0) && bc !== 0) corrupt(`${fourcc}: bias has the wrong length`, bc, `${haveBias ? d : 0}`);
      r.need(bc * 4, `${fourcc} bias`);
      for (let i = 0; i < bc; i++) if (r.dv.getFloat32(r.p + 4 * i, true) !== 0) unsupported(`${fourcc}: a transform with a bias`, raw('a non-zero bias'), 'an OPQ rotation (no bias)');
      r.p += bc * 4;
      const dIn = r.i32(`${fourcc} d_in`);
      const dOut = r.i32(`${fourcc} d_out`);
      const tt = r.bool(`${fourcc} transform is_trained`);
      if (dIn !== d || dOut !== d) unsupported(`${fourcc}: a non-square transform`, raw(`d_in ${dIn}, d_out ${dOut}`), `d_in = d_out = ${d}`);
      if (!tt) unsupported(`${fourcc}: an untrained transform`, raw('is_trained = false'), 'a trained OPQMatrix');
      const inner = readIndex(r, depth + 1);
      if (inner.type !== 'pq' && inner.type !== 'ivfpq') unsupported(`${fourcc}: a transform in front of ${inner.type}`, raw(inner.type), 'IndexPQ or IndexIVFPQ (OPQ)');
      if (inner.h.d !== d || inner.h.n !== h.n) corrupt(`${fourcc}: the wrapped index does not match`, raw(`d ${inner.h.d}, ntotal ${inner.h.n}`), `d ${d}, ntotal ${h.n}`);
      return { type: 'opq', h, rot: A, inner };
    }
    default: {
      const printable = /^[\x20-\x7e]{4}$/.test(fourcc);
      if (!printable) corrupt('not a Faiss index file', raw(`fourcc bytes ${Array.from(fourcc, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ')}`), 'a fourcc such as IxF2, IxPq, IxSQ, IwPQ');
      return unsupported(`Faiss index type '${fourcc}' is not supported`, raw(`'${fourcc}'`), 'IxF2 / IxFI (IndexFlat), IxPq (IndexPQ), IxSQ (IndexScalarQuantizer), IwPQ (IndexIVFPQ), IwFl (IndexIVFFlat), IPfs (IndexPQFastScan), IxRq (IndexResidualQuantizer), IxMp / IxM2 (IndexIDMap), IxPT (IndexPreTransform with OPQ)');
    }
  }
}

/** Loads a vqwasm container built in memory; a refusal inside is reported as readFaissIndex's. */
function loadBuilt<T>(load: (bytes: Uint8Array) => T, kind: Kind, params: Params, sections: Section[]): T {
  try {
    return load(writeContainer(kind, params, sections));
  } catch (e) {
    if (e instanceof VQError) {
      const code: VQErrorCode = e.code === 'OUT_OF_MEMORY' ? 'OUT_OF_MEMORY' : e.code === 'CORRUPT_DATA' ? 'CORRUPT_DATA' : 'UNSUPPORTED';
      throw new VQError(code, `${W}: the index does not load into vqwasm (${e.message})`);
    }
    throw e;
  }
}

function build(p: Parsed, ids: Int32Array | null): FaissIndex {
  const { d, n, metric, trained } = p.h;
  const idSections: Section[] = ids ? [{ tag: 'IDS ', data: ids }] : [];
  switch (p.type) {
    case 'flat':
      if (!ids) {
        const seq = new Int32Array(n);
        for (let i = 0; i < n; i++) seq[i] = i;
        return loadBuilt(FlatIndex.load, 'FlatIndex', { d, metric, n }, [{ tag: 'VECS', data: p.xb }, { tag: 'IDS ', data: seq }]);
      }
      return loadBuilt(FlatIndex.load, 'FlatIndex', { d, metric, n }, [{ tag: 'VECS', data: p.xb }, ...idSections]);
    case 'pq':
    case 'opq': {
      const inner = p.type === 'opq' ? p.inner : p;
      if (inner.type === 'ivfpq') return buildIVF(inner, p.type === 'opq' ? p.rot : null);
      if (inner.type !== 'pq') return corrupt('unexpected nesting', raw(inner.type), 'pq');
      const { m, nbits } = inner.pq;
      const opq = p.type === 'opq';
      if (!trained || !inner.h.trained) {
        if (n > 0) corrupt('an untrained index holds vectors', n, '0');
        return new PQIndex({ d, m, nbits, metric, opq, fastScan: inner.fastScan === true });
      }
      const params: Params = { d, m, nbits, trained: true, metric, opq, refine: false, n, explicitIds: ids !== null, fastScan: inner.fastScan === true };
      const sections: Section[] = [{ tag: 'CENT', data: inner.pq.cent }, { tag: 'CODE', data: inner.codes }, ...idSections];
      if (opq) sections.push({ tag: 'ROT ', data: p.rot });
      return loadBuilt(PQIndex.load, 'PQIndex', params, sections);
    }
    case 'sq': {
      if (!trained) {
        if (n > 0) corrupt('an untrained index holds vectors', n, '0');
        return new SQIndex({ d, type: p.sqType, metric });
      }
      const params: Params = { d, type: p.sqType, trained: true, metric, refine: false, n, explicitIds: ids !== null };
      const sections: Section[] = [{ tag: 'CODE', data: p.codes }, ...idSections];
      if (p.sqType !== 'fp16') sections.push({ tag: 'MIN ', data: p.min }, { tag: 'STEP', data: p.step });
      return loadBuilt(SQIndex.load, 'SQIndex', params, sections);
    }
    case 'ivfpq':
      return buildIVF(p, null);
    case 'ivfflat':
      return buildIVFFlat(p);
    case 'rq':
      return buildRQ(p, ids);
    case 'idmap':
      return build(p.inner, p.ids);
  }
}

/** Reads `count` fields of `nbits` from a bit string (LSB first) starting at bit `at`. */
function getBits(b: Uint8Array, at: number, nbits: number): number {
  let v = 0;
  for (let i = 0; i < nbits; i++) {
    const bit = at + i;
    v |= ((b[bit >>> 3] >>> (bit & 7)) & 1) << i;
  }
  return v;
}

function putBits(b: Uint8Array, at: number, nbits: number, v: number): void {
  for (let i = 0; i < nbits; i++) {
    const bit = at + i;
    if ((v >>> i) & 1) b[bit >>> 3] |= 1 << (bit & 7);
  }
}

/**
 * IxRq -> RQIndex. RQIndex scores L2 with a stored, quantized ||x^||^2 after the level codes. ST_norm_qint8 files
 * carry exactly that (8 bits, decoded norm_min + (c + 1/2) (norm_max - norm_min) / 256, the same formula) when 8 is a
 * whole number of nbits fields; for ST_decompress / ST_norm_from_LUT / ST_norm_float, which Faiss scores with the exact
 * norm, the norms are recomputed from the codes and stored in 24 bits over their own range (within 2^-25 of the range).
 */
function buildRQ(p: Extract<Parsed, { type: 'rq' }>, ids: Int32Array | null): RQIndex {
  const { d, n, metric, trained } = p.h;
  const { levels, nbits } = p;
  const qp: Params = { d, levels, nbits, beamSize: p.beam, trained };
  if (!trained) {
    if (n > 0) corrupt('an untrained index holds vectors', n, '0');
    return new RQIndex({ d, levels, nbits, beamSize: p.beam, metric });
  }
  const direct = metric === 'l2' && p.searchType === 4;
  const normBits = metric === 'ip' ? 8 : direct ? 8 : 24;
  const fields = metric === 'l2' ? Math.ceil(normBits / nbits) : 0;
  const rowBytes = Math.ceil(((levels + fields) * nbits) / 8);
  const codes = new Uint8Array(n * rowBytes);
  let normMin = 0;
  let normMax = 0;
  const ksub = 1 << nbits;
  const level = new Int32Array(levels);
  let norms: Float64Array | null = null;
  if (metric === 'l2' && !direct) {
    norms = new Float64Array(n);
    const x = new Float64Array(d);
    normMin = Infinity;
    normMax = -Infinity;
    for (let i = 0; i < n; i++) {
      x.fill(0);
      for (let l = 0; l < levels; l++) {
        const c = getBits(p.codes.subarray(i * p.codeSize), l * nbits, nbits);
        const base = (l * ksub + c) * d;
        for (let j = 0; j < d; j++) x[j] += p.cent[base + j];
      }
      let s = 0;
      for (let j = 0; j < d; j++) {
        const v = Math.fround(x[j]);
        s += v * v;
      }
      norms[i] = s;
      if (s < normMin) normMin = s;
      if (s > normMax) normMax = s;
    }
    if (n === 0) normMin = normMax = 0;
  } else if (direct) {
    normMin = p.normMin;
    normMax = p.normMax;
  }
  const top = 2 ** (fields * nbits) - 1;
  const step = (normMax - normMin) / 2 ** (fields * nbits);
  for (let i = 0; i < n; i++) {
    const src = p.codes.subarray(i * p.codeSize, (i + 1) * p.codeSize);
    const dst = codes.subarray(i * rowBytes, (i + 1) * rowBytes);
    for (let l = 0; l < levels; l++) level[l] = getBits(src, l * nbits, nbits);
    for (let l = 0; l < levels; l++) putBits(dst, l * nbits, nbits, level[l]);
    if (fields === 0) continue;
    const code = direct ? getBits(src, levels * nbits, 8) : step > 0 ? Math.min(top, Math.max(0, Math.floor((norms![i] - normMin) / step))) : 0;
    for (let f = 0; f < fields; f++) putBits(dst, (levels + f) * nbits, nbits, Math.floor(code / 2 ** (f * nbits)) & (ksub - 1));
  }
  const seq = new Int32Array(n);
  for (let i = 0; i < n; i++) seq[i] = i;
  const params: Params = { ...qp, metric, normBits, n, normMin, normMax };
  return loadBuilt(RQIndex.load, 'RQIndex', params, [{ tag: 'CENT', data: p.cent }, { tag: 'CODE', data: codes }, { tag: 'IDS ', data: ids ?? seq }]);
}

function buildIVF(p: Extract<Parsed, { type: 'ivfpq' }>, rot: Float32Array | null): IVFPQIndex {
  const { d, n, metric, trained } = p.h;
  const { m, nbits } = p.pq;
  const opq = rot !== null;
  if (!trained) {
    if (n > 0) corrupt('an untrained index holds vectors', n, '0');
    return new IVFPQIndex({ d, m, nbits, nlist: p.nlist, metric, opq, fastScan: false });
  }
  const pos = new Int32Array(n);
  for (let i = 0; i < n; i++) pos[i] = i; // positions are the order of the lists in the file
  const params: Params = { d, m, nbits, nlist: p.nlist, metric, opq, refine: false, n, trained: true, fastScan: false };
  const sections: Section[] = [
    { tag: 'COAR', data: p.coarse }, { tag: 'RPQC', data: p.pq.cent }, { tag: 'LSZ ', data: p.sizes },
    { tag: 'LPOS', data: pos }, { tag: 'LCOD', data: p.codes }, { tag: 'IDS ', data: p.ids },
  ];
  if (rot) sections.push({ tag: 'ROT ', data: rot }, { tag: 'CENT', data: p.pq.cent });
  return loadBuilt(IVFPQIndex.load, 'IVFPQIndex', params, sections);
}

function buildIVFFlat(p: Extract<Parsed, { type: 'ivfflat' }>): IVFFlatIndex {
  const { d, n, metric, trained } = p.h;
  if (!trained) {
    if (n > 0) corrupt('an untrained index holds vectors', n, '0');
    return new IVFFlatIndex({ d, nlist: p.nlist, metric });
  }
  // positions are the order of the lists in the file
  const list = new Int32Array(n);
  let at = 0;
  for (let l = 0; l < p.nlist; l++) for (let i = 0; i < p.sizes[l]; i++) list[at++] = l;
  const vecs = new Float32Array(p.codes.buffer, p.codes.byteOffset, n * d);
  const params: Params = { d, nlist: p.nlist, metric, seed: 1234, coarseIterations: 25, coarseInit: 'kmeans++', n, trained: true };
  return loadBuilt(IVFFlatIndex.load, 'IVFFlatIndex', params, [
    { tag: 'COAR', data: p.coarse }, { tag: 'VECS', data: vecs }, { tag: 'IDS ', data: p.ids }, { tag: 'LIST', data: list },
  ]);
}

/**
 * The index in a file written by `faiss.write_index` (bytes of the whole file), as the matching vqwasm index, ready to
 * search: IndexFlatL2 / IndexFlatIP -> FlatIndex; IndexPQ -> PQIndex (fastScan off, so that distances are Faiss's
 * float ADC ones); IndexScalarQuantizer (QT_8bit, QT_4bit, QT_8bit_uniform, QT_4bit_uniform, QT_8bit_direct, QT_fp16) -> SQIndex;
 * IndexIVFPQ (by residual, flat coarse quantizer, in-memory lists) -> IVFPQIndex (nprobe is a search option in
 * vqwasm: pass the one you used with Faiss); IndexIDMap around flat / PQ / SQ -> the same index with those ids;
 * IndexPreTransform(OPQMatrix, IndexPQ or IndexIVFPQ) -> the index with opq; IndexResidualQuantizer -> RQIndex (see
 * buildRQ for the norms). Ids must fit in int32 (0 .. 2^31 - 1).
 * The caller owns the result (dispose()). Needs `await init()` first.
 */
export function readFaissIndex(bytes: Uint8Array | ArrayBuffer): FaissIndex {
  const u8 = asBytes(W, bytes);
  const r = new Reader(u8);
  const p = readIndex(r, 0);
  if (r.left !== 0) corrupt(`${r.left} bytes after the end of the index`, raw(`${u8.length} bytes`), `${r.p} bytes`);
  return build(p, null);
}

// ------------------------------------------------------------------------------------------------------------------
// Writing

/** Little-endian output that grows as needed. */
class Writer {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  p = 0;

  private room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.p + n));
    next.set(this.buf.subarray(0, this.p));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  fourcc(s: string): void {
    this.room(4);
    for (let i = 0; i < 4; i++) this.buf[this.p + i] = s.charCodeAt(i);
    this.p += 4;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.p++] = v;
  }

  i32(v: number): void {
    this.room(4);
    this.dv.setInt32(this.p, v, true);
    this.p += 4;
  }

  f32(v: number): void {
    this.room(4);
    this.dv.setFloat32(this.p, v, true);
    this.p += 4;
  }

  u64(v: number): void {
    this.room(8);
    this.dv.setUint32(this.p, v % 2 ** 32, true);
    this.dv.setUint32(this.p + 4, Math.floor(v / 2 ** 32), true);
    this.p += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.p);
    this.p += b.length;
  }

  f32vec(a: Float32Array): void {
    this.u64(a.length);
    this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  u8vec(a: Uint8Array): void {
    this.u64(a.length);
    this.bytes(a);
  }

  header(d: number, n: number, trained: boolean, metric: Metric): void {
    this.i32(d);
    this.u64(n);
    this.u64(1 << 20);
    this.u64(1 << 20);
    this.u8(trained ? 1 : 0);
    this.i32(metric === 'ip' ? 0 : 1);
  }

  pq(d: number, m: number, nbits: number, cent: Float32Array): void {
    this.u64(d);
    this.u64(m);
    this.u64(nbits);
    this.f32vec(cent);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.p);
  }
}

/** The header of every IndexIVF (the twin of readIVFHead): the index header, nlist, nprobe, a flat coarse quantizer, no direct map. */
function writeIVFHead(w: Writer, fourcc: string, c: Container, nlist: number, nprobe: number, trained: boolean): void {
  const d = c.params.d as number;
  const metric = c.params.metric as Metric;
  w.fourcc(fourcc);
  w.header(d, c.params.n as number, trained, metric);
  w.u64(nlist);
  w.u64(nprobe);
  w.fourcc(metric === 'ip' ? 'IxFI' : 'IxF2');
  w.header(d, trained ? nlist : 0, true, metric);
  w.f32vec(trained ? f32s(c, 'COAR') : new Float32Array(0));
  w.u8(0); // no direct map
  w.u64(0);
}

/**
 * In-memory inverted lists (the twin of readInvLists): 'ilar', nlist, code size cs, 'full' list sizes, then per list
 * its codes u8[size][cs] (`codes(l)`) and ids i64[size] (`id(l, i)`).
 */
function writeInvLists(w: Writer, nlist: number, cs: number, sizes: Int32Array, codes: (l: number) => Uint8Array, id: (l: number, i: number) => number): void {
  w.fourcc('ilar');
  w.u64(nlist);
  w.u64(cs);
  w.fourcc('full');
  w.u64(nlist);
  for (let l = 0; l < nlist; l++) w.u64(sizes[l]);
  for (let l = 0; l < nlist; l++) {
    if (sizes[l] === 0) continue;
    w.bytes(codes(l));
    for (let i = 0; i < sizes[l]; i++) w.u64(id(l, i));
  }
}

export interface WriteFaissOptions {
  /** nprobe stored in an IndexIVFPQ file (Faiss's default for searches). Default 1. */
  nprobe?: number;
}

const WW = 'writeFaissIndex';

function f32s(c: Container, tag: string): Float32Array {
  const s = c.sections.get(tag)!;
  return new Float32Array(s.slice().buffer);
}

function i32s(c: Container, tag: string): Int32Array {
  const s = c.sections.get(tag)!;
  return new Int32Array(s.slice().buffer);
}

function isIdentity(ids: Int32Array): boolean {
  for (let i = 0; i < ids.length; i++) if (ids[i] !== i) return false;
  return true;
}

/**
 * The index as a Faiss index file (bytes that `faiss.read_index` / `faiss.deserialize_index` read): FlatIndex 'l2' /
 * 'ip' -> IndexFlatL2 / IndexFlatIP; PQIndex -> IndexPQ; SQIndex uint8 / int8 -> IndexScalarQuantizer QT_8bit (same
 * reconstructions), int4 -> QT_4bit, fp16 -> QT_fp16; IVFPQIndex -> IndexIVFPQ (by residual, flat coarse quantizer); with opq, an
 * IndexPreTransform whose OPQMatrix is the rotation; user ids other than 0..n-1 on a flat / PQ / SQ index -> an
 * IndexIDMap around it. Refused with UNSUPPORTED: 'cosine' FlatIndex (store normalized vectors in an 'ip' index),
 * refine indexes (Faiss keeps the originals in a separate IndexRefineFlat), and other classes.
 */
export function writeFaissIndex(index: FaissIndex, options: WriteFaissOptions = {}): Uint8Array {
  const nprobe = options?.nprobe ?? 1;
  if (typeof nprobe !== 'number' || !Number.isInteger(nprobe) || nprobe < 1) fail('INVALID_OPTION', WW, 'nprobe must be an integer >= 1', nprobe, 'an integer >= 1');
  let kind: Kind;
  if (index instanceof FlatIndex) kind = 'FlatIndex';
  else if (index instanceof PQIndex) kind = 'PQIndex';
  else if (index instanceof SQIndex) kind = 'SQIndex';
  else if (index instanceof IVFPQIndex) kind = 'IVFPQIndex';
  else if (index instanceof IVFFlatIndex) kind = 'IVFFlatIndex';
  else if (index instanceof RQIndex) kind = 'RQIndex';
  else return fail('UNSUPPORTED', WW, 'this object has no Faiss equivalent written here', index, 'a FlatIndex, PQIndex, SQIndex, IVFPQIndex, IVFFlatIndex or RQIndex');
  const c = readContainer(WW, index.save(), kind);
  const P = c.params;
  const d = P.d as number;
  const n = P.n as number;
  const metric = P.metric as Metric | 'cosine';
  if (metric === 'cosine') fail('UNSUPPORTED', WW, "a 'cosine' FlatIndex has no Faiss metric", raw("metric 'cosine'"), "an 'ip' index over normalized vectors (what Faiss users do for cosine)");
  if (P.refine === true) fail('UNSUPPORTED', WW, 'refine indexes are not written (Faiss keeps the originals in an IndexRefineFlat)', raw('refine: true'), 'an index built with refine: false');
  const w = new Writer();
  const trained = kind === 'FlatIndex' ? true : P.trained === true;
  const ids = kind === 'IVFPQIndex' || kind === 'IVFFlatIndex' ? null : P.explicitIds === true || kind === 'FlatIndex' || kind === 'RQIndex' ? (c.sections.has('IDS ') ? i32s(c, 'IDS ') : null) : null;
  const idmap = ids !== null && !isIdentity(ids);
  if (idmap) {
    w.fourcc('IxMp');
    w.header(d, n, trained, metric);
  }
  const opq = P.opq === true;
  if (opq) {
    w.fourcc('IxPT');
    w.header(d, n, trained, metric);
    w.i32(1);
    w.fourcc('LTra');
    w.u8(0);
    w.f32vec(trained ? f32s(c, 'ROT ') : new Float32Array(d * d));
    w.u64(0);
    w.i32(d);
    w.i32(d);
    w.u8(trained ? 1 : 0);
  }
  switch (kind) {
    case 'FlatIndex':
      w.fourcc(metric === 'ip' ? 'IxFI' : 'IxF2');
      w.header(d, n, true, metric);
      w.f32vec(f32s(c, 'VECS'));
      break;
    case 'PQIndex': {
      const m = P.m as number;
      const nbits = P.nbits as number;
      if (P.fastScan === true && !opq) {
        // IndexPQFastScan: the same codebook, the codes in Faiss's blocks of 32
        w.fourcc('IPfs');
        w.header(d, n, trained, metric);
        w.pq(d, m, nbits, trained ? f32s(c, 'CENT') : new Float32Array(m * (1 << nbits) * (d / m)));
        w.i32(0); // implem: 0, Faiss chooses at search time
        w.i32(FS_BBS);
        w.i32(0); // qbs: Faiss picks
        w.u64(Math.ceil(n / FS_BBS) * FS_BBS);
        w.u64(m + (m & 1));
        w.u8vec(packFastScan(trained ? c.sections.get('CODE')! : new Uint8Array(0), n, m));
        break;
      }
      w.fourcc('IxPq');
      w.header(d, n, trained, metric);
      w.pq(d, m, nbits, trained ? f32s(c, 'CENT') : new Float32Array(m * (1 << nbits) * (d / m)));
      w.u8vec(trained ? c.sections.get('CODE')!.slice() : new Uint8Array(0));
      w.i32(0); // search_type ST_PQ
      w.u8(0); // encode_signs
      w.i32(m * nbits + 1); // polysemous_ht (Faiss's default)
      break;
    }
    case 'SQIndex': {
      const type = P.type as string;
      // int4 is QT_4bit (the same nibble order: component j in byte j / 2, the odd one high)
      const levels = type === 'int4' ? 15 : 255;
      w.fourcc('IxSQ');
      w.header(d, n, trained, metric);
      w.i32(type === 'fp16' ? 4 : levels === 15 ? 1 : 0);
      w.i32(0); // rangestat RS_minmax
      w.f32(0);
      w.u64(d);
      w.u64(type === 'fp16' ? 2 * d : levels === 15 ? Math.ceil(d / 2) : d);
      if (type === 'fp16' || !trained) w.f32vec(new Float32Array(0));
      else {
        const min = f32s(c, 'MIN ');
        const step = f32s(c, 'STEP');
        const t = new Float32Array(2 * d);
        for (let j = 0; j < d; j++) {
          t[j] = Math.fround(min[j] - Math.fround(step[j] * 0.5));
          t[d + j] = Math.fround(step[j] * levels);
        }
        w.f32vec(t);
      }
      const codes = trained ? c.sections.get('CODE')!.slice() : new Uint8Array(0);
      if (type === 'int8') for (let i = 0; i < codes.length; i++) codes[i] ^= 0x80;
      w.u8vec(codes);
      break;
    }
    case 'RQIndex': {
      const levels = P.levels as number;
      const nbits = P.nbits as number;
      const fields = metric === 'l2' ? Math.ceil((P.normBits as number) / nbits) : 0;
      // L2 with an 8-bit norm is Faiss's ST_norm_qint8, byte for byte; other norm sizes are written without the norm
      // (ST_decompress: Faiss then scores with the exact norm, vqwasm with the stored one)
      const qint8 = fields > 0 && fields * nbits === 8;
      const rowBytes = Math.ceil(((levels + fields) * nbits) / 8);
      const cs = Math.ceil((levels * nbits + (qint8 ? 8 : 0)) / 8);
      w.fourcc('IxRq');
      w.header(d, n, trained, metric);
      w.u64(d);
      w.u64(levels);
      w.u64(levels);
      for (let l = 0; l < levels; l++) w.u64(nbits);
      w.u8(trained ? 1 : 0);
      w.f32vec(trained ? f32s(c, 'CENT') : new Float32Array(0));
      w.i32(qint8 ? 4 : 0);
      w.f32(qint8 ? (P.normMin as number) : 0);
      w.f32(qint8 ? (P.normMax as number) : 0);
      w.i32(1); // train_type: Faiss's default (progressive dimension)
      w.i32(P.beamSize as number);
      w.u64(cs);
      const src = trained ? c.sections.get('CODE')! : new Uint8Array(0);
      let codes: Uint8Array;
      if (cs === rowBytes) codes = src.slice();
      else {
        codes = new Uint8Array(n * cs);
        for (let i = 0; i < n; i++) {
          const a = src.subarray(i * rowBytes, (i + 1) * rowBytes);
          const b = codes.subarray(i * cs, (i + 1) * cs);
          for (let l = 0; l < levels; l++) putBits(b, l * nbits, nbits, getBits(a, l * nbits, nbits));
        }
      }
      w.u8vec(codes);
      break;
    }
    case 'IVFPQIndex': {
      const m = P.m as number;
      const nbits = P.nbits as number;
      const nlist = P.nlist as number;
      const cs = Math.ceil((m * nbits) / 8);
      writeIVFHead(w, 'IwPQ', c, nlist, nprobe, trained);
      w.u8(1); // by_residual
      w.u64(cs);
      w.pq(d, m, nbits, trained ? f32s(c, 'RPQC') : new Float32Array(m * (1 << nbits) * (d / m)));
      const sizes = trained ? i32s(c, 'LSZ ') : new Int32Array(nlist);
      // lists are stored list after list: LPOS / LCOD rows [start_l, start_l + size_l)
      const start = new Int32Array(nlist + 1);
      for (let l = 0; l < nlist; l++) start[l + 1] = start[l] + sizes[l];
      const pos = trained ? i32s(c, 'LPOS') : new Int32Array(0);
      const allIds = trained ? i32s(c, 'IDS ') : new Int32Array(0);
      const codes = trained ? c.sections.get('LCOD')! : new Uint8Array(0);
      writeInvLists(w, nlist, cs, sizes, (l) => codes.subarray(start[l] * cs, start[l + 1] * cs), (l, i) => allIds[pos[start[l] + i]]);
      break;
    }
    case 'IVFFlatIndex': {
      const nlist = P.nlist as number;
      writeIVFHead(w, 'IwFl', c, nlist, nprobe, trained);
      // lists in ascending position order, as vqwasm keeps them
      const list = trained ? i32s(c, 'LIST') : new Int32Array(0);
      const members: number[][] = Array.from({ length: nlist }, () => []);
      for (let i = 0; i < list.length; i++) members[list[i]].push(i);
      const vecs = trained ? f32s(c, 'VECS') : new Float32Array(0);
      const allIds = trained ? i32s(c, 'IDS ') : new Int32Array(0);
      const listVectors = (l: number) => {
        const bytes = new Uint8Array(members[l].length * d * 4);
        const f = new Float32Array(bytes.buffer);
        members[l].forEach((p, i) => f.set(vecs.subarray(p * d, (p + 1) * d), i * d));
        return bytes;
      };
      writeInvLists(w, nlist, d * 4, Int32Array.from(members, (m) => m.length), listVectors, (l, i) => allIds[members[l][i]]);
      break;
    }
  }
  if (idmap) {
    w.u64(n);
    for (let i = 0; i < n; i++) w.u64(ids![i]);
  }
  return w.result();
}
