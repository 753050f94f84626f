import { InterventionPlan, NO_TARGET } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';

/** One image to score: which blocks are removed from it. */
export type RemovedBlocks = readonly number[];

export interface ReplacementRun {
  /** Scores the RoI with the removal's patch bank as its source. */
  readonly evaluator: BatchEvaluator;
  /** The patch that fills each block when it is removed (one draw of the removal). */
  readonly patchOfBlock: Uint32Array;
  readonly signal?: AbortSignal;
  /** Called after each batch with the passes it ran. */
  readonly onBatch?: (passes: number) => void;
}

/**
 * One forward pass per entry of `samples`, each with its blocks removed (filled as
 * `patchOfBlock` says), packed into full batches. Returns the RoI score of each sample, in
 * order, or null when the signal aborted the work before it was done.
 */
export async function scoreRemovals(
  run: ReplacementRun,
  samples: readonly RemovedBlocks[],
): Promise<Float64Array | null> {
  const { evaluator, patchOfBlock } = run;
  const scores = new Float64Array(samples.length);
  for (let start = 0; start < samples.length; start += evaluator.maxBatchSize) {
    if (run.signal?.aborted) return null;
    const batch = samples.slice(start, start + evaluator.maxBatchSize);
    const plan = new InterventionPlan(batch.length, evaluator.blockCount);
    batch.forEach((removed, sample) => {
      for (const block of removed) plan.replace(sample, block, patchOfBlock[block]!);
    });
    const targets = new Uint32Array(batch.length).fill(NO_TARGET);
    scores.set((await evaluator.evaluate(plan, targets)).scores, start);
    run.onBatch?.(batch.length);
  }
  return scores;
}
