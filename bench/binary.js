// Binary-code benchmark: vqwasm BinaryIndex (sign bits after centering, with and without a random rotation; Hamming
// scan, then exact rerank of the best R with refine) vs vqwasm FlatIndex (float, exact), on MovieLens d64 (items as
// base and training set, users as queries; MIPS and L2, ground truth from the shared files) and the synthetic
// 100k x 64 Gaussian mixture of the PQ benches (L2 and IP; exact ground truth by FlatIndex).
//   node bench/binary.js                                   (plain SIMD build on Node 20)
//   node --experimental-wasm-relaxed-simd bench/binary.js  (relaxed-SIMD build)
// Speed is never asserted. Env: VQ_BENCH_NO_ENGINE=1.

import * as C from './lib/common.js';
import { loadMovieLens, makePqSynthetic, timedRuns } from './lib/pq-common.js';

const K = 10;
const RERANKS = [0, 100, 1000];

const log = (msg) => process.stderr.write(`[binary ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const METRIC_LABEL = { l2: 'L2', ip: 'IP (MIPS)' };

function rowsFor(mod, ds, metric, gt) {
  const { d, nq } = ds;
  const rows = [];
  const flat = new mod.FlatIndex({ d, metric });
  let flatQps;
  try {
    flat.add(ds.base);
    const s = timedRuns(() => flat.search(ds.q, K), { minSeconds: ds.minSearchSeconds });
    flatQps = nq / s.seconds;
    rows.push({ method: 'vqwasm FlatIndex (float)', bytes: 4 * d, qps: flatQps, recall: C.recallAtK(s.out.ids, K, gt.data, gt.d, nq, K) });
  } finally {
    flat.dispose();
  }
  for (const rotate of [false, true]) {
    const r = C.attempt(log, () => {
      const idx = new mod.BinaryIndex({ d, metric, rotate, refine: true });
      const out = [];
      try {
        let t0 = C.now();
        idx.train(ds.train);
        const trainS = C.now() - t0;
        t0 = C.now();
        idx.add(ds.base);
        const addS = C.now() - t0;
        for (const rr of RERANKS) {
          const opts = rr ? { rerank: rr } : {};
          const s = timedRuns(() => idx.search(ds.q, K, opts), { minSeconds: ds.minSearchSeconds });
          out.push({
            method: `vqwasm BinaryIndex${rotate ? ' rotate' : ''}${rr ? ` rerank ${rr}` : ' (Hamming)'}`,
            bytes: Math.ceil(d / 8) + (rr ? ` (+${4 * d})` : ''), trainS, addS, qps: nq / s.seconds, recall: C.recallAtK(s.out.ids, K, gt.data, gt.d, nq, K),
          });
        }
      } finally {
        idx.dispose();
      }
      return out;
    });
    if (r.error) rows.push({ method: `vqwasm BinaryIndex${rotate ? ' rotate' : ''}`, error: r.error });
    else rows.push(...r);
  }
  return { rows, flatQps };
}

async function main() {
  const { ours } = await C.setUp('binary codes (BinaryIndex)');
  if (!ours) return;
  const sets = [];
  const ml = loadMovieLens({ minSearchSeconds: 0.5 });
  if (ml) sets.push(ml);
  sets.push(makePqSynthetic({ k: K, jsNq: 100, minSearchSeconds: 1 }));
  for (const ds of sets) {
    for (const metric of ['ip', 'l2']) {
      let gt = ds.gt[metric];
      if (!gt) {
        const flat = new ours.FlatIndex({ d: ds.d, metric });
        flat.add(ds.base);
        gt = { d: K, n: ds.nq, data: flat.search(ds.q, K).ids };
        flat.dispose();
      }
      log(`${ds.label} ${metric}`);
      const { rows, flatQps } = rowsFor(ours, ds, metric, gt);
      const table = rows.map((r) =>
        r.error
          ? [r.method, '-', '-', '-', '-', '-', '-', `error: ${r.error}`]
          : [r.method, String(r.bytes), r.trainS === undefined ? '-' : C.fmtSeconds(r.trainS), r.addS === undefined ? '-' : C.fmtSeconds(r.addS), C.fmtRate(r.qps), C.fmtNum(r.recall, 3), C.fmtRatio(r.qps / flatQps), ''],
      );
      C.printTable(
        `${ds.label}: ${ds.nb} base, ${ds.nq} queries, d = ${ds.d}, ${METRIC_LABEL[metric]}, k = ${K}`,
        [
          { title: 'method', align: 'l' }, { title: 'bytes/vec', align: 'r' }, { title: 'train', align: 'r' }, { title: 'add', align: 'r' },
          { title: 'QPS', align: 'r' }, { title: 'R@10', align: 'r' }, { title: 'x flat', align: 'r' }, { title: '', align: 'l' },
        ],
        table,
        ['R@10: |top-10 ∩ true top-10| / 10; the Hamming scan ranks by sign agreement whatever the metric, rerank R re-scores the best R exactly with the metric; x flat: QPS / vqwasm FlatIndex QPS'],
      );
    }
  }
  C.printMemoryStats(ours);
}

C.runMain(main);
