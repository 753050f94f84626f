import { describe, expect, it } from 'vitest';
import { BlockGrid, CpuIntervention, InterventionPlan } from '@pdcr/kernels';
import {
  explain,
  FAST_DEFAULTS,
  frozenStatistics,
  Logger,
  ModelRunner,
  type ExplainOptions,
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
const { helperFlipped: HELPER_FLIPPED, hindererFlipped: HINDERER_FLIPPED } = exactEffects(scene);
const bank = sceneBank;
const mask = sceneMask(scene);
const baseImage = () => sceneImage(scene);

async function withModel<T>(run: (model: ModelRunner) => Promise<T>): Promise<T> {
  const model = await ModelRunner.load({
    bytes: sceneModel(scene),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: HEIGHT, width: WIDTH },
    maxBatchSize: 32,
    logger: new Logger('silent'),
  });
  try {
    return await run(model);
  } finally {
    await model.release();
  }
}

function options(model: ModelRunner, overrides: Partial<ExplainOptions>): ExplainOptions {
  return {
    model,
    image: baseImage(),
    mask,
    roi,
    block: { height: BLOCK, width: BLOCK },
    patchBank: bank(4, 0),
    preprocessing: { kind: 'none' },
    outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
    preset: 'fast',
    seed: 1,
    ...overrides,
  };
}

const significantBlocks = (
  blocks: readonly { top: number; left: number; significant: boolean }[],
) => blocks.filter((block) => block.significant).map(({ top, left }) => [top, left]);

describe('the fast preset', () => {
  it('prunes every block that cannot reach the RoI and finds exactly the two that do', async () => {
    const [fast, paper] = await withModel(async (model) => [
      await explain(options(model, {})),
      await explain(options(model, { preset: 'paper' })),
    ]);
    expect(significantBlocks(fast.blocks)).toEqual([
      [helper.top, helper.left],
      [hinderer.top, hinderer.left],
    ]);
    const at = (region: typeof helper) =>
      fast.blocks.find((block) => block.top === region.top && block.left === region.left)!;
    expect(at(helper).ate).toBeCloseTo(HELPER_FLIPPED, 3);
    expect(at(hinderer).ate).toBeCloseTo(HINDERER_FLIPPED, 3);
    // Pruned blocks cost no sampling at all.
    expect(fast.blocks.filter((block) => block.n === 0)).toHaveLength(26);
    expect(fast.forwardPasses).toBeLessThan(paper.forwardPasses / 3);
  });

  it('falls back after a few passes on a model whose every output depends on every block, and still maps it right', async () => {
    // Per-image z-score, without the statistics route: every block moves the statistics, so
    // every group test changes the RoI's raw output.
    const result = await withModel((model) =>
      explain(
        options(model, {
          preprocessing: { kind: 'zscore', epsilon: 1e-6 },
          outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
          statisticsRoute: false,
        }),
      ),
    );
    expect(significantBlocks(result.blocks)).toEqual([
      [helper.top, helper.left],
      [hinderer.top, hinderer.left],
    ]);
    // At most 30 passes of failed exact-zero group tests, then joint draws for each group of 2 x 2
    // blocks (9 groups); the groups holding the driving blocks are sampled block by block.
    const { screenDraws, maxDraws } = FAST_DEFAULTS;
    const screened = result.blocks.filter((block) => block.n === screenDraws && block.ate === 0);
    expect(screened.length).toBeGreaterThanOrEqual(28 - 8);
    expect(result.forwardPasses).toBeLessThanOrEqual(1 + 30 + 9 * screenDraws + 8 * maxDraws);
  });

  it('under per-image z-score, samples the blocks out of reach through the statistics route', async () => {
    const zscore = { kind: 'zscore', epsilon: 1e-6 } as const;
    const routed = await withModel((model) => explain(options(model, { preprocessing: zscore })));
    expect(significantBlocks(routed.blocks)).toEqual([
      [helper.top, helper.left],
      [hinderer.top, hinderer.left],
    ]);
    // The 26 blocks beyond the step model's two regions are found on frozen statistics and
    // sampled, not zeroed: they reach the RoI through the statistics, here without an effect.
    const reachedThroughStatistics = routed.blocks.filter(
      (block) => block.n > 0 && block.ate === 0 && !block.significant,
    );
    expect(reachedThroughStatistics).toHaveLength(26);
    expect(routed.parameters.preprocessing).toBe('zscore');
    expect(routed.parameters.falseDiscoveryRate).toBe(FAST_DEFAULTS.falseDiscoveryRate);
  });

  it.for([
    // Uniform draws: half the patches flip each driving block.
    { name: 'uniform draws', patchStrata: 1, low: 3, high: 3 },
    // Two strata by brightness: the dark one holds the 3 flipping patches and 1 that does not,
    // so the stratified interval has a spread of its own to estimate.
    { name: 'two brightness strata', patchStrata: 2, low: 3, high: 5 },
  ])(
    'gives intervals that cover the exact ATE at about their stated rate over repeated seeds ($name)',
    async ({ patchStrata, low, high }) => {
      const seeds = Array.from({ length: 40 }, (_, seed) => seed);
      const share = low / (low + high);
      const covered = await withModel(async (model) => {
        let hits = 0;
        let total = 0;
        let screened = 0;
        let missedEveryDraw = 0;
        for (const seed of seeds) {
          const result = await explain(
            options(model, { seed, patchBank: bank(low, high), patchStrata }),
          );
          for (const [region, exact] of [
            [helper, HELPER_FLIPPED * share],
            [hinderer, HINDERER_FLIPPED * share],
          ] as const) {
            const block = result.blocks.find(
              (b) => b.top === region.top && b.left === region.left,
            )!;
            // A block its group's screen settled at zero has the screen's draws, not an
            // interval taken to estimate it (every draw of the screen missed the flip).
            if (block.screened) {
              screened++;
              continue;
            }
            // Nor has one whose own first round missed it in every draw: settled at zero, its
            // interval is the zero-width one of draws that all agree, no estimate of the flip.
            if (block.ate === 0 && block.ciLow === block.ciHigh) {
              missedEveryDraw++;
              continue;
            }
            total++;
            if (block.ciLow <= exact && exact <= block.ciHigh) hits++;
          }
        }
        return { share: hits / total, screened, missedEveryDraw };
      });
      // 95% intervals, stopped early when called: between 85% and 100% of those estimated.
      expect(covered.share).toBeGreaterThanOrEqual(0.85);
      // A first round misses a flip in every draw with chance 1/16 either way ((1/2)^4 uniform;
      // with strata both draws of the dark stratum must miss, (1/4)^2): 5 of 80 blocks expected.
      expect(covered.missedEveryDraw).toBeLessThanOrEqual(15);
      // Two draws of a group miss a flip with chance (1 - share)^2: 14 of 80 blocks expected
      // screened with uniform draws, 31 with strata; at least 25 are always left to measure.
      expect(covered.screened).toBeLessThanOrEqual(40);
    },
  );

  it('refuses draws that are not whole rounds, and a rate that is not one, before any pass', async () => {
    await withModel(async (model) => {
      let progressed = false;
      await expect(
        explain(options(model, { samples: 10, onProgress: () => (progressed = true) })),
      ).rejects.toThrow(
        /^samples: 10 is not a whole number of rounds of 4 draws, at least 4; give a multiple of 4, at least 4$/,
      );
      expect(progressed).toBe(false);
      await expect(explain(options(model, { samples: 0 }))).rejects.toThrow(
        /^samples: 0 is not a whole number of rounds of 4 draws, at least 4; give a multiple of 4, at least 4$/,
      );
      await expect(explain(options(model, { falseDiscoveryRate: 5 }))).rejects.toThrow(
        /^falseDiscoveryRate: 5 is not a rate; give one between 0 and 1 \(0\.05 for 5%\)$/,
      );
      await expect(explain(options(model, { extraDraws: 6 }))).rejects.toThrow(
        /^extraDraws: 6 is not a whole number of rounds of 4 draws; give a multiple of 4$/,
      );
    });
  });

  it('prunes again under per-image z-score once the statistics are frozen, as an explicit choice', async () => {
    const zscore = { kind: 'zscore', epsilon: 1e-6 } as const;
    const [live, frozen] = await withModel(async (model) => [
      await explain(options(model, { preprocessing: zscore })),
      await explain(options(model, { preprocessing: zscore, freezeStatistics: true })),
    ]);
    expect(significantBlocks(frozen.blocks)).toEqual(significantBlocks(live.blocks));
    expect(frozen.blocks.filter((block) => block.n === 0)).toHaveLength(26);
    expect(frozen.forwardPasses).toBeLessThan(live.forwardPasses);
    expect(frozen.parameters.preprocessing).toBe('zscore (frozen)');
  });

  it('freezes the statistics to exactly what the untouched image is normalised with', () => {
    const image = sceneImage(scene);
    const frozen = frozenStatistics({ kind: 'zscore', epsilon: 1e-6 }, image);
    const grid = new BlockGrid(HEIGHT, WIDTH, BLOCK, BLOCK);
    const plan = new InterventionPlan(1, grid.blockCount);
    const [live, fixed] = [{ kind: 'zscore', epsilon: 1e-6 } as const, frozen].map(
      (preprocessing) => {
        const batch = new Float32Array(HEIGHT * WIDTH);
        new CpuIntervention({ image, patchBank: sceneBank(1, 0), grid, preprocessing }).run(
          plan,
          batch,
        );
        return batch;
      },
    );
    live!.forEach((value, i) => expect(fixed![i]).toBeCloseTo(value, 5));
  });
});
