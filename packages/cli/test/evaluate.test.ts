import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

const inside = (region: typeof roi, y: number, x: number) =>
  y >= region.top &&
  y < region.top + region.height &&
  x >= region.left &&
  x < region.left + region.width;

function greyPng(
  pixel: (y: number, x: number) => number,
  height = HEIGHT,
  width = WIDTH,
): Uint8Array {
  const data = new Uint8Array(height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = pixel(y, x);
  return encodePng({ width, height, data, channels: 1, depth: 8 });
}

/** The test image, and the same image inside a larger one at (CROP_TOP, CROP_LEFT). */
const CROP_TOP = 5;
const CROP_LEFT = 7;
const imagePixel = (y: number, x: number) =>
  inside(helper, y, x) || inside(hinderer, y, x) ? 255 : (y * 7 + x) % 100;
const maskPixel = (y: number, x: number) => (inside(roi, y, x) ? 255 : 0);
const framed = (pixel: (y: number, x: number) => number) => (y: number, x: number) =>
  y >= CROP_TOP && y < CROP_TOP + HEIGHT && x >= CROP_LEFT && x < CROP_LEFT + WIDTH
    ? pixel(y - CROP_TOP, x - CROP_LEFT)
    : 200;

beforeAll(async () => {
  await buildCli();
  folder = await mkdtemp(path.join(tmpdir(), 'pdcr-evaluate-'));
  const model = stepModel({ height: HEIGHT, width: WIDTH, roi, helper, hinderer, level: 0.5 });
  await writeFile(path.join(folder, 'step.onnx'), model);
  const image = greyPng(imagePixel);
  const mask = greyPng(maskPixel);
  await writeFile(path.join(folder, 'image.png'), image);
  await writeFile(path.join(folder, 'mask.png'), mask);
  const [bigHeight, bigWidth] = [HEIGHT + 2 * CROP_TOP, WIDTH + 2 * CROP_LEFT];
  await writeFile(path.join(folder, 'big.png'), greyPng(framed(imagePixel), bigHeight, bigWidth));
  await writeFile(
    path.join(folder, 'big-mask.png'),
    greyPng(framed(maskPixel), bigHeight, bigWidth),
  );
  await mkdir(path.join(folder, 'images'));
  await mkdir(path.join(folder, 'masks'));
  for (const stem of ['first', 'second']) {
    await writeFile(path.join(folder, 'images', `${stem}.png`), image);
    await writeFile(path.join(folder, 'masks', `${stem}_segmentation.png`), mask);
  }
  await writeFile(path.join(folder, 'rois.txt'), 'first 16 24\nsecond 16 24\n');
  await writeFile(path.join(folder, 'missing.txt'), 'first 16 24\nthird 16 24\n');
  await writeFile(path.join(folder, 'outside.txt'), 'first 16 24\nsecond 36 40\n');
  await writeFile(path.join(folder, 'whole.txt'), '# one RoI\nfirst 0 0\n');
});

afterAll(async () => {
  await removeCli();
  await rm(folder, { recursive: true, force: true });
});

const common = (out: string) => [
  '--model',
  path.join(folder, 'step.onnx'),
  '--block',
  '8',
  '--binarize',
  '0',
  '--patch-count',
  '50',
  '--out',
  out,
  '--quiet',
];

describe('pdcr evaluate', () => {
  it('writes the curves of every method and a report; the true effects beat a random order', async () => {
    const out = path.join(folder, 'out');
    const run = await pdcr([
      'evaluate',
      ...common(out),
      '--image',
      path.join(folder, 'image.png'),
      '--mask',
      path.join(folder, 'mask.png'),
      '--roi',
      `${roi.top},${roi.left},${roi.height},${roi.width}`,
      '--methods',
      'zero,mean,random,rise',
      '--rise-masks',
      '32',
      '--removal',
      'patch',
      '--draws',
      '4',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^zero +deletion /m);
    expect(run.stdout).toMatch(/report at .*report\.html/);
    expect((await readdir(out)).sort()).toEqual(['report.html', 'result.json']);

    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      kind: 'faithfulness',
      removal: 'patch',
      draws: 4,
      intervalOver: 'draws',
      complete: true,
    });
    expect(result.note).toMatch(/never removed/);
    const [image] = result.images;
    expect(image.rankedBlocks).toBe(28);
    const byMethod = Object.fromEntries(
      image.methods.map((method: { method: string }) => [method.method, method]),
    );
    expect(Object.keys(byMethod)).toEqual(['zero', 'mean', 'random', 'rise']);
    for (const method of image.methods) {
      expect(method.deletion.scores).toHaveLength(29);
      expect(method.insertion.scores).toHaveLength(29);
      expect(method.deletion.scores[0]).toBeCloseTo(image.baseScore, 4);
      expect(method.insertion.scores[28]).toBeCloseTo(image.baseScore, 4);
    }
    expect(byMethod.zero.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });
    expect(byMethod.zero.deletion.area).toBeLessThan(byMethod.random.deletion.area);
    expect(byMethod.zero.insertion.area).toBeGreaterThan(byMethod.random.insertion.area);
    // Removal by natural patches: the zero map's order (the true effects) beats a random one
    // under the removal the maps were not made with.
    expect(byMethod.zero.deletion.draws).toHaveLength(4);
    expect(byMethod.zero.deletion.areaLow).toBeLessThanOrEqual(byMethod.zero.deletion.area);
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<canvas id="insertion">');
    expect(html).not.toMatch(/<script src=/);
  });

  it('says there is no interval for one deterministic draw, and stores none', async () => {
    const out = path.join(folder, 'zero-out');
    const run = await pdcr([
      'evaluate',
      ...common(out),
      '--image',
      path.join(folder, 'image.png'),
      '--mask',
      path.join(folder, 'mask.png'),
      '--roi',
      `${roi.top},${roi.left},${roi.height},${roi.width}`,
      '--methods',
      'zero,random',
      '--removal',
      'zero',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/no interval \(one deterministic draw\)/);
    expect(run.stdout).not.toMatch(/95% CI|\[/);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({ removal: 'zero', draws: 1, intervalOver: 'none' });
    for (const entry of result.summary) {
      expect(entry.deletion).toMatchObject({ low: null, high: null });
      expect(entry.insertion).toMatchObject({ low: null, high: null });
    }
    expect(result.images[0].methods[0].deletion).toMatchObject({ areaLow: null, areaHigh: null });
  });

  it('evaluates a crop of a larger image as it evaluates the image itself', async () => {
    const runOn = async (name: string, flags: string[]) => {
      const out = path.join(folder, name);
      const run = await pdcr([
        'evaluate',
        ...common(out),
        ...flags,
        '--roi',
        `${roi.top},${roi.left},${roi.height},${roi.width}`,
        '--methods',
        'zero,random',
        '--removal',
        'zero',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      return JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    };
    const whole = await runOn('whole-out', [
      '--image',
      path.join(folder, 'image.png'),
      '--mask',
      path.join(folder, 'mask.png'),
    ]);
    const cropped = await runOn('crop-out', [
      '--image',
      path.join(folder, 'big.png'),
      '--mask',
      path.join(folder, 'big-mask.png'),
      '--crop',
      `${CROP_TOP},${CROP_LEFT},${HEIGHT},${WIDTH}`,
    ]);
    expect(cropped.images[0].image).toMatchObject({ height: HEIGHT, width: WIDTH });
    expect(cropped.images[0].baseScore).toBeCloseTo(whole.images[0].baseScore, 6);
    expect(cropped.images[0].methods[0].ranking).toEqual(whole.images[0].methods[0].ranking);
    expect(cropped.images[0].methods[0].ranking[0]).toMatchObject({
      top: helper.top,
      left: helper.left,
    });
  });

  it("runs the nuclei U-Net on the RoI's window, to the curves --no-window gives", async () => {
    const data = (relative: string) =>
      fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
    const run = async (name: string, extra: string[]) => {
      const out = path.join(folder, name);
      const result = await pdcr([
        'evaluate',
        ...['--model', data('nuclei-unet/unet2d-nuclei-broad.onnx')],
        ...['--image', data('dsb2018/img2d.tif'), '--mask', data('dsb2018/mask2d.tif')],
        ...['--crop', '256,0,256,256', '--size', 'image', '--roi', '144,112,32,32'],
        ...['--normalize', 'zscore', '--activation', 'sigmoid', '--block', '32'],
        ...['--methods', 'zero,random', '--removal', 'mean', '--out', out, '--quiet', ...extra],
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    };
    const windowed = await run('window-evaluation', []);
    const whole = await run('whole-evaluation', ['--no-window']);
    expect(windowed.images[0].window).toEqual({ top: 88, left: 56, height: 144, width: 144 });
    expect(whole.images[0].window).toBeUndefined();
    type Method = { method: string; forwardPasses: number; seconds: number };
    const curves = (result: typeof whole) =>
      result.images[0].methods.map(
        ({ seconds: _, forwardPasses: __, ...method }: Method) => method,
      );
    expect(curves(windowed)).toEqual(curves(whole));
    expect(windowed.images[0].methods[0].deletion.scores.length).toBe(
      windowed.images[0].rankedBlocks + 1,
    );
    expect(windowed.images[0].baseScore).toBe(whole.images[0].baseScore);
    // The whole image's output on the RoI and the window's, checked equal before any batch: by
    // the curves, and by the zero map, which explain runs on a window of its own.
    const passes = (result: typeof whole) =>
      result.images[0].methods.map(({ forwardPasses }: Method) => forwardPasses);
    const [zeroMap, randomMap] = passes(whole);
    expect(passes(windowed)).toEqual([zeroMap + 2, randomMap]);
    expect(windowed.images[0].basePasses).toBe(whole.images[0].basePasses + 2);
    expect(windowed.forwardPasses).toBe(whole.forwardPasses + 4);
  });

  it("evaluates a list in the paper's format, with intervals over its images", async () => {
    const out = path.join(folder, 'list-out');
    const run = await pdcr([
      'evaluate',
      ...common(out),
      '--rois',
      path.join(folder, 'rois.txt'),
      '--images',
      path.join(folder, 'images'),
      '--masks',
      path.join(folder, 'masks'),
      '--roi-size',
      '8',
      '--methods',
      'mean,random',
      '--curve',
      'deletion',
      '--removal',
      'patch',
      '--draws',
      '2',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    expect(result.images).toHaveLength(2);
    expect(result.intervalOver).toBe('images');
    expect(result.summary[0]).toMatchObject({ method: 'mean', images: 2 });
    expect(result.summary[0].insertion).toBeUndefined();
    expect(result.images[0].methods[0].deletion.draws).toHaveLength(2);
  });

  it("reads the paper's own list: names the first image it lacks, and runs the one at hand", async () => {
    const data = (relative: string) =>
      fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
    const paperList = data('ham10000/rois.txt');
    const out = path.join(folder, 'paper-list-out');
    // Fifty lines (CRLF); of their images only the first, the paper's demo image, is in the repository.
    const missing = await pdcr([
      'evaluate',
      ...['--model', data('nuclei-unet/unet2d-nuclei-broad.onnx')],
      ...['--rois', paperList, '--images', data('ham10000'), '--out', out],
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(
      /^pdcr: .*rois\.txt:2: no image ISIC_0033495\.png\/\.jpg\/\.tif in /,
    );
    expect(existsSync(out)).toBe(false);

    // Its first line as a list of one: the image and mask resized to 256x256 as the paper does,
    // the RoI at (72, 88); the nuclei U-Net stands in for the paper's lesion model.
    const firstLine = (await readFile(paperList, 'utf8')).split(/\r?\n/)[0]!;
    expect(firstLine).toBe('ISIC_0033556 72 88');
    await writeFile(path.join(folder, 'paper-first.txt'), `${firstLine}\n`);
    const run = await pdcr([
      'evaluate',
      ...['--model', data('nuclei-unet/unet2d-nuclei-broad.onnx')],
      ...['--rois', path.join(folder, 'paper-first.txt'), '--images', data('ham10000')],
      ...['--masks', data('ham10000'), '--size', '256x256', '--normalize', 'zscore'],
      ...['--activation', 'sigmoid', '--block', '32', '--methods', 'zero'],
      ...['--curve', 'deletion', '--removal', 'zero', '--out', out, '--quiet'],
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    const [image] = result.images;
    expect(image.roi).toEqual({ top: 72, left: 88, height: 32, width: 32 });
    // 64 blocks of 32 on 256x256; the RoI at (72, 88) touches four of them.
    expect(image.rankedBlocks).toBe(60);
    expect(image.methods[0].deletion.scores).toHaveLength(61);
  });

  it('runs a removal and methods that take no patches where no patch could be cut', async () => {
    // Blocks of 10 on a 40x48 image: the last column of blocks is 8 wide. The RoI covers the
    // rest, so only that strip, narrower than a block, is ranked, and no 10x10 patch fits
    // outside the RoI.
    const out = path.join(folder, 'strip-out');
    const run = await pdcr([
      'evaluate',
      ...common(out),
      ...['--image', path.join(folder, 'image.png'), '--mask', path.join(folder, 'mask.png')],
      ...['--roi', '0,0,40,40', '--block', '10', '--methods', 'zero,random', '--removal', 'zero'],
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    const [image] = result.images;
    expect(image.rankedBlocks).toBe(4);
    for (const method of image.methods) {
      expect(method.deletion.scores).toHaveLength(5);
      expect(method.ranking.map((block: { left: number }) => block.left)).toEqual([40, 40, 40, 40]);
    }
  });

  it.for([
    [
      'an RoI that touches every block, under a removal and methods that take no patches',
      [
        ...['--image', 'image.png', '--roi', '0,0,40,44'],
        ...['--removal', 'zero', '--methods', 'zero'],
      ],
      /^pdcr: roi: 0,0,40,44 touches every 8x8 block of the 40x48 image; nothing outside it can be removed/,
    ],
    [
      'an RoI that touches every block, before any patch is cut',
      ['--image', 'image.png', '--roi', '0,0,40,44', '--methods', 'pdcr'],
      /^pdcr: roi: 0,0,40,44 touches every 8x8 block/,
    ],
    [
      "a list's RoI that touches every block, named by its line",
      [
        ...['--rois', 'whole.txt', '--images', 'images', '--roi-size', '40', '--block', '16'],
        ...['--removal', 'zero', '--methods', 'zero'],
      ],
      /^pdcr: .*whole\.txt:2: 0,0,40,40 touches every 16x16 block of the 40x48 image/,
    ],
    [
      "patches that cannot be cut away from the RoI, by evaluate's own flags",
      [
        ...['--image', 'image.png', '--roi', '0,0,40,40', '--block', '10'],
        ...['--methods', 'zero', '--removal', 'patch'],
      ],
      /^pdcr: patch-count: 50 patches of 10x10 cannot be cut from .*image\.png \(40x48 as the model sees it\) away from the RoI 0,0,40,40: .*Give --patches DIR, a smaller --patch-count, --block or RoI, or, where no natural patches are wanted, --removal zero\|mean\|blur with methods other than pdcr and paper\n/,
    ],
    [
      'an RoI outside the image',
      ['--image', 'image.png', '--roi', '36,40,8,16'],
      /^pdcr: roi: 36,40,8,16 does not lie inside the 40x48 image/,
    ],
    [
      'a list naming an image that is not there',
      ['--rois', 'missing.txt', '--images', 'images', '--roi-size', '8'],
      /^pdcr: .*missing\.txt:2: no image third/,
    ],
    [
      // RISE with a million masks would take minutes on the first image: the second line's RoI
      // must be refused before any image is evaluated.
      'a list whose second RoI lies outside its image, before the first image runs',
      [
        ...['--rois', 'outside.txt', '--images', 'images', '--roi-size', '8'],
        ...['--methods', 'rise', '--rise-masks', '1000000'],
      ],
      /^pdcr: .*outside\.txt:2: 36,40,8,8 does not lie inside the 40x48 image/,
    ],
    [
      'a crop that does not fit the image',
      ['--image', 'image.png', '--crop', '8,8,40,48', '--roi', '0,0,8,8'],
      /^pdcr: .*image\.png: is 40x48, too small for the crop 8,8,40,48/,
    ],
  ] as const)('rejects %s with one line and writes nothing', async ([, flags, message]) => {
    const out = path.join(folder, `bad-${Math.random().toString(36).slice(2)}`);
    const resolved = flags.map((flag) =>
      /\.(png|txt)$|^images$/.test(flag) ? path.join(folder, flag) : flag,
    );
    const run = await pdcr(['evaluate', ...common(out), ...resolved]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(folder)).filter((name) => name.includes('.partial-'))).toEqual([]);
  });
});
