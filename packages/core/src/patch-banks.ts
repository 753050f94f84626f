import type { PatchBank, PlanarImage, Region } from '@pdcr/kernels';
import { PatchBankError } from './errors.ts';
import { toPlanar } from './image-adaptation.ts';
import type { RasterImage } from './images.ts';
import type { SeededRandom } from './random.ts';

/**
 * A bank from patch images (the paper's format: one small image per patch), each converted to
 * `channels` channels and [0, 1] values. Every patch must be exactly the block's size.
 */
export function patchBankFromImages(
  patches: readonly { name: string; raster: RasterImage }[],
  channels: number,
  blockHeight: number,
  blockWidth: number,
): PatchBank {
  if (patches.length === 0) {
    throw new PatchBankError('patches', 'the patch bank is empty; give at least one patch image');
  }
  const patchSize = channels * blockHeight * blockWidth;
  const data = new Float32Array(patches.length * patchSize);
  patches.forEach(({ name, raster }, index) => {
    if (raster.height !== blockHeight || raster.width !== blockWidth) {
      throw new PatchBankError(
        name,
        `is ${raster.height}x${raster.width} but blocks are ${blockHeight}x${blockWidth}; ` +
          'use patches of the block size or set --block to the patch size',
      );
    }
    data.set(toPlanar(raster, channels).data, index * patchSize);
  });
  return { count: patches.length, channels, height: blockHeight, width: blockWidth, data };
}

/**
 * `count` patches of `blockHeight x blockWidth` cut at random (seeded) positions from `images`,
 * none overlapping `exclude` (given in the images' own coordinates), the way the paper cut its
 * bank from other images of the same data set.
 */
export function cutPatchBank(
  images: readonly PlanarImage[],
  count: number,
  blockHeight: number,
  blockWidth: number,
  random: SeededRandom,
  exclude?: Region,
): PatchBank {
  const first = images[0];
  if (!first) throw new PatchBankError('patches-from', 'no images to cut patches from');
  const channels = first.channels;
  const patchPlane = blockHeight * blockWidth;
  const data = new Float32Array(count * channels * patchPlane);
  const maxTries = count * 1000;
  let made = 0;
  for (let tries = 0; made < count && tries < maxTries; tries++) {
    const image = images[random.integer(images.length)]!;
    if (image.height < blockHeight || image.width < blockWidth) continue;
    const top = random.integer(image.height - blockHeight + 1);
    const left = random.integer(image.width - blockWidth + 1);
    if (exclude && overlaps({ top, left, height: blockHeight, width: blockWidth }, exclude))
      continue;
    for (let c = 0; c < channels; c++) {
      for (let r = 0; r < blockHeight; r++) {
        const from = (c * image.height + top + r) * image.width + left;
        data.set(
          image.data.subarray(from, from + blockWidth),
          ((made * channels + c) * blockHeight + r) * blockWidth,
        );
      }
    }
    made++;
  }
  if (made < count) {
    throw new PatchBankError(
      'patches-from',
      `could cut only ${made} of ${count} ${blockHeight}x${blockWidth} patches outside the excluded ` +
        'region; give larger images or a smaller block',
    );
  }
  return { count, channels, height: blockHeight, width: blockWidth, data };
}

/** One all-zero patch: the paper's zero-occlusion ablation. */
export function zeroPatchBank(
  channels: number,
  blockHeight: number,
  blockWidth: number,
): PatchBank {
  return {
    count: 1,
    channels,
    height: blockHeight,
    width: blockWidth,
    data: new Float32Array(channels * blockHeight * blockWidth),
  };
}

export function overlaps(a: Region, b: Region): boolean {
  return (
    a.top < b.top + b.height &&
    b.top < a.top + a.height &&
    a.left < b.left + b.width &&
    b.left < a.left + a.width
  );
}

/**
 * The bank's patch indices split into `count` strata of (nearly) equal size by the patches' mean
 * value, darkest first. A replaced block's effect depends largely on how bright its patch is
 * (through the image's statistics and the local contrast), so drawing the same number of
 * patches from each stratum estimates the same mean as uniform draws with a much smaller
 * variance.
 */
export function patchStrata(bank: PatchBank, count: number): number[][] {
  const size = bank.channels * bank.height * bank.width;
  const means = Array.from({ length: bank.count }, (_, patch) => {
    let sum = 0;
    for (let i = patch * size; i < (patch + 1) * size; i++) sum += bank.data[i]!;
    return sum / size;
  });
  const order = means.map((_, patch) => patch).sort((a, b) => means[a]! - means[b]! || a - b);
  return Array.from({ length: count }, (_, s) =>
    order.slice(Math.round((s * bank.count) / count), Math.round(((s + 1) * bank.count) / count)),
  );
}
