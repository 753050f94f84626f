import type { Region } from './tensors.ts';

/**
 * The tiling of an image into blocks of `blockHeight x blockWidth`, row by row. The last row and
 * column are cut short where the image's size is not a multiple of the block's.
 */
export class BlockGrid {
  readonly rows: number;
  readonly columns: number;

  constructor(
    readonly imageHeight: number,
    readonly imageWidth: number,
    readonly blockHeight: number,
    readonly blockWidth: number,
  ) {
    for (const [name, value] of Object.entries({
      imageHeight,
      imageWidth,
      blockHeight,
      blockWidth,
    })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`BlockGrid: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.rows = Math.ceil(imageHeight / blockHeight);
    this.columns = Math.ceil(imageWidth / blockWidth);
  }

  get blockCount(): number {
    return this.rows * this.columns;
  }

  /** The pixels of block `index`, cut to the image. */
  block(index: number): Region {
    const top = Math.floor(index / this.columns) * this.blockHeight;
    const left = (index % this.columns) * this.blockWidth;
    return {
      top,
      left,
      height: Math.min(this.blockHeight, this.imageHeight - top),
      width: Math.min(this.blockWidth, this.imageWidth - left),
    };
  }

  /** The block that holds pixel (y, x). */
  blockAt(y: number, x: number): number {
    return Math.floor(y / this.blockHeight) * this.columns + Math.floor(x / this.blockWidth);
  }

  /** Whether block `index` shares at least one pixel with `region`. */
  overlaps(index: number, region: Region): boolean {
    const block = this.block(index);
    return (
      block.top < region.top + region.height &&
      region.top < block.top + block.height &&
      block.left < region.left + region.width &&
      region.left < block.left + block.width
    );
  }
}
