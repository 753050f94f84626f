import {
  BlockGrid,
  channelStatistics,
  InterventionPlan,
  NO_TARGET,
  type Activation,
  type InterventionSource,
  type OutcomeMetric,
  type OutcomeSpec,
  type PatchBank,
  type PlanarImage,
  type Preprocessing,
  type Region,
} from '@pdcr/kernels';
import { ImageError, PatchBankError, PdcrError, RegionError } from './errors.ts';
import type { BatchEvaluator } from './evaluator.ts';
import { CpuEvaluator, GpuEvaluator } from './evaluators.ts';
import { cropPlane } from './image-adaptation.ts';
import { Logger } from './logger.ts';
import type { ModelRunner } from './model-runner.ts';
import {
  estimatePaper,
  PAPER_DEFAULTS,
  type EstimationProgress,
  type ProvisionalEffect,
} from './estimation/paper.ts';
import { estimateZero } from './estimation/zero.ts';
import { estimateFast, FAST_DEFAULTS, routeExtraDraws } from './estimation/fast.ts';
import { requireRate, requireWholeRounds } from './estimation/sequential.ts';
import { StatisticsRoute } from './estimation/statistics-route.ts';
import { patchStrata, zeroPatchBank } from './patch-banks.ts';
import { SeededRandom } from './random.ts';
import { roiField, withinWindow } from './roi-window.ts';
import { baseActivatedRoi, openRunWindow } from './untouched.ts';
import { RESULT_VERSION, type BlockEffect, type ExplanationResult } from './result.ts';

export type Preset = 'fast' | 'paper' | 'zero';

export interface OutcomeOptions {
  readonly activation: Activation;
  readonly classIndex: number;
  /** Binarisation threshold of the activated output. */
  readonly binarize: number;
  readonly metric: OutcomeMetric;
}

export interface ExplainOptions {
  readonly model: ModelRunner;
  /** The image as the model sees it: its channels and size, values in [0, 1]. */
  readonly image: PlanarImage;
  /**
   * Ground truth at the image's size (0/1); without it, the model's own prediction on the
   * untouched image is the reference.
   */
  readonly mask?: PlanarImage;
  readonly roi: Region;
  readonly block: { readonly height: number; readonly width: number };
  /** Natural patches of the block's size (unused by the `zero` preset). */
  readonly patchBank?: PatchBank;
  readonly preprocessing: Preprocessing;
  /**
   * Under `zscore`, normalise every intervened image with the untouched image's statistics
   * instead of its own. Off by default: it changes the model's input from what it was trained
   * on, but it cuts the path by which every block reaches every output, so that exact-zero
   * pruning can clear the blocks out of the model's receptive field.
   */
  readonly freezeStatistics?: boolean;
  readonly outcome: OutcomeOptions;
  /**
   * Run the model on the window of the image that holds the RoI's receptive field, where the
   * model's graph shows a finite one and the untouched image's output on the RoI is the same on
   * the window to the last bit (`roi-window.ts`). Default on; off, every pass runs whole images.
   */
  readonly window?: boolean;
  readonly preset: Preset;
  /**
   * paper: estimation draws per block; fast: the draws after which a block stops unless more
   * could bring it to a call (up to `FAST_DEFAULTS.extraDrawFactor` times as many again).
   */
  readonly samples?: number;
  readonly screen?: number;
  readonly threshold?: number;
  /** fast: draws per block per round. */
  readonly round?: number;
  /** fast: false discovery rate of the blocks called significant. */
  readonly falseDiscoveryRate?: number;
  /** fast: blocks per side of a screening group (1: none). */
  readonly groupSide?: number;
  /** fast: joint draws per screening group. */
  readonly screenDraws?: number;
  /**
   * fast: the most draws a block may take past `samples` where more could bring it to a call,
   * a multiple of `round` (default `FAST_DEFAULTS.extraDrawFactor` times `samples`; 0: none).
   */
  readonly extraDraws?: number;
  /** fast: skip the exact-zero pruning by group tests. */
  readonly noPruning?: boolean;
  /**
   * fast, under live per-image z-score: find the blocks beyond the receptive field by pruning
   * on frozen statistics, and score their draws from the intervened image's statistics, running
   * the model only for draws it cannot infer (estimation/statistics-route.ts). Default on; off,
   * every draw of every block is run.
   */
  readonly statisticsRoute?: boolean;
  /**
   * fast, with the statistics route: run every draw it infers as well, and report in
   * `result.statisticsRoute` how many runs gave another score. For measuring the route on a
   * model: every far draw is then run, and those runs count as forward passes.
   */
  readonly checkStatisticsRoute?: boolean;
  /**
   * fast: strata the patch bank is split into by brightness, each drawn from equally in every
   * round (1: none); must divide `round`.
   */
  readonly patchStrata?: number;
  readonly seed: number;
  readonly onProgress?: (progress: EstimationProgress) => void;
  /** Running effects of the blocks sampled in each batch, for a map that fills in. */
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/**
 * Explains why `model` segments the RoI of `image` as it does: the average treatment effect of
 * each block outside the RoI on the RoI's score, by the chosen preset.
 *
 * @example
 * const result = await explain({ model, image, roi: { top: 72, left: 88, height: 32, width: 32 },
 *   block: { height: 8, width: 8 }, patchBank, preprocessing: { kind: 'none' },
 *   outcome: { activation: 'none', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
 *   preset: 'paper', seed: 0 });
 */
export async function explain(options: ExplainOptions): Promise<ExplanationResult> {
  const started = performance.now();
  const { model, image, roi, preset } = options;
  const samples =
    options.samples ?? (preset === 'fast' ? FAST_DEFAULTS.maxDraws : PAPER_DEFAULTS.samples);
  const extraDraws = options.extraDraws ?? FAST_DEFAULTS.extraDrawFactor * samples;
  const falseDiscoveryRate = options.falseDiscoveryRate ?? FAST_DEFAULTS.falseDiscoveryRate;
  const screen = options.screen ?? PAPER_DEFAULTS.screen;
  const threshold = options.threshold ?? PAPER_DEFAULTS.threshold;
  const round = options.round ?? FAST_DEFAULTS.round;
  const strataCount = options.patchStrata ?? FAST_DEFAULTS.patchStrata;
  validateInputs(options);
  if (preset === 'fast' && (strataCount < 1 || round % strataCount !== 0)) {
    throw new PdcrError(
      'round',
      `${round} draws per round cannot be split evenly over ${strataCount} patch strata; give a multiple`,
    );
  }
  if (preset === 'fast') {
    // Refused before any pass, not when sampling starts.
    requireRate('falseDiscoveryRate', falseDiscoveryRate);
    requireWholeRounds('samples', samples, round, 1);
    requireWholeRounds('extraDraws', extraDraws, round);
  }

  const grid = new BlockGrid(image.height, image.width, options.block.height, options.block.width);
  const patchBank =
    preset === 'zero'
      ? zeroPatchBank(image.channels, grid.blockHeight, grid.blockWidth)
      : options.patchBank!;
  const source: InterventionSource = {
    image,
    patchBank,
    grid,
    preprocessing: options.freezeStatistics
      ? frozenStatistics(options.preprocessing, image)
      : options.preprocessing,
  };
  // Seconds of the model's runs on the untouched image, outside the evaluators' batches.
  const untouchedRuns = { seconds: 0 };
  // Where the graph shows a finite receptive field, the batches run on the window of the image
  // that holds the RoI's, once the untouched image's output on the RoI is the same on it.
  const {
    wholeOutput: baseOutput,
    opened,
    passes: untouchedPasses,
  } = await openRunWindow({
    model,
    roi,
    reading: options.outcome,
    source,
    window: options.window !== false,
    needsWholeOutput: !options.mask || preset === 'fast',
    timing: untouchedRuns,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const reference = options.mask
    ? cropPlane(options.mask, roi)
    : baseOutput!.map((value) => (value > options.outcome.binarize ? 1 : 0));
  const run = opened?.model ?? model;
  // The RoI where the batches see it: in the window's coordinates when they run on it.
  const runRoi = opened ? withinWindow(roi, opened.window) : roi;
  const spec: OutcomeSpec = {
    classes: run.output.channels,
    height: run.output.height,
    width: run.output.width,
    roi: runRoi,
    classIndex: options.outcome.classIndex,
    activation: options.outcome.activation,
    metric: options.outcome.metric,
    threshold: options.outcome.binarize,
    reference,
    accumulatorCount: grid.blockCount,
  };

  let evaluator: BatchEvaluator;
  try {
    evaluator = await createEvaluator(run, source, spec);
  } catch (error) {
    await opened?.model.release();
    throw error;
  }
  // fast: a second scorer of the RoI's largest raw change, for exact-zero pruning.
  // Under live z-score every block reaches the RoI through the image's statistics, so pruning
  // runs on frozen statistics: what it clears is beyond the receptive field, and is scored
  // through the statistics route rather than zeroed.
  const routeStatistics =
    preset === 'fast' &&
    !options.noPruning &&
    (options.statisticsRoute ?? true) &&
    source.preprocessing.kind === 'zscore';
  let pruningEvaluator: BatchEvaluator | undefined;
  let statisticsRoute: StatisticsRoute | undefined;
  try {
    if (preset === 'fast' && !options.noPruning) {
      const pruningSource = routeStatistics
        ? { ...source, preprocessing: frozenStatistics(source.preprocessing, image) }
        : source;
      pruningEvaluator = await createEvaluator(run, pruningSource, {
        ...spec,
        metric: 'maxAbsDifference',
        reference: routeStatistics
          ? await baseActivatedRoi(run, runRoi, options.outcome, pruningSource, untouchedRuns)
          : baseOutput!,
      });
    }
    if (routeStatistics) {
      statisticsRoute = new StatisticsRoute({
        evaluator,
        source,
        ...(options.checkStatisticsRoute ? { check: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
  } catch (error) {
    await evaluator.dispose();
    await opened?.model.release();
    throw error;
  }
  try {
    const base = await evaluator.evaluate(
      new InterventionPlan(1, grid.blockCount),
      Uint32Array.of(NO_TARGET),
    );
    const baseScore = base.scores[0]!;
    evaluator.setBaseScore(baseScore);
    options.onProgress?.({ phase: 'base', passesDone: 1, passesPlanned: 1 });

    const common = { evaluator, grid, roi, threshold, ...progressAndSignal(options) };
    const field = roiField(model.receptiveField, roi);
    const random = new SeededRandom(options.seed);
    const { blocks, complete } =
      preset === 'zero'
        ? await estimateZero(common)
        : preset === 'paper'
          ? await estimatePaper({ ...common, patchCount: patchBank.count, samples, screen, random })
          : await estimateFast({
              ...common,
              ...(pruningEvaluator ? { pruningEvaluator } : {}),
              ...(statisticsRoute ? { statisticsRoute } : {}),
              ...(field ? { field } : {}),
              patchCount: patchBank.count,
              round,
              ...(strataCount > 1 ? { patchStrata: patchStrata(patchBank, strataCount) } : {}),
              maxDraws: samples,
              extraDraws,
              falseDiscoveryRate,
              groupSide: options.groupSide ?? FAST_DEFAULTS.groupSide,
              screenDraws: options.screenDraws ?? FAST_DEFAULTS.screenDraws,
              random,
            });

    return {
      version: RESULT_VERSION,
      model: {
        sha256: model.sha256,
        inputName: model.signature.input.name,
        outputName: model.signature.output.name,
        inputShape: model.signature.input.dims,
        outputShape: model.signature.output.dims,
      },
      image: { height: image.height, width: image.width },
      roi: { ...roi },
      block: { height: grid.blockHeight, width: grid.blockWidth },
      preset,
      seed: options.seed,
      backend: evaluator.backend,
      outcome: {
        metric: options.outcome.metric,
        reference: options.mask ? 'mask' : 'prediction',
        activation: options.outcome.activation,
        classIndex: options.outcome.classIndex,
        binarize: options.outcome.binarize,
      },
      parameters: {
        samples: preset === 'zero' ? 1 : samples,
        ...(preset === 'fast' ? { extraDraws, falseDiscoveryRate } : {}),
        ...(statisticsRoute && statisticsRoute.blocks.size > 0 && extraDraws > 0
          ? { routeExtraDraws: routeExtraDraws(extraDraws) }
          : {}),
        screen: preset === 'paper' ? screen : 0,
        threshold,
        preprocessing:
          describePreprocessing(options.preprocessing) +
          (options.freezeStatistics && options.preprocessing.kind === 'zscore' ? ' (frozen)' : ''),
        patches: patchBank.count,
        batchSize: evaluator.maxBatchSize,
      },
      baseScore,
      ...(opened ? { window: { ...opened.window } } : {}),
      forwardPasses:
        evaluator.forwardPasses +
        (pruningEvaluator?.forwardPasses ?? 0) +
        untouchedPasses +
        (routeStatistics ? 1 : 0),
      modelSeconds:
        evaluator.modelSeconds + (pruningEvaluator?.modelSeconds ?? 0) + untouchedRuns.seconds,
      seconds: (performance.now() - started) / 1000,
      ...(statisticsRoute
        ? {
            statisticsRoute: {
              blocks: statisticsRoute.blocks.size,
              drawsRun: statisticsRoute.drawsRun,
              drawsInferred: statisticsRoute.drawsInferred,
              ...(options.checkStatisticsRoute
                ? {
                    drawsChecked: statisticsRoute.drawsChecked,
                    drawsWrong: statisticsRoute.drawsWrong,
                  }
                : {}),
            },
          }
        : {}),
      complete,
      blocks,
      summary: summarise(blocks),
    };
  } finally {
    await evaluator.dispose();
    await pruningEvaluator?.dispose();
    await opened?.model.release();
  }
}

export async function createEvaluator(
  model: ModelRunner,
  source: InterventionSource,
  spec: OutcomeSpec,
): Promise<BatchEvaluator> {
  return model.backend === 'webgpu'
    ? GpuEvaluator.create(model, source, spec)
    : new CpuEvaluator(model, source, spec);
}

function progressAndSignal(options: ExplainOptions) {
  return {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onEffects ? { onEffects: options.onEffects } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

export function validateInputs(options: ExplainOptions): void {
  const { image, roi, block, mask, model, preset, patchBank } = options;
  const { height, width } = image;
  if (
    image.channels !== model.input.channels ||
    height !== model.input.height ||
    width !== model.input.width
  ) {
    throw new ImageError(
      'image',
      `is ${image.channels}x${height}x${width} but the model takes ${model.input.channels}x${model.input.height}x${model.input.width}; adapt it first`,
    );
  }
  const inside =
    [roi.top, roi.left, roi.height, roi.width].every(Number.isInteger) &&
    roi.top >= 0 &&
    roi.left >= 0 &&
    roi.height > 0 &&
    roi.width > 0 &&
    roi.top + roi.height <= height &&
    roi.left + roi.width <= width;
  if (!inside) {
    throw new RegionError(
      'roi',
      `${roi.top},${roi.left},${roi.height},${roi.width} does not lie inside the ${height}x${width} image ` +
        '(rows and columns as the model sees it, after any resize); give TOP,LEFT,HEIGHT,WIDTH within it',
    );
  }
  if (
    !Number.isInteger(block.height) ||
    !Number.isInteger(block.width) ||
    block.height < 1 ||
    block.width < 1 ||
    block.height > height ||
    block.width > width
  ) {
    throw new RegionError(
      'block',
      `${block.height}x${block.width} does not fit the ${height}x${width} image`,
    );
  }
  const classes = model.output.channels;
  if (
    !Number.isInteger(options.outcome.classIndex) ||
    options.outcome.classIndex < 0 ||
    options.outcome.classIndex >= classes
  ) {
    throw new PdcrError(
      'class',
      `${options.outcome.classIndex} is not an output channel; the model has ${classes} (0 to ${classes - 1})`,
    );
  }
  if (mask && (mask.height !== height || mask.width !== width)) {
    throw new ImageError(
      'mask',
      `is ${mask.height}x${mask.width} but the image is ${height}x${width}; give the mask of this image`,
    );
  }
  if (preset !== 'zero') {
    if (!patchBank || patchBank.count === 0) {
      throw new PatchBankError(
        'patches',
        'the patch bank is empty; give --patches DIR or --patches-from IMAGE',
      );
    }
    if (patchBank.height !== block.height || patchBank.width !== block.width) {
      throw new PatchBankError(
        'patches',
        `are ${patchBank.height}x${patchBank.width} but blocks are ${block.height}x${block.width}; use patches of the block size`,
      );
    }
  }
}

/** A per-image z-score turned into fixed normalisation by the base image's own statistics. */
export function frozenStatistics(preprocessing: Preprocessing, image: PlanarImage): Preprocessing {
  if (preprocessing.kind !== 'zscore') return preprocessing;
  const { mean, squaredDeviations } = channelStatistics(image);
  const pixels = image.height * image.width;
  return {
    kind: 'meanStd',
    mean,
    std: squaredDeviations.map((sum) => Math.sqrt(sum / pixels) + preprocessing.epsilon),
  };
}

export function describePreprocessing(preprocessing: Preprocessing): string {
  switch (preprocessing.kind) {
    case 'none':
      return 'none';
    case 'zscore':
      return 'zscore';
    case 'meanStd':
      return `${preprocessing.mean.join(',')}/${preprocessing.std.join(',')}`;
  }
}

export function summarise(blocks: readonly BlockEffect[]): ExplanationResult['summary'] {
  return {
    positive: blocks.filter((block) => block.ate > 0).length,
    negative: blocks.filter((block) => block.ate < 0).length,
    zero: blocks.filter((block) => block.ate === 0).length,
  };
}
