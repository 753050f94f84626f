import type { Region } from '@pdcr/kernels';
import { ModelError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { ModelRunner } from './model-runner.ts';
import type { ReceptiveField, Span } from './receptive-field.ts';

/** Largest share of the image a window may cover and still be run instead of the whole. */
const WORTHWHILE_SHARE = 0.8;

/** The image rows and columns the RoI's output reads, before clipping to the image. */
export interface RoiField {
  readonly rows: Span;
  readonly columns: Span;
}

/** What the RoI's output reads of the image, or null where the graph shows no finite field. */
export function roiField(field: ReceptiveField, roi: Region): RoiField | null {
  if (!field.local) return null;
  return {
    rows: field.span(0, roi.top, roi.top + roi.height - 1),
    columns: field.span(1, roi.left, roi.left + roi.width - 1),
  };
}

/**
 * The window of the image that holds the RoI's receptive field, its edges on the model's
 * stride grid (or the image's edges), or null where the model has no finite field or the window
 * would save too little to be worth a second session.
 */
export function roiWindow(
  field: ReceptiveField,
  roi: Region,
  image: { readonly height: number; readonly width: number },
): Region | null {
  const reads = roiField(field, roi);
  if (!field.local || !reads) return null;
  const grid = field.alignment;
  const top = Math.max(0, Math.floor(reads.rows[0] / grid) * grid);
  const left = Math.max(0, Math.floor(reads.columns[0] / grid) * grid);
  const bottom = Math.min(image.height, Math.ceil((reads.rows[1] + 1) / grid) * grid);
  const right = Math.min(image.width, Math.ceil((reads.columns[1] + 1) / grid) * grid);
  const window = { top, left, height: bottom - top, width: right - left };
  const share = (window.height * window.width) / (image.height * image.width);
  return share <= WORTHWHILE_SHARE ? window : null;
}

/** `region` in the coordinates of `window`. */
export function withinWindow(region: Region, window: Region): Region {
  return { ...region, top: region.top - window.top, left: region.left - window.left };
}

/** The model run on the RoI's window, once its output on the RoI is shown to be the same. */
export interface RoiWindow {
  readonly model: ModelRunner;
  readonly window: Region;
}

/**
 * Opens the model on `window` and checks it: `outputs` runs the untouched image through a model
 * and returns its activated output on the RoI; the window is kept only if that output is
 * `wholeOutput` to the last bit. `model` is null, with the reason logged, where the model does
 * not run on the window or the check fails; `passes` counts the check's forward passes.
 */
export async function openRoiWindow(
  model: ModelRunner,
  window: Region,
  roi: Region,
  wholeOutput: Float32Array,
  outputs: (model: ModelRunner, roi: Region) => Promise<Float32Array>,
  logger?: Logger,
): Promise<{ readonly opened: RoiWindow | null; readonly passes: number }> {
  const where = `${window.top},${window.left},${window.height},${window.width}`;
  const refused = (error: unknown) => {
    if (!(error instanceof ModelError)) throw error;
    logger?.warn(
      `${model.name}: does not run on the RoI's window ${where} (${error.message}); ` +
        'running whole images',
    );
  };
  let windowed: ModelRunner;
  try {
    windowed = await model.windowed(window);
  } catch (error) {
    refused(error);
    return { opened: null, passes: 0 };
  }
  let output: Float32Array;
  try {
    output = await outputs(windowed, withinWindow(roi, window));
  } catch (error) {
    await windowed.release();
    refused(error);
    return { opened: null, passes: 1 };
  }
  if (!output.every((value, i) => Object.is(value, wholeOutput[i]))) {
    await windowed.release();
    logger?.warn(
      `${model.name}: its output on the RoI differs between the whole image and the window ` +
        `${where} around it; running whole images`,
    );
    return { opened: null, passes: 1 };
  }
  logger?.info(
    () => `${model.name}: runs on the window ${where}, which holds the RoI's receptive field`,
  );
  return { opened: { model: windowed, window }, passes: 1 };
}
