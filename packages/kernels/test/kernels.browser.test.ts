import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../../tools/bundle.mjs';
import {
  chromiumMissing,
  launchChromium,
  serveFiles,
  type LaunchedBrowser,
  type LocalServer,
  collectPageErrors,
} from '../../../tools/chromium.ts';
import type { CaseResult } from './kernel-cases.ts';
import { expectCaseToPass } from './expect-case.ts';
import { testSeed } from './random.ts';

const CASES_PER_KERNEL = 24;
const firstSeed = testSeed();
const missing = chromiumMissing();
const PAGE =
  '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/entry.js"></script>';

describe(`kernels in headless Chromium against their CPU references (seeds from ${firstSeed})`, () => {
  let chromium: LaunchedBrowser | undefined;
  let server: LocalServer | undefined;
  let results: CaseResult[] = [];
  let pageErrors: string[] = [];

  beforeAll(async () => {
    if (missing) return;
    const script = await bundle(fileURLToPath(new URL('./browser/entry.ts', import.meta.url)), {
      platform: 'browser',
    });
    server = await serveFiles({
      '/': { type: 'text/html', body: PAGE },
      '/entry.js': { type: 'text/javascript', body: script },
    });
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    pageErrors = collectPageErrors(page);
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.runKernelCases === 'function');
    if (!(await page.evaluate(() => window.adapterAvailable()))) {
      throw new Error('Chromium found no WebGPU adapter (started with --enable-unsafe-webgpu)');
    }
    const seeds = Array.from({ length: CASES_PER_KERNEL }, (_, i) => firstSeed + i);
    results = await page.evaluate((list) => window.runKernelCases(list), seeds);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  it('runs every case on a WebGPU adapter with no page errors', (context) => {
    if (missing) {
      if (process.env['CI']) throw new Error(missing);
      console.warn(`skipping browser tier: ${missing}`);
      context.skip(missing);
    }
    expect(pageErrors).toEqual([]);
    expect(results.filter((result) => result.name.startsWith('intervention'))).toHaveLength(
      CASES_PER_KERNEL,
    );
    expect(results.filter((result) => result.name.startsWith('outcome'))).toHaveLength(
      CASES_PER_KERNEL * 4,
    );
    for (const result of results) expectCaseToPass(result);
  });
});
