// The recommendation demo's time to first recommendations (examples/recsys/, 6,568 MovieLens movies, d = 32): headless
// Chromium loads the page 5 times; the page reports when its first list (from the compressed index trained in a worker)
// was on screen, counted from navigation start, and how long training took. Then the same at 10,000 and 20,000 items
// (?items=N: the catalogue padded with noisy variants of the movies, examples/recsys/app.js padCatalogue). Prints the
// machine's load average beside the figures (2 cores: other processes slow it). Needs /usr/bin/chromium and a build
// (npm run build).
//   node bench/demoweb.js
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../examples/serve.js';
import * as C from './lib/common.js';

const CHROMIUM = '/usr/bin/chromium';
const RUNS = 5;

async function main() {
  console.log('\n=== vqwasm bench: recommendation demo, time to first recommendations ===');
  if (!existsSync(CHROMIUM)) {
    console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  console.log(`load average (1, 5, 15 min) before: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const server = await startStaticServer();
  const profile = mkdtempSync(join(tmpdir(), 'vqwasm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const rows = [];
  const medians = [];
  try {
    for (const items of [0, 10000, 20000]) {
      const mine = [];
      for (let r = 0; r < RUNS; r++) {
        const page = await context.newPage();
        await page.goto(`${server.url}/examples/recsys/${items ? `?items=${items}` : ''}`);
        await page.waitForFunction(() => window.__demo && (window.__demo.ready || window.__demo.error), null, { timeout: 60_000 });
        const d = await page.evaluate(() => ({ first: window.__demo.firstRecsMs, error: window.__demo.error, stats: document.getElementById('stats').textContent }));
        if (d.error) throw new Error(d.error);
        const train = /Trained in a worker in (\d+) ms/.exec(d.stats);
        const n = /^(\d+) movies/.exec(d.stats);
        mine.push(d.first);
        rows.push([n ? n[1] : '?', r + 1, d.first.toFixed(0), train ? train[1] : '?']);
        await page.close();
      }
      medians.push(`${rows.at(-1)[0]} items: ${C.median(mine).toFixed(0)} ms`);
    }
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  C.printTable('page loads (fresh page each, same browser)', [{ title: 'items' }, { title: 'run' }, { title: 'first recommendations (ms after navigation)' }, { title: 'training in the worker (ms)' }], rows);
  console.log(`median first recommendations: ${medians.join(', ')}`);
  console.log(`load average (1, 5, 15 min) after: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
}

C.runMain(main);
