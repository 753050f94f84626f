import { fileURLToPath } from 'node:url';
import type { BackendChoice, Logger, Preset } from '@pdcr/core';
import { runExplainJob } from './explain-job.ts';
import { finishRun } from './summary.ts';

function dataFile(relative: string): string {
  return fileURLToPath(new URL(`../../../data/${relative}`, import.meta.url));
}

/** The demo's crop of the DSB2018 image (its own pixels) and the RoI inside the crop. */
export const DEMO_CROP = { top: 352, left: 64, height: 128, width: 128 };
export const DEMO_ROI = { top: 48, left: 48, height: 32, width: 32 };

/**
 * `pdcr demo`: the bundled nuclei U-Net (bioimage.io, MIT) on a 128x128 crop of the bundled
 * DSB2018 image (CC0), RoI 32x32 in the middle, blocks of 8, the fast preset, patches cut
 * from the crop away from the RoI; preprocessing as the model card asks (per-image z-score,
 * sigmoid, threshold 0.5).
 */
export async function runDemo(options: {
  out: string;
  preset?: Preset;
  backend: BackendChoice;
  quiet: boolean;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<void> {
  const { result, files } = await runExplainJob({
    model: dataFile('nuclei-unet/unet2d-nuclei-broad.onnx'),
    image: dataFile('dsb2018/img2d.tif'),
    mask: dataFile('dsb2018/mask2d.tif'),
    crop: DEMO_CROP,
    roi: DEMO_ROI,
    block: { height: 8, width: 8 },
    patchCount: 1000,
    preset: options.preset ?? 'fast',
    seed: 0,
    backend: options.backend,
    out: options.out,
    size: 'image',
    normalize: { kind: 'zscore', epsilon: 1e-6 },
    activation: 'sigmoid',
    binarize: 0.5,
    quiet: options.quiet,
    logger: options.logger,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  finishRun(result, files, 'demo: ');
}
