// `pnpm bench:faithfulness`: how faithful each method's map is on the nuclei U-Net, by deletion
// and insertion curves over several RoIs of one crop of the DSB2018 image. Not a test.
//
// The demo's 128x128 crop, blocks of 16 (64 blocks; blocks of 8 would cost four times the
// curves), per-image z-score, sigmoid, binarised at 0.5, against the ground-truth mask. The RoIs
// are five 32x32 windows on the block grid that share no pixel, the busiest first (most
// foreground in the mask). Curves remove blocks by natural patches cut from the crop away from
// the RoI, averaged over 2 draws; `evaluateImage` estimates the maps with the other half of the
// bank. `--removal zero|mean|blur` and `--draws N` change that. The intervals are 95% Student-t
// intervals over the RoIs of this one crop, not over images: they say how the verdict varies
// across the crop.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Region } from '@pdcr/kernels';
import {
  cropImage,
  cutPatchBank,
  evaluateImage,
  FAITHFULNESS_METHODS,
  FaithfulnessError,
  faithfulnessResult,
  formatArea,
  Logger,
  ModelRunner,
  REMOVALS,
  SeededRandom,
  toBinaryMask,
  toPlanar,
  type FaithfulnessResult,
  type ImageEvaluation,
  type Removal,
} from '../src/index.ts';
import { nodeRuntimes, readImageFile } from '../src/node/index.ts';

const CROP = { top: 352, left: 64, height: 128, width: 128 };
const BLOCK = 16;
const ROI_SIZE = 32;
const ROI_COUNT = 5;
const data = (relative: string) =>
  fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
const overlaps = (a: Region, b: Region) =>
  a.top < b.top + b.height &&
  b.top < a.top + a.height &&
  a.left < b.left + b.width &&
  b.left < a.left + a.width;
const argument = (name: string) =>
  process.argv.includes(name) ? (process.argv[process.argv.indexOf(name) + 1] ?? '') : undefined;
const removal = removalArgument(argument('--removal') ?? 'patch');
const draws = drawsArgument(argument('--draws') ?? '2');

function removalArgument(text: string): Removal {
  const known = REMOVALS.find((name) => name === text);
  if (known) return known;
  return refuse(
    new FaithfulnessError(
      'removal',
      `"${text}" is not a removal; give one of ${REMOVALS.join(', ')} (default patch)`,
    ),
  );
}

function drawsArgument(text: string): number {
  if (/^\d+$/.test(text) && Number(text) >= 1) return Number(text);
  return refuse(
    new FaithfulnessError('draws', `${text} is not a whole number of at least 1; give e.g. 2`),
  );
}

/** A bad argument: its one line and exit 2, no stack trace, before anything is loaded. */
function refuse(error: FaithfulnessError): never {
  console.error(`bench:faithfulness: --${error.message}`);
  process.exit(2);
}

const image = cropImage(toPlanar(await readImageFile(data('dsb2018/img2d.tif')), 1), CROP);
const mask = cropImage(toBinaryMask(await readImageFile(data('dsb2018/mask2d.tif'))), CROP);

/**
 * ROI_COUNT windows on the block grid that share no pixel, taken greedily by foreground (the
 * busiest first, ties in grid order), each skipped where it overlaps one already taken.
 */
function busiestRois(): Region[] {
  const windows: { roi: Region; foreground: number }[] = [];
  for (let top = 0; top + ROI_SIZE <= CROP.height; top += BLOCK) {
    for (let left = 0; left + ROI_SIZE <= CROP.width; left += BLOCK) {
      let foreground = 0;
      for (let y = top; y < top + ROI_SIZE; y++) {
        for (let x = left; x < left + ROI_SIZE; x++) foreground += mask.data[y * CROP.width + x]!;
      }
      windows.push({ roi: { top, left, height: ROI_SIZE, width: ROI_SIZE }, foreground });
    }
  }
  const chosen: Region[] = [];
  for (const { roi } of windows.sort((a, b) => b.foreground - a.foreground)) {
    if (chosen.length === ROI_COUNT) break;
    if (!chosen.some((taken) => overlaps(taken, roi))) chosen.push(roi);
  }
  return chosen;
}

const model = await ModelRunner.load({
  bytes: await readFile(data('nuclei-unet/unet2d-nuclei-broad.onnx')),
  name: 'unet2d-nuclei-broad.onnx',
  runtimes: nodeRuntimes(),
  backend: 'cpu',
  imageSize: CROP,
  size: 'image',
  logger: new Logger('silent'),
});
const outcome = {
  activation: 'sigmoid',
  classIndex: 0,
  binarize: 0.5,
  metric: 'hardDice',
} as const;
const started = performance.now();
const images: ImageEvaluation[] = [];
let result: FaithfulnessResult;
try {
  for (const roi of busiestRois()) {
    const patchBank = cutPatchBank(
      [image],
      1000,
      BLOCK,
      BLOCK,
      new SeededRandom(0).fork('patch bank'),
      roi,
    );
    const evaluation = await evaluateImage({
      model,
      image,
      mask,
      roi,
      block: { height: BLOCK, width: BLOCK },
      patchBank,
      preprocessing: { kind: 'zscore', epsilon: 1e-6 },
      outcome,
      methods: FAITHFULNESS_METHODS,
      curves: ['deletion', 'insertion'],
      removal,
      draws,
      seed: 0,
    });
    images.push(evaluation);
    console.error(
      `RoI ${roi.top},${roi.left}: base Dice ${evaluation.baseScore.toFixed(2)}, ` +
        `${((performance.now() - started) / 1000).toFixed(0)} s so far`,
    );
  }
  result = faithfulnessResult({
    model,
    backend: model.backend,
    block: { height: BLOCK, width: BLOCK },
    removal,
    draws,
    curves: ['deletion', 'insertion'],
    methods: FAITHFULNESS_METHODS,
    seed: 0,
    outcome,
    reference: 'mask',
    preprocessing: 'zscore',
    images,
    seconds: (performance.now() - started) / 1000,
    complete: true,
  });
} finally {
  await model.release();
}

const roiList = images.map((e) => `${e.roi.top},${e.roi.left}`).join('; ');
const cropText = `${CROP.height}x${CROP.width} at ${CROP.top}, ${CROP.left}`;
console.log(
  `nuclei U-Net, ${images.length} RoIs ${ROI_SIZE}x${ROI_SIZE} of one DSB2018 crop ` +
    `(${cropText}; RoIs at ${roiList}, sharing no pixel), blocks ${BLOCK}, ` +
    `${images[0]!.rankedBlocks} blocks ranked per RoI, removal ${removal}` +
    (removal === 'patch' ? ` (${draws} draws)` : ''),
);
console.log(
  `base Dice per RoI: ${images.map((e) => e.baseScore.toFixed(1)).join(', ')}; ` +
    `${result.forwardPasses} forward passes in ${result.seconds.toFixed(0)} s; ` +
    `curves cost ${images[0]!.curvePasses} passes per method and RoI`,
);
console.log(
  `areas in Dice points; [low, high] is the 95% Student-t interval of the mean area over the ` +
    `${images.length} RoIs`,
);
console.log('');
console.log(
  '| method | deletion area (lower is better) | insertion area (higher is better) | map passes per RoI |',
);
console.log('| --- | ---: | ---: | ---: |');
for (const entry of result.summary) {
  const deletion = formatArea(entry.deletion, result);
  const insertion = formatArea(entry.insertion, result);
  console.log(
    `| ${entry.method} | ${deletion} | ${insertion} | ${entry.forwardPasses.toFixed(0)} |`,
  );
}
process.exit(0);
