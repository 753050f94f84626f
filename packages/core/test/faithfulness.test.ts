import { BlockGrid } from '@pdcr/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvaluator } from '../src/explain.ts';
import {
  curveArea,
  evaluateImage,
  faithfulnessReportHtml,
  faithfulnessResult,
  Logger,
  ModelRunner,
  outsideRoi,
  rankingCurves,
  removalFill,
  SeededRandom,
  type FaithfulnessImageOptions,
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
const { roi, helper, hinderer } = scene;
const grid = new BlockGrid(scene.height, scene.width, BLOCK, BLOCK);
const candidates = outsideRoi(grid, roi);
const helperBlock = grid.blockAt(helper.top, helper.left);
const hindererBlock = grid.blockAt(hinderer.top, hinderer.left);
const { baseDice } = exactEffects(scene);
// Helper and hinderer both replaced: the left half off, the right half on.
const n = roi.height * roi.width;
const BOTH_REMOVED = (100 * 2 * (n / 2)) / (n / 2 + n + 1e-10);
const image = sceneImage(scene);
const mask = sceneMask(scene);
const outcome = { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' } as const;
let model: ModelRunner;

beforeAll(async () => {
  model = await ModelRunner.load({
    bytes: sceneModel(scene),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: scene.height, width: scene.width },
    maxBatchSize: 16,
    logger: new Logger('silent'),
  });
});

afterAll(async () => {
  await model.release();
});

/** The true order: the helper (ATE -base) first, the hinderer (ATE > 0) last, the rest between. */
function trueRanking(): number[] {
  const rest = candidates.filter((block) => block !== helperBlock && block !== hindererBlock);
  return [helperBlock, ...rest, hindererBlock];
}

function randomRanking(seed: number): number[] {
  const random = new SeededRandom(seed);
  const order = [...candidates];
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.integer(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

async function curvesOf(ranking: number[], removal: 'zero' | 'patch', draws = 1) {
  const fill = removalFill(removal, image, grid, sceneBank(3, 3));
  const evaluator = await createEvaluator(
    model,
    { image, patchBank: fill.patchBank, grid, preprocessing: { kind: 'none' } },
    {
      classes: 1,
      height: scene.height,
      width: scene.width,
      roi,
      classIndex: 0,
      activation: 'none',
      metric: 'hardDice',
      threshold: 0,
      reference: Float32Array.from({ length: n }, () => 1),
      accumulatorCount: 1,
    },
  );
  const curves = await rankingCurves(
    { evaluator, fill, draws, seed: 3, kinds: ['deletion', 'insertion'] },
    ranking,
  );
  await evaluator.dispose();
  return { deletion: curves!.deletion!, insertion: curves!.insertion! };
}

function imageOptions(overrides: Partial<FaithfulnessImageOptions> = {}): FaithfulnessImageOptions {
  return {
    model,
    image,
    mask,
    roi,
    block: { height: BLOCK, width: BLOCK },
    patchBank: sceneBank(4, 0),
    preprocessing: { kind: 'none' },
    outcome,
    methods: ['zero', 'random'],
    curves: ['deletion', 'insertion'],
    removal: 'zero',
    seed: 5,
    ...overrides,
  };
}

describe('deletion and insertion curves on a model whose block effects are known', () => {
  it('orders the true ranking first, a random one between, the reversed truth last', async () => {
    const truth = await curvesOf(trueRanking(), 'zero');
    const reversed = await curvesOf(trueRanking().reverse(), 'zero');
    for (const seed of [1, 2, 3]) {
      const random = await curvesOf(randomRanking(seed), 'zero');
      expect(truth.deletion.area).toBeLessThan(random.deletion.area);
      expect(random.deletion.area).toBeLessThan(reversed.deletion.area);
      expect(truth.insertion.area).toBeGreaterThan(random.insertion.area);
      expect(random.insertion.area).toBeGreaterThan(reversed.insertion.area);
    }
    // Removing the helper first drops the Dice to 0 until the hinderer goes last; restoring the
    // helper first lifts it to 100 until the hinderer comes back last.
    const steps = candidates.length;
    expect(truth.deletion.area).toBeCloseTo((baseDice / 2 + BOTH_REMOVED / 2) / steps, 3);
    expect(truth.insertion.area).toBeCloseTo(
      (100 * (steps - 2) + (BOTH_REMOVED + 100) / 2 + (100 + baseDice) / 2) / steps,
      3,
    );
  });

  it('has one point per block outside the RoI plus one, from the base to the fully removed score', async () => {
    for (const ranking of [trueRanking(), randomRanking(9)]) {
      const { deletion, insertion } = await curvesOf(ranking, 'zero');
      expect(candidates).toHaveLength(28);
      expect(deletion.scores).toHaveLength(candidates.length + 1);
      expect(insertion.scores).toHaveLength(candidates.length + 1);
      expect(deletion.scores[0]).toBeCloseTo(baseDice, 4);
      expect(deletion.scores.at(-1)).toBeCloseTo(BOTH_REMOVED, 4);
      expect(insertion.scores[0]).toBeCloseTo(BOTH_REMOVED, 4);
      expect(insertion.scores.at(-1)).toBeCloseTo(baseDice, 4);
      expect(deletion.area).toBeCloseTo(curveArea(deletion.scores), 10);
    }
  });

  it('averages natural-patch removal over draws, with an interval around the mean area', async () => {
    // Half the patches flip the step, so a draw may or may not remove each driving block.
    const draws = 12;
    const { deletion } = await curvesOf(trueRanking(), 'patch', draws);
    expect(deletion.draws).toHaveLength(draws);
    const areas = deletion.draws.map(curveArea);
    expect(new Set(areas.map((area) => area.toFixed(6))).size).toBeGreaterThan(1);
    expect(deletion.area).toBeCloseTo(areas.reduce((a, b) => a + b) / draws, 10);
    expect(deletion.areaLow).toBeLessThan(deletion.area);
    expect(deletion.areaHigh).toBeGreaterThan(deletion.area);
    for (const curve of deletion.draws) expect(curve[0]).toBeCloseTo(baseDice, 4);
  });
});

describe('evaluating methods on one image', () => {
  it("ranks with each method's map, never the RoI's blocks, and scores the maps against random", async () => {
    const evaluation = await evaluateImage(
      imageOptions({ methods: ['zero', 'paper', 'mean', 'blur', 'rise', 'random'], riseMasks: 64 }),
    );
    expect(evaluation.complete).toBe(true);
    expect(evaluation.baseScore).toBeCloseTo(baseDice, 4);
    expect(evaluation.rankedBlocks).toBe(28);
    const byMethod = new Map(evaluation.methods.map((method) => [method.method, method]));
    for (const method of evaluation.methods) {
      expect(method.ranking).toHaveLength(28);
      for (const block of method.ranking) {
        expect(grid.overlaps(grid.blockAt(block.top, block.left), roi)).toBe(false);
      }
    }
    // Zero occlusion and the paper measure the true effects: helper first, hinderer last.
    for (const name of ['zero', 'paper'] as const) {
      const method = byMethod.get(name)!;
      expect(method.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });
      expect(method.ranking.at(-1)).toMatchObject({ top: hinderer.top, left: hinderer.left });
      expect(method.deletion!.area).toBeLessThan(byMethod.get('random')!.deletion!.area);
      expect(method.insertion!.area).toBeGreaterThan(byMethod.get('random')!.insertion!.area);
    }
    expect(byMethod.get('zero')!.forwardPasses).toBe(1 + 28);
    expect(byMethod.get('mean')!.forwardPasses).toBe(1 + 28);
    expect(byMethod.get('rise')!.forwardPasses).toBe(64);
    expect(byMethod.get('random')!.forwardPasses).toBe(0);
    // RISE, with zeros for masks, finds the helper: the masks that keep it score higher.
    expect(byMethod.get('rise')!.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });

    const result = faithfulnessResult({
      model,
      backend: model.backend,
      block: { height: BLOCK, width: BLOCK },
      removal: 'zero',
      draws: 1,
      curves: ['deletion', 'insertion'],
      methods: ['zero', 'paper', 'mean', 'blur', 'rise', 'random'],
      seed: 5,
      outcome,
      reference: 'mask',
      preprocessing: 'none',
      images: [evaluation, evaluation],
      seconds: 1,
      complete: true,
    });
    expect(result.intervalOver).toBe('images');
    expect(result.summary.map((entry) => entry.method)).toEqual(result.methods);
    const html = faithfulnessReportHtml(result, '/* chart */');
    expect(html).toContain('<canvas id="deletion">');
    expect(html).toContain('never removed');
  });

  it('stops when interrupted and keeps only the methods it finished', async () => {
    const controller = new AbortController();
    const evaluation = await evaluateImage(
      imageOptions({
        methods: ['zero', 'mean', 'random'],
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.phase === 'mean map') controller.abort();
        },
      }),
    );
    expect(evaluation.complete).toBe(false);
    expect(evaluation.methods.map((method) => method.method)).toEqual(['zero']);
  });

  it('rejects bad input with a typed error naming it', async () => {
    await expect(evaluateImage(imageOptions({ methods: [] }))).rejects.toThrow(/^methods: /);
    await expect(
      evaluateImage(imageOptions({ removal: 'patch', patchBank: undefined as never })),
    ).rejects.toThrow(/^patches: /);
    await expect(
      evaluateImage(imageOptions({ roi: { top: 0, left: 0, height: 40, width: 48 } })),
    ).rejects.toThrow(/^roi: .*nothing outside it/);
    await expect(
      evaluateImage(imageOptions({ roi: { top: 36, left: 40, height: 8, width: 16 } })),
    ).rejects.toThrow(/^roi: .*does not lie inside/);
  });
});
