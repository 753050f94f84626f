import {
  BlockGrid,
  InterventionPlan,
  NO_TARGET,
  type PatchBank,
  type PlanarImage,
  type Region,
} from '@pdcr/kernels';
import { RegionError } from '../errors.ts';
import type { BatchEvaluator } from '../evaluator.ts';
import {
  createEvaluator,
  validateInputs,
  type ExplainOptions,
  type OutcomeOptions,
} from '../explain.ts';
import { outsideRoi } from '../estimation/paper.ts';
import { cropPlane } from '../image-adaptation.ts';
import type { Logger } from '../logger.ts';
import type { ModelRunner } from '../model-runner.ts';
import { withinWindow } from '../roi-window.ts';
import { openRunWindow } from '../untouched.ts';
import { curvePasses, rankingCurves, type Curve, type CurveKind } from './curves.ts';
import { FaithfulnessError } from './errors.ts';
import {
  rankByMethod,
  RISE_DEFAULTS,
  type FaithfulnessMethod,
  type MethodContext,
} from './methods.ts';
import { removalFill, splitPatchBank, type Removal, type RemovalFill } from './removal.ts';

/** Draws of natural patches that each curve is averaged over, by default. */
export const DEFAULT_REMOVAL_DRAWS = 4;

export interface FaithfulnessProgress {
  /** What is being computed: `<method> map` or `<method> curves`. */
  readonly phase: string;
  /** Forward passes done and planned within the phase. */
  readonly passesDone: number;
  readonly passesPlanned: number;
}

/** One image and RoI to evaluate every method on. */
export interface FaithfulnessImageOptions {
  readonly model: ModelRunner;
  /** The image as the model sees it: its channels and size, values in [0, 1]. */
  readonly image: PlanarImage;
  /** Ground truth (0/1) at the image's size; without it, the model's own prediction. */
  readonly mask?: PlanarImage;
  readonly roi: Region;
  /**
   * Where the RoI was given, named by its errors: `roi` (the default), or `<list>:<line>` for an
   * RoI read from a list.
   */
  readonly roiInput?: string;
  readonly block: { readonly height: number; readonly width: number };
  /**
   * Natural patches of the block's size, for `pdcr`, `paper` and removal by `patch`: split in
   * two disjoint halves, one to estimate the maps with and one to remove blocks by.
   */
  readonly patchBank?: PatchBank;
  readonly preprocessing: ExplainOptions['preprocessing'];
  readonly outcome: OutcomeOptions;
  readonly methods: readonly FaithfulnessMethod[];
  readonly curves: readonly CurveKind[];
  /** How the curves remove blocks. */
  readonly removal: Removal;
  /** Draws of natural patches each curve averages over (removal by `patch` only). */
  readonly draws?: number;
  readonly riseMasks?: number;
  /**
   * False: run whole images. By default, where the graph shows a finite receptive field, every
   * batch (maps and curves) runs on the window of the image that holds the RoI's.
   */
  readonly window?: boolean;
  readonly seed: number;
  readonly onProgress?: (progress: FaithfulnessProgress) => void;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/** One method on one image: its map's order and cost, and its curves. */
export interface MethodEvaluation {
  readonly method: FaithfulnessMethod;
  /** Forward passes (and seconds) the method's map took, curves not included. */
  readonly forwardPasses: number;
  readonly seconds: number;
  /** The ranked blocks, most important first, each with the importance the map gave it. */
  readonly ranking: readonly { top: number; left: number; importance: number }[];
  readonly deletion?: Curve;
  readonly insertion?: Curve;
}

export interface ImageEvaluation {
  readonly image: { readonly path?: string; readonly height: number; readonly width: number };
  readonly roi: Region;
  /** The window of the image every batch ran on, where not the whole image. */
  readonly window?: Region;
  readonly baseScore: number;
  /** Blocks outside the RoI: the steps of each curve (each curve holds one more point). */
  readonly rankedBlocks: number;
  /** Forward passes each method's curves took. */
  readonly curvePasses: number;
  /**
   * Forward passes of the image itself, shared by every method: its base score; without a mask
   * the model's prediction that stands in for the ground truth; on a window, the whole image's
   * output on the RoI and the window's, which must be the same.
   */
  readonly basePasses: number;
  /**
   * Every forward pass run on the image: the base, each finished method's map and curves, and
   * what a method interrupted midway ran before it stopped.
   */
  readonly forwardPasses: number;
  /** The methods finished, in the order asked for. */
  readonly methods: readonly MethodEvaluation[];
  /** False when interrupted before every method was finished. */
  readonly complete: boolean;
}

/**
 * Ranks the blocks outside the RoI by each method's map and measures how the RoI's score
 * follows the ranking: the deletion curve (blocks removed from the image, most important
 * first: a faithful map makes it fall fast, a low area) and the insertion curve (blocks
 * restored into the fully removed image in the same order: a faithful map makes it rise fast,
 * a high area). Every method is scored by the same curves, with the same removal and, for
 * natural patches, the same draws. Blocks inside the RoI are never ranked nor removed.
 *
 * @example
 * const evaluation = await evaluateImage({ model, image, mask, roi, block: { height: 8, width: 8 },
 *   patchBank, preprocessing: { kind: 'zscore', epsilon: 1e-6 },
 *   outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
 *   methods: ['pdcr', 'zero', 'rise', 'random'], curves: ['deletion', 'insertion'],
 *   removal: 'patch', seed: 0 });
 */
export async function evaluateImage(options: FaithfulnessImageOptions): Promise<ImageEvaluation> {
  const { model, image, roi, removal } = options;
  const draws = options.draws ?? DEFAULT_REMOVAL_DRAWS;
  const riseMasks = options.riseMasks ?? RISE_DEFAULTS.masks;
  const needsPatches = needsPatchBank(options.methods, removal);
  let explainOptions: Omit<ExplainOptions, 'preset' | 'onProgress'> = {
    model,
    image,
    ...(options.mask ? { mask: options.mask } : {}),
    roi,
    block: options.block,
    ...(options.patchBank ? { patchBank: options.patchBank } : {}),
    preprocessing: options.preprocessing,
    outcome: options.outcome,
    seed: options.seed,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  checkEvaluationRoi(image, roi, options.block, options.roiInput);
  validateInputs({ ...explainOptions, preset: needsPatches ? 'paper' : 'zero' });
  validateChoices(options, draws, riseMasks);

  // The maps and the curves draw from disjoint halves of the bank: a map estimated with the
  // patches that the curves remove blocks by would be scored on its own draws, which favours
  // `pdcr` and `paper` over the methods that never see the bank.
  const banks = needsPatches && options.patchBank ? splitPatchBank(options.patchBank) : undefined;
  if (banks) explainOptions = { ...explainOptions, patchBank: banks.maps };

  const grid = new BlockGrid(image.height, image.width, options.block.height, options.block.width);
  const candidates = outsideRoi(grid, roi);
  const fills = {
    zero: removalFill('zero', image, grid),
    mean: removalFill('mean', image, grid),
    blur: removalFill('blur', image, grid),
  };
  const curveFill =
    removal === 'patch' ? removalFill('patch', image, grid, banks?.curves) : fills[removal];
  const { wholeOutput, opened, passes } = await openRunWindow({
    model,
    roi,
    reading: options.outcome,
    source: { image, patchBank: curveFill.patchBank, grid, preprocessing: options.preprocessing },
    window: options.window !== false,
    needsWholeOutput: !options.mask,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const reference = options.mask
    ? cropPlane(options.mask, roi)
    : wholeOutput!.map((value) => (value > options.outcome.binarize ? 1 : 0));
  // The maps of `pdcr` and `paper` open their own window, as `explain` does.
  if (options.window === false) explainOptions = { ...explainOptions, window: false };
  const run = opened?.model ?? model;
  const evaluatorFor = (fill: RemovalFill): Promise<BatchEvaluator> =>
    createEvaluator(
      run,
      { image, patchBank: fill.patchBank, grid, preprocessing: options.preprocessing },
      {
        classes: run.output.channels,
        height: run.output.height,
        width: run.output.width,
        roi: opened ? withinWindow(roi, opened.window) : roi,
        classIndex: options.outcome.classIndex,
        activation: options.outcome.activation,
        metric: options.outcome.metric,
        threshold: options.outcome.binarize,
        reference,
        accumulatorCount: 1,
      },
    );

  // The untouched image's runs, and its base score.
  const basePasses = passes + 1;
  let forwardPasses = basePasses;
  let curveEvaluator: BatchEvaluator;
  try {
    curveEvaluator = await evaluatorFor(curveFill);
  } catch (error) {
    await opened?.model.release();
    throw error;
  }
  try {
    const base = await curveEvaluator.evaluate(
      new InterventionPlan(1, grid.blockCount),
      Uint32Array.of(NO_TARGET),
    );
    const baseScore = base.scores[0]!;
    const context: MethodContext = {
      explainOptions,
      grid,
      candidates,
      baseScore,
      evaluatorFor,
      fills,
      riseMasks,
      seed: options.seed,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const curveOptions = {
      evaluator: curveEvaluator,
      fill: curveFill,
      draws,
      seed: options.seed,
      kinds: options.curves,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const perMethodCurvePasses = curvePasses(curveOptions, candidates.length);

    const methods: MethodEvaluation[] = [];
    for (const method of options.methods) {
      const report = (phase: string) => (done: number, planned: number) =>
        options.onProgress?.({
          phase: `${method} ${phase}`,
          passesDone: done,
          passesPlanned: planned,
        });
      const ranked = await rankByMethod(method, { ...context, onProgress: report('map') });
      forwardPasses += ranked.forwardPasses;
      if (ranked.interrupted) break;
      let done = 0;
      const curves = await rankingCurves(
        {
          ...curveOptions,
          onBatch: (passes) => report('curves')((done += passes), perMethodCurvePasses),
        },
        ranked.ranking,
      );
      forwardPasses += done;
      if (!curves) break;
      const importanceOf = new Map(candidates.map((block, i) => [block, ranked.importance[i]!]));
      methods.push({
        method,
        forwardPasses: ranked.forwardPasses,
        seconds: ranked.seconds,
        ranking: ranked.ranking.map((block) => {
          const { top, left } = grid.block(block);
          return { top, left, importance: importanceOf.get(block)! };
        }),
        ...curves,
      });
    }
    return {
      image: { height: image.height, width: image.width },
      roi: { ...roi },
      ...(opened ? { window: { ...opened.window } } : {}),
      baseScore,
      rankedBlocks: candidates.length,
      curvePasses: perMethodCurvePasses,
      basePasses,
      forwardPasses,
      methods,
      complete: methods.length === options.methods.length,
    };
  } finally {
    await curveEvaluator.dispose();
    await opened?.model.release();
  }
}

/**
 * Whether evaluating `methods` with `removal` takes natural patches: `pdcr` and `paper` estimate
 * their maps with them, and removal by `patch` fills blocks with them. The other methods and
 * removals need no bank.
 */
export function needsPatchBank(methods: readonly FaithfulnessMethod[], removal: Removal): boolean {
  return removal === 'patch' || methods.some((method) => method === 'pdcr' || method === 'paper');
}

/**
 * Refuses an RoI that does not lie inside an image of `size`, or that touches every block of the
 * `block` grid (nothing outside it to rank and remove). `input` names where the RoI was given:
 * `roi`, or `<list>:<line>` for a list, so that every RoI of a list can be checked before any
 * image is evaluated. A block that is not a positive whole number is left to the explainer's
 * own check, which names `block`.
 *
 * @example
 * checkEvaluationRoi({ height: 40, width: 48 }, roi, { height: 8, width: 8 }, 'rois.txt:3');
 */
export function checkEvaluationRoi(
  size: { readonly height: number; readonly width: number },
  roi: Region,
  block: { readonly height: number; readonly width: number },
  input = 'roi',
): void {
  const { height, width } = size;
  const where = `${roi.top},${roi.left},${roi.height},${roi.width}`;
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
      input,
      `${where} does not lie inside the ${height}x${width} image (rows and columns as the ` +
        'model sees it, after any crop and resize); give TOP,LEFT,HEIGHT,WIDTH within it',
    );
  }
  const blockFits = [block.height, block.width].every((side) => Number.isInteger(side) && side > 0);
  if (!blockFits) return;
  if (outsideRoi(new BlockGrid(height, width, block.height, block.width), roi).length === 0) {
    throw new RegionError(
      input,
      `${where} touches every ${block.height}x${block.width} block of the ${height}x${width} ` +
        'image; nothing outside it can be removed (use a smaller RoI or block)',
    );
  }
}

function validateChoices(
  options: FaithfulnessImageOptions,
  draws: number,
  riseMasks: number,
): void {
  if (options.methods.length === 0) {
    throw new FaithfulnessError('methods', 'name at least one method to evaluate');
  }
  if (options.curves.length === 0) {
    throw new FaithfulnessError('curve', 'name at least one curve: deletion, insertion or both');
  }
  if (new Set(options.methods).size !== options.methods.length) {
    throw new FaithfulnessError('methods', `${options.methods.join(',')} names a method twice`);
  }
  if (!Number.isInteger(draws) || draws < 1) {
    throw new FaithfulnessError('draws', `${draws} is not a whole number of at least 1`);
  }
  if (!Number.isInteger(riseMasks) || riseMasks < 1) {
    throw new FaithfulnessError('rise-masks', `${riseMasks} is not a whole number of at least 1`);
  }
}
