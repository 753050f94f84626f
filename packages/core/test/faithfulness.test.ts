import { BlockGrid } from '@pdcr/kernels';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEvaluator } from '../src/explain.ts';
import type { PlanarImage } from '@pdcr/kernels';
import {
  BLUR_SIGMA_IN_BLOCKS,
  blurredBlockBank,
  checkEvaluationRoi,
  curveArea,
  evaluateImage,
  faithfulnessReportHtml,
  FaithfulnessError,
  faithfulnessResult,
  gaussianBlur,
  Logger,
  meanPatchBank,
  ModelRunner,
  needsPatchBank,
  outsideRoi,
  rankingCurves,
  removalFill,
  SeededRandom,
  splitPatchBank,
  type FaithfulnessImageOptions,
  type ImageEvaluation,
  type Removal,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import {
  BLOCK,
  exactEffects,
  LEVEL,
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
  try {
    const curves = await rankingCurves(
      { evaluator, fill, draws, seed: 3, kinds: ['deletion', 'insertion'] },
      ranking,
    );
    return { deletion: curves!.deletion!, insertion: curves!.insertion! };
  } finally {
    await evaluator.dispose();
  }
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
    // Zero through explain runs its own base pass; mean occlusion uses the evaluation's.
    expect(byMethod.get('zero')!.forwardPasses).toBe(1 + 28);
    expect(byMethod.get('mean')!.forwardPasses).toBe(28);
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

  it('gives no interval for one deterministic draw, in the curves, the result and the report', async () => {
    const evaluation = await evaluateImage(imageOptions({ methods: ['zero', 'random'] }));
    for (const method of evaluation.methods) {
      expect(method.deletion).toMatchObject({ areaLow: null, areaHigh: null });
      expect(method.insertion).toMatchObject({ areaLow: null, areaHigh: null });
    }
    const header = {
      model,
      backend: model.backend,
      block: { height: BLOCK, width: BLOCK },
      removal: 'zero',
      draws: 4,
      curves: ['deletion', 'insertion'],
      methods: ['zero', 'random'],
      seed: 5,
      outcome,
      reference: 'mask',
      preprocessing: 'none',
      seconds: 1,
      complete: true,
    } as const;
    const one = faithfulnessResult({ ...header, images: [evaluation] });
    expect(one.intervalOver).toBe('none');
    expect(one.draws).toBe(1);
    for (const entry of one.summary) {
      expect(entry.deletion).toEqual({ mean: expect.any(Number), low: null, high: null });
      expect(entry.insertion).toEqual({ mean: expect.any(Number), low: null, high: null });
    }
    const html = faithfulnessReportHtml(one, '/* chart */');
    expect(html).toContain('no interval: one deterministic draw');
    expect(html).not.toContain('95% CI');

    const two = faithfulnessResult({ ...header, images: [evaluation, evaluation] });
    expect(two.intervalOver).toBe('images');
    expect(two.summary[0]!.deletion!.low).toEqual(expect.any(Number));
  });

  it('counts exactly the forward passes it runs, with and without a mask', async () => {
    const passesRun = vi.spyOn(model, 'run');
    const methods = ['zero', 'mean', 'rise', 'random'] as const;
    const ranOf = async (evaluation: () => Promise<ImageEvaluation>) => {
      passesRun.mockClear();
      const finished = await evaluation();
      const ran = passesRun.mock.calls.reduce((sum, [, batchSize]) => sum + batchSize, 0);
      return { evaluation: finished, ran };
    };
    try {
      const curves = 2 * (28 + 1);
      for (const withMask of [true, false]) {
        const { evaluation, ran } = await ranOf(() =>
          evaluateImage(
            imageOptions({
              methods: [...methods],
              riseMasks: 16,
              ...(withMask ? {} : { mask: undefined as never }),
            }),
          ),
        );
        // The base score, and without a mask the prediction that stands in for it; zero's map
        // (its own base, and without a mask its own prediction, then a pass per block); mean's
        // pass per block; RISE's masks; each method's curves.
        const base = withMask ? 1 : 2;
        const zero = (withMask ? 1 : 2) + 28;
        expect(evaluation.basePasses).toBe(base);
        expect(evaluation.methods.map((m) => m.forwardPasses)).toEqual([zero, 28, 16, 0]);
        expect(evaluation.forwardPasses).toBe(base + zero + 28 + 16 + 4 * curves);
        expect(ran).toBe(evaluation.forwardPasses);
        const result = faithfulnessResult({
          model,
          backend: model.backend,
          block: { height: BLOCK, width: BLOCK },
          removal: 'zero',
          draws: 1,
          curves: ['deletion', 'insertion'],
          methods: [...methods],
          seed: 5,
          outcome,
          reference: withMask ? 'mask' : 'prediction',
          preprocessing: 'none',
          images: [evaluation, evaluation],
          seconds: 1,
          complete: true,
        });
        expect(result.forwardPasses).toBe(2 * ran);
      }

      // Interrupted in mean's map: what zero and mean ran is counted, though mean is dropped.
      const controller = new AbortController();
      const { evaluation, ran } = await ranOf(() =>
        evaluateImage(
          imageOptions({
            methods: ['zero', 'mean'],
            signal: controller.signal,
            onProgress: (progress) => {
              if (progress.phase === 'mean map' && progress.passesDone > 0) controller.abort();
            },
          }),
        ),
      );
      expect(evaluation.methods.map((m) => m.method)).toEqual(['zero']);
      expect(ran).toBeGreaterThan(1 + 29 + curves);
      expect(evaluation.forwardPasses).toBe(ran);
    } finally {
      passesRun.mockRestore();
    }
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
    await expect(evaluateImage(imageOptions({ methods: ['zero', 'zero'] }))).rejects.toThrow(
      FaithfulnessError,
    );
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

describe('the patch bank split between maps and curves', () => {
  it('cuts the bank into disjoint halves, even patches for the maps and odd ones for the curves', () => {
    const bank = sceneBank(3, 2);
    const { maps, curves } = splitPatchBank(bank);
    expect([maps.count, curves.count]).toEqual([3, 2]);
    const patch = BLOCK * BLOCK;
    const firstValues = (half: typeof bank) =>
      Array.from({ length: half.count }, (_, p) => half.data[p * patch]);
    expect(firstValues(maps)).toEqual([0, 2, 4].map((p) => bank.data[p * patch]));
    expect(firstValues(curves)).toEqual([1, 3].map((p) => bank.data[p * patch]));
    expect(() => splitPatchBank(sceneBank(1, 0))).toThrow(/^patches: .*at least 2/);
  });

  it('estimates pdcr with one half and removes by the other: pdcr ranks the helper first', async () => {
    // Even patches flip the step (below the level), odd ones do not. The maps, from the even
    // half, see the helper; the curves, from the odd half, remove nothing that matters.
    const data = new Float32Array(4 * BLOCK * BLOCK);
    [0.1, 0.9, 0.12, 0.9].forEach((value, p) =>
      data.fill(value, p * BLOCK * BLOCK, (p + 1) * BLOCK * BLOCK),
    );
    const patchBank = { count: 4, channels: 1, height: BLOCK, width: BLOCK, data };
    const evaluation = await evaluateImage(
      imageOptions({ methods: ['pdcr', 'random'], removal: 'patch', draws: 2, patchBank }),
    );
    const pdcr = evaluation.methods.find((method) => method.method === 'pdcr')!;
    expect(pdcr.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });
    expect(pdcr.ranking.at(-1)).toMatchObject({ top: hinderer.top, left: hinderer.left });
    for (const method of evaluation.methods) {
      for (const score of [...method.deletion!.scores, ...method.insertion!.scores]) {
        expect(score).toBeCloseTo(baseDice, 4);
      }
    }
  });

  it('ranks the true helper first with pdcr, and beats random under natural-patch removal', async () => {
    const evaluation = await evaluateImage(
      imageOptions({ methods: ['pdcr', 'random'], removal: 'patch', draws: 4 }),
    );
    const [pdcr, random] = evaluation.methods;
    expect(pdcr!.method).toBe('pdcr');
    expect(pdcr!.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });
    expect(pdcr!.deletion!.area).toBeLessThan(random!.deletion!.area);
    expect(pdcr!.insertion!.area).toBeGreaterThan(random!.insertion!.area);
  });
});

/**
 * The blur and mean fills hold float32 sums of a few dozen products of values in [0, 1]; each
 * rounding is about 6e-8, so a float64 reference agrees to well within this.
 */
const FLOAT32_SUM_TOLERANCE = 1e-6;

/** `channels` x `height` x `width` values drawn from [low, high), seeded. */
function randomImage(
  channels: number,
  height: number,
  width: number,
  seed: number,
  [low, high] = [0, 1],
): PlanarImage {
  const random = new SeededRandom(seed);
  const data = Float32Array.from(
    { length: channels * height * width },
    () => low + (high - low) * random.uniform(),
  );
  return { channels, height, width, data };
}

/**
 * The Gaussian blur computed directly, as one 2-D sum per pixel in float64: weights
 * exp(-k^2 / 2 sigma^2) out to three sigmas (at least one pixel), normalised, with the pixels
 * beyond the edge taken from the nearest edge pixel.
 */
function directBlur(image: PlanarImage, sigmaY: number, sigmaX: number): Float64Array {
  const weights = (sigma: number) => {
    const radius = Math.max(1, Math.ceil(3 * sigma));
    const raw = Array.from({ length: 2 * radius + 1 }, (_, i) =>
      Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
    );
    const total = raw.reduce((a, b) => a + b);
    return { radius, weights: raw.map((w) => w / total) };
  };
  const ky = weights(sigmaY);
  const kx = weights(sigmaX);
  const { channels, height, width } = image;
  const clamp = (v: number, size: number) => Math.min(Math.max(v, 0), size - 1);
  const out = new Float64Array(image.data.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let dy = -ky.radius; dy <= ky.radius; dy++) {
          for (let dx = -kx.radius; dx <= kx.radius; dx++) {
            const source = (c * height + clamp(y + dy, height)) * width + clamp(x + dx, width);
            sum += ky.weights[dy + ky.radius]! * kx.weights[dx + kx.radius]! * image.data[source]!;
          }
        }
        out[(c * height + y) * width + x] = sum;
      }
    }
  }
  return out;
}

function regionMean(plane: ArrayLike<number>, width: number, region: typeof roi): number {
  let sum = 0;
  for (let y = region.top; y < region.top + region.height; y++) {
    for (let x = region.left; x < region.left + region.width; x++) sum += plane[y * width + x]!;
  }
  return sum / (region.height * region.width);
}

/**
 * The step model's Dice against the all-foreground RoI mask when the helper and hinderer blocks
 * have these means: the left half predicted while the helper's is above the level, the right
 * half while the hinderer's is below it.
 */
function stepDice(helperMean: number, hindererMean: number): number {
  const half = roi.height * (roi.width / 2);
  const predicted = (helperMean > LEVEL ? half : 0) + (hindererMean < LEVEL ? half : 0);
  return (100 * 2 * predicted) / (predicted + n + 1e-10);
}

describe('the blur and mean fills', () => {
  it('blurs a constant image to itself', () => {
    const constant = { channels: 2, height: 9, width: 7, data: new Float32Array(126).fill(0.37) };
    for (const value of gaussianBlur(constant, 2.5, 1.2)) {
      expect(Math.abs(value - 0.37)).toBeLessThan(FLOAT32_SUM_TOLERANCE);
    }
  });

  it('matches a direct 2-D sum on a small image, edges included, per channel and axis', () => {
    // Sigma 1.5 down the rows reaches 5 rows, the whole height: every row is near an edge.
    const small = randomImage(2, 5, 7, 11);
    const blurred = gaussianBlur(small, 1.5, 0.8);
    const direct = directBlur(small, 1.5, 0.8);
    expect(blurred).toHaveLength(direct.length);
    direct.forEach((value, i) => {
      expect(Math.abs(blurred[i]! - value)).toBeLessThan(FLOAT32_SUM_TOLERANCE);
    });
    // A blur that did nothing, or swapped the axes, would not match.
    const swapped = directBlur(small, 0.8, 1.5);
    const distance = (other: ArrayLike<number>) =>
      Math.max(...Array.from(blurred, (value, i) => Math.abs(value - other[i]!)));
    expect(distance(swapped)).toBeGreaterThan(100 * FLOAT32_SUM_TOLERANCE);
    expect(distance(small.data)).toBeGreaterThan(100 * FLOAT32_SUM_TOLERANCE);
  });

  it("fills each block, edge blocks cut by the image included, with its blurred pixels, within the image's range", () => {
    // 13 x 11 in blocks of 4: the last row of blocks is 1 pixel high, the last column 3 wide.
    const image = randomImage(3, 13, 11, 4, [0.2, 0.9]);
    const edgeGrid = new BlockGrid(13, 11, 4, 4);
    const bank = blurredBlockBank(image, edgeGrid);
    expect(bank).toMatchObject({ count: edgeGrid.blockCount, channels: 3, height: 4, width: 4 });
    const direct = directBlur(image, 4 * BLUR_SIGMA_IN_BLOCKS, 4 * BLUR_SIGMA_IN_BLOCKS);
    const [low, high] = [Math.min(...image.data), Math.max(...image.data)];
    let edgePixels = 0;
    for (let block = 0; block < edgeGrid.blockCount; block++) {
      const region = edgeGrid.block(block);
      for (let c = 0; c < 3; c++) {
        for (let r = 0; r < region.height; r++) {
          for (let x = 0; x < region.width; x++) {
            const value = bank.data[((block * 3 + c) * 4 + r) * 4 + x]!;
            const pixel = (c * 13 + region.top + r) * 11 + region.left + x;
            expect(Math.abs(value - direct[pixel]!)).toBeLessThan(FLOAT32_SUM_TOLERANCE);
            expect(value).toBeGreaterThanOrEqual(low);
            expect(value).toBeLessThanOrEqual(high);
            if (region.height < 4 || region.width < 4) edgePixels++;
          }
        }
      }
    }
    // The partial blocks: the bottom row (1 x 4, 1 x 4, 1 x 3) and the right column above it
    // (three of 4 x 3), in 3 channels.
    expect(edgePixels).toBe(3 * (2 * 4 + 3 + 3 * 4 * 3));
  });

  it("fills with one patch of each channel's mean", () => {
    const image = randomImage(3, 6, 5, 8);
    const bank = meanPatchBank(image, new BlockGrid(6, 5, 4, 2));
    expect(bank).toMatchObject({ count: 1, channels: 3, height: 4, width: 2 });
    for (let c = 0; c < 3; c++) {
      const plane = Array.from(image.data.subarray(c * 30, (c + 1) * 30));
      const mean = plane.reduce((a, b) => a + b) / 30;
      for (const value of bank.data.subarray(c * 8, (c + 1) * 8)) {
        expect(Math.abs(value - mean)).toBeLessThan(FLOAT32_SUM_TOLERANCE);
      }
    }
  });
});

describe('curves and maps under removal by blur and by the mean', () => {
  // Blurred, the helper's mean falls below the level and the hinderer's stays above it;
  // replaced by the image's mean, both fall below it.
  const blurred = directBlur(image, BLOCK * BLUR_SIGMA_IN_BLOCKS, BLOCK * BLUR_SIGMA_IN_BLOCKS);
  const imageMean = image.data.reduce((a, b) => a + b) / image.data.length;
  const fullyRemoved: Record<'blur' | 'mean', number> = {
    blur: stepDice(
      regionMean(blurred, scene.width, helper),
      regionMean(blurred, scene.width, hinderer),
    ),
    mean: stepDice(imageMean, imageMean),
  };

  it('removes blocks by their blurred selves in the blur scene, far from the level', () => {
    // The scene discriminates: each driving block's fill is well away from the step.
    for (const region of [helper, hinderer]) {
      expect(Math.abs(regionMean(blurred, scene.width, region) - LEVEL)).toBeGreaterThan(0.02);
    }
    expect(fullyRemoved.blur).toBe(0);
    expect(fullyRemoved.mean).toBeCloseTo(BOTH_REMOVED, 6);
  });

  it.for(['blur', 'mean'] as const)(
    'runs from the base score to the score of every block %s-filled',
    async (removal: Removal & ('blur' | 'mean')) => {
      const evaluation = await evaluateImage(
        imageOptions({ methods: ['blur', 'random'], removal, patchBank: undefined as never }),
      );
      expect(evaluation.baseScore).toBeCloseTo(baseDice, 4);
      expect(evaluation.curvePasses).toBe(2 * (28 + 1));
      for (const method of evaluation.methods) {
        const { deletion, insertion } = method;
        expect(deletion!.scores).toHaveLength(28 + 1);
        expect(insertion!.scores).toHaveLength(28 + 1);
        expect(deletion!.draws).toHaveLength(1);
        expect(deletion!.scores[0]).toBeCloseTo(baseDice, 4);
        expect(deletion!.scores.at(-1)).toBeCloseTo(fullyRemoved[removal], 4);
        expect(insertion!.scores[0]).toBeCloseTo(fullyRemoved[removal], 4);
        expect(insertion!.scores.at(-1)).toBeCloseTo(baseDice, 4);
      }
    },
  );

  it('ranks by blur occlusion: one pass per block, the helper first at the score it loses', async () => {
    const evaluation = await evaluateImage(imageOptions({ methods: ['blur'], removal: 'zero' }));
    const [blur] = evaluation.methods;
    expect(blur!.forwardPasses).toBe(28);
    expect(blur!.ranking[0]).toMatchObject({ top: helper.top, left: helper.left });
    // Blurring the helper alone turns the left half off; the hinderer blurred stays above the
    // level, so it and every other block lose nothing.
    expect(blur!.ranking[0]!.importance).toBeCloseTo(baseDice - stepDice(0, 1), 4);
    for (const block of blur!.ranking.slice(1)) expect(block.importance).toBeCloseTo(0, 4);
  });
});

describe('what an evaluation asks of its inputs', () => {
  it('takes natural patches only for pdcr, paper or removal by patch', () => {
    const noPatches: Removal[] = ['zero', 'mean', 'blur'];
    for (const removal of noPatches) {
      expect(needsPatchBank(['zero', 'mean', 'blur', 'rise', 'random'], removal)).toBe(false);
      expect(needsPatchBank(['zero', 'pdcr'], removal)).toBe(true);
      expect(needsPatchBank(['paper'], removal)).toBe(true);
    }
    expect(needsPatchBank(['zero'], 'patch')).toBe(true);
  });

  it('names where the RoI was given in its errors, a line of a list included', async () => {
    const size = { height: scene.height, width: scene.width };
    const block = { height: BLOCK, width: BLOCK };
    expect(() =>
      checkEvaluationRoi(size, { top: 36, left: 40, height: 8, width: 16 }, block, 'rois.txt:2'),
    ).toThrow(/^rois\.txt:2: 36,40,8,16 does not lie inside the 40x48 image/);
    expect(() =>
      checkEvaluationRoi(size, { top: 1, left: 1, height: 38, width: 46 }, block, 'rois.txt:3'),
    ).toThrow(/^rois\.txt:3: .*nothing outside it can be removed/);
    expect(() => checkEvaluationRoi(size, roi, block, 'rois.txt:4')).not.toThrow();
    await expect(
      evaluateImage(
        imageOptions({ roi: { top: 0, left: 0, height: 40, width: 48 }, roiInput: 'rois.txt:5' }),
      ),
    ).rejects.toThrow(/^rois\.txt:5: .*nothing outside it/);
  });
});
