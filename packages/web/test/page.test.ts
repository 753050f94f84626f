import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chromiumMissing,
  launchChromium,
  serveFiles,
  type LaunchedBrowser,
  type LocalServer,
  collectPageErrors,
} from '../../../tools/chromium.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const missing = chromiumMissing();

async function builtFiles(outDir: string) {
  const files: Record<string, { type: string; body: Uint8Array }> = {};
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.css': 'text/css',
  };
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(file);
      else
        files[`/${path.relative(outDir, file)}`] = {
          type: types[path.extname(file)] ?? 'application/octet-stream',
          body: await readFile(file),
        };
    }
  };
  await walk(outDir);
  files['/'] = files['/index.html']!;
  return files;
}

describe('the page, built for production, in headless Chromium', () => {
  let chromium: LaunchedBrowser | undefined;
  let server: LocalServer | undefined;
  let outDir = '';

  beforeAll(async () => {
    if (missing) return;
    outDir = await mkdtemp(path.join(tmpdir(), 'pdcr-web-'));
    await build({
      root,
      configFile: path.join(root, 'vite.config.ts'),
      logLevel: 'silent',
      build: { outDir, emptyOutDir: true },
    });
    server = await serveFiles(await builtFiles(outDir));
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('loads without console errors and runs the intervention kernel on WebGPU', async (context) => {
    if (missing) {
      if (process.env['CI']) throw new Error(missing);
      console.warn(`skipping: ${missing}`);
      context.skip(missing);
    }
    const page = await chromium!.browser.newPage();
    const errors = collectPageErrors(page);
    await page.goto(server!.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]');
    const status = await page.$eval('#device-status', (element) => element.textContent);
    const kernelError = await page.evaluate(() => document.body.dataset['kernelError']);
    expect(errors).toEqual([]);
    expect(status).toMatch(/^WebGPU adapter: /);
    expect(Number(kernelError)).toBeLessThan(1e-5);
    await page.close();
  });
});
