/**
 * The kernel-versus-reference cases both test tiers run: random inputs of odd sizes, the GPU
 * output poisoned with NaN before each run, compared element by element with the CPU
 * reference. Imports nothing from Node, so the browser tier bundles it as it is.
 */
import {
  BlockGrid,
  CpuIntervention,
  CpuOutcome,
  GpuIntervention,
  GpuOutcome,
  InterventionPlan,
  NO_TARGET,
  activatedValue,
  type Activation,
  type InterventionSource,
  type OutcomeMetric,
  type OutcomeSpec,
  type Preprocessing,
} from '../src/index.ts';
import { withFreshDevice, type DeviceRun } from './device-harness.ts';
import { TestRandom } from './random.ts';

/**
 * Intervention outputs, relative to max(1, |reference|). Copies are exact; fixed normalisation
 * rounds once in float32 (~1e-7); z-scores take their statistics from float32 sums over the
 * replaced pixels. The largest error seen over 150 random cases was 3.6e-7.
 */
export const INTERVENTION_TOLERANCE = 5e-6;
/**
 * Scores (percentages, or raw differences) from float32 tree sums over the RoI against
 * double-precision sums, and the GPU's exp against the CPU's. Counts behind the hard metrics are
 * exact; their division rounds once. Largest error seen over 150 cases: 3.8e-6.
 */
export const SCORE_TOLERANCE = 5e-5;
/**
 * Accumulated effects: float32 sums of a few dozen (score - base) values and their squares (up
 * to 1e4 each), with the scores' own error carried along. Largest seen over 150 cases: 1.1e-5.
 */
export const EFFECT_TOLERANCE = 1e-4;
/**
 * Activated values are kept this far from the binarisation threshold, so that a last-ulp
 * difference between the GPU's exp and the CPU's cannot flip a pixel of a hard metric.
 */
const THRESHOLD_MARGIN = 1e-3;

export interface CaseResult {
  readonly name: string;
  readonly compared: number;
  readonly mismatches: number;
  readonly maxError: number;
  readonly tolerance: number;
  readonly firstMismatch: string | null;
  readonly validationErrors: string[];
  readonly undestroyedBuffers: string[];
}

export function interventionSourceCase(random: TestRandom): {
  source: InterventionSource;
  plan: InterventionPlan;
  description: string;
} {
  const channels = random.integer(1, 4);
  const height = random.integer(1, 67);
  const width = random.integer(1, 71);
  const blockHeight = random.integer(1, Math.min(13, height));
  const blockWidth = random.integer(1, Math.min(13, width));
  const grid = new BlockGrid(height, width, blockHeight, blockWidth);
  const patchCount = random.integer(1, 9);
  const batchSize = random.integer(1, 7);
  const preprocessing = random.pick<Preprocessing>([
    { kind: 'none' },
    {
      kind: 'meanStd',
      mean: Array.from({ length: channels }, () => random.uniform(-0.5, 0.5)),
      std: Array.from({ length: channels }, () => random.uniform(0.1, 2)),
    },
    { kind: 'zscore', epsilon: 1e-6 },
  ]);
  const image = {
    channels,
    height,
    width,
    data: random.floats(channels * height * width, 0, 1),
  };
  const patchBank = {
    count: patchCount,
    channels,
    height: blockHeight,
    width: blockWidth,
    data: random.floats(patchCount * channels * blockHeight * blockWidth, -1, 2),
  };
  const plan = new InterventionPlan(batchSize, grid.blockCount);
  for (let sample = 0; sample < batchSize; sample++) {
    // Some samples keep every block, most replace one, some replace many (group tests).
    const replaced = random.pick([0, 1, 1, random.integer(2, grid.blockCount)]);
    for (let i = 0; i < replaced; i++) {
      plan.replace(
        sample,
        random.integer(0, grid.blockCount - 1),
        random.integer(0, patchCount - 1),
      );
    }
  }
  const description =
    `C${channels} ${height}x${width} blocks ${blockHeight}x${blockWidth} ` +
    `P${patchCount} B${batchSize} ${preprocessing.kind}`;
  return { source: { image, patchBank, grid, preprocessing }, plan, description };
}

export async function checkInterventionCase(gpu: GPU, seed: number): Promise<CaseResult> {
  const random = new TestRandom(seed);
  const { source, plan, description } = interventionSourceCase(random);
  const { image } = source;
  const length = plan.batchSize * image.channels * image.height * image.width;
  const expected = new Float32Array(length);
  new CpuIntervention(source).run(plan, expected);

  const run = await withFreshDevice(gpu, async (device) => {
    const intervention = new GpuIntervention(device, source, { maxBatchSize: plan.batchSize });
    const batch = device.createBuffer({
      label: 'test batch',
      size: length * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(batch, 0, new Float32Array(length).fill(NaN));
    intervention.run(plan, batch);
    const actual = await readFloats(device, batch, length);
    batch.destroy();
    intervention.destroy();
    return actual;
  });
  return compare(
    `intervention seed ${seed}: ${description}`,
    run,
    expected,
    INTERVENTION_TOLERANCE,
  );
}

export function outcomeSpecCase(random: TestRandom): { spec: OutcomeSpec; description: string } {
  const activation = random.pick<Activation>(['none', 'sigmoid', 'softmax']);
  const metric = random.pick<OutcomeMetric>([
    'hardDice',
    'softDice',
    'iou',
    'meanValue',
    'maxAbsDifference',
  ]);
  const classes = activation === 'softmax' ? random.integer(2, 4) : random.integer(1, 3);
  const height = random.integer(1, 61);
  const width = random.integer(1, 59);
  const roiHeight = random.integer(1, height);
  const roiWidth = random.integer(1, width);
  const roi = {
    top: random.integer(0, height - roiHeight),
    left: random.integer(0, width - roiWidth),
    height: roiHeight,
    width: roiWidth,
  };
  const binary = metric === 'hardDice' || metric === 'iou' || metric === 'softDice';
  const reference = Float32Array.from({ length: roiHeight * roiWidth }, () =>
    binary ? (random.next() < 0.5 ? 1 : 0) : random.uniform(0, 1),
  );
  const spec: OutcomeSpec = {
    classes,
    height,
    width,
    roi,
    classIndex: random.integer(0, classes - 1),
    activation,
    metric,
    threshold: activation === 'none' ? random.uniform(-0.5, 0.5) : random.uniform(0.2, 0.8),
    reference,
    accumulatorCount: random.integer(1, 7),
  };
  const description =
    `${metric} ${activation} K${classes} ${height}x${width} ` +
    `RoI ${roi.top},${roi.left},${roiHeight}x${roiWidth} A${spec.accumulatorCount}`;
  return { spec, description };
}

/** Model output for `batchSize` samples, with no activated RoI value near the threshold. */
export function outcomeModelOutput(
  random: TestRandom,
  spec: OutcomeSpec,
  batchSize: number,
): Float32Array<ArrayBuffer> {
  const { classes, height, width, roi } = spec;
  const planeSize = height * width;
  const output = random.floats(batchSize * classes * planeSize, -3, 3);
  for (let sample = 0; sample < batchSize; sample++) {
    for (let y = roi.top; y < roi.top + roi.height; y++) {
      for (let x = roi.left; x < roi.left + roi.width; x++) {
        while (
          Math.abs(activatedValue(spec, output, sample, y, x) - spec.threshold) < THRESHOLD_MARGIN
        ) {
          for (let k = 0; k < classes; k++) {
            output[(sample * classes + k) * planeSize + y * width + x] = random.uniform(-3, 3);
          }
        }
      }
    }
  }
  return output;
}

export async function checkOutcomeCase(gpu: GPU, seed: number): Promise<CaseResult[]> {
  const random = new TestRandom(seed);
  const { spec, description } = outcomeSpecCase(random);
  const batches = [random.integer(1, 9), random.integer(1, 9)].map((batchSize) => ({
    batchSize,
    output: outcomeModelOutput(random, spec, batchSize),
    targets: Uint32Array.from({ length: batchSize }, () =>
      random.next() < 0.15 ? NO_TARGET : random.integer(0, spec.accumulatorCount - 1),
    ),
  }));
  const baseScore = random.uniform(0, 100);
  // A broken model: one output value inside the RoI is NaN, which must make that score NaN.
  if (random.next() < 0.25) {
    const { output } = batches[0]!;
    const { roi, width, height, classes } = spec;
    const y = roi.top + random.integer(0, roi.height - 1);
    const x = roi.left + random.integer(0, roi.width - 1);
    output[(random.integer(0, classes - 1) * height + y) * width + x] = NaN;
  }

  const reference = new CpuOutcome(spec);
  reference.setBaseScore(baseScore);
  const expectedScores: Float32Array[] = [];
  for (const { batchSize, output, targets } of batches) {
    reference.run(output, batchSize, targets);
    expectedScores.push((await reference.read()).scores);
  }
  const expectedEffects = (await reference.read()).effects;

  const run = await withFreshDevice(gpu, async (device) => {
    const outcome = new GpuOutcome(device, spec, { maxBatchSize: 9 });
    outcome.setBaseScore(baseScore);
    const scores: Float32Array[] = [];
    for (const { batchSize, output, targets } of batches) {
      const outputBuffer = device.createBuffer({
        label: 'test model output',
        size: output.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(outputBuffer, 0, output);
      device.queue.writeBuffer(outcome.scoresBuffer, 0, new Float32Array(9).fill(NaN));
      outcome.run(outputBuffer, batchSize, targets);
      scores.push((await outcome.read()).scores);
      outputBuffer.destroy();
    }
    const { effects } = await outcome.read();
    outcome.reset();
    const afterReset = (await outcome.read()).effects;
    outcome.destroy();
    return { scores, effects, afterReset };
  });

  const name = `outcome seed ${seed}: ${description}`;
  const { value, ...checks } = run;
  return [
    ...batches.map((_, i) =>
      compare(
        `${name}, batch ${i} scores`,
        { ...checks, value: value.scores[i]! },
        expectedScores[i]!,
        SCORE_TOLERANCE,
      ),
    ),
    compare(
      `${name}, effects`,
      { ...checks, value: value.effects },
      expectedEffects,
      EFFECT_TOLERANCE,
    ),
    compare(
      `${name}, effects after reset`,
      { ...checks, value: value.afterReset },
      new Float64Array(expectedEffects.length),
      0,
    ),
  ];
}

async function readFloats(
  device: GPUDevice,
  buffer: GPUBuffer,
  length: number,
): Promise<Float32Array> {
  const staging = device.createBuffer({
    label: 'test readback',
    size: length * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder({ label: 'test readback encoder' });
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, length * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const values = new Float32Array(staging.getMappedRange()).slice();
  staging.unmap();
  staging.destroy();
  return values;
}

function compare(
  name: string,
  run: DeviceRun<ArrayLike<number>>,
  expected: ArrayLike<number>,
  tolerance: number,
): CaseResult {
  const actual = run.value;
  let mismatches = 0;
  let maxError = 0;
  let firstMismatch: string | null = null;
  if (actual.length !== expected.length) {
    firstMismatch = `length ${actual.length}, expected ${expected.length}`;
    mismatches = 1;
  }
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const want = expected[i]!;
    const got = actual[i]!;
    const bothNaN = Number.isNaN(got) && Number.isNaN(want);
    const error = bothNaN ? 0 : Math.abs(got - want) / Math.max(1, Math.abs(want));
    if (!(error <= tolerance)) {
      mismatches++;
      firstMismatch ??= `[${i}] got ${got}, expected ${want}`;
    }
    if (error > maxError || Number.isNaN(error)) maxError = Number.isNaN(error) ? Infinity : error;
  }
  return {
    name,
    compared: expected.length,
    mismatches,
    maxError,
    tolerance,
    firstMismatch,
    validationErrors: run.validationErrors,
    undestroyedBuffers: run.undestroyedBuffers,
  };
}
