import { describe, expect, it } from 'vitest';
import { explain, Logger, ModelRunner, type ExplanationResult } from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { stepModel } from './onnx-builder.ts';

const HEIGHT = 40;
const WIDTH = 48;
const BLOCK = 8;
const roi = { top: 16, left: 24, height: 8, width: 16 };
// Off the diagonal, so that swapping rows and columns would find other blocks.
const helper = { top: 8, left: 32, height: 8, width: 8 };
const hinderer = { top: 32, left: 0, height: 8, width: 8 };
const LEVEL = 0.5;
const logger = new Logger('silent');

/** Base image: 1 in both driving regions, anything below the level elsewhere. */
function baseImage() {
  const data = new Float32Array(HEIGHT * WIDTH);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 97) / 200;
  for (const region of [helper, hinderer]) {
    for (let y = region.top; y < region.top + region.height; y++) {
      for (let x = region.left; x < region.left + region.width; x++) data[y * WIDTH + x] = 1;
    }
  }
  return { channels: 1, height: HEIGHT, width: WIDTH, data };
}

/** A bank whose first `low` patches sit below the level (they flip the step) and the rest above. */
function bank(low: number, high: number) {
  const data = new Float32Array((low + high) * BLOCK * BLOCK);
  for (let p = 0; p < low + high; p++) {
    data.fill(p < low ? 0.1 + 0.01 * p : 0.9, p * BLOCK * BLOCK, (p + 1) * BLOCK * BLOCK);
  }
  return { count: low + high, channels: 1, height: BLOCK, width: BLOCK, data };
}

const mask = { channels: 1, height: HEIGHT, width: WIDTH, data: new Float32Array(HEIGHT * WIDTH) };
for (let y = roi.top; y < roi.top + roi.height; y++)
  mask.data.fill(1, y * WIDTH + roi.left, y * WIDTH + roi.left + roi.width);

// Reference Dice: left half of the RoI predicted, right half not: 2 * 64 / (64 + 128 + 1e-10).
const BASE_DICE = 12800 / (192 + 1e-10);
const HELPER_FLIPPED = 0 - BASE_DICE;
const HINDERER_FLIPPED = 100 * (256 / (256 + 1e-10)) - BASE_DICE;

async function loadStepModel(fixedBatch: boolean) {
  return ModelRunner.load({
    bytes: stepModel({
      height: HEIGHT,
      width: WIDTH,
      roi,
      helper,
      hinderer,
      level: LEVEL,
      fixedBatch,
    }),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: HEIGHT, width: WIDTH },
    maxBatchSize: 16,
    logger,
  });
}

function effectAt(result: ExplanationResult, region: { top: number; left: number }) {
  return result.blocks.find((block) => block.top === region.top && block.left === region.left)!;
}

describe('explaining a model whose effects are known exactly', () => {
  it('relaxes a batch fixed at 1 and checks it', async () => {
    const model = await loadStepModel(true);
    expect(model.maxBatchSize).toBe(16);
    await model.release();
  });

  it('finds exactly the two driving blocks, with their sign and size, under the paper preset', async () => {
    const model = await loadStepModel(true);
    const result = await explain({
      model,
      image: baseImage(),
      mask,
      roi,
      block: { height: BLOCK, width: BLOCK },
      patchBank: bank(4, 0),
      preprocessing: { kind: 'none' },
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'paper',
      seed: 7,
    });
    await model.release();

    expect(result.baseScore).toBeCloseTo(BASE_DICE, 4);
    const significant = result.blocks.filter((block) => block.significant);
    expect(significant.map(({ top, left }) => [top, left])).toEqual([
      [helper.top, helper.left],
      [hinderer.top, hinderer.left],
    ]);
    expect(effectAt(result, helper).ate).toBeCloseTo(HELPER_FLIPPED, 3);
    expect(effectAt(result, hinderer).ate).toBeCloseTo(HINDERER_FLIPPED, 3);
    expect(effectAt(result, helper).n).toBe(50);
    // 30 blocks, 2 of them under the RoI; every other block costs its 3 screening passes only.
    expect(result.blocks).toHaveLength(28);
    expect(result.forwardPasses).toBe(1 + 28 * 3 + 2 * 50);
    expect(result.summary).toEqual({ positive: 1, negative: 1, zero: 26 });
    for (const block of result.blocks.filter((block) => !block.significant)) {
      expect(block.ate).toBe(0);
    }
  });

  it('estimates a random effect within its Monte Carlo error', async () => {
    const model = await loadStepModel(false);
    const samples = 200;
    const result = await explain({
      model,
      image: baseImage(),
      mask,
      roi,
      block: { height: BLOCK, width: BLOCK },
      // Half the patches flip the step: the exact ATE is half the flipped effect.
      patchBank: bank(3, 3),
      preprocessing: { kind: 'none' },
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'paper',
      samples,
      // Eight screening draws miss a half-flipping block with probability 1/256 only.
      screen: 8,
      seed: 11,
    });
    await model.release();
    for (const [region, flipped] of [
      [helper, HELPER_FLIPPED],
      [hinderer, HINDERER_FLIPPED],
    ] as const) {
      const effect = effectAt(result, region);
      expect(effect.n).toBe(samples);
      expect(effect.significant).toBe(true);
      expect(Math.abs(effect.ate - flipped / 2)).toBeLessThan(4 * effect.se);
      expect(effect.se).toBeCloseTo(Math.abs(flipped) / 2 / Math.sqrt(samples), 0);
      expect(effect.ciLow).toBeLessThan(effect.ate);
      expect(effect.ciHigh).toBeGreaterThan(effect.ate);
    }
  });

  it('measures a single pass per block under the zero-occlusion preset', async () => {
    const model = await loadStepModel(false);
    const result = await explain({
      model,
      image: baseImage(),
      mask,
      roi,
      block: { height: BLOCK, width: BLOCK },
      preprocessing: { kind: 'none' },
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'zero',
      seed: 1,
    });
    await model.release();
    expect(result.forwardPasses).toBe(1 + 28);
    expect(effectAt(result, helper).ate).toBeCloseTo(HELPER_FLIPPED, 3);
    expect(effectAt(result, hinderer).ate).toBeCloseTo(HINDERER_FLIPPED, 3);
    expect(result.summary).toEqual({ positive: 1, negative: 1, zero: 26 });
  });

  it('stops when interrupted and keeps exactly the blocks it finished', async () => {
    const model = await loadStepModel(false);
    const controller = new AbortController();
    const options = {
      model,
      image: baseImage(),
      mask,
      roi,
      block: { height: BLOCK, width: BLOCK },
      patchBank: bank(4, 0),
      preprocessing: { kind: 'none' as const },
      outcome: {
        activation: 'none' as const,
        classIndex: 0,
        binarize: 0,
        metric: 'hardDice' as const,
      },
      preset: 'paper' as const,
      seed: 7,
    };
    const full = await explain(options);
    const partial = await explain({
      ...options,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.phase === 'estimate') controller.abort();
      },
    });
    await model.release();
    expect(full.complete).toBe(true);
    expect(partial.complete).toBe(false);
    // Screening finished; the first estimation batch (16 of the helper's 50 draws) did not
    // finish either driving block, so both are left out and every screened-out block is kept.
    expect(partial.blocks).toEqual(full.blocks.filter((block) => !block.significant));
    expect(partial.forwardPasses).toBe(1 + 28 * 3 + 16);
  });
});
