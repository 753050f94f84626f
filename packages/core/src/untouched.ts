// Runs of the untouched image: the model's own output on the RoI, which stands in for a missing
// ground truth and which exact-zero pruning compares against, and the check that lets the
// batches run on the RoI's window instead of the whole image.
import {
  activatedValue,
  CpuIntervention,
  GpuIntervention,
  InterventionPlan,
  type InterventionSource,
  type OutcomeSpec,
  type Region,
} from '@pdcr/kernels';
import { ModelOutputError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { ModelRunner } from './model-runner.ts';
import { openRoiWindow, roiWindow, type RoiWindow } from './roi-window.ts';

/** How the RoI's output is read: the scored class and the activation applied to it. */
export interface RoiReading {
  readonly classIndex: number;
  readonly activation: OutcomeSpec['activation'];
}

/** Seconds of the model's runs, added to as they are made. */
export interface RunTiming {
  seconds: number;
}

/**
 * The model's activated output on the untouched image, inside the RoI: binarised, the reference
 * when no ground truth is given; as it is, what exact-zero pruning compares against. One pass,
 * written and run as the batches will be (on WebGPU by the intervention kernel): the kernel and
 * the CPU reference may normalise differently in the last bit, and pruning asks for equality.
 */
export async function baseActivatedRoi(
  model: ModelRunner,
  roi: Region,
  reading: RoiReading,
  source: InterventionSource,
  timing?: RunTiming,
): Promise<Float32Array> {
  const output = await untouchedOutput(model, source, timing);
  const spec = {
    classes: model.output.channels,
    height: model.output.height,
    width: model.output.width,
    classIndex: reading.classIndex,
    activation: reading.activation,
  } as OutcomeSpec;
  const values = new Float32Array(roi.height * roi.width);
  for (let r = 0; r < roi.height; r++) {
    for (let q = 0; q < roi.width; q++) {
      const value = activatedValue(spec, output, 0, roi.top + r, roi.left + q);
      if (!Number.isFinite(value)) {
        throw new ModelOutputError(
          model.name,
          'produced NaN or infinite values inside the RoI of the untouched image',
        );
      }
      values[r * roi.width + q] = value;
    }
  }
  return values;
}

/** The model's raw output on the untouched image, by the path its batches take. */
async function untouchedOutput(
  model: ModelRunner,
  source: InterventionSource,
  timing?: RunTiming,
): Promise<Float32Array> {
  const plan = new InterventionPlan(1, source.grid.blockCount);
  const device = await model.gpuDevice();
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    if (timing) timing.seconds += (performance.now() - started) / 1000;
    return result;
  };
  if (!device) {
    const batch = new Float32Array(model.inputSize);
    new CpuIntervention(source).run(plan, batch, model.inputWindow);
    return timed(() => model.run(batch, 1));
  }
  const intervention = new GpuIntervention(device, source, { maxBatchSize: 1 });
  try {
    intervention.run(plan, await model.gpuInput(1));
    const output = await timed(() => model.runOnGpu(1));
    try {
      return await output.read();
    } finally {
      output.release();
    }
  } finally {
    intervention.destroy();
  }
}

export interface RunWindowOptions {
  readonly model: ModelRunner;
  readonly roi: Region;
  readonly reading: RoiReading;
  /** The untouched image as the batches write it. */
  readonly source: InterventionSource;
  /** False: whole images, no window tried. */
  readonly window: boolean;
  /** Whether the caller needs the whole image's output on the RoI even without a window. */
  readonly needsWholeOutput: boolean;
  readonly timing?: RunTiming;
  readonly logger?: Logger;
}

export interface RunWindow {
  /** The untouched image's activated output on the RoI, run whole; null when not needed. */
  readonly wholeOutput: Float32Array | null;
  /** The model on the RoI's window, once its output there is the whole image's; else null. */
  readonly opened: RoiWindow | null;
  /** Forward passes these runs took. */
  readonly passes: number;
}

/**
 * Where the graph shows a finite receptive field, opens the model on the window of the image
 * that holds the RoI's, once the untouched image's output on the RoI is the same on it to the
 * last bit; the caller releases `opened.model`.
 */
export async function openRunWindow(options: RunWindowOptions): Promise<RunWindow> {
  const { model, roi, reading, source, timing } = options;
  const window = options.window ? roiWindow(model.receptiveField, roi, source.image) : null;
  const wholeOutput =
    window || options.needsWholeOutput
      ? await baseActivatedRoi(model, roi, reading, source, timing)
      : null;
  if (!window) return { wholeOutput, opened: null, passes: wholeOutput ? 1 : 0 };
  const { opened, passes } = await openRoiWindow(
    model,
    window,
    roi,
    wholeOutput!,
    (candidate, within) => baseActivatedRoi(candidate, within, reading, source, timing),
    options.logger,
  );
  return { wholeOutput, opened, passes: 1 + passes };
}
