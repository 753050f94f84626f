// `pnpm bench:backends`: the nuclei U-Net explained end to end on each backend Node offers, on
// the same crop, preset and seed; forward passes, seconds, passes per second. Not a test.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  cropImage,
  cutPatchBank,
  explain,
  Logger,
  ModelRunner,
  SeededRandom,
  toBinaryMask,
  toPlanar,
  type Backend,
} from '../src/index.ts';
import { nodeRuntimes, readImageFile } from '../src/node/index.ts';

const data = (relative: string) =>
  fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
const backends = (process.argv[2]?.split(',') ?? ['cpu', 'wasm', 'webgpu']) as Backend[];
// SwiftShader runs the U-Net at seconds per pass: the crop is kept small so every backend finishes.
const crop = { top: 400, left: 112, height: 32, width: 32 };
const roi = { top: 8, left: 8, height: 16, width: 16 };

const bytes = await readFile(data('nuclei-unet/unet2d-nuclei-broad.onnx'));
const image = cropImage(toPlanar(await readImageFile(data('dsb2018/img2d.tif')), 1), crop);
const mask = cropImage(toBinaryMask(await readImageFile(data('dsb2018/mask2d.tif'))), crop);
const rows: string[] = [];
for (const backend of backends) {
  const loadStart = performance.now();
  const model = await ModelRunner.load({
    bytes,
    name: 'unet2d-nuclei-broad.onnx',
    runtimes: nodeRuntimes(),
    backend,
    imageSize: crop,
    size: 'image',
    maxBatchSize: 16,
    logger: new Logger('silent'),
  });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const result = await explain({
    model,
    image,
    mask,
    roi,
    block: { height: 8, width: 8 },
    patchBank: cutPatchBank([image], 32, 8, 8, new SeededRandom(5).fork('bank'), roi),
    preprocessing: { kind: 'zscore', epsilon: 1e-6 },
    outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
    preset: 'paper',
    seed: 5,
  });
  await model.release();
  rows.push(
    `| ${backend} | ${loadSeconds.toFixed(1)} | ${result.forwardPasses} | ${result.seconds.toFixed(2)} | ` +
      `${(result.forwardPasses / result.seconds).toFixed(1)} | ${result.baseScore.toFixed(2)} | ` +
      `${result.summary.positive}/${result.summary.negative}/${result.summary.zero} |`,
  );
}
console.log(
  `nuclei U-Net, DSB2018 crop ${crop.height}x${crop.width} at (${crop.top}, ${crop.left}), RoI 16x16, blocks 8, paper preset, batches of 16`,
);
console.log('');
console.log(
  '| backend | load s | forward passes | explain s | passes/s | base Dice | +/-/0 blocks |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const row of rows) console.log(row);
process.exit(0);
