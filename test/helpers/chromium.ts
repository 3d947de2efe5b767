// Headless Chromium for the page tests: Debian's /usr/bin/chromium driven by playwright-core (never a downloaded
// browser). Where it is missing the page tests skip with a message, except in CI, which installs it and must run them.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const IN_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** True where page tests skip: no Chromium and not in CI. */
export const SKIP_CHROMIUM = !HAVE_CHROMIUM && !IN_CI;

export function warnIfSkipped(what: string): void {
  if (SKIP_CHROMIUM) console.warn(`${what} skipped: ${CHROMIUM} not found (apt-get install chromium)`);
}

/** A fresh headless Chromium profile; close() removes it. Throws in CI when Chromium is missing. */
export async function launchChromium(viewport = { width: 1200, height: 900 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!HAVE_CHROMIUM) throw new Error(`CI is set but ${CHROMIUM} is missing: apt-get install chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'vqwasm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
