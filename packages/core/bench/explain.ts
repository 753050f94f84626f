// `pnpm bench:explain`: the nuclei U-Net explained with the paper and fast presets, each map
// compared with a high-sample reference map of the same model, image and RoI. Not a test.
//
// The reference takes REFERENCE_DRAWS draws for every block outside the RoI (under the model's
// per-image z-score every block can reach it, so none is an exact zero). It is computed in
// rounds and cached in bench/reference/, so it is computed once, across as many runs as it
// takes: `--reference-minutes M` spends up to M minutes extending references before the table.
// `--only KEY` runs one configuration, `--preset NAME` one preset, `--reference-only` none;
// `--reference-rounds N` stops every reference at N rounds; `--check-window` only checks the
// reference's window (below) against whole-image runs; `--save DIR` keeps each preset's result;
// `--check-route` runs every draw the statistics route infers as well, and counts the wrong ones;
// `--seed N` runs the presets with another seed; `--scan TOP,LEFT` prints one block's effect for
// every patch of the bank, by brightness.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BlockGrid,
  CpuIntervention,
  InterventionPlan,
  NO_TARGET,
  type InterventionSource,
  type PlanarImage,
  type Region,
} from '@pdcr/kernels';
import {
  CpuEvaluator,
  cropImage,
  cutPatchBank,
  EffectTally,
  explain,
  Logger,
  ModelRunner,
  outsideRoi,
  SeededRandom,
  toBinaryMask,
  toPlanar,
  type ExplanationResult,
  type Preset,
} from '../src/index.ts';
import { runDraws } from '../src/estimation/paper.ts';
import { withinWindow } from '../src/roi-window.ts';
import { nodeRuntimes, readImageFile } from '../src/node/index.ts';

const REFERENCE_DRAWS = 400;
const REFERENCE_ROUND = 16;
const THRESHOLD = 0.02;
const data = (relative: string) =>
  fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
const referenceFile = (key: string) =>
  fileURLToPath(new URL(`./reference/${key}.json`, import.meta.url));

interface BenchConfig {
  readonly key: string;
  readonly crop: Region;
  readonly roi: Region;
  readonly block: number;
}

const CONFIGS: BenchConfig[] = [
  // The demo's crop: small enough for its reference to be computed in minutes.
  {
    key: 'demo128-block8',
    crop: { top: 352, left: 64, height: 128, width: 128 },
    roi: { top: 48, left: 48, height: 32, width: 32 },
    block: 8,
  },

  {
    key: 'crop256-block16',
    crop: { top: 256, left: 0, height: 256, width: 256 },
    roi: { top: 144, left: 112, height: 32, width: 32 },
    block: 16,
  },
  {
    key: 'crop256-block8',
    crop: { top: 256, left: 0, height: 256, width: 256 },
    roi: { top: 144, left: 112, height: 32, width: 32 },
    block: 8,
  },
  {
    key: 'full512-block32',
    crop: { top: 0, left: 0, height: 512, width: 512 },
    roi: { top: 400, left: 112, height: 32, width: 32 },
    block: 32,
  },
];

interface ReferenceState {
  readonly key: string;
  rounds: number;
  /** Per block outside the RoI, in grid order: count, sum, sum of squares of the effect. */
  tallies: [number, number, number][];
}

interface Scene {
  readonly model: ModelRunner;
  readonly image: PlanarImage;
  readonly mask: PlanarImage;
  readonly config: BenchConfig;
}

/** The nuclei U-Net on onnxruntime-node's CPU, taking images of `size`. */
async function loadModel(size: { height: number; width: number }): Promise<ModelRunner> {
  return ModelRunner.load({
    bytes: await readFile(data('nuclei-unet/unet2d-nuclei-broad.onnx')),
    name: 'unet2d-nuclei-broad.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: size,
    size: 'image',
    logger: new Logger('silent'),
  });
}

async function loadScene(config: BenchConfig): Promise<Scene> {
  const model = await loadModel(config.crop);
  const image = cropImage(toPlanar(await readImageFile(data('dsb2018/img2d.tif')), 1), config.crop);
  const mask = cropImage(
    toBinaryMask(await readImageFile(data('dsb2018/mask2d.tif'))),
    config.crop,
  );
  return { model, image, mask, config };
}

function bankFor(scene: Scene) {
  const { block, roi } = scene.config;
  return cutPatchBank([scene.image], 1000, block, block, new SeededRandom(0).fork('bank'), roi);
}

async function loadReference(config: BenchConfig, blockCount: number): Promise<ReferenceState> {
  const file = referenceFile(config.key);
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as ReferenceState;
  return {
    key: config.key,
    rounds: 0,
    tallies: Array.from({ length: blockCount }, () => [0, 0, 0]),
  };
}

/**
 * The reference runs the model on a window of the image around the RoI instead of the whole: the
 * nuclei U-Net's output on the RoI depends only on pixels within its receptive field (and, under
 * z-score, on the whole image's statistics, by which the intervention normalises the window).
 * WINDOW_MARGIN pixels on each side hold that field: 56 already gave output equal to the last
 * bit on the RoI, 48 did not (the graph gives 54 for these RoIs, `receptive-field.ts`); every run
 * checks the window it uses against whole-image runs before it draws (`checkWindow`). Edges snap
 * to the model's pooling grid of 8 pixels. The product's own window (`roi-window.ts`) is the
 * tighter 144x144; this one is kept as the references were computed on it.
 */
const WINDOW_MARGIN = 64;
const WINDOW_ALIGN = 8;
/** Images a reference batch holds on its window (what a 160x160 model gets by default). */
const REFERENCE_BATCH = 40;
/** Full batches the window is checked with, besides a round's last one, before extending. */
const CHECK_BATCHES = 2;

function roiWindow(roi: Region, height: number, width: number): Region {
  const down = (value: number) => Math.max(0, Math.floor(value / WINDOW_ALIGN) * WINDOW_ALIGN);
  const up = (value: number, limit: number) =>
    Math.min(limit, Math.ceil(value / WINDOW_ALIGN) * WINDOW_ALIGN);
  const top = down(roi.top - WINDOW_MARGIN);
  const left = down(roi.left - WINDOW_MARGIN);
  return {
    top,
    left,
    height: up(roi.top + roi.height + WINDOW_MARGIN, height) - top,
    width: up(roi.left + roi.width + WINDOW_MARGIN, width) - left,
  };
}

/**
 * Runs batches of draws both ways, whole image and window, at the batch sizes the reference
 * runs (full batches and a round's last, partial one), and throws unless the model's output on
 * the RoI is the same to the last bit for every image. Half the draws replace a block next to
 * the RoI; half one crossing or just beyond the window's edge, on every side, where a receptive
 * field wider than the margin would show.
 */
async function checkWindow(
  scene: Scene,
  source: InterventionSource,
  windowModel: ModelRunner,
  window: Region,
): Promise<void> {
  const { image, config, model } = scene;
  const { roi } = config;
  const { grid, patchBank } = source;
  const patchCount = patchBank.count;
  const intervention = new CpuIntervention(source);
  const blocks = outsideRoi(grid, roi);
  const random = new SeededRandom(7);
  const gap = (low: number, size: number, otherLow: number, otherSize: number) =>
    Math.max(otherLow - low - size, low - otherLow - otherSize, 0);
  const nearest = blocks
    .map((block) => {
      const region = grid.block(block);
      const distance = Math.max(
        gap(region.top, region.height, roi.top, roi.height),
        gap(region.left, region.width, roi.left, roi.width),
      );
      return { block, distance };
    })
    .sort((x, y) => x.distance - y.distance)
    .map(({ block }) => block);
  // Blocks within 16 pixels of the window's edge, inside or out, in random order.
  const band = 16;
  const within = (region: Region, grown: number) =>
    region.top < window.top + window.height + grown &&
    region.top + region.height > window.top - grown &&
    region.left < window.left + window.width + grown &&
    region.left + region.width > window.left - grown;
  const inside = (region: Region) =>
    region.top >= window.top + band &&
    region.top + region.height <= window.top + window.height - band &&
    region.left >= window.left + band &&
    region.left + region.width <= window.left + window.width - band;
  const atEdge = blocks.filter((block) => {
    const region = grid.block(block);
    return within(region, band) && !inside(region);
  });
  for (let i = atEdge.length - 1; i > 0; i--) {
    const j = random.integer(i + 1);
    [atEdge[i], atEdge[j]] = [atEdge[j]!, atEdge[i]!];
  }
  const pools = atEdge.length > 0 ? [nearest, atEdge] : [nearest];

  const full = windowModel.maxBatchSize;
  const lastOfRound = (blocks.length * REFERENCE_ROUND) % full || full;
  const pixels = image.height * image.width;
  let differing = 0;
  let images = 0;
  for (const count of [...Array<number>(CHECK_BATCHES).fill(full), lastOfRound]) {
    const plan = new InterventionPlan(count, grid.blockCount);
    for (let sample = images === 0 ? 1 : 0; sample < count; sample++) {
      const draw = images + sample;
      const pool = pools[draw % pools.length]!;
      plan.replace(
        sample,
        pool[Math.floor(draw / pools.length) % pool.length]!,
        random.integer(patchCount),
      );
    }
    const whole = new Float32Array(count * pixels);
    intervention.run(plan, whole);
    const windows = new Float32Array(count * window.height * window.width);
    intervention.run(plan, windows, window);
    const windowOutput = await windowModel.run(windows, count);
    for (let start = 0; start < count; start += model.maxBatchSize) {
      const size = Math.min(model.maxBatchSize, count - start);
      const wholeOutput = await model.run(
        whole.subarray(start * pixels, (start + size) * pixels),
        size,
      );
      for (let sample = 0; sample < size; sample++) {
        for (let y = roi.top; y < roi.top + roi.height; y++) {
          for (let x = roi.left; x < roi.left + roi.width; x++) {
            const a = wholeOutput[sample * pixels + y * image.width + x];
            const b =
              windowOutput[
                ((start + sample) * window.height + y - window.top) * window.width + x - window.left
              ];
            if (a !== b) differing++;
          }
        }
      }
    }
    images += count;
  }
  if (differing > 0) {
    throw new Error(
      `${config.key}: the ${window.height}x${window.width} window differs from the whole image ` +
        `on ${differing} RoI outputs of ${images} images; widen WINDOW_MARGIN`,
    );
  }
  console.error(
    `${config.key}: reference on the ${window.height}x${window.width} window at ` +
      `(${window.top}, ${window.left}); its RoI output equals the whole image's on ${images} ` +
      `images (${atEdge.length} blocks at its edge, batches of ${full} and ${lastOfRound})`,
  );
}

/** The reference's scorer: the model on the RoI's window, the Dice of its mask there. */
async function referenceScorer(scene: Scene) {
  const { config, image, mask } = scene;
  const grid = new BlockGrid(image.height, image.width, config.block, config.block);
  const patchBank = bankFor(scene);
  const window = roiWindow(config.roi, image.height, image.width);
  const windowModel = await scene.model.windowed(window, REFERENCE_BATCH);
  const source: InterventionSource = {
    image,
    patchBank,
    grid,
    preprocessing: { kind: 'zscore', epsilon: 1e-6 },
  };
  const evaluator = new CpuEvaluator(windowModel, source, {
    classes: 1,
    height: window.height,
    width: window.width,
    roi: withinWindow(config.roi, window),
    classIndex: 0,
    activation: 'sigmoid',
    metric: 'hardDice',
    threshold: 0.5,
    reference: cropImage(mask, config.roi).data,
    accumulatorCount: grid.blockCount,
  });
  return {
    grid,
    patchBank,
    window,
    windowModel,
    source,
    evaluator,
    async dispose() {
      await evaluator.dispose();
      await windowModel.release();
    },
  };
}

/** Adds rounds of REFERENCE_ROUND draws per block until the reference is done or time is up. */
async function extendReference(
  scene: Scene,
  state: ReferenceState,
  deadline: number,
): Promise<void> {
  const { config } = scene;
  const unfinished = () =>
    state.rounds * REFERENCE_ROUND < REFERENCE_DRAWS &&
    state.rounds < roundLimit &&
    performance.now() < deadline;
  if (!unfinished() && !checkOnly) return;
  const scorer = await referenceScorer(scene);
  const { grid, patchBank, window, windowModel, source, evaluator } = scorer;
  const blocks = outsideRoi(grid, config.roi);
  try {
    await checkWindow(scene, source, windowModel, window);
    if (checkOnly) return;
    const base = await evaluator.evaluate(
      new InterventionPlan(1, grid.blockCount),
      Uint32Array.of(NO_TARGET),
    );
    evaluator.setBaseScore(base.scores[0]!);
    while (unfinished()) {
      const random = new SeededRandom(1000 + state.rounds);
      const draws = blocks.flatMap((block) =>
        Array.from({ length: REFERENCE_ROUND }, () => ({
          block,
          patch: random.integer(patchBank.count),
        })),
      );
      const tallies = new Map(blocks.map((block) => [block, new EffectTally()]));
      await runDraws(
        { evaluator, grid },
        draws,
        tallies,
        () => {},
        () => {},
      );
      blocks.forEach((block, i) => {
        const tally = tallies.get(block)!;
        const entry = state.tallies[i]!;
        entry[0] += tally.count;
        entry[1] += tally.sum;
        entry[2] += tally.sumOfSquares;
      });
      state.rounds++;
      await writeFile(referenceFile(config.key), `${JSON.stringify(state)}\n`);
      console.error(
        `${config.key}: reference round ${state.rounds} of ${REFERENCE_DRAWS / REFERENCE_ROUND}`,
      );
    }
  } finally {
    await scorer.dispose();
  }
}

/**
 * `--scan TOP,LEFT`: the block at (TOP, LEFT) replaced by every patch of the bank in turn, on the
 * reference's window. Prints each distinct Dice change with how many patches give it and where
 * they lie in the bank's brightness order (0: darkest): the shape of one block's effect, which
 * says what a sampling design can expect of it. Its mean is the block's exact ATE over the bank.
 */
async function scanBlock(scene: Scene, at: string): Promise<void> {
  const [top, left] = at.split(',').map(Number) as [number, number];
  const { image } = scene;
  if (top >= image.height || left >= image.width) {
    throw new Error(`--scan ${at} lies outside the ${image.height} x ${image.width} image`);
  }
  const scorer = await referenceScorer(scene);
  const { grid, patchBank, evaluator } = scorer;
  const block = grid.blockAt(top, left);
  try {
    const base = await evaluator.evaluate(
      new InterventionPlan(1, grid.blockCount),
      Uint32Array.of(NO_TARGET),
    );
    const size = patchBank.channels * patchBank.height * patchBank.width;
    const brightness = Array.from({ length: patchBank.count }, (_, patch) =>
      patchBank.data.subarray(patch * size, (patch + 1) * size).reduce((sum, x) => sum + x, 0),
    );
    const rank = new Array<number>(patchBank.count);
    brightness
      .map((_, patch) => patch)
      .sort((a, b) => brightness[a]! - brightness[b]! || a - b)
      .forEach((patch, r) => (rank[patch] = r));
    const ranksOf = new Map<number, number[]>();
    let sum = 0;
    for (let start = 0; start < patchBank.count; start += REFERENCE_BATCH) {
      const count = Math.min(REFERENCE_BATCH, patchBank.count - start);
      const plan = new InterventionPlan(count, grid.blockCount);
      for (let k = 0; k < count; k++) plan.replace(k, block, start + k);
      const { scores } = await evaluator.evaluate(plan, new Uint32Array(count).fill(NO_TARGET));
      for (let k = 0; k < count; k++) {
        const effect = Math.fround(scores[k]! - base.scores[0]!);
        sum += effect;
        ranksOf.set(effect, [...(ranksOf.get(effect) ?? []), rank[start + k]!]);
      }
    }
    console.log(
      `${scene.config.key}, block at (${top}, ${left}): ATE over all ${patchBank.count} ` +
        `patches ${(sum / patchBank.count).toFixed(4)}`,
    );
    console.log('| Dice change | patches | brightness ranks (0: darkest) |');
    console.log('| ---: | ---: | --- |');
    for (const [effect, ranks] of [...ranksOf].sort((a, b) => b[1].length - a[1].length)) {
      ranks.sort((a, b) => a - b);
      console.log(`| ${effect.toFixed(4)} | ${ranks.length} | ${ranks[0]} to ${ranks.at(-1)} |`);
    }
  } finally {
    await scorer.dispose();
  }
}

/** Spearman rank correlation, ties given their mean rank. */
function spearman(a: readonly number[], b: readonly number[]): number {
  const ranks = (values: readonly number[]) => {
    const order = values.map((value, i) => [value, i] as const).sort((x, y) => x[0] - y[0]);
    const rank = new Array<number>(values.length);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let k = i; k <= j; k++) rank[order[k]![1]] = (i + j) / 2;
      i = j + 1;
    }
    return rank;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  ra.forEach((x, i) => {
    covariance += (x - mean) * (rb[i]! - mean);
    varianceA += (x - mean) ** 2;
    varianceB += (rb[i]! - mean) ** 2;
  });
  return covariance / Math.sqrt(varianceA * varianceB);
}

async function runPreset(scene: Scene, preset: Preset): Promise<ExplanationResult> {
  const { config } = scene;
  return explain({
    model: scene.model,
    image: scene.image,
    mask: scene.mask,
    roi: config.roi,
    block: { height: config.block, width: config.block },
    patchBank: bankFor(scene),
    preprocessing: { kind: 'zscore', epsilon: 1e-6 },
    outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
    preset,
    seed,
    ...(checkRoute ? { checkStatisticsRoute: true } : {}),
  });
}

const minutesFlag = process.argv.indexOf('--reference-minutes');
const referenceMinutes = minutesFlag > 0 ? Number(process.argv[minutesFlag + 1]) : 0;
const only = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1]
  : undefined;
// `--reference-only`: extend the references (with --reference-minutes) and run no preset.
const presets: readonly Preset[] = process.argv.includes('--reference-only')
  ? []
  : process.argv.includes('--preset')
    ? [process.argv[process.argv.indexOf('--preset') + 1] as Preset]
    : ['paper', 'fast'];
const deadline = performance.now() + referenceMinutes * 60_000;
// `--check-route`: run every draw the statistics route infers as well, and print how many runs
// gave another score (the table's passes and seconds then include those runs).
const checkRoute = process.argv.includes('--check-route');
// `--scan TOP,LEFT`: print one block's effect for every patch of the bank (with --only KEY).
const scanFlag = process.argv.indexOf('--scan');
const scanAt = scanFlag > 0 ? process.argv[scanFlag + 1] : undefined;
if (scanFlag > 0 && !/^\d+,\d+$/.test(scanAt ?? '')) throw new Error('--scan takes TOP,LEFT');
// `--seed N`: the presets' seed (0 by default), to see how far a table moves with the draws.
const seedFlag = process.argv.indexOf('--seed');
const seed = seedFlag > 0 ? Number(process.argv[seedFlag + 1]) : 0;
if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed takes a whole number');
const routeChecks: string[] = [];
// `--check-window`: check each configuration's window against whole-image runs, and stop.
const checkOnly = process.argv.includes('--check-window');
// `--reference-rounds N`: extend no reference past N rounds (to recompute a few and compare).
const roundsFlag = process.argv.indexOf('--reference-rounds');
const roundLimit = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : Infinity;
// `--save DIR`: write each preset's result.json there, as `KEY-PRESET.json` (with `-seedN` under
// `--seed N`), to look into the blocks behind the table's figures.
const saveFlag = process.argv.indexOf('--save');
const saveDirectory = saveFlag > 0 ? process.argv[saveFlag + 1] : undefined;
if (saveFlag > 0 && (!saveDirectory || saveDirectory.startsWith('--'))) {
  throw new Error('--save takes a folder');
}
if (!(roundLimit >= 0) || !(referenceMinutes >= 0)) {
  throw new Error('--reference-rounds and --reference-minutes take a number of at least 0');
}
const rows: string[] = [];
for (const config of CONFIGS.filter((candidate) => !only || candidate.key === only)) {
  const scene = await loadScene(config);
  if (scanAt) {
    await scanBlock(scene, scanAt);
    await scene.model.release();
    continue;
  }
  const grid = new BlockGrid(scene.image.height, scene.image.width, config.block, config.block);
  const state = await loadReference(config, outsideRoi(grid, config.roi).length);
  await extendReference(scene, state, deadline);
  if (checkOnly) continue;
  const reference = state.tallies.map(([count, sum]) => (count > 0 ? sum / count : 0));
  const referenceCalls = reference.map((ate) => Math.abs(ate) >= THRESHOLD);
  // The reference's own interval decision: its 95% interval wholly beyond the dead zone. Blocks
  // whose interval straddles a threshold are effects the reference itself cannot settle.
  const settledCalls = state.tallies.map(([count, sum, sumOfSquares]) => {
    const tally = new EffectTally();
    tally.add(count, sum, sumOfSquares);
    const { low, high } = tally.interval();
    return low > THRESHOLD || high < -THRESHOLD;
  });
  const drawn = state.rounds * REFERENCE_ROUND;
  for (const preset of presets) {
    const result = await runPreset(scene, preset);
    if (saveDirectory) {
      await mkdir(saveDirectory, { recursive: true });
      await writeFile(
        path.join(saveDirectory, `${config.key}-${preset}${seed > 0 ? `-seed${seed}` : ''}.json`),
        `${JSON.stringify(result)}\n`,
      );
    }
    const route = result.statisticsRoute;
    if (route?.drawsChecked !== undefined) {
      routeChecks.push(
        `${config.key} ${preset}: ${route.drawsWrong} of ${route.drawsChecked} inferred draws ` +
          `scored otherwise when run (${route.drawsRun} run, ${route.blocks} blocks)`,
      );
    }
    const ates = result.blocks.map((block) => block.ate);
    const agree =
      result.blocks.filter((block, i) => block.significant === referenceCalls[i]).length /
      result.blocks.length;
    const settledAgree =
      result.blocks.filter((block, i) => block.significant === settledCalls[i]).length /
      result.blocks.length;
    const missed = result.blocks.filter((block, i) => !block.significant && referenceCalls[i]);
    const extra = result.blocks.filter((block, i) => block.significant && !referenceCalls[i]);
    const outside = 1 - result.modelSeconds / result.seconds;
    rows.push(
      `| ${config.key} | ${preset} | ${result.forwardPasses} | ${result.seconds.toFixed(1)} | ` +
        `${(result.forwardPasses / result.seconds).toFixed(1)} | ${(100 * outside).toFixed(1)}% | ` +
        `${drawn > 0 ? spearman(ates, reference).toFixed(3) : 'n/a'} | ${drawn > 0 ? (100 * agree).toFixed(1) + '%' : 'n/a'} | ` +
        `${missed.length} / ${extra.length} of ${referenceCalls.filter(Boolean).length} | ` +
        `${(100 * settledAgree).toFixed(1)}% (${settledCalls.filter(Boolean).length}) | ` +
        `${drawn}/${REFERENCE_DRAWS} |`,
    );
  }
  await scene.model.release();
}
if (scanAt) process.exit(0);
console.log('nuclei U-Net on DSB2018, RoI 32x32, per-image z-score, onnxruntime-node on the CPU');
console.log('');
console.log(
  '| config | preset | passes | seconds | passes/s | time outside model | rank corr. vs ref | call agreement vs ref | missed / extra of ref calls | agreement vs ref interval calls (calls) | ref draws per block |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
if (routeChecks.length > 0)
  console.log(['', 'statistics route checked:', ...routeChecks].join('\n'));
process.exit(0);
