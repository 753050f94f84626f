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
import type { Region } from './tensors.ts';

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

  /**
   * Writes the plan's batch, B x C x H x W, into `batch`; with `window`, only that region of
   * each image (B x C x window), its normalisation still that of the whole intervened image.
   */
  run(plan: InterventionPlan, batch: Float32Array, window?: Region): void {
    validatePlan(this.source, plan);
    const { image, patchBank, grid } = this.source;
    const region = window ?? { top: 0, left: 0, height: image.height, width: image.width };
    if (
      ![region.top, region.left, region.height, region.width].every(Number.isInteger) ||
      region.top < 0 ||
      region.left < 0 ||
      region.height < 1 ||
      region.width < 1 ||
      region.top + region.height > image.height ||
      region.left + region.width > image.width
    ) {
      throw new KernelInputError(
        'window',
        `must lie inside the ${image.height}x${image.width} image`,
      );
    }
    const planeSize = image.height * image.width;
    const outPlaneSize = region.height * region.width;
    const outSize = image.channels * outPlaneSize;
    if (batch.length < plan.batchSize * outSize) {
      throw new KernelInputError('batch', `must hold at least ${plan.batchSize * outSize} values`);
    }
    const patchPlaneSize = patchBank.height * patchBank.width;

    for (let sample = 0; sample < plan.batchSize; sample++) {
      const out = batch.subarray(sample * outSize, (sample + 1) * outSize);
      if (!window) {
        out.set(image.data);
      } else {
        for (let c = 0; c < image.channels; c++) {
          for (let r = 0; r < region.height; r++) {
            const from = c * planeSize + (region.top + r) * image.width + region.left;
            out.set(
              image.data.subarray(from, from + region.width),
              c * outPlaneSize + r * region.width,
            );
          }
        }
      }

      for (let block = 0; block < grid.blockCount; block++) {
        const patch = plan.patchAt(sample, block);
        if (patch === KEEP_BLOCK) continue;
        const placed = grid.block(block);
        // The block's rows and columns that fall inside the window.
        const top = Math.max(placed.top, region.top);
        const bottom = Math.min(placed.top + placed.height, region.top + region.height);
        const left = Math.max(placed.left, region.left);
        const right = Math.min(placed.left + placed.width, region.left + region.width);
        if (top >= bottom || left >= right) continue;
        for (let c = 0; c < image.channels; c++) {
          const patchPlane = (patch * image.channels + c) * patchPlaneSize;
          for (let y = top; y < bottom; y++) {
            const from = patchPlane + (y - placed.top) * grid.blockWidth + (left - placed.left);
            const to = c * outPlaneSize + (y - region.top) * region.width + (left - region.left);
            out.set(patchBank.data.subarray(from, from + right - left), to);
          }
        }
      }

      const { offset, scale } = this.normalisation(plan, sample);
      for (let c = 0; c < image.channels; c++) {
        if (offset[c] === 0 && scale[c] === 1) continue;
        const plane = out.subarray(c * outPlaneSize, (c + 1) * outPlaneSize);
        const channelOffset = offset[c]!;
        const channelScale = scale[c]!;
        for (let i = 0; i < outPlaneSize; i++)
          plane[i] = (plane[i]! - channelOffset) * channelScale;
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

  return shiftedStatistics(base, sums, squares, planeSize, epsilon);
}

/**
 * Mean and 1 / (std + epsilon) per channel of an image whose pixels differ from the base image's
 * by `sums[c]` in their sum and by `squares[c]` in their sum of squared deviations from the base
 * mean, over `pixelCount` pixels per channel.
 */
export function shiftedStatistics(
  base: ChannelStatistics,
  sums: ArrayLike<number>,
  squares: ArrayLike<number>,
  pixelCount: number,
  epsilon: number,
): { mean: number[]; inverseStd: number[] } {
  const mean: number[] = [];
  const inverseStd: number[] = [];
  for (let c = 0; c < base.mean.length; c++) {
    const meanShift = sums[c]! / pixelCount;
    const variance = Math.max(
      (base.squaredDeviations[c]! + squares[c]!) / pixelCount - meanShift * meanShift,
      0,
    );
    mean.push(base.mean[c]! + meanShift);
    inverseStd.push(1 / (Math.sqrt(variance) + epsilon));
  }
  return { mean, inverseStd };
}
