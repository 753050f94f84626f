import { describe, expect, it } from 'vitest';
import {
  explain,
  Logger,
  ModelRunner,
  type Backend,
  type ExplanationResult,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { GraphBuilder, stepModel } from './onnx-builder.ts';

const size = { height: 24, width: 24 };
const roi = { top: 8, left: 8, height: 8, width: 8 };
const helper = { top: 0, left: 16, height: 8, width: 8 };
const hinderer = { top: 16, left: 0, height: 8, width: 8 };

function image() {
  const data = new Float32Array(576).fill(0.2);
  for (const region of [helper, hinderer]) {
    for (let y = region.top; y < region.top + region.height; y++)
      data.fill(1, y * 24 + region.left, y * 24 + region.left + 8);
  }
  return { channels: 1, ...size, data };
}

async function explainWith(backend: Backend, withMask: boolean): Promise<ExplanationResult> {
  const model = await ModelRunner.load({
    bytes: stepModel({ ...size, roi, helper, hinderer, level: 0.5 }),
    name: 'step.onnx',
    runtimes: nodeRuntimes(),
    backend,
    imageSize: size,
    maxBatchSize: 8,
    logger: new Logger('silent'),
  });
  const mask = { channels: 1, ...size, data: new Float32Array(576) };
  for (let y = roi.top; y < roi.top + roi.height; y++)
    mask.data.fill(1, y * 24 + roi.left, y * 24 + roi.left + 8);
  try {
    return await explain({
      model,
      image: image(),
      ...(withMask ? { mask } : {}),
      roi,
      block: { height: 8, width: 8 },
      patchBank: {
        count: 2,
        channels: 1,
        height: 8,
        width: 8,
        data: new Float32Array(128).fill(0.1),
      },
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
