import type { BatchEvaluator } from '../evaluator.ts';
import { SeededRandom } from '../random.ts';
import { EffectTally } from '../statistics.ts';
import type { RemovalFill } from './removal.ts';
import { scoreRemovals, type RemovedBlocks } from './replacements.ts';

/**
 * Deletion: from the untouched image, remove the ranked blocks one by one, most important
 * first. Insertion: from the image with every ranked block removed, restore them in the same
 * order.
 */
export type CurveKind = 'deletion' | 'insertion';

export const CURVE_KINDS: readonly CurveKind[] = ['deletion', 'insertion'];

/** One curve of one ranking, averaged over the removal's draws. */
export interface Curve {
  /** RoI score after 0, 1, ..., n steps (n ranked blocks): n + 1 values, mean over draws. */
  readonly scores: number[];
  /** Each draw's curve (one draw where the removal is not random). */
  readonly draws: number[][];
  /**
   * Area under the curve with the steps spread over [0, 1] (trapezoids, divided by the number
   * of steps), in score points: the mean score along the curve. Mean over draws.
   */
  readonly area: number;
  /**
   * 95% Student-t interval of the area over the draws; null with one draw (a removal that is not
   * random, or `draws` 1), which gives no spread to make an interval of.
   */
  readonly areaLow: number | null;
  readonly areaHigh: number | null;
}

export interface CurveOptions {
  /** Scores the RoI with `fill`'s patch bank as the intervention source. */
  readonly evaluator: BatchEvaluator;
  readonly fill: RemovalFill;
  /** Draws of a random fill to average over; fills that are not random take one. */
  readonly draws: number;
  /**
   * Seed of the fill's draws. The same seed gives every ranking the same patches in draw d, so
   * that rankings differ by their order alone (common random numbers).
   */
  readonly seed: number;
  readonly kinds: readonly CurveKind[];
  readonly signal?: AbortSignal;
  readonly onBatch?: (passes: number) => void;
}

/** Forward passes that `curves` spends on a ranking of `blocks` blocks. */
export function curvePasses(
  options: Pick<CurveOptions, 'fill' | 'draws' | 'kinds'>,
  blocks: number,
) {
  return drawCount(options) * options.kinds.length * (blocks + 1);
}

function drawCount(options: Pick<CurveOptions, 'fill' | 'draws'>): number {
  return options.fill.random ? options.draws : 1;
}

/** The seeded generator of draw `draw` of a removal: the same for every ranking. */
export function removalDraw(seed: number, draw: number): SeededRandom {
  return new SeededRandom(seed).fork(`removal draw ${draw}`);
}

/**
 * The deletion and insertion curves of `ranking` (block indices, most important first), or
 * null when the signal aborted them.
 */
export async function rankingCurves(
  options: CurveOptions,
  ranking: readonly number[],
): Promise<Partial<Record<CurveKind, Curve>> | null> {
  const steps = ranking.length;
  const samples: RemovedBlocks[] = [];
  for (const kind of options.kinds) {
    for (let step = 0; step <= steps; step++) {
      samples.push(kind === 'deletion' ? ranking.slice(0, step) : ranking.slice(step));
    }
  }

  const perDraw: Float64Array[] = [];
  for (let draw = 0; draw < drawCount(options); draw++) {
    const scores = await scoreRemovals(
      {
        evaluator: options.evaluator,
        patchOfBlock: options.fill.patchOfBlock(removalDraw(options.seed, draw)),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onBatch ? { onBatch: options.onBatch } : {}),
      },
      samples,
    );
    if (!scores) return null;
    perDraw.push(scores);
  }

  const curves: Partial<Record<CurveKind, Curve>> = {};
  options.kinds.forEach((kind, k) => {
    const draws = perDraw.map((scores) =>
      Array.from(scores.subarray(k * (steps + 1), (k + 1) * (steps + 1))),
    );
    curves[kind] = summariseDraws(draws);
  });
  return curves;
}

/** Mean curve, and the mean area with its interval over the draws (none with one draw). */
function summariseDraws(draws: number[][]): Curve {
  const length = draws[0]!.length;
  const scores = Array.from(
    { length },
    (_, step) => draws.reduce((sum, curve) => sum + curve[step]!, 0) / draws.length,
  );
  const areas = new EffectTally();
  for (const curve of draws) {
    const area = curveArea(curve);
    areas.add(1, area, area * area);
  }
  if (draws.length < 2) return { scores, draws, area: areas.mean, areaLow: null, areaHigh: null };
  const { low, high } = areas.interval();
  return { scores, draws, area: areas.mean, areaLow: low, areaHigh: high };
}

/**
 * Area under a curve sampled at n + 1 evenly spaced steps, with the steps spread over [0, 1]:
 * the trapezoid rule divided by n. A curve of one point (nothing to remove) has that point's
 * value as its area.
 */
export function curveArea(scores: readonly number[]): number {
  const steps = scores.length - 1;
  if (steps <= 0) return scores[0] ?? 0;
  let sum = 0;
  for (let step = 0; step < steps; step++) sum += (scores[step]! + scores[step + 1]!) / 2;
  return sum / steps;
}
