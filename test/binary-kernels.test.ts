// The Hamming kernels of assembly/kernels/binary.ts against test/reference/binary.ts, through the raw ABI, on every
// build this runtime can execute. Dimensions cover every tail of the 16-byte blocks and the 8-byte step, alone (codeSize
// 1 to 17 bytes) and after the blocks (192, 200, 320: 24, 25 and 40 bytes, 16 * b + 8 and more); codes are random bytes with the bits beyond d cleared, as BinaryQuantizer writes them. Distances
// are integers, so results must be exact; hammingScan and hammingScan4 (four queries a pass; d = 64 is its 8-byte path)
// keep exactly the reference top k, ties by id (many ties: d small).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exactMismatch, loadBuilds, Mem } from './helpers/wasm.js';
import * as R from './reference/binary.js';
import { TestRng } from './helpers/rng.js';

const DIMS = [1, 3, 5, 7, 15, 17, 33, 64, 100, 128, 129, 192, 200, 320];
const COUNTS = [1, 3, 13, 300];

const builds = await loadBuilds('binary-kernels.test');

function randomCodes(n: number, d: number, seed: number): Uint8Array {
  const r = new TestRng(seed);
  const cs = (d + 7) >> 3;
  const out = Uint8Array.from({ length: n * cs }, () => r.int(0, 255));
  if (d % 8) for (let i = 0; i < n; i++) out[i * cs + cs - 1] &= (1 << (d % 8)) - 1;
  return out;
}

describe.each(builds)('$name build', ({ eng }) => {
  const abi = eng.abi;
  let mem: Mem;
  beforeEach(() => {
    mem = new Mem(eng, 'binary-kernels.test');
  });
  afterEach(() => {
    expect(mem.brokenGuards(), 'a kernel wrote past the end of a buffer').toEqual([]);
    mem.freeAll();
  });

  // (4056 bits = 507 bytes: 31 blocks, the 8-byte step, 3 bytes)
  it.each([3968, 3976, 4056, 5120, 8200])('long codes cross the 31-block u8 accumulation (d = %i)', (d) => {
    const cs = (d + 7) >> 3;
    const n = 9;
    const codes = randomCodes(n, d, d);
    const q = randomCodes(1, d, d + 1);
    const cp = mem.put(codes);
    const qp = mem.put(q);
    const out = mem.alloc(n * 4);
    abi.hammingDistances(cp, n, cs, qp, out);
    expect(exactMismatch(mem.i32(out, n), R.hammingDistances(codes, n, cs, q), 'distance')).toBeNull();
    const ones = new Uint8Array(cs).fill(0xff);
    if (d % 8) ones[cs - 1] = (1 << (d % 8)) - 1;
    const o1 = mem.alloc(4);
    abi.hammingDistances(mem.put(ones), 1, cs, mem.put(new Uint8Array(cs)), o1);
    expect(mem.i32(o1, 1)[0]).toBe(d);
  });

  describe.each(DIMS)('d = %i', (d) => {
    const cs = (d + 7) >> 3;

    it.each(COUNTS)('hammingDistances equals the reference (n = %i)', (n) => {
      const codes = randomCodes(n, d, 10 * d + n);
      const q = randomCodes(1, d, 7 * d + n + 1);
      const cp = mem.put(codes);
      const qp = mem.put(q);
      const out = mem.alloc(n * 4);
      abi.hammingDistances(cp, n, cs, qp, out);
      expect(exactMismatch(mem.i32(out, n), R.hammingDistances(codes, n, cs, q), 'distance')).toBeNull();
      // all-ones against all-zeros counts every bit of d
      const ones = new Uint8Array(cs).fill(0xff);
      if (d % 8) ones[cs - 1] = (1 << (d % 8)) - 1;
      const zp = mem.put(new Uint8Array(cs));
      const op = mem.put(ones);
      const o1 = mem.alloc(4);
      abi.hammingDistances(op, 1, cs, zp, o1);
      expect(mem.i32(o1, 1)[0]).toBe(d);
    });

    it.each([[1, 1], [5, 3], [10, 13], [10, 300], [32, 300]])('hammingScan keeps the reference top k, ties by id (k = %i, n = %i)', (k, n) => {
      const codes = randomCodes(n, d, 100 * d + n + k);
      const q = randomCodes(1, d, 3 * d + k);
      const cp = mem.put(codes);
      const qp = mem.put(q);
      const hd = mem.alloc(k * 4);
      const hi = mem.alloc(k * 4);
      abi.heapInit(hd, hi, k);
      // in two calls, the second with idBase: the heap merges them as one scan
      const half = n >> 1;
      abi.hammingScan(cp, half, cs, qp, k, hd, hi, 1000);
      abi.hammingScan(cp + half * cs, n - half, cs, qp, k, hd, hi, 1000 + half);
      abi.heapSortRows(hd, hi, 1, k);
      const want = R.hammingTopK(codes, n, cs, q, k, 1000);
      expect(exactMismatch(mem.i32(hi, k), want.ids, 'id')).toBeNull();
      expect(exactMismatch(mem.f32(hd, k), want.dist, 'distance')).toBeNull();
    });

    it.each([[1, 1], [5, 3], [10, 13], [10, 300], [32, 300]])('hammingScan4 keeps each query\'s reference top k, ties by id (k = %i, n = %i)', (k, n) => {
      const codes = randomCodes(n, d, 200 * d + n + k);
      const q4 = randomCodes(4, d, 5 * d + k);
      // two of the queries equal to stored codes: distance 0 at the front
      if (n >= 3) {
        q4.set(codes.subarray(2 * cs, 3 * cs), cs);
        q4.set(codes.subarray(0, cs), 3 * cs);
      }
      const cp = mem.put(codes);
      const qp = mem.put(q4);
      const hd = mem.alloc(4 * k * 4);
      const hi = mem.alloc(4 * k * 4);
      abi.heapInit(hd, hi, 4 * k);
      const half = n >> 1;
      abi.hammingScan4(cp, half, cs, qp, k, hd, hi, 7);
      abi.hammingScan4(cp + half * cs, n - half, cs, qp, k, hd, hi, 7 + half);
      abi.heapSortRows(hd, hi, 4, k);
      const gotI = mem.i32(hi, 4 * k);
      const gotD = mem.f32(hd, 4 * k);
      for (let t = 0; t < 4; t++) {
        const want = R.hammingTopK(codes, n, cs, q4.subarray(t * cs, (t + 1) * cs), k, 7);
        expect(exactMismatch(gotI.subarray(t * k, (t + 1) * k), want.ids, `query ${t} id`)).toBeNull();
        expect(exactMismatch(gotD.subarray(t * k, (t + 1) * k), want.dist, `query ${t} distance`)).toBeNull();
      }
    });
  });
});
