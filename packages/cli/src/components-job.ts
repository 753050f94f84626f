import path from 'node:path';
import {
  componentFiles,
  componentTable,
  runComponentAnalysis,
  type BackendChoice,
  type ComponentAnalysisResult,
  type ComponentGranularity,
  type ComponentIntervention,
  type Logger,
  type NamedRaster,
} from '@pdcr/core';
import { nodeRuntimes, readImageFile } from '@pdcr/core/node';
import type { Activation, Preprocessing, Region } from '@pdcr/kernels';
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

/** Runs one component analysis and writes its outputs; returns the result and the files. */
export async function runComponentsJob(
  job: ComponentsJob,
): Promise<{ result: ComponentAnalysisResult; files: string[] }> {
  const bytes = await readModel(job.model);
  const image = { name: job.image, raster: await readImageFile(job.image) };
  const mask = job.mask ? { name: job.mask, raster: await readImageFile(job.mask) } : undefined;
  // Under `zero` no natural sample is taken, so the --natural-from images are not read.
  const natural =
    job.intervention !== 'zero' && job.naturalFrom?.length
      ? await naturalSources(job, image)
      : undefined;

  const progress = new PassProgress(job.quiet);
  const started = performance.now();
  let result: ComponentAnalysisResult;
  try {
    result = await runComponentAnalysis({
      model: { name: job.model, bytes },
      image,
      ...(mask ? { mask } : {}),
      ...(job.crop ? { crop: job.crop } : {}),
      roi: job.roi,
      ...(job.select !== undefined ? { select: job.select } : {}),
      granularity: job.granularity,
      intervention: job.intervention,
      ...natural,
      naturalCount: job.naturalCount,
      ...(job.samples !== undefined ? { samples: job.samples } : {}),
      ...(job.round !== undefined ? { round: job.round } : {}),
      ...(job.threshold !== undefined ? { threshold: job.threshold } : {}),
      seed: job.seed,
      backend: job.backend,
      runtimes: nodeRuntimes(),
      ...(job.channels ? { channels: job.channels } : {}),
      ...(job.size ? { size: job.size } : {}),
      normalize: job.normalize,
      activation: job.activation,
      ...(job.classIndex !== undefined ? { classIndex: job.classIndex } : {}),
      binarize: job.binarize,
      ...(job.batch ? { batch: job.batch } : {}),
      logger: job.logger,
      onProgress: (update) => progress.update(update, (performance.now() - started) / 1000),
      ...(job.signal ? { signal: job.signal } : {}),
    });
  } finally {
    progress.stop();
  }
  const files = await writeOutputs(job.out, componentFiles(result, await chartLibrary()));
  return { result, files };
}

/**
 * The `--natural-from` images, read; the one that is the analysed image (by path) is named, so
 * that the analysed crop is kept out of the samples taken from it.
 */
async function naturalSources(
  job: ComponentsJob,
  image: NamedRaster,
): Promise<{ naturalSources: NamedRaster[]; naturalSourceImageIndex?: number }> {
  const files = job.naturalFrom ?? [];
  const own = files.findIndex((file) => path.resolve(file) === path.resolve(job.image));
  const naturalSources = await Promise.all(
    files.map(async (file, index) =>
      index === own ? image : { name: file, raster: await readImageFile(file) },
    ),
  );
  return { naturalSources, ...(own >= 0 ? { naturalSourceImageIndex: own } : {}) };
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
