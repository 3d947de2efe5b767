// The shape of the public API: what the package exports (at run time and in its .d.ts), init(), the result types and
// their conventions, small hand-computed examples, the package.json fields bundlers rely on, and the size budget of
// the shipped .wasm files.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import * as vq from '../dist/index.js';
import { FlatIndex, init, KMeans, memoryStats, norms, pairwiseDistances, VQError, type Metric } from '../dist/index.js';
import { uniformVectors } from './helpers/data.js';

const ROOT = new URL('../', import.meta.url);
const file = (rel: string) => fileURLToPath(new URL(rel, ROOT));

const f32 = (rows: number[][]) => Float32Array.from(rows.flat());

const VALUE_EXPORTS = [
  'FORMAT_VERSION', 'FlatIndex', 'IVFPQIndex', 'KMeans', 'OPQ', 'PQIndex', 'ProductQuantizer', 'VQError', 'init', 'memoryStats',
  'norms', 'pairwiseDistances', 'OnlineVQ', 'codebookStats', 'SemanticIdTokenizer', 'ResidualQuantizer', 'RQIndex', 'ScalarQuantizer', 'SQIndex', 'BinaryQuantizer', 'BinaryIndex',
  'loadIndex', 'loadQuantizer', 'WorkerPool', 'SharedIndex', 'SharedQuantizer', 'IVFFlatIndex',
  'parseNpy', 'writeNpy', 'parseFvecs', 'parseIvecs', 'parseBvecs', 'writeFvecs', 'writeIvecs', 'writeBvecs', 'parseRawF32', 'toFloat32',
  'vectorChunks', 'bytesSource', 'blobSource', 'readVectorFile', 'vectorFileChunks', 'readFaissIndex', 'writeFaissIndex',
];
const TYPE_EXPORTS = [
  'Build', 'EngineInfo', 'InitOptions', 'MemoryStats', 'WasmSource', 'VQErrorCode', 'Metric', 'SearchResult',
  'FlatIndexOptions', 'KMeansOptions', 'KMeansInit', 'KMeansProgress', 'KMeansTrainResult', 'AssignResult',
  'Quantizer', 'ProductQuantizerOptions', 'ProductQuantizerTrainResult', 'OPQOptions', 'OPQTrainResult', 'PQIndexOptions',
  'IVFPQIndexOptions', 'IVFPQSearchOptions', 'IVFPQTrainResult', 'PQMetric', 'SearchOptions',
  'OnlineVQOptions', 'OnlineVQUpdateResult', 'QuantizeResult', 'CodebookStats',
  'SemanticIdTokenizerOptions', 'SemanticIdResult', 'SemanticIdFitResult', 'SemanticIdTrie',
  'ResidualQuantizerOptions', 'ResidualQuantizerTrainResult', 'RQIndexOptions', 'RangeSearchResult',
  'ScalarQuantizerOptions', 'ScalarQuantizerTrainResult', 'SQType', 'SQIndexOptions', 'BinaryQuantizerOptions', 'BinaryQuantizerTrainResult', 'BinaryIndexOptions',
  'FilterOptions', 'AnyIndex', 'AnyQuantizer', 'WorkerPoolOptions', 'PoolSearchOptions', 'PoolRangeSearchOptions', 'PoolRunOptions', 'TrainIndexProgress', 'IVFFlatIndexOptions', 'IVFFlatSearchOptions',
  'Vectors', 'VectorArray', 'VectorDtype', 'VectorFormat', 'ByteSource', 'VectorChunk', 'VectorChunkOptions', 'ReadVectorFileOptions',
  'FaissIndex', 'WriteFaissOptions', 'SaveOptions', 'MergeOptions',
];

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------------------

describe('exports', () => {
  it('the module exports exactly the public values', () => {
    expect(Object.keys(vq).sort()).toEqual([...VALUE_EXPORTS].sort());
    expect(typeof vq.init).toBe('function');
    expect(typeof vq.memoryStats).toBe('function');
    expect(typeof vq.pairwiseDistances).toBe('function');
    expect(typeof vq.norms).toBe('function');
    for (const cls of [vq.FlatIndex, vq.KMeans, vq.VQError]) expect(cls.prototype).toBeDefined();
  });

  it('dist/index.d.ts declares the same values, plus the public types', () => {
    const entry = file('dist/index.d.ts');
    const program = ts.createProgram([entry], {
      noLib: true,
      types: [],
      noEmit: true,
      module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
    });
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(entry);
    expect(source).toBeDefined();
    const moduleSymbol = checker.getSymbolAtLocation(source!);
    expect(moduleSymbol).toBeDefined();
    const values: string[] = [];
    const types: string[] = [];
    for (const s of checker.getExportsOfModule(moduleSymbol!)) {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      if (target.flags & ts.SymbolFlags.Value) values.push(s.name);
      else types.push(s.name);
    }
    expect(values.sort()).toEqual([...VALUE_EXPORTS].sort());
    expect(types.sort()).toEqual([...TYPE_EXPORTS].sort());
  });

  it('VQError is an Error with a name and a code', () => {
    const e = new VQError('INVALID_TYPE', 'x: y (got 1, expected 2)');
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(VQError);
    expect(e.name).toBe('VQError');
    expect(e.code).toBe('INVALID_TYPE');
    expect(e.message).toBe('x: y (got 1, expected 2)');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('init()', () => {
  it('is idempotent and cached: every call resolves to the same engine info', async () => {
    const a = await init();
    const [b, c] = await Promise.all([init(), init({})]);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(['simd', 'relaxed']).toContain(a.build);
    expect(typeof a.relaxedSimdSupported).toBe('boolean');
    if (a.build === 'relaxed') expect(a.relaxedSimdSupported).toBe(true);
    expect(init()).toBeInstanceOf(Promise);
  });

  it('memoryStats() reports numbers consistent with each other', () => {
    const s = memoryStats();
    expect(Object.keys(s).sort()).toEqual(['heapEndBytes', 'liveAllocations', 'liveBytes', 'memoryBytes']);
    for (const v of Object.values(s)) expect(Number.isInteger(v) && v >= 0).toBe(true);
    expect(s.memoryBytes % 65536).toBe(0);
    expect(s.heapEndBytes).toBeLessThanOrEqual(s.memoryBytes);
    expect(s.liveBytes).toBeLessThanOrEqual(s.heapEndBytes);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('result types and shapes', () => {
  const d = 6;
  const base = uniformVectors(50, d, 1);
  const q = uniformVectors(4, d, 2);

  it('FlatIndex: properties and search result', () => {
    const index = new FlatIndex({ d });
    try {
      expect(index.d).toBe(d);
      expect(index.metric).toBe('l2');
      expect(index.size).toBe(0);
      expect(index.disposed).toBe(false);
      index.add(base);
      expect(index.size).toBe(50);
      const res = index.search(q, 7);
      expect(Object.keys(res).sort()).toEqual(['distances', 'ids']);
      expect(res.ids).toBeInstanceOf(Int32Array);
      expect(res.distances).toBeInstanceOf(Float32Array);
      expect(res.ids.length).toBe(4 * 7);
      expect(res.distances.length).toBe(4 * 7);
      const rec = index.reconstructRange(3, 4);
      expect(rec).toBeInstanceOf(Float32Array);
      expect(rec.length).toBe(4 * d);
      expect(index.reconstructRange(50, 0)).toEqual(new Float32Array(0));
    } finally {
      index.dispose();
    }
  });

  it('KMeans: documented defaults, train result, centroids and assign', () => {
    const km = new KMeans({ d, k: 3 });
    try {
      expect({
        d: km.d,
        k: km.k,
        iterations: km.iterations,
        seed: km.seed,
        init: km.init,
        nredo: km.nredo,
        spherical: km.spherical,
        maxPointsPerCentroid: km.maxPointsPerCentroid,
        minPointsPerCentroid: km.minPointsPerCentroid,
      }).toEqual({ d, k: 3, iterations: 25, seed: 1234, init: 'kmeans++', nredo: 1, spherical: false, maxPointsPerCentroid: 256, minPointsPerCentroid: 39 });
      expect(km.isTrained).toBe(false);
      const warnings: string[] = [];
      const km2 = new KMeans({ d, k: 3, iterations: 4, nredo: 2, onWarning: (m) => warnings.push(m) });
      try {
        const r = km2.train(base);
        expect(r.iterations).toBe(4);
        expect(r.objective).toHaveLength(4);
        expect(r.redoObjectives).toHaveLength(2);
        expect(r.bestRedo === 0 || r.bestRedo === 1).toBe(true);
        expect(r.nTrain).toBe(50);
        expect(r.clusterSizes).toBeInstanceOf(Int32Array);
        expect(r.clusterSizes).toHaveLength(3);
        expect(r.clusterSizes.reduce((a, b) => a + b, 0)).toBe(50);
        expect(Number.isInteger(r.emptyClustersRepaired)).toBe(true);
        // 50 points for 3 centroids is under minPointsPerCentroid = 39 per centroid: a warning, not an exception
        expect(r.warnings.length).toBeGreaterThan(0);
        expect(warnings).toEqual(r.warnings);
        expect(km2.isTrained).toBe(true);
        const c = km2.centroids;
        expect(c).toBeInstanceOf(Float32Array);
        expect(c).toHaveLength(3 * d);
        const a = km2.assign(q);
        expect(Object.keys(a).sort()).toEqual(['distances', 'labels']);
        expect(a.labels).toBeInstanceOf(Int32Array);
        expect(a.distances).toBeInstanceOf(Float32Array);
        expect(a.labels).toHaveLength(4);
        expect(a.distances).toHaveLength(4);
        for (const l of a.labels) expect(l >= 0 && l < 3).toBe(true);
      } finally {
        km2.dispose();
      }
    } finally {
      km.dispose();
    }
  });

  it('pairwiseDistances and norms: Float32Array of nx * ny and n', () => {
    const p = pairwiseDistances(q, base, d);
    expect(p).toBeInstanceOf(Float32Array);
    expect(p).toHaveLength(4 * 50);
    const n = norms(base, d);
    expect(n).toBeInstanceOf(Float32Array);
    expect(n).toHaveLength(50);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('metric conventions', () => {
  const d = 13;
  const nb = 200;
  const nq = 12;
  const k = 10;
  const base = uniformVectors(nb, d, 11);
  const queries = uniformVectors(nq, d, 12);

  /** Plain float64 reference: l2 = squared distance (smaller is better), ip / cosine = similarity (larger is better). */
  function score(metric: Metric, a: Float32Array, ai: number, b: Float32Array, bi: number): number {
    let dot = 0;
    let na = 0;
    let nb2 = 0;
    let l2 = 0;
    for (let t = 0; t < d; t++) {
      const x = a[ai * d + t];
      const y = b[bi * d + t];
      dot += x * y;
      na += x * x;
      nb2 += y * y;
      l2 += (x - y) * (x - y);
    }
    if (metric === 'l2') return l2;
    if (metric === 'ip') return dot;
    return dot / Math.sqrt(na * nb2);
  }

  it.each(['l2', 'ip', 'cosine'] as const)('%s: best first, matching a plain reference', (metric) => {
    const index = new FlatIndex({ d, metric });
    try {
      index.add(base);
      const { ids, distances } = index.search(queries, k);
      for (let i = 0; i < nq; i++) {
        const want = Array.from({ length: nb }, (_, j) => ({ j, s: score(metric, queries, i, base, j) }))
          .sort((a, b) => (metric === 'l2' ? a.s - b.s : b.s - a.s))
          .slice(0, k);
        expect(Array.from(ids.subarray(i * k, (i + 1) * k))).toEqual(want.map((w) => w.j));
        for (let r = 0; r < k; r++) {
          expect(distances[i * k + r]).toBeCloseTo(want[r].s, 4);
          if (r > 0) {
            if (metric === 'l2') expect(distances[i * k + r]).toBeGreaterThanOrEqual(distances[i * k + r - 1]);
            else expect(distances[i * k + r]).toBeLessThanOrEqual(distances[i * k + r - 1]);
          }
        }
      }
    } finally {
      index.dispose();
    }
  });

  it.each([
    ['l2', Infinity],
    ['ip', -Infinity],
    ['cosine', -Infinity],
  ] as const)('%s: rows with fewer than k hits are padded with id -1 and %s', (metric, pad) => {
    const index = new FlatIndex({ d: 2, metric });
    try {
      // empty index: all padding
      const empty = index.search(f32([[1, 0], [0, 1]]), 3);
      expect(Array.from(empty.ids)).toEqual([-1, -1, -1, -1, -1, -1]);
      expect(Array.from(empty.distances)).toEqual(Array(6).fill(pad));
      index.add(f32([[1, 0], [0, 2], [3, 0]]), Int32Array.from([10, 20, 30]));
      const res = index.search(f32([[1, 0]]), 5);
      expect(Array.from(res.ids.subarray(3))).toEqual([-1, -1]);
      expect(Array.from(res.distances.subarray(3))).toEqual([pad, pad]);
      expect(Array.from(res.ids.subarray(0, 3)).sort()).toEqual([10, 20, 30]);
      // hand-computed, query (1, 0)
      const expected = {
        l2: { ids: [10, 30, 20], dist: [0, 4, 5] },
        ip: { ids: [30, 10, 20], dist: [3, 1, 0] },
        cosine: { ids: [10, 30, 20], dist: [1, 1, 0] },
      }[metric];
      if (metric === 'cosine') {
        // 10 and 30 tie at similarity 1: either order
        expect(Array.from(res.ids.subarray(0, 2)).sort()).toEqual([10, 30]);
        expect(res.ids[2]).toBe(20);
      } else {
        expect(Array.from(res.ids.subarray(0, 3))).toEqual(expected.ids);
      }
      for (let r = 0; r < 3; r++) expect(res.distances[r]).toBeCloseTo(expected.dist[r], 6);
    } finally {
      index.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('pairwiseDistances and norms on hand-computed examples', () => {
  const x = f32([[1, 0], [0, 1]]);
  const y = f32([[1, 1]]);

  it('x = [[1,0],[0,1]], y = [[1,1]]', () => {
    expect(Array.from(pairwiseDistances(x, y, 2, 'l2'))).toEqual([1, 1]);
    expect(Array.from(pairwiseDistances(x, y, 2))).toEqual([1, 1]); // 'l2' is the default
    expect(Array.from(pairwiseDistances(x, y, 2, 'ip'))).toEqual([1, 1]);
    const cos = pairwiseDistances(x, y, 2, 'cosine');
    expect(cos[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(cos[1]).toBeCloseTo(Math.SQRT1_2, 6);
  });

  it('row i of the result is x_i against every y_j', () => {
    const a = f32([[1, 2, 3], [0, 0, 1]]);
    const b = f32([[4, 5, 6], [0, 0, 0], [1, 2, 3]]);
    // l2: |a0-b0|^2 = 27, |a0|^2 = 14, 0; |a1-b0|^2 = 16+25+25 = 66, 1, |a1-b2|^2 = 1+4+4 = 9
    expect(Array.from(pairwiseDistances(a, b, 3, 'l2'))).toEqual([27, 14, 0, 66, 1, 9]);
    expect(Array.from(pairwiseDistances(a, b, 3, 'ip'))).toEqual([32, 0, 14, 6, 0, 3]);
    const cos = pairwiseDistances(a, f32([[2, 4, 6], [0, 0, 3]]), 3, 'cosine');
    expect(cos[0]).toBeCloseTo(1, 6);
    expect(cos[1]).toBeCloseTo(3 / Math.sqrt(14), 6);
    expect(cos[2]).toBeCloseTo(3 / Math.sqrt(14), 6);
    expect(cos[3]).toBeCloseTo(1, 6);
  });

  it('norms', () => {
    const v = f32([[3, 4], [0, 0], [1, 0], [-5, 12]]);
    expect(Array.from(norms(v, 2))).toEqual([5, 0, 1, 13]);
    expect(Array.from(norms(v, 2, true))).toEqual([25, 0, 1, 169]);
    expect(Array.from(norms(x, 2))).toEqual([1, 1]);
    expect(Array.from(norms(y, 2))[0]).toBeCloseTo(Math.SQRT2, 6);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('package', () => {
  const pkg = JSON.parse(readFileSync(file('package.json'), 'utf8'));

  it('is ESM with side-effect-free modules', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
  });

  it("exports '.' with types first, pointing at files that exist", () => {
    const dot = pkg.exports['.'];
    expect(typeof dot).toBe('object');
    expect(Object.keys(dot)[0]).toBe('types');
    expect(dot.types).toBe('./dist/index.d.ts');
    const runtime = dot.import ?? dot.default;
    expect(runtime).toBe('./dist/index.js');
    for (const target of [dot.types, runtime]) expect(statSync(file(target)).isFile()).toBe(true);
    expect(pkg.types).toBe(dot.types);
  });

  it.each(['vqwasm-simd.wasm', 'vqwasm-relaxed.wasm'])('dist/%s is exported and under the 64 KB budget', (name) => {
    expect(pkg.exports[`./${name}`]).toBe(`./dist/${name}`);
    const bytes = readFileSync(file(`dist/${name}`));
    expect(WebAssembly.validate(bytes) || name.includes('relaxed')).toBe(true);
    expect(bytes.byteLength).toBeGreaterThan(0);
    expect(bytes.byteLength).toBeLessThan(64 * 1024);
  });
});
