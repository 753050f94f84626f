import { InterventionPlan, NO_TARGET, type BlockGrid } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import type { SeededRandom } from '../random.ts';

export interface GroupDrawOptions {
  readonly evaluator: BatchEvaluator;
  readonly grid: BlockGrid;
  readonly patchCount: number;
  readonly random: SeededRandom;
  readonly signal?: AbortSignal;
  readonly onBatch?: (passes: number) => void;
}

/**
 * One forward pass per entry of `groups`, each replacing every block of its group by a patch
 * drawn at random, packed into full batches. Returns each pass's score, in order, or null when
 * the signal aborted the work before it was done.
 */
export async function scoreGroupReplacements(
  options: GroupDrawOptions,
  groups: readonly (readonly number[])[],
): Promise<Float32Array | null> {
  const { evaluator, grid, patchCount, random } = options;
  const scores = new Float32Array(groups.length);
  for (let start = 0; start < groups.length; start += evaluator.maxBatchSize) {
    if (options.signal?.aborted) return null;
    const batch = groups.slice(start, start + evaluator.maxBatchSize);
    const plan = new InterventionPlan(batch.length, grid.blockCount);
    batch.forEach((group, sample) => {
      for (const block of group) plan.replace(sample, block, random.integer(patchCount));
    });
    const targets = new Uint32Array(batch.length).fill(NO_TARGET);
    scores.set((await evaluator.evaluate(plan, targets)).scores, start);
    options.onBatch?.(batch.length);
  }
  return scores;
}
