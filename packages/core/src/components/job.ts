// One component analysis from raw inputs to output files, the same for `pdcr components` and the
// web page: both read their files their own way and hand the bytes and decoded rasters here.
import type { Activation, PlanarImage, Preprocessing, Region } from '@pdcr/kernels';
import { ImageError } from '../errors.ts';
import type { EstimationProgress } from '../estimation/paper.ts';
import {
  cropImage,
  resizeBilinear,
  resizeNearest,
  toBinaryMask,
  toPlanar,
} from '../image-adaptation.ts';
import { preprocessingForChannels, type NamedRaster } from '../job.ts';
import type { Logger } from '../logger.ts';
import { ModelRunner, type BackendChoice, type OrtRuntimes } from '../model-runner.ts';
import { SeededRandom } from '../random.ts';
import { analyseComponents } from './analysis.ts';
import { naturalCrops } from './natural.ts';
import { checkNaturalCount } from './selection.ts';
import { componentReportHtml, componentTable } from './report.ts';
import type {
  ComponentAnalysisResult,
  ComponentGranularity,
  ComponentIntervention,
} from './result.ts';

/** Everything one component analysis needs, as `pdcr components` and the web page take it. */
export interface ComponentAnalysisJob {
  readonly model: { readonly name: string; readonly bytes: Uint8Array };
  readonly image: NamedRaster;
  readonly mask?: NamedRaster;
  /** A crop of the image (in its own pixels) to analyse instead of the whole. */
  readonly crop?: Region;
  readonly roi: Region;
  /** A regular expression on tensor names and operators; absent: every component. */
  readonly select?: string;
  readonly granularity: ComponentGranularity;
  readonly intervention: ComponentIntervention;
  /** Images to take natural samples from; without them, the image itself, away from the crop. */
  readonly naturalSources?: readonly NamedRaster[];
  /**
   * Which of `naturalSources` is the analysed image itself: its crop is then kept out of the
   * samples taken from it, as it is when the image is the only source.
   */
  readonly naturalSourceImageIndex?: number;
  readonly naturalCount: number;
  readonly samples?: number;
  readonly round?: number;
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
  readonly batch?: number;
  readonly logger: Logger;
  /** Called once the model is loaded, before any pass: the backend it runs on. */
  readonly onModel?: (model: ModelRunner) => void;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly signal?: AbortSignal;
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

/**
 * Loads the model, adapts the image and mask to it, takes the natural samples, ranks the
 * components (see `analyseComponents`) and releases the model. The result names the model and
 * the image by the names given.
 *
 * @example
 * const result = await runComponentAnalysis({ model: { name: 'unet.onnx', bytes }, image,
 *   roi: { top: 8, left: 8, height: 16, width: 16 }, select: 'Conv', granularity: 'tensor',
 *   intervention: 'resample', naturalCount: 16, seed: 0, backend: 'auto', runtimes,
 *   normalize: { kind: 'zscore', epsilon: 1e-6 }, activation: 'sigmoid', binarize: 0.5, logger });
 * const files = componentFiles(result, chartSource);
 */
export async function runComponentAnalysis(
  job: ComponentAnalysisJob,
): Promise<ComponentAnalysisResult> {
  const { raster } = job.image;
  const maskRaster = job.mask?.raster;
  if (maskRaster && (maskRaster.width !== raster.width || maskRaster.height !== raster.height)) {
    throw new ImageError(
      job.mask!.name,
      `is ${maskRaster.height}x${maskRaster.width} but the image is ${raster.height}x${raster.width}; give the mask of this image`,
    );
  }
  checkNaturalCount(job.intervention, job.naturalCount);
  const analysed = job.crop ?? { top: 0, left: 0, height: raster.height, width: raster.width };
  const model = await ModelRunner.load({
    bytes: job.model.bytes,
    name: job.model.name,
    runtimes: job.runtimes,
    backend: job.backend,
    imageSize: { height: analysed.height, width: analysed.width },
    ...(job.size ? { size: job.size } : {}),
    ...(job.channels ? { channels: job.channels } : {}),
    ...(job.batch ? { maxBatchSize: job.batch } : {}),
    logger: job.logger,
  });
  try {
    job.onModel?.(model);
    const { channels, height, width } = model.input;
    const whole = toPlanar(raster, channels);
    const image = resizeBilinear(cropTo(whole, job.crop, job.image.name), height, width);
    const mask = maskRaster
      ? resizeNearest(cropTo(toBinaryMask(maskRaster), job.crop, job.mask!.name), height, width)
      : undefined;
    const naturalImages =
      job.intervention === 'zero' ? [] : naturalSamples(job, whole, analysed, model);
    const activation = job.activation;
    const classIndex = job.classIndex ?? (activation === 'softmax' ? 1 : 0);

    const result = await analyseComponents({
      model,
      modelBytes: job.model.bytes,
      runtimes: job.runtimes,
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
      ...(job.onProgress ? { onProgress: job.onProgress } : {}),
      ...(job.signal ? { signal: job.signal } : {}),
    });
    return {
      ...result,
      model: { ...result.model, path: job.model.name },
      image: { ...result.image, path: job.image.name },
    };
  } finally {
    await model.release();
  }
}

/**
 * Natural samples for resampling: crops of the analysed region's size from the natural sources
 * (default: the image itself), away from the analysed region in the source that is the image,
 * resized to the model's input as the analysed crop is.
 */
function naturalSamples(
  job: ComponentAnalysisJob,
  whole: PlanarImage,
  analysed: Region,
  model: ModelRunner,
): PlanarImage[] {
  const { channels, height, width } = model.input;
  const given = job.naturalSources && job.naturalSources.length > 0;
  const own = given ? job.naturalSourceImageIndex : 0;
  const sources = given
    ? job.naturalSources!.map((source, index) =>
        index === own ? whole : toPlanar(source.raster, channels),
      )
    : [whole];
  const crops = naturalCrops(
    sources,
    job.naturalCount,
    analysed.height,
    analysed.width,
    new SeededRandom(job.seed).fork('natural samples'),
    own !== undefined ? { source: own, region: analysed } : undefined,
  );
  return crops.map((crop) => resizeBilinear(crop, height, width));
}

/**
 * Every output file of a component analysis, by name: `result.json`, the ranking as
 * `components.txt` and the self-contained `report.html` (`chartSource`: Chart.js's UMD build,
 * inlined so that the report opens offline).
 */
export function componentFiles(
  result: ComponentAnalysisResult,
  chartSource: string,
): Record<string, string> {
  return {
    'result.json': `${JSON.stringify(result, null, 2)}\n`,
    'components.txt': `${componentTable(result).join('\n')}\n`,
    'report.html': componentReportHtml(result, chartSource),
  };
}
