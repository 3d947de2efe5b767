// Ceilings of two open speed targets, measured beside the library's own figures in one run on the same machine:
//   fast-scan >= 2.5x our 8-bit ADC at equal code bytes (issue 4): PQIndex 16x8 (8-bit ADC) and 32x4 (fast-scan) on
//     the synthetic 100k set of the PQ benches, then bare fast-scan block loops (bench/ceilings/fastscan.ts: the
//     shipped loops and five leaner variants, no heap and no tables made) over as many codes;
//   int8 scan >= 3x float flat search (issue 6): FlatIndex and SQIndex int8, inner product, on the same set, the
//     multiply-adds a second FlatIndex's scan amounts to (n x queries x d), and the peak rates of Wasm's multiply-add
//     instructions in register-only loops (bench/ceilings/mac.ts).
//   node bench/ceilings.js                                   (plain SIMD)
//   node --experimental-wasm-relaxed-simd bench/ceilings.js  (relaxed SIMD: relaxed_swizzle, the i8 dot)
// The probe module is compiled here with the project's pinned asc into bench/.data/ (never shipped). Speed is never
// asserted.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as C from './lib/common.js';
import { makePqSynthetic, timedRuns } from './lib/pq-common.js';

const K = 10;
const log = (msg) => process.stderr.write(`[ceilings ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The probe module for this pass's build (relaxed or plain SIMD), compiled by the project's asc. */
async function probeModule(relaxed) {
  const out = join(C.DATA_DIR, `ceilings-${relaxed ? 'relaxed' : 'simd'}.wasm`);
  const asc = join(C.REPO_ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  execFileSync(process.execPath, [
    asc, join(C.BENCH_DIR, 'ceilings', 'index.ts'), '-o', out, '-O3', '--runtime', 'stub', '--noAssert', '--initialMemory', '64',
    '--enable', 'simd', ...(relaxed ? ['--enable', 'relaxed-simd'] : []),
  ], { cwd: C.REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const { instance } = await WebAssembly.instantiate(readFileSync(out), { env: { abort() { throw new Error('probe abort'); } } });
  return instance.exports;
}

/** Median seconds of a search of every query for the top K, on the index make() gives, trained on `train` and filled. */
function searchSeconds(make, train, ds) {
  const index = make();
  try {
    index.train?.(train);
    index.add(ds.base);
    index.search(ds.q, K);
    return timedRuns(() => index.search(ds.q, K), { minSeconds: 1 });
  } finally {
    index.dispose();
  }
}

const gRate = (x) => `${(x / 1e9).toFixed(2)} G`;
const mRate = (x) => `${Math.round(x / 1e6)} M`;

async function main() {
  const { ours, build } = await C.setUp('ceilings: the arithmetic behind two open targets');
  if (!ours) return;
  const px = await probeModule(build === 'relaxed');
  const ds = makePqSynthetic({ k: K, jsNq: 0 });
  const { d, nb, nq } = ds;
  console.log(`data: ${ds.label} (n = ${nb}, d = ${d}), ${nq} queries, k = ${K}; probe module built for ${build}`);

  // ---- fast-scan (issue 4) ----
  log('PQIndex 16x8 and 32x4');
  const lib = [];
  for (const [label, opts] of [['8-bit ADC, PQIndex 16x8', { d, m: 16, nbits: 8, seed: 1234 }], ['fast-scan, PQIndex 32x4', { d, m: 32, nbits: 4, seed: 1234 }]]) {
    const r = searchSeconds(() => new ours.PQIndex(opts), ds.train, ds);
    lib.push({ label, codesPerS: (nb * nq) / r.seconds, runs: r.runs });
  }
  const adc8 = lib[0].codesPerS;
  const target = 2.5 * adc8;

  log('bare fast-scan loops');
  const m = 32;
  const nblocks = Math.ceil(nb / 32);
  const lut0 = 64;
  const lut1 = lut0 + m * 16;
  const codes = 4096;
  let mem = new Uint8Array(px.memory.buffer);
  if (codes + nblocks * m * 16 > mem.length) px.memory.grow(Math.ceil((codes + nblocks * m * 16 - mem.length) / 65536));
  mem = new Uint8Array(px.memory.buffer);
  const u = C.seededUniform(7);
  for (let i = 0; i < nblocks * m * 16; i++) mem[codes + i] = Math.floor(u() * 256);
  // entries 0..63: what the 6-bit variants allow, so every loop counts the same slots (checked below)
  for (let i = 0; i < 2 * m * 16; i++) mem[lut0 + i] = Math.floor(u() * 64);
  const thr = m * 24;
  const loops = [
    ['twoShipped', 'fsScan2 as shipped: 2 queries a pass, 8-bit tables', 2, 8],
    ['twoUnrolled', 'the same, unrolled by 2 sub-quantizers', 2, 8],
    ['twoPairwise', 'the same, odd bytes summed by extadd_pairwise', 2, 8],
    ['twoPairSums', '2 queries, pairs of lookups added as u8', 2, 7],
    ['twoQuadSums', '2 queries, quads of lookups added as u8', 2, 6],
    ['oneShipped', 'fsScan as shipped: 1 query a pass, 8-bit tables', 1, 8],
    ['onePairSums', '1 query, pairs of lookups added as u8', 1, 7],
    ['oneQuadSums', '1 query, quads of lookups added as u8', 1, 6],
  ];
  const counts = new Map();
  const loopRows = [];
  for (const [fn, what, queries, bits] of loops) {
    const f = px[fn];
    const count = f(codes, nblocks, m, lut0, lut1, thr);
    counts.set(fn, [queries, count]);
    const rate = (nblocks * 32 * queries) / C.microBench(fn, () => f(codes, nblocks, m, lut0, lut1, thr), { maxTime: 1 }).seconds;
    loopRows.push([fn, what, String(bits), mRate(rate), (rate / adc8).toFixed(2) + 'x', rate >= target ? 'yes' : 'no']);
  }
  // same slots counted by every loop of a kind (one query: the first query's table)
  const agree = [1, 2].every((qn) => new Set([...counts.values()].filter(([q]) => q === qn).map(([, c]) => c)).size === 1);

  C.printTable(
    `fast-scan against our 8-bit ADC, m = 32 (16 bytes a vector), ${nb} codes  [${build}]`,
    [{ title: 'library search', align: 'l' }, { title: 'codes/s' }, { title: 'x 8-bit ADC' }, { title: 'runs' }],
    lib.map((r) => [r.label, mRate(r.codesPerS), (r.codesPerS / adc8).toFixed(2) + 'x', String(r.runs)]),
    [`target: fast-scan >= 2.5x the 8-bit ADC = ${mRate(target)} codes/s`],
  );
  C.printTable(
    `bare block loops (no heap, no tables made), m = 32, ${nblocks} blocks  [${build}]`,
    [{ title: 'loop', align: 'l' }, { title: 'what', align: 'l' }, { title: 'table bits' }, { title: 'codes/s' }, { title: 'x 8-bit ADC' }, { title: '>= 2.5x' }],
    loopRows,
    [
      'codes/s = codes x queries a second; the 8-bit ADC figure is the library search above (with its heap and tables)',
      `the loops of a kind (one query, two) count the same slots under the threshold: ${agree ? 'yes' : 'NO'}`,
      'table bits: the largest table entry a loop can sum without overflow (8: what fsQuantize makes, as Faiss does)',
    ],
  );

  // ---- multiply-adds (issue 6) ----
  log('FlatIndex and SQIndex int8, inner product');
  const rows = [];
  let flatMacs = 0;
  for (const [label, make] of [['FlatIndex (exact)', () => new ours.FlatIndex({ d, metric: 'ip' })], ['SQIndex int8', () => new ours.SQIndex({ d, type: 'int8', metric: 'ip' })]]) {
    const r = searchSeconds(make, ds.base, ds);
    const macs = (nb * nq * d) / r.seconds;
    if (!flatMacs) flatMacs = macs;
    rows.push([label, C.fmtRate(nq / r.seconds), `${gRate(macs)}`, (macs / flatMacs).toFixed(2) + 'x']);
  }
  log('peak multiply-add loops');
  new Uint8Array(px.memory.buffer, 0, 64).fill(3);
  const trips = 2e7;
  const peak = [
    ['dotI16', 'i32x4.dot_i16x8_s + i32x4.add (6 chains)', 48],
    ...(build === 'relaxed' ? [['dotI8', 'i32x4.relaxed_dot_i8x16_i7x16_add_s (6 chains)', 96]] : []),
  ].map(([fn, what, perTrip]) => {
    const rate = (trips * perTrip) / C.microBench(fn, () => px[fn](trips, 0), { maxTime: 1 }).seconds;
    return [fn, what, gRate(rate), (rate / flatMacs).toFixed(2) + 'x', rate >= 3 * flatMacs ? 'yes' : 'no'];
  });
  C.printTable(
    `int8 scan against float flat search, inner product, ${nb} x ${d}, ${nq} queries  [${build}]`,
    [{ title: 'library search', align: 'l' }, { title: 'QPS' }, { title: 'multiply-adds/s' }, { title: 'x FlatIndex' }],
    rows,
    [
      `multiply-adds/s = n x queries x d / search time: the products a flat scan of the whole base amounts to`,
      `target: int8 >= 3x FlatIndex = ${gRate(3 * flatMacs)} multiply-adds/s`,
    ],
  );
  C.printTable(
    `peak multiply-add rates, operands in registers (no loads, no heap)  [${build}]`,
    [{ title: 'loop', align: 'l' }, { title: 'instructions', align: 'l' }, { title: 'multiply-adds/s' }, { title: 'x FlatIndex' }, { title: '>= 3x' }],
    peak,
    ['a scan that computes every product cannot run faster than these; x FlatIndex = this peak / FlatIndex\'s rate above'],
  );
}

C.runMain(main);
