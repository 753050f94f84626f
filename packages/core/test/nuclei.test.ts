import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  cutPatchBank,
  explain,
  Logger,
  ModelRunner,
  relaxModelShapes,
  SeededRandom,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { dsbCrop, nucleiModelBytes } from './fixtures.ts';

const CROP = { top: 384, left: 96, height: 64, width: 64 };
const ROI = { top: 24, left: 24, height: 16, width: 16 };
const logger = new Logger('silent');

/** Per-image z-score as the model card asks: population std, epsilon 1e-6. */
function zscore(values: Float32Array): Float32Array {
  let mean = 0;
  for (const value of values) mean += value / values.length;
  let variance = 0;
  for (const value of values) variance += (value - mean) ** 2 / values.length;
  return values.map((value) => (value - mean) / (Math.sqrt(variance) + 1e-6));
}

async function explainCrop(runner: ModelRunner, seed: number) {
  const { image, mask } = await dsbCrop(CROP);
  const patchBank = cutPatchBank([image], 64, 8, 8, new SeededRandom(seed).fork('bank'), ROI);
  return explain({
    model: runner,
    image,
    mask,
    roi: ROI,
    block: { height: 8, width: 8 },
    patchBank,
    preprocessing: { kind: 'zscore', epsilon: 1e-6 },
    outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
    preset: 'paper',
    seed,
  });
}

describe('the nuclei U-Net on a crop of DSB2018', () => {
  it('relaxes its fixed batch, scores the base image as an independent computation does, and repeats bit for bit', async () => {
    const bytes = await nucleiModelBytes();
    const runner = await ModelRunner.load({
      bytes,
      name: 'unet2d-nuclei-broad.onnx',
      runtimes: nodeRuntimes(),
      backend: 'cpu',
      imageSize: CROP,
      size: 'image',
      maxBatchSize: 8,
      logger,
    });
    expect(runner.maxBatchSize).toBe(8);
    expect(runner.input).toEqual({ channels: 1, height: 64, width: 64 });

    // Independently: z-score, one onnxruntime-node run, sigmoid, threshold, Dice on the RoI.
    const { image, mask } = await dsbCrop(CROP);
    const session = await ort.InferenceSession.create(
      relaxModelShapes(bytes, 'nuclei', { relaxBatch: true, relaxSpatial: true }),
    );
    const input = new ort.Tensor('float32', zscore(image.data), [1, 1, 64, 64]);
    const logits = (await session.run({ 'input.1': input }))['82']!.data as Float32Array;
    let overlap = 0;
    let predicted = 0;
    let truth = 0;
    for (let y = ROI.top; y < ROI.top + ROI.height; y++) {
      for (let x = ROI.left; x < ROI.left + ROI.width; x++) {
        const p = 1 / (1 + Math.exp(-logits[y * 64 + x]!)) > 0.5 ? 1 : 0;
        const g = mask.data[y * 64 + x]! > 0 ? 1 : 0;
        overlap += p * g;
        predicted += p;
        truth += g;
      }
    }
    await session.release();
    const independentDice = (100 * 2 * overlap) / (predicted + truth + 1e-10);
    expect(independentDice).toBeGreaterThan(50);

    const first = await explainCrop(runner, 3);
    const second = await explainCrop(runner, 3);
    await runner.release();
    expect(first.baseScore).toBeCloseTo(independentDice, 4);
    expect(second.blocks).toEqual(first.blocks);
    expect(second.baseScore).toBe(first.baseScore);
    expect(first.blocks).toHaveLength(64 - 4);
    expect(first.summary.positive + first.summary.negative).toBeGreaterThan(0);
  });
});
