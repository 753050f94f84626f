import { describe, expect, it } from 'vitest';
import {
  lookWeights,
  pValueBeyondThreshold,
  sampleSequentially,
  type SequentialSampling,
} from '../src/estimation/sequential.ts';
import { SeededRandom } from '../src/random.ts';
import { EffectTally } from '../src/statistics.ts';

const POOL = 100;
const THRESHOLD = 0.02;
const MAX_DRAWS = 16;
const EXTRA_DRAWS = 48;
const SEEDS = Array.from({ length: 20 }, (_, seed) => seed);

/**
 * Each unit's effect for each draw of the pool, known exactly: a rare large effect among small
 * ones (a mean of -0.1 that 16 draws seldom tell from the dead zone), an effect just past the
 * threshold (-0.025, which no affordable sample settles), and none at all.
 */
const EFFECTS: readonly ((draw: number) => number)[] = [
  (draw) => (draw % 4 === 0 ? -0.4 : ((draw % 7) - 3) * 0.004),
  (draw) => -0.025 + ((draw % 5) - 2) * 0.02,
  () => 0,
  // A strong effect, far beyond the threshold with little spread: called before the cap.
  (draw) => -0.15 + ((draw % 3) - 1) * 0.01,
];
const UNITS = [0, 1, 2];
const [RARE, NEAR, NONE] = UNITS as [number, number, number];
const STRONG = 3;
/**
 * The level of the interval that settles a unit at zero: the FDR split over the looks up to the
 * cap.
 */
const ZERO_LEVEL = 1 - 0.05 / (MAX_DRAWS / 4);

/** Whether `tally` had settled inside the dead zone, as the sampler decides it. */
function settledAtZero(tally: EffectTally): boolean {
  const { low, high } = tally.interval(ZERO_LEVEL);
  return tally.sumOfSquares === 0 || (low >= -THRESHOLD && high <= THRESHOLD);
}

async function sample(seed: number, extra: Partial<SequentialSampling> = {}) {
  const plans: number[] = [];
  const outcome = await sampleSequentially({
    units: UNITS,
    poolSize: POOL,
    threshold: THRESHOLD,
    round: 4,
    maxDraws: MAX_DRAWS,
    falseDiscoveryRate: 0.05,
    random: new SeededRandom(seed),
    onPlan: (drawsLeft, inexpensiveDrawsLeft) => plans.push(drawsLeft + inexpensiveDrawsLeft),
    runRound: (active, draws, tallies) => {
      for (const unit of active) {
        for (const draw of draws) {
          const effect = Math.fround(EFFECTS[unit]!(draw));
          tallies.get(unit)!.add(1, effect, effect * effect);
        }
      }
      return Promise.resolve(true);
    },
    ...extra,
  });
  return { ...outcome, plans };
}

describe('sequential sampling', () => {
  it('gives extra draws only to units at the cap whose mean lies beyond the threshold', async () => {
    for (const seed of SEEDS) {
      const plain = await sample(seed);
      const extended = await sample(seed, { extraDraws: EXTRA_DRAWS });
      expect(plain.complete && extended.complete).toBe(true);
      // Every draw of the unit without an effect left the score as it was: settled at zero.
      expect(plain.tallies.get(NONE)!.count).toBe(4);
      expect(extended.tallies.get(NONE)!.count).toBe(4);
      expect(plain.plans[0]).toBe(UNITS.length * MAX_DRAWS);
      expect(extended.plans[0]).toBe(UNITS.length * MAX_DRAWS);
      for (const unit of UNITS) {
        const before = plain.tallies.get(unit)!;
        const after = extended.tallies.get(unit)!;
        expect(before.count).toBeLessThanOrEqual(MAX_DRAWS);
        expect(after.count).toBeLessThanOrEqual(MAX_DRAWS + EXTRA_DRAWS);
        expect(after.count % 4).toBe(0);
        // The same draws for every unit: one settled before the cap stopped where it did.
        if (before.count < MAX_DRAWS) expect(after).toEqual(before);
        // Extra draws go to a unit whose interval they could take past the threshold, which
        // needs its mean beyond it.
        if (after.count > MAX_DRAWS) expect(Math.abs(before.mean)).toBeGreaterThan(THRESHOLD);
      }
    }
  });

  it('calls a rare large effect more often with extra draws, and spends few on one near the threshold', async () => {
    let calledPlain = 0;
    let calledExtended = 0;
    let extraOnNear = 0;
    let extraOnRare = 0;
    for (const seed of SEEDS) {
      const plain = await sample(seed);
      const extended = await sample(seed, { extraDraws: EXTRA_DRAWS });
      if (plain.significant.has(RARE)) calledPlain++;
      if (extended.significant.has(RARE)) calledExtended++;
      extraOnNear += extended.tallies.get(NEAR)!.count - plain.tallies.get(NEAR)!.count;
      extraOnRare += extended.tallies.get(RARE)!.count - plain.tallies.get(RARE)!.count;
    }
    // At 16 draws the rare effect is called in a tenth of the seeds; with up to 48 more, drawn
    // where they could bring it to a call, in over a third: calls past the cap are made only
    // where the draws have doubled, at 32 and 64, on a fifth of the error (`lookWeights`).
    expect(calledPlain).toBeLessThanOrEqual(SEEDS.length / 4);
    expect(calledExtended).toBeGreaterThanOrEqual(3 * calledPlain);
    expect(calledExtended).toBeGreaterThan(SEEDS.length / 3);
    // A unit just past the threshold mostly stops at the cap: its interval could not settle.
    expect(extraOnNear).toBeLessThan(extraOnRare / 2);
  });

  it('gives inexpensive units extra draws while their mean lies beyond the threshold', async () => {
    let extraOnNear = 0;
    for (const seed of SEEDS) {
      const plain = await sample(seed);
      const projected = await sample(seed, { extraDraws: EXTRA_DRAWS });
      const inexpensive = await sample(seed, {
        extraDraws: EXTRA_DRAWS,
        inexpensive: new Set([NEAR]),
      });
      const before = plain.tallies.get(NEAR)!;
      const after = inexpensive.tallies.get(NEAR)!;
      const calledAtCap = plain.significant.has(NEAR);
      if (before.count === MAX_DRAWS && !calledAtCap && !settledAtZero(before)) {
        // Uncalled and unsettled at the cap: it goes on while its mean lies beyond the threshold.
        expect(after.count > MAX_DRAWS).toBe(Math.abs(before.mean) > THRESHOLD);
      }
      if (after.count > MAX_DRAWS && after.count < MAX_DRAWS + EXTRA_DRAWS) {
        // It stopped before the end of its extra draws: called, settled at zero, or its mean
        // came back within the threshold.
        expect(
          inexpensive.significant.has(NEAR) ||
            settledAtZero(after) ||
            Math.abs(after.mean) <= THRESHOLD,
        ).toBe(true);
      }
      expect(after.count).toBeGreaterThanOrEqual(projected.tallies.get(NEAR)!.count);
      extraOnNear += after.count - projected.tallies.get(NEAR)!.count;
      // The other units are as they were.
      expect(inexpensive.tallies.get(RARE)).toEqual(projected.tallies.get(RARE));
    }
    expect(extraOnNear).toBeGreaterThan(0);
  });

  it('keeps, when interrupted, every unit that had stopped, at its cap or settled', async () => {
    let checked = 0;
    for (const seed of SEEDS) {
      const whole = await sample(seed, { extraDraws: EXTRA_DRAWS });
      if (whole.tallies.get(RARE)!.count <= MAX_DRAWS) continue;
      checked++;
      // Cut short in the first round past the cap, which only units taking extra draws run.
      let rounds = 0;
      const cut = await sample(seed, {
        extraDraws: EXTRA_DRAWS,
        runRound: (active, draws, tallies) => {
          if (++rounds > MAX_DRAWS / 4) return Promise.resolve(false);
          for (const unit of active) {
            for (const draw of draws) {
              const effect = Math.fround(EFFECTS[unit]!(draw));
              tallies.get(unit)!.add(1, effect, effect * effect);
            }
          }
          return Promise.resolve(true);
        },
      });
      expect(cut.complete).toBe(false);
      expect(cut.finished).not.toContain(RARE);
      const stopped = UNITS.filter((unit) => unit !== RARE);
      const extended = stopped.filter((unit) => whole.tallies.get(unit)!.count > MAX_DRAWS);
      expect(cut.finished).toEqual(stopped.filter((unit) => !extended.includes(unit)));
      for (const unit of cut.finished) {
        expect(cut.tallies.get(unit)).toEqual(whole.tallies.get(unit));
      }
    }
    expect(checked).toBeGreaterThan(SEEDS.length / 2);
  });

  it('screens first, then counts the cap and the extra draws from the draws after the screen', async () => {
    for (const seed of SEEDS) {
      const screened = await sample(seed, {
        screenFirst: new Set(UNITS),
        extraDraws: EXTRA_DRAWS,
        inexpensive: new Set([RARE]),
      });
      // The screen's round is one look more than the cap allows the others.
      expect(screened.plans[0]).toBe(UNITS.length * (MAX_DRAWS + 4));
      // The unit without an effect changed nothing in its screen: settled there, its 4 draws kept.
      expect(screened.screenedOut).toEqual(new Set([NONE]));
      expect(screened.tallies.get(NONE)!.count).toBe(4);
      for (const unit of [RARE, NEAR]) {
        const count = screened.tallies.get(unit)!.count;
        expect(count).toBeLessThanOrEqual(MAX_DRAWS + EXTRA_DRAWS);
        expect(count % 4).toBe(0);
      }
      // An inexpensive unit that stopped between the cap and the end of its extra draws was
      // called, had settled at zero, or its mean had come back within the threshold.
      const rare = screened.tallies.get(RARE)!;
      if (rare.count > MAX_DRAWS && rare.count < MAX_DRAWS + EXTRA_DRAWS) {
        expect(
          screened.significant.has(RARE) || settledAtZero(rare) || Math.abs(rare.mean) <= THRESHOLD,
        ).toBe(true);
      }
    }
  });

  it('lets inexpensive units run to a horizon of their own, and no other unit past its own', async () => {
    const LONG = 240;
    let calledShort = 0;
    let calledLong = 0;
    let pastShort = 0;
    for (const seed of SEEDS) {
      const short = await sample(seed, { extraDraws: EXTRA_DRAWS, inexpensive: new Set([NEAR]) });
      const long = await sample(seed, {
        extraDraws: EXTRA_DRAWS,
        inexpensive: new Set([NEAR]),
        inexpensiveExtraDraws: LONG,
      });
      const near = long.tallies.get(NEAR)!;
      expect(near.count).toBeLessThanOrEqual(MAX_DRAWS + LONG);
      if (near.count > MAX_DRAWS + EXTRA_DRAWS) pastShort++;
      // The same draws: the long horizon only lets the unit go on where the short one stopped it.
      expect(near.count).toBeGreaterThanOrEqual(short.tallies.get(NEAR)!.count);
      // An ordinary unit keeps the ordinary horizon (the unit without an effect stops at 4).
      expect(long.tallies.get(RARE)!.count).toBeLessThanOrEqual(MAX_DRAWS + EXTRA_DRAWS);
      if (short.significant.has(NEAR)) calledShort++;
      if (long.significant.has(NEAR)) calledLong++;
    }
    // An effect of -0.025 with a spread of 0.028 per draw: 64 draws seldom tell it from the
    // threshold; 256 often do, even with its error spread over more looks.
    expect(pastShort).toBeGreaterThan(0);
    expect(calledLong).toBeGreaterThan(calledShort);
  });

  it('refuses extra draws that are not whole rounds', async () => {
    await expect(sample(0, { extraDraws: 6 })).rejects.toThrow(
      /^extraDraws: 6 is not a whole number of rounds of 4 draws; give a multiple of 4$/,
    );
    await expect(sample(0, { extraDraws: 4, inexpensiveExtraDraws: 10 })).rejects.toThrow(
      /^inexpensiveExtraDraws: 10 is not a whole number of rounds of 4 draws; give a multiple of 4$/,
    );
  });

  it('spends the whole error over the looks, and none on looks past the cap that cannot call', () => {
    for (const [maxDraws, extraDraws] of [
      [16, 48],
      [16, 0],
      [8, 0],
      [4, 0],
      [4, 12],
      [12, 36],
      [32, 96],
    ] as const) {
      const weights = lookWeights(maxDraws, extraDraws, 4);
      expect(weights).toHaveLength((maxDraws + extraDraws) / 4);
      expect(weights.reduce((sum, weight) => sum + weight, 0)).toBeCloseTo(1, 12);
      for (const weight of weights) expect(weight).toBeGreaterThanOrEqual(0);
      // The cap's look always calls; past it, only where the draws have doubled, and the last.
      expect(weights[maxDraws / 4 - 1]).toBeGreaterThan(0.2);
      weights.slice(maxDraws / 4).forEach((weight, i) => {
        const draws = maxDraws + 4 * (i + 1);
        const calls =
          draws === maxDraws + extraDraws || Number.isInteger(Math.log2(draws / maxDraws));
        expect(weight > 0).toBe(calls);
      });
    }
  });

  it('calls every unit it stopped for an effect, and calls none it stopped inside the dead zone', async () => {
    const units = [...UNITS, STRONG];
    let calledEarly = 0;
    for (const seed of SEEDS) {
      const outcome = await sample(seed, { units, extraDraws: EXTRA_DRAWS });
      for (const unit of units) {
        const tally = outcome.tallies.get(unit)!;
        const stoppedEarly = tally.count < MAX_DRAWS;
        // A unit stops before the cap only at zero or called: a call made after a round holds.
        if (stoppedEarly) expect(outcome.significant.has(unit)).toBe(!settledAtZero(tally));
        if (settledAtZero(tally)) expect(outcome.significant.has(unit)).toBe(false);
        if (stoppedEarly && outcome.significant.has(unit)) calledEarly++;
      }
      expect(outcome.significant.has(STRONG)).toBe(true);
    }
    // The strong effect is called at half the cap in every seed, the others never early.
    expect(calledEarly).toBe(SEEDS.length);
  });

  it('prices draws all alike by the chance of as many alike under the null, not as certain', () => {
    const tally = new EffectTally();
    // Four one-pixel flips of -0.05 and nothing else: no spread for a t test to use.
    for (let i = 0; i < 4; i++) tally.add(1, -0.05, 0.05 * 0.05);
    expect(tally.standardError).toBe(0);
    expect(pValueBeyondThreshold(tally, THRESHOLD)).toBeCloseTo(0.4 ** 4, 12);
    // Alike but inside the dead zone: no evidence of an effect at all.
    const small = new EffectTally();
    for (let i = 0; i < 8; i++) small.add(1, 0.01, 0.01 * 0.01);
    expect(pValueBeyondThreshold(small, THRESHOLD)).toBe(1);
  });

  it('keeps its false discovery rate where every unit lies on the threshold and the t tests are exact', async () => {
    // 50 units, each with normal effects of mean exactly -t: none is an effect, and each is as
    // near one as a unit that is not can be. Every call is false, so the false discovery rate is
    // the share of runs with any call: 8 of these 200. Calls on each unit's last p-value alone,
    // blind to the stopping (the rule before this one), made a false call in 31 of them.
    const pools = Array.from({ length: 50 }, (_, unit) => {
      const random = new SeededRandom(1000 + unit);
      const uniform = () => (random.integer(1_000_000) + 0.5) / 1_000_000;
      const values = Array.from(
        { length: 1000 },
        () => 0.03 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
      );
      const shift = -THRESHOLD - values.reduce((sum, value) => sum + value, 0) / values.length;
      return values.map((value) => value + shift);
    });
    // 5% of 200 runs is 10; two binomial standard errors above it is 16.
    expect(await runsWithCalls(pools, 200)).toBeLessThanOrEqual(16);
  });

  it('keeps its false discovery rate where the draws are pixel flips, four alike not rare', async () => {
    // 100 units on the threshold whose draws flip a pixel (-2.5 t) in two of five and change
    // nothing otherwise: some unit's first draws are all flips in nearly every run. Priced as
    // the chance of as many alike, they gave a false call in 10 of these 200 runs; taken as
    // certain (p = 0), in 191.
    const pools = Array.from({ length: 100 }, (_, unit) => {
      // Exactly two in five of the pool flip, so that the mean is -t; which ones, each unit's own.
      const random = new SeededRandom(2000 + unit);
      const pool = Array.from({ length: 1000 }, (_, draw) => (draw < 400 ? -2.5 * THRESHOLD : 0));
      for (let i = pool.length - 1; i > 0; i--) {
        const j = random.integer(i + 1);
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      return pool;
    });
    expect(await runsWithCalls(pools, 200)).toBeLessThanOrEqual(16);
  });
});

/**
 * Over `runs` seeds, the runs in which sequential sampling called any unit, each unit's effect
 * for each draw of the pool given by `pools` (unit, then draw).
 */
async function runsWithCalls(pools: readonly (readonly number[])[], runs: number) {
  const units = pools.map((_, unit) => unit);
  let withCalls = 0;
  for (let seed = 0; seed < runs; seed++) {
    const outcome = await sampleSequentially({
      units,
      poolSize: pools[0]!.length,
      threshold: THRESHOLD,
      round: 4,
      maxDraws: MAX_DRAWS,
      extraDraws: EXTRA_DRAWS,
      falseDiscoveryRate: 0.05,
      random: new SeededRandom(seed),
      runRound: (active, draws, tallies) => {
        for (const unit of active) {
          for (const draw of draws) {
            const effect = pools[unit]![draw]!;
            tallies.get(unit)!.add(1, effect, effect * effect);
          }
        }
        return Promise.resolve(true);
      },
    });
    if (outcome.significant.size > 0) withCalls++;
  }
  return withCalls;
}
