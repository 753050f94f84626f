/**
 * An input PdCR cannot work with. `input` names it (a file path, a flag, an argument) and the
 * message says what is wrong and what to do; the CLI prints the message as its one line.
 */
export class PdcrError extends Error {
  override readonly name: string = 'PdcrError';

  constructor(
    readonly input: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${input}: ${message}`, options);
  }
}

/** The model file cannot be read as an ONNX model, or has no input PdCR can feed an image. */
export class ModelError extends PdcrError {
  override readonly name = 'ModelError';
}

/** The model produced output that cannot be scored (NaN, infinities, a wrong shape). */
export class ModelOutputError extends PdcrError {
  override readonly name = 'ModelOutputError';
}

/** An image or mask file that cannot be decoded, or that does not fit the others. */
export class ImageError extends PdcrError {
  override readonly name = 'ImageError';
}

/** An RoI that does not lie inside the image, or a block size that does not fit it. */
export class RegionError extends PdcrError {
  override readonly name = 'RegionError';
}

/** A patch bank that is empty or whose patches do not fit the blocks. */
export class PatchBankError extends PdcrError {
  override readonly name = 'PatchBankError';
}

/** The execution backend asked for is not available, or the GPU device was lost. */
export class BackendError extends PdcrError {
  override readonly name = 'BackendError';
}
