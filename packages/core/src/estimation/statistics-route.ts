import { InterventionPlan, NO_TARGET, type InterventionSource } from '@pdcr/kernels';
import type { BatchEvaluator } from '../evaluator.ts';
import { insideHull } from './convex-hull.ts';
import { DrawStatistics } from './draw-statistics.ts';

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
  /**
   * Runs every inferred draw as well and counts those whose run gives another score
   * (`drawsWrong`): a measure of the route on a model, at the price of running every draw.
   */
  readonly check?: boolean;
}

/** Run draws an inference looks among, per coordinate of the statistics space. */
const NEIGHBOURS_PER_COORDINATE = 10;

/** What an inference found: the score, or null; and how far it looked. */
interface Inference {
  readonly score: number | null;
  /** Squared distance to the farthest run draw it looked among (Infinity: too few runs). */
  readonly reach: number;
}

/**
 * Scores of replacements of blocks beyond the RoI's receptive field, under per-image z-score.
 *
 * Such a block reaches the RoI only through the image's statistics: the RoI's output is a
 * function of the intervened image's mean and standard deviation per channel, the same for every
 * (block, patch) pair that gives the same statistics. Those are computed on the CPU from the
 * block and the patch alone. The route runs the model for some draws and infers the others from
 * them. Among a draw's nearest run draws (in statistics space, each coordinate scaled by its
 * spread), those with the nearest one's score span a convex hull; a draw inside it takes that
 * score, unless a run draw with another score lies inside it too. Under a binarised metric the
 * score is piecewise constant in the statistics: it changes only where a pixel of the RoI flips,
 * on a surface of the statistics space. Where those surfaces are flat near the draws, a region of
 * one score is convex there, holds the hull of any of its points, and the inference is exact; a
 * run draw of another score inside the hull shows that the region is not convex there. A draw can
 * be inferred wrongly only where a region of another score that no run has reached yet lies
 * inside the hull. Draws that cannot be inferred are run, spread out over the statistics space
 * first, until none is left; a continuous metric, whose runs never agree exactly, has every draw
 * run. `check` measures how often the inference is wrong on a model.
 */
export class StatisticsRoute {
  /** Statistics (scaled) and scores of the draws run so far. */
  private readonly points: number[][] = [];
  private readonly scores: number[] = [];
  private scale: number[] | null = null;
  private readonly drawStatistics: DrawStatistics;
  /** The nearest run draws of the last inference, nearest first, and their squared distances. */
  private nearestIndex = new Int32Array(0);
  private nearestDistance = new Float64Array(0);
  /** Draws scored by running the model, and by inference. */
  drawsRun = 0;
  drawsInferred = 0;
  /** Under `check`: inferred draws run as well, and those whose run gave another score. */
  drawsChecked = 0;
  drawsWrong = 0;
  /** Blocks whose draws came through the route. */
  readonly blocks = new Set<number>();

  constructor(private readonly options: StatisticsRouteOptions) {
    const { preprocessing } = options.source;
    if (preprocessing.kind !== 'zscore') {
      throw new RangeError('the statistics route serves per-image z-score only');
    }
    this.drawStatistics = new DrawStatistics(options.source, preprocessing.epsilon);
  }

  /** Run draws an inference looks among. */
  private get neighbours(): number {
    return NEIGHBOURS_PER_COORDINATE * this.dimensions;
  }

  private get dimensions(): number {
    return 2 * this.options.source.image.channels;
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
    const raw = draws.map((draw) => this.drawStatistics.of(draw));
    this.scale ??= spreads(raw);
    const points = raw.map((point) => point.map((value, k) => value / this.scale![k]!));
    const result = new Float32Array(draws.length);
    const inferred: number[] = [];
    // Each draw's squared distance to the nearest run draw, kept as draws are run; taken only
    // once a draw must be run, as most calls infer every draw.
    let gap: number[] | null = null;
    // How far each pending draw's last inference looked: only a run draw nearer than that can
    // change what it finds.
    const reach = new Float64Array(draws.length).fill(Infinity);
    let seen = 0;
    let pending = draws.map((_, i) => i);
    while (pending.length > 0) {
      const fresh = this.points.slice(seen);
      seen = this.points.length;
      pending = pending.filter((i) => {
        const point = points[i]!;
        if (!fresh.some((other) => squaredDistance(point, other) <= reach[i]!)) return true;
        const inference = this.infer(point);
        reach[i] = inference.reach;
        if (inference.score === null) return true;
        result[i] = inference.score;
        inferred.push(i);
        this.drawsInferred++;
        return false;
      });
      if (pending.length === 0) break;
      if (this.options.signal?.aborted) return null;
      // A quarter of what is left at a time, spread out, and at first as many as an inference
      // needs: each run lets more of the rest be inferred, at the price of batches that are not
      // always full.
      const count = Math.min(
        this.options.evaluator.maxBatchSize,
        Math.max(this.neighbours - this.points.length, Math.ceil(pending.length / 4)),
      );
      // Only pending draws are ever candidates, and later ones are among these.
      if (!gap) {
        gap = new Array<number>(points.length).fill(Infinity);
        for (const i of pending) {
          gap[i] = this.points.reduce(
            (best, other) => Math.min(best, squaredDistance(points[i]!, other)),
            Infinity,
          );
        }
      }
      const chosen = this.spreadOut(pending, points, gap, count);
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
    if (this.options.check && !(await this.checkInferred(draws, inferred, result, onBatch))) {
      return null;
    }
    return result;
  }

  /** Runs the `inferred` draws and counts those whose run differs from `result`. */
  private async checkInferred(
    draws: readonly FarDraw[],
    inferred: readonly number[],
    result: Float32Array,
    onBatch?: (passes: number) => void,
  ): Promise<boolean> {
    const size = this.options.evaluator.maxBatchSize;
    for (let start = 0; start < inferred.length; start += size) {
      if (this.options.signal?.aborted) return false;
      const batch = inferred.slice(start, start + size);
      const scores = await this.run(batch.map((i) => draws[i]!));
      onBatch?.(batch.length);
      // Exact: the CPU backend gives a draw the same score in any batch. A backend whose kernels
      // change with the batch size could flip a pixel on the cut-off and count here too.
      batch.forEach((i, k) => {
        if (scores[k] !== result[i]) this.drawsWrong++;
      });
      this.drawsChecked += batch.length;
    }
    return true;
  }

  /**
   * The score of the nearest run draws around `point` that share the nearest one's, where
   * their hull holds `point` and no run draw of another score; or null.
   */
  private infer(point: readonly number[]): Inference {
    const k = this.neighbours;
    if (this.points.length < k) return { score: null, reach: Infinity };
    // The k nearest by insertion into short sorted buffers, kept across calls.
    if (this.nearestIndex.length !== k) {
      this.nearestIndex = new Int32Array(k);
      this.nearestDistance = new Float64Array(k);
    }
    const { nearestIndex, nearestDistance } = this;
    let found = 0;
    for (let index = 0; index < this.points.length; index++) {
      const distance = squaredDistance(point, this.points[index]!);
      if (found === k && distance >= nearestDistance[k - 1]!) continue;
      let at = found < k ? found++ : k - 1;
      for (; at > 0 && nearestDistance[at - 1]! > distance; at--) {
        nearestDistance[at] = nearestDistance[at - 1]!;
        nearestIndex[at] = nearestIndex[at - 1]!;
      }
      nearestDistance[at] = distance;
      nearestIndex[at] = index;
    }
    const reach = nearestDistance[k - 1]!;
    const score = this.scores[nearestIndex[0]!]!;
    if (nearestDistance[0] === 0) return { score, reach };
    const hull: number[][] = [];
    const others: number[][] = [];
    for (const index of nearestIndex) {
      (this.scores[index] === score ? hull : others).push(this.points[index]!);
    }
    // Within a millionth of the neighbourhood's radius of the hull counts as inside it.
    const tolerance = 1e-6 * Math.sqrt(reach);
    // A point outside the hull's bounding box is outside the hull: a test far cheaper than the
    // search, which most of the contradicting runs fail.
    const box = boundingBox(hull, tolerance);
    if (!box.holds(point)) return { score: null, reach };
    // The hull of the nearest few is inside the whole hull, and mostly holds the point already:
    // a search over fewer vertices.
    const few = hull.slice(0, 2 * this.dimensions + 1);
    const inside =
      (few.length < hull.length && insideHull(point, few, tolerance)) ||
      insideHull(point, hull, tolerance);
    if (!inside) return { score: null, reach };
    // The hull lies within the neighbourhood, so every run draw inside it is among the nearest.
    const contradicted = others.some(
      (other) => box.holds(other) && insideHull(other, hull, tolerance),
    );
    return { score: contradicted ? null : score, reach };
  }

  /**
   * Up to `count` of `candidates`, chosen greedily each as far as possible from every run draw
   * and every draw already chosen, so that the first runs cover the statistics space. `gap` holds
   * each draw's squared distance to the nearest run draw, and is kept so for the chosen ones.
   */
  private spreadOut(
    candidates: number[],
    points: readonly number[][],
    gap: number[],
    count: number,
  ): number[] {
    const chosen: number[] = [];
    const taken = new Set<number>();
    for (let pick = 0; pick < Math.min(count, candidates.length); pick++) {
      let best = -1;
      for (const i of candidates) {
        if (!taken.has(i) && (best < 0 || gap[i]! > gap[best]!)) best = i;
      }
      taken.add(best);
      chosen.push(best);
      const point = points[best]!;
      for (const i of candidates) gap[i] = Math.min(gap[i]!, squaredDistance(points[i]!, point));
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

/** The smallest box around `points`, widened by `margin` on every side. */
function boundingBox(points: readonly (readonly number[])[], margin: number) {
  const low = [...points[0]!];
  const high = [...points[0]!];
  for (const point of points) {
    for (let d = 0; d < point.length; d++) {
      low[d] = Math.min(low[d]!, point[d]!);
      high[d] = Math.max(high[d]!, point[d]!);
    }
  }
  return {
    holds: (point: readonly number[]) =>
      point.every((value, d) => value >= low[d]! - margin && value <= high[d]! + margin),
  };
}

function squaredDistance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let d = 0; d < a.length; d++) sum += (a[d]! - b[d]!) ** 2;
  return sum;
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
