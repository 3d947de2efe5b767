/**
 * The typed ABI: the raw exports of assembly/index.ts, by hand. This replaces @assemblyscript/loader (deprecated by
 * its own README since AssemblyScript 0.20): our kernels take and return only numbers (pointers, counts, scalars), so
 * there are no strings or managed objects to lift, and a 30-line interface is the whole contract.
 *
 * Pointers are byte offsets into `memory`; raw exports return u32 pointers as i32, so read them with `>>> 0`.
 */
export interface Abi {
  memory: WebAssembly.Memory;
  buildFlavor(): number;

  // memory.ts
  alloc(bytes: number): number;
  free(ptr: number): number;
  heapLiveBytes(): number;
  heapLiveBlocks(): number;
  heapEnd(): number;
  /** Threads build, worker instances: confine this instance's heap to an arena of the shared memory (0 = done). */
  threadInit(base: number, bytes: number): number;

  // kernels/distance.ts
  l2sqOneToMany(xPtr: number, yPtr: number, n: number, d: number, outPtr: number): void;
  normsSq(xPtr: number, n: number, d: number, outPtr: number): void;
  normalizeRows(xPtr: number, n: number, d: number): void;
  scoreRows(qPtr: number, xPtr: number, idxPtr: number, count: number, d: number, metric: number, outPtr: number): void;

  // kernels/topk.ts
  heapInit(distPtr: number, idPtr: number, count: number): void;
  heapPushMany(distPtr: number, idPtr: number, k: number, inDistPtr: number, inIdPtr: number, count: number): void;
  heapSortRows(distPtr: number, idPtr: number, nq: number, k: number): void;
  heapFinalize(distPtr: number, nq: number, k: number, qnormPtr: number, negate: number): void;
  setAllowMask(ptr: number): void;
  setExclude(heapBase: number, rowBytes: number, offsetsPtr: number, listsPtr: number): void;

  // kernels/panels.ts
  packPanels(xPtr: number, n: number, d: number, panelsPtr: number, from: number): void;
  unpackPanels(panelsPtr: number, from: number, count: number, d: number, outPtr: number): void;
  panelMoveRows(ptr: number, w: number, keepPtr: number, count: number, pad: number): void;
  rangeHits(scoresPtr: number, n: number, add: number, r: number, l2: number, idxPtr: number, distPtr: number): number;
  panelNormsSq(panelsPtr: number, from: number, to: number, d: number, biasPtr: number): void;
  panelZeroBias(from: number, to: number, biasPtr: number): void;
  scanPanels(
    qPtr: number, nq: number, d: number, panelsPtr: number, biasPtr: number, nb: number, alpha: number,
    k: number, heapDistPtr: number, heapIdPtr: number, idBase: number, workPtr: number,
  ): void;
  /** Bytes of scanPanels's workPtr for top-k over d dimensions (0: pass 0, the heaps serve). */
  scanWorkBytes(d: number, k: number): number;
  scorePanels(qPtr: number, nq: number, d: number, panelsPtr: number, biasPtr: number, nb: number, alpha: number, outPtr: number): void;

  // kernels/qpanels.ts
  qpanelsBytes(nb: number, d: number): number;
  qpanelsPack(panelsPtr: number, biasPtr: number, from: number, to: number, d: number, qpPtr: number, infoPtr: number): void;
  qscanWorkBytes(d: number, k: number): number;
  qscanPanels(
    qPtr: number, nq: number, d: number, panelsPtr: number, biasPtr: number, nb: number, alpha: number,
    k: number, heapDistPtr: number, heapIdPtr: number, idBase: number, qpPtr: number, infoPtr: number, workPtr: number,
  ): number;

  // kernels/kmeans.ts
  kmeansAccumulate(xPtr: number, n: number, d: number, labelsPtr: number, k: number, sumsPtr: number, countsPtr: number): void;
  kmeansUpdate(sumsPtr: number, countsPtr: number, k: number, d: number, centroidsPtr: number): number;
  minL2Update(xPtr: number, n: number, d: number, cPtr: number, minPtr: number, first: number): number;
  cumulativeSearch(wPtr: number, n: number, target: number): number;
  sumF32(ptr: number, n: number): number;
  addF64(dstPtr: number, srcPtr: number, n: number): void;
  l2sqToAssigned(xPtr: number, n: number, d: number, centPtr: number, labelsPtr: number, distPtr: number, idxPtr?: number): void;
  hamerlyGather(
    xPtr: number, n: number, d: number, xnormPtr: number, distPtr: number, lowerPtr: number, labelsPtr: number, sepPtr: number,
    maxShift: number, secondShift: number, argMax: number, idxPtr: number, outPtr: number, normOutPtr: number,
  ): number;
  halfSeparation(scoresPtr: number, biasPtr: number, k: number, sepPtr: number): void;
  hamerlyScatter(
    m: number, idxPtr: number, hd: number, hi: number, gnormPtr: number, biasPtr: number, labelsPtr: number, distPtr: number, lowerPtr: number,
  ): void;
  hamerlyPartial(
    m: number, idxPtr: number, hd: number, hi: number, gxPtr: number, gnormPtr: number, d: number, movedPtr: number, biasPtr: number,
    xPtr: number, centPtr: number, labelsPtr: number, distPtr: number, lowerPtr: number,
  ): number;
  centroidShift(oldPtr: number, newPtr: number, k: number, d: number, shiftPtr: number): void;

  // kernels/pq.ts
  pqEncode(xPtr: number, n: number, d: number, m: number, ksubP: number, centTPtr: number, cnormPtr: number, outPtr: number): void;
  pqDecode(codesPtr: number, n: number, d: number, m: number, ksubP: number, centTPtr: number, outPtr: number): void;
  pqTables(
    qPtr: number, nq: number, d: number, m: number, ksubP: number, centTPtr: number, cnormPtr: number, mode: number, scale: number, outPtr: number,
  ): void;
  addTables(aPtr: number, bPtr: number, count: number, outPtr: number): void;
  pqScan(
    codesPtr: number, n: number, m: number, ksubP: number, tablePtr: number, bias: number, normsPtr: number, k: number, hd: number,
    hi: number, idsPtr: number, idBase: number,
  ): void;
  pqScan4(codesPtr: number, n: number, m: number, t4Ptr: number, k: number, hd: number, hi: number, idBase: number): void;
  pqInterleave4(tPtr: number, count: number, outPtr: number): void;
  pqDistances(codesPtr: number, n: number, m: number, ksubP: number, tablePtr: number, bias: number, outPtr: number): void;
  pqDistances4(codesPtr: number, n: number, m: number, t4Ptr: number, outPtr: number): void;
  pqPack(inPtr: number, n: number, m: number, nbits: number, outPtr: number): void;
  pqUnpack(inPtr: number, n: number, m: number, nbits: number, outPtr: number): void;
  // kernels/fastscan.ts
  fsPack(srcPtr: number, count: number, m: number, blocksPtr: number, row0: number): void;
  fsUnpack(blocksPtr: number, m: number, row0: number, count: number, outPtr: number): void;
  fsQuantize(tPtr: number, count: number, m: number, lutPtr: number, paramsPtr: number): void;
  fsScores(blocksPtr: number, nblocks: number, m: number, lutPtr: number, outPtr: number): void;
  fsScan(
    blocksPtr: number, n: number, m: number, lutPtr: number, invScale: number, bias: number, k: number, hd: number, hi: number,
    posPtr: number, idBase: number,
  ): void;
  fsScan2(
    blocksPtr: number, n: number, m: number, lut0: number, invScale0: number, bias0: number, lut1: number, invScale1: number, bias1: number,
    k: number, hd0: number, hi0: number, hd1: number, hi1: number, posPtr: number, idBase: number,
  ): void;
  // kernels/rq.ts
  /** d (0 or left out: none) adds the room a greedy step through int16 codebooks needs. */
  rqStepWorkBytes(ksub: number, beam: number, d?: number): number;
  rqWorkBytes(n: number, d: number, levels: number, ksub: number, beam: number): number;
  rqBeamStep(
    n: number, d: number, ksub: number, panelsPtr: number, cnormPtr: number, level: number, liveIn: number, beam: number, cstride: number,
    resIn: number, normIn: number, codesIn: number, resOut: number, normOut: number, codesOut: number, workPtr: number,
    qpPtr?: number, qinfoPtr?: number,
  ): number;
  rqEncode(
    xPtr: number, n: number, d: number, levels: number, ksub: number, beam: number, panelsPtr: number, cnormPtr: number, workPtr: number,
    codesOut: number, errOut: number, qpPtr?: number, qinfoPtr?: number,
  ): void;
  rqDecode(codesPtr: number, n: number, stride: number, d: number, levels: number, ksub: number, panelsPtr: number, outPtr: number): void;
  // kernels/sq.ts
  sqScan(
    codesPtr: number, n: number, d: number, type: number, metric: number, uPtr: number, bPtr: number, bias: number, k: number, hd: number, hi: number,
    idBase: number,
  ): void;
  sqScan4(
    codesPtr: number, n: number, d: number, type: number, metric: number, u4Ptr: number, bPtr: number, biasPtr: number, k: number, hd: number,
    hi: number, idBase: number,
  ): void;
  sqScanInt4(
    codesPtr: number, n: number, d: number, type: number, w4Ptr: number, biasPtr: number, invPtr: number, normsPtr: number, k: number, hd: number,
    hi: number, idBase: number,
  ): void;
  sqScanInt1(
    codesPtr: number, n: number, d: number, type: number, wPtr: number, bias: number, inv: number, normsPtr: number, k: number, hd: number,
    hi: number, idBase: number,
  ): void;
  sqDecode(codesPtr: number, n: number, d: number, type: number, aPtr: number, bPtr: number, outPtr: number): void;
  sqEncode4bit(xPtr: number, n: number, d: number, minPtr: number, stepPtr: number, codesPtr: number): void;
  // kernels/binary.ts
  hammingDistances(codesPtr: number, n: number, codeSize: number, qPtr: number, outPtr: number): void;
  hammingScan(codesPtr: number, n: number, codeSize: number, qPtr: number, k: number, hd: number, hi: number, idBase: number): void;
  hammingScan4(codesPtr: number, n: number, codeSize: number, q4Ptr: number, k: number, hd: number, hi: number, idBase: number): void;
  // kernels/anisotropic.ts
  ahWorkBytes(m: number, ksubP: number): number;
  ahEncode(
    xPtr: number, vPtr: number, wPtr: number, n: number, d: number, m: number, ksubP: number, centTPtr: number, cnormPtr: number, rounds: number,
    workPtr: number, outPtr: number,
  ): void;
}

const REQUIRED: readonly (keyof Abi)[] = [
  'memory', 'buildFlavor', 'alloc', 'free', 'heapLiveBytes', 'heapLiveBlocks', 'heapEnd', 'threadInit',
  'l2sqOneToMany', 'normsSq', 'normalizeRows', 'scoreRows',
  'heapInit', 'heapPushMany', 'heapSortRows', 'heapFinalize', 'setAllowMask', 'setExclude',
  'packPanels', 'unpackPanels', 'panelMoveRows', 'rangeHits', 'panelNormsSq', 'panelZeroBias', 'scanPanels', 'scanWorkBytes', 'scorePanels',
  'qpanelsBytes', 'qpanelsPack', 'qscanWorkBytes', 'qscanPanels',
  'kmeansAccumulate', 'kmeansUpdate', 'minL2Update', 'cumulativeSearch', 'sumF32', 'addF64',
  'l2sqToAssigned', 'hamerlyGather', 'halfSeparation', 'hamerlyScatter', 'hamerlyPartial', 'centroidShift',
  'pqEncode', 'pqDecode', 'pqTables', 'addTables', 'pqScan', 'pqScan4', 'pqInterleave4', 'pqDistances', 'pqDistances4', 'pqPack', 'pqUnpack',
  'fsPack', 'fsUnpack', 'fsQuantize', 'fsScores', 'fsScan', 'fsScan2',
  'rqStepWorkBytes', 'rqWorkBytes', 'rqBeamStep', 'rqEncode', 'rqDecode',
  'sqScan', 'sqScan4', 'sqScanInt4', 'sqScanInt1', 'sqDecode', 'sqEncode4bit',
  'hammingDistances', 'hammingScan', 'hammingScan4',
  'ahWorkBytes', 'ahEncode',
];

/** The exports names this module misses (a caller-supplied module of another version, or not ours at all). */
export function missingExports(exports: WebAssembly.Exports): string[] {
  return REQUIRED.filter((name) => !(name in exports));
}
