import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  cropImage,
  cutPatchBank,
  encodeNpy,
  ateMap,
  explain,
  heatmapPng,
  ImageError,
  Logger,
  ModelError,
  ModelRunner,
  overlayPng,
  patchBankFromImages,
  reportHtml,
  resizeBilinear,
  resizeNearest,
  SeededRandom,
  statsText,
  toBinaryMask,
  toPlanar,
  type BackendChoice,
  type ExplanationResult,
  type Preset,
} from '@pdcr/core';
import { nodeRuntimes, readImageFile, readPatchFolder } from '@pdcr/core/node';
import type { Activation, PatchBank, PlanarImage, Preprocessing, Region } from '@pdcr/kernels';
import { preprocessingForChannels } from './options.ts';
import { writeOutputs } from './output-files.ts';
import { PassProgress } from './progress.ts';

/** Everything `pdcr explain` needs, parsed. */
export interface ExplainJob {
  readonly model: string;
  readonly image: string;
  readonly mask?: string;
  readonly roi: Region;
  readonly block: { height: number; width: number };
  readonly patches?: string;
  readonly patchesFrom?: string[];
  readonly patchCount: number;
  readonly preset: Preset;
  readonly samples?: number;
  readonly screen?: number;
  readonly threshold?: number;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly out: string;
  readonly channels?: number;
  readonly size?: { height: number; width: number } | 'image';
  readonly normalize: Preprocessing;
  readonly activation: Activation;
  readonly classIndex?: number;
  readonly binarize: number;
  readonly freezeStats?: boolean;
  readonly batch?: number;
  readonly quiet: boolean;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** A crop of the image (in its own pixels) to explain instead of the whole. */
  readonly crop?: Region;
}

async function readModel(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ModelError(
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`,
    );
  }
}

function crop(image: PlanarImage, region: Region | undefined, name: string): PlanarImage {
  if (!region) return image;
  if (region.top + region.height > image.height || region.left + region.width > image.width) {
    throw new ImageError(
      name,
      `is ${image.height}x${image.width}, too small for the crop asked for`,
    );
  }
  return cropImage(image, region);
}

/** Runs one explanation and writes every output; returns the result and the files written. */
export async function runExplainJob(
  job: ExplainJob,
): Promise<{ result: ExplanationResult; files: string[] }> {
  const bytes = await readModel(job.model);
  const raster = await readImageFile(job.image);
  const maskRaster = job.mask ? await readImageFile(job.mask) : undefined;
  if (maskRaster && (maskRaster.width !== raster.width || maskRaster.height !== raster.height)) {
    throw new ImageError(
      job.mask!,
      `is ${maskRaster.height}x${maskRaster.width} but the image is ${raster.height}x${raster.width}; give the mask of this image`,
    );
  }
  const imageSize = job.crop ?? { height: raster.height, width: raster.width };

  const model = await ModelRunner.load({
    bytes,
    name: job.model,
    runtimes: nodeRuntimes(),
    backend: job.backend,
    imageSize: { height: imageSize.height, width: imageSize.width },
    ...(job.size ? { size: job.size } : {}),
    ...(job.channels ? { channels: job.channels } : {}),
    ...(job.batch ? { maxBatchSize: job.batch } : {}),
    logger: job.logger,
  });
  try {
    const { channels, height, width } = model.input;
    const image = resizeBilinear(
      crop(toPlanar(raster, channels), job.crop, job.image),
      height,
      width,
    );
    const mask = maskRaster
      ? resizeNearest(crop(toBinaryMask(maskRaster), job.crop, job.mask!), height, width)
      : undefined;
    const patchBank =
      job.preset === 'zero' ? undefined : await loadPatchBank(job, image, channels, height, width);
    const activation = job.activation;
    const classIndex = job.classIndex ?? (activation === 'softmax' ? 1 : 0);

    const progress = new PassProgress(job.quiet);
    const started = performance.now();
    let result: ExplanationResult;
    try {
      result = await explain({
        model,
        image,
        ...(mask ? { mask } : {}),
        roi: job.roi,
        block: job.block,
        ...(patchBank ? { patchBank } : {}),
        preprocessing: preprocessingForChannels(job.normalize, channels),
        freezeStatistics: Boolean(job.freezeStats),
        outcome: { activation, classIndex, binarize: job.binarize, metric: 'hardDice' },
        preset: job.preset,
        ...(job.samples !== undefined ? { samples: job.samples } : {}),
        ...(job.screen !== undefined ? { screen: job.screen } : {}),
        ...(job.threshold !== undefined ? { threshold: job.threshold } : {}),
        seed: job.seed,
        onProgress: (update) => progress.update(update, (performance.now() - started) / 1000),
        ...(job.signal ? { signal: job.signal } : {}),
        logger: job.logger,
      });
    } finally {
      progress.stop();
    }
    result = {
      ...result,
      model: { ...result.model, path: job.model },
      image: { ...result.image, path: job.image },
    };
    const files = await writeOutputs(job.out, {
      'result.json': `${JSON.stringify(result, null, 2)}\n`,
      'ate.npy': encodeNpy(ateMap(result), [result.image.height, result.image.width]),
      'heatmap.png': heatmapPng(result),
      'overlay.png': overlayPng(result, image),
      'stats.txt': statsText(result),
      'report.html': reportHtml(result, image, await chartLibrary()),
    });
    return { result, files };
  } finally {
    await model.release();
  }
}

async function loadPatchBank(
  job: ExplainJob,
  image: PlanarImage,
  channels: number,
  height: number,
  width: number,
): Promise<PatchBank> {
  const { block } = job;
  if (job.patches) {
    return patchBankFromImages(
      await readPatchFolder(job.patches),
      channels,
      block.height,
      block.width,
    );
  }
  const random = new SeededRandom(job.seed).fork('patch bank');
  if (!job.patchesFrom || job.patchesFrom.length === 0) {
    // Without a bank, patches come from the image itself, away from the RoI.
    return cutPatchBank([image], job.patchCount, block.height, block.width, random, job.roi);
  }
  const sources = await Promise.all(
    job.patchesFrom.map(async (file) =>
      resizeBilinear(toPlanar(await readImageFile(file), channels), height, width),
    ),
  );
  const sameImage = job.patchesFrom
    .map((file) => path.resolve(file))
    .includes(path.resolve(job.image));
  return cutPatchBank(
    sources,
    job.patchCount,
    block.height,
    block.width,
    random,
    sameImage ? job.roi : undefined,
  );
}

let chartSource: string | undefined;

/** Chart.js's UMD build, inlined into every report so that it opens offline. */
async function chartLibrary(): Promise<string> {
  if (chartSource === undefined) {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('chart.js');
    chartSource = await readFile(path.join(path.dirname(entry), 'chart.umd.min.js'), 'utf8');
  }
  return chartSource;
}
