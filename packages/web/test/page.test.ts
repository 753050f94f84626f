import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentAnalysisResult, ExplanationResult } from '@pdcr/core';
import {
  chromiumMissing,
  collectPageErrors,
  launchChromium,
  serveFiles,
  type LaunchedBrowser,
  type LocalServer,
} from '../../../tools/chromium.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const repository = fileURLToPath(new URL('../../..', import.meta.url));
/** Where the run leaves its screenshot of the finished page (ignored by git). */
const screenshotDir = path.join(root, 'test-output');
const missing = chromiumMissing();

/**
 * A small configuration of the demo, so that WebGPU on SwiftShader finishes in a minute or two:
 * a 32x32 crop of the DSB2018 image around the demo's RoI, RoI 16x16, blocks of 8 (12 outside
 * the RoI), the paper's algorithm with fewer draws.
 */
const SMALL = {
  crop: '392,104,32,32',
  roi: '8,8,16,16',
  block: '8',
  preset: 'paper',
  samples: '3',
  screen: '2',
  seed: '3',
} as const;

/**
 * The component analysis on the same crop and RoI: the first encoder block's three tensors, each
 * replaced by its mean over the natural crops (one pass per component).
 */
const COMPONENTS = {
  crop: SMALL.crop,
  roi: SMALL.roi,
  seed: SMALL.seed,
  select: 'encoders\\.0',
  granularity: 'tensor',
  intervention: 'mean',
  'natural-count': '16',
  // Not the default (0.02): the page must hand its own threshold to the analysis, as --threshold.
  'component-threshold': '0.5',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};

async function builtFiles(outDir: string) {
  const files: Record<string, { type: string; body: Uint8Array }> = {};
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(file);
      else
        files[`/${path.relative(outDir, file)}`] = {
          type: TYPES[path.extname(file)] ?? 'application/octet-stream',
          body: await readFile(file),
        };
    }
  };
  await walk(outDir);
  files['/'] = files['/index.html']!;
  return files;
}

/** Sets the page's option fields as a person would type them. */
async function setOptions(page: Page, options: Record<string, string>): Promise<void> {
  await page.evaluate((values) => {
    for (const [key, value] of Object.entries(values)) {
      const input = document.getElementById(`opt-${key}`) as HTMLInputElement | HTMLSelectElement;
      input.value = value;
      input.dispatchEvent(new Event('change'));
    }
  }, options);
}

/** Presses Explain and waits for the run to end; the result.json offered for download. */
async function explainOnPage(
  page: Page,
  backend: 'webgpu' | 'wasm' | 'auto',
): Promise<ExplanationResult> {
  await setOptions(page, { ...SMALL, backend });
  return runToEnd(page);
}

/** Presses Explain with the options as they are, waits for the run to end, checks it said
 * nothing, and reads the result.json offered for download. */
async function runToEnd(page: Page): Promise<ExplanationResult> {
  await page.click('#run');
  await page.waitForSelector('body[data-state="running"]');
  await page.waitForSelector('body[data-state="done"], body[data-state="failed"]', {
    timeout: 400_000,
  });
  const message = await page.$eval('#message', (element) => element.textContent);
  expect(message).toBe('');
  const text = await page.$eval('#download-result-json', async (link) =>
    (await fetch((link as HTMLAnchorElement).href)).text(),
  );
  return JSON.parse(text) as ExplanationResult;
}

/** Presses Rank components, waits for the run to end, checks it said nothing and filled the
 * table, and reads the result.json offered for download. */
async function rankOnPage(page: Page): Promise<ComponentAnalysisResult> {
  await page.click('#run-components');
  await page.waitForSelector('body[data-state="running"]');
  await page.waitForSelector('body[data-state="done"], body[data-state="failed"]', {
    timeout: 300_000,
  });
  expect(await page.$eval('#message', (element) => element.textContent)).toBe('');
  expect(await page.$eval('#component-table', (element) => (element as HTMLElement).hidden)).toBe(
    false,
  );
  const text = await page.$eval('#download-result-json', async (link) =>
    (await fetch((link as HTMLAnchorElement).href)).text(),
  );
  return JSON.parse(text) as ComponentAnalysisResult;
}

/** Presses Use the demo and waits until the demo is loaded and the options are back to its own. */
async function backToDemo(page: Page): Promise<void> {
  await page.click('#use-demo');
  await page.waitForFunction(
    () =>
      document.body.dataset.state === 'ready' &&
      document.getElementById('run-status')!.textContent!.startsWith('Demo ready'),
  );
}

/** Coloured (map) pixels drawn on the map canvas. */
function colouredPixels(page: Page): Promise<number> {
  return page.$eval('#map-canvas', (element) => {
    const canvas = element as HTMLCanvasElement;
    const context = canvas.getContext('2d')!;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      if (a > 0 && !(r === 255 && g === 212 && b === 0)) count++;
    }
    return count;
  });
}

/** `pdcr explain` on the same inputs as the page's small demo run. */
function cliExplain(out: string, backend: string): Promise<string> {
  const args = [
    'explain',
    ...['--model', 'data/nuclei-unet/unet2d-nuclei-broad.onnx'],
    ...['--image', 'data/dsb2018/img2d.tif', '--mask', 'data/dsb2018/mask2d.tif'],
    ...['--crop', SMALL.crop, '--roi', SMALL.roi, '--block', SMALL.block],
    ...['--preset', SMALL.preset, '--samples', SMALL.samples, '--screen', SMALL.screen],
    ...['--seed', SMALL.seed, '--size', 'image', '--normalize', 'zscore'],
    ...['--activation', 'sigmoid', '--backend', backend, '--out', out, '--quiet'],
  ];
  return runCli(args, out);
}

/** Runs the CLI from the repository's sources; the result.json it wrote into `out`. */
function runCli(args: readonly string[], out: string): Promise<string> {
  const command = ['tools/run-ts.mjs', 'packages/cli/src/main.ts', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { cwd: repository, stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(path.join(out, 'result.json'))
        : reject(new Error(`pdcr ${args[0]} exited ${code}: ${stderr}`)),
    );
  });
}

/** `pdcr components` on the same inputs as the page's component run. */
function cliComponents(
  out: string,
  backend: string,
  extra: readonly string[] = [],
): Promise<string> {
  return runCli(
    [
      'components',
      ...['--model', 'data/nuclei-unet/unet2d-nuclei-broad.onnx'],
      ...['--image', 'data/dsb2018/img2d.tif', '--mask', 'data/dsb2018/mask2d.tif'],
      ...['--crop', COMPONENTS.crop, '--roi', COMPONENTS.roi, '--select', COMPONENTS.select],
      ...['--granularity', COMPONENTS.granularity, '--intervention', COMPONENTS.intervention],
      ...['--natural-count', COMPONENTS['natural-count'], '--seed', COMPONENTS.seed],
      ...['--threshold', COMPONENTS['component-threshold']],
      ...['--size', 'image', '--normalize', 'zscore', '--activation', 'sigmoid'],
      ...['--backend', backend, '--out', out, '--quiet'],
      ...extra,
    ],
    out,
  );
}

/** A result without what differs between any two runs (timings) or tools (file paths). */
function comparable<T extends ExplanationResult | ComponentAnalysisResult>(result: T) {
  return {
    ...result,
    seconds: 0,
    modelSeconds: 0,
    model: { ...result.model, path: '' },
    image: { ...result.image, path: '' },
  };
}

describe('the page, built for production, in headless Chromium', () => {
  let chromium: LaunchedBrowser | undefined;
  let server: LocalServer | undefined;
  let outDir = '';
  let page: Page;
  let errors: string[] = [];

  beforeAll(async () => {
    if (missing) return;
    outDir = await mkdtemp(path.join(tmpdir(), 'pdcr-web-'));
    await mkdir(screenshotDir, { recursive: true });
    await build({
      root,
      configFile: path.join(root, 'vite.config.ts'),
      logLevel: 'silent',
      build: { outDir, emptyOutDir: true },
    });
    server = await serveFiles(await builtFiles(outDir));
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    errors = collectPageErrors(page);
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  const skipWithoutChromium = (context: { skip: (note: string) => void }) => {
    if (!missing) return;
    if (process.env['CI']) throw new Error(missing);
    console.warn(`skipping: ${missing}`);
    context.skip(missing);
  };

  it('opens with the demo ready and the GPU checked, without console errors', (context) => {
    skipWithoutChromium(context);
    return (async () => {
      expect(errors).toEqual([]);
      expect(await page.$eval('#device-status', (element) => element.textContent)).toMatch(
        /^WebGPU adapter: .*matches its CPU reference/,
      );
      expect(await page.$eval('#inputs-summary', (element) => element.textContent)).toContain(
        'unet2d-nuclei-broad.onnx',
      );
      expect(await page.$eval('#opt-roi', (element) => (element as HTMLInputElement).value)).toBe(
        '48,48,32,32',
      );
      expect(await page.evaluate(() => document.body.dataset['state'])).toBe('ready');
    })();
  });

  it('runs the demo on WebGPU and on wasm, fills the map, and matches the CLI on each', async (context) => {
    skipWithoutChromium(context);
    const webgpu = await explainOnPage(page, 'webgpu');
    const webgpuRate = await page.evaluate(() => document.body.dataset['passesPerSecond']);
    expect(webgpu.backend).toBe('webgpu');
    expect(webgpu.complete).toBe(true);
    expect(await colouredPixels(page)).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(screenshotDir, 'page-webgpu.png'), fullPage: true });

    const wasm = await explainOnPage(page, 'wasm');
    const wasmRate = await page.evaluate(() => document.body.dataset['passesPerSecond']);
    expect(wasm.backend).toBe('wasm');
    // Hovering the top-left block shows its ATE, interval and sample count. Pressing Explain
    // scrolled the form's end into view; the map is brought back into it first.
    await page.$eval('#map-canvas', (element) => element.scrollIntoView({ block: 'center' }));
    const box = (await (await page.$('#map-canvas'))!.boundingBox())!;
    await page.mouse.move(box.x + box.width / 8, box.y + box.height / 8);
    const first = wasm.blocks[0]!;
    expect(await page.$eval('#tooltip', (element) => element.textContent)).toBe(
      `block at row 0, column 0 (8x8): ATE ${first.ate.toFixed(4)}, 95% interval ` +
        `[${first.ciLow.toFixed(4)}, ${first.ciHigh.toFixed(4)}], n = ${first.n}` +
        (first.significant ? ', significant' : '') +
        (first.screened ? ', screened out' : ''),
    );
    console.info(
      `page demo, small configuration: ${webgpu.forwardPasses} passes; ` +
        `${webgpuRate} passes/s on WebGPU, ${wasmRate} passes/s on wasm`,
    );

    // The same map on both backends: hard Dice changes by whole pixels.
    expect(webgpu.forwardPasses).toBe(wasm.forwardPasses);
    expect(webgpu.baseScore).toBeCloseTo(wasm.baseScore, 5);
    for (const [i, block] of webgpu.blocks.entries()) {
      expect(block.ate).toBeCloseTo(wasm.blocks[i]!.ate, 4);
      expect(block.significant).toBe(wasm.blocks[i]!.significant);
    }

    const out = await mkdtemp(path.join(tmpdir(), 'pdcr-web-cli-'));
    try {
      const cli = JSON.parse(await readFile(await cliExplain(out, 'wasm'), 'utf8'));
      expect(comparable(wasm)).toEqual(comparable(cli as ExplanationResult));
      // The map's files are the CLI's byte for byte (stats.txt and the report carry timings).
      for (const name of ['ate.npy', 'heatmap.png', 'overlay.png']) {
        const downloaded = await page.$eval(`#download-${name.replace('.', '-')}`, async (link) => {
          const bytes = new Uint8Array(
            await (await fetch((link as HTMLAnchorElement).href)).arrayBuffer(),
          );
          return Array.from(bytes, (byte) => String.fromCharCode(byte)).join('');
        });
        expect(
          Buffer.from(downloaded, 'latin1').equals(await readFile(path.join(out, name))),
          name,
        ).toBe(true);
      }

      // The CLI on WebGPU runs the same kernels and onnxruntime-web build through Dawn on
      // SwiftShader in Node (about a minute of session creation). The two stacks have given the
      // same numbers to the last bit (ATEs, intervals, base score), so the whole result is
      // compared exactly, as on wasm; a difference here is a difference between the two paths.
      const cliWebgpu = JSON.parse(await readFile(await cliExplain(out, 'webgpu'), 'utf8'));
      expect(cliWebgpu.backend).toBe('webgpu');
      expect(comparable(webgpu)).toEqual(comparable(cliWebgpu as ExplanationResult));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    expect(errors).toEqual([]);
  }, 900_000);

  it('in a browser with no WebGPU adapter, says so, offers wasm only and runs the demo on it', async (context) => {
    skipWithoutChromium(context);
    const plain = await launchChromium({ webgpu: false });
    try {
      const other = await plain.browser.newPage();
      const otherErrors = collectPageErrors(other);
      await other.goto(server!.url, { waitUntil: 'load' });
      await other.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      expect(await other.evaluate(async () => await navigator.gpu.requestAdapter())).toBeNull();
      expect(await other.$eval('#device-status', (element) => element.textContent)).toMatch(
        /^No WebGPU adapter in this browser: explanations run on wasm/,
      );
      expect(
        await other.$eval('#opt-backend option[value="webgpu"]', (option) => [
          (option as HTMLOptionElement).disabled,
          option.textContent,
        ]),
      ).toEqual([true, 'WebGPU (no adapter here)']);
      await other.click('#run');
      await other.waitForFunction(
        () =>
          /this browser offers no WebGPU adapter/.test(
            document.getElementById('run-status')!.textContent ?? '',
          ) || document.body.dataset['state'] === 'failed',
      );
      expect(await other.$eval('#message', (element) => element.textContent)).toBe('');
      await other.click('#cancel');
      await other.waitForSelector(
        'body[data-state="cancelled"], body[data-state="done"], body[data-state="failed"]',
      );
      expect(await other.evaluate(() => document.body.dataset['state'])).not.toBe('failed');

      const result = await explainOnPage(other, 'auto');
      expect(result.backend).toBe('wasm');
      expect(result.complete).toBe(true);
      const out = await mkdtemp(path.join(tmpdir(), 'pdcr-web-cli-'));
      try {
        const cli = JSON.parse(await readFile(await cliExplain(out, 'wasm'), 'utf8'));
        expect(comparable(result)).toEqual(comparable(cli as ExplanationResult));
      } finally {
        await rm(out, { recursive: true, force: true });
      }
      expect(otherErrors).toEqual([]);
    } finally {
      await plain.close();
    }
  }, 300_000);

  it('refuses bad files with a message, changing nothing, and still runs the demo', async (context) => {
    skipWithoutChromium(context);
    const folder = await mkdtemp(path.join(tmpdir(), 'pdcr-web-bad-'));
    const bad = path.join(folder, 'broken.onnx');
    const badPatch = path.join(folder, 'broken.png');
    await writeFile(bad, 'this is not an ONNX model');
    const badImage = path.join(folder, 'not-an-image.tif');
    await writeFile(badPatch, 'this is not a PNG');
    await writeFile(badImage, 'this is not a TIFF');
    const upload = async (id: string, ...files: string[]) => {
      const picker = await page.$(`#${id}`);
      await (picker as unknown as { uploadFile(...files: string[]): Promise<void> }).uploadFile(
        ...files,
      );
      await page.waitForFunction(() => !(document.getElementById('message') as HTMLElement).hidden);
      return page.$eval('#message', (element) => element.textContent);
    };
    try {
      await explainOnPage(page, 'wasm');
      const drawn = await colouredPixels(page);
      expect(drawn).toBeGreaterThan(0);
      const summary = await page.$eval('#inputs-summary', (element) => element.textContent);

      expect(await upload('model-file', bad)).toMatch(/broken\.onnx/);
      expect(await upload('image-file', badImage)).toMatch(/not-an-image\.tif/);
      // A good patch image picked with a bad one: neither is taken.
      const good = path.join(repository, 'data/dsb2018/img2d.tif');
      expect(await upload('patch-files', good, badPatch)).toMatch(/broken\.png/);
      expect(await page.$eval('#inputs-summary', (element) => element.textContent)).toBe(summary);
      expect(await colouredPixels(page)).toBe(drawn);

      const result = await explainOnPage(page, 'wasm');
      expect(result.complete).toBe(true);
      expect(result.model.path).toBe('unet2d-nuclei-broad.onnx');
      expect(errors).toEqual([]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 300_000);

  it('cancels a run on wasm between batches and keeps the blocks it finished', async (context) => {
    skipWithoutChromium(context);
    // The demo as it opens, on the paper preset: 6,121 passes, minutes on wasm here. onnxruntime's
    // wasm runs give the worker's event loop no turn of their own, so this fails if the runner
    // stops yielding between batches: the cancel would wait for the whole run.
    // Fields an earlier run might have set: going back to the demo must reset them.
    await setOptions(page, { screen: '2', samples: '3', crop: SMALL.crop });
    await backToDemo(page);
    expect(await colouredPixels(page)).toBe(0);
    await setOptions(page, { preset: 'paper', backend: 'wasm' });
    await page.click('#run');
    // Cancelled once two batches are in.
    await page.waitForFunction(
      () => {
        const status = document.getElementById('run-status')!.textContent ?? '';
        return Number(/(\d+) of \d+ forward passes/.exec(status)?.[1] ?? 0) >= 128;
      },
      { timeout: 120_000 },
    );
    // The map fills in while the run goes: the running means of the blocks sampled so far.
    expect(await colouredPixels(page)).toBeGreaterThan(0);
    await page.click('#cancel');
    const cancelled = performance.now();
    await page.waitForSelector('body[data-state="cancelled"]', { timeout: 60_000 });
    // The batch in flight finishes (64 images, a few seconds on wasm here); no more start.
    expect(performance.now() - cancelled).toBeLessThan(30_000);
    expect(await page.$eval('#run-status', (element) => element.textContent)).toMatch(
      /^Cancelled: \d+ forward passes/,
    );
    const result = JSON.parse(
      await page.$eval('#download-result-json', async (link) =>
        (await fetch((link as HTMLAnchorElement).href)).text(),
      ),
    ) as ExplanationResult;
    expect(result.complete).toBe(false);
    // Back to the demo restored the options set above (screen 2, samples 3, a 32x32 crop).
    expect(result.parameters).toMatchObject({ screen: 3, samples: 50 });
    expect(result.forwardPasses).toBeLessThan(1000);
    expect(result.blocks.length).toBeGreaterThan(0);
    expect(result.blocks.length).toBeLessThan(240);
    // Only blocks whose draws all ran are kept, each with its own sample count.
    expect(result.blocks.every((block) => block.n >= 3)).toBe(true);
    expect(errors).toEqual([]);
  }, 300_000);

  it("runs a 256x256 crop on wasm on the RoI's window, to the CLI's map", async (context) => {
    skipWithoutChromium(context);
    // The RoI's receptive field is a 144x144 window of the crop: the page says so and records it.
    const options = { crop: '256,0,256,256', roi: '144,112,32,32', block: '32', preset: 'zero' };
    await setOptions(page, { ...options, backend: 'wasm' });
    const result = await runToEnd(page);
    expect(result.window).toEqual({ top: 88, left: 56, height: 144, width: 144 });
    expect(await page.$eval('#run-status', (element) => element.textContent)).toContain(
      "on the 144x144 window that holds the RoI's receptive field",
    );
    const out = await mkdtemp(path.join(tmpdir(), 'pdcr-web-cli-'));
    try {
      const cli = JSON.parse(
        await readFile(
          await runCli(
            [
              'explain',
              ...['--model', 'data/nuclei-unet/unet2d-nuclei-broad.onnx'],
              ...['--image', 'data/dsb2018/img2d.tif', '--mask', 'data/dsb2018/mask2d.tif'],
              ...['--crop', options.crop, '--roi', options.roi, '--block', options.block],
              ...['--preset', options.preset, '--size', 'image', '--normalize', 'zscore'],
              ...['--activation', 'sigmoid', '--backend', 'wasm', '--out', out, '--quiet'],
            ],
            out,
          ),
          'utf8',
        ),
      ) as ExplanationResult;
      expect(cli.window).toEqual(result.window);
      expect(comparable(result)).toEqual(comparable(cli));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    // Unticked, whole images: the same map, for the two passes of the window's check less.
    await page.click('#opt-window');
    const whole = await runToEnd(page);
    expect(whole.window).toBeUndefined();
    expect(whole.blocks).toEqual(result.blocks);
    expect(whole.forwardPasses).toBe(result.forwardPasses - 2);
    await backToDemo(page);
    expect(
      await page.$eval('#opt-window', (element) => (element as HTMLInputElement).checked),
    ).toBe(true);
    expect(errors).toEqual([]);
  }, 300_000);

  it('says so when the GPU device is lost mid-run, and runs on WebGPU again afterwards', async (context) => {
    skipWithoutChromium(context);
    // A page of its own, opened with the test hook that destroys the worker's device.
    const lossPage = await chromium!.browser.newPage();
    const lossErrors = collectPageErrors(lossPage);
    try {
      await lossPage.goto(`${server!.url}/?test-hooks`, { waitUntil: 'load' });
      await lossPage.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      // The demo's own configuration on the paper preset: minutes on SwiftShader, so the device
      // is lost well before the run could end.
      await setOptions(lossPage, { preset: 'paper', backend: 'webgpu' });
      await lossPage.click('#run');
      await lossPage.waitForFunction(
        () => /forward passes/.test(document.getElementById('run-status')!.textContent ?? ''),
        { timeout: 300_000 },
      );
      await lossPage.evaluate(() =>
        (window as unknown as { pdcrLoseDevice(): void }).pdcrLoseDevice(),
      );
      await lossPage.waitForSelector('body[data-state="failed"]', { timeout: 60_000 });
      expect(await lossPage.$eval('#message', (element) => element.textContent)).toMatch(
        /^the GPU device was lost \(.+\); the run stopped$/,
      );
      expect(await lossPage.$eval('#run-status', (element) => element.textContent)).toMatch(
        /^The GPU device was lost\. Run again/,
      );

      const again = await explainOnPage(lossPage, 'webgpu');
      expect(again.backend).toBe('webgpu');
      expect(again.complete).toBe(true);
      expect(await colouredPixels(lossPage)).toBeGreaterThan(0);
      expect(lossErrors).toEqual([]);
    } finally {
      await lossPage.close();
    }
  }, 600_000);

  it('ranks the components of the demo on wasm in a table, as pdcr components does', async (context) => {
    skipWithoutChromium(context);
    await setOptions(page, { ...COMPONENTS, backend: 'wasm' });
    const result = await rankOnPage(page);
    const download = (id: string) =>
      page.$eval(`#${id}`, async (link) => (await fetch((link as HTMLAnchorElement).href)).text());
    expect(result.kind).toBe('components');
    expect(result.backend).toBe('wasm');
    expect(result.complete).toBe(true);
    expect(result.parameters.threshold).toBe(0.5);
    expect(result.components.length).toBeGreaterThan(0);
    for (const effect of result.components) expect(effect.tensor).toMatch(/encoders\.0/);

    // The table lists every component, in the order of the ranking.
    const rows = await page.$$eval('#component-table tbody tr', (elements) =>
      elements.map((row) =>
        Array.from((row as HTMLTableRowElement).cells, (cell) => cell.textContent),
      ),
    );
    const fixed = (value: number) => value.toFixed(3);
    expect(rows).toEqual(
      result.components.map((effect, index) => [
        String(index + 1),
        effect.component,
        effect.operator,
        fixed(effect.ate),
        `[${fixed(effect.ciLow)}, ${fixed(effect.ciHigh)}]`,
        String(effect.n),
        effect.significant ? 'yes' : 'no',
      ]),
    );
    const table = await download('download-components-txt');
    for (const effect of result.components) expect(table).toContain(effect.component);
    const report = await download('download-report-html');
    expect(report).toContain('<h2>Ranking</h2>');
    for (const effect of result.components) expect(report).toContain(effect.component);
    await page.screenshot({
      path: path.join(screenshotDir, 'page-components.png'),
      fullPage: true,
    });

    const out = await mkdtemp(path.join(tmpdir(), 'pdcr-web-cli-components-'));
    try {
      const cli = JSON.parse(await readFile(await cliComponents(out, 'wasm'), 'utf8'));
      expect(comparable(result)).toEqual(comparable(cli as ComponentAnalysisResult));

      // Resampled, with the page's own cap and round: as --samples and --round.
      const drawFields = { 'component-samples': '4', 'component-round': '2' };
      await setOptions(page, { intervention: 'resample', ...drawFields });
      const resampled = await rankOnPage(page);
      expect(resampled.parameters).toMatchObject({ samples: 4, round: 2 });
      const drawFlags = ['--intervention', 'resample', '--samples', '4', '--round', '2'];
      const cliResampled = JSON.parse(
        await readFile(await cliComponents(out, 'wasm', drawFlags), 'utf8'),
      );
      expect(comparable(resampled)).toEqual(comparable(cliResampled as ComponentAnalysisResult));
    } finally {
      await setOptions(page, { 'component-samples': '', 'component-round': '' });
      await rm(out, { recursive: true, force: true });
    }
    expect(errors).toEqual([]);
  }, 400_000);
  it('takes a picked folder of patches for explaining, and as natural samples for components', async (context) => {
    skipWithoutChromium(context);
    const folder = await mkdtemp(path.join(tmpdir(), 'pdcr-web-patches-'));
    const patchDir = path.join(folder, 'patches');
    await mkdir(patchDir);
    // Sixteen 8x8 grey PNGs drawn by the page's own canvas, and a note the picker must skip.
    const pngs = await page.evaluate(async (count) => {
      const encoded: string[] = [];
      for (let k = 0; k < count; k++) {
        const canvas = new OffscreenCanvas(8, 8);
        const context = canvas.getContext('2d')!;
        const pixels = context.createImageData(8, 8);
        for (let i = 0; i < 64; i++) {
          const grey = (37 * k + 11 * i + ((i * i) % 13) * 9) % 256;
          pixels.data.set([grey, grey, grey, 255], 4 * i);
        }
        context.putImageData(pixels, 0, 0);
        const bytes = new Uint8Array(await (await canvas.convertToBlob()).arrayBuffer());
        encoded.push(btoa(String.fromCharCode(...bytes)));
      }
      return encoded;
    }, 16);
    const files = pngs.map((_, k) =>
      path.join(patchDir, `patch-${String(k).padStart(2, '0')}.png`),
    );
    await Promise.all(files.map((file, k) => writeFile(file, Buffer.from(pngs[k]!, 'base64'))));
    await writeFile(path.join(patchDir, 'notes.txt'), 'not an image');
    try {
      const picker = await page.$('#patch-folder');
      await (picker as unknown as { uploadFile(...files: string[]): Promise<void> }).uploadFile(
        patchDir,
      );
      await page.waitForFunction(() =>
        /; 16 patch images/.test(document.getElementById('inputs-summary')!.textContent ?? ''),
      );
      expect(await page.$eval('#message', (element) => element.textContent)).toBe('');

      const explained = await explainOnPage(page, 'wasm');
      expect(explained.parameters.patches).toBe(16);

      await setOptions(page, { ...COMPONENTS, backend: 'wasm' });
      const ranked = await rankOnPage(page);

      // The same as pdcr components --natural-from the patches, and not the same as without.
      const out = path.join(folder, 'cli');
      const fromPatches = JSON.parse(
        await readFile(await cliComponents(out, 'wasm', ['--natural-from', ...files]), 'utf8'),
      ) as ComponentAnalysisResult;
      expect(comparable(ranked)).toEqual(comparable(fromPatches));
      const fromImage = JSON.parse(
        await readFile(await cliComponents(out, 'wasm'), 'utf8'),
      ) as ComponentAnalysisResult;
      expect(comparable(ranked).components).not.toEqual(comparable(fromImage).components);
      expect(errors).toEqual([]);
    } finally {
      await backToDemo(page);
      await rm(folder, { recursive: true, force: true });
    }
  }, 400_000);
});
