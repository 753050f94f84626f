import { InterventionPlan, NO_TARGET, type BlockGrid, type Region } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import type { SeededRandom } from '../random.ts';

/** Independent patch draws each group is tested with: all must leave the RoI untouched. */
export const DRAWS_PER_GROUP_TEST = 2;
/**
 * Levels of halving after which, if no group has yet left the RoI's output untouched, the model
 * is taken to depend on every block (attention, global pooling, per-image normalisation) and
 * pruning stops: at most 2 x (1 + 2 + 4 + 8) passes are spent finding that out.
 */
export const FALLBACK_LEVEL = 3;

export interface PruningOptions {
  /** Scores `maxAbsDifference` of the RoI's activated output against the untouched image's. */
  readonly evaluator: BatchEvaluator;
  readonly grid: BlockGrid;
  readonly roi: Region;
  readonly patchCount: number;
  readonly random: SeededRandom;
  readonly signal?: AbortSignal;
  readonly onBatch?: (passes: number) => void;
}

export interface PruningResult {
  /** Blocks shown to leave the RoI's output bit for bit unchanged, in every draw tried. */
  readonly pruned: number[];
  /** Blocks that may affect the RoI; they go on to sampling. */
  readonly kept: number[];
  /** Forward passes spent. */
  readonly passes: number;
  /** Whether pruning gave up because no group left the output untouched. */
  readonly fellBack: boolean;
}

/**
 * Group testing for exact zeros: replace a whole group of blocks at once and compare the RoI's
 * raw (activated, not binarised) output with the untouched image's. Unchanged in every draw,
 * the group cannot affect the RoI and every block in it is pruned; changed, it is split in two
 * (far half and near half, by distance from the RoI) and each half is tested in turn, down to
 * single blocks. A finite receptive field leaves the far blocks exactly unchanged; a model
 * whose every output depends on every input changes under every group, and pruning stops after
 * FALLBACK_LEVEL levels.
 *
 * A joint replacement could in principle cancel two blocks' changes to the last bit in every
 * draw; with continuous outputs and independent draws, that is not a practical risk.
 */
export async function pruneExactZeros(
  options: PruningOptions,
  candidates: readonly number[],
): Promise<PruningResult> {
  const { evaluator, grid, roi, patchCount, random } = options;
  const pruned: number[] = [];
  const kept: number[] = [];
  let passes = 0;
  let foundZero = false;
  let level = [farthestFirst(grid, roi, candidates)];

  for (let depth = 0; level.length > 0; depth++) {
    if (depth > FALLBACK_LEVEL && !foundZero) {
      return { pruned, kept: [...kept, ...level.flat()], passes, fellBack: true };
    }
    const tests = level.flatMap((group) =>
      Array.from({ length: DRAWS_PER_GROUP_TEST }, () => group),
    );
    const changed = new Set<readonly number[]>();
    for (let start = 0; start < tests.length; start += evaluator.maxBatchSize) {
      if (options.signal?.aborted)
        return { pruned, kept: [...kept, ...level.flat()], passes, fellBack: false };
      const batch = tests.slice(start, start + evaluator.maxBatchSize);
      const plan = new InterventionPlan(batch.length, grid.blockCount);
      batch.forEach((group, sample) => {
        for (const block of group) plan.replace(sample, block, random.integer(patchCount));
      });
      const { scores } = await evaluator.evaluate(
        plan,
        new Uint32Array(batch.length).fill(NO_TARGET),
      );
      batch.forEach((group, sample) => {
        if (scores[sample] !== 0) changed.add(group);
      });
      passes += batch.length;
      options.onBatch?.(batch.length);
    }

    const next: number[][] = [];
    for (const group of level) {
      if (!changed.has(group)) {
        pruned.push(...group);
        foundZero = true;
      } else if (group.length === 1) {
        kept.push(group[0]!);
      } else {
        const half = Math.ceil(group.length / 2);
        next.push(group.slice(0, half), group.slice(half));
      }
    }
    level = next;
  }
  return { pruned, kept, passes, fellBack: false };
}

/** `blocks` ordered by the distance of their centre from the RoI's centre, farthest first. */
function farthestFirst(grid: BlockGrid, roi: Region, blocks: readonly number[]): number[] {
  const centreY = roi.top + roi.height / 2;
  const centreX = roi.left + roi.width / 2;
  const distance = (block: number) => {
    const region = grid.block(block);
    return Math.hypot(
      region.top + region.height / 2 - centreY,
      region.left + region.width / 2 - centreX,
    );
  };
  return [...blocks].sort((a, b) => distance(b) - distance(a) || a - b);
}
