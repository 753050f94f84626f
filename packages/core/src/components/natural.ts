import {
  BlockGrid,
  CpuIntervention,
  InterventionPlan,
  type PlanarImage,
  type Preprocessing,
  type Region,
} from '@pdcr/kernels';
import { cropImage, resizeBilinear } from '../image-adaptation.ts';
import { overlaps, zeroPatchBank } from '../patch-banks.ts';
import type { SeededRandom } from '../random.ts';
import { ComponentError } from './errors.ts';

/**
 * `count` natural images for resampling components: crops of `height x width` at random
 * (seeded) positions of `sources`, none overlapping `exclude` in the source it is given for
 * (the analysed crop's place in its own image). A source smaller than the crop is resized to
 * it whole. The counterpart, for a network's components, of the natural patches for pixels.
 */
export function naturalCrops(
  sources: readonly PlanarImage[],
  count: number,
  height: number,
  width: number,
  random: SeededRandom,
  exclude?: { readonly source: number; readonly region: Region },
): PlanarImage[] {
  if (sources.length === 0) {
    throw new ComponentError('natural', 'no images to take natural samples from');
  }
  const crops: PlanarImage[] = [];
  const maxTries = count * 1000;
  for (let tries = 0; crops.length < count && tries < maxTries; tries++) {
    const index = random.integer(sources.length);
    const source = sources[index]!;
    if (source.height < height || source.width < width) {
      if (exclude?.source !== index) crops.push(resizeBilinear(source, height, width));
      continue;
    }
    const region = {
      top: random.integer(source.height - height + 1),
      left: random.integer(source.width - width + 1),
      height,
      width,
    };
    if (exclude?.source === index && overlaps(region, exclude.region)) continue;
    crops.push(cropImage(source, region));
  }
  if (crops.length < count) {
    throw new ComponentError(
      'natural',
      `could take only ${crops.length} of ${count} ${height}x${width} natural crops away from the ` +
        'analysed region; give other images of the same kind (--natural-from)',
    );
  }
  return crops;
}

/** `image` as the model takes it: preprocessed exactly as explain preprocesses its batches. */
export function modelInput(image: PlanarImage, preprocessing: Preprocessing): Float32Array {
  const { channels, height, width } = image;
  const input = new Float32Array(channels * height * width);
  new CpuIntervention({
    image,
    patchBank: zeroPatchBank(channels, height, width),
    grid: new BlockGrid(height, width, height, width),
    preprocessing,
  }).run(new InterventionPlan(1, 1), input);
  return input;
}
