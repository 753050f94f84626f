import type { BlockGrid, PatchBank, PlanarImage } from '@pdcr/kernels';
import { PatchBankError } from '../errors.ts';
import { zeroPatchBank } from '../patch-banks.ts';
import type { SeededRandom } from '../random.ts';
import { FaithfulnessError } from './errors.ts';

/**
 * How a removed block is filled: natural patches drawn from the bank (PdCR's treatment), zeros
 * (the paper's ablation), the image's mean, or the block's own pixels blurred.
 */
export type Removal = 'patch' | 'zero' | 'mean' | 'blur';

export const REMOVALS: readonly Removal[] = ['patch', 'zero', 'mean', 'blur'];

/**
 * Standard deviation of the blur, in blocks: half a block removes the detail inside a block
 * while keeping the image's coarse shading, as blur perturbations in the literature do.
 */
export const BLUR_SIGMA_IN_BLOCKS = 0.5;

/**
 * A removal as the intervention kernel takes it: a bank of patches, and which patch fills each
 * block. `patchOfBlock(random)` gives one draw's assignment, the same block always getting the
 * same patch within a draw; only natural patches vary from draw to draw.
 */
export interface RemovalFill {
  readonly removal: Removal;
  readonly patchBank: PatchBank;
  /** Whether draws differ (natural patches) or every draw is the same (the other fills). */
  readonly random: boolean;
  patchOfBlock(random: SeededRandom): Uint32Array;
}

/**
 * The fill for `removal` on `image`'s block grid. `patchBank` is needed for `patch` only.
 *
 * @example
 * const fill = removalFill('blur', image, grid);
 * const patchOf = fill.patchOfBlock(random);
 * const plan = new InterventionPlan(1, grid.blockCount).replace(0, 5, patchOf[5]!);
 */
export function removalFill(
  removal: Removal,
  image: PlanarImage,
  grid: BlockGrid,
  patchBank?: PatchBank,
): RemovalFill {
  const constant = (bank: PatchBank, patchOf: (block: number) => number): RemovalFill => ({
    removal,
    patchBank: bank,
    random: false,
    patchOfBlock: () => Uint32Array.from({ length: grid.blockCount }, (_, block) => patchOf(block)),
  });
  switch (removal) {
    case 'patch':
      if (!patchBank || patchBank.count === 0) {
        throw new FaithfulnessError(
          'removal',
          'patch needs a bank of natural patches; give --patches DIR (or a larger --patch-count, which cuts them from the image away from the RoI), or another --removal',
        );
      }
      return {
        removal,
        patchBank,
        random: true,
        patchOfBlock: (random) =>
          Uint32Array.from({ length: grid.blockCount }, () => random.integer(patchBank.count)),
      };
    case 'zero':
      return constant(zeroPatchBank(image.channels, grid.blockHeight, grid.blockWidth), () => 0);
    case 'mean':
      return constant(meanPatchBank(image, grid), () => 0);
    case 'blur':
      return constant(blurredBlockBank(image, grid), (block) => block);
  }
}

/**
 * The bank cut in two disjoint halves, the even-indexed patches to estimate the maps with and
 * the odd-indexed ones to remove blocks by. A map estimated with the very patches the curves
 * remove by would be scored on its own draws, an edge over every other method; a bank cut at
 * random (seeded) gives halves drawn from the same patches, so neither half is favoured.
 */
export function splitPatchBank(bank: PatchBank): { maps: PatchBank; curves: PatchBank } {
  if (bank.count < 2) {
    throw new PatchBankError(
      'patches',
      `holds ${bank.count} patch(es); the evaluation needs at least 2, half to estimate the maps and half to remove blocks by (give more patches, or a larger --patch-count)`,
    );
  }
  const patchSize = bank.channels * bank.height * bank.width;
  const half = (first: number): PatchBank => {
    const count = Math.ceil((bank.count - first) / 2);
    const data = new Float32Array(count * patchSize);
    for (let i = 0; i < count; i++) {
      const from = (first + 2 * i) * patchSize;
      data.set(bank.data.subarray(from, from + patchSize), i * patchSize);
    }
    return { count, channels: bank.channels, height: bank.height, width: bank.width, data };
  };
  return { maps: half(0), curves: half(1) };
}

/** One patch holding, in every pixel, the image's mean of each channel. */
export function meanPatchBank(image: PlanarImage, grid: BlockGrid): PatchBank {
  const planeSize = image.height * image.width;
  const patchPlane = grid.blockHeight * grid.blockWidth;
  const data = new Float32Array(image.channels * patchPlane);
  for (let c = 0; c < image.channels; c++) {
    let sum = 0;
    for (let i = c * planeSize; i < (c + 1) * planeSize; i++) sum += image.data[i]!;
    data.fill(sum / planeSize, c * patchPlane, (c + 1) * patchPlane);
  }
  return {
    count: 1,
    channels: image.channels,
    height: grid.blockHeight,
    width: grid.blockWidth,
    data,
  };
}

/**
 * One patch per block of the grid (patch i for block i): the block's pixels in a Gaussian blur
 * of the whole image (sigma `BLUR_SIGMA_IN_BLOCKS` blocks, edges clamped). Blurring the whole
 * image rather than the block alone keeps the block's seams with its neighbours smooth.
 */
export function blurredBlockBank(image: PlanarImage, grid: BlockGrid): PatchBank {
  const blurred = gaussianBlur(
    image,
    BLUR_SIGMA_IN_BLOCKS * grid.blockHeight,
    BLUR_SIGMA_IN_BLOCKS * grid.blockWidth,
  );
  const { blockHeight, blockWidth } = grid;
  const patchPlane = blockHeight * blockWidth;
  const data = new Float32Array(grid.blockCount * image.channels * patchPlane);
  for (let block = 0; block < grid.blockCount; block++) {
    const region = grid.block(block);
    for (let c = 0; c < image.channels; c++) {
      for (let r = 0; r < region.height; r++) {
        const from = (c * image.height + region.top + r) * image.width + region.left;
        data.set(
          blurred.subarray(from, from + region.width),
          ((block * image.channels + c) * blockHeight + r) * blockWidth,
        );
      }
    }
  }
  return {
    count: grid.blockCount,
    channels: image.channels,
    height: blockHeight,
    width: blockWidth,
    data,
  };
}

/** Separable Gaussian blur of every channel, truncated at three sigmas, edges clamped. */
export function gaussianBlur(image: PlanarImage, sigmaY: number, sigmaX: number): Float32Array {
  const { channels, height, width } = image;
  const rows = new Float32Array(image.data.length);
  const out = new Float32Array(image.data.length);
  const kernelX = gaussianKernel(sigmaX);
  const kernelY = gaussianKernel(sigmaY);
  const radiusX = (kernelX.length - 1) / 2;
  const radiusY = (kernelY.length - 1) / 2;
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = -radiusX; k <= radiusX; k++) {
          const source = Math.min(Math.max(x + k, 0), width - 1);
          sum += kernelX[k + radiusX]! * image.data[plane + y * width + source]!;
        }
        rows[plane + y * width + x] = sum;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = -radiusY; k <= radiusY; k++) {
          const source = Math.min(Math.max(y + k, 0), height - 1);
          sum += kernelY[k + radiusY]! * rows[plane + source * width + x]!;
        }
        out[plane + y * width + x] = sum;
      }
    }
  }
  return out;
}

function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    kernel[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
    total += kernel[k + radius]!;
  }
  return kernel.map((value) => value / total);
}
