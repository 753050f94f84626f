import type { PlanarImage } from '@pdcr/kernels';
import type { RasterImage } from './images.ts';

/** Rec. 601 luma weights, for colour images fed to a single-channel model. */
const LUMA = [0.299, 0.587, 0.114] as const;

/**
 * The raster as planar floats in [0, 1] (8-bit values / 255, 16-bit / 65535) with `channels`
 * channels: grey is repeated into colour, colour becomes luma, alpha is dropped.
 */
export function toPlanar(raster: RasterImage, channels: number): PlanarImage {
  const { width, height } = raster;
  const planeSize = width * height;
  const scale = 1 / (raster.bitDepth === 16 ? 65535 : 255);
  const colour = raster.channels >= 3;
  const data = new Float32Array(channels * planeSize);
  for (let i = 0; i < planeSize; i++) {
    const at = (c: number) => raster.data[i * raster.channels + c]! * scale;
    if (colour && channels === 1) {
      data[i] = LUMA[0] * at(0) + LUMA[1] * at(1) + LUMA[2] * at(2);
      continue;
    }
    for (let c = 0; c < channels; c++) {
      data[c * planeSize + i] = colour ? at(Math.min(c, 2)) : at(0);
    }
  }
  return { channels, height, width, data };
}

/**
 * Bilinear resize with pixel centres aligned (half-pixel offsets, edges clamped), as OpenCV's
 * INTER_LINEAR and PyTorch's `interpolate(..., align_corners=False)` do without antialiasing.
 */
export function resizeBilinear(image: PlanarImage, height: number, width: number): PlanarImage {
  if (height === image.height && width === image.width) return image;
  const data = new Float32Array(image.channels * height * width);
  const scaleY = image.height / height;
  const scaleX = image.width / width;
  for (let c = 0; c < image.channels; c++) {
    const plane = image.data.subarray(c * image.height * image.width);
    for (let y = 0; y < height; y++) {
      const sourceY = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), image.height - 1);
      const y0 = Math.floor(sourceY);
      const y1 = Math.min(y0 + 1, image.height - 1);
      const wy = sourceY - y0;
      for (let x = 0; x < width; x++) {
        const sourceX = Math.min(Math.max((x + 0.5) * scaleX - 0.5, 0), image.width - 1);
        const x0 = Math.floor(sourceX);
        const x1 = Math.min(x0 + 1, image.width - 1);
        const wx = sourceX - x0;
        const top = plane[y0 * image.width + x0]! * (1 - wx) + plane[y0 * image.width + x1]! * wx;
        const bottom =
          plane[y1 * image.width + x0]! * (1 - wx) + plane[y1 * image.width + x1]! * wx;
        data[(c * height + y) * width + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return { channels: image.channels, height, width, data };
}

/** Nearest-neighbour resize, for masks and labels. */
export function resizeNearest(image: PlanarImage, height: number, width: number): PlanarImage {
  if (height === image.height && width === image.width) return image;
  const data = new Float32Array(image.channels * height * width);
  for (let c = 0; c < image.channels; c++) {
    for (let y = 0; y < height; y++) {
      const sourceY = Math.min(Math.floor(((y + 0.5) * image.height) / height), image.height - 1);
      for (let x = 0; x < width; x++) {
        const sourceX = Math.min(Math.floor(((x + 0.5) * image.width) / width), image.width - 1);
        data[(c * height + y) * width + x] =
          image.data[(c * image.height + sourceY) * image.width + sourceX]!;
      }
    }
  }
  return { channels: image.channels, height, width, data };
}

/** A binary mask (0/1, one channel): a pixel is foreground where any channel is non-zero. */
export function toBinaryMask(raster: RasterImage): PlanarImage {
  const planeSize = raster.width * raster.height;
  const data = new Float32Array(planeSize);
  for (let i = 0; i < planeSize; i++) {
    for (let c = 0; c < raster.channels; c++) {
      if (raster.data[i * raster.channels + c]! > 0) {
        data[i] = 1;
        break;
      }
    }
  }
  return { channels: 1, height: raster.height, width: raster.width, data };
}

/** The rows and columns of `region` cut from channel `channel` of `image`, row-major. */
export function cropPlane(
  image: PlanarImage,
  region: { top: number; left: number; height: number; width: number },
  channel = 0,
): Float32Array {
  const out = new Float32Array(region.height * region.width);
  for (let r = 0; r < region.height; r++) {
    const from = (channel * image.height + region.top + r) * image.width + region.left;
    out.set(image.data.subarray(from, from + region.width), r * region.width);
  }
  return out;
}

/** `image` cut to `region`, every channel. */
export function cropImage(
  image: PlanarImage,
  region: { top: number; left: number; height: number; width: number },
): PlanarImage {
  const data = new Float32Array(image.channels * region.height * region.width);
  for (let c = 0; c < image.channels; c++) {
    data.set(cropPlane(image, region, c), c * region.height * region.width);
  }
  return { channels: image.channels, height: region.height, width: region.width, data };
}
