import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PlanarImage } from '@pdcr/kernels';
import { cropImage, toBinaryMask, toPlanar } from '../src/index.ts';
import { readImageFile } from '../src/node/index.ts';

/** A file of the repository's `data/` folder (real models and images, with their licences). */
export function dataFile(relative: string): string {
  return fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
}

export const NUCLEI_MODEL = dataFile('nuclei-unet/unet2d-nuclei-broad.onnx');

export async function nucleiModelBytes(): Promise<Uint8Array> {
  return readFile(NUCLEI_MODEL);
}

/** A crop of the DSB2018 image (16-bit TIFF, values scaled to [0, 1]) and its binary mask. */
export async function dsbCrop(region: {
  top: number;
  left: number;
  height: number;
  width: number;
}): Promise<{
  image: PlanarImage;
  mask: PlanarImage;
}> {
  const image = toPlanar(await readImageFile(dataFile('dsb2018/img2d.tif')), 1);
  const mask = toBinaryMask(await readImageFile(dataFile('dsb2018/mask2d.tif')));
  return { image: cropImage(image, region), mask: cropImage(mask, region) };
}
