import { convertIndexedToRgb, decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import * as UTIF from 'utif2';
import { ImageError } from './errors.ts';

/** A decoded raster, interleaved (row-major, channels last), at its own bit depth. */
export interface RasterImage {
  readonly width: number;
  readonly height: number;
  /** 1 (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA). */
  readonly channels: number;
  readonly bitDepth: 8 | 16;
  readonly data: Uint8Array | Uint16Array;
}

type ImageFormat = 'png' | 'jpeg' | 'tiff';

function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  const startsWith = (...magic: number[]) => magic.every((byte, i) => bytes[i] === byte);
  if (startsWith(0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (startsWith(0xff, 0xd8, 0xff)) return 'jpeg';
  if (startsWith(0x49, 0x49, 0x2a, 0x00) || startsWith(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  return null;
}

/**
 * Decodes PNG (1 to 16 bit, palette included), JPEG (baseline and progressive) or TIFF (8 and
 * 16 bit, uncompressed or compressed as UTIF reads them) from its bytes; the format comes from
 * the bytes, not from the name. `name` is used in error messages only.
 */
export function decodeImage(bytes: Uint8Array, name: string): RasterImage {
  const format = sniffFormat(bytes);
  if (!format) {
    throw new ImageError(
      name,
      'is not a PNG, JPEG or TIFF image; give an image file in one of those formats',
    );
  }
  try {
    switch (format) {
      case 'png':
        return fromPng(bytes);
      case 'jpeg':
        return fromJpeg(bytes);
      case 'tiff':
        return fromTiff(bytes, name);
    }
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(
      name,
      `could not be decoded as ${format.toUpperCase()} (${String(error)}); is the file complete?`,
      {
        cause: error,
      },
    );
  }
}

function fromPng(bytes: Uint8Array): RasterImage {
  const png = decodePng(bytes);
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const channels = rgb.length / (png.width * png.height);
    return { width: png.width, height: png.height, channels, bitDepth: 8, data: rgb };
  }
  if (png.depth === 16) {
    return {
      width: png.width,
      height: png.height,
      channels: png.channels,
      bitDepth: 16,
      data: png.data as Uint16Array,
    };
  }
  let data = Uint8Array.from(png.data);
  if (png.depth < 8) {
    // Sub-byte grey levels are stretched to the full 8-bit range.
    const scale = 255 / (2 ** png.depth - 1);
    data = data.map((value) => Math.round(value * scale));
  }
  return { width: png.width, height: png.height, channels: png.channels, bitDepth: 8, data };
}

function fromJpeg(bytes: Uint8Array): RasterImage {
  const decoded = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxMemoryUsageInMB: 1024,
  });
  const channels = decoded.data.length / (decoded.width * decoded.height);
  return {
    width: decoded.width,
    height: decoded.height,
    channels,
    bitDepth: 8,
    data: decoded.data,
  };
}

function fromTiff(bytes: Uint8Array, name: string): RasterImage {
  const buffer = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  ) as ArrayBuffer;
  const [ifd] = UTIF.decode(buffer);
  if (!ifd) throw new ImageError(name, 'is a TIFF file with no image in it');
  UTIF.decodeImage(buffer, ifd);
  const bitsPerSample = Number((ifd['t258'] as number[] | undefined)?.[0] ?? 1);
  const channels = Number((ifd['t277'] as number[] | undefined)?.[0] ?? 1);
  const { width, height, data } = ifd;
  if (bitsPerSample === 8) {
    return {
      width,
      height,
      channels,
      bitDepth: 8,
      data: Uint8Array.from(data.subarray(0, width * height * channels)),
    };
  }
  if (bitsPerSample === 16) {
    const littleEndian = bytes[0] === 0x49;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const values = new Uint16Array(width * height * channels);
    for (let i = 0; i < values.length; i++) values[i] = view.getUint16(2 * i, littleEndian);
    return { width, height, channels, bitDepth: 16, data: values };
  }
  throw new ImageError(
    name,
    `is a ${bitsPerSample}-bit TIFF; PdCR reads 8- and 16-bit TIFF images`,
  );
}
