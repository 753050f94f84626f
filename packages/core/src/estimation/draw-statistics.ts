import {
  channelStatistics,
  shiftedStatistics,
  type ChannelStatistics,
  type InterventionSource,
} from '@pdcr/kernels';

/**
 * Mean and 1 / (std + epsilon) per channel of the image with one block replaced by a patch, as
 * the intervention normalises it (`interventionStatistics`), from sums over the block's pixels
 * and the patch's, each computed once: a far block is drawn with many patches and a patch on many
 * blocks, and the route takes the statistics of every draw.
 */
export class DrawStatistics {
  private readonly base: ChannelStatistics;
  private readonly sumsOfBlocks = new Map<number, Float64Array>();
  private readonly sumsOfPatches = new Map<number, Float64Array>();

  constructor(
    private readonly source: InterventionSource,
    private readonly epsilon: number,
  ) {
    this.base = channelStatistics(source.image);
  }

  of(draw: { readonly block: number; readonly patch: number }): number[] {
    const { image, grid } = this.source;
    const region = grid.block(draw.block);
    const block = this.blockSums(draw.block);
    const patch = this.patchSums(draw.patch, region.height, region.width);
    const channels = image.channels;
    const sums = new Array<number>(channels);
    const squares = new Array<number>(channels);
    for (let c = 0; c < channels; c++) {
      sums[c] = patch[c]! - block[c]!;
      squares[c] = patch[channels + c]! - block[channels + c]!;
    }
    const { mean, inverseStd } = shiftedStatistics(
      this.base,
      sums,
      squares,
      image.height * image.width,
      this.epsilon,
    );
    return [...mean, ...inverseStd];
  }

  /** Per channel, the sum of a block's pixels less the image's mean, then of their squares. */
  private blockSums(block: number): Float64Array {
    let sums = this.sumsOfBlocks.get(block);
    if (!sums) {
      const { image, grid } = this.source;
      const region = grid.block(block);
      sums = this.sums(
        region.height,
        region.width,
        (c, r, q) =>
          image.data[
            c * image.height * image.width + (region.top + r) * image.width + region.left + q
          ]!,
      );
      this.sumsOfBlocks.set(block, sums);
    }
    return sums;
  }

  /** The same over the top-left `height` x `width` of a patch (a block clipped by the edge). */
  private patchSums(patch: number, height: number, width: number): Float64Array {
    const bank = this.source.patchBank;
    const key = (patch * (bank.height + 1) + height) * (bank.width + 1) + width;
    let sums = this.sumsOfPatches.get(key);
    if (!sums) {
      const plane = bank.height * bank.width;
      sums = this.sums(
        height,
        width,
        (c, r, q) => bank.data[(patch * bank.channels + c) * plane + r * bank.width + q]!,
      );
      this.sumsOfPatches.set(key, sums);
    }
    return sums;
  }

  private sums(
    height: number,
    width: number,
    value: (channel: number, row: number, column: number) => number,
  ): Float64Array {
    const channels = this.source.image.channels;
    const sums = new Float64Array(2 * channels);
    for (let c = 0; c < channels; c++) {
      const shift = this.base.mean[c]!;
      for (let r = 0; r < height; r++) {
        for (let q = 0; q < width; q++) {
          const centred = value(c, r, q) - shift;
          sums[c]! += centred;
          sums[channels + c]! += centred * centred;
        }
      }
    }
    return sums;
  }
}
