// remove(ids) benchmark: vqwasm's remove on each index kind against Faiss remove_ids (1 thread, the same index
// factory, trained and filled with the same data) and against plain JS (dropping the rows of a Float32Array), on the
// synthetic 100k x 64 Gaussian mixture of the PQ benches. 1 % of the ids (seeded) go. Quality beside speed: the
// index after remove() against one built from the kept vectors with their ids (saved bytes and a search).
//   node bench/remove.js
// Speed is never asserted. Env: VQ_BENCH_NO_ENGINE=1, VQ_BENCH_NO_FAISS=1.

import { join } from 'node:path';
import * as C from './lib/common.js';
import { makePqSynthetic } from './lib/pq-common.js';

const RUNS = 5;
const FRACTION = 0.01;

const log = (msg) => process.stderr.write(`[remove ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function main() {
  const { ours, build, faiss } = await C.setUp('remove(ids) (Faiss remove_ids)');
  const ds = makePqSynthetic({ k: 10, jsNq: 0 });
  const { d, nb } = ds;
  // the ids to remove: a seeded 1 % of 0..nb-1
  const rnd = C.seededUniform(77);
  const pick = new Set();
  while (pick.size < Math.round(nb * FRACTION)) pick.add(Math.floor(rnd() * nb));
  const ids = Int32Array.from([...pick].sort((a, b) => a - b));
  const removePath = join(C.DATA_DIR, `remove_ids_${ids.length}.ivecs`);
  C.writeIvecs(removePath, ids, 1, ids.length);
  const keep = [];
  for (let i = 0, j = 0; i < nb; i++) {
    if (j < ids.length && ids[j] === i) j++;
    else keep.push(i);
  }
  const kept = new Float32Array(keep.length * d);
  keep.forEach((p, i) => kept.set(ds.base.subarray(p * d, (p + 1) * d), i * d));
  const keptIds = Int32Array.from(keep);
  console.log(`data: ${ds.label} (n = ${nb}, d = ${d}); ${ids.length} ids removed (${FRACTION * 100} %); ${RUNS} runs, median`);

  const kinds = [
    ['FlatIndex l2', 'Flat', () => new ours.FlatIndex({ d })],
    ['PQIndex 16x8', 'PQ16x8', () => new ours.PQIndex({ d, m: 16, seed: 1 })],
    ['PQIndex 32x4 fast-scan', null, () => new ours.PQIndex({ d, m: 32, nbits: 4, seed: 1 })],
    ['SQIndex int8', 'SQ8', () => new ours.SQIndex({ d, type: 'int8' })],
    ['IVFFlatIndex 1024', 'IVF1024,Flat', () => new ours.IVFFlatIndex({ d, nlist: 1024, seed: 1 })],
    ['IVFPQIndex 1024, 16x8', 'IVF1024,PQ16x8', () => new ours.IVFPQIndex({ d, nlist: 1024, m: 16, seed: 1 })],
    ['RQIndex 4x8', null, () => new ours.RQIndex({ d, levels: 4, seed: 1 })],
  ];
  const rows = [];
  const mine = new Map();
  for (const [name, , make] of ours ? kinds : []) {
    log(name);
    const r = C.attempt(log, () => {
      const proto = make();
      try {
        proto.train?.(ds.train);
        const empty = proto.save({ empty: true });
        proto.add(ds.base);
        const full = proto.save();
        const times = [];
        let removed = 0;
        let same = true;
        for (let run = 0; run < RUNS; run++) {
          const idx = ours.loadIndex(full);
          try {
            const t0 = C.now();
            removed = idx.remove(ids);
            times.push(C.now() - t0);
            if (run === 0) {
              const want = ours.loadIndex(empty);
              try {
                want.add(kept, keptIds);
                same = sameBytes(idx.save(), want.save());
                const q = ds.q.subarray(0, 200 * d);
                const a = idx.search(q, 10);
                const b = want.search(q, 10);
                same &&= a.ids.every((v, i) => v === b.ids[i]);
              } finally {
                want.dispose();
              }
            }
          } finally {
            idx.dispose();
          }
        }
        return { seconds: C.median(times), removed, same };
      } finally {
        proto.dispose();
      }
    });
    mine.set(name, r);
  }
  // plain JS: the rows that stay copied into a new Float32Array, ids alongside (what a JS flat store would do)
  const jsTimes = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = C.now();
    const gone = new Set(ids);
    const outX = new Float32Array((nb - ids.length) * d);
    const outIds = new Int32Array(nb - ids.length);
    let w = 0;
    for (let i = 0; i < nb; i++) {
      if (gone.has(i)) continue;
      outX.set(ds.base.subarray(i * d, (i + 1) * d), w * d);
      outIds[w++] = i;
    }
    jsTimes.push(C.now() - t0);
  }
  let fres = null;
  if (faiss.ok) {
    log('Faiss');
    try {
      fres = C.runFaissScript('faiss_remove.py', {
        train: ds.trainPath, base: ds.basePath, remove: removePath, runs: RUNS,
        tasks: kinds.filter(([, f]) => f).map(([name, factory]) => ({ name, factory, metric: 'l2' })),
      });
    } catch (e) {
      log(`Faiss failed: ${e.message}`);
    }
  }
  for (const [name] of kinds) {
    const m = mine.get(name);
    const f = fres?.results.find((t) => t.name === name);
    const fs = f ? C.median(f.times) : null;
    rows.push([
      name,
      m?.error ? `error: ${m.error}` : m ? C.fmtSeconds(m.seconds) : 'skipped',
      fs === null ? (f === undefined && fres ? 'no remove_ids here' : '-') : C.fmtSeconds(fs),
      m && !m.error && fs !== null ? (m.seconds / fs).toFixed(2) + 'x' : '',
      name === 'FlatIndex l2' ? C.fmtSeconds(C.median(jsTimes)) : '',
      m && !m.error ? String(m.removed) : '',
      f ? String(f.removed) : '',
      m && !m.error ? (m.same ? 'yes' : 'NO') : '',
    ]);
  }
  C.printTable(
    `remove ${ids.length} of ${nb} ids  [engine build: ${build}]`,
    [
      { title: 'index', align: 'l' }, { title: 'vqwasm remove' }, { title: 'Faiss remove_ids' }, { title: 'vqwasm/Faiss' },
      { title: 'plain JS (flat rows)' }, { title: 'removed' }, { title: 'Faiss removed' }, { title: 'same as rebuilt' },
    ],
    rows,
    [
      'times: median of the runs, each on a fresh copy of the filled index (loaded untimed). Lower is better.',
      'same as rebuilt: after remove, save() gives the bytes of the same kind of index given only the kept vectors with their ids, and a',
      '  search of 200 queries the same ids. Faiss: index_factory(d, factory), remove_ids(IDSelectorBatch); its IndexFlat renumbers the',
      '  vectors that stay, ours keep their ids. Faiss has no remove_ids for PQ fast-scan; RQ is left out there (not the same index).',
      fres ? `Faiss ${fres.faiss_version}, omp threads=${fres.omp_max_threads}` : C.faissSkippedLine(faiss.ok ? { reason: 'failed' } : faiss),
    ],
  );
  C.printMemoryStats(ours);
}

C.runMain(main);
