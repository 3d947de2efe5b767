// The ABI: every export of the module, and nothing but re-exports. Pointers are byte offsets into the one linear
// memory (read them back with `>>> 0`: values >= 2 GiB come back negative); sizes are element counts.

export { alloc, free, heapLiveBytes, heapLiveBlocks, heapEnd, threadInit } from './memory';
export { l2sqOneToMany, normsSq, normalizeRows, scoreRows } from './kernels/distance';
export { heapInit, heapPushMany, heapSortRows, heapFinalize, setAllowMask, setExclude } from './kernels/topk';
export { packPanels, unpackPanels, panelMoveRows, panelNormsSq, panelZeroBias, scanPanels, scanWorkBytes, scorePanels, rangeHits } from './kernels/panels';
export { qpanelsBytes, qpanelsPack, qscanWorkBytes, qscanPanels } from './kernels/qpanels';
export {
  kmeansAccumulate, kmeansUpdate, minL2Update, cumulativeSearch, sumF32, addF64,
  l2sqToAssigned, hamerlyGather, halfSeparation, hamerlyScatter, hamerlyPartial, centroidShift,
} from './kernels/kmeans';
export { pqEncode, pqDecode, pqTables, addTables, pqScan, pqScan4, pqInterleave4, pqDistances, pqDistances4, pqPack, pqUnpack } from './kernels/pq';
export { fsPack, fsUnpack, fsQuantize, fsScores, fsScan, fsScan2 } from './kernels/fastscan';
export { rqStepWorkBytes, rqWorkBytes, rqBeamStep, rqEncode, rqDecode } from './kernels/rq';
export { sqScan, sqScan4, sqScanInt4, sqScanInt1, sqDecode, sqEncode4bit } from './kernels/sq';
export { hammingDistances, hammingScan, hammingScan4 } from './kernels/binary';
export { ahWorkBytes, ahEncode } from './kernels/anisotropic';

/** 1 in the relaxed-SIMD build, 0 in the plain SIMD build: lets a caller-supplied module say which it is. */
export function buildFlavor(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
