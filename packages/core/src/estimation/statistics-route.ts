import {
  channelStatistics,
  interventionStatistics,
  InterventionPlan,
  NO_TARGET,
  type ChannelStatistics,
  type InterventionSource,
} from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import { insideHull } from './convex-hull.ts';

/** One replacement of a block beyond the receptive field by a patch. */
export interface FarDraw {
  readonly block: number;
  readonly patch: number;
}

export interface StatisticsRouteOptions {
  /** Scores the RoI on the live (per-image z-score) input. */
  readonly evaluator: BatchEvaluator;
  /** The live source: its preprocessing is `zscore`. */
  readonly source: InterventionSource;
  readonly signal?: AbortSignal;
}

/**
 * Scores of replacements of blocks beyond the RoI's receptive field, under per-image z-score.
 *
 * Such a block reaches the RoI only through the image's statistics: the RoI's output is a
 * function of the intervened image's mean and standard deviation per channel, the same for every
 * (block, patch) pair that gives the same statistics. Those are computed on the CPU from the
 * block and the patch alone. The route runs the model for some draws and infers the others from
 * them: a draw whose statistics lie inside the convex hull of its nearest run draws (in
 * statistics space, each coordinate scaled by its spread), all of which gave the same score,
 * takes that score. Under a binarised metric the score is piecewise constant in the statistics:
 * it changes only where a pixel of the RoI flips, on a surface of the statistics space. Where
 * those surfaces are flat near the draws, a region of one score is convex there, holds the hull
 * of any of its points, and the inference is exact; a draw can be inferred wrongly only where a
 * surface curves between it and its neighbours, or where two regions with the same score lie on
 * either side of a third. Draws that cannot be
 * inferred are run, spread out over the statistics space first, until none is left; a
 * continuous metric, whose runs never agree exactly, has every draw run.
 */
export class StatisticsRoute {
  /** Statistics (scaled) and scores of the draws run so far. */
  private readonly points: number[][] = [];
  private readonly scores: number[] = [];
  private readonly base: ChannelStatistics;
  private readonly epsilon: number;
  private scale: number[] | null = null;
  /** Draws scored by running the model, and by inference. */
  drawsRun = 0;
  drawsInferred = 0;
  /** Blocks whose draws came through the route. */
  readonly blocks = new Set<number>();

  constructor(private readonly options: StatisticsRouteOptions) {
    const { preprocessing, image } = options.source;
    if (preprocessing.kind !== 'zscore') {
      throw new RangeError('the statistics route serves per-image z-score only');
    }
    this.epsilon = preprocessing.epsilon;
    this.base = channelStatistics(image);
  }

  /** Neighbours a draw must lie among, all agreeing, to be inferred. */
  private get neighbours(): number {
    return 3 * this.dimensions;
  }

  private get dimensions(): number {
    return 2 * this.options.source.image.channels;
  }

  /** Mean and 1 / (std + epsilon) per channel of the image with `draw` applied. */
  statistics(draw: FarDraw): number[] {
    const plan = new InterventionPlan(1, this.options.source.grid.blockCount);
    plan.replace(0, draw.block, draw.patch);
    const { mean, inverseStd } = interventionStatistics(
      this.options.source,
      this.base,
      plan,
      0,
      this.epsilon,
    );
    return [...mean, ...inverseStd];
  }

  /**
   * Each draw's score (as the evaluator gives it), in order; null when the signal aborted the
   * work first. Draws run here count as forward passes of the evaluator.
   */
  async score(
    draws: readonly FarDraw[],
    onBatch?: (passes: number) => void,
  ): Promise<Float32Array | null> {
    for (const draw of draws) this.blocks.add(draw.block);
    const raw = draws.map((draw) => this.statistics(draw));
    this.scale ??= spreads(raw);
    const points = raw.map((point) => point.map((value, k) => value / this.scale![k]!));
    const result = new Float32Array(draws.length);
    let pending = draws.map((_, i) => i);
    while (pending.length > 0) {
      pending = pending.filter((i) => {
        const inferred = this.infer(points[i]!);
        if (inferred === null) return true;
        result[i] = inferred;
        this.drawsInferred++;
        return false;
      });
      if (pending.length === 0) break;
      if (this.options.signal?.aborted) return null;
      // A quarter of what is left at a time, spread out: each run lets more of the rest be
      // inferred, at the price of batches that are not always full.
      const count = Math.min(
        this.options.evaluator.maxBatchSize,
        Math.max(this.neighbours + 1, Math.ceil(pending.length / 4)),
      );
      const chosen = this.spreadOut(pending, points, count);
      const scores = await this.run(chosen.map((i) => draws[i]!));
      onBatch?.(chosen.length);
      chosen.forEach((i, k) => {
        result[i] = scores[k]!;
        this.points.push(points[i]!);
        this.scores.push(scores[k]!);
      });
      this.drawsRun += chosen.length;
      const ran = new Set(chosen);
      pending = pending.filter((i) => !ran.has(i));
    }
    return result;
  }

  /** The score shared by the nearest run draws around `point`, or null. */
  private infer(point: readonly number[]): number | null {
    const k = this.neighbours;
    if (this.points.length < k) return null;
    // The k nearest by insertion into a short sorted list.
    const nearest: { distance: number; index: number }[] = [];
    for (let index = 0; index < this.points.length; index++) {
      const other = this.points[index]!;
      let distance = 0;
      for (let d = 0; d < point.length; d++) distance += (point[d]! - other[d]!) ** 2;
      if (nearest.length === k && distance >= nearest[k - 1]!.distance) continue;
      let at = nearest.length;
      while (at > 0 && nearest[at - 1]!.distance > distance) at--;
      nearest.splice(at, 0, { distance, index });
      if (nearest.length > k) nearest.pop();
    }
    const score = this.scores[nearest[0]!.index]!;
    if (nearest[0]!.distance === 0) return score;
    if (nearest.some(({ index }) => this.scores[index] !== score)) return null;
    const hull = nearest.map(({ index }) => this.points[index]!);
    // Within a millionth of the neighbourhood's radius of the hull counts as inside it.
    return insideHull(point, hull, 1e-6 * Math.sqrt(nearest[k - 1]!.distance)) ? score : null;
  }

  /**
   * Up to `count` of `candidates`, chosen greedily each as far as possible from every run draw
   * and every draw already chosen, so that the first runs cover the statistics space.
   */
  private spreadOut(candidates: number[], points: number[][], count: number): number[] {
    if (candidates.length <= count) return candidates;
    const distanceTo = (a: readonly number[], b: readonly number[]) =>
      a.reduce((sum, value, d) => sum + (value - b[d]!) ** 2, 0);
    const nearest = candidates.map((i) =>
      this.points.reduce((best, other) => Math.min(best, distanceTo(points[i]!, other)), Infinity),
    );
    const chosen: number[] = [];
    const taken = new Uint8Array(candidates.length);
    for (let pick = 0; pick < count; pick++) {
      let best = -1;
      for (let c = 0; c < candidates.length; c++) {
        if (!taken[c] && (best < 0 || nearest[c]! > nearest[best]!)) best = c;
      }
      taken[best] = 1;
      const point = points[candidates[best]!]!;
      chosen.push(candidates[best]!);
      candidates.forEach((i, c) => {
        nearest[c] = Math.min(nearest[c]!, distanceTo(points[i]!, point));
      });
    }
    return chosen;
  }

  private async run(draws: readonly FarDraw[]): Promise<Float32Array> {
    const { evaluator, source } = this.options;
    const plan = new InterventionPlan(draws.length, source.grid.blockCount);
    draws.forEach((draw, sample) => plan.replace(sample, draw.block, draw.patch));
    const targets = new Uint32Array(draws.length).fill(NO_TARGET);
    return (await evaluator.evaluate(plan, targets)).scores;
  }
}

/** Standard deviation of each coordinate over `points` (1 where it does not vary). */
function spreads(points: readonly number[][]): number[] {
  const dimensions = points[0]?.length ?? 0;
  return Array.from({ length: dimensions }, (_, d) => {
    const values = points.map((point) => point[d]!);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length;
    return variance > 0 ? Math.sqrt(variance) : 1;
  });
}
