import {
  channelStatistics,
  KEEP_BLOCK,
  validateInterventionSource,
  validatePlan,
  type ChannelStatistics,
  type InterventionPlan,
  type InterventionSource,
} from './intervention-plan.ts';
import { KernelInputError } from './errors.ts';

/**
 * The CPU reference of the intervention kernel: the same batch from the same plan, computed
 * plainly in double precision. The oracle for the GPU kernel's tests and the path taken where no
 * GPU adapter exists.
 */
export class CpuIntervention {
  private readonly baseStatistics: ChannelStatistics;

  constructor(readonly source: InterventionSource) {
    validateInterventionSource(source);
    this.baseStatistics = channelStatistics(source.image);
  }

  /** Writes the plan's batch, B x C x H x W, into `batch`. */
  run(plan: InterventionPlan, batch: Float32Array): void {
    validatePlan(this.source, plan);
    const { image, patchBank, grid } = this.source;
    const planeSize = image.height * image.width;
    const imageSize = image.channels * planeSize;
    if (batch.length < plan.batchSize * imageSize) {
      throw new KernelInputError(
        'batch',
        `must hold at least ${plan.batchSize * imageSize} values`,
      );
    }
    const patchPlaneSize = patchBank.height * patchBank.width;

    for (let sample = 0; sample < plan.batchSize; sample++) {
      const out = batch.subarray(sample * imageSize, (sample + 1) * imageSize);
      out.set(image.data);

      for (let block = 0; block < grid.blockCount; block++) {
        const patch = plan.patchAt(sample, block);
        if (patch === KEEP_BLOCK) continue;
        const region = grid.block(block);
        for (let c = 0; c < image.channels; c++) {
          const patchPlane = (patch * image.channels + c) * patchPlaneSize;
          for (let r = 0; r < region.height; r++) {
            const from = patchPlane + r * grid.blockWidth;
            const to = c * planeSize + (region.top + r) * image.width + region.left;
            out.set(patchBank.data.subarray(from, from + region.width), to);
          }
        }
      }

      const { offset, scale } = this.normalisation(plan, sample);
      for (let c = 0; c < image.channels; c++) {
        if (offset[c] === 0 && scale[c] === 1) continue;
        const plane = out.subarray(c * planeSize, (c + 1) * planeSize);
        const channelOffset = offset[c]!;
        const channelScale = scale[c]!;
        for (let i = 0; i < planeSize; i++) plane[i] = (plane[i]! - channelOffset) * channelScale;
      }
    }
  }

  /** Offset and scale per channel that the preprocessing applies to `sample`. */
  private normalisation(
    plan: InterventionPlan,
    sample: number,
  ): { offset: number[]; scale: number[] } {
    const { preprocessing, image } = this.source;
    switch (preprocessing.kind) {
      case 'none':
        return { offset: Array(image.channels).fill(0), scale: Array(image.channels).fill(1) };
      case 'meanStd':
        return { offset: [...preprocessing.mean], scale: preprocessing.std.map((std) => 1 / std) };
      case 'zscore': {
        const { mean, inverseStd } = interventionStatistics(
          this.source,
          this.baseStatistics,
          plan,
          sample,
          preprocessing.epsilon,
        );
        return { offset: mean, scale: inverseStd };
      }
    }
  }
}

/**
 * Mean and 1 / (std + epsilon) per channel of one intervened sample, from the base statistics
 * and the replaced blocks alone (no pass over the rest of the image). Deviations are measured
 * from the base mean, so that neither sum loses precision to a large offset.
 */
export function interventionStatistics(
  source: InterventionSource,
  base: ChannelStatistics,
  plan: InterventionPlan,
  sample: number,
  epsilon: number,
): { mean: number[]; inverseStd: number[] } {
  const { image, patchBank, grid } = source;
  const planeSize = image.height * image.width;
  const patchPlaneSize = patchBank.height * patchBank.width;
  const sums = Array<number>(image.channels).fill(0);
  const squares = Array<number>(image.channels).fill(0);

  for (let block = 0; block < grid.blockCount; block++) {
    const patch = plan.patchAt(sample, block);
    if (patch === KEEP_BLOCK) continue;
    const region = grid.block(block);
    for (let c = 0; c < image.channels; c++) {
      const shift = base.mean[c]!;
      for (let r = 0; r < region.height; r++) {
        for (let q = 0; q < region.width; q++) {
          const original =
            image.data[c * planeSize + (region.top + r) * image.width + region.left + q]! - shift;
          const replaced =
            patchBank.data[
              (patch * image.channels + c) * patchPlaneSize + r * grid.blockWidth + q
            ]! - shift;
          sums[c]! += replaced - original;
          squares[c]! += replaced * replaced - original * original;
        }
      }
    }
  }

  const mean: number[] = [];
  const inverseStd: number[] = [];
  for (let c = 0; c < image.channels; c++) {
    const meanShift = sums[c]! / planeSize;
    const variance = Math.max(
      (base.squaredDeviations[c]! + squares[c]!) / planeSize - meanShift * meanShift,
      0,
    );
    mean.push(base.mean[c]! + meanShift);
    inverseStd.push(1 / (Math.sqrt(variance) + epsilon));
  }
  return { mean, inverseStd };
}
