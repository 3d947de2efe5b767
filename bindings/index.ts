// The public surface of vqwasm: re-exports only.
export { init, memoryStats, type InitOptions, type EngineInfo, type WasmSource, type Build, type MemoryStats } from './wasm/engine.js';
export { VQError, type VQErrorCode } from './errors.js';
export type { Metric, RangeSearchResult, SearchResult } from './types.js';
export { FlatIndex, type FlatIndexOptions } from './search/FlatIndex.js';
export { KMeans, type KMeansOptions, type KMeansInit, type KMeansProgress, type KMeansTrainResult, type AssignResult } from './training/KMeans.js';
export { OnlineVQ, type OnlineVQOptions, type OnlineVQUpdateResult, type QuantizeResult } from './training/OnlineVQ.js';
export { codebookStats, type CodebookStats } from './training/codebookStats.js';
export {
  SemanticIdTokenizer, type SemanticIdTokenizerOptions, type SemanticIdResult, type SemanticIdFitResult, type SemanticIdTrie,
} from './tokenizers/SemanticIdTokenizer.js';
export { pairwiseDistances, norms } from './distances.js';
export type { Quantizer } from './quantizers/Quantizer.js';
export { ProductQuantizer, type ProductQuantizerOptions, type ProductQuantizerTrainResult } from './quantizers/ProductQuantizer.js';
export { OPQ, type OPQOptions, type OPQTrainResult } from './quantizers/OPQ.js';
export { PQIndex, type PQIndexOptions } from './search/PQIndex.js';
export { IVFPQIndex, type IVFPQIndexOptions, type IVFPQSearchOptions, type IVFPQTrainResult } from './search/IVFPQIndex.js';
export { IVFFlatIndex, type IVFFlatIndexOptions, type IVFFlatSearchOptions } from './search/IVFFlatIndex.js';
export type { PQMetric, SearchOptions } from './search/adc.js';
export type { FilterOptions } from './search/filter.js';
export { ResidualQuantizer, type ResidualQuantizerOptions, type ResidualQuantizerTrainResult } from './quantizers/ResidualQuantizer.js';
export { RQIndex, type RQIndexOptions } from './search/RQIndex.js';
export { ScalarQuantizer, type ScalarQuantizerOptions, type ScalarQuantizerTrainResult, type SQType } from './quantizers/ScalarQuantizer.js';
export { SQIndex, type SQIndexOptions } from './search/SQIndex.js';
export { BinaryQuantizer, type BinaryQuantizerOptions, type BinaryQuantizerTrainResult } from './quantizers/BinaryQuantizer.js';
export { BinaryIndex, type BinaryIndexOptions } from './search/BinaryIndex.js';
export { FORMAT_VERSION, type SaveOptions } from './io/format.js';
export type { MergeOptions } from './search/addBatch.js';
export { loadIndex, loadQuantizer, type AnyIndex, type AnyQuantizer } from './io/loadIndex.js';
export { WorkerPool, SharedIndex, SharedQuantizer, type WorkerPoolOptions, type PoolSearchOptions, type PoolRangeSearchOptions, type PoolRunOptions, type TrainIndexProgress } from './parallel/WorkerPool.js';
export {
  parseNpy, writeNpy, parseFvecs, parseIvecs, parseBvecs, writeFvecs, writeIvecs, writeBvecs, parseRawF32, toFloat32, vectorChunks, bytesSource,
  blobSource, type Vectors, type VectorArray, type VectorDtype, type VectorFormat, type ByteSource, type VectorChunk, type VectorChunkOptions,
} from './io/vectors.js';
export { readVectorFile, vectorFileChunks, type ReadVectorFileOptions } from './io/vectorFiles.js';
export { readFaissIndex, writeFaissIndex, type FaissIndex, type WriteFaissOptions } from './io/faiss.js';
