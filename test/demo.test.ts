// The in-browser recommendation demo (examples/recsys/, `npm run demo:web`) end to end in headless Chromium: it loads,
// trains its compressed index in a worker while the page's timer keeps running, shows recommendations for the
// preselected movies; a click on "like" changes the list, which never holds a liked movie and mostly agrees with the
// exact list; a screenshot is saved to test-artifacts/demo.png. The time to first recommendations is printed (it is
// measured, not asserted: bench/README has the figure).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { launchChromium, SKIP_CHROMIUM, warnIfSkipped } from './helpers/chromium.js';
import { REPO_ROOT, startStaticServer, type StaticServer } from './helpers/server.js';

warnIfSkipped('demo test');

interface Demo {
  ready: boolean;
  error?: string;
  firstRecsMs: number | null;
  trainTicks: number;
  recs: number[];
  exact: number[];
  liked: number[];
  searches: number;
}

describe.skipIf(SKIP_CHROMIUM)('recommendation demo in headless Chromium', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;

  beforeAll(async () => {
    server = await startStaticServer();
    browser = await launchChromium();
    context = browser.context;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('recommends, reacts to a like, excludes liked movies, agrees with exact search; screenshot saved', async () => {
    const page = await context.newPage();
    const logs: string[] = [];
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    await page.goto(`${server.url}/examples/recsys/`);
    await page.waitForFunction(() => {
      const d = (window as unknown as { __demo?: Demo }).__demo;
      return d !== undefined && (d.ready || d.error !== undefined);
    }, null, { timeout: 30_000 });
    const read = () => page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { __demo: Demo }).__demo)) as Demo);
    const first = await read();
    if (first.error) throw new Error(`${first.error}\n${logs.join('\n')}`);
    console.log(`demo: first recommendations ${first.firstRecsMs?.toFixed(0)} ms after navigation; ${first.trainTicks} timer ticks during training`);
    expect(first.liked).toHaveLength(3);
    expect(first.recs).toHaveLength(10);
    expect(first.exact).toHaveLength(10);
    // the page kept running while the worker trained
    expect(first.trainTicks).toBeGreaterThan(0);
    for (const i of first.liked) expect(first.recs).not.toContain(i);
    const shown = await page.locator('#recs li').allTextContents();
    expect(shown).toHaveLength(10);

    // like one more movie: found by typing, clicked, the lists are recomputed without it
    await page.fill('#query', 'godfather');
    const button = page.locator('#matches button').first();
    const row = Number(await button.getAttribute('data-row'));
    await button.click();
    await page.waitForFunction((n) => (window as unknown as { __demo: Demo }).__demo.searches > n, first.searches);
    const after = await read();
    expect(after.liked).toContain(row);
    expect(after.liked).toHaveLength(4);
    expect(after.recs).toHaveLength(10);
    expect(after.recs).not.toEqual(first.recs);
    for (const i of after.liked) {
      expect(after.recs).not.toContain(i);
      expect(after.exact).not.toContain(i);
    }
    // 4-bit PQ at 16 bytes a movie: most of the exact top 10 (MovieLens MIPS R@10 of this index is about 0.8)
    const overlap = after.recs.filter((i) => after.exact.includes(i)).length;
    expect(overlap).toBeGreaterThanOrEqual(5);
    expect(await page.locator('#liked li').count()).toBe(4);

    mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'demo.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('?items=10000: the catalogue padded with variants of the movies (how bench/demoweb.js times 10k items): 10 recommendations, variants among them', async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/examples/recsys/?items=10000`);
    await page.waitForFunction(() => {
      const d = (window as unknown as { __demo?: Demo }).__demo;
      return d !== undefined && (d.ready || d.error !== undefined);
    }, null, { timeout: 60_000 });
    const demo = await page.evaluate(() => (window as unknown as { __demo: Demo }).__demo);
    expect(demo.error).toBeUndefined();
    console.log(`demo, 10,000 items: first recommendations ${demo.firstRecsMs!.toFixed(0)} ms after navigation`);
    expect(await page.locator('#stats').textContent()).toMatch(/^10000 movies, d = 32\./);
    expect(demo.recs).toHaveLength(10);
    expect(demo.exact).toHaveLength(10);
    for (const i of demo.liked) expect(demo.recs).not.toContain(i);
    // the liked movies' variants are close to them: some of the exact list is made of them (rows past 6567), and the
    // variants carry their movie's title
    expect(demo.exact.some((i) => i >= 6568)).toBe(true);
    const titles = await page.locator('#exact li').allTextContents();
    expect(titles.some((t) => / \(variant 1\)$/.test(t))).toBe(true);
    await page.close();
  }, 60_000);
});
