import { KernelInputError, requireInteger, requireLength } from './errors.ts';
import type { Region } from './tensors.ts';

/** Marks a sample whose score is not added to any accumulator. */
export const NO_TARGET = 0xffffffff;

/** What turns the model's raw output into a value per pixel. */
export type Activation = 'none' | 'sigmoid' | 'softmax';

/**
 * The outcome measured on the RoI, in percentage points where it is a share:
 * - `hardDice`: 100 x 2|A and B| / (|A| + |B| + 1e-10), A the pixels whose value exceeds the
 *   threshold, B the reference mask (the paper's score);
 * - `softDice`: the same with values instead of the binarised prediction;
 * - `iou`: 100 x |A and B| / (|A or B| + 1e-10);
 * - `meanValue`: 100 x the mean activated value;
 * - `maxAbsDifference`: the largest |value - reference| (reference: the base image's activated
 *   output), zero exactly when an intervention leaves the RoI's output untouched.
 */
export type OutcomeMetric = 'hardDice' | 'softDice' | 'iou' | 'meanValue' | 'maxAbsDifference';

export const ACTIVATION_CODE: Record<Activation, number> = { none: 0, sigmoid: 1, softmax: 2 };
export const METRIC_CODE: Record<OutcomeMetric, number> = {
  hardDice: 0,
  softDice: 1,
  iou: 2,
  meanValue: 3,
  maxAbsDifference: 4,
};

/** The paper's smoothing term in the Dice denominator. */
export const OVERLAP_EPSILON = 1e-10;

export interface OutcomeSpec {
  /** Extent of one sample of the model's output: classes x height x width. */
  readonly classes: number;
  readonly height: number;
  readonly width: number;
  readonly roi: Region;
  /** Output channel scored. */
  readonly classIndex: number;
  readonly activation: Activation;
  readonly metric: OutcomeMetric;
  /** Binarisation threshold on the activated value, for `hardDice` and `iou`. */
  readonly threshold: number;
  /** RoI-sized, row-major: the reference mask (0/1), or base values for `maxAbsDifference`. */
  readonly reference: Float32Array;
  /** Number of treatment-effect accumulators (blocks, groups, components). */
  readonly accumulatorCount: number;
}

/** What an outcome kernel hands back: the last batch's scores and every accumulator. */
export interface OutcomeReadback {
  /** Score of each sample of the last batch run. */
  readonly scores: Float32Array;
  /** Per accumulator, since the last reset: count, sum, sum of squares of (score - base). */
  readonly effects: Float64Array;
}

export function validateOutcomeSpec(spec: OutcomeSpec): void {
  requireInteger('output.classes', spec.classes, 1);
  requireInteger('output.height', spec.height, 1);
  requireInteger('output.width', spec.width, 1);
  requireInteger('classIndex', spec.classIndex, 0, spec.classes - 1);
  requireInteger('accumulatorCount', spec.accumulatorCount, 1);
  const { roi } = spec;
  requireInteger('roi.height', roi.height, 1);
  requireInteger('roi.width', roi.width, 1);
  if (
    !Number.isInteger(roi.top) ||
    !Number.isInteger(roi.left) ||
    roi.top < 0 ||
    roi.left < 0 ||
    roi.top + roi.height > spec.height ||
    roi.left + roi.width > spec.width
  ) {
    throw new KernelInputError(
      'roi',
      `(${roi.top}, ${roi.left}, ${roi.height}x${roi.width}) does not lie inside the ` +
        `${spec.height}x${spec.width} output; give an RoI within it`,
    );
  }
  requireLength('reference', spec.reference, roi.height * roi.width);
  if (!Number.isFinite(spec.threshold)) {
    throw new KernelInputError('threshold', `must be a finite number, got ${spec.threshold}`);
  }
}

export function validateSampleTargets(
  spec: OutcomeSpec,
  batchSize: number,
  sampleTarget: Uint32Array,
): void {
  requireInteger('batchSize', batchSize, 1);
  if (sampleTarget.length < batchSize) {
    throw new KernelInputError(
      'sampleTarget',
      `must name a target for each of ${batchSize} samples`,
    );
  }
  for (let sample = 0; sample < batchSize; sample++) {
    const target = sampleTarget[sample]!;
    if (target !== NO_TARGET && target >= spec.accumulatorCount) {
      throw new KernelInputError(
        'sampleTarget',
        `sample ${sample} targets accumulator ${target}, but there are ${spec.accumulatorCount}`,
      );
    }
  }
}
