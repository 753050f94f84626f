import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import type { BlockGrid, Region } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import type { SeededRandom } from '../random.ts';
import type { BlockEffect } from '../result.ts';
import { EffectTally } from '../statistics.ts';
import {
  blockEffect,
  outsideRoi,
  runDraws,
  type Estimate,
  type EstimationProgress,
  type ProvisionalEffect,
} from './paper.ts';
import { pruneExactZeros } from './pruning.ts';
import { screenGroups } from './screening.ts';

/** The `fast` preset's defaults. */
export const FAST_DEFAULTS = {
  /** Draws per block per round; the same patches for every block (common random numbers). */
  round: 4,
  /** Most draws a block gets. */
  maxDraws: 32,
  /** False discovery rate of the blocks called significant (Benjamini-Hochberg). */
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

export interface FastEstimation {
  /** Scores the RoI's Dice. */
  readonly evaluator: BatchEvaluator;
  /** Scores the RoI's largest raw change, for exact-zero pruning; absent: no pruning. */
  readonly pruningEvaluator?: BatchEvaluator;
  readonly grid: BlockGrid;
  readonly roi: Region;
  readonly patchCount: number;
  readonly threshold: number;
  readonly round: number;
  readonly maxDraws: number;
  readonly falseDiscoveryRate: number;
  readonly groupSide: number;
  readonly screenDraws: number;
  readonly random: SeededRandom;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly signal?: AbortSignal;
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
}

/** Which side of the dead zone [-t, t] a block's interval has settled on, if any. */
type Settled = 'effect' | 'zero' | null;

/**
 * Where the `level` interval of `tally`'s mean lies against the dead zone [-t, t]. A block
 * whose every draw left the score exactly unchanged is settled at zero, as the paper's screen
 * settles it, but only after a full round of draws.
 */
function settle(tally: EffectTally, threshold: number, level: number): Settled {
  if (tally.sumOfSquares === 0) return 'zero';
  if (tally.count < 2) return null;
  const halfWidth = tQuantile(1 - (1 - level) / 2, tally.count - 1) * tally.standardError;
  const low = tally.mean - halfWidth;
  const high = tally.mean + halfWidth;
  if (low > threshold || high < -threshold) return 'effect';
  if (low >= -threshold && high <= threshold) return 'zero';
  return null;
}

/**
 * p-value of "|ATE| <= t" against "|ATE| > t": the chance, at the least favourable null (ATE at
 * t or at -t), of a mean at least as far beyond the dead zone as the one seen, on either side.
 * It takes no account of the sequential stopping, which makes it somewhat optimistic.
 */
function pValueBeyondThreshold(tally: EffectTally, threshold: number): number {
  const distance = Math.abs(tally.mean);
  if (tally.count < 2 || tally.standardError === 0) return distance > threshold ? 0 : 1;
  const degrees = tally.count - 1;
  const se = tally.standardError;
  return Math.min(
    1,
    tCdf(-(distance - threshold) / se, degrees) + tCdf(-(distance + threshold) / se, degrees),
  );
}

/** Benjamini-Hochberg: the indices of `pValues` rejected at false discovery rate `q`. */
export function benjaminiHochberg(pValues: readonly number[], q: number): Set<number> {
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  let cutoff = -1;
  order.forEach(([p], rank) => {
    if (p <= (q * (rank + 1)) / order.length) cutoff = rank;
  });
  return new Set(order.slice(0, cutoff + 1).map(([, i]) => i));
}

/**
 * The `fast` preset: exact-zero pruning by group testing, the paper's screen done for groups of
 * neighbouring blocks at once, then sequential sampling in rounds
 * with the same patch draws for every block, each round's draws of all active blocks packed
 * into full batches. A block stops when its interval (at the FDR level, Bonferroni-split over
 * the rounds it may look at) settles outside the dead zone [-t, t] or inside it, or at
 * `maxDraws`. Blocks are called significant by Benjamini-Hochberg over the one-sided tests of
 * |ATE| > t, which keeps the expected share of false calls at `falseDiscoveryRate`.
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
  // Without exact-zero pruning to clear the blocks out of reach, groups are screened instead.
  let screenGroupsToo = true;
  if (options.pruningEvaluator) {
    planned = 2 * candidates.length;
    const pruning = await pruneExactZeros(
      {
        evaluator: options.pruningEvaluator,
        grid,
        roi,
        patchCount: options.patchCount,
        random: options.random.fork('pruning'),
        onBatch: (count) => report('screen', count),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      candidates,
    );
    for (const block of pruning.pruned) pruned.add(block);
    sampled = candidates.filter((block) => !pruned.has(block));
    screenGroupsToo = pruning.fellBack;
  }

  const screenedOut = new Map<number, EffectTally>();
  if (screenGroupsToo && options.groupSide > 1 && sampled.length > 0) {
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
      sampled,
    );
    for (const [block, tally] of screening.screened) screenedOut.set(block, tally);
    sampled = screening.kept;
  }

  const looks = Math.ceil(maxDraws / round);
  const level = 1 - options.falseDiscoveryRate / looks;
  const tallies = new Map(sampled.map((block) => [block, new EffectTally()]));
  const settled = new Map<number, Settled>();
  const drawRandom = options.random.fork('draws');
  let active = sampled;
  let complete = true;
  for (let look = 0; look < looks && active.length > 0; look++) {
    const patches = Array.from({ length: round }, () => drawRandom.integer(options.patchCount));
    const draws = active.flatMap((block) => patches.map((patch) => ({ block, patch })));
    planned = done + draws.length + active.length * round * (looks - look - 1);
    const run = await runDraws(
      options,
      draws,
      tallies,
      () => {},
      (count) => report('estimate', count),
    );
    if (run < draws.length) {
      complete = false;
      break;
    }
    for (const block of active) settled.set(block, settle(tallies.get(block)!, threshold, level));
    active = active.filter((block) => settled.get(block) === null);
  }

  const finished = complete
    ? sampled
    : sampled.filter((block) => settled.get(block) === 'effect' || settled.get(block) === 'zero');
  const pValues = finished.map((block) => pValueBeyondThreshold(tallies.get(block)!, threshold));
  const significant = benjaminiHochberg(pValues, options.falseDiscoveryRate);
  const byBlock = new Map<number, BlockEffect>();
  finished.forEach((block, i) => {
    const tally = tallies.get(block)!;
    const isSignificant = significant.has(i);
    byBlock.set(
      block,
      blockEffect(grid, block, tally, isSignificant ? tally.mean : 0, isSignificant),
    );
  });
  for (const block of pruned) {
    byBlock.set(block, blockEffect(grid, block, new EffectTally(), 0, false));
  }
  for (const [block, tally] of screenedOut) {
    byBlock.set(block, blockEffect(grid, block, tally, 0, false));
  }
  return {
    blocks: candidates.filter((block) => byBlock.has(block)).map((block) => byBlock.get(block)!),
    complete,
  };
}
