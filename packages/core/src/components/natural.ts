import {
  BlockGrid,
  CpuIntervention,
  InterventionPlan,
  type PlanarImage,
  type Preprocessing,
  type Region,
} from '@pdcr/kernels';
import { cropImage, resizeBilinear } from '../image-adaptation.ts';
import { zeroPatchBank } from '../patch-banks.ts';
import type { SeededRandom } from '../random.ts';
import { ComponentError } from './errors.ts';

/** A half-open range of crop positions along one axis: `start` to `start + count - 1`. */
interface PositionRange {
  readonly start: number;
  readonly count: number;
}

/**
 * The crop positions of one source, numbered 0 to `count - 1` in row-major order of the crop's
 * top-left corner, less those whose crop overlaps the excluded region. A source smaller than
 * the crop has one position: the source resized whole.
 */
interface SourcePositions {
  readonly whole: boolean;
  readonly rows: number;
  readonly columns: number;
  /** The excluded tops and lefts; their product is excluded (both empty where none is). */
  readonly excludedTops: PositionRange;
  readonly excludedLefts: PositionRange;
  readonly count: number;
}

/**
 * `count` natural images for resampling components: distinct crops of `height x width` at random
 * (seeded) positions of `sources`, no two at the same position of the same source, none
 * overlapping `exclude` in the source it is given for (the analysed crop's place in its own
 * image). A source smaller than the crop gives one sample, itself resized to the crop's size. The
 * counterpart, for a network's components, of the natural patches for pixels. Throws a
 * `ComponentError` naming `natural` when the sources hold fewer than `count` such crops: copies
 * of one image would count as independent draws and shrink every interval to nothing.
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
  const positions = sources.map((source, index) =>
    sourcePositions(source, height, width, exclude?.source === index ? exclude.region : null),
  );
  const available = positions.reduce((sum, source) => sum + source.count, 0);
  if (available === 0) {
    throw new ComponentError(
      'natural',
      `every ${height}x${width} crop of the image overlaps the analysed region (the whole image ` +
        'when no crop is given), so no natural sample can be taken from it; give --crop, ' +
        '--natural-from, or --intervention zero',
    );
  }
  if (available < count) {
    throw new ComponentError(
      'natural',
      `the images hold only ${available} distinct ${height}x${width} crops away from the ` +
        `analysed region, fewer than the ${count} asked; ask for fewer (--natural-count) or give ` +
        'more or larger images of the same kind (--natural-from)',
    );
  }

  return distinctIndices(available, count, random).map((index) => {
    let source = 0;
    while (index >= positions[source]!.count) index -= positions[source++]!.count;
    const image = sources[source]!;
    if (positions[source]!.whole) return resizeBilinear(image, height, width);
    const { top, left } = cropPosition(positions[source]!, index);
    return cropImage(image, { top, left, height, width });
  });
}

/** The positions of `height x width` crops in `source`, less those overlapping `excluded`. */
function sourcePositions(
  source: PlanarImage,
  height: number,
  width: number,
  excluded: Region | null,
): SourcePositions {
  const none = { start: 0, count: 0 };
  if (source.height < height || source.width < width) {
    const count = excluded ? 0 : 1;
    return { whole: true, rows: 1, columns: 1, excludedTops: none, excludedLefts: none, count };
  }
  const rows = source.height - height + 1;
  const columns = source.width - width + 1;
  // A crop at top t overlaps the region's rows when region.top - height < t < region.bottom.
  const overlapping = (low: number, high: number, positions: number): PositionRange => {
    const start = Math.max(0, low);
    return { start, count: Math.max(0, Math.min(positions, high) - start) };
  };
  let excludedTops = none;
  let excludedLefts = none;
  if (excluded) {
    excludedTops = overlapping(excluded.top - height + 1, excluded.top + excluded.height, rows);
    excludedLefts = overlapping(excluded.left - width + 1, excluded.left + excluded.width, columns);
    // A crop overlaps the region only where it overlaps it along both axes.
    if (excludedTops.count === 0 || excludedLefts.count === 0) {
      excludedTops = none;
      excludedLefts = none;
    }
  }
  const count = rows * columns - excludedTops.count * excludedLefts.count;
  return { whole: false, rows, columns, excludedTops, excludedLefts, count };
}

/**
 * The top-left corner of crop `index` of a source: first the rows of positions clear of the
 * excluded region (every column), then the excluded rows (the columns clear of it).
 */
function cropPosition(positions: SourcePositions, index: number): { top: number; left: number } {
  const { rows, columns, excludedTops, excludedLefts } = positions;
  const clearRows = rows - excludedTops.count;
  if (index < clearRows * columns) {
    const row = Math.floor(index / columns);
    const top = row < excludedTops.start ? row : row + excludedTops.count;
    return { top, left: index % columns };
  }
  const rest = index - clearRows * columns;
  const clearColumns = columns - excludedLefts.count;
  const column = rest % clearColumns;
  return {
    top: excludedTops.start + Math.floor(rest / clearColumns),
    left: column < excludedLefts.start ? column : column + excludedLefts.count,
  };
}

/** `count` distinct integers of [0, size), uniformly (Floyd's algorithm: `count` draws). */
function distinctIndices(size: number, count: number, random: SeededRandom): number[] {
  const chosen = new Set<number>();
  for (let bound = size - count; bound < size; bound++) {
    const drawn = random.integer(bound + 1);
    chosen.add(chosen.has(drawn) ? bound : drawn);
  }
  return [...chosen];
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
