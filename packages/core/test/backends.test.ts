import { describe, expect, it } from 'vitest';
import {
  explain,
  Logger,
  ModelRunner,
  type Backend,
  type ExplanationResult,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { GraphBuilder } from './onnx-builder.ts';
import { sceneBank, sceneImage, sceneMask, sceneModel, SMALL_SCENE } from './step-scenario.ts';

const scene = SMALL_SCENE;
const size = { height: scene.height, width: scene.width };
const { helper, hinderer } = scene;

async function explainWith(backend: Backend, withMask: boolean): Promise<ExplanationResult> {
  const model = await ModelRunner.load({
    bytes: sceneModel(scene),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend,
    imageSize: size,
    maxBatchSize: 8,
    logger: new Logger('silent'),
  });
  const mask = sceneMask(scene);
  try {
    return await explain({
      model,
      image: sceneImage(scene),
      ...(withMask ? { mask } : {}),
      roi: scene.roi,
      block: { height: 8, width: 8 },
      patchBank: sceneBank(2, 0),
      preprocessing: { kind: 'none' },
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'paper',
      samples: 5,
      seed: 2,
    });
  } finally {
    await model.release();
  }
}

describe('backends and references', () => {
  it('gives the same map on onnxruntime-web (wasm) as on onnxruntime-node (cpu)', async () => {
    const cpu = await explainWith('cpu', true);
    const wasm = await explainWith('wasm', true);
    expect(wasm.backend).toBe('wasm');
    expect(wasm.blocks).toEqual(cpu.blocks);
    expect(wasm.baseScore).toBe(cpu.baseScore);
  });

  it("takes the model's own prediction as the reference when no mask is given", async () => {
    const result = await explainWith('cpu', false);
    expect(result.outcome.reference).toBe('prediction');
    // The prediction is its own reference: the base Dice is 100 up to the 1e-10 smoothing.
    expect(result.baseScore).toBeCloseTo(100, 6);
    expect(
      result.blocks.filter((block) => block.significant).map(({ top, left }) => [top, left]),
    ).toEqual([
      [helper.top, helper.left],
      [hinderer.top, hinderer.left],
    ]);
  });

  it('runs one image at a time, with a warning, when batching changes the output', async () => {
    // Each image divided by the mean over the whole batch: a batch of two is not two single runs.
    const graph = new GraphBuilder();
    const batchMean = graph.node(
      'ReduceMean',
      ['image'],
      [{ name: 'axes', type: 7, ints: [0, 1, 2, 3] }],
    );
    const bytes = graph.build(
      graph.node('Div', ['image', batchMean]),
      { channels: 1, ...size },
      { channels: 1, ...size },
      1,
    );
    const warnings: string[] = [];
    const model = await ModelRunner.load({
      bytes,
      name: 'batch-norm.onnx',
      runtimes: nodeRuntimes(),
      backend: 'cpu',
      imageSize: size,
      maxBatchSize: 8,
      logger: new Logger('warn', (_, message) => warnings.push(message)),
    });
    expect(model.maxBatchSize).toBe(1);
    expect(warnings).toEqual([
      'batch-norm.onnx: a batch of two does not give what two single runs give; running one image at a time',
    ]);
    await model.release();
  });
});
