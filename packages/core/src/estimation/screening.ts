import { EffectTally } from '../statistics.ts';
import { scoreGroupReplacements, type GroupDrawOptions } from './group-draws.ts';

/** `evaluator` scores the RoI's Dice, with the untouched image's score as base. */
export interface GroupScreeningOptions extends GroupDrawOptions {
  /** Blocks per side of a group: 2 screens 2 x 2 neighbouring blocks at once. */
  readonly groupSide: number;
  /** Joint draws per group: every one must leave the score exactly unchanged. */
  readonly draws: number;
}

export interface GroupScreeningResult {
  /** Blocks whose group left the score exactly unchanged in every draw, with that group's tally. */
  readonly screened: Map<number, EffectTally>;
  /** Blocks that go on to sampling one by one. */
  readonly kept: number[];
  readonly complete: boolean;
}

/**
 * The paper's screen, done for groups of neighbouring blocks at once: the group's blocks are
 * all replaced in each draw, and a group whose every draw leaves the RoI's score exactly as it
 * was has its blocks counted as zero, as the paper counts a block whose three draws all leave
 * it so. Where the score moves, the group's blocks are sampled one by one. Like the paper's
 * screen this is a heuristic: a group can leave the score unchanged while its blocks change it
 * in opposite ways (one removing a predicted pixel, another adding one), and a screened block's
 * `n` counts its group's joint draws, not draws of its own.
 */
export async function screenGroups(
  options: GroupScreeningOptions,
  candidates: readonly number[],
): Promise<GroupScreeningResult> {
  const { grid, groupSide } = options;
  const groups = new Map<string, number[]>();
  for (const block of candidates) {
    const row = Math.floor(Math.floor(block / grid.columns) / groupSide);
    const column = Math.floor((block % grid.columns) / groupSide);
    const key = `${row},${column}`;
    groups.set(key, [...(groups.get(key) ?? []), block]);
  }
  const list = [...groups.values()];
  const tests = list.flatMap((group) => Array.from({ length: options.draws }, () => group));
  const tallies = new Map(list.map((group) => [group, new EffectTally()]));

  const scores = await scoreGroupReplacements(options, tests);
  if (!scores) return { screened: new Map(), kept: [...candidates], complete: false };
  tests.forEach((group, i) => {
    const effect = Math.fround(scores[i]! - Math.fround(options.evaluator.baseScore));
    tallies.get(group)!.add(1, effect, effect * effect);
  });

  const screened = new Map<number, EffectTally>();
  const kept: number[] = [];
  for (const group of list) {
    const tally = tallies.get(group)!;
    if (tally.sumOfSquares === 0) for (const block of group) screened.set(block, tally);
    else kept.push(...group);
  }
  kept.sort((a, b) => a - b);
  return { screened, kept, complete: true };
}
