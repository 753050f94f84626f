import type { BlockGrid } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import { explain, type ExplainOptions } from '../explain.ts';
import { SeededRandom } from '../random.ts';
import type { RemovalFill } from './removal.ts';
import { scoreRemovals } from './replacements.ts';

/**
 * The explainers whose maps are evaluated, all on the same block grid:
 * - `pdcr`: the `fast` preset; `paper`: the paper's algorithm; `zero`: its zero-occlusion
 *   ablation (each through `explain`);
 * - `mean`, `blur`: occlusion, one pass per block, the block replaced by the image's mean or by
 *   its blurred self;
 * - `rise`: random-mask sampling in the style of RISE: random low-resolution masks over the
 *   blocks, each block's score the mean RoI score over the masks that kept it;
 * - `random`: a random order, the floor any map should beat.
 */
export type FaithfulnessMethod = 'pdcr' | 'paper' | 'zero' | 'mean' | 'blur' | 'rise' | 'random';

export const FAITHFULNESS_METHODS: readonly FaithfulnessMethod[] = [
  'pdcr',
  'paper',
  'zero',
  'mean',
  'blur',
  'rise',
  'random',
];

/** RISE's defaults, on the block grid: cells of 2 x 2 blocks, each kept with probability 1/2. */
export const RISE_DEFAULTS = { masks: 1000, cellBlocks: 2, keepProbability: 0.5 } as const;

/** A method's map turned into an order of removal, and what the map cost. */
export interface MethodRanking {
  readonly method: FaithfulnessMethod;
  readonly interrupted: false;
  /**
   * Per ranked block, in grid order: how much the block helped the RoI's score, the higher the
   * sooner it is removed. For the explainers that measure effects, minus the ATE (a block whose
   * replacement lowers the score helped it).
   */
  readonly importance: number[];
  /** Block indices, most important first. */
  readonly ranking: number[];
  /** Forward passes the map took. */
  readonly forwardPasses: number;
  readonly seconds: number;
}

/** A map the signal aborted: no order, only the forward passes it ran before it stopped. */
export interface InterruptedRanking {
  readonly method: FaithfulnessMethod;
  readonly interrupted: true;
  readonly forwardPasses: number;
}

/** What measuring a map gave: each block's importance, or null when aborted; passes run. */
interface Measured {
  readonly importance: number[] | null;
  readonly tieBreak?: number[];
  readonly forwardPasses: number;
}

export interface MethodContext {
  /** What `explain` needs for the presets; `preset` is set per method. */
  readonly explainOptions: Omit<ExplainOptions, 'preset' | 'onProgress'>;
  readonly grid: BlockGrid;
  /** The blocks outside the RoI, in grid order: the only ones ranked and removed. */
  readonly candidates: readonly number[];
  /** The untouched image's score. */
  readonly baseScore: number;
  /** An evaluator whose intervention source is `fill`'s patch bank. */
  readonly evaluatorFor: (fill: RemovalFill) => Promise<BatchEvaluator>;
  readonly fills: {
    readonly zero: RemovalFill;
    readonly mean: RemovalFill;
    readonly blur: RemovalFill;
  };
  readonly riseMasks: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Forward passes done and planned within the method's map. */
  readonly onProgress?: (done: number, planned: number) => void;
}

/** The method's map and its order of removal, or the passes it ran when the signal aborted it. */
export async function rankByMethod(
  method: FaithfulnessMethod,
  context: MethodContext,
): Promise<MethodRanking | InterruptedRanking> {
  const started = performance.now();
  let measured: Measured;
  switch (method) {
    case 'pdcr':
      measured = await explainedImportance(context, 'fast');
      break;
    case 'paper':
    case 'zero':
      measured = await explainedImportance(context, method);
      break;
    case 'mean':
    case 'blur':
      measured = await occlusionImportance(context, context.fills[method]);
      break;
    case 'rise':
      measured = await riseImportance(context);
      break;
    case 'random': {
      const random = new SeededRandom(context.seed).fork('random ranking');
      measured = {
        importance: context.candidates.map(() => random.uniform()),
        forwardPasses: 0,
      };
      break;
    }
  }
  if (!measured.importance) {
    return { method, interrupted: true, forwardPasses: measured.forwardPasses };
  }
  return {
    method,
    interrupted: false,
    importance: measured.importance,
    ranking: rankBlocks(context.candidates, measured.importance, measured.tieBreak),
    forwardPasses: measured.forwardPasses,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * `blocks` ordered by `importance`, highest first; ties by `tieBreak` (highest first), then by
 * grid order.
 */
export function rankBlocks(
  blocks: readonly number[],
  importance: readonly number[],
  tieBreak?: readonly number[],
): number[] {
  return blocks
    .map((block, i) => ({ block, key: importance[i]!, second: tieBreak?.[i] ?? 0 }))
    .sort((a, b) => b.key - a.key || b.second - a.second || a.block - b.block)
    .map(({ block }) => block);
}

/**
 * Minus each block's ATE under a preset. The presets set the ATE of blocks they call null to
 * zero, which ties most of the map; those ties are broken by minus the mean effect measured
 * (the centre of the block's interval), so that the order uses everything the preset measured.
 */
async function explainedImportance(
  context: MethodContext,
  preset: 'fast' | 'paper' | 'zero',
): Promise<Measured> {
  const result = await explain({
    ...context.explainOptions,
    preset,
    onProgress: (progress) => context.onProgress?.(progress.passesDone, progress.passesPlanned),
  });
  if (!result.complete) return { importance: null, forwardPasses: result.forwardPasses };
  const byBlock = new Map(
    result.blocks.map((effect) => [context.grid.blockAt(effect.top, effect.left), effect]),
  );
  const effects = context.candidates.map((block) => byBlock.get(block)!);
  return {
    importance: effects.map((effect) => -effect.ate),
    tieBreak: effects.map((effect) => -(effect.ciLow + effect.ciHigh) / 2),
    forwardPasses: result.forwardPasses,
  };
}

/**
 * One pass per block with the block filled by `fill`: the score lost by removing it. The
 * untouched image's score is the evaluation's own base pass, counted once for the image.
 */
async function occlusionImportance(context: MethodContext, fill: RemovalFill): Promise<Measured> {
  const evaluator = await context.evaluatorFor(fill);
  try {
    let done = 0;
    const planned = context.candidates.length;
    const scores = await scoreRemovals(
      {
        evaluator,
        patchOfBlock: fill.patchOfBlock(new SeededRandom(context.seed)),
        ...(context.signal ? { signal: context.signal } : {}),
        onBatch: (passes) => context.onProgress?.((done += passes), planned),
      },
      context.candidates.map((block) => [block]),
    );
    return {
      importance: scores && Array.from(scores, (score) => context.baseScore - score),
      forwardPasses: evaluator.forwardPasses,
    };
  } finally {
    await evaluator.dispose();
  }
}

/**
 * RISE on the block grid: each mask keeps the blocks of randomly kept cells of `cellBlocks` x
 * `cellBlocks` blocks (the cell grid shifted at random, so that cell edges fall anywhere) and
 * fills the others with zeros, as RISE multiplies the image by its mask. A block's importance
 * is the score-weighted average of the masks at that block: the mean RoI score over the masks
 * that kept it. Blocks inside the RoI are never masked.
 */
async function riseImportance(context: MethodContext): Promise<Measured> {
  const { grid, candidates, riseMasks } = context;
  const { cellBlocks, keepProbability } = RISE_DEFAULTS;
  const random = new SeededRandom(context.seed).fork('rise masks');
  const kept: boolean[][] = [];
  const masks = Array.from({ length: riseMasks }, () => {
    const shiftRow = random.integer(cellBlocks);
    const shiftColumn = random.integer(cellBlocks);
    const cells = new Map<number, boolean>();
    const keeps = candidates.map((block) => {
      const row = Math.floor((Math.floor(block / grid.columns) + shiftRow) / cellBlocks);
      const column = Math.floor(((block % grid.columns) + shiftColumn) / cellBlocks);
      const cell = row * (grid.columns + cellBlocks) + column;
      if (!cells.has(cell)) cells.set(cell, random.uniform() < keepProbability);
      return cells.get(cell)!;
    });
    kept.push(keeps);
    return candidates.filter((_, i) => !keeps[i]);
  });

  const fill = context.fills.zero;
  const evaluator = await context.evaluatorFor(fill);
  let scores: Float64Array | null;
  let forwardPasses: number;
  try {
    let done = 0;
    scores = await scoreRemovals(
      {
        evaluator,
        patchOfBlock: fill.patchOfBlock(random),
        ...(context.signal ? { signal: context.signal } : {}),
        onBatch: (passes) => context.onProgress?.((done += passes), riseMasks),
      },
      masks,
    );
    forwardPasses = evaluator.forwardPasses;
  } finally {
    await evaluator.dispose();
  }
  if (!scores) return { importance: null, forwardPasses };
  const meanScore = scores.reduce((sum, score) => sum + score, 0) / Math.max(scores.length, 1);
  const importance = candidates.map((_, i) => {
    let sum = 0;
    let count = 0;
    kept.forEach((keeps, mask) => {
      if (!keeps[i]) return;
      sum += scores[mask]!;
      count++;
    });
    // A block no mask kept carries no information: the average score, neither up nor down.
    return count > 0 ? sum / count : meanScore;
  });
  return { importance, forwardPasses };
}
