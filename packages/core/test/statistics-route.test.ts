import { describe, expect, it } from 'vitest';
import {
  BlockGrid,
  channelStatistics,
  interventionStatistics,
  InterventionPlan,
  NO_TARGET,
  type InterventionSource,
  type OutcomeSpec,
  type PatchBank,
  type PlanarImage,
} from '@pdcr/kernels';
import {
  CpuEvaluator,
  FAST_DEFAULTS,
  explain,
  Logger,
  ModelRunner,
  outsideRoi,
  SeededRandom,
} from '../src/index.ts';
import { DrawStatistics } from '../src/estimation/draw-statistics.ts';
import { StatisticsRoute } from '../src/estimation/statistics-route.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { GraphBuilder } from './onnx-builder.ts';

// A model that sees one pixel at a time: its output is the normalised input less 0.5, so a
// pixel of the RoI is foreground when it lies more than half a standard deviation above the
// image's mean. Under per-image z-score every block outside the RoI reaches it through the
// mean and the standard deviation alone, and draws that move them flip pixels of the RoI.
const HEIGHT = 40;
const WIDTH = 48;
const BLOCK = 8;
const ROI = { top: 16, left: 16, height: 8, width: 16 };
const ZSCORE = { kind: 'zscore', epsilon: 1e-6 } as const;

function pixelModel(): Uint8Array {
  const graph = new GraphBuilder();
  const output = graph.node('Sub', ['image', graph.floats([0.5], [1])]);
  const size = { channels: 1, height: HEIGHT, width: WIDTH };
  return graph.build(output, size, size);
}

function randomImage(random: SeededRandom): PlanarImage {
  const data = new Float32Array(HEIGHT * WIDTH).map(() => random.integer(1000) / 1000);
  return { channels: 1, height: HEIGHT, width: WIDTH, data };
}

/** Patches of values in [low, 1). */
function randomBank(random: SeededRandom, count: number, low = 0): PatchBank {
  const data = new Float32Array(count * BLOCK * BLOCK).map(
    () => low + ((1 - low) * random.integer(1000)) / 1000,
  );
  return { count, channels: 1, height: BLOCK, width: BLOCK, data };
}

async function withModel<T>(run: (model: ModelRunner) => Promise<T>): Promise<T> {
  const model = await ModelRunner.load({
    bytes: pixelModel(),
    name: 'pixel.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: HEIGHT, width: WIDTH },
    maxBatchSize: 64,
    logger: new Logger('silent'),
  });
  try {
    return await run(model);
  } finally {
    await model.release();
  }
}

describe('the statistics route', () => {
  it('scores draws on blocks beyond the receptive field as running them does, running few', async () => {
    const random = new SeededRandom(7);
    const image = randomImage(random);
    const patchBank = randomBank(random, 200);
    const grid = new BlockGrid(HEIGHT, WIDTH, BLOCK, BLOCK);
    const source: InterventionSource = { image, patchBank, grid, preprocessing: ZSCORE };
    const spec: OutcomeSpec = {
      classes: 1,
      height: HEIGHT,
      width: WIDTH,
      roi: ROI,
      classIndex: 0,
      activation: 'none',
      metric: 'hardDice',
      threshold: 0,
      // Ground truth: the RoI's pixels above the image's own mean.
      reference: Float32Array.from({ length: ROI.height * ROI.width }, (_, i) => {
        const value =
          image.data[(ROI.top + Math.floor(i / ROI.width)) * WIDTH + ROI.left + (i % ROI.width)]!;
        return value > 0.5 ? 1 : 0;
      }),
      accumulatorCount: grid.blockCount,
    };
    await withModel(async (model) => {
      const evaluator = new CpuEvaluator(model, source, spec);
      const base = await evaluator.evaluate(
        new InterventionPlan(1, grid.blockCount),
        Uint32Array.of(NO_TARGET),
      );
      const route = new StatisticsRoute({ evaluator, source });
      const blocks = outsideRoi(grid, ROI);
      const draws = (round: number) =>
        blocks.flatMap((block) =>
          Array.from({ length: 8 }, (_, i) => ({ block, patch: ((round * 8 + i) * 7) % 200 })),
        );
      let total = 0;
      let moved = 0;
      for (let round = 0; round < 3; round++) {
        const batch = draws(round);
        const inferred = (await route.score(batch))!;
        const exact = new Float32Array(batch.length);
        for (let start = 0; start < batch.length; start += 64) {
          const slice = batch.slice(start, start + 64);
          const plan = new InterventionPlan(slice.length, grid.blockCount);
          slice.forEach(({ block, patch }, sample) => plan.replace(sample, block, patch));
          const targets = new Uint32Array(slice.length).fill(NO_TARGET);
          exact.set((await evaluator.evaluate(plan, targets)).scores, start);
        }
        expect([...inferred]).toEqual([...exact]);
        total += batch.length;
        moved += exact.filter((score) => score !== base.scores[0]).length;
      }
      // The draws do move the score, so there is something to infer, and most are inferred.
      expect(moved).toBeGreaterThan(total / 4);
      expect(route.drawsRun + route.drawsInferred).toBe(total);
      expect(route.drawsRun).toBeLessThan(total / 2);
      expect(route.drawsChecked).toBe(0);

      // Checked: the same scores, every inferred draw run as well, and none of them wrong.
      const checked = new StatisticsRoute({ evaluator, source, check: true });
      let checkedPasses = 0;
      let reported = 0;
      for (let round = 0; round < 3; round++) {
        const batch = draws(round);
        const before = evaluator.forwardPasses;
        const again = (await checked.score(batch, (count) => (reported += count)))!;
        checkedPasses += evaluator.forwardPasses - before;
        const plain = (await new StatisticsRoute({ evaluator, source }).score(batch))!;
        expect([...again]).toEqual([...plain]);
      }
      expect(checked.drawsInferred).toBeGreaterThan(total / 2);
      expect(checked.drawsChecked).toBe(checked.drawsInferred);
      expect(checked.drawsWrong).toBe(0);
      // Every draw scored twice over, run or inferred and then run, and every pass reported.
      expect(checkedPasses).toBe(checked.drawsRun + checked.drawsChecked);
      expect(reported).toBe(checkedPasses);
    });
  });

  it("takes each draw's statistics as the intervention computes them, edge blocks included", () => {
    const random = new SeededRandom(11);
    // 44 x 50 in blocks of 8: the last row and column of blocks are clipped by the edge.
    const image: PlanarImage = {
      channels: 3,
      height: 44,
      width: 50,
      data: new Float32Array(3 * 44 * 50).map(() => random.integer(1000) / 1000),
    };
    const patchBank: PatchBank = {
      count: 30,
      channels: 3,
      height: BLOCK,
      width: BLOCK,
      data: new Float32Array(30 * 3 * BLOCK * BLOCK).map(() => random.integer(1000) / 1000),
    };
    const grid = new BlockGrid(44, 50, BLOCK, BLOCK);
    const source: InterventionSource = { image, patchBank, grid, preprocessing: ZSCORE };
    const statistics = new DrawStatistics(source, ZSCORE.epsilon);
    const base = channelStatistics(image);
    let clipped = 0;
    for (let trial = 0; trial < 300; trial++) {
      const draw = { block: random.integer(grid.blockCount), patch: random.integer(30) };
      const plan = new InterventionPlan(1, grid.blockCount).replace(0, draw.block, draw.patch);
      const { mean, inverseStd } = interventionStatistics(source, base, plan, 0, ZSCORE.epsilon);
      const point = statistics.of(draw);
      expect(point).toHaveLength(6);
      [...mean, ...inverseStd].forEach((value, k) => expect(point[k]).toBeCloseTo(value, 9));
      if (grid.block(draw.block).height < BLOCK || grid.block(draw.block).width < BLOCK) clipped++;
    }
    expect(clipped).toBeGreaterThan(30);
  });

  it('leaves the fast map of a z-score model as running every draw gives it, for fewer passes', async () => {
    const random = new SeededRandom(3);
    const image = randomImage(random);
    // Bright patches raise the image's mean enough for some blocks to flip pixels of the RoI.
    const patchBank = randomBank(random, 200, 0.7);
    await withModel(async (model) => {
      const options = {
        model,
        image,
        roi: ROI,
        block: { height: BLOCK, width: BLOCK },
        patchBank,
        preprocessing: ZSCORE,
        outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
        preset: 'fast',
        seed: 4,
        patchStrata: 1,
      } as const;
      // The running means a page draws while the map fills in: the routed blocks' too.
      const running = new Map<string, { mean: number; n: number }>();
      const routed = await explain({
        ...options,
        onEffects: (effects) => {
          for (const { top, left, mean, n } of effects) running.set(`${top},${left}`, { mean, n });
        },
      });
      expect(routed.blocks.some((block) => block.significant)).toBe(true);
      for (const block of routed.blocks) {
        const last = running.get(`${block.top},${block.left}`);
        expect(last?.n).toBe(block.n);
        if (block.significant) expect(last!.mean).toBeCloseTo(block.ate, 12);
      }
      // Every draw run, with no pruning or group screen either: every block sampled with the same
      // draws as through the route, which only decides which draws to run.
      const run = await explain({
        ...options,
        statisticsRoute: false,
        noPruning: true,
        groupSide: 1,
      });
      const measured = (result: typeof routed) =>
        result.blocks.map(({ ate, se, n, ciLow, ciHigh, significant }) => [
          ate,
          se,
          n,
          ciLow,
          ciHigh,
          significant,
        ]);
      expect(measured(routed)).toEqual(measured(run));
      expect(routed.forwardPasses).toBeLessThan(run.forwardPasses / 2);
      // Every block outside the RoI is beyond this model's one-pixel receptive field. Each is
      // screened by a first round of draws, which a block that passes it does not count in n.
      const draws = routed.blocks.reduce(
        (sum, block) => sum + block.n + (block.screened ? 0 : FAST_DEFAULTS.round),
        0,
      );
      expect(routed.statisticsRoute).toEqual({
        blocks: routed.blocks.length,
        drawsRun: expect.any(Number),
        drawsInferred: expect.any(Number),
      });
      expect(routed.statisticsRoute!.drawsRun + routed.statisticsRoute!.drawsInferred).toBe(draws);
      expect(run.statisticsRoute).toBeUndefined();
      // Checked, the map is the same, and the result says how many inferred draws were run.
      const checked = await explain({ ...options, checkStatisticsRoute: true });
      expect(measured(checked)).toEqual(measured(run));
      expect(checked.statisticsRoute).toEqual({
        ...routed.statisticsRoute,
        drawsChecked: routed.statisticsRoute!.drawsInferred,
        drawsWrong: 0,
      });
      expect(checked.forwardPasses).toBe(
        routed.forwardPasses + routed.statisticsRoute!.drawsInferred,
      );
    });
  });

  /**
   * Patches of the whole range: blocks move the RoI's pixels in some draws and not in others, so
   * that many take several rounds, some of them extra draws past the cap.
   */
  function mixedScene(model: ModelRunner) {
    const random = new SeededRandom(3);
    const image = randomImage(random);
    return {
      model,
      image,
      roi: ROI,
      block: { height: BLOCK, width: BLOCK },
      patchBank: randomBank(random, 200),
      preprocessing: ZSCORE,
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'fast',
      seed: 4,
    } as const;
  }

  it('takes extra draws past the cap where they could settle a block, and none when told', async () => {
    await withModel(async (model) => {
      const extended = await explain(mixedScene(model));
      expect(extended.parameters.extraDraws).toBe(
        FAST_DEFAULTS.extraDrawFactor * FAST_DEFAULTS.maxDraws,
      );
      // Every block here is scored through the route, which gives them a longer horizon.
      expect(extended.parameters.routeExtraDraws).toBe(
        FAST_DEFAULTS.routeExtraDrawMultiple * extended.parameters.extraDraws!,
      );
      expect(Math.max(...extended.blocks.map((block) => block.n))).toBeGreaterThan(
        FAST_DEFAULTS.maxDraws,
      );
      const capped = await explain({ ...mixedScene(model), extraDraws: 0 });
      expect(capped.parameters.extraDraws).toBe(0);
      expect(capped.parameters.routeExtraDraws).toBeUndefined();
      expect(Math.max(...capped.blocks.map((block) => block.n))).toBe(FAST_DEFAULTS.maxDraws);
    });
  });

  it('plans the passes of routed blocks at the share of their draws the route runs', async () => {
    await withModel(async (model) => {
      const plans: number[] = [];
      const result = await explain({
        ...mixedScene(model),
        onProgress: ({ phase, passesPlanned }) => {
          if (phase === 'estimate') plans.push(passesPlanned);
        },
      });
      const route = result.statisticsRoute!;
      expect(route.drawsInferred).toBeGreaterThan(3 * route.drawsRun);
      // Past the first rounds the plan follows the route's share of runs: counting every routed
      // draw as a pass planned for 16 to 21 times the passes run here, to the end.
      const later = plans.slice(plans.length / 2);
      expect(Math.max(...later)).toBeLessThan(4 * result.forwardPasses);
      expect(plans.at(-1)!).toBeLessThanOrEqual(result.forwardPasses);
      expect(plans.at(-1)!).toBeGreaterThan(result.forwardPasses / 2);
    });
  });

  it('keeps, when interrupted, the blocks that had stopped, each as the whole run has it', async () => {
    await withModel(async (model) => {
      const whole = await explain(mixedScene(model));
      // Interrupted once the route has scored its second batch of running effects.
      const controller = new AbortController();
      let rounds = 0;
      const cut = await explain({
        ...mixedScene(model),
        signal: controller.signal,
        onEffects: () => {
          if (++rounds === 2) controller.abort();
        },
      });
      expect(cut.complete).toBe(false);
      expect(cut.forwardPasses).toBeLessThan(whole.forwardPasses);
      expect(cut.blocks.length).toBeGreaterThan(0);
      expect(cut.blocks.length).toBeLessThan(whole.blocks.length);
      // Tallies as in the whole run; the calls are made over the blocks kept alone.
      const measured = ({ top, left, ate, se, n, ciLow, ciHigh }: (typeof cut.blocks)[number]) => ({
        top,
        left,
        ate,
        se,
        n,
        ciLow,
        ciHigh,
      });
      for (const block of cut.blocks) {
        expect(whole.blocks.map(measured)).toContainEqual(measured(block));
      }
    });
  });
});
