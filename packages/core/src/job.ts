// One explanation from raw inputs to output files, the same for the CLI and the web page: both
// read their files their own way and hand the bytes and decoded rasters here.
import type { Activation, PatchBank, PlanarImage, Preprocessing, Region } from '@pdcr/kernels';
import { ImageError, PdcrError } from './errors.ts';
import type { EstimationProgress, ProvisionalEffect } from './estimation/paper.ts';
import { explain, type Preset } from './explain.ts';
import {
  cropImage,
  resizeBilinear,
  resizeNearest,
  toBinaryMask,
  toPlanar,
} from './image-adaptation.ts';
import type { RasterImage } from './images.ts';
import type { Logger } from './logger.ts';
import { ModelRunner, type BackendChoice, type OrtRuntimes } from './model-runner.ts';
import { encodeNpy } from './outputs/npy.ts';
import { ateMap, heatmapPng, overlayPng } from './outputs/maps.ts';
import { reportHtml } from './outputs/report.ts';
import { statsText } from './outputs/stats.ts';
import { cutPatchBank, patchBankFromImages } from './patch-banks.ts';
import { SeededRandom } from './random.ts';
import type { ExplanationResult } from './result.ts';

/** A decoded input with the name it is reported under (a path, or a dropped file's name). */
export interface NamedRaster {
  readonly name: string;
  readonly raster: RasterImage;
}

/** Everything one explanation needs, as `pdcr explain` and the web page take it. */
export interface ExplanationJob {
  readonly model: { readonly name: string; readonly bytes: Uint8Array };
  readonly image: NamedRaster;
  readonly mask?: NamedRaster;
  /** A crop of the image (in its own pixels) to explain instead of the whole. */
  readonly crop?: Region;
  readonly roi: Region;
  readonly block: { readonly height: number; readonly width: number };
  /** Patches of the block's size (the paper's patch folder); else patches are cut. */
  readonly patchImages?: readonly NamedRaster[];
  /** Images to cut patches from; without them, and without `patchImages`, the image itself. */
  readonly patchSources?: readonly NamedRaster[];
  /** Whether `patchSources` include the explained image, whose RoI is then kept out of the bank. */
  readonly patchSourcesIncludeImage?: boolean;
  readonly patchCount: number;
  readonly preset: Preset;
  readonly samples?: number;
  readonly screen?: number;
  readonly threshold?: number;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly runtimes: OrtRuntimes;
  readonly channels?: number;
  readonly size?: { readonly height: number; readonly width: number } | 'image';
  readonly normalize: Preprocessing;
  readonly activation: Activation;
  readonly classIndex?: number;
  readonly binarize: number;
  readonly freezeStats?: boolean;
  /** False: run whole images rather than the RoI's window (`ExplainOptions.window`). */
  readonly window?: boolean;
  readonly batch?: number;
  readonly logger: Logger;
  /** Called once the model is loaded, before any pass: the backend it runs on. */
  readonly onModel?: (model: ModelRunner) => void;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
  readonly signal?: AbortSignal;
}

/** The result, and the image as the model saw it (for the overlay and the report). */
export interface Explanation {
  readonly result: ExplanationResult;
  readonly image: PlanarImage;
}

function cropTo(image: PlanarImage, region: Region | undefined, name: string): PlanarImage {
  if (!region) return image;
  if (region.top + region.height > image.height || region.left + region.width > image.width) {
    throw new ImageError(
      name,
      `is ${image.height}x${image.width}, too small for the crop ${region.top},${region.left},${region.height},${region.width}; give a crop inside it`,
    );
  }
  return cropImage(image, region);
}

/** Loads the model, adapts the inputs to it, explains, and releases the model. */
export async function runExplanation(job: ExplanationJob): Promise<Explanation> {
  const { raster } = job.image;
  const maskRaster = job.mask?.raster;
  if (maskRaster && (maskRaster.width !== raster.width || maskRaster.height !== raster.height)) {
    throw new ImageError(
      job.mask!.name,
      `is ${maskRaster.height}x${maskRaster.width} but the image is ${raster.height}x${raster.width}; give the mask of this image`,
    );
  }
  const imageSize = job.crop ?? { height: raster.height, width: raster.width };
  const model = await ModelRunner.load({
    bytes: job.model.bytes,
    name: job.model.name,
    runtimes: job.runtimes,
    backend: job.backend,
    imageSize: { height: imageSize.height, width: imageSize.width },
    ...(job.size ? { size: job.size } : {}),
    ...(job.channels ? { channels: job.channels } : {}),
    ...(job.batch ? { maxBatchSize: job.batch } : {}),
    logger: job.logger,
  });
  try {
    job.onModel?.(model);
    const { channels, height, width } = model.input;
    const image = resizeBilinear(
      cropTo(toPlanar(raster, channels), job.crop, job.image.name),
      height,
      width,
    );
    const mask = maskRaster
      ? resizeNearest(cropTo(toBinaryMask(maskRaster), job.crop, job.mask!.name), height, width)
      : undefined;
    const patchBank = job.preset === 'zero' ? undefined : patchBankFor(job, image, channels);
    const activation = job.activation;
    const classIndex = job.classIndex ?? (activation === 'softmax' ? 1 : 0);
    const result = await explain({
      model,
      image,
      ...(mask ? { mask } : {}),
      roi: job.roi,
      block: job.block,
      ...(patchBank ? { patchBank } : {}),
      preprocessing: preprocessingForChannels(job.normalize, channels),
      freezeStatistics: Boolean(job.freezeStats),
      ...(job.window === false ? { window: false } : {}),
      outcome: { activation, classIndex, binarize: job.binarize, metric: 'hardDice' },
      preset: job.preset,
      ...(job.samples !== undefined ? { samples: job.samples } : {}),
      ...(job.screen !== undefined ? { screen: job.screen } : {}),
      ...(job.threshold !== undefined ? { threshold: job.threshold } : {}),
      seed: job.seed,
      ...(job.onProgress ? { onProgress: job.onProgress } : {}),
      ...(job.onEffects ? { onEffects: job.onEffects } : {}),
      ...(job.signal ? { signal: job.signal } : {}),
      logger: job.logger,
    });
    return {
      result: {
        ...result,
        model: { ...result.model, path: job.model.name },
        image: { ...result.image, path: job.image.name },
      },
      image,
    };
  } finally {
    await model.release();
  }
}

function patchBankFor(job: ExplanationJob, image: PlanarImage, channels: number): PatchBank {
  const { block } = job;
  if (job.patchImages && job.patchImages.length > 0) {
    return patchBankFromImages(job.patchImages, channels, block.height, block.width);
  }
  const random = new SeededRandom(job.seed).fork('patch bank');
  if (!job.patchSources || job.patchSources.length === 0) {
    // Without a bank, patches come from the image itself, away from the RoI.
    return cutPatchBank([image], job.patchCount, block.height, block.width, random, job.roi);
  }
  const sources = job.patchSources.map((source) =>
    resizeBilinear(toPlanar(source.raster, channels), image.height, image.width),
  );
  return cutPatchBank(
    sources,
    job.patchCount,
    block.height,
    block.width,
    random,
    job.patchSourcesIncludeImage ? job.roi : undefined,
  );
}

/** Per-channel normalisation given as one value stands for every channel. */
export function preprocessingForChannels(
  preprocessing: Preprocessing,
  channels: number,
): Preprocessing {
  if (preprocessing.kind !== 'meanStd' || preprocessing.mean.length === channels) {
    return preprocessing;
  }
  if (preprocessing.mean.length === 1) {
    return {
      kind: 'meanStd',
      mean: Array.from({ length: channels }, () => preprocessing.mean[0]!),
      std: Array.from({ length: channels }, () => preprocessing.std[0]!),
    };
  }
  throw new PdcrError(
    'normalize',
    `gives ${preprocessing.mean.length} channels but the model takes ${channels}; give one value or one per channel`,
  );
}

/**
 * Every output file of an explanation, by name: `result.json`, `ate.npy`, `heatmap.png`,
 * `overlay.png`, `stats.txt` and the self-contained `report.html` (`chartSource`: Chart.js's UMD
 * build, inlined so that the report opens offline).
 */
export function explanationFiles(
  { result, image }: Explanation,
  chartSource: string,
): Record<string, Uint8Array | string> {
  return {
    'result.json': `${JSON.stringify(result, null, 2)}\n`,
    'ate.npy': encodeNpy(ateMap(result), [result.image.height, result.image.width]),
    'heatmap.png': heatmapPng(result),
    'overlay.png': overlayPng(result, image),
    'stats.txt': statsText(result),
    'report.html': reportHtml(result, image, chartSource),
  };
}
