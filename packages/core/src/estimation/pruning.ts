import type { BlockGrid, Region } from '@pdcr/kernels';
import type { RoiField } from '../roi-window.ts';
import { scoreGroupReplacements, type GroupDrawOptions } from './group-draws.ts';

/** Independent patch draws each group is tested with: all must leave the RoI untouched. */
export const DRAWS_PER_GROUP_TEST = 2;
/**
 * Levels of halving after which, if no group has yet left the RoI's output untouched, the model
 * is taken to depend on every block (attention, global pooling, per-image normalisation) and
 * pruning stops: at most 2 x (1 + 2 + 4 + 8) passes are spent finding that out.
 */
export const FALLBACK_LEVEL = 3;

/**
 * `evaluator` scores `maxAbsDifference` of the RoI's activated output against the untouched
 * image's.
 */
export interface PruningOptions extends GroupDrawOptions {
  readonly roi: Region;
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
  const { grid, roi } = options;
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
    const scores = await scoreGroupReplacements(options, tests);
    if (!scores) return { pruned, kept: [...kept, ...level.flat()], passes, fellBack: false };
    passes += tests.length;
    const changed = new Set(tests.filter((_, i) => scores[i] !== 0));

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

/**
 * Pruning by the receptive field read off the model's graph: the blocks wholly outside the
 * image rows and columns the RoI's output reads are replaced all at once, in
 * DRAWS_PER_GROUP_TEST draws, and pruned together if the RoI's raw output stays bit for bit as
 * it was; the blocks inside are kept without a test of their own. Returns null where the joint
 * replacement changed the output (the graph was read wrong, or the model is not what it
 * declares): group testing then decides.
 */
export async function pruneOutsideField(
  options: PruningOptions,
  candidates: readonly number[],
  field: RoiField,
): Promise<PruningResult | null> {
  const { grid } = options;
  const reaches = (block: number) => {
    const { top, left, height, width } = grid.block(block);
    return (
      top <= field.rows[1] &&
      top + height - 1 >= field.rows[0] &&
      left <= field.columns[1] &&
      left + width - 1 >= field.columns[0]
    );
  };
  const outside = candidates.filter((block) => !reaches(block));
  const inside = candidates.filter(reaches);
  if (outside.length === 0) return { pruned: [], kept: inside, passes: 0, fellBack: false };
  const tests = Array.from({ length: DRAWS_PER_GROUP_TEST }, () => outside);
  const scores = await scoreGroupReplacements(options, tests);
  if (!scores || scores.some((score) => score !== 0)) return null;
  return { pruned: outside, kept: inside, passes: tests.length, fellBack: false };
}
