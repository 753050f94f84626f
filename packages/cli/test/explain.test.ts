import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepModel } from '../../core/test/onnx-builder.ts';
import { buildCli, pdcr, removeCli } from './cli-harness.ts';

const HEIGHT = 40;
const WIDTH = 48;
const roi = { top: 16, left: 24, height: 8, width: 16 };
const helper = { top: 8, left: 32, height: 8, width: 8 };
const hinderer = { top: 32, left: 0, height: 8, width: 8 };
let folder = '';

function greyPng(pixel: (y: number, x: number) => number): Uint8Array {
  const data = new Uint8Array(HEIGHT * WIDTH);
  for (let y = 0; y < HEIGHT; y++)
    for (let x = 0; x < WIDTH; x++) data[y * WIDTH + x] = pixel(y, x);
  return encodePng({ width: WIDTH, height: HEIGHT, data, channels: 1, depth: 8 });
}

const inside = (region: typeof roi, y: number, x: number) =>
  y >= region.top &&
  y < region.top + region.height &&
  x >= region.left &&
  x < region.left + region.width;

/** Reads a .npy header: its dtype and shape, and where the data starts. */
function npyHeader(bytes: Uint8Array): { descr: string; shape: number[]; dataOffset: number } {
  expect(Array.from(bytes.subarray(0, 6))).toEqual([0x93, ...new TextEncoder().encode('NUMPY')]);
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + length));
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  return { descr: /'descr': '([^']+)'/.exec(header)![1]!, shape, dataOffset: 10 + length };
}

beforeAll(async () => {
  await buildCli();
  folder = await mkdtemp(path.join(tmpdir(), 'pdcr-cli-'));
  await writeFile(
    path.join(folder, 'step.onnx'),
    stepModel({
      height: HEIGHT,
      width: WIDTH,
      roi,
      helper,
      hinderer,
      level: 0.5,
      fixedBatch: true,
    }),
  );
  await writeFile(
    path.join(folder, 'image.png'),
    greyPng((y, x) => (inside(helper, y, x) || inside(hinderer, y, x) ? 255 : (y * 7 + x) % 100)),
  );
  await writeFile(
    path.join(folder, 'mask.png'),
    greyPng((y, x) => (inside(roi, y, x) ? 255 : 0)),
  );
  await writeFile(
    path.join(folder, 'small-mask.png'),
    encodePng({ width: 8, height: 8, data: new Uint8Array(64), channels: 1, depth: 8 }),
  );
  await writeFile(path.join(folder, 'notes.png'), 'this is not an image');
  await writeFile(
    path.join(folder, 'cut.onnx'),
    (await readFile(path.join(folder, 'step.onnx'))).subarray(0, 200),
  );
});

afterAll(async () => {
  await removeCli();
  await rm(folder, { recursive: true, force: true });
});

function explainArgs(out: string, overrides: Record<string, string> = {}): string[] {
  const flags: Record<string, string> = {
    '--model': path.join(folder, 'step.onnx'),
    '--image': path.join(folder, 'image.png'),
    '--mask': path.join(folder, 'mask.png'),
    '--roi': `${roi.top},${roi.left},${roi.height},${roi.width}`,
    '--block': '8',
    '--patch-count': '50',
    '--binarize': '0',
    '--out': out,
    ...overrides,
  };
  return ['explain', ...Object.entries(flags).flat(), '--quiet'];
}

describe('pdcr explain', () => {
  it('writes every output, each readable, on a model whose effects are known', async () => {
    const out = path.join(folder, 'out');
    const run = await pdcr(explainArgs(out));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/report at .*report\.html/);
    expect((await readdir(out)).sort()).toEqual([
      'ate.npy',
      'heatmap.png',
      'overlay.png',
      'report.html',
      'result.json',
      'stats.txt',
    ]);

    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    for (const field of [
      'version',
      'model',
      'image',
      'roi',
      'block',
      'preset',
      'seed',
      'backend',
      'outcome',
      'baseScore',
      'forwardPasses',
      'seconds',
      'blocks',
      'summary',
    ]) {
      expect(result, field).toHaveProperty(field);
    }
    expect(result.model).toMatchObject({
      path: path.join(folder, 'step.onnx'),
      inputName: 'image',
      outputName: 'map',
    });
    expect(result.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.image).toEqual({
      path: path.join(folder, 'image.png'),
      height: HEIGHT,
      width: WIDTH,
    });
    expect(result.roi).toEqual(roi);
    expect(result.block).toEqual({ height: 8, width: 8 });
    expect(result.outcome).toMatchObject({ metric: 'hardDice', reference: 'mask' });
    for (const field of ['top', 'left', 'ate', 'se', 'n', 'ciLow', 'ciHigh', 'significant']) {
      expect(result.blocks[0], field).toHaveProperty(field);
    }
    expect(Object.keys(result.summary).sort()).toEqual(['negative', 'positive', 'zero']);

    const npy = new Uint8Array(await readFile(path.join(out, 'ate.npy')));
    const { descr, shape, dataOffset } = npyHeader(npy);
    expect(descr).toBe('<f4');
    expect(shape).toEqual([HEIGHT, WIDTH]);
    expect(dataOffset % 64).toBe(0);
    expect(npy.length - dataOffset).toBe(HEIGHT * WIDTH * 4);
    // The helper block (rows 8-15, columns 32-39) holds its ATE in every pixel, negative.
    const ate = new Float32Array(npy.slice(dataOffset).buffer);
    const helperAte = result.blocks.find(
      (block: { top: number; left: number }) =>
        block.top === helper.top && block.left === helper.left,
    ).ate;
    expect(helperAte).toBeLessThan(0);
    expect(ate[helper.top * WIDTH + helper.left]).toBeCloseTo(helperAte, 4);
    expect(ate[(helper.top + 7) * WIDTH + helper.left + 7]).toBeCloseTo(helperAte, 4);

    const stats = await readFile(path.join(out, 'stats.txt'), 'utf8');
    expect(stats).toMatch(/^Base Dice: /);
    expect(stats).toMatch(/\[-0\.02, 0\.02\): \d+/);
    for (const png of ['heatmap.png', 'overlay.png']) {
      expect(Array.from((await readFile(path.join(out, png))).subarray(1, 4))).toEqual([
        0x50, 0x4e, 0x47,
      ]);
    }
  });

  it.for([
    [
      'a model that does not exist',
      { '--model': '/nonexistent/model.onnx' },
      /^pdcr: \/nonexistent\/model\.onnx: cannot be read/,
    ],
    ['a truncated model', { '--model': 'cut.onnx' }, /^pdcr: .*cut\.onnx: /],
    [
      'an image that is not one',
      { '--image': 'notes.png' },
      /^pdcr: .*notes\.png: is not a PNG, JPEG or TIFF image/,
    ],
    [
      'an RoI outside the image',
      { '--roi': '36,40,8,16' },
      /^pdcr: roi: 36,40,8,16 does not lie inside the 40x48 image/,
    ],
    [
      'a mask of the wrong size',
      { '--mask': 'small-mask.png' },
      /^pdcr: .*small-mask\.png: is 8x8 but the image is 40x48/,
    ],
    [
      'a malformed RoI',
      { '--roi': '1,2,3' },
      /^pdcr: option '--roi <top,left,height,width>' argument '1,2,3' is invalid\. give TOP,LEFT,HEIGHT,WIDTH/,
    ],
    [
      'a preset that does not exist',
      { '--preset': 'best' },
      /^pdcr: option '--preset <name>' argument 'best' is invalid/,
    ],
    [
      'a class the model does not have',
      { '--class': '5' },
      /^pdcr: class: 5 is not an output channel/,
    ],
  ] as const)('rejects %s with one line and writes nothing', async ([, overrides, message]) => {
    const out = path.join(folder, `bad-${Math.random().toString(36).slice(2)}`);
    const resolved = Object.fromEntries(
      Object.entries(overrides).map(([flag, value]) => [
        flag,
        /\.(png|onnx)$/.test(value) && !value.startsWith('/') ? path.join(folder, value) : value,
      ]),
    );
    const run = await pdcr(explainArgs(out, resolved));
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(folder)).filter((name) => name.includes('.partial-'))).toEqual([]);
  });

  it("runs the nuclei U-Net on the RoI's window, to the map --no-window gives", async () => {
    const data = (relative: string) =>
      fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
    const run = async (name: string, extra: string[]) => {
      const out = path.join(folder, name);
      const result = await pdcr([
        'explain',
        ...['--model', data('nuclei-unet/unet2d-nuclei-broad.onnx')],
        ...['--image', data('dsb2018/img2d.tif'), '--mask', data('dsb2018/mask2d.tif')],
        ...['--crop', '256,0,256,256', '--size', 'image', '--roi', '144,112,32,32'],
        ...['--normalize', 'zscore', '--activation', 'sigmoid', '--block', '32'],
        ...['--preset', 'zero', '--out', out, '--quiet', ...extra],
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return {
        stdout: result.stdout,
        json: JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8')),
        ate: await readFile(path.join(out, 'ate.npy')),
      };
    };
    const windowed = await run('window-out', []);
    const whole = await run('whole-out', ['--no-window']);
    expect(windowed.json.window).toEqual({ top: 88, left: 56, height: 144, width: 144 });
    expect(windowed.stdout).toContain(
      "on the 144x144 window at 88,56 that holds the RoI's receptive field",
    );
    expect(whole.json.window).toBeUndefined();
    expect(whole.stdout).not.toContain('window');
    expect(windowed.json.blocks).toEqual(whole.json.blocks);
    // The check: the untouched image's output on the RoI, whole and on the window.
    expect(windowed.json.forwardPasses).toBe(whole.json.forwardPasses + 2);
    expect(windowed.ate.equals(whole.ate)).toBe(true);
  });
});
