// `pnpm bench:web`: the page's demo (the nuclei U-Net on its 128x128 crop, paper preset) in
// headless Chromium, on WebGPU and on wasm. Each backend runs for a fixed time and is then
// cancelled from the page, as a person would; the partial result gives the rate. Not a test.
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import type { ExplanationResult } from '@pdcr/core';
import { launchChromium, serveFiles } from '../../../tools/chromium.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const SECONDS: Record<string, number> = { webgpu: 120, wasm: 30 };
/**
 * The page's Batch field per backend ('' = as large as fits). A cancel waits for the batch in
 * flight, and on a software adapter a batch of 64 128x128 images takes minutes: WebGPU runs
 * batches of 8 here, and the table says so.
 */
const BATCH: Record<string, string> = { webgpu: '8', wasm: '' };
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};

const outDir = await mkdtemp(path.join(tmpdir(), 'pdcr-web-bench-'));
await build({
  root,
  configFile: path.join(root, 'vite.config.ts'),
  logLevel: 'silent',
  build: { outDir },
});
const files: Record<string, { type: string; body: Uint8Array }> = {};
for (const name of await readdir(outDir, { recursive: true })) {
  const file = path.join(outDir, name);
  if (!path.extname(file)) continue;
  files[`/${name}`] = {
    type: TYPES[path.extname(file)] ?? 'application/octet-stream',
    body: await readFile(file),
  };
}
files['/'] = files['/index.html']!;
const server = await serveFiles(files);
const chromium = await launchChromium({ protocolTimeout: 900_000 });
/** The paper's algorithm, set on the page: the demo opens with the fast preset. */
const PRESET = 'paper';
const rows: string[] = [];
let settings: string[] = [];
try {
  const page = await chromium.browser.newPage();
  await page.goto(server.url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
  const adapter = await page.$eval('#device-status', (element) => element.textContent);
  console.error(adapter);
  await page.select('#opt-preset', PRESET);
  settings = await page.evaluate(() =>
    ['crop', 'roi', 'block', 'preset'].map(
      (key) => `${key} ${(document.getElementById(`opt-${key}`) as HTMLInputElement).value}`,
    ),
  );
  console.error(settings.join(', '));
  for (const backend of ['wasm', 'webgpu'] as const) {
    await page.select('#opt-backend', backend);
    await page.$eval(
      '#opt-batch',
      (input, value) => ((input as HTMLInputElement).value = value),
      BATCH[backend]!,
    );
    const clicked = performance.now();
    await page.click('#run');
    // The run's clock starts once the model is loaded: its first progress line (or its failure).
    await page.waitForFunction(
      () =>
        /forward passes/.test(document.getElementById('run-status')!.textContent ?? '') ||
        document.body.dataset['state'] === 'failed',
      { timeout: 600_000 },
    );
    const loaded = performance.now();
    if ((await page.evaluate(() => document.body.dataset['state'])) === 'running') {
      await new Promise((resolve) => setTimeout(resolve, SECONDS[backend]! * 1000));
      await page.click('#cancel');
    }
    await page.waitForSelector(
      'body[data-state="done"], body[data-state="cancelled"], body[data-state="failed"]',
      { timeout: 600_000 },
    );
    // The result is offered for download only when the run ended without failing.
    const link = await page.$('#download-result-json');
    if (!link) {
      const message = await page.$eval('#message', (element) => element.textContent);
      rows.push(`| ${backend} | failed: ${message} | | | | |`);
      console.error(`${backend}: the run failed: ${message}`);
      continue;
    }
    const text = await link.evaluate(async (anchor) =>
      (await fetch((anchor as HTMLAnchorElement).href)).text(),
    );
    const result = JSON.parse(text) as ExplanationResult;
    rows.push(
      `| ${backend} | ${result.parameters.batchSize} | ${((loaded - clicked) / 1000).toFixed(1)} | ${result.forwardPasses} | ` +
        `${result.seconds.toFixed(1)} | ${(result.forwardPasses / result.seconds).toFixed(2)} |`,
    );
    console.error(`${backend}: ${rows.at(-1)}`);
  }
} finally {
  await chromium.close();
  await server.close();
  await rm(outDir, { recursive: true, force: true });
}
console.log(
  `The page's demo (nuclei U-Net; ${settings.join(', ')}) in headless Chromium, cancelled ` +
    `after ${SECONDS['wasm']} s on wasm and ${SECONDS['webgpu']} s on WebGPU`,
);
console.log('');
console.log('| backend | batch | load s | passes | seconds | passes/s |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
process.exit(0);
