import { checkBool, checkInt, checkOptions, checkVectors, fail, firstOutOfRange, raw, savedOptionsError } from '../errors.js';
import { paramBool, paramInt, readContainer, sectionF32, sectionI32, writeContainer } from '../io/format.js';
import { SEED_LIMIT } from '../quantizers/ProductQuantizer.js';
import { FlatIndex } from '../search/FlatIndex.js';
import { codebookStats, type CodebookStats } from '../training/codebookStats.js';
import { KMeans } from '../training/KMeans.js';

export interface SemanticIdTokenizerOptions {
  d: number;
  /** Residual levels (tokens before the collision token). Default 3 (TIGER). */
  levels?: number;
  /** Codewords per level, 2..65536. Default 256. */
  codebookSize?: number;
  /** Seed of every level's k-means (level l uses seed + l). Default 1234. */
  seed?: number;
  /**
   * Balanced codes: every level's assignment is capacity-constrained (at most ceil(n / codebookSize) items a code,
   * items with the most to lose placed first) and its codewords refined as the means of the balanced clusters,
   * against the collapse of items onto a few codes. Default false (nearest codeword, plain residual k-means).
   */
  balance?: boolean;
  /** k-means iterations per level. Default 25. */
  iterations?: number;
  /** Balanced assignment / mean update rounds per level (balance: true). Default 10. */
  balanceIterations?: number;
}

export interface SemanticIdResult {
  /** Row-major tokens, `length` per item: the level codes, then the collision token. */
  ids: Int32Array;
  /** levels + 1. */
  length: number;
}

export interface SemanticIdFitResult extends SemanticIdResult {
  /** Share of items whose level codes equal another item's (before the collision token). */
  collisionRate: number;
  /** Most items sharing one code prefix: the collision token takes values 0 .. maxCollisions - 1. */
  maxCollisions: number;
  /** Code usage per level. */
  stats: CodebookStats[];
  /** Mean squared residual ||x - x̂||^2 after each level. */
  mse: number[];
}

/** The prefix tree of all IDs, breadth-first: node 0 is the root; the children of a node are contiguous. */
export interface SemanticIdTrie {
  /** Token on the edge into each node (-1 at the root). */
  token: Int32Array;
  /** Depth of each node (0 at the root, `length` at the leaves). */
  depth: Int32Array;
  /** Index of each node's first child (-1 at leaves); the children are firstChild .. firstChild + childCount - 1. */
  firstChild: Int32Array;
  childCount: Int32Array;
  /** The item of each leaf (-1 inside the tree). */
  item: Int32Array;
}

/**
 * Semantic IDs for generative retrieval (TIGER, Rajput et al. 2023; LC-Rec; OneRec): residual quantization of item
 * embeddings into `levels` tokens of `codebookSize` values (k-means on the residuals level by level, optionally
 * balanced), plus a last token that tells apart items whose codes collide (0 for the first item of a prefix, 1 for
 * the next ...), so that every ID is unique. A prefix index answers what a constrained beam search needs:
 * lookup(prefix) (the items under a prefix) and validNextTokens(prefix).
 *
 * Storage: the codebooks of the levels in FlatIndex objects (wasm memory, owned), used to encode new items; the IDs
 * (n x length int32) and their sorted order in JS arrays, which the prefix queries read.
 */
export class SemanticIdTokenizer {
  readonly d: number;
  readonly levels: number;
  readonly codebookSize: number;
  readonly seed: number;
  readonly balance: boolean;
  readonly iterations: number;
  readonly balanceIterations: number;
  readonly length: number;
  private codebooks: FlatIndex[] = [];
  private centroids: Float32Array[] = [];
  private idRows: Int32Array = new Int32Array(0);
  private n = 0;
  // code prefix (levels tokens, joined) -> items seen with it: the next collision token
  private prefixCount = new Map<string, number>();
  private sorted: Int32Array | null = null;
  private disposedFlag = false;

  constructor(options: SemanticIdTokenizerOptions) {
    const W = 'new SemanticIdTokenizer';
    const o = checkOptions(W, options);
    this.d = checkInt(W, 'd', o.d, 1, 1 << 16);
    this.levels = checkInt(W, 'levels', o.levels ?? 3, 1, 64);
    this.codebookSize = checkInt(W, 'codebookSize', o.codebookSize ?? 256, 2, 65536);
    this.seed = checkInt(W, 'seed', o.seed ?? 1234, -SEED_LIMIT, SEED_LIMIT);
    this.balance = checkBool(W, 'balance', o.balance ?? false);
    this.iterations = checkInt(W, 'iterations', o.iterations ?? 25, 1, 100_000);
    this.balanceIterations = checkInt(W, 'balanceIterations', o.balanceIterations ?? 10, 0, 100_000);
    this.length = this.levels + 1;
  }

  get isFitted(): boolean {
    return this.codebooks.length > 0;
  }

  /** Items with an ID (fit, then encode). */
  get size(): number {
    this.alive('SemanticIdTokenizer.size');
    return this.n;
  }

  /** A copy of all IDs, row-major n x length. */
  get ids(): Int32Array {
    this.alive('SemanticIdTokenizer.ids');
    return this.idRows.slice(0, this.n * this.length);
  }

  /** Codebook of level l, f32[codebookSize][d] (a copy). */
  codebook(level: number): Float32Array {
    const where = 'SemanticIdTokenizer.codebook';
    this.fittedOr(where);
    checkInt(where, 'level', level, 0, this.levels - 1);
    return this.centroids[level].slice();
  }

  private alive(where: string): void {
    if (this.disposedFlag) fail('DISPOSED', where, 'the tokenizer was disposed', raw('a call after dispose()'), 'a live object');
  }

  private fittedOr(where: string): void {
    this.alive(where);
    if (!this.isFitted) fail('NOT_TRAINED', where, 'the tokenizer is not fitted', raw('an unfitted SemanticIdTokenizer'), 'fit(itemEmbeddings) first');
  }

  /**
   * Learns the codebooks on the item embeddings (row-major n x d, n >= codebookSize) and gives every item its ID.
   * Replaces any earlier fit (and the items added since).
   */
  fit(items: Float32Array): SemanticIdFitResult {
    const where = 'SemanticIdTokenizer.fit';
    this.alive(where);
    const { d, levels, codebookSize: K } = this;
    const n = checkVectors(where, 'items', items, d);
    if (n < K) fail('TOO_FEW_POINTS', where, 'fewer items than codewords per level', raw(`n = ${n}`), `n >= codebookSize = ${K}`);
    const residual = items.slice();
    const codes = new Int32Array(n * levels);
    const stats: CodebookStats[] = [];
    const mse: number[] = [];
    const books: FlatIndex[] = [];
    const cents: Float32Array[] = [];
    try {
      for (let l = 0; l < levels; l++) {
        const km = new KMeans({ d, k: K, iterations: this.iterations, seed: this.seed + l, minPointsPerCentroid: 0, maxPointsPerCentroid: Math.max(256, Math.ceil(n / K)) });
        let cent: Float32Array;
        let labels: Int32Array;
        try {
          km.train(residual);
          cent = km.centroids;
          labels = km.assign(residual).labels;
        } finally {
          km.dispose();
        }
        const book = new FlatIndex({ d, metric: 'l2' });
        books.push(book);
        if (this.balance) {
          for (let it = 0; it < this.balanceIterations; it++) {
            labels = balancedAssign(residual, n, d, cent, K, where);
            updateMeans(residual, n, d, labels, cent, K);
          }
          labels = balancedAssign(residual, n, d, cent, K, where);
        }
        book.add(cent);
        cents.push(cent);
        let err = 0;
        for (let i = 0; i < n; i++) {
          const c = labels[i];
          codes[i * levels + l] = c;
          for (let t = 0; t < d; t++) {
            residual[i * d + t] -= cent[c * d + t];
            err += residual[i * d + t] * residual[i * d + t];
          }
        }
        stats.push(codebookStats(labels, K));
        mse.push(err / n);
      }
    } catch (e) {
      for (const b of books) b.dispose();
      throw e;
    }
    for (const b of this.codebooks) b.dispose();
    this.codebooks = books;
    this.centroids = cents;
    this.n = 0;
    this.idRows = new Int32Array(0);
    this.prefixCount = new Map();
    const ids = this.register(codes, n);
    let collided = 0;
    let maxCollisions = 0;
    for (const count of this.prefixCount.values()) {
      if (count > 1) collided += count;
      maxCollisions = Math.max(maxCollisions, count);
    }
    return { ids, length: this.length, collisionRate: collided / n, maxCollisions, stats, mse };
  }

  /**
   * IDs for new (cold-start) items with the frozen codebooks: nearest codeword level by level, and a collision token
   * counted against every ID given so far. The items are added to the prefix index.
   */
  encode(items: Float32Array): SemanticIdResult {
    const where = 'SemanticIdTokenizer.encode';
    this.fittedOr(where);
    const { d, levels } = this;
    const n = checkVectors(where, 'items', items, d);
    const residual = items.slice();
    const codes = new Int32Array(n * levels);
    for (let l = 0; l < levels; l++) {
      const labels = this.codebooks[l].search(residual, 1).ids;
      const cent = this.centroids[l];
      for (let i = 0; i < n; i++) {
        codes[i * levels + l] = labels[i];
        for (let t = 0; t < d; t++) residual[i * d + t] -= cent[labels[i] * d + t];
      }
    }
    return { ids: this.register(codes, n), length: this.length };
  }

  /** Reconstructions (sums of the level codewords) of the items with these IDs (row-major, `length` tokens each). */
  decode(ids: Int32Array): Float32Array {
    const where = 'SemanticIdTokenizer.decode';
    this.fittedOr(where);
    const n = this.checkIdRows(where, ids);
    const { d, levels, length } = this;
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let l = 0; l < levels; l++) {
        const c = ids[i * length + l];
        for (let t = 0; t < d; t++) out[i * d + t] += this.centroids[l][c * d + t];
      }
    }
    return out;
  }

  private checkIdRows(where: string, ids: unknown): number {
    if (!(ids instanceof Int32Array)) fail('INVALID_TYPE', where, 'ids must be an Int32Array', ids, `an Int32Array of n * ${this.length} tokens`);
    if (ids.length % this.length !== 0) fail('INVALID_SIZE', where, `ids.length must be a multiple of length = ${this.length}`, raw(`length ${ids.length}`), `n * ${this.length}`);
    for (let i = 0; i < ids.length; i++) {
      const pos = i % this.length;
      if (pos < this.levels && (ids[i] < 0 || ids[i] >= this.codebookSize)) fail('INVALID_OPTION', where, `ids[${i}] is not a code of level ${pos}`, ids[i], `0 .. ${this.codebookSize - 1}`);
    }
    return ids.length / this.length;
  }

  /** Collision tokens for new code rows, appended to the ID table. */
  private register(codes: Int32Array, n: number): Int32Array {
    const { levels, length } = this;
    const out = new Int32Array(n * length);
    for (let i = 0; i < n; i++) {
      const row = codes.subarray(i * levels, (i + 1) * levels);
      const key = row.join(',');
      const seen = this.prefixCount.get(key) ?? 0;
      this.prefixCount.set(key, seen + 1);
      out.set(row, i * length);
      out[i * length + levels] = seen;
    }
    const all = new Int32Array((this.n + n) * length);
    all.set(this.idRows.subarray(0, this.n * length));
    all.set(out, this.n * length);
    this.idRows = all;
    this.n += n;
    this.sorted = null;
    return out;
  }

  /** Item indices sorted by ID (lexicographic), built on demand after fit / encode. */
  private order(): Int32Array {
    if (this.sorted) return this.sorted;
    const L = this.length;
    const rows = this.idRows;
    const order = Int32Array.from({ length: this.n }, (_, i) => i);
    order.sort((a, b) => {
      for (let t = 0; t < L; t++) {
        const diff = rows[a * L + t] - rows[b * L + t];
        if (diff !== 0) return diff;
      }
      return 0;
    });
    this.sorted = order;
    return order;
  }

  /** [lo, hi) in the sorted order: the items whose ID starts with prefix. */
  private range(prefix: ArrayLike<number>): [number, number] {
    const L = this.length;
    const rows = this.idRows;
    const order = this.order();
    const p = prefix.length;
    const cmp = (item: number): number => {
      for (let t = 0; t < p; t++) {
        const diff = rows[item * L + t] - prefix[t];
        if (diff !== 0) return diff;
      }
      return 0;
    };
    let lo = 0, hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(order[mid]) < 0) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    hi = order.length;
    while (end < hi) {
      const mid = (end + hi) >> 1;
      if (cmp(order[mid]) <= 0) end = mid + 1;
      else hi = mid;
    }
    return [lo, end];
  }

  private checkPrefix(where: string, prefix: unknown): ArrayLike<number> {
    if (!(prefix instanceof Int32Array) && !Array.isArray(prefix)) fail('INVALID_TYPE', where, 'prefix must be an Int32Array or an array of tokens', prefix, `up to ${this.length} integers`);
    const p = prefix as ArrayLike<number>;
    if (p.length > this.length) fail('INVALID_SIZE', where, 'the prefix is longer than an ID', raw(`${p.length} tokens`), `at most ${this.length}`);
    for (let i = 0; i < p.length; i++) if (!Number.isInteger(p[i])) fail('INVALID_TYPE', where, `prefix[${i}] is not an integer`, p[i], 'an integer token');
    return p;
  }

  /** The items (indices in fit / encode order) whose ID starts with prefix, in ID order. [] is every item. */
  lookup(prefix: Int32Array | readonly number[]): Int32Array {
    const where = 'SemanticIdTokenizer.lookup';
    this.fittedOr(where);
    const p = this.checkPrefix(where, prefix);
    const [lo, hi] = this.range(p);
    return this.order().slice(lo, hi);
  }

  /** The tokens that can follow prefix in some ID, ascending (empty for a full ID or an unknown prefix). */
  validNextTokens(prefix: Int32Array | readonly number[]): Int32Array {
    const where = 'SemanticIdTokenizer.validNextTokens';
    this.fittedOr(where);
    const p = this.checkPrefix(where, prefix);
    if (p.length === this.length) return new Int32Array(0);
    const [lo, hi] = this.range(p);
    const order = this.order();
    const out: number[] = [];
    for (let r = lo; r < hi; r++) {
      const tok = this.idRows[order[r] * this.length + p.length];
      if (out.length === 0 || out[out.length - 1] !== tok) out.push(tok);
    }
    return Int32Array.from(out);
  }

  /** The whole prefix tree as flat arrays (breadth-first; see SemanticIdTrie), e.g. to ship to a decoder. */
  exportTrie(): SemanticIdTrie {
    this.fittedOr('SemanticIdTokenizer.exportTrie');
    const L = this.length;
    const rows = this.idRows;
    const order = this.order();
    const token: number[] = [-1];
    const depth: number[] = [0];
    const firstChild: number[] = [];
    const childCount: number[] = [];
    const item: number[] = [-1];
    // nodes of the current depth as ranges of the sorted order
    let level: { node: number; lo: number; hi: number }[] = [{ node: 0, lo: 0, hi: order.length }];
    for (let t = 0; t < L; t++) {
      const next: { node: number; lo: number; hi: number }[] = [];
      for (const { node, lo, hi } of level) {
        firstChild[node] = token.length;
        let count = 0;
        let r = lo;
        while (r < hi) {
          const tok = rows[order[r] * L + t];
          let e = r + 1;
          while (e < hi && rows[order[e] * L + t] === tok) e++;
          const child = token.length;
          token.push(tok);
          depth.push(t + 1);
          item.push(t + 1 === L ? order[r] : -1);
          next.push({ node: child, lo: r, hi: e });
          count++;
          r = e;
        }
        childCount[node] = count;
      }
      level = next;
    }
    for (const { node } of level) {
      firstChild[node] = -1;
      childCount[node] = 0;
    }
    return {
      token: Int32Array.from(token), depth: Int32Array.from(depth), firstChild: Int32Array.from(firstChild),
      childCount: Int32Array.from(childCount), item: Int32Array.from(item),
    };
  }

  /** The tokenizer as bytes (kind SemanticIdTokenizer: options, CENT f32[levels][codebookSize][d], IDS i32[n][length]). */
  save(): Uint8Array {
    this.alive('SemanticIdTokenizer.save');
    const params = {
      d: this.d, levels: this.levels, codebookSize: this.codebookSize, seed: this.seed, balance: this.balance, iterations: this.iterations,
      balanceIterations: this.balanceIterations, fitted: this.isFitted, n: this.n,
    };
    if (!this.isFitted) return writeContainer('SemanticIdTokenizer', params, []);
    const cent = new Float32Array(this.levels * this.codebookSize * this.d);
    this.centroids.forEach((c, l) => cent.set(c, l * c.length));
    return writeContainer('SemanticIdTokenizer', params, [{ tag: 'CENT', data: cent }, { tag: 'IDS ', data: this.idRows.subarray(0, this.n * this.length) }]);
  }

  /** Restores a tokenizer written by save(). Needs `await init()` first. */
  static load(bytes: Uint8Array | ArrayBuffer): SemanticIdTokenizer {
    const where = 'SemanticIdTokenizer.load';
    const c = readContainer(where, bytes, 'SemanticIdTokenizer');
    const d = paramInt(where, c, 'd', 1, 1 << 16);
    const levels = paramInt(where, c, 'levels', 1, 64);
    const codebookSize = paramInt(where, c, 'codebookSize', 2, 65536);
    const fitted = paramBool(where, c, 'fitted');
    const n = paramInt(where, c, 'n', 0, 0x7fffffff);
    let tok: SemanticIdTokenizer;
    try {
      tok = new SemanticIdTokenizer({
        d, levels, codebookSize, seed: paramInt(where, c, 'seed', -SEED_LIMIT, SEED_LIMIT), balance: paramBool(where, c, 'balance'),
        iterations: paramInt(where, c, 'iterations', 1, 100_000), balanceIterations: paramInt(where, c, 'balanceIterations', 0, 100_000),
      });
    } catch (e) {
      savedOptionsError(where, e);
    }
    if (!fitted) {
      if (n > 0) fail('CORRUPT_DATA', where, 'an unfitted tokenizer cannot hold IDs', raw(`n = ${n}`), '0');
      return tok;
    }
    const cent = sectionF32(where, c, 'CENT', levels * codebookSize * d);
    // (finite already; the codebooks go through FlatIndex.add, which refuses magnitudes of 2^50 and more)
    const big = firstOutOfRange(cent);
    if (big >= 0) fail('CORRUPT_DATA', where, `section 'CENT' holds a value too large at index ${big}`, cent[big], 'below 2^50');
    const L = levels + 1;
    const ids = sectionI32(where, c, 'IDS ', n * L);
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const row = ids.subarray(i * L, (i + 1) * L);
      for (let l = 0; l < levels; l++) if (row[l] < 0 || row[l] >= codebookSize) fail('CORRUPT_DATA', where, `a saved token is not a code of level ${l}`, row[l], `0 .. ${codebookSize - 1}`);
      if (row[levels] < 0) fail('CORRUPT_DATA', where, 'a saved collision token is negative', row[levels], '>= 0');
      const full = row.join(',');
      if (seen.has(full)) fail('CORRUPT_DATA', where, 'two saved items share an ID', raw(full), 'unique IDs');
      seen.add(full);
      const key = row.subarray(0, levels).join(',');
      counts.set(key, Math.max(counts.get(key) ?? 0, row[levels] + 1));
    }
    const books: FlatIndex[] = [];
    try {
      for (let l = 0; l < levels; l++) {
        const part = cent.slice(l * codebookSize * d, (l + 1) * codebookSize * d);
        const book = new FlatIndex({ d, metric: 'l2' });
        books.push(book);
        book.add(part);
        tok.centroids.push(part);
      }
    } catch (e) {
      for (const b of books) b.dispose();
      throw e;
    }
    tok.codebooks = books;
    tok.idRows = ids;
    tok.n = n;
    tok.prefixCount = counts;
    return tok;
  }

  /** Frees the codebooks' wasm memory. Idempotent; any later use throws DISPOSED. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const b of this.codebooks) b.dispose();
    this.codebooks = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

// Nearest codes considered per item before falling back to a scan of every code.
const BALANCE_CANDIDATES = 16;

/**
 * Capacity-constrained assignment: at most ceil(n / K) items per code. Items are placed in decreasing order of regret
 * (distance to their second-nearest code minus the nearest), each to its nearest code with room left.
 */
function balancedAssign(x: Float32Array, n: number, d: number, cent: Float32Array, K: number, where: string): Int32Array {
  const cap = Math.ceil(n / K);
  const flat = new FlatIndex({ d, metric: 'l2' });
  let cand: { ids: Int32Array; distances: Float32Array };
  const kc = Math.min(K, BALANCE_CANDIDATES);
  try {
    flat.add(cent);
    cand = flat.search(x, kc);
  } finally {
    flat.dispose();
  }
  void where;
  const regret = new Float64Array(n);
  for (let i = 0; i < n; i++) regret[i] = kc > 1 ? cand.distances[i * kc + 1] - cand.distances[i * kc] : 0;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => regret[b] - regret[a] || a - b);
  const load = new Int32Array(K);
  const labels = new Int32Array(n);
  for (const i of order) {
    let pick = -1;
    for (let j = 0; j < kc; j++) {
      const c = cand.ids[i * kc + j];
      if (load[c] < cap) {
        pick = c;
        break;
      }
    }
    if (pick < 0) {
      // every candidate is full: the nearest code with room, by a full scan
      let best = Infinity;
      for (let c = 0; c < K; c++) {
        if (load[c] >= cap) continue;
        let s = 0;
        for (let t = 0; t < d; t++) {
          const diff = x[i * d + t] - cent[c * d + t];
          s += diff * diff;
        }
        if (s < best) {
          best = s;
          pick = c;
        }
      }
    }
    labels[i] = pick;
    load[pick]++;
  }
  return labels;
}

/** Centroids as the means of their items (a code without items keeps its centroid). */
function updateMeans(x: Float32Array, n: number, d: number, labels: Int32Array, cent: Float32Array, K: number): void {
  const sums = new Float64Array(K * d);
  const counts = new Int32Array(K);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    counts[c]++;
    for (let t = 0; t < d; t++) sums[c * d + t] += x[i * d + t];
  }
  for (let c = 0; c < K; c++) {
    if (counts[c] === 0) continue;
    for (let t = 0; t < d; t++) cent[c * d + t] = sums[c * d + t] / counts[c];
  }
}
