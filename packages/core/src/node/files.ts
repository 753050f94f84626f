// Node-only: reading images, masks and patch folders from disk.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageError, PatchBankError } from '../errors.ts';
import { decodeImage, type RasterImage } from '../images.ts';

/** Reads and decodes an image file; a typed error naming the path when it cannot. */
export async function readImageFile(file: string): Promise<RasterImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ImageError(
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`,
      {
        cause: error,
      },
    );
  }
  return decodeImage(bytes, file);
}

const IMAGE_FILE = /\.(png|jpe?g|tiff?)$/i;

/** Every image in a folder, in name order: the paper's patch-bank format. */
export async function readPatchFolder(
  folder: string,
): Promise<{ name: string; raster: RasterImage }[]> {
  let names: string[];
  try {
    names = (await readdir(folder)).filter((name) => IMAGE_FILE.test(name)).sort();
  } catch (error) {
    throw new PatchBankError(
      folder,
      `cannot be read as a folder of patch images (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      {
        cause: error,
      },
    );
  }
  if (names.length === 0) {
    throw new PatchBankError(
      folder,
      'holds no PNG, JPEG or TIFF patch images; the patch bank would be empty',
    );
  }
  return Promise.all(
    names.map(async (name) => ({ name, raster: await readImageFile(path.join(folder, name)) })),
  );
}
