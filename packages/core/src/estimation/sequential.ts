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
   * unsettled goes on, a round at a time, while its interval would settle beyond the dead zone
   * by `maxDraws + extraDraws` if its mean and spread held; one that could not stops, so that
   * effects near the threshold, which no affordable sample settles, cost nothing more. Absent: 0.
   */
  readonly extraDraws?: number;
  /**
   * Units whose draws mostly cost no pass (blocks scored through the statistics route): their
   * extra draws go on while their mean lies beyond the dead zone. The projection is left out for
   * them: it takes the spread of the first draws as it is, and the few distinct Dice changes of
   * such a block often make that spread larger than its later draws show.
   */
  readonly inexpensive?: ReadonlySet<number>;
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
   * Told, before each round, how many passes are left (this round and all later), counting a
   * unit's extra draws once it takes them.
   */
  readonly onPlan?: (passesLeft: number) => void;
}

export interface SequentialOutcome {
  readonly tallies: ReadonlyMap<number, EffectTally>;
  /**
   * Units whose estimate is final: all of them, or after an interruption those that had stopped
   * before the round it cut short (settled, at the cap, or past it once more draws could no
   * longer settle them).
   */
  readonly finished: readonly number[];
  /**
   * Finished units called significant by Benjamini-Hochberg, over the finished units alone: after
   * an interruption the calls can differ from a complete run's.
   */
  readonly significant: ReadonlySet<number>;
  /** Units of `screenFirst` that their first round settled at zero. */
  readonly screenedOut: ReadonlySet<number>;
  readonly complete: boolean;
}

/** Which side of the dead zone [-t, t] a unit's interval has settled on, if any. */
type Settled = 'effect' | 'zero' | null;

/**
 * Where the `level` interval of `tally`'s mean lies against the dead zone [-t, t]. A unit
 * whose every draw left the score exactly unchanged is settled at zero, as the paper's screen
 * settles it, but only after a full round of draws.
 */
function settle(tally: EffectTally, threshold: number, level: number): Settled {
  if (tally.sumOfSquares === 0) return 'zero';
  if (tally.degreesOfFreedom < 1) return null;
  const halfWidth = tQuantile(1 - (1 - level) / 2, tally.degreesOfFreedom) * tally.standardError;
  const low = tally.mean - halfWidth;
  const high = tally.mean + halfWidth;
  if (low > threshold || high < -threshold) return 'effect';
  if (low >= -threshold && high <= threshold) return 'zero';
  return null;
}

/**
 * Refuses draws that are not whole rounds (or are negative), naming the option they came from:
 * a last round cut short would break the same draws for every unit.
 */
export function requireWholeRounds(name: string, draws: number, round: number): void {
  if (Number.isInteger(draws / round) && draws >= 0) return;
  throw new PdcrError(
    name,
    `${draws} is not a whole number of rounds of ${round} draws; give a multiple of ${round}`,
  );
}

/**
 * The two-sided level of each look at a unit's interval: the false discovery rate
 * Bonferroni-split over the looks up to `maxDraws`.
 */
export function lookLevel(falseDiscoveryRate: number, maxDraws: number, round: number): number {
  return 1 - falseDiscoveryRate / (maxDraws / round);
}

/**
 * Whether `tally`'s interval at `level` would lie beyond the dead zone [-t, t] after `draws` draws
 * in all, were its mean and spread to stay as they are: its half-width shrinks as the square root
 * of the draws.
 */
function couldSettleAsEffect(
  tally: EffectTally,
  threshold: number,
  level: number,
  draws: number,
): boolean {
  if (tally.degreesOfFreedom < 1 || tally.count >= draws) return false;
  const degrees = tally.degreesOfFreedom + draws - tally.count;
  const standardError = tally.standardError * Math.sqrt(tally.count / draws);
  return Math.abs(tally.mean) - tQuantile(1 - (1 - level) / 2, degrees) * standardError > threshold;
}

/**
 * p-value of "|ATE| <= t" against "|ATE| > t": the chance, at the least favourable null (ATE at
 * t or at -t), of a mean at least as far beyond the dead zone as the one seen, on either side.
 * It takes no account of the sequential stopping: a unit that stopped early because its draws
 * looked extreme keeps a p-value computed as if its sample size had been fixed. On effects known
 * exactly, Benjamini-Hochberg on these p-values at a nominal 5% gave a false discovery rate of
 * 4-5% with 80 null units of 100 spread across the dead zone, but 11-16% with them all on the
 * threshold, and 30% with every unit there, the worst case (`pnpm bench:calibration`); p-values
 * that pay for the looks bring those to 10-14% but call almost nothing in 16 draws.
 */
export function pValueBeyondThreshold(tally: EffectTally, threshold: number): number {
  const distance = Math.abs(tally.mean);
  if (tally.degreesOfFreedom < 1 || tally.standardError === 0) {
    return distance > threshold ? 0 : 1;
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
 * Sequential sampling in rounds with the same draws for every unit. A unit stops when its
 * interval (at the FDR level, Bonferroni-split over the rounds up to `maxDraws`) settles outside
 * the dead zone [-t, t] or inside it, or at `maxDraws` unless `extraDraws` could settle it as an
 * effect. Units are called significant by Benjamini-Hochberg over the one-sided tests of
 * |ATE| > t at a nominal `falseDiscoveryRate` (`pValueBeyondThreshold` says what it is in fact).
 * The `fast` preset samples blocks with it, the component analysis components.
 */
export async function sampleSequentially(options: SequentialSampling): Promise<SequentialOutcome> {
  const { units, threshold, round, maxDraws } = options;
  const extraDraws = options.extraDraws ?? 0;
  requireWholeRounds('samples', maxDraws, round);
  requireWholeRounds('extraDraws', extraDraws, round);
  // Bonferroni over the looks up to `maxDraws`. The extra draws' looks are not in the split: up
  // to `maxDraws` every decision is what it would be without them, and past it they only decide
  // when a unit that would have stopped unsettled stops. They still add chances to settle, and
  // draws taken while a mean looks extreme: on effects known exactly they raised the false share
  // of calls by up to 5 points (`pnpm bench:calibration`).
  const looks = maxDraws / round;
  const level = lookLevel(options.falseDiscoveryRate, maxDraws, round);
  const extendedLooks = (maxDraws + extraDraws) / round;
  const strata = options.strata ?? [Array.from({ length: options.poolSize }, (_, i) => i)];
  if (round % strata.length !== 0) {
    throw new RangeError(`a round of ${round} draws cannot be split over ${strata.length} strata`);
  }
  const weights = strata.map((members) => members.length / options.poolSize);
  const tallies = new Map(units.map((unit) => [unit, new EffectTally(weights)]));
  const settled = new Map<number, Settled>();
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
    const roundsLeft = active.reduce(
      (sum, unit) => sum + (rounds.get(unit)! < looks ? looks : extendedLooks) - rounds.get(unit)!,
      0,
    );
    options.onPlan?.(roundsLeft * round);
    if (!(await options.runRound(active, draws, tallies, drawStrata))) {
      complete = false;
      break;
    }
    for (const unit of active) {
      const tally = tallies.get(unit)!;
      rounds.set(unit, rounds.get(unit)! + 1);
      if (screening.delete(unit)) {
        if (tally.sumOfSquares === 0) {
          screenedOut.add(unit);
          settled.set(unit, 'zero');
        } else {
          tallies.set(unit, new EffectTally(weights));
        }
      } else {
        settled.set(unit, settle(tally, threshold, level));
      }
    }
    active = active.filter((unit) => {
      if (screenedOut.has(unit) || (settled.get(unit) ?? null) !== null) return false;
      const done = rounds.get(unit)!;
      if (done < looks) return true;
      if (done >= extendedLooks) return false;
      const tally = tallies.get(unit)!;
      if (options.inexpensive?.has(unit)) return Math.abs(tally.mean) > threshold;
      return couldSettleAsEffect(tally, threshold, level, extendedLooks * round);
    });
  }

  // After an interruption the units of the round cut short have no final estimate; every other
  // unit had stopped where a complete run stops it.
  const cutShort = new Set(complete ? [] : active);
  const finished = units.filter((unit) => !cutShort.has(unit));
  const tested = finished.filter((unit) => !screenedOut.has(unit));
  const pValues = tested.map((unit) => pValueBeyondThreshold(tallies.get(unit)!, threshold));
  const rejected = benjaminiHochberg(pValues, options.falseDiscoveryRate);
  const significant = new Set(tested.filter((_, i) => rejected.has(i)));
  return { tallies, finished, significant, screenedOut, complete };
}
