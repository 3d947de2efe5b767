/**
 * Seeded PRNG for every random choice the library makes (sampling, initialisation, cluster splits): the same seed
 * gives the same sequence on every runtime. SplitMix32-style mixing of a Weyl sequence; 2^32 period per seed,
 * plenty for sampling and seeding.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // fold any safe integer (negative, > 2^32) into 32 bits
    this.state = (Math.floor(seed) % 4294967296 + 4294967296) % 4294967296 >>> 0;
  }

  /** The generator's position, for saving: new Rng(0).restore(state) continues the same sequence. */
  get state32(): number {
    return this.state;
  }

  restore(state: number): this {
    this.state = state >>> 0;
    return this;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased (n <= 2^32). */
  nextInt(n: number): number {
    if (n <= 1) return 0;
    const limit = 4294967296 - (4294967296 % n);
    let v = this.nextU32();
    while (v >= limit) v = this.nextU32();
    return v % n;
  }

  /** `count` distinct indices from [0, n), in draw order (partial Fisher-Yates over a lazily built permutation). */
  sample(n: number, count: number): Int32Array {
    const out = new Int32Array(count);
    if (denseSample(n, count)) {
      // the permutation as an array where it is small beside the draw (a Map costs ~150 ns an entry); same draws
      const perm = new Int32Array(n);
      for (let i = 0; i < n; i++) perm[i] = i;
      for (let i = 0; i < count; i++) {
        const j = i + this.nextInt(n - i);
        out[i] = perm[j];
        perm[j] = perm[i];
      }
      return out;
    }
    const swapped = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      const j = i + this.nextInt(n - i);
      const vi = swapped.get(i) ?? i;
      const vj = swapped.get(j) ?? j;
      out[i] = vj;
      swapped.set(j, vi);
    }
    return out;
  }

  /** sample(n, count) in ascending order (the training samples: rows read in memory order). */
  sortedSample(n: number, count: number): Int32Array {
    const s = this.sample(n, count);
    if (!denseSample(n, count)) return s.sort();
    // a bitmap pass over [0, n) where n is small beside the draw: O(n), against the sort's O(count log count)
    const mark = new Uint8Array(n);
    for (let i = 0; i < count; i++) mark[s[i]] = 1;
    for (let i = 0, c = 0; i < n; i++) if (mark[i] !== 0) s[c++] = i;
    return s;
  }
}

/**
 * Whether sample() keeps its permutation in an Int32Array (and sortedSample sorts by a bitmap): n up to 2^24 (64 MB)
 * and at most 64x the draw, so that the O(n) arrays stay small beside it.
 */
function denseSample(n: number, count: number): boolean {
  return n <= 1 << 24 && n <= 64 * count;
}
