import { BlockGrid } from './block-grid.ts';
import { KernelInputError, requireInteger } from './errors.ts';
import type { PatchBank, PlanarImage } from './tensors.ts';

/** Marks a block that keeps its base pixels in a sample. */
export const KEEP_BLOCK = 0xffffffff;

/** Most channels an image may have: the kernel keeps per-channel values in one vec4. */
export const MAX_CHANNELS = 4;

/**
 * Which patch replaces each block in each sample of a batch:
 * `patchOfBlock[sample * blockCount + block]` is a patch index, or `KEEP_BLOCK`. A sample may
 * replace any number of blocks, none included (the base image itself).
 */
export class InterventionPlan {
  readonly patchOfBlock: Uint32Array;

  constructor(
    readonly batchSize: number,
    readonly blockCount: number,
  ) {
    requireInteger('plan.batchSize', batchSize, 1);
    requireInteger('plan.blockCount', blockCount, 1);
    this.patchOfBlock = new Uint32Array(batchSize * blockCount).fill(KEEP_BLOCK);
  }

  /** Replaces `block` by `patch` in `sample`; returns the plan for chaining. */
  replace(sample: number, block: number, patch: number): this {
    this.patchOfBlock[sample * this.blockCount + block] = patch;
    return this;
  }

  patchAt(sample: number, block: number): number {
    return this.patchOfBlock[sample * this.blockCount + block]!;
  }
}

/**
 * What the model expects its input to look like, applied as the batch is written:
 * - `none`: the values as they are;
 * - `meanStd`: `(x - mean[c]) / std[c]` with fixed values per channel;
 * - `zscore`: each channel of each intervened image shifted and scaled by its own mean and
 *   `std + epsilon` (population standard deviation), as bioimage.io's
 *   `zero_mean_unit_variance` over x and y does.
 */
export type Preprocessing =
  | { readonly kind: 'none' }
  | { readonly kind: 'meanStd'; readonly mean: readonly number[]; readonly std: readonly number[] }
  | { readonly kind: 'zscore'; readonly epsilon: number };

/** Everything an intervention draws from, fixed for the life of a kernel instance. */
export interface InterventionSource {
  readonly image: PlanarImage;
  readonly patchBank: PatchBank;
  readonly grid: BlockGrid;
  readonly preprocessing: Preprocessing;
}

/** Per-channel statistics of the base image, in double precision. */
export interface ChannelStatistics {
  readonly mean: readonly number[];
  /** Sum over the channel's pixels of (x - mean)^2. */
  readonly squaredDeviations: readonly number[];
}

export function channelStatistics(image: PlanarImage): ChannelStatistics {
  const planeSize = image.height * image.width;
  const mean: number[] = [];
  const squaredDeviations: number[] = [];
  for (let c = 0; c < image.channels; c++) {
    // Indexed loops: iterating the typed array and squaring with ** took ten times as long,
    // 6 ms a 512x512 plane, and every explanation takes these statistics several times.
    const plane = image.data.subarray(c * planeSize, (c + 1) * planeSize);
    let sum = 0;
    for (let i = 0; i < planeSize; i++) sum += plane[i]!;
    const channelMean = sum / planeSize;
    let squares = 0;
    for (let i = 0; i < planeSize; i++) {
      const deviation = plane[i]! - channelMean;
      squares += deviation * deviation;
    }
    mean.push(channelMean);
    squaredDeviations.push(squares);
  }
  return { mean, squaredDeviations };
}

/** Throws a `KernelInputError` naming the first part of `source` that does not fit the rest. */
export function validateInterventionSource(source: InterventionSource): void {
  const { image, patchBank, grid, preprocessing } = source;
  requireInteger('image.channels', image.channels, 1, MAX_CHANNELS);
  requireInteger('image.height', image.height, 1);
  requireInteger('image.width', image.width, 1);
  if (image.data.length !== image.channels * image.height * image.width) {
    throw new KernelInputError(
      'image.data',
      `must hold channels x height x width = ${image.channels * image.height * image.width} ` +
        `values, got ${image.data.length}`,
    );
  }
  if (grid.imageHeight !== image.height || grid.imageWidth !== image.width) {
    throw new KernelInputError(
      'grid',
      `tiles a ${grid.imageHeight}x${grid.imageWidth} image but the image is ` +
        `${image.height}x${image.width}; build the grid from the image's size`,
    );
  }
  requireInteger('patchBank.count', patchBank.count, 1);
  if (patchBank.channels !== image.channels) {
    throw new KernelInputError(
      'patchBank',
      `has ${patchBank.channels} channels but the image has ${image.channels}; ` +
        `convert the patches to the image's channels`,
    );
  }
  if (patchBank.height !== grid.blockHeight || patchBank.width !== grid.blockWidth) {
    throw new KernelInputError(
      'patchBank',
      `patches are ${patchBank.height}x${patchBank.width} but blocks are ` +
        `${grid.blockHeight}x${grid.blockWidth}; use patches of the block's size`,
    );
  }
  const patchValues = patchBank.count * patchBank.channels * patchBank.height * patchBank.width;
  if (patchBank.data.length !== patchValues) {
    throw new KernelInputError(
      'patchBank.data',
      `must hold ${patchValues} values, got ${patchBank.data.length}`,
    );
  }
  if (preprocessing.kind === 'meanStd') {
    if (
      preprocessing.mean.length !== image.channels ||
      preprocessing.std.length !== image.channels
    ) {
      throw new KernelInputError(
        'preprocessing',
        `needs one mean and one std per channel (${image.channels}), got ` +
          `${preprocessing.mean.length} and ${preprocessing.std.length}`,
      );
    }
    if (preprocessing.std.some((std) => !(std > 0))) {
      throw new KernelInputError('preprocessing.std', 'every std must be greater than zero');
    }
  }
  if (preprocessing.kind === 'zscore' && !(preprocessing.epsilon >= 0)) {
    throw new KernelInputError('preprocessing.epsilon', 'must be zero or more');
  }
}

/** Throws a `KernelInputError` where `plan` does not fit `source`. */
export function validatePlan(source: InterventionSource, plan: InterventionPlan): void {
  if (plan.blockCount !== source.grid.blockCount) {
    throw new KernelInputError(
      'plan',
      `covers ${plan.blockCount} blocks but the grid has ${source.grid.blockCount}`,
    );
  }
  const patchCount = source.patchBank.count;
  for (const patch of plan.patchOfBlock) {
    if (patch !== KEEP_BLOCK && patch >= patchCount) {
      throw new KernelInputError('plan', `names patch ${patch} but the bank holds ${patchCount}`);
    }
  }
}
