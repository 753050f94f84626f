import type { BlockGrid, Region } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import { EffectTally } from '../statistics.ts';
import {
  blockEffect,
  outsideRoi,
  runDraws,
  type Estimate,
  type EstimationProgress,
  type ProvisionalEffect,
} from './paper.ts';

export interface ZeroEstimation {
  readonly evaluator: BatchEvaluator;
  readonly grid: BlockGrid;
  readonly roi: Region;
  readonly threshold: number;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly signal?: AbortSignal;
  readonly onEffects?: (effects: ProvisionalEffect[]) => void;
}

/**
 * The paper's ablation: each block outside the RoI replaced by zeros (the bank's one patch),
 * one pass per block; an effect below the threshold is recorded as 0.
 */
export async function estimateZero(options: ZeroEstimation): Promise<Estimate> {
  const blocks = outsideRoi(options.grid, options.roi);
  const tallies = new Map(blocks.map((block) => [block, new EffectTally()]));
  let done = 0;
  const run = await runDraws(
    options,
    blocks.map((block) => ({ block, patch: 0 })),
    tallies,
    () => {},
    (count) => {
      done += count;
      options.onProgress?.({ phase: 'estimate', passesDone: done, passesPlanned: blocks.length });
    },
  );
  const effects = blocks.slice(0, run).map((block) => {
    const tally = tallies.get(block)!;
    const significant = Math.abs(tally.mean) >= options.threshold;
    return blockEffect(options.grid, block, tally, {
      ate: significant ? tally.mean : 0,
      significant,
    });
  });
  return { blocks: effects, complete: run === blocks.length };
}
