/**
 * Input that a kernel cannot work on. `input` names the argument (for example `patchBank`), and
 * the message says what is wrong with it and what it must be instead.
 */
export class KernelInputError extends Error {
  override readonly name = 'KernelInputError';

  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`${input}: ${message}`);
  }
}

export function requireInteger(input: string, value: number, min: number, max = Infinity): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max}`;
    throw new KernelInputError(input, `must be an integer ${range}, got ${value}`);
  }
}

export function requireLength(input: string, array: ArrayLike<unknown>, length: number): void {
  if (array.length !== length) {
    throw new KernelInputError(input, `must hold ${length} values, got ${array.length}`);
  }
}
