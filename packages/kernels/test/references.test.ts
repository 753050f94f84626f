import { describe, expect, it } from 'vitest';
import {
  BlockGrid,
  channelStatistics,
  CpuIntervention,
  CpuOutcome,
  InterventionPlan,
  interventionStatistics,
  interventionWgsl,
  KernelInputError,
  NO_TARGET,
  outcomeWgsl,
  reflectBufferBindings,
  scoreSample,
  type OutcomeSpec,
} from '../src/index.ts';
import { interventionSourceCase } from './kernel-cases.ts';
import { TestRandom, testSeed } from './random.ts';

const seed = testSeed();

describe(`CPU references (seed ${seed})`, () => {
  it('derives each intervened image z-score statistics from the replaced blocks alone', () => {
    const random = new TestRandom(seed);
    for (let i = 0; i < 20; i++) {
      const { source, plan } = interventionSourceCase(random);
      const { image } = source;
      const base = channelStatistics(image);
      const batch = new Float32Array(plan.batchSize * image.data.length);
      new CpuIntervention({ ...source, preprocessing: { kind: 'none' } }).run(plan, batch);
      for (let sample = 0; sample < plan.batchSize; sample++) {
        const intervened = batch.subarray(
          sample * image.data.length,
          (sample + 1) * image.data.length,
        );
        const direct = channelStatistics({ ...image, data: intervened });
        const derived = interventionStatistics(source, base, plan, sample, 0);
        for (let c = 0; c < image.channels; c++) {
          const planeSize = image.height * image.width;
          const std = Math.sqrt(direct.squaredDeviations[c]! / planeSize);
          expect(derived.mean[c]).toBeCloseTo(direct.mean[c]!, 9);
          if (std > 1e-3) expect(1 / derived.inverseStd[c]!).toBeCloseTo(std, 9);
        }
      }
    }
  });

  it('writes a window of each image as the whole batch has it, under every preprocessing', () => {
    const random = new TestRandom(seed + 1);
    for (let i = 0; i < 30; i++) {
      const { source, plan } = interventionSourceCase(random);
      const { image } = source;
      const top = random.integer(0, image.height - 1);
      const left = random.integer(0, image.width - 1);
      const window = {
        top,
        left,
        height: random.integer(1, image.height - top),
        width: random.integer(1, image.width - left),
      };
      const intervention = new CpuIntervention(source);
      const whole = new Float32Array(plan.batchSize * image.data.length);
      intervention.run(plan, whole);
      const cut = new Float32Array(plan.batchSize * image.channels * window.height * window.width);
      cut.fill(Number.NaN);
      intervention.run(plan, cut, window);
      const expected = new Float32Array(cut.length);
      let at = 0;
      for (let sample = 0; sample < plan.batchSize; sample++)
        for (let c = 0; c < image.channels; c++)
          for (let y = window.top; y < window.top + window.height; y++)
            for (let x = window.left; x < window.left + window.width; x++)
              expected[at++] =
                whole[((sample * image.channels + c) * image.height + y) * image.width + x]!;
      expect(cut, `case ${i}, window ${JSON.stringify(window)}`).toEqual(expected);
    }
    const { source, plan } = interventionSourceCase(random);
    const outside = { top: 0, left: 0, height: source.image.height + 1, width: 1 };
    expect(() => new CpuIntervention(source).run(plan, new Float32Array(1e6), outside)).toThrow(
      KernelInputError,
    );
  });

  it('writes the base image, normalised, for a sample that replaces nothing', () => {
    const image = { channels: 1, height: 2, width: 3, data: Float32Array.of(0, 1, 2, 3, 4, 5) };
    const patchBank = { count: 1, channels: 1, height: 2, width: 2, data: new Float32Array(4) };
    const grid = new BlockGrid(2, 3, 2, 2);
    const intervention = new CpuIntervention({
      image,
      patchBank,
      grid,
      preprocessing: { kind: 'meanStd', mean: [1], std: [2] },
    });
    const batch = new Float32Array(12);
    intervention.run(new InterventionPlan(2, grid.blockCount).replace(1, 1, 0), batch);
    expect([...batch]).toEqual([-0.5, 0, 0.5, 1, 1.5, 2, -0.5, 0, -0.5, 1, 1.5, -0.5]);
  });

  it('scores hard Dice as the paper defines it, with empty prediction and truth giving 0', () => {
    const spec: OutcomeSpec = {
      classes: 1,
      height: 2,
      width: 2,
      roi: { top: 0, left: 0, height: 2, width: 2 },
      classIndex: 0,
      activation: 'none',
      metric: 'hardDice',
      threshold: 0.5,
      reference: Float32Array.of(1, 1, 0, 0),
      accumulatorCount: 1,
    };
    // Prediction {0, 2}, truth {0, 1}: 100 * 2 * 1 / (2 + 2 + 1e-10) points.
    expect(scoreSample(spec, Float32Array.of(0.9, 0.1, 0.7, 0.2), 0)).toBe(200 / (4 + 1e-10));
    expect(scoreSample({ ...spec, reference: new Float32Array(4) }, new Float32Array(4), 0)).toBe(
      0,
    );
  });

  it('accumulates count, sum and sum of squares of score minus base per target', async () => {
    const spec: OutcomeSpec = {
      classes: 1,
      height: 1,
      width: 2,
      roi: { top: 0, left: 0, height: 1, width: 2 },
      classIndex: 0,
      activation: 'none',
      metric: 'meanValue',
      threshold: 0.5,
      reference: new Float32Array(2),
      accumulatorCount: 2,
    };
    const outcome = new CpuOutcome(spec);
    outcome.setBaseScore(10);
    // Scores 50, 30, 20; targets 1, none, 1: effects 40 and 10 on accumulator 1.
    outcome.run(Float32Array.of(0.5, 0.5, 0.3, 0.3, 0.2, 0.2), 3, Uint32Array.of(1, NO_TARGET, 1));
    const { scores, effects } = await outcome.read();
    expect([...scores].map((score) => Math.round(score))).toEqual([50, 30, 20]);
    expect([...effects].map((value) => Math.round(value * 1e3) / 1e3)).toEqual([
      0, 0, 0, 2, 50, 1700,
    ]);
  });
});

describe('kernel inputs that do not fit', () => {
  const image = { channels: 1, height: 4, width: 4, data: new Float32Array(16) };
  const grid = new BlockGrid(4, 4, 2, 2);

  it('names the patch bank when its patches are not the block size', () => {
    const patchBank = { count: 1, channels: 1, height: 3, width: 3, data: new Float32Array(9) };
    const make = () =>
      new CpuIntervention({ image, patchBank, grid, preprocessing: { kind: 'none' } });
    expect(make).toThrow(KernelInputError);
    expect(make).toThrow(/^patchBank: patches are 3x3 but blocks are 2x2/);
  });

  it('names the plan when it uses a patch the bank does not hold', () => {
    const patchBank = { count: 1, channels: 1, height: 2, width: 2, data: new Float32Array(4) };
    const intervention = new CpuIntervention({
      image,
      patchBank,
      grid,
      preprocessing: { kind: 'none' },
    });
    const plan = new InterventionPlan(1, grid.blockCount).replace(0, 0, 5);
    expect(() => intervention.run(plan, new Float32Array(16))).toThrow(/^plan: names patch 5/);
  });

  it('names the RoI when it leaves the output', () => {
    const spec: OutcomeSpec = {
      classes: 1,
      height: 4,
      width: 4,
      roi: { top: 2, left: 2, height: 3, width: 2 },
      classIndex: 0,
      activation: 'sigmoid',
      metric: 'hardDice',
      threshold: 0.5,
      reference: new Float32Array(6),
      accumulatorCount: 1,
    };
    expect(() => new CpuOutcome(spec)).toThrow(
      /^roi: \(2, 2, 3x2\) does not lie inside the 4x4 output/,
    );
  });
});

describe('bind-group layouts derived from the WGSL', () => {
  it('match what the intervention wrapper binds', () => {
    expect(reflectBufferBindings(interventionWgsl)).toEqual([
      { name: 'params', group: 0, binding: 0, type: 'uniform' },
      { name: 'baseImage', group: 0, binding: 1, type: 'read-only-storage' },
      { name: 'patchBank', group: 0, binding: 2, type: 'read-only-storage' },
      { name: 'patchOfBlock', group: 0, binding: 3, type: 'read-only-storage' },
      { name: 'sampleStats', group: 0, binding: 4, type: 'storage' },
      { name: 'batch', group: 0, binding: 5, type: 'storage' },
    ]);
  });

  it('match what the outcome wrapper binds', () => {
    expect(reflectBufferBindings(outcomeWgsl)).toEqual([
      { name: 'params', group: 0, binding: 0, type: 'uniform' },
      { name: 'modelOutput', group: 0, binding: 1, type: 'read-only-storage' },
      { name: 'reference', group: 0, binding: 2, type: 'read-only-storage' },
      { name: 'sampleTarget', group: 0, binding: 3, type: 'read-only-storage' },
      { name: 'scores', group: 0, binding: 4, type: 'storage' },
      { name: 'effects', group: 0, binding: 5, type: 'storage' },
    ]);
  });
});
