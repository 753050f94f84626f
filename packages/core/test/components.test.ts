import type { PlanarImage } from '@pdcr/kernels';
import { describe, expect, it } from 'vitest';
import {
  analyseComponents,
  ComponentError,
  ComponentNetwork,
  Logger,
  modelInput,
  ModelRunner,
  type ComponentAnalysisOptions,
  type ComponentEffect,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { GraphBuilder } from './onnx-builder.ts';

const SIZE = 8;
const ROI = { top: 2, left: 2, height: 4, width: 4 };
const logger = new Logger('silent');

/**
 * A two-layer model whose first layer, a 1x1 convolution, writes the image into channel 0 and
 * 3 x image + 0.1 into channel 1; the second keeps channel 0 alone and subtracts 0.5. Channel 0
 * carries the whole signal to the output, channel 1 nothing.
 */
function twoChannelModel(): Uint8Array {
  const graph = new GraphBuilder();
  const features = graph.node('Conv', [
    'image',
    graph.floats([1, 3], [2, 1, 1, 1]),
    graph.floats([0, 0.1], [2]),
  ]);
  const kept = graph.node('Slice', [features, graph.ints([0]), graph.ints([1]), graph.ints([1])]);
  const map = graph.node('Add', [kept, graph.floats([-0.5], [1])]);
  const size = { channels: 1, height: SIZE, width: SIZE };
  return graph.build(map, size, size);
}

/** An image whose RoI holds `left` in its left half and `right` in its right half. */
function image(left: number, right: number, outside: (i: number) => number): PlanarImage {
  const data = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inRoi =
        y >= ROI.top && y < ROI.top + ROI.height && x >= ROI.left && x < ROI.left + ROI.width;
      data[y * SIZE + x] = !inRoi ? outside(y * SIZE + x) : x < ROI.left + 2 ? left : right;
    }
  }
  return { channels: 1, height: SIZE, width: SIZE, data };
}

const roiMask: PlanarImage = { ...image(1, 1, () => 0) };
const analysed = image(0.9, 0.9, (i) => ((i * 37) % 100) / 100);
// Every natural image keeps the RoI's left half above 0.5 and its right half below, whatever
// else it holds; their mean does too.
const naturals = [
  image(0.7, 0.1, (i) => ((i * 13) % 100) / 100),
  image(0.8, 0.2, (i) => ((i * 29) % 100) / 100),
  image(0.9, 0.3, (i) => ((i * 41) % 100) / 100),
];

async function loadModel(): Promise<{ runner: ModelRunner; bytes: Uint8Array }> {
  const bytes = twoChannelModel();
  const runner = await ModelRunner.load({
    bytes,
    name: 'two-channel.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: SIZE, width: SIZE },
    maxBatchSize: 4,
    logger,
  });
  return { runner, bytes };
}

function options(
  runner: ModelRunner,
  bytes: Uint8Array,
  overrides: Partial<ComponentAnalysisOptions>,
): ComponentAnalysisOptions {
  return {
    model: runner,
    modelBytes: bytes,
    runtimes: nodeRuntimes(),
    image: analysed,
    mask: roiMask,
    roi: ROI,
    preprocessing: { kind: 'none' },
    outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
    select: '^Conv$',
    granularity: 'channel',
    intervention: 'resample',
    naturalImages: naturals,
    seed: 5,
    ...overrides,
  };
}

const byName = (effects: readonly ComponentEffect[], name: string) =>
  effects.find((effect) => effect.component === name)!;

describe('component analysis on a model whose channels are known', () => {
  // Base: the whole RoI is predicted and true, Dice 100. Channel 0 replaced by a natural
  // image's (or their mean): the left half alone is predicted, Dice 2 x 8 / (8 + 16) x 100.
  const halfDice = Math.fround((100 * 2 * 8) / (8 + 16 + 1e-10));
  const halfEffect = Math.fround(halfDice - 100);

  it('lists the layers with their shapes', async () => {
    const { runner, bytes } = await loadModel();
    const network = await ComponentNetwork.open(runner, bytes, nodeRuntimes(), analysed.data);
    await runner.release();
    expect(network.tensors.map((tensor) => [tensor.operator, tensor.shape])).toEqual([
      ['Conv', [2, SIZE, SIZE]],
      ['Slice', [1, SIZE, SIZE]],
      ['Add', [1, SIZE, SIZE]],
    ]);
  });

  it('gives the signal channel its known effect and the unused one zero, by resampling', async () => {
    const { runner, bytes } = await loadModel();
    const result = await analyseComponents(options(runner, bytes, {}));
    await runner.release();
    expect(result.baseScore).toBeCloseTo(100, 6);
    expect(result.components.map((effect) => effect.component)).toEqual(['conv_2[0]', 'conv_2[1]']);
    const signal = byName(result.components, 'conv_2[0]');
    expect(signal.ate).toBe(halfEffect);
    expect(signal.significant).toBe(true);
    expect([signal.ciLow, signal.ciHigh]).toEqual([halfEffect, halfEffect]);
    // Every draw gives the same effect: settled after the first round of 4.
    expect(signal.n).toBe(4);
    const unused = byName(result.components, 'conv_2[1]');
    expect(unused).toMatchObject({ ate: 0, meanEffect: 0, significant: false, n: 4 });
    expect(result.forwardPasses).toBe(2 + naturals.length + 1 + 8);
    expect(result.layers).toEqual([
      {
        tensor: 'conv_2',
        operator: 'Conv',
        channels: 2,
        analysed: 2,
        significantChannels: 1,
        totalAte: halfEffect,
        strongest: { channel: 0, ate: halfEffect },
      },
    ]);
  });

  it('gives the known effects of the mean and zero ablations, channel and tensor', async () => {
    const { runner, bytes } = await loadModel();
    const mean = await analyseComponents(options(runner, bytes, { intervention: 'mean' }));
    const zero = await analyseComponents(options(runner, bytes, { intervention: 'zero' }));
    const everyTensor: ComponentAnalysisOptions = {
      ...options(runner, bytes, { intervention: 'zero', granularity: 'tensor' }),
    };
    delete (everyTensor as { select?: string }).select;
    const tensor = await analyseComponents(everyTensor);
    await runner.release();
    expect(byName(mean.components, 'conv_2[0]')).toMatchObject({ ate: halfEffect, n: 1 });
    expect(byName(mean.components, 'conv_2[1]')).toMatchObject({ ate: 0, n: 1 });
    // Zeros in channel 0: every output is -0.5, nothing is predicted, Dice 0.
    expect(byName(zero.components, 'conv_2[0]')).toMatchObject({ ate: -100, significant: true });
    expect(byName(zero.components, 'conv_2[1]')).toMatchObject({ ate: 0, significant: false });
    expect(tensor.components.map((effect) => [effect.component, effect.ate])).toEqual([
      ['conv_2', -100],
      ['slice_6', -100],
      ['add_8', -100],
    ]);
  });

  it('leaves the output bit for bit unchanged where nothing is replaced', async () => {
    const { runner, bytes } = await loadModel();
    const network = await ComponentNetwork.open(runner, bytes, nodeRuntimes(), analysed.data);
    const edited = await network.intervenable(network.tensors);
    const batch = new Float32Array(4 * SIZE * SIZE);
    naturals.concat([analysed]).forEach((natural, i) => batch.set(natural.data, i * SIZE * SIZE));
    const replacements = network.tensors.map((tensor) => ({
      tensor,
      values: new Float32Array(4 * tensor.size).map((_, i) => Math.sin(i) * 7),
      select: new Float32Array(4 * tensor.channels),
    }));
    const output = await edited.run(batch, 4, replacements);
    expect(output).toEqual(await runner.run(batch, 4));
    await edited.release();
    await runner.release();
  });

  it('lists no unfinished component when interrupted before any draw', async () => {
    const { runner, bytes } = await loadModel();
    const interrupted = await analyseComponents(
      options(runner, bytes, { signal: AbortSignal.abort() }),
    );
    await runner.release();
    expect(interrupted.complete).toBe(false);
    expect(interrupted.components).toEqual([]);
  });

  it('names the input it rejects', async () => {
    const { runner, bytes } = await loadModel();
    const rejected = async (overrides: Partial<ComponentAnalysisOptions>) =>
      analyseComponents(options(runner, bytes, overrides)).catch((error: unknown) => error);
    const noMatch = await rejected({ select: 'LSTM' });
    expect(noMatch).toBeInstanceOf(ComponentError);
    expect((noMatch as ComponentError).input).toBe('select');
    expect(((await rejected({ select: '(' })) as ComponentError).input).toBe('select');
    const granularity = { granularity: 'layer' } as unknown as Partial<ComponentAnalysisOptions>;
    expect(((await rejected(granularity)) as ComponentError).input).toBe('granularity');
    expect(((await rejected({ naturalImages: [] })) as ComponentError).input).toBe('natural');
    await runner.release();
  });

  it('preprocesses natural images as explain preprocesses its batches', () => {
    const input = modelInput(analysed, { kind: 'meanStd', mean: [0.5], std: [0.25] });
    expect(input[0]).toBeCloseTo((analysed.data[0]! - 0.5) / 0.25, 6);
    expect(input[SIZE * SIZE - 1]).toBeCloseTo((analysed.data[SIZE * SIZE - 1]! - 0.5) / 0.25, 6);
  });
});
