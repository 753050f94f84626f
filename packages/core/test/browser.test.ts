import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../../tools/bundle.mjs';
import {
  chromiumMissing,
  launchChromium,
  serveFiles,
  type LaunchedBrowser,
  type LocalServer,
  type StaticFile,
  collectPageErrors,
} from '../../../tools/chromium.ts';
import type { ExplanationResult } from '../src/index.ts';

const missing = chromiumMissing();
const PAGE =
  '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/entry.js"></script>';

/** onnxruntime-web's runtime files, served next to the bundle that imports it. */
async function ortFiles(): Promise<Record<string, StaticFile>> {
  const dist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu'));
  const files: Record<string, StaticFile> = {};
  for (const name of [
    'ort-wasm-simd-threaded.asyncify.mjs',
    'ort-wasm-simd-threaded.asyncify.wasm',
  ]) {
    files[`/${name}`] = {
      type: name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript',
      body: await readFile(path.join(dist, name)),
    };
  }
  return files;
}

describe('the explainer on onnxruntime-web in headless Chromium', () => {
  let chromium: LaunchedBrowser | undefined;
  let server: LocalServer | undefined;
  let errors: string[] = [];
  const results: Partial<Record<'wasm' | 'webgpu', ExplanationResult>> = {};

  beforeAll(async () => {
    if (missing) return;
    const script = await bundle(fileURLToPath(new URL('./browser/entry.ts', import.meta.url)), {
      platform: 'browser',
    });
    server = await serveFiles({
      '/': { type: 'text/html', body: PAGE },
      '/entry.js': { type: 'text/javascript', body: script },
      ...(await ortFiles()),
    });
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    errors = collectPageErrors(page);
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.explainOn === 'function');
    results.wasm = await page.evaluate(() => window.explainOn('wasm'));
    results.webgpu = await page.evaluate(() => window.explainOn('webgpu'));
  }, 600_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  it('finds the driving blocks on wasm, and the same map on the zero-copy WebGPU path', (context) => {
    if (missing) {
      if (process.env['CI']) throw new Error(missing);
      console.warn(`skipping: ${missing}`);
      context.skip(missing);
    }
    expect(errors).toEqual([]);
    const { wasm, webgpu } = results;
    expect(wasm!.backend).toBe('wasm');
    expect(webgpu!.backend).toBe('webgpu');
    expect(
      wasm!.blocks.filter((block) => block.significant).map(({ top, left }) => [top, left]),
    ).toEqual([
      [0, 16],
      [16, 0],
    ]);
    expect(webgpu!.forwardPasses).toBe(wasm!.forwardPasses);
    expect(webgpu!.baseScore).toBeCloseTo(wasm!.baseScore, 4);
    for (const [i, block] of webgpu!.blocks.entries()) {
      expect(block.ate).toBeCloseTo(wasm!.blocks[i]!.ate, 3);
      expect(block.significant).toBe(wasm!.blocks[i]!.significant);
    }
  });
});
