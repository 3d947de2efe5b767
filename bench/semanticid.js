// Semantic-ID benchmark: vqwasm SemanticIdTokenizer (3 levels x 256 + collision token, TIGER-style) on the MovieLens
// item embeddings (../shared/data/ml/d64; a seeded Gaussian mixture of the same size when absent), plain and balanced:
// fit time, per-level utilization / perplexity / residual MSE, collision rate before the extra token, uniqueness of
// the final IDs, and the speed of what a generative recommender calls at decoding time (validNextTokens, lookup)
// and of cold-start encoding. There is no Faiss equivalent (Faiss's ResidualQuantizer is compared in bench/rq.js).
//   node bench/semanticid.js
// Prints tables with ok/MISS beside the targets; never asserts speed.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as C from './lib/common.js';

const LEVELS = 3;
const K = 256;
const TARGET_UTIL = 0.95;
const TARGET_PPL = 0.8 * K;

const log = (msg) => process.stderr.write(`[semanticid ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function loadItems() {
  const path = join(C.SHARED_DATA, 'ml', 'd64', 'items.fvecs');
  if (existsSync(path)) {
    const { data, n, d } = C.readFvecs(path);
    return { x: data, n, d, name: 'MovieLens d64 items' };
  }
  const n = 6568, d = 64;
  return { x: C.gaussianMixture({ n, d, nCenters: 512, centerStd: 1, noiseStd: 0.5, centerSeed: 3, seed: 4 }), n, d, name: 'synthetic GMM (MovieLens absent)' };
}

function timeIt(fn, minSeconds = 0.5) {
  fn();
  let reps = 0;
  const t0 = C.now();
  while (C.now() - t0 < minSeconds) {
    fn();
    reps++;
  }
  return (C.now() - t0) / reps;
}

async function main() {
  const { ours, build } = await C.setUp('semantic IDs (residual k-means + collision token)');
  if (!ours) return;
  const { x, n, d, name } = loadItems();
  log(`${name}: ${n} x ${d}`);
  const rows = [];
  const levelRows = [];
  const targets = [];
  for (const balance of [false, true]) {
    log(`fit balance=${balance}`);
    const tok = new ours.SemanticIdTokenizer({ d, levels: LEVELS, codebookSize: K, balance, seed: 1234 });
    const t0 = C.now();
    const res = tok.fit(x);
    const fitSeconds = C.now() - t0;
    const L = res.length;
    const unique = new Set();
    for (let i = 0; i < n; i++) unique.add(res.ids.subarray(i * L, (i + 1) * L).join(','));
    // decoding-time queries: the next tokens after every item's 1- and 2-token prefixes
    const prefixes = [];
    for (let i = 0; i < n; i += 7) for (const p of [1, 2]) prefixes.push(Array.from(res.ids.subarray(i * L, i * L + p)));
    const nextSec = timeIt(() => {
      for (const p of prefixes) tok.validNextTokens(p);
    }) / prefixes.length;
    const lookupSec = timeIt(() => {
      for (const p of prefixes) tok.lookup(p);
    }) / prefixes.length;
    const cold = x.subarray(0, 1000 * d).map((v, i) => v + 0.01 * Math.sin(i));
    const encSec = timeIt(() => {
      const t = ours.SemanticIdTokenizer.load(tok.save());
      t.encode(cold);
      t.dispose();
    });
    rows.push([
      balance ? 'balanced' : 'plain', C.fmtSeconds(fitSeconds), res.collisionRate.toFixed(3), res.maxCollisions, `${unique.size === n ? 'yes' : 'NO'} (${unique.size})`,
      C.fmtRate(1 / nextSec), C.fmtRate(1 / lookupSec), C.fmtRate(1000 / encSec),
    ]);
    res.stats.forEach((s, l) => levelRows.push([balance ? 'balanced' : 'plain', l, s.utilization.toFixed(3), s.perplexity.toFixed(1), s.maxClusterFraction.toFixed(4), res.mse[l].toFixed(4)]));
    if (balance) {
      targets.push(['first-level utilization (balanced)', res.stats[0].utilization.toFixed(3), `>= ${TARGET_UTIL}`, C.mark(res.stats[0].utilization >= TARGET_UTIL)]);
      targets.push(['first-level perplexity (balanced)', res.stats[0].perplexity.toFixed(1), `>= ${TARGET_PPL.toFixed(1)}`, C.mark(res.stats[0].perplexity >= TARGET_PPL)]);
    }
    targets.push([`every ID unique (${balance ? 'balanced' : 'plain'})`, `${unique.size} / ${n}`, 'all', C.mark(unique.size === n)]);
    tok.dispose();
  }
  C.printTable(`Semantic IDs, ${LEVELS} levels x ${K} + collision token, ${name}  [engine build: ${build}]`, [
    { title: 'codes', align: 'l' }, { title: 'fit', align: 'r' }, { title: 'collision rate', align: 'r' }, { title: 'max per prefix', align: 'r' },
    { title: 'IDs unique', align: 'r' }, { title: 'validNextTokens/s', align: 'r' }, { title: 'lookup/s', align: 'r' }, { title: 'cold-start items/s', align: 'r' },
  ], rows, [
    'collision rate = share of items whose 3 level codes equal another item\'s (before the extra token).',
    'validNextTokens / lookup: prefixes of 1 and 2 tokens taken from every 7th item; cold-start: encode of 1000 perturbed items',
    '(timed with a load() of the saved tokenizer, as a server restoring it would).',
  ]);
  C.printTable(`Per level  [engine build: ${build}]`, [
    { title: 'codes', align: 'l' }, { title: 'level', align: 'r' }, { title: 'utilization', align: 'r' }, { title: 'perplexity', align: 'r' },
    { title: 'largest code share', align: 'r' }, { title: 'residual MSE', align: 'r' },
  ], levelRows);
  C.printTable('Semantic-ID targets', [{ title: 'target', align: 'l' }, { title: 'measured', align: 'r' }, { title: 'goal', align: 'r' }, { title: 'status', align: 'l' }], targets);
  C.printMemoryStats(ours);
}

C.runMain(main);
