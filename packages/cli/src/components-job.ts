import path from 'node:path';
import {
  analyseComponents,
  componentReportHtml,
  componentTable,
  cropImage,
  ImageError,
  ModelRunner,
  naturalCrops,
  preprocessingForChannels,
  resizeBilinear,
  resizeNearest,
  SeededRandom,
  toBinaryMask,
  toPlanar,
  type BackendChoice,
  type ComponentAnalysisResult,
  type ComponentGranularity,
  type ComponentIntervention,
  type Logger,
} from '@pdcr/core';
import { nodeRuntimes, readImageFile } from '@pdcr/core/node';
import type { Activation, PlanarImage, Preprocessing, Region } from '@pdcr/kernels';
import { chartLibrary, readModel } from './explain-job.ts';
import { writeOutputs } from './output-files.ts';
import { PassProgress } from './progress.ts';

/** Everything `pdcr components` needs, parsed. */
export interface ComponentsJob {
  readonly model: string;
  readonly image: string;
  readonly mask?: string;
  readonly roi: Region;
  readonly crop?: Region;
  readonly select?: string;
  readonly granularity: ComponentGranularity;
  readonly intervention: ComponentIntervention;
  /** Images to take natural samples from (default: the image itself, away from the crop). */
  readonly naturalFrom?: string[];
  readonly naturalCount: number;
  readonly samples?: number;
  readonly round?: number;
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
  readonly batch?: number;
  readonly quiet: boolean;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

function cropTo(image: PlanarImage, region: Region | undefined, name: string): PlanarImage {
  if (!region) return image;
  if (region.top + region.height > image.height || region.left + region.width > image.width) {
    throw new ImageError(
      name,
      `is ${image.height}x${image.width}, too small for the crop ${Object.values(region).join(',')}; give a crop inside it`,
    );
  }
  return cropImage(image, region);
}

/** Runs one component analysis and writes its outputs; returns the result and the files. */
export async function runComponentsJob(
  job: ComponentsJob,
): Promise<{ result: ComponentAnalysisResult; files: string[] }> {
  const bytes = await readModel(job.model);
  const raster = await readImageFile(job.image);
  const maskRaster = job.mask ? await readImageFile(job.mask) : undefined;
  if (maskRaster && (maskRaster.width !== raster.width || maskRaster.height !== raster.height)) {
    throw new ImageError(
      job.mask!,
      `is ${maskRaster.height}x${maskRaster.width} but the image is ${raster.height}x${raster.width}; give the mask of this image`,
    );
  }
  const analysed = job.crop ?? { top: 0, left: 0, height: raster.height, width: raster.width };
  const model = await ModelRunner.load({
    bytes,
    name: job.model,
    runtimes: nodeRuntimes(),
    backend: job.backend,
    imageSize: { height: analysed.height, width: analysed.width },
    ...(job.size ? { size: job.size } : {}),
    ...(job.channels ? { channels: job.channels } : {}),
    ...(job.batch ? { maxBatchSize: job.batch } : {}),
    logger: job.logger,
  });
  try {
    const { channels, height, width } = model.input;
    const whole = toPlanar(raster, channels);
    const image = resizeBilinear(cropTo(whole, job.crop, job.image), height, width);
    const mask = maskRaster
      ? resizeNearest(cropTo(toBinaryMask(maskRaster), job.crop, job.mask!), height, width)
      : undefined;
    const naturalImages =
      job.intervention === 'zero' ? [] : await naturalSamples(job, whole, analysed, model);
    const activation = job.activation;
    const classIndex = job.classIndex ?? (activation === 'softmax' ? 1 : 0);

    const progress = new PassProgress(job.quiet);
    const started = performance.now();
    let result: ComponentAnalysisResult;
    try {
      result = await analyseComponents({
        model,
        modelBytes: bytes,
        runtimes: nodeRuntimes(),
        image,
        ...(mask ? { mask } : {}),
        roi: job.roi,
        preprocessing: preprocessingForChannels(job.normalize, channels),
        outcome: { activation, classIndex, binarize: job.binarize, metric: 'hardDice' },
        ...(job.select !== undefined ? { select: job.select } : {}),
        granularity: job.granularity,
        intervention: job.intervention,
        naturalImages,
        ...(job.samples !== undefined ? { samples: job.samples } : {}),
        ...(job.round !== undefined ? { round: job.round } : {}),
        ...(job.threshold !== undefined ? { threshold: job.threshold } : {}),
        seed: job.seed,
        onProgress: (update) => progress.update(update, (performance.now() - started) / 1000),
        ...(job.signal ? { signal: job.signal } : {}),
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
      'components.txt': `${componentTable(result).join('\n')}\n`,
      'report.html': componentReportHtml(result, await chartLibrary()),
    });
    return { result, files };
  } finally {
    await model.release();
  }
}

/**
 * Natural samples for resampling: crops of the analysed region's size from `--natural-from`
 * (default: the image itself), away from the analysed region where a source is that image,
 * resized to the model's input as the analysed crop is.
 */
async function naturalSamples(
  job: ComponentsJob,
  whole: PlanarImage,
  analysed: Region,
  model: ModelRunner,
): Promise<PlanarImage[]> {
  const { channels, height, width } = model.input;
  const files = job.naturalFrom && job.naturalFrom.length > 0 ? job.naturalFrom : [job.image];
  const sources = await Promise.all(
    files.map(async (file) =>
      path.resolve(file) === path.resolve(job.image)
        ? whole
        : toPlanar(await readImageFile(file), channels),
    ),
  );
  const own = files.findIndex((file) => path.resolve(file) === path.resolve(job.image));
  const crops = naturalCrops(
    sources,
    job.naturalCount,
    analysed.height,
    analysed.width,
    new SeededRandom(job.seed).fork('natural samples'),
    own >= 0 ? { source: own, region: analysed } : undefined,
  );
  return crops.map((crop) => resizeBilinear(crop, height, width));
}

/** What `pdcr components` prints: the ranking, the base score, the cost. */
export function componentSummaryLines(result: ComponentAnalysisResult): string[] {
  const significant = result.components.filter((effect) => effect.significant).length;
  const rate = result.forwardPasses / Math.max(result.seconds, 1e-9);
  return [
    ...componentTable(result, result.granularity === 'tensor' ? undefined : 30),
    `base Dice ${result.baseScore.toFixed(2)}; ${result.components.length} components ` +
      `(${result.granularity}s, ${result.intervention}), ${significant} significant`,
    `${result.forwardPasses} forward passes in ${result.seconds.toFixed(1)} s ` +
      `on ${result.backend} (${rate.toFixed(1)} passes/s)`,
  ];
}
