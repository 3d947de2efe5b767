// Online VQ benchmark: vqwasm OnlineVQ (EMA codebook, dead-code replacement) on a drifting stream, against the same
// algorithm in plain JS (brute-force assignment + the EMA step in loops), in one run on the same batches:
// codebook utilization and commitment loss over time with and without dead-code replacement, and update throughput.
// The stream: a Gaussian mixture (4096 centres, d = 64) for the first half, then the same mixture moved far away.
// Faiss has no online / EMA codebook, so there is no Faiss column.
//   node bench/onlinevq.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/onlinevq.js  (relaxed-SIMD build)
// Prints tables with ok/MISS beside the target; never asserts speed.

import * as C from './lib/common.js';

const D = 64;
const K = 512;
const BATCH = 2048;
const BEFORE = 40; // batches before the shift
const AFTER = 80; // batches after it
const DECAY = 0.95;
const THRESHOLD = 1; // EMA cluster size under which a code is replaced (a batch gives BATCH / K = 4 per code on average)
const CENTRES = 4096; // many more centres than codes: a spread-out density, not 256 blobs for 512 codes to share
const SHIFT = 30; // the centres move by this much along every axis (noise std 1, centre std 3)
const JS_BATCHES = 5; // the plain-JS update is slow: timed on a few batches
const TARGET_UTIL = 0.9;
const WINDOW = 10; // "in use": assigned at least once in the last WINDOW batches

const log = (msg) => process.stderr.write(`[onlinevq ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function makeStream() {
  const uni = C.seededUniform(7);
  const normal = C.seededNormal(uni);
  const centres = Float32Array.from({ length: CENTRES * D }, () => 3 * normal());
  const moved = centres.map((v) => v + SHIFT);
  const batches = [];
  for (let b = 0; b < BEFORE + AFTER; b++) {
    const src = b < BEFORE ? centres : moved;
    const x = new Float32Array(BATCH * D);
    for (let i = 0; i < BATCH; i++) {
      const c = Math.floor(uni() * CENTRES);
      for (let t = 0; t < D; t++) x[i * D + t] = src[c * D + t] + normal();
    }
    batches.push(x);
  }
  return batches;
}

/** The EMA update of OnlineVQ in plain JS (same formulas; init from the first K vectors of the first batch). */
class JsOnlineVQ {
  constructor(k, d, decay, eps, threshold) {
    Object.assign(this, { k, d, decay, eps, threshold });
    this.cb = null;
  }

  update(x) {
    const { k, d } = this;
    const n = x.length / d;
    if (!this.cb) {
      this.cb = x.slice(0, k * d);
      this.size = new Float64Array(k).fill(n / k);
      this.sum = Float64Array.from(this.cb, (v) => v * (n / k));
    }
    const labels = new Int32Array(n);
    const counts = new Float64Array(k);
    const sums = new Float64Array(k * d);
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      let bi = 0;
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let t = 0; t < d; t++) {
          const diff = x[i * d + t] - this.cb[c * d + t];
          s += diff * diff;
        }
        if (s < best) {
          best = s;
          bi = c;
        }
      }
      labels[i] = bi;
      counts[bi]++;
      for (let t = 0; t < d; t++) sums[bi * d + t] += x[i * d + t];
    }
    let total = 0;
    for (let c = 0; c < k; c++) {
      this.size[c] = this.decay * this.size[c] + (1 - this.decay) * counts[c];
      total += this.size[c];
    }
    for (let i = 0; i < k * d; i++) this.sum[i] = this.decay * this.sum[i] + (1 - this.decay) * sums[i];
    for (let c = 0; c < k; c++) {
      const sm = ((this.size[c] + this.eps) / (total + k * this.eps)) * total;
      for (let t = 0; t < d; t++) this.cb[c * d + t] = this.sum[c * d + t] / sm;
    }
    return labels;
  }
}

/** Share of the k codes assigned at least once in any of the label arrays. */
function utilization(labelSets, k) {
  const used = new Uint8Array(k);
  for (const labels of labelSets) for (const l of labels) used[l] = 1;
  return used.reduce((a, b) => a + b, 0) / k;
}

async function main() {
  const { ours, build } = await C.setUp('online VQ (EMA codebook, dead-code replacement) on a drifting stream');
  log('generating the stream');
  const batches = makeStream();
  const runs = [];
  if (ours) {
    for (const [label, threshold] of [['no replacement', 0], [`replacement below ${THRESHOLD}`, THRESHOLD]]) {
      log(`vqwasm ${label}`);
      const vq = new ours.OnlineVQ({ d: D, k: K, decay: DECAY, deadCodeThreshold: threshold, seed: 1234 });
      // warm-up on a throwaway quantizer so that the timed stream starts with compiled kernels
      const warm = new ours.OnlineVQ({ d: D, k: K, decay: DECAY, seed: 1 });
      for (let i = 0; i < 3; i++) warm.update(batches[i]);
      warm.dispose();
      const util = [];
      const loss = [];
      const recent = []; // labels of the last WINDOW batches
      const windowUtil = [];
      let replaced = 0;
      let seconds = 0;
      for (const x of batches) {
        const t0 = C.now();
        const r = vq.update(x);
        seconds += C.now() - t0;
        util.push(r.stats.utilization);
        loss.push(r.commitmentLoss);
        recent.push(r.labels);
        if (recent.length > WINDOW) recent.shift();
        windowUtil.push(utilization(recent, K));
        replaced += r.replaced;
      }
      vq.dispose();
      runs.push({ label, util, windowUtil, loss, replaced, seconds });
    }
  }
  log('plain JS');
  // warm-up on a throwaway copy, as for vqwasm: the timed batches start with the loops optimized
  new JsOnlineVQ(K, D, DECAY, 1e-5, 0).update(batches[0]);
  const js = new JsOnlineVQ(K, D, DECAY, 1e-5, 0);
  let jsSeconds = 0;
  for (let b = 0; b < JS_BATCHES; b++) {
    const t0 = C.now();
    js.update(batches[b]);
    jsSeconds += C.now() - t0;
  }
  const jsRate = (JS_BATCHES * BATCH) / jsSeconds;

  const marks = [1, 10, BEFORE, BEFORE + 1, BEFORE + 5, BEFORE + 10, BEFORE + 20, BEFORE + 40, BEFORE + AFTER];
  const cols = [{ title: 'vqwasm OnlineVQ', align: 'l' }, ...marks.map((m) => ({ title: `b${m}`, align: 'r' })), { title: 'replaced', align: 'r' }];
  C.printTable(
    `Codes in use: share assigned at least once in the last ${WINDOW} batches (batch number; the shift comes after batch ${BEFORE})  [engine build: ${build}]`,
    cols,
    runs.map((r) => [r.label, ...marks.map((m) => r.windowUtil[m - 1].toFixed(2)), r.replaced]),
    [`k = ${K}, d = ${D}, batches of ${BATCH} from a ${CENTRES}-centre Gaussian mixture moved by ${SHIFT} on every axis after batch ${BEFORE}; decay ${DECAY}, seed 1234.`],
  );
  C.printTable(
    `Utilization of each single batch's assignment (${BATCH} vectors for ${K} codes)  [engine build: ${build}]`,
    cols.slice(0, -1),
    runs.map((r) => [r.label, ...marks.map((m) => r.util[m - 1].toFixed(2))]),
  );
  C.printTable(
    `Commitment loss (mean squared error of the assigned codewords) at the same batches  [engine build: ${build}]`,
    cols.slice(0, -1),
    runs.map((r) => [r.label, ...marks.map((m) => r.loss[m - 1].toFixed(2))]),
  );
  const last = (v) => v[v.length - 1];
  const rows = runs.map((r) => [r.label, C.fmtRate((BATCH * batches.length) / r.seconds), C.fmtRatio((BATCH * batches.length) / r.seconds / jsRate), last(r.windowUtil).toFixed(3)]);
  rows.push(['plain JS (same update, no replacement)', C.fmtRate(jsRate), '1.00x', '-']);
  C.printTable(`update() throughput and utilization over the last 10 batches  [engine build: ${build}]`, [
    { title: 'method', align: 'l' }, { title: 'vectors/s', align: 'r' }, { title: 'vs plain JS', align: 'r' }, { title: `codes in use (last ${WINDOW} batches)`, align: 'r' },
  ], rows, [`plain JS timed on the first ${JS_BATCHES} batches after one untimed warm-up batch on a throwaway copy (brute-force assignment in loops, then the same EMA step).`]);
  const on = runs.find((r) => r.label.startsWith('replacement'));
  if (on) {
    const u = last(on.windowUtil);
    C.printTable('OnlineVQ target', [{ title: 'target', align: 'l' }, { title: 'measured', align: 'r' }, { title: 'goal', align: 'r' }, { title: 'status', align: 'l' }], [
      [`codes in use at the end of the stream, with dead-code replacement (last ${WINDOW} batches)`, `${(100 * u).toFixed(1)} %`, `>= ${100 * TARGET_UTIL} %`, C.mark(u >= TARGET_UTIL)],
    ]);
  }
  C.printMemoryStats(ours);
}

C.runMain(main);
