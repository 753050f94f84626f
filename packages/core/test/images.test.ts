import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  decodeImage,
  resizeBilinear,
  resizeNearest,
  toBinaryMask,
  toPlanar,
} from '../src/index.ts';
import { readImageFile, readPatchFolder } from '../src/node/index.ts';
import { dataFile } from './fixtures.ts';

describe('reading images and masks', () => {
  it('reads the 16-bit TIFF and the 8-bit PNG of one image to the same values', async () => {
    const tiff = await readImageFile(dataFile('dsb2018/img2d.tif'));
    const png = await readImageFile(dataFile('dsb2018/img2d.png'));
    expect([tiff.width, tiff.height, tiff.channels, tiff.bitDepth]).toEqual([512, 512, 1, 16]);
    expect([png.width, png.height, png.bitDepth]).toEqual([512, 512, 8]);
    const grey = toPlanar(png, 1).data.map((value) => Math.round(value * 255));
    expect(Array.from(tiff.data)).toEqual(Array.from(grey));
    expect(Array.from(tiff.data).reduce((largest, value) => Math.max(largest, value), 0)).toBe(235);
  });

  it('reads an instance-label TIFF mask and its PNG as the same binary mask', async () => {
    const fromTiff = toBinaryMask(await readImageFile(dataFile('dsb2018/mask2d.tif')));
    const fromPng = toBinaryMask(await readImageFile(dataFile('dsb2018/mask2d.png')));
    expect(Array.from(fromTiff.data)).toEqual(Array.from(fromPng.data));
    const share = fromTiff.data.reduce((sum, value) => sum + value, 0) / fromTiff.data.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
  });

  it('reads a colour JPEG and turns it into grey or keeps its three channels', async () => {
    const raster = decodeImage(
      await readFile(dataFile('ham10000/ISIC_0033556.jpg')),
      'ISIC_0033556.jpg',
    );
    expect([raster.width, raster.height, raster.channels, raster.bitDepth]).toEqual([
      600, 450, 3, 8,
    ]);
    const colour = toPlanar(raster, 3);
    const grey = toPlanar(raster, 1);
    const pixel = 450 * 300 + 225;
    const [r, g, b] = [0, 1, 2].map((c) => colour.data[c * 600 * 450 + pixel]!);
    expect(grey.data[pixel]).toBeCloseTo(0.299 * r! + 0.587 * g! + 0.114 * b!, 5);
  });

  it('reads the paper patch folder as 1000 RGB patches of 8x8', async () => {
    const patches = await readPatchFolder(dataFile('ham10000/patches'));
    expect(patches).toHaveLength(1000);
    expect(patches.every(({ raster }) => raster.width === 8 && raster.height === 8)).toBe(true);
  });

  it('resizes images bilinearly and masks by nearest neighbour, rows and columns kept apart', () => {
    const image = {
      channels: 1,
      height: 2,
      width: 4,
      data: Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7),
    };
    expect(Array.from(resizeBilinear(image, 2, 4).data)).toEqual(Array.from(image.data));
    const half = resizeBilinear(image, 1, 2);
    expect(Array.from(half.data)).toEqual([2.5, 4.5]);
    const doubled = resizeNearest(image, 4, 8);
    expect(doubled.data[0]).toBe(0);
    expect(doubled.data[8 * 3 + 7]).toBe(7);
    expect(doubled.data[8 * 0 + 7]).toBe(3);
  });
});
