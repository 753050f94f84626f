import { KernelInputError } from './errors.ts';
import {
  NO_TARGET,
  OVERLAP_EPSILON,
  validateOutcomeSpec,
  validateSampleTargets,
  type OutcomeReadback,
  type OutcomeSpec,
} from './outcome-spec.ts';

/**
 * The CPU reference of the outcome kernel: the same scores and accumulators from the same model
 * output, computed in double precision. The oracle for the GPU kernel's tests and the path taken
 * where no GPU adapter exists.
 */
export class CpuOutcome {
  private baseScore = 0;
  private scores = new Float32Array(0);
  private readonly effects: Float64Array;

  constructor(readonly spec: OutcomeSpec) {
    validateOutcomeSpec(spec);
    this.effects = new Float64Array(spec.accumulatorCount * 3);
  }

  /** The score subtracted from every sample's before it is accumulated. */
  setBaseScore(score: number): void {
    this.baseScore = score;
  }

  /** Scores a batch of model output (B x K x H x W) and adds each sample to its target. */
  run(modelOutput: Float32Array, batchSize: number, sampleTarget: Uint32Array): void {
    validateSampleTargets(this.spec, batchSize, sampleTarget);
    const { classes, height, width } = this.spec;
    if (modelOutput.length < batchSize * classes * height * width) {
      throw new KernelInputError(
        'modelOutput',
        `must hold ${batchSize} x ${classes} x ${height} x ${width} values, got ${modelOutput.length}`,
      );
    }
    this.scores = new Float32Array(batchSize);
    for (let sample = 0; sample < batchSize; sample++) {
      const score = scoreSample(this.spec, modelOutput, sample);
      this.scores[sample] = score;
      const target = sampleTarget[sample]!;
      if (target === NO_TARGET) continue;
      // In float32, as the kernel computes it: an unchanged score adds exactly zero.
      const effect = Math.fround(this.scores[sample]! - Math.fround(this.baseScore));
      this.effects[3 * target]! += 1;
      this.effects[3 * target + 1]! += effect;
      this.effects[3 * target + 2]! += effect * effect;
    }
  }

  async read(): Promise<OutcomeReadback> {
    return { scores: this.scores.slice(), effects: this.effects.slice() };
  }

  /** Zeroes every accumulator. */
  reset(): void {
    this.effects.fill(0);
  }
}

/** The activated value of the scored class at pixel (y, x) of `sample`. */
export function activatedValue(
  spec: OutcomeSpec,
  modelOutput: Float32Array,
  sample: number,
  y: number,
  x: number,
): number {
  const planeSize = spec.height * spec.width;
  const pixel = y * spec.width + x;
  const at = (k: number) => modelOutput[(sample * spec.classes + k) * planeSize + pixel]!;
  const raw = at(spec.classIndex);
  switch (spec.activation) {
    case 'none':
      return raw;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-raw));
    case 'softmax': {
      let largest = raw;
      for (let k = 0; k < spec.classes; k++) largest = Math.max(largest, at(k));
      let total = 0;
      for (let k = 0; k < spec.classes; k++) total += Math.exp(at(k) - largest);
      return Math.exp(raw - largest) / total;
    }
  }
}

/**
 * One sample's score on the RoI as `OutcomeMetric` defines it; NaN where a value the activation
 * reads is not finite. The activation is `activatedValue`'s, computed in the loop.
 */
export function scoreSample(spec: OutcomeSpec, modelOutput: Float32Array, sample: number): number {
  const { roi, reference, metric, threshold, classes, classIndex, activation } = spec;
  const planeSize = spec.height * spec.width;
  const first = sample * classes * planeSize;
  const scored = first + classIndex * planeSize;
  const binary = metric === 'hardDice' || metric === 'iou';
  let overlap = 0;
  let predicted = 0;
  let expected = 0;
  let largest = 0;
  for (let r = 0; r < roi.height; r++) {
    const row = (roi.top + r) * spec.width + roi.left;
    for (let q = 0; q < roi.width; q++) {
      const pixel = row + q;
      const raw = modelOutput[scored + pixel]!;
      let value: number;
      if (activation === 'softmax') {
        let top = raw;
        for (let k = 0; k < classes; k++) {
          const other = modelOutput[first + k * planeSize + pixel]!;
          if (!Number.isFinite(other)) return NaN;
          top = Math.max(top, other);
        }
        let total = 0;
        for (let k = 0; k < classes; k++) {
          total += Math.exp(modelOutput[first + k * planeSize + pixel]! - top);
        }
        value = Math.exp(raw - top) / total;
      } else {
        if (!Number.isFinite(raw)) return NaN;
        value = activation === 'sigmoid' ? 1 / (1 + Math.exp(-raw)) : raw;
      }
      const truth = reference[r * roi.width + q]!;
      if (binary) {
        const inPrediction = value > threshold ? 1 : 0;
        const inTruth = truth > 0.5 ? 1 : 0;
        overlap += inPrediction * inTruth;
        predicted += inPrediction;
        expected += inTruth;
      } else if (metric === 'softDice') {
        overlap += value * truth;
        predicted += value;
        expected += truth;
      } else if (metric === 'meanValue') {
        overlap += value;
      } else {
        // In float32, as the reference was stored: the same output must differ by exactly 0.
        largest = Math.max(largest, Math.abs(Math.fround(value) - truth));
      }
    }
  }
  switch (metric) {
    case 'hardDice':
    case 'softDice':
      return (100 * 2 * overlap) / (predicted + expected + OVERLAP_EPSILON);
    case 'iou':
      return (100 * overlap) / (predicted + expected - overlap + OVERLAP_EPSILON);
    case 'meanValue':
      return (100 * overlap) / (roi.height * roi.width);
    case 'maxAbsDifference':
      return largest;
  }
}
