import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import { PdcrError } from '../errors.ts';
import type { SeededRandom } from '../random.ts';
import { EffectTally } from '../statistics.ts';

/**
 * What sequential sampling needs to know of the units it samples (blocks of the image, or
 * components of the network) and of how to run them.
 */
export interface SequentialSampling {
  /** The units to sample, by index. */
  readonly units: readonly number[];
  /**
   * Units whose first round is a screen, as the paper's is: those whose every draw left the
   * score exactly unchanged settle at zero and are left out of the significance tests; the
   * others start their tally afresh, so that the draws that selected them do not also test
   * them. Each gets one round more than `maxDraws` allows the others.
   */
  readonly screenFirst?: ReadonlySet<number>;
  /** Size of the pool each draw is taken from (natural patches, natural samples). */
  readonly poolSize: number;
  readonly threshold: number;
  /** Draws per unit per round; every unit gets the same draws (common random numbers). */
  readonly round: number;
  /**
   * A partition of the pool into strata (patches ordered by brightness, say), each drawn from
   * separately, `round / strata.length` draws each per round; absent: one stratum, the pool.
   */
  readonly strata?: readonly (readonly number[])[];
  readonly maxDraws: number;
  /**
   * Draws a unit may take past `maxDraws`, in whole rounds. A unit that reaches `maxDraws`
   * uncalled and not settled at zero goes on, a round at a time, while it would be called by
   * `maxDraws + extraDraws` if its mean and spread held; one that could not stops, so that
   * effects near the threshold, which no affordable sample settles, cost nothing more. Absent: 0.
   */
  readonly extraDraws?: number;
  /**
   * Units whose draws mostly cost no pass (blocks scored through the statistics route): their
   * extra draws go on while their mean lies beyond the dead zone, until they are called. The
   * projection is left out for them: it takes the spread of the first draws as it is, and the few
   * distinct Dice changes of such a block often make that spread larger than its later draws show.
   */
  readonly inexpensive?: ReadonlySet<number>;
  /**
   * Draws an inexpensive unit may take past `maxDraws`, in whole rounds; absent: `extraDraws`.
   * Their looks have shares of their own (`lookWeights` over their longer horizon).
   */
  readonly inexpensiveExtraDraws?: number;
  readonly falseDiscoveryRate: number;
  /** The generator of the draws, used for nothing else. */
  readonly random: SeededRandom;
  /**
   * Runs every unit of `active` with each of `draws`, adding each effect to the unit's tally in
   * the draw's stratum (`strata[i]` for `draws[i]`); returns false when it was interrupted
   * before running them all.
   */
  readonly runRound: (
    active: readonly number[],
    draws: readonly number[],
    tallies: Map<number, EffectTally>,
    strata: readonly number[],
  ) => Promise<boolean>;
  /**
   * Told, before each round, how many draws are left (this round and all later), counting a
   * unit's extra draws once it takes them: of the ordinary units, each a pass, and of the
   * inexpensive ones, which mostly cost none.
   */
  readonly onPlan?: (drawsLeft: number, inexpensiveDrawsLeft: number) => void;
}

export interface SequentialOutcome {
  readonly tallies: ReadonlyMap<number, EffectTally>;
  /**
   * Units whose estimate is final: all of them, or after an interruption those that had stopped
   * before the round it cut short (called, settled at zero, at the cap, or past it once more
   * draws could no longer bring them to a call).
   */
  readonly finished: readonly number[];
  /**
   * Finished units called significant by Benjamini-Hochberg on their p-values over the looks,
   * over the finished units alone: after an interruption the calls can differ from a complete
   * run's.
   */
  readonly significant: ReadonlySet<number>;
  /** Units of `screenFirst` that their first round settled at zero. */
  readonly screenedOut: ReadonlySet<number>;
  readonly complete: boolean;
}

/**
 * Whether the `level` interval of `tally`'s mean lies inside the dead zone [-t, t]. A unit whose
 * every draw left the score exactly unchanged is settled at zero, as the paper's screen settles
 * it, but only after a full round of draws.
 */
function settledAtZero(tally: EffectTally, threshold: number, level: number): boolean {
  if (tally.sumOfSquares === 0) return true;
  if (tally.degreesOfFreedom < 1) return false;
  const halfWidth = tQuantile(1 - (1 - level) / 2, tally.degreesOfFreedom) * tally.standardError;
  return tally.mean - halfWidth >= -threshold && tally.mean + halfWidth <= threshold;
}

/**
 * Refuses draws that are not whole rounds, or fewer than `least` rounds, naming the option they
 * came from: a last round cut short would break the same draws for every unit.
 */
export function requireWholeRounds(name: string, draws: number, round: number, least = 0): void {
  if (Number.isInteger(draws / round) && draws >= least * round) return;
  const atLeast = least > 0 ? `, at least ${least * round}` : '';
  throw new PdcrError(
    name,
    `${draws} is not a whole number of rounds of ${round} draws${atLeast}; ` +
      `give a multiple of ${round}${atLeast}`,
  );
}

/** Refuses a false discovery rate that is not one, naming the option. */
export function requireRate(name: string, rate: number): void {
  if (rate > 0 && rate < 1) return;
  throw new PdcrError(name, `${rate} is not a rate; give one between 0 and 1 (0.05 for 5%)`);
}

/**
 * The two-sided level of the interval that settles a unit inside the dead zone: the false
 * discovery rate Bonferroni-split over the looks up to `maxDraws`. Stopping there spends no error
 * on calls, so it needs no share of it; the level only keeps effects from stopping by chance.
 */
function lookLevel(falseDiscoveryRate: number, maxDraws: number, round: number): number {
  return 1 - falseDiscoveryRate / (maxDraws / round);
}

/**
 * Whether `tally`'s one-sided p-value (`pValueBeyondThreshold`) would be at most `alpha` after
 * `draws` draws in all, were its mean and spread to stay as they are: its standard error shrinks
 * as the square root of the draws.
 */
function couldReach(tally: EffectTally, threshold: number, alpha: number, draws: number): boolean {
  if (tally.degreesOfFreedom < 1 || tally.count >= draws) return false;
  const degrees = tally.degreesOfFreedom + draws - tally.count;
  const standardError = tally.standardError * Math.sqrt(tally.count / draws);
  return Math.abs(tally.mean) - tQuantile(1 - alpha, degrees) * standardError > threshold;
}

/**
 * The share of the error each look at a unit's draws may spend on calling it (index: the look,
 * one after each round, less one); the shares sum to 1 and a look with none calls nothing. The
 * t quantiles of the early looks, with few degrees of freedom, grow fast as their share shrinks,
 * while those of the later ones hardly move, so the shares go where a call saves the most draws:
 * - the first look, whose t has 2 degrees of freedom under two strata, a token 0.1%: only a unit
 *   whose draws all agree can be called there;
 * - the look at half the cap, where most effects that can stop early do, 45%;
 * - the other looks before the cap 5% between them, and those past it that can call (where the
 *   draws have doubled since the cap, and the last) 20% between them;
 * - the look at the cap, the rest.
 * Chosen on the benchmark maps against an equal split and shares on every extra-draw look: it
 * cost the fewest passes for the same calls (docs/benchmarks.md).
 */
export function lookWeights(maxDraws: number, extraDraws: number, round: number): number[] {
  const looks = maxDraws / round;
  const extendedLooks = (maxDraws + extraDraws) / round;
  const half = looks >= 3 ? Math.round(looks / 2) : 0;
  const otherEarly = Math.max(looks - 1 - (looks > 1 ? 1 : 0) - (half > 0 ? 1 : 0), 0);
  const callsPastCap = (look: number) =>
    look === extendedLooks || Number.isInteger(Math.log2(look / looks));
  const pastCap = Array.from({ length: extendedLooks - looks }, (_, i) => looks + i + 1);
  const callingPastCap = pastCap.filter(callsPastCap).length;
  const early = Array.from({ length: looks - 1 }, (_, i) => {
    const look = i + 1;
    if (look === half) return HALF_CAP_SHARE;
    if (look === 1) return FIRST_LOOK_SHARE;
    return OTHER_EARLY_SHARE / otherEarly;
  });
  const extra = pastCap.map((look) => (callsPastCap(look) ? PAST_CAP_SHARE / callingPastCap : 0));
  const spent = [...early, ...extra].reduce((sum, share) => sum + share, 0);
  return [...early, 1 - spent, ...extra];
}

const FIRST_LOOK_SHARE = 0.001;
const HALF_CAP_SHARE = 0.45;
const OTHER_EARLY_SHARE = 0.05;
const PAST_CAP_SHARE = 0.2;

/**
 * p-value of "|ATE| <= t" against "|ATE| > t": the chance, at the least favourable null (ATE at
 * t or at -t), of a mean at least as far beyond the dead zone as the one seen, on either side,
 * computed as if the sample size had been fixed, from the Student t (with the tally's degrees of
 * freedom, pooled over strata). It is exact for normal draws only, and too small where the draws
 * are skewed or lumpy: 1.7 times too often below 0.05% at 16 uniform draws and 2.9 times at 8; a
 * rare large change that no draw has shown yet, the t test cannot price at all; and where the
 * spread lies in one stratum, the pooled degrees overstate what it rests on. The calibration
 * benchmark measures the rate these give (docs/benchmarks.md). `sampleSequentially` pays for the
 * looks on top of it. Without degrees of freedom there is no test (1).
 *
 * Where every draw changed the score alike, by d beyond the dead zone, there is no spread to test
 * with. If no draw moves the score the other way, Markov's inequality gives each draw a chance of
 * at most t / |d| of a change as large as d under the null, so n draws all alike have a chance of
 * at most (t / |d|)^n: four one-pixel flips of 0.05 against t = 0.02 give 0.026, not 0.
 */
export function pValueBeyondThreshold(tally: EffectTally, threshold: number): number {
  const distance = Math.abs(tally.mean);
  if (tally.degreesOfFreedom < 1) return 1;
  if (tally.standardError === 0) {
    return distance > threshold ? (threshold / distance) ** tally.count : 1;
  }
  const degrees = tally.degreesOfFreedom;
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
 * Sequential sampling in rounds with the same draws for every unit, with calls at a stated false
 * discovery rate that the stopping does not inflate.
 *
 * A unit's call rests on its p-value for |ATE| > t (`pValueBeyondThreshold`) at every look, each
 * divided by that look's share of the error (`lookWeights`); the least of them is a p-value
 * whatever rule chose the looks, as far as each look's is one, since the chance that any look
 * falls that low is at most the sum of the shares times it (Bonferroni over the looks). Units are
 * called by Benjamini-Hochberg on these at `falseDiscoveryRate`. That holds the rate for
 * independent p-values, and for positively dependent ones; the common draws make units that
 * respond alike to a patch dependent, of a kind not proven positive, and the calibration
 * benchmark measures the rate rather than assuming it (docs/benchmarks.md). As the least over
 * the looks can only fall with more draws, a unit Benjamini-Hochberg rejects after a round stays
 * rejected whatever the others draw: it stops then, called. A unit also stops when its interval
 * (`lookLevel`) settles inside the dead zone [-t, t], or at `maxDraws` unless `extraDraws` could
 * bring it to a call (an `inexpensive` unit: while its mean lies beyond t, up to its own
 * `inexpensiveExtraDraws`, its looks' shares spread over that longer horizon). The `fast` preset
 * samples blocks with it, the component analysis components.
 */
export async function sampleSequentially(options: SequentialSampling): Promise<SequentialOutcome> {
  const { units, threshold, round, maxDraws, falseDiscoveryRate } = options;
  const extraDraws = options.extraDraws ?? 0;
  const inexpensiveExtraDraws = options.inexpensiveExtraDraws ?? extraDraws;
  requireWholeRounds('samples', maxDraws, round, 1);
  requireWholeRounds('extraDraws', extraDraws, round);
  requireWholeRounds('inexpensiveExtraDraws', inexpensiveExtraDraws, round);
  requireRate('falseDiscoveryRate', falseDiscoveryRate);
  const looks = maxDraws / round;
  const level = lookLevel(falseDiscoveryRate, maxDraws, round);
  const inexpensive = options.inexpensive ?? new Set<number>();
  // The last look each unit may take, and the share of the error each of its looks has.
  const ordinary = {
    last: (maxDraws + extraDraws) / round,
    weights: lookWeights(maxDraws, extraDraws, round),
  };
  const cheap = {
    last: (maxDraws + inexpensiveExtraDraws) / round,
    weights: lookWeights(maxDraws, inexpensiveExtraDraws, round),
  };
  const horizon = (unit: number) => (inexpensive.has(unit) ? cheap : ordinary);
  const strata = options.strata ?? [Array.from({ length: options.poolSize }, (_, i) => i)];
  if (round % strata.length !== 0) {
    throw new RangeError(`a round of ${round} draws cannot be split over ${strata.length} strata`);
  }
  const strataWeights = strata.map((members) => members.length / options.poolSize);
  const tallies = new Map(units.map((unit) => [unit, new EffectTally(strataWeights)]));
  // Each unit's least p-value over its looks, each divided by the look's share.
  const pValues = new Map(units.map((unit) => [unit, 1]));
  const atZero = new Set<number>();
  const screening = new Set(units.filter((unit) => options.screenFirst?.has(unit)));
  const screenedOut = new Set<number>();
  const rounds = new Map(units.map((unit) => [unit, screening.has(unit) ? -1 : 0]));
  let active = units;
  let complete = true;
  while (active.length > 0) {
    const drawStrata = Array.from({ length: round }, (_, i) => i % strata.length);
    const draws = drawStrata.map((stratum) => {
      const members = strata[stratum]!;
      return members[options.random.integer(members.length)]!;
    });
    const roundsLeft = (of: readonly number[]) =>
      of.reduce(
        (sum, unit) =>
          sum + (rounds.get(unit)! < looks ? looks : horizon(unit).last) - rounds.get(unit)!,
        0,
      );
    options.onPlan?.(
      roundsLeft(active.filter((unit) => !inexpensive.has(unit))) * round,
      roundsLeft(active.filter((unit) => inexpensive.has(unit))) * round,
    );
    if (!(await options.runRound(active, draws, tallies, drawStrata))) {
      complete = false;
      break;
    }
    for (const unit of active) {
      const tally = tallies.get(unit)!;
      const look = rounds.get(unit)! + 1;
      rounds.set(unit, look);
      if (screening.delete(unit)) {
        if (tally.sumOfSquares === 0) {
          screenedOut.add(unit);
        } else {
          tallies.set(unit, new EffectTally(strataWeights));
        }
        continue;
      }
      if (settledAtZero(tally, threshold, level)) atZero.add(unit);
      const weight = horizon(unit).weights[look - 1]!;
      if (weight > 0) {
        const p = pValueBeyondThreshold(tally, threshold) / weight;
        pValues.set(unit, Math.min(pValues.get(unit)!, p));
      }
    }
    // Every unit that is not screened out is tested; the screens all end with the first round.
    const tested = units.filter((unit) => !screenedOut.has(unit));
    const called = benjaminiHochberg(
      tested.map((unit) => pValues.get(unit)!),
      falseDiscoveryRate,
    );
    const calledUnits = new Set(tested.filter((_, i) => called.has(i)));
    // The p-value an uncalled unit must reach to be called, were the calls made now: it would be
    // one rejection more.
    const cutoff = (falseDiscoveryRate * (calledUnits.size + 1)) / tested.length;
    active = active.filter((unit) => {
      if (screenedOut.has(unit) || atZero.has(unit) || calledUnits.has(unit)) return false;
      const done = rounds.get(unit)!;
      if (done < looks) return true;
      if (done >= horizon(unit).last) return false;
      const tally = tallies.get(unit)!;
      if (inexpensive.has(unit)) return Math.abs(tally.mean) > threshold;
      const alpha = cutoff * ordinary.weights[ordinary.last - 1]!;
      return couldReach(tally, threshold, alpha, ordinary.last * round);
    });
  }

  // After an interruption the units of the round cut short have no final estimate; every other
  // unit had stopped where a complete run stops it.
  const cutShort = new Set(complete ? [] : active);
  const finished = units.filter((unit) => !cutShort.has(unit));
  const tested = finished.filter((unit) => !screenedOut.has(unit));
  const rejected = benjaminiHochberg(
    tested.map((unit) => pValues.get(unit)!),
    falseDiscoveryRate,
  );
  const significant = new Set(tested.filter((_, i) => rejected.has(i)));
  return { tallies, finished, significant, screenedOut, complete };
}
