import type { BlockGrid, Region } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import { nextTask } from '../event-loop.ts';
import type { SeededRandom } from '../random.ts';
import type { BlockEffect } from '../result.ts';
import { EffectTally } from '../statistics.ts';
import {
  blockEffect,
  NOT_CALLED_SCREENED,
  outsideRoi,
  runDraws,
  runningEffects,
  type Estimate,
  type EstimationProgress,
  type ProvisionalEffect,
} from './paper.ts';
import { pruneExactZeros, pruneOutsideField } from './pruning.ts';
import { screenGroups } from './screening.ts';
import { sampleSequentially } from './sequential.ts';
import type { StatisticsRoute } from './statistics-route.ts';
import type { RoiField } from '../roi-window.ts';

export { benjaminiHochberg } from './sequential.ts';

/** The `fast` preset's defaults. */
export const FAST_DEFAULTS = {
  /** Draws per block per round; the same patches for every block (common random numbers). */
  round: 4,
  /**
   * Strata of the patch bank by brightness, drawn from equally in every round. A block's effect
   * depends largely on its patch's brightness; on the demo crop two strata cut the variance of
   * its mean severalfold against uniform draws, and took the map to the paper's agreement with
   * a third of its passes (docs/benchmarks.md).
   */
  patchStrata: 2,
  /** Draws after which a block stops unless extra draws could bring it to a call (below). */
  maxDraws: 16,
  /**
   * Extra draws past `maxDraws`, as a multiple of it: a block at `maxDraws` neither called nor
   * settled at zero goes on while it would be called by then, were its mean and spread to hold;
   * a block scored through the statistics route, whose draws mostly cost no pass, while its mean
   * lies beyond the threshold (up to `routeExtraDrawMultiple` times as many). On the four
   * benchmark maps it cost 4 to 93 passes more; agreement with the reference's point calls went
   * up by 1 to 6 blocks on all four, with its interval calls up by 1 or 2 on three and down by 1
   * on one (docs/benchmarks.md).
   */
  extraDrawFactor: 3,
  /**
   * Extra draws of a block scored through the statistics route, as a multiple of the others'
   * extra draws: 5 gives 240 with the defaults, up to 256 draws in all. Most of its draws are
   * inferred, not run, and the blocks beyond the receptive field of a whole image often sit just
   * past the threshold (about -0.025 to -0.03 against -0.02 on the 512 x 512 benchmark map, with
   * a spread of 0.03 per draw), which no call at 5% reaches in 64 draws. On that map, 5 took the
   * calls agreeing with the reference's point calls from 91.3% to 94.8%, and its interval calls
   * from 93.7% to 97.2%, for 208 passes more (docs/benchmarks.md).
   */
  routeExtraDrawMultiple: 5,
  /**
   * False discovery rate of the blocks called significant: Benjamini-Hochberg on p-values that
   * pay for every look at a block's draws (`sampleSequentially`). Exact where each look's t test
   * is; on effects known exactly it measured 3.0-3.5% with normal draws all on the threshold,
   * 0.5-2.0% with one-pixel flips, and 13.5% with uniform draws, whose far tail the t test gets
   * wrong (docs/benchmarks.md).
   */
  falseDiscoveryRate: 0.05,
  /** Blocks per side of a screening group (1: no group screening). */
  groupSide: 2,
  /**
   * Joint draws per screening group. Two, not the paper's three: on the demo crop, three
   * screened out fewer groups and cost more passes for a worse map (docs/benchmarks.md).
   */
  screenDraws: 2,
  threshold: 0.02,
} as const;

/** Extra draws a block scored through the statistics route may take, given the others'. */
export function routeExtraDraws(extraDraws: number): number {
  return FAST_DEFAULTS.routeExtraDrawMultiple * extraDraws;
}

export interface FastEstimation {
  /** Scores the RoI's Dice. */
  readonly evaluator: BatchEvaluator;
  /** Scores the RoI's largest raw change, for exact-zero pruning; absent: no pruning. */
  readonly pruningEvaluator?: BatchEvaluator;
  /**
   * Under per-image z-score: `pruningEvaluator` then normalises by the untouched image's
   * statistics, so the blocks it clears are those beyond the receptive field, which reach the
   * RoI through the image's statistics alone; they are sampled like the others, but their draws
   * are scored through this route, most of them without a pass of their own.
   */
  readonly statisticsRoute?: StatisticsRoute;
  readonly grid: BlockGrid;
  readonly roi: Region;
  /**
   * The image rows and columns the RoI's output reads, where the model's graph shows a finite
   * receptive field: pruning then tests the blocks outside it at once instead of by halving.
   */
  readonly field?: RoiField;
  readonly patchCount: number;
  /** The patch bank split into strata by brightness (see `patchStrata`); absent: one stratum. */
  readonly patchStrata?: readonly (readonly number[])[];
  readonly threshold: number;
  readonly round: number;
  readonly maxDraws: number;
  /**
   * Draws a block may take past `maxDraws` where they could bring it to a call; a block scored
   * through the statistics route, `routeExtraDraws` of this.
   */
  readonly extraDraws?: number;
  readonly falseDiscoveryRate: number;
  readonly groupSide: number;
  readonly screenDraws: number;
  readonly random: SeededRandom;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly signal?: AbortSignal;
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
}

/**
 * The `fast` preset: exact-zero pruning (by the receptive field where the graph shows one, by
 * group testing otherwise), the paper's screen done for groups of neighbouring blocks at once,
 * then sequential sampling in rounds with the same patch draws for every block, each round's
 * draws of all active blocks packed into full batches. The blocks that pass the screens are
 * called significant by Benjamini-Hochberg at `falseDiscoveryRate` on tests of |ATE| > t that pay
 * for every look at their draws, made after the screens; a block stops once it is called, when its
 * interval settles inside the dead zone [-t, t], or at `maxDraws`, past which it goes on only
 * while `extraDraws` could bring it to a call (`sampleSequentially`).
 */
export async function estimateFast(options: FastEstimation): Promise<Estimate> {
  const { grid, roi, threshold, round, maxDraws } = options;
  const candidates = outsideRoi(grid, roi);
  let done = 0;
  let planned = 0;
  const report = (phase: EstimationProgress['phase'], count: number) => {
    done += count;
    options.onProgress?.({ phase, passesDone: done, passesPlanned: Math.max(planned, done) });
  };

  let sampled = candidates;
  const pruned = new Set<number>();
  // Blocks beyond the receptive field, scored through the statistics route.
  const far = new Set<number>();
  if (options.pruningEvaluator) {
    planned = 2 * candidates.length;
    const pruningOptions = {
      evaluator: options.pruningEvaluator,
      grid,
      roi,
      patchCount: options.patchCount,
      random: options.random.fork('pruning'),
      onBatch: (count: number) => report('screen', count),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const pruning =
      (options.field && (await pruneOutsideField(pruningOptions, candidates, options.field))) ??
      (await pruneExactZeros(pruningOptions, candidates));
    if (options.statisticsRoute) {
      for (const block of pruning.pruned) far.add(block);
    } else {
      for (const block of pruning.pruned) pruned.add(block);
      sampled = candidates.filter((block) => !pruned.has(block));
    }
  }

  // The paper's screen, for groups of neighbouring blocks at once; blocks scored through the
  // statistics route are screened by their first round instead (`screenFirst`).
  const screenedOut = new Map<number, EffectTally>();
  const near = sampled.filter((block) => !far.has(block));
  if (options.groupSide > 1 && near.length > 0) {
    const screening = await screenGroups(
      {
        evaluator: options.evaluator,
        grid,
        patchCount: options.patchCount,
        random: options.random.fork('screening'),
        groupSide: options.groupSide,
        draws: options.screenDraws,
        onBatch: (count) => report('screen', count),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      near,
    );
    for (const [block, tally] of screening.screened) screenedOut.set(block, tally);
    sampled = sampled.filter((block) => !screenedOut.has(block));
  }

  // The route's runs and scored draws at the last plan, and the share of the last round's it ran.
  const routeSeen = { run: 0, scored: 0, share: 1 };
  const sampling = await sampleSequentially({
    units: sampled,
    // Blocks no group screen has passed are screened by their first round.
    screenFirst: new Set(options.groupSide > 1 ? far : sampled),
    poolSize: options.patchCount,
    ...(options.patchStrata ? { strata: options.patchStrata } : {}),
    threshold,
    round,
    maxDraws,
    inexpensive: far,
    ...(options.extraDraws
      ? {
          extraDraws: options.extraDraws,
          inexpensiveExtraDraws: routeExtraDraws(options.extraDraws),
        }
      : {}),
    falseDiscoveryRate: options.falseDiscoveryRate,
    random: options.random.fork('draws'),
    onPlan: (passesLeft, routeDrawsLeft) => {
      // A draw through the statistics route costs a pass only where the route runs it, less often
      // as its runs fill the statistics space: counted at the share of the last round's draws it
      // ran (all of them before it has scored any).
      const route = options.statisticsRoute;
      if (route) {
        const scored = route.drawsRun + route.drawsInferred - routeSeen.scored;
        if (scored > 0) routeSeen.share = (route.drawsRun - routeSeen.run) / scored;
        routeSeen.run = route.drawsRun;
        routeSeen.scored = route.drawsRun + route.drawsInferred;
      }
      planned = done + passesLeft + Math.ceil(routeDrawsLeft * routeSeen.share);
    },
    runRound: async (active, patches, tallies, strata) => {
      // A round whose draws are all inferred runs no model and so gives the event loop no turn
      // of its own: take one, and see whether the run was interrupted meanwhile.
      await nextTask();
      if (options.signal?.aborted) return false;
      const drawsOf = (blocks: readonly number[]) =>
        blocks.flatMap((block) =>
          patches.map((patch, i) => ({ block, patch, stratum: strata[i]! })),
        );
      const near = drawsOf(active.filter((block) => !far.has(block)));
      const run = await runDraws(
        options,
        near,
        tallies,
        () => {},
        (count) => report('estimate', count),
      );
      if (run < near.length) return false;
      const route = options.statisticsRoute;
      const farDraws = drawsOf(active.filter((block) => far.has(block)));
      if (!route || farDraws.length === 0) return true;
      const scores = await route.score(farDraws, (count) => report('estimate', count));
      if (!scores) return false;
      const base = Math.fround(options.evaluator.baseScore);
      farDraws.forEach((draw, i) => {
        const effect = Math.fround(scores[i]! - base);
        tallies.get(draw.block)!.add(1, effect, effect * effect, draw.stratum);
      });
      options.onEffects?.(runningEffects(grid, farDraws, tallies));
      return true;
    },
  });

  const byBlock = new Map<number, BlockEffect>();
  // The map holds every sampled block's mean, called or not: its interval and `significant`
  // say how sure it is. Zeroing the uncalled ones, as the paper zeroes means below the
  // threshold, would throw away the ranking of the many small effects (docs/benchmarks.md).
  for (const block of sampling.finished) {
    const tally = sampling.tallies.get(block)!;
    byBlock.set(
      block,
      blockEffect(grid, block, tally, {
        ate: tally.mean,
        significant: sampling.significant.has(block),
        screened: sampling.screenedOut.has(block),
      }),
    );
  }
  for (const block of pruned) {
    byBlock.set(block, blockEffect(grid, block, new EffectTally(), { ate: 0, significant: false }));
  }
  for (const [block, tally] of screenedOut) {
    byBlock.set(block, blockEffect(grid, block, tally, NOT_CALLED_SCREENED));
  }
  return {
    blocks: candidates.filter((block) => byBlock.has(block)).map((block) => byBlock.get(block)!),
    complete: sampling.complete,
  };
}
