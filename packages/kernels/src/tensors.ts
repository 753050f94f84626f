/** A planar float image, channel-major: `data[(c * height + y) * width + x]`. */
export interface PlanarImage {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/**
 * Replacement patches, all of one block's size:
 * `data[((p * channels + c) * height + y) * width + x]` for patch p.
 */
export interface PatchBank {
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** A region of the image or of the model's output, in pixels, origin top-left. */
export interface Region {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** Extent of a batch of images or of model outputs: batch x channels x height x width. */
export interface BatchShape {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export function elementCount(shape: BatchShape): number {
  return shape.batch * shape.channels * shape.height * shape.width;
}
