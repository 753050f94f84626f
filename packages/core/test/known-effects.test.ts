import { describe, expect, it } from 'vitest';
import {
  explain,
  Logger,
  ModelRunner,
  type ExplainOptions,
  type ExplanationResult,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import {
  BLOCK,
  exactEffects,
  sceneBank,
  sceneImage,
  sceneMask,
  sceneModel,
  WIDE_SCENE,
} from './step-scenario.ts';

const scene = WIDE_SCENE;
const { height: HEIGHT, width: WIDTH, roi, helper, hinderer } = scene;
const {
  baseDice: BASE_DICE,
  helperFlipped: HELPER_FLIPPED,
  hindererFlipped: HINDERER_FLIPPED,
} = exactEffects(scene);
const logger = new Logger('silent');
const baseImage = () => sceneImage(scene);
const bank = sceneBank;
const mask = sceneMask(scene);

async function loadStepModel(fixedBatch: boolean) {
  return ModelRunner.load({
    bytes: sceneModel(scene, fixedBatch),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: HEIGHT, width: WIDTH },
    maxBatchSize: 16,
    logger,
  });
}

/** The scene explained with the paper preset on the CPU; `overrides` change what a test varies. */
function sceneOptions(model: ModelRunner, overrides: Partial<ExplainOptions> = {}): ExplainOptions {
  return {
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
    ...overrides,
  };
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
    const result = await explain(sceneOptions(model));
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
    const result = await explain(
      sceneOptions(model, {
        // Half the patches flip the step: the exact ATE is half the flipped effect.
        patchBank: bank(3, 3),
        samples,
        // Eight screening draws miss a half-flipping block with probability 1/256 only.
        screen: 8,
        seed: 11,
      }),
    );
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
    const result = await explain(sceneOptions(model, { preset: 'zero', seed: 1 }));
    await model.release();
    expect(result.forwardPasses).toBe(1 + 28);
    expect(effectAt(result, helper).ate).toBeCloseTo(HELPER_FLIPPED, 3);
    expect(effectAt(result, hinderer).ate).toBeCloseTo(HINDERER_FLIPPED, 3);
    expect(result.summary).toEqual({ positive: 1, negative: 1, zero: 26 });
  });

  it('stops when interrupted and keeps exactly the blocks it finished', async () => {
    const model = await loadStepModel(false);
    const controller = new AbortController();
    const full = await explain(sceneOptions(model));
    const partial = await explain(
      sceneOptions(model, {
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.phase === 'estimate') controller.abort();
        },
      }),
    );
    await model.release();
    expect(full.complete).toBe(true);
    expect(partial.complete).toBe(false);
    // Screening finished; the first estimation batch (16 of the helper's 50 draws) did not
    // finish either driving block, so both are left out and every screened-out block is kept.
    expect(partial.blocks).toEqual(full.blocks.filter((block) => !block.significant));
    expect(partial.forwardPasses).toBe(1 + 28 * 3 + 16);
  });

  it('keeps only fully screened blocks when interrupted while screening', async () => {
    const model = await loadStepModel(false);
    const controller = new AbortController();
    const result = await explain(
      sceneOptions(model, {
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.phase === 'screen') controller.abort();
        },
      }),
    );
    await model.release();
    // One batch of 16 screening draws ran: the first 5 blocks were screened (3 draws each), none
    // of them a driving block, so exactly those 5 are listed, all zero.
    expect(result.complete).toBe(false);
    expect(result.forwardPasses).toBe(1 + 16);
    expect(result.blocks).toHaveLength(5);
    expect(result.blocks.every((block) => block.ate === 0 && block.n === 3)).toBe(true);
  });
});
