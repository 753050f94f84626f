import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  explanationFiles,
  ModelError,
  runExplanation,
  type BackendChoice,
  type Explanation,
  type ExplanationResult,
  type Logger,
  type Preset,
} from '@pdcr/core';
import { nodeRuntimes, readImageFile, readPatchFolder } from '@pdcr/core/node';
import type { Activation, Preprocessing, Region } from '@pdcr/kernels';
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
  /** False: run whole images rather than the RoI's window. */
  readonly window?: boolean;
  readonly batch?: number;
  readonly quiet: boolean;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** A crop of the image (in its own pixels) to explain instead of the whole. */
  readonly crop?: Region;
}

export async function readModel(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ModelError(
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`,
    );
  }
}

/** Runs one explanation and writes every output; returns the result and the files written. */
export async function runExplainJob(
  job: ExplainJob,
): Promise<{ result: ExplanationResult; files: string[] }> {
  const bytes = await readModel(job.model);
  const image = { name: job.image, raster: await readImageFile(job.image) };
  const mask = job.mask ? { name: job.mask, raster: await readImageFile(job.mask) } : undefined;
  const patchImages = job.patches ? await readPatchFolder(job.patches) : undefined;
  const patchSources = job.patchesFrom
    ? await Promise.all(
        job.patchesFrom.map(async (file) => ({ name: file, raster: await readImageFile(file) })),
      )
    : undefined;

  const progress = new PassProgress(job.quiet);
  const started = performance.now();
  let explanation: Explanation;
  try {
    explanation = await runExplanation({
      model: { name: job.model, bytes },
      image,
      ...(mask ? { mask } : {}),
      ...(job.crop ? { crop: job.crop } : {}),
      roi: job.roi,
      block: job.block,
      ...(patchImages ? { patchImages } : {}),
      ...(patchSources ? { patchSources } : {}),
      patchSourcesIncludeImage: (job.patchesFrom ?? [])
        .map((file) => path.resolve(file))
        .includes(path.resolve(job.image)),
      patchCount: job.patchCount,
      preset: job.preset,
      ...(job.samples !== undefined ? { samples: job.samples } : {}),
      ...(job.screen !== undefined ? { screen: job.screen } : {}),
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
      ...(job.freezeStats ? { freezeStats: true } : {}),
      ...(job.window === false ? { window: false } : {}),
      ...(job.batch ? { batch: job.batch } : {}),
      logger: job.logger,
      onProgress: (update) => progress.update(update, (performance.now() - started) / 1000),
      ...(job.signal ? { signal: job.signal } : {}),
    });
  } finally {
    progress.stop();
  }
  const files = await writeOutputs(job.out, explanationFiles(explanation, await chartLibrary()));
  return { result: explanation.result, files };
}

let chartSource: string | undefined;

/** Chart.js's UMD build, inlined into every report so that it opens offline. */
export async function chartLibrary(): Promise<string> {
  if (chartSource === undefined) {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('chart.js');
    chartSource = await readFile(path.join(path.dirname(entry), 'chart.umd.min.js'), 'utf8');
  }
  return chartSource;
}
