// WorkerPool's speed-ups in headless Chromium, where its browser kinds run: a page (bench/browser/pool.js) measures
// pool.kmeans against KMeans.train on its own thread, and pooled batch search (2000 queries) against index.search,
// on the synthetic 100k x 64 set of bench/pool.js (served to the page from memory), in three kinds of page:
//   shared   cross-origin isolated, init({ threads: true }): the workers on the page's shared memory
//   private  cross-origin isolated, the single-thread build init() picks (relaxed in Chromium): a memory per worker,
//            words shared through SharedArrayBuffer
//   message  served without the isolation headers (as most sites serve pages): no SharedArrayBuffer, every exchange
//            by message (bench/pool.js can only imitate this kind in Node, with byMessage: true)
// k-means rows beside two copy workers each training alone at the same moment (the ceiling: what the cores give this
// work with no pool). Medians of interleaved rounds; every pooled result checked against the page's own. Prints the
// machine's load average (2 cores: other processes slow it). Needs /usr/bin/chromium and a build (npm run build).
//   node bench/pool-browser.js            Env: VQ_POOL_BROWSER_MODES (default shared,private,message),
//                                          VQ_POOL_KMEANS_ROUNDS (default 5)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../examples/serve.js';
import * as C from './lib/common.js';
import { makePqSynthetic } from './lib/pq-common.js';

const CHROMIUM = '/usr/bin/chromium';
const MODES = (process.env.VQ_POOL_BROWSER_MODES ?? 'shared,private,message').split(',').map((m) => m.trim());
const KM_ROUNDS = C.envInt('VQ_POOL_KMEANS_ROUNDS', 5);
const log = (msg) => process.stderr.write(`[pool-browser ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');

async function main() {
  console.log('\n=== vqwasm bench: WorkerPool in headless Chromium (2 threads vs the page\'s thread) ===');
  if (!existsSync(CHROMIUM)) {
    console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  const ds = makePqSynthetic({ k: 10, jsNq: 0 });
  const data = {
    'train.f32': Buffer.from(ds.train.buffer, ds.train.byteOffset, ds.train.byteLength),
    'base.f32': Buffer.from(ds.base.buffer, ds.base.byteOffset, ds.base.byteLength),
    'query.f32': Buffer.from(ds.q.buffer, ds.q.byteOffset, ds.q.byteLength),
  };
  const server = await startStaticServer();
  const profile = mkdtempSync(join(tmpdir(), 'vqwasm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const version = context.browser()?.version() ?? (await context.newPage().then(async (p) => {
    const v = await p.evaluate(() => navigator.userAgent);
    await p.close();
    return v;
  }));
  await context.route('**/bench-data/*', (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    const body = data[name];
    return body ? route.fulfill({ status: 200, body, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' } }) : route.fulfill({ status: 404, body: 'no such data' });
  });
  console.log(`data: ${ds.label} (n = ${ds.nb}, d = ${ds.d}); ${version}`);
  console.log(`load average (1, 5, 15 min) before: ${load()}`);
  const results = [];
  try {
    for (const mode of MODES) {
      log(`page: ${mode}`);
      const page = await context.newPage();
      page.on('console', (m) => log(m.text()));
      page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
      await page.goto(`${server.url}/bench/browser/pool.html?mode=${mode}&kmRounds=${KM_ROUNDS}${mode === 'message' ? '&isolated=0' : ''}`);
      await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30 * 60_000, polling: 1000 });
      const r = await page.evaluate(() => window.__result);
      await page.close();
      if (r.error) throw new Error(`${mode} page: ${r.error}`);
      // the page must be the kind it claims: isolation and SharedArrayBuffer as asked, the pool's memory too
      const want = { shared: [true, true, true], private: [true, true, false], message: [false, false, false] }[mode];
      if (r.isolated !== want[0] || r.sab !== want[1] || r.shared !== want[2]) throw new Error(`${mode} page: isolated ${r.isolated}, SharedArrayBuffer ${r.sab}, pool.shared ${r.shared}`);
      results.push(r);
    }
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const ratio = (a, b) => (a / b).toFixed(2) + 'x';
  const kmRows = [];
  for (const [i, row] of (results[0]?.kmeans ?? []).entries()) {
    kmRows.push([row.label, ...results.flatMap((r) => {
      const m = r.kmeans[i];
      return [C.fmtSeconds(m.single), C.fmtSeconds(m.pool), ratio(m.single, m.pool), m.same ? 'yes' : 'NO', ratio(2 * m.single, m.copies)];
    })]);
  }
  const phaseRows = [];
  for (const [i, row] of (results[0]?.kmeans ?? []).entries()) {
    phaseRows.push([row.label, ...results.flatMap((r) => {
      const { single, pool } = r.kmeans[i].phases;
      return [0, 1].flatMap((j) => [`${C.fmtSeconds(single[j])} / ${C.fmtSeconds(pool[j])}`, ratio(single[j], pool[j])]);
    })]);
  }
  const searchRows = [];
  for (const [i, row] of (results[0]?.search ?? []).entries()) {
    searchRows.push([row.label, ...results.flatMap((r) => {
      const m = r.search[i];
      return [String(Math.round(2000 / m.single)), String(Math.round(2000 / m.pool)), ratio(m.single, m.pool), m.same ? 'yes' : 'NO'];
    })]);
  }
  const cols = (per) => results.flatMap((r) => per.map((t, j) => ({ title: j === 0 ? `${r.mode}: ${t}` : t })));
  C.printTable(
    `k-means in the page (median of ${KM_ROUNDS}, interleaved: the page's KMeans.train, pool.kmeans, two copy workers at once)`,
    [{ title: 'training' }, ...cols(['page thread', '2 threads', 'speed-up', 'same bytes', 'ceiling: 2 copies'])],
    kmRows,
    ['ceiling: 2 x the page thread\'s time / the slower of two copy workers (own engines, single-thread build) each timing the same KMeans.train, run at once'],
  );
  C.printTable(
    'k-means phases (medians, page thread / 2 threads): until the first iteration\'s progress, then the iterations after it',
    [{ title: 'training' }, ...cols(['start + 1st iteration', 'speed-up', 'the other iterations', 'speed-up'])],
    phaseRows,
    ['start + 1st iteration: the options\' checks, the sample, k-means++ seeding, starting the workers (pool) and the first full assignment step'],
  );
  C.printTable(
    'batch search in the page, 2000 queries, k = 10 (median of 5 after 4 untimed rounds, interleaved)',
    [{ title: 'index' }, ...cols(['page thread QPS', '2 threads QPS', 'speed-up', 'identical'])],
    searchRows,
    results.map((r) => `${r.mode}: build ${r.build}, crossOriginIsolated ${r.isolated}, SharedArrayBuffer ${r.sab ? 'yes' : 'no'}, pool.shared ${r.shared}, ${r.threads} workers, navigator.hardwareConcurrency ${r.cores}`),
  );
  console.log(`load average (1, 5, 15 min) after: ${load()}`);
  const differ = results.flatMap((r) => [...r.kmeans, ...r.search].filter((m) => !m.same).map((m) => `${r.mode} ${m.label}`));
  console.log('per-round times (s):');
  for (const r of results) for (const m of [...r.kmeans, ...r.search]) console.log(`  ${r.mode} ${m.label}: ${Object.entries(m.all).map(([k, v]) => `${k} ${v.map((t) => t.toFixed(3)).join(' ')}`).join('; ')}`);
  if (differ.length) throw new Error(`pooled results differ from the page's: ${differ.join(', ')}`);
}

C.runMain(main);
