// The text forms of the options that the CLI's flags and the web page's fields share. Each parser
// throws a RangeError whose message says what to give instead.
import type { Preprocessing, Region } from '@pdcr/kernels';

/** `TOP,LEFT,HEIGHT,WIDTH` in pixels (an RoI or a crop). */
export function parseRegion(text: string): Region {
  const parts = text.split(',').map(Number);
  if (parts.length !== 4 || !parts.every((part) => Number.isInteger(part) && part >= 0)) {
    throw new RangeError('give TOP,LEFT,HEIGHT,WIDTH as four whole numbers, e.g. 72,88,32,32');
  }
  const [top, left, height, width] = parts as [number, number, number, number];
  return { top, left, height, width };
}

/** `N` (square) or `H,W`. */
export function parseBlock(text: string): { height: number; width: number } {
  const parts = text.split(',').map(Number);
  if (
    !(parts.length === 1 || parts.length === 2) ||
    !parts.every((part) => Number.isInteger(part) && part > 0)
  ) {
    throw new RangeError('give N or H,W as whole numbers above zero, e.g. 8 or 8,16');
  }
  return { height: parts[0]!, width: parts[1] ?? parts[0]! };
}

/** `HxW` or `image`. */
export function parseSize(text: string): { height: number; width: number } | 'image' {
  if (text === 'image') return 'image';
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new RangeError('give HxW (e.g. 256x256) or image');
  }
  return { height: Number(match[1]), width: Number(match[2]) };
}

/** `none`, `zscore`, `MEAN,STD` or per channel `M1,M2,M3/S1,S2,S3`. */
export function parseNormalize(text: string): Preprocessing {
  if (text === 'none') return { kind: 'none' };
  if (text === 'zscore') return { kind: 'zscore', epsilon: 1e-6 };
  const [means, stds] = text.includes('/')
    ? text.split('/')
    : text.split(',').length === 2
      ? text.split(',')
      : [];
  const mean = (means ?? '').split(',').map(Number);
  const std = (stds ?? '').split(',').map(Number);
  if (
    !means ||
    !stds ||
    mean.length !== std.length ||
    ![...mean, ...std].every(Number.isFinite) ||
    std.some((s) => s <= 0)
  ) {
    throw new RangeError('give none, zscore, MEAN,STD or M1,M2,M3/S1,S2,S3 (every STD above zero)');
  }
  return { kind: 'meanStd', mean, std };
}
