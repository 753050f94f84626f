import { interpolateRdBu } from 'd3-scale-chromatic';
import { encode as encodePng } from 'fast-png';
import type { PlanarImage } from '@pdcr/kernels';
import type { ExplanationResult } from '../result.ts';

/** The paper's ATE map: H x W, each pixel its block's ATE, 0 under the RoI. */
export function ateMap(result: ExplanationResult): Float32Array {
  const { height, width } = result.image;
  const map = new Float32Array(height * width);
  for (const block of result.blocks) {
    for (let y = block.top; y < block.top + block.height; y++) {
      map.fill(block.ate, y * width + block.left, y * width + block.left + block.width);
    }
  }
  return map;
}

/** Largest |ATE| of the map, the scale of the diverging colours (1 where the map is all zero). */
export function mapScale(map: Float32Array): number {
  let largest = 0;
  for (const value of map) largest = Math.max(largest, Math.abs(value));
  return largest > 0 ? largest : 1;
}

/**
 * RGB of an ATE on the red-white-blue scale, normalised by `scale`: red where replacing the
 * block lowered the score (the original block helped the segmentation), blue where it raised it.
 */
export function divergingColour(ate: number, scale: number): [number, number, number] {
  const t = 0.5 + 0.5 * Math.max(-1, Math.min(1, ate / scale));
  const match = /rgb\((\d+), (\d+), (\d+)\)/.exec(interpolateRdBu(t));
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [255, 255, 255];
}

function rgbImage(
  width: number,
  height: number,
  pixel: (index: number) => [number, number, number],
): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(pixel(i), 3 * i);
  return encodePng({ width, height, data, channels: 3, depth: 8 });
}

/** `heatmap.png`: the diverging map alone. */
export function heatmapPng(result: ExplanationResult): Uint8Array {
  const map = ateMap(result);
  const scale = mapScale(map);
  return rgbImage(result.image.width, result.image.height, (i) => divergingColour(map[i]!, scale));
}

/** The image as 8-bit RGB, its values stretched from their own minimum and maximum. */
function displayValue(image: PlanarImage): (index: number, channel: number) => number {
  let low = Infinity;
  let high = -Infinity;
  for (const value of image.data) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  const range = high > low ? high - low : 1;
  const planeSize = image.height * image.width;
  return (index, channel) =>
    (255 * (image.data[Math.min(channel, image.channels - 1) * planeSize + index]! - low)) / range;
}

/** `overlay.png`: 0.7 x map + 0.3 x image, with the RoI outlined in black. */
export function overlayPng(result: ExplanationResult, image: PlanarImage): Uint8Array {
  const map = ateMap(result);
  const scale = mapScale(map);
  const shade = displayValue(image);
  const { width } = result.image;
  const { roi } = result;
  return rgbImage(width, result.image.height, (i) => {
    const y = Math.floor(i / width);
    const x = i % width;
    const onOutline =
      y >= roi.top - 1 &&
      y <= roi.top + roi.height &&
      x >= roi.left - 1 &&
      x <= roi.left + roi.width &&
      (y === roi.top - 1 ||
        y === roi.top + roi.height ||
        x === roi.left - 1 ||
        x === roi.left + roi.width);
    if (onOutline) return [0, 0, 0];
    const colour = divergingColour(map[i]!, scale);
    return colour.map((value, c) => Math.round(0.7 * value + 0.3 * shade(i, c))) as [
      number,
      number,
      number,
    ];
  });
}

/** The image alone as an 8-bit PNG, for the report. */
export function imagePng(image: PlanarImage): Uint8Array {
  const shade = displayValue(image);
  return rgbImage(
    image.width,
    image.height,
    (i) => [0, 1, 2].map((c) => Math.round(shade(i, c))) as [number, number, number],
  );
}

/** The image as RGBA bytes for a canvas, stretched as in the PNGs. */
export function imageRgba(image: PlanarImage): Uint8ClampedArray<ArrayBuffer> {
  const shade = displayValue(image);
  const pixels = new Uint8ClampedArray(image.height * image.width * 4);
  for (let i = 0; i < image.height * image.width; i++) {
    pixels.set([shade(i, 0), shade(i, 1), shade(i, 2), 255], 4 * i);
  }
  return pixels;
}
