// The core's browser tier: the explainer on onnxruntime-web in Chromium, wasm and WebGPU.
import {
  browserRuntimes,
  explain,
  Logger,
  ModelRunner,
  type Backend,
  type ExplanationResult,
} from '../../src/index.ts';
import { stepModel } from '../onnx-builder.ts';

const size = { height: 24, width: 24 };
const roi = { top: 8, left: 8, height: 8, width: 8 };
const helper = { top: 0, left: 16, height: 8, width: 8 };
const hinderer = { top: 16, left: 0, height: 8, width: 8 };

async function explainOn(backend: Backend): Promise<ExplanationResult> {
  const data = new Float32Array(576).fill(0.2);
  for (const region of [helper, hinderer]) {
    for (let y = region.top; y < region.top + region.height; y++)
      data.fill(1, y * 24 + region.left, y * 24 + region.left + 8);
  }
  const model = await ModelRunner.load({
    bytes: stepModel({ ...size, roi, helper, hinderer, level: 0.5, fixedBatch: true }),
    name: 'step.onnx',
    runtimes: browserRuntimes(),
    backend,
    imageSize: size,
    maxBatchSize: 8,
    logger: new Logger('silent'),
  });
  try {
    return await explain({
      model,
      image: { channels: 1, ...size, data },
      roi,
      block: { height: 8, width: 8 },
      patchBank: {
        count: 2,
        channels: 1,
        height: 8,
        width: 8,
        data: new Float32Array(128).fill(0.1),
      },
      preprocessing: { kind: 'zscore', epsilon: 1e-6 },
      outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
      preset: 'paper',
      samples: 5,
      seed: 4,
    });
  } finally {
    await model.release();
  }
}

declare global {
  interface Window {
    explainOn(backend: Backend): Promise<ExplanationResult>;
  }
}

window.explainOn = explainOn;
