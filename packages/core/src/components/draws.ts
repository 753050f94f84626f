import { NO_TARGET, type CpuOutcome } from '@pdcr/kernels';
import { ModelOutputError } from '../errors.ts';
import type { EffectTally } from '../statistics.ts';
import type { ComponentTensor, IntervenedModel, TensorReplacement } from './network.ts';
import type { ComponentIntervention } from './result.ts';

/** A whole tensor (`channel` null), or one channel of it. */
export interface Component {
  readonly tensor: ComponentTensor;
  readonly channel: number | null;
  readonly name: string;
}

/** One forward pass: component `unit` replaced by its value on natural image `natural`. */
export interface ComponentDraw {
  readonly unit: number;
  readonly natural: number;
}

export interface ComponentDrawOptions {
  readonly model: IntervenedModel;
  /** The analysed image as the model takes it. */
  readonly baseInput: Float32Array;
  readonly components: readonly Component[];
  readonly intervention: ComponentIntervention;
  /** Per tensor, its values on the natural images, one sample after the other. */
  readonly naturalValues: ReadonlyMap<ComponentTensor, Float32Array>;
  readonly naturalCount: number;
  /** Scores the RoI, its base score set. */
  readonly outcome: CpuOutcome;
  readonly baseScore: number;
  readonly signal?: AbortSignal;
  readonly onBatch?: (count: number) => void;
}

/**
 * A runner of component draws: packs them into full batches of the analysed image, each sample
 * with its own component replaced, runs the edited model and adds each sample's effect on the
 * RoI score to its component's tally. It stops between batches once `signal` is aborted and
 * then answers false.
 */
export function interveneOnComponents(
  options: ComponentDrawOptions,
): (draws: readonly ComponentDraw[], tallies: Map<number, EffectTally>) => Promise<boolean> {
  const { model, baseInput } = options;
  const maxBatch = model.runner.maxBatchSize;
  const batch = new Float32Array(maxBatch * baseInput.length);
  for (let sample = 0; sample < maxBatch; sample++) batch.set(baseInput, sample * baseInput.length);
  const ablations = ablationValues(options);

  return async (draws, tallies) => {
    for (let start = 0; start < draws.length; start += maxBatch) {
      if (options.signal?.aborted) return false;
      const chunk = draws.slice(start, start + maxBatch);
      const replacements = batchReplacements(options, chunk, ablations);
      const output = await model.run(batch, chunk.length, replacements);
      options.outcome.run(output, chunk.length, new Uint32Array(chunk.length).fill(NO_TARGET));
      const { scores } = await options.outcome.read();
      if (scores.some(Number.isNaN)) {
        throw new ModelOutputError(
          model.runner.name,
          'produced NaN or infinite values inside the RoI with a component replaced',
        );
      }
      chunk.forEach((draw, sample) => {
        // In float32, as the block estimators compute it: an unchanged score adds exactly zero.
        const effect = Math.fround(scores[sample]! - Math.fround(options.baseScore));
        tallies.get(draw.unit)!.add(1, effect, effect * effect);
      });
      options.onBatch?.(chunk.length);
    }
    return true;
  };
}

/** The replacement inputs of one batch: per tensor drawn on, its values and selectors. */
function batchReplacements(
  options: ComponentDrawOptions,
  chunk: readonly ComponentDraw[],
  ablations: ReadonlyMap<ComponentTensor, Float32Array>,
): TensorReplacement[] {
  const byTensor = new Map<ComponentTensor, number[]>();
  chunk.forEach((draw, sample) => {
    const { tensor } = options.components[draw.unit]!;
    byTensor.set(tensor, [...(byTensor.get(tensor) ?? []), sample]);
  });
  return [...byTensor].map(([tensor, samples]) => {
    const select = new Float32Array(chunk.length * tensor.channels);
    for (const sample of samples) {
      const { channel } = options.components[chunk[sample]!.unit]!;
      if (channel === null)
        select.fill(1, sample * tensor.channels, (sample + 1) * tensor.channels);
      else select[sample * tensor.channels + channel] = 1;
    }
    if (options.intervention !== 'resample') {
      // One sample of values, shared by the batch; `ablations` holds every component's tensor.
      return { tensor, values: ablations.get(tensor)!, select };
    }
    const natural = options.naturalValues.get(tensor)!;
    const values = new Float32Array(chunk.length * tensor.size);
    for (const sample of samples) {
      const from = chunk[sample]!.natural * tensor.size;
      values.set(natural.subarray(from, from + tensor.size), sample * tensor.size);
    }
    return { tensor, values, select };
  });
}

/**
 * Under `zero` and `mean`, the one sample of values each component's tensor is replaced by
 * (zeros, or the mean of its natural values), keyed by exactly the tensors the components name;
 * empty under `resample`.
 */
function ablationValues(options: ComponentDrawOptions): Map<ComponentTensor, Float32Array> {
  const { intervention, naturalValues, naturalCount } = options;
  const ablations = new Map<ComponentTensor, Float32Array>();
  if (intervention === 'resample') return ablations;
  for (const { tensor } of options.components) {
    if (ablations.has(tensor)) continue;
    ablations.set(
      tensor,
      intervention === 'zero'
        ? new Float32Array(tensor.size)
        : meanSample(naturalValues.get(tensor)!, tensor.size, naturalCount),
    );
  }
  return ablations;
}

/** The mean over `count` samples of `size` values, in double precision, rounded to float32. */
function meanSample(values: Float32Array, size: number, count: number): Float32Array {
  const sums = new Float64Array(size);
  for (let sample = 0; sample < count; sample++)
    for (let i = 0; i < size; i++) sums[i]! += values[sample * size + i]!;
  return Float32Array.from(sums, (sum) => sum / count);
}
