import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chromiumMissing,
  launchChromium,
  serveFiles,
  collectPageErrors,
} from '../../../tools/chromium.ts';
import { buildCli, pdcr, removeCli, type CliRun } from './cli-harness.ts';

let folder = '';
let demo: CliRun;

beforeAll(async () => {
  await buildCli();
  folder = await mkdtemp(path.join(tmpdir(), 'pdcr-demo-'));
  demo = await pdcr(['demo', '--out', path.join(folder, 'demo'), '--quiet']);
}, 600_000);

afterAll(async () => {
  await removeCli();
  await rm(folder, { recursive: true, force: true });
});

describe('pdcr demo and its report', () => {
  it('explains the nuclei U-Net on the DSB2018 crop and says where the report is', async () => {
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(
      /demo: base Dice \d+\.\d+; \d+ positive, \d+ negative, \d+ zero blocks/,
    );
    expect(demo.stdout).toMatch(/demo: report at .*report\.html/);
    // The RoI's field covers the demo crop: no block goes through the statistics route, and the
    // summary does not list an empty one.
    expect(demo.stdout).not.toMatch(/scored through the image statistics/);
    expect((await readdir(path.join(folder, 'demo'))).sort()).toEqual([
      'ate.npy',
      'heatmap.png',
      'overlay.png',
      'report.html',
      'result.json',
      'stats.txt',
    ]);
    const result = JSON.parse(await readFile(path.join(folder, 'demo', 'result.json'), 'utf8'));
    // 128x128 crop, blocks of 8, a 32x32 RoI: 256 blocks, 16 under the RoI.
    expect(result.blocks).toHaveLength(240);
    expect(result.baseScore).toBeGreaterThan(80);
    expect(result.summary.negative).toBeGreaterThan(0);
    // The error rate its calls are made at, in the result and in the report.
    expect(result.parameters.falseDiscoveryRate).toBe(0.05);
    const report = await readFile(path.join(folder, 'demo', 'report.html'), 'utf8');
    expect(report).toContain('at a 5% false discovery rate (Benjamini-Hochberg');
  });

  it('renders the report in headless Chromium with no console errors and a map that is not blank', async (context) => {
    const missing = chromiumMissing();
    if (missing) {
      if (process.env['CI']) throw new Error(missing);
      console.warn(`skipping: ${missing}`);
      context.skip(missing);
    }
    const html = await readFile(path.join(folder, 'demo', 'report.html'), 'utf8');
    const server = await serveFiles({ '/': { type: 'text/html', body: html } });
    const chromium = await launchChromium();
    try {
      const page = await chromium.browser.newPage();
      const errors = collectPageErrors(page);
      await page.goto(server.url, { waitUntil: 'load' });
      const heatmap = await page.evaluate(async () => {
        const image = document.querySelector<HTMLImageElement>('#heatmap')!;
        await image.decode();
        const canvas = document.createElement('canvas');
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        const context = canvas.getContext('2d')!;
        context.drawImage(image, 0, 0);
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let coloured = 0;
        for (let i = 0; i < pixels.length; i += 4) {
          if (Math.abs(pixels[i]! - pixels[i + 2]!) > 20) coloured++;
        }
        return { width: canvas.width, coloured };
      });
      const charts = await page.$$eval('canvas', (canvases) =>
        canvases.map((canvas) => canvas.width),
      );
      expect(errors).toEqual([]);
      expect(heatmap.width).toBe(128);
      expect(heatmap.coloured).toBeGreaterThan(64);
      expect(charts).toHaveLength(3);
      expect(charts.every((width) => width > 0)).toBe(true);

      // A hover on the helper-most block shows its ATE, interval and sample count.
      const result = JSON.parse(await readFile(path.join(folder, 'demo', 'result.json'), 'utf8'));
      const strongest = result.blocks.reduce((a: { ate: number }, b: { ate: number }) =>
        Math.abs(b.ate) > Math.abs(a.ate) ? b : a,
      );
      const box = (await (await page.$('#overlay'))!.boundingBox())!;
      const scale = box.width / 128;
      await page.mouse.move(
        box.x + (strongest.left + 2) * scale,
        box.y + (strongest.top + 2) * scale,
      );
      const tip = await page.$eval('#tip', (element) => element.textContent);
      expect(tip).toContain(`ATE ${strongest.ate.toFixed(3)}`);
      expect(tip).toContain(`n = ${strongest.n}`);
      await page.screenshot({ path: path.join(folder, 'report.png') });
    } finally {
      await chromium.close();
      await server.close();
    }
  });

  it('keeps what was finished when interrupted with Ctrl-C', async () => {
    const out = path.join(folder, 'interrupted');
    // The paper preset's demo runs for most of a minute: 8 s in, it is mid-run on any machine.
    const run = await pdcr(['demo', '--preset', 'paper', '--out', out, '--quiet'], 8000);
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/^pdcr: interrupted; the \d+ blocks finished were written/);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    expect(result.complete).toBe(false);
    expect(result.blocks.length).toBeLessThan(240);
    expect(await readFile(path.join(out, 'stats.txt'), 'utf8')).toMatch(/^Interrupted: /);
  });
});
