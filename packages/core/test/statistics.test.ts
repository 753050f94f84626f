import { describe, expect, it } from 'vitest';
import { EffectTally, patchStrata, SeededRandom } from '../src/index.ts';

function tallyOf(values: readonly number[][], weights: readonly number[]): EffectTally {
  const tally = new EffectTally(weights);
  values.forEach((stratum, s) => {
    for (const value of stratum) tally.add(1, value, value * value, s);
  });
  return tally;
}

const sampleVariance = (values: readonly number[]) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1);
};

describe('effect tallies', () => {
  it('give a stratified sample its weighted mean, standard error and pooled degrees of freedom', () => {
    const random = new SeededRandom(7);
    const strata = [3, 5, 4].map((n) => Array.from({ length: n }, () => random.uniform() - 0.3));
    const weights = [0.5, 0.3, 0.2];
    const tally = tallyOf(strata, weights);
    const means = strata.map((values) => values.reduce((a, b) => a + b, 0) / values.length);
    expect(tally.mean).toBeCloseTo(
      means.reduce((sum, mean, s) => sum + weights[s]! * mean, 0),
      12,
    );
    const variance = strata.reduce(
      (sum, values, s) => sum + (weights[s]! ** 2 * sampleVariance(values)) / values.length,
      0,
    );
    expect(tally.standardError).toBeCloseTo(Math.sqrt(variance), 12);
    expect(tally.degreesOfFreedom).toBe(12 - 3);
    expect(tally.count).toBe(12);
  });

  it('has no interval until every stratum has two draws', () => {
    const tally = tallyOf([[0.1, 0.2], [0.5]], [0.5, 0.5]);
    expect(tally.degreesOfFreedom).toBe(0);
    expect(tally.interval()).toEqual({ low: tally.mean, high: tally.mean });
  });

  it('falls back to the plain standard error where every stratum agrees within itself', () => {
    const values = [
      [0, 0],
      [0.4, 0.4],
    ];
    const tally = tallyOf(values, [0.5, 0.5]);
    const flat = tallyOf([values.flat()], [1]);
    expect(tally.mean).toBeCloseTo(0.2, 12);
    expect(tally.standardError).toBeGreaterThan(0);
    expect(tally.standardError).toBe(flat.standardError);
    expect(tally.degreesOfFreedom).toBe(3);
  });

  it('is the plain tally with one stratum', () => {
    const values = [0.3, -0.1, 0.25, 0.05];
    const tally = tallyOf([values], [1]);
    expect(tally.mean).toBeCloseTo(0.125, 12);
    expect(tally.standardError).toBeCloseTo(Math.sqrt(sampleVariance(values) / 4), 12);
    expect(tally.degreesOfFreedom).toBe(3);
  });
});

describe('patch strata', () => {
  it('split the bank into near-equal strata ordered by brightness, each patch once', () => {
    const size = 2 * 2;
    const count = 11;
    const random = new SeededRandom(3);
    const brightness = Array.from({ length: count }, () => random.uniform());
    const data = new Float32Array(count * size);
    brightness.forEach((value, patch) => data.fill(value, patch * size, (patch + 1) * size));
    const strata = patchStrata({ count, channels: 1, height: 2, width: 2, data }, 3);
    expect(strata.map((members) => members.length)).toEqual([4, 3, 4]);
    expect(strata.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
    const ordered = strata.flat().map((patch) => Math.fround(brightness[patch]!));
    expect(ordered).toEqual([...ordered].sort((a, b) => a - b));
  });
});
