// The core's browser tier: the explainer on onnxruntime-web in Chromium, wasm and WebGPU.
import {
  browserRuntimes,
  explain,
  Logger,
  ModelRunner,
  type Backend,
  type ExplanationResult,
} from '../../src/index.ts';
import { BLOCK, sceneBank, sceneImage, sceneModel, SMALL_SCENE } from '../step-scenario.ts';

const scene = SMALL_SCENE;

async function explainOn(backend: Backend): Promise<ExplanationResult> {
  const model = await ModelRunner.load({
    bytes: sceneModel(scene, true),
    name: 'step.onnx',
    runtimes: browserRuntimes(),
    backend,
    imageSize: { height: scene.height, width: scene.width },
    maxBatchSize: 8,
    logger: new Logger('silent'),
  });
  try {
    // Per-image z-score and a sigmoid: the statistics kernel and the activation on the GPU path.
    return await explain({
      model,
      image: sceneImage(scene),
      roi: scene.roi,
      block: { height: BLOCK, width: BLOCK },
      patchBank: sceneBank(2, 0),
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
