/**
 * A scene whose block effects are known exactly, shared by the tests: a step model (see
 * `stepModel`) on an image that is 1 in the two driving blocks and below the step level
 * elsewhere, a ground-truth mask that fills the RoI, and patch banks whose patches either flip
 * the step (below the level) or do not.
 */
import type { PatchBank, PlanarImage, Region } from '@pdcr/kernels';
import { stepModel } from './onnx-builder.ts';

export const BLOCK = 8;
export const LEVEL = 0.5;

export interface StepScenario {
  readonly height: number;
  readonly width: number;
  readonly roi: Region;
  /** The block whose replacement below the level turns the RoI's left half off. */
  readonly helper: Region;
  /** The block whose replacement below the level turns the RoI's right half on. */
  readonly hinderer: Region;
}

/** 40 x 48, the driving blocks off the diagonal so that swapped rows and columns would show. */
export const WIDE_SCENE: StepScenario = {
  height: 40,
  width: 48,
  roi: { top: 16, left: 24, height: 8, width: 16 },
  helper: { top: 8, left: 32, height: 8, width: 8 },
  hinderer: { top: 32, left: 0, height: 8, width: 8 },
};

/** 24 x 24 with a square RoI, small enough for the slow backends. */
export const SMALL_SCENE: StepScenario = {
  height: 24,
  width: 24,
  roi: { top: 8, left: 8, height: 8, width: 8 },
  helper: { top: 0, left: 16, height: 8, width: 8 },
  hinderer: { top: 16, left: 0, height: 8, width: 8 },
};

export function sceneModel(scene: StepScenario, fixedBatch = false): Uint8Array {
  return stepModel({ ...scene, level: LEVEL, fixedBatch });
}

function fill(image: PlanarImage, region: Region, value: number): void {
  for (let y = region.top; y < region.top + region.height; y++) {
    image.data.fill(
      value,
      y * image.width + region.left,
      y * image.width + region.left + region.width,
    );
  }
}

/** 1 in both driving blocks, a fixed pattern below the level elsewhere. */
export function sceneImage(scene: StepScenario): PlanarImage {
  const image = {
    channels: 1,
    height: scene.height,
    width: scene.width,
    data: new Float32Array(scene.height * scene.width),
  };
  image.data.forEach((_, i) => (image.data[i] = ((i * 7919) % 97) / 400));
  fill(image, scene.helper, 1);
  fill(image, scene.hinderer, 1);
  return image;
}

/** Ground truth: the RoI, all foreground. */
export function sceneMask(scene: StepScenario): PlanarImage {
  const mask = {
    channels: 1,
    height: scene.height,
    width: scene.width,
    data: new Float32Array(scene.height * scene.width),
  };
  fill(mask, scene.roi, 1);
  return mask;
}

/** `low` patches below the level (they flip the step), then `high` patches above it. */
export function sceneBank(low: number, high: number): PatchBank {
  const data = new Float32Array((low + high) * BLOCK * BLOCK);
  for (let p = 0; p < low + high; p++) {
    data.fill(p < low ? 0.1 + 0.01 * p : 0.9, p * BLOCK * BLOCK, (p + 1) * BLOCK * BLOCK);
  }
  return { count: low + high, channels: 1, height: BLOCK, width: BLOCK, data };
}

/**
 * Exact effects against the mask, with activation none and binarisation at 0: at base the RoI's
 * left half is predicted, so Dice = 2 (n/2) / (n/2 + n + 1e-10); flipping the helper predicts
 * nothing (Dice 0), flipping the hinderer predicts the whole RoI (Dice 100, up to the 1e-10).
 */
export function exactEffects(scene: StepScenario): {
  baseDice: number;
  helperFlipped: number;
  hindererFlipped: number;
} {
  const n = scene.roi.height * scene.roi.width;
  const predicted = scene.roi.height * Math.floor(scene.roi.width / 2);
  const baseDice = (100 * 2 * predicted) / (predicted + n + 1e-10);
  return {
    baseDice,
    helperFlipped: -baseDice,
    hindererFlipped: (100 * 2 * n) / (2 * n + 1e-10) - baseDice,
  };
}
