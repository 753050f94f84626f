import { InterventionPlan, NO_TARGET, type BlockGrid, type Region } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import type { SeededRandom } from '../random.ts';
import type { BlockEffect } from '../result.ts';
import { EffectTally } from '../statistics.ts';

/** The paper's defaults (DESIGN section 1). */
export const PAPER_DEFAULTS = { samples: 50, screen: 3, threshold: 0.02 } as const;

export interface EstimationProgress {
  readonly phase: 'base' | 'screen' | 'estimate';
  /** Forward passes done and planned so far. */
  readonly passesDone: number;
  readonly passesPlanned: number;
}

/** A block's running mean effect while it is sampled, for a map that fills in as it is made. */
export interface ProvisionalEffect {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
  /** Mean effect of the draws so far in this phase, before any decision zeroes it. */
  readonly mean: number;
  readonly n: number;
}

/** What every estimator hands to `runDraws`. */
export interface DrawOptions {
  readonly evaluator: BatchEvaluator;
  readonly grid: BlockGrid;
  readonly signal?: AbortSignal;
  /** Called after each batch with the running effects of the blocks it sampled. */
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
}

export interface PaperEstimation extends DrawOptions {
  readonly roi: Region;
  readonly patchCount: number;
  readonly samples: number;
  readonly screen: number;
  readonly threshold: number;
  readonly random: SeededRandom;
  readonly onProgress?: (progress: EstimationProgress) => void;
}

/** One forward pass to run: `block` replaced by `patch`, its effect added to `block`'s tally. */
interface Draw {
  readonly block: number;
  readonly patch: number;
  /** The stratum of the patch bank the patch was drawn from, for stratified tallies. */
  readonly stratum?: number;
}

/** An estimator's blocks; `complete` is false when the run was interrupted, and then only the
 * blocks whose draws had all been run are listed. */
export interface Estimate {
  readonly blocks: BlockEffect[];
  readonly complete: boolean;
}

/**
 * The paper's algorithm exactly: every block outside the RoI is screened with `screen` draws
 * and counts as 0 when every |M - M0| is below the threshold; the others get `samples` draws,
 * and a mean below the threshold is recorded as 0. Patches are drawn uniformly with replacement.
 * Draws of many blocks share each batch, so the model always runs full batches.
 */
export async function estimatePaper(options: PaperEstimation): Promise<Estimate> {
  const { grid, roi, patchCount, random } = options;
  const blocks = outsideRoi(grid, roi);
  const screenRandom = random.fork('screen');
  const estimateRandom = random.fork('estimate');

  const screenDraws = blocks.flatMap((block) =>
    Array.from({ length: options.screen }, () => ({
      block,
      patch: screenRandom.integer(patchCount),
    })),
  );
  const screenTallies = new Map(blocks.map((block) => [block, new EffectTally()]));
  const passed = new Set<number>();
  let planned = screenDraws.length;
  let done = 0;
  const report = (phase: EstimationProgress['phase']) =>
    options.onProgress?.({ phase, passesDone: done, passesPlanned: planned });

  const screened = await runDraws(
    options,
    screenDraws,
    screenTallies,
    (draw, effect) => {
      if (Math.abs(effect) >= options.threshold) passed.add(draw.block);
    },
    (count) => {
      done += count;
      report('screen');
    },
  );
  if (screened < screenDraws.length) {
    // Interrupted while screening: only the blocks fully screened out are finished.
    const finished = blocks
      .slice(0, Math.floor(screened / options.screen))
      .filter((block) => !passed.has(block));
    return {
      blocks: finished.map((block) =>
        blockEffect(grid, block, screenTallies.get(block)!, NOT_CALLED_SCREENED),
      ),
      complete: false,
    };
  }

  const estimated = blocks.filter((block) => passed.has(block));
  const estimateDraws = estimated.flatMap((block) =>
    Array.from({ length: options.samples }, () => ({
      block,
      patch: estimateRandom.integer(patchCount),
    })),
  );
  planned += estimateDraws.length;
  const estimateTallies = new Map(estimated.map((block) => [block, new EffectTally()]));
  const estimatedDraws = await runDraws(
    options,
    estimateDraws,
    estimateTallies,
    () => {},
    (count) => {
      done += count;
      report('estimate');
    },
  );
  const unfinished = new Set(estimated.slice(Math.floor(estimatedDraws / options.samples)));

  const effects = blocks
    .filter((block) => !unfinished.has(block))
    .map((block) => {
      const tally = estimateTallies.get(block) ?? screenTallies.get(block)!;
      const ate = tally.mean;
      const significant = passed.has(block) && Math.abs(ate) >= options.threshold;
      return blockEffect(grid, block, tally, {
        ate: significant ? ate : 0,
        significant,
        screened: !passed.has(block),
      });
    });
  return { blocks: effects, complete: unfinished.size === 0 };
}

/** Blocks of the grid that share no pixel with the RoI, in row-major order. */
export function outsideRoi(grid: BlockGrid, roi: Region): number[] {
  return Array.from({ length: grid.blockCount }, (_, block) => block).filter(
    (block) => !grid.overlaps(block, roi),
  );
}

/** The decision for a block a screen settled at zero. */
export const NOT_CALLED_SCREENED = { ate: 0, significant: false, screened: true } as const;

export function blockEffect(
  grid: BlockGrid,
  block: number,
  tally: EffectTally,
  decision: { readonly ate: number; readonly significant: boolean; readonly screened?: boolean },
): BlockEffect {
  const { ate, significant, screened = false } = decision;
  const region = grid.block(block);
  const { low, high } = tally.interval();
  return {
    ...region,
    ate,
    se: tally.standardError,
    n: tally.count,
    ciLow: low,
    ciHigh: high,
    significant,
    screened,
  };
}

/**
 * Runs `draws` in full batches; adds each draw's effect to its block's tally and hands it to
 * `onEffect`. Stops between batches when the
 * signal is aborted; returns how many draws, from the first, were run.
 */
export async function runDraws(
  options: DrawOptions,
  draws: readonly Draw[],
  tallies: Map<number, EffectTally>,
  onEffect: (draw: Draw, effect: number) => void,
  onBatch: (count: number) => void,
): Promise<number> {
  const { evaluator, grid } = options;
  for (let start = 0; start < draws.length; start += evaluator.maxBatchSize) {
    if (options.signal?.aborted) return start;
    const batch = draws.slice(start, start + evaluator.maxBatchSize);
    const plan = new InterventionPlan(batch.length, grid.blockCount);
    const targets = new Uint32Array(batch.length).fill(NO_TARGET);
    batch.forEach((draw, sample) => {
      plan.replace(sample, draw.block, draw.patch);
      targets[sample] = draw.block;
    });
    // Tallies are kept in double precision from each sample's score: the kernel's float32
    // accumulators lose the variance of effects that are large next to their spread.
    const { scores } = await evaluator.evaluate(plan, targets);
    batch.forEach((draw, sample) => {
      const effect = Math.fround(scores[sample]! - Math.fround(evaluator.baseScore));
      tallies.get(draw.block)!.add(1, effect, effect * effect, draw.stratum ?? 0);
      onEffect(draw, effect);
    });
    options.onEffects?.(runningEffects(grid, batch, tallies));
    onBatch(batch.length);
  }
  return draws.length;
}

/** The running mean of every block `draws` sampled, for `onEffects`. */
export function runningEffects(
  grid: BlockGrid,
  draws: readonly Draw[],
  tallies: Map<number, EffectTally>,
): ProvisionalEffect[] {
  return [...new Set(draws.map((draw) => draw.block))].map((block) => {
    const tally = tallies.get(block)!;
    return { ...grid.block(block), mean: tally.mean, n: tally.count };
  });
}
