import { InvalidArgumentError } from 'commander';
import {
  parseBlock as parseBlockText,
  parseNormalize as parseNormalizeText,
  parseRegion,
  parseSize as parseSizeText,
} from '@pdcr/core';
import type { Activation } from '@pdcr/kernels';

/** Commander's form of a core parser: its RangeError becomes the flag's error. */
function flag<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof RangeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

export const parseRoi = flag(parseRegion);
export const parseBlock = flag(parseBlockText);
export const parseSize = flag(parseSizeText);
export const parseNormalize = flag(parseNormalizeText);

export function parseActivation(text: string): Activation {
  if (text === 'none' || text === 'sigmoid' || text === 'softmax') return text;
  throw new InvalidArgumentError('give none, sigmoid or softmax');
}

export function parseWholeNumber(min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(`give a whole number of at least ${min}`);
    return value;
  };
}

export function parseNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value)) throw new InvalidArgumentError('give a number');
  return value;
}

/** A number of at least 0: a threshold on the size of an effect. */
export function parseNonNegative(text: string): number {
  const value = parseNumber(text);
  if (value < 0) throw new InvalidArgumentError('give a number of at least 0');
  return value;
}
