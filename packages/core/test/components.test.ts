import type { PlanarImage } from '@pdcr/kernels';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import {
  analyseComponents,
  candidateTensors,
  ComponentError,
  ComponentNetwork,
  Logger,
  modelInput,
  ModelRunner,
  naturalCrops,
  SeededRandom,
  type ComponentAnalysisOptions,
  type ComponentEffect,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { GraphBuilder } from './onnx-builder.ts';

const { onnx } = onnxProto;

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

/** Runs `use` with the two-channel model loaded, and releases the model however it ends. */
async function withModel<T>(use: (runner: ModelRunner, bytes: Uint8Array) => Promise<T>) {
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
  try {
    return await use(runner, bytes);
  } finally {
    await runner.release();
  }
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

  it('lists the layers with their shapes, and reads no values without natural inputs', async () => {
    const network = await withModel((runner, bytes) =>
      ComponentNetwork.open(runner, bytes, nodeRuntimes(), analysed.data),
    );
    expect(network.tensors.map((tensor) => [tensor.operator, tensor.shape])).toEqual([
      ['Conv', [2, SIZE, SIZE]],
      ['Slice', [1, SIZE, SIZE]],
      ['Add', [1, SIZE, SIZE]],
    ]);
    const values = await network.tensorValues(network.tensors, []);
    expect([...values.values()].map((value) => value.length)).toEqual([0, 0, 0]);
  });

  it('gives the signal channel its known effect and the unused one zero, by resampling', async () => {
    const result = await withModel((runner, bytes) =>
      analyseComponents(options(runner, bytes, {})),
    );
    expect(result.baseScore).toBeCloseTo(100, 6);
    expect(result.components.map((effect) => effect.component)).toEqual(['conv_2[0]', 'conv_2[1]']);
    const signal = byName(result.components, 'conv_2[0]');
    expect(signal.ate).toBe(halfEffect);
    expect(signal.significant).toBe(true);
    expect([signal.ciLow, signal.ciHigh]).toEqual([halfEffect, halfEffect]);
    // Three natural images: each component gets each once, in one round, and no more.
    expect(signal.n).toBe(naturals.length);
    const unused = byName(result.components, 'conv_2[1]');
    expect(unused).toMatchObject({ ate: 0, meanEffect: 0, significant: false, n: 3 });
    expect(result.parameters).toMatchObject({ samples: 3, samplesAsked: 16, round: 3 });
    expect(result.forwardPasses).toBe(2 + naturals.length + 1 + 2 * naturals.length);
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

  it('gives a component every natural image once at most, however many draws are asked', async () => {
    // Channel 0 from these: half the RoI predicted, all of it, none of it.
    const distinct = [image(0.7, 0.1, () => 0), image(0.7, 0.7, () => 0), image(0.1, 0.1, () => 0)];
    const result = await withModel((runner, bytes) =>
      analyseComponents(options(runner, bytes, { naturalImages: distinct, samples: 12, round: 2 })),
    );
    // Rounds of 2 fit once in 3 images: 2 draws, two different images of the three.
    expect(result.parameters).toMatchObject({ samples: 2, samplesAsked: 12, round: 2 });
    const signal = byName(result.components, 'conv_2[0]');
    expect(signal.n).toBe(2);
    const pairMeans = [
      [halfEffect, 0],
      [halfEffect, -100],
      [0, -100],
    ].map(([a, b]) => (a! + b!) / 2);
    expect(pairMeans).toContainEqual(signal.meanEffect);
    expect(signal.se).toBeGreaterThan(0);
  });

  it('gives the known effects of the mean and zero ablations, channel and tensor', async () => {
    const { mean, zero, tensor } = await withModel(async (runner, bytes) => {
      const everyTensor: ComponentAnalysisOptions = {
        ...options(runner, bytes, { intervention: 'zero', granularity: 'tensor' }),
      };
      delete (everyTensor as { select?: string }).select;
      return {
        mean: await analyseComponents(options(runner, bytes, { intervention: 'mean' })),
        zero: await analyseComponents(options(runner, bytes, { intervention: 'zero' })),
        tensor: await analyseComponents(everyTensor),
      };
    });
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

  it('calls an ablation significant at the threshold and not below it, as the zero preset does', async () => {
    // Zeros in channel 0 take the Dice from 100 to 0: an effect of exactly -100. The block
    // ablation (estimateZero) calls |effect| >= threshold; components read the same.
    const [atThreshold, aboveThreshold] = await withModel(async (runner, bytes) => [
      await analyseComponents(options(runner, bytes, { intervention: 'zero', threshold: 100 })),
      await analyseComponents(options(runner, bytes, { intervention: 'zero', threshold: 100.5 })),
    ]);
    expect(byName(atThreshold!.components, 'conv_2[0]')).toMatchObject({
      meanEffect: -100,
      ate: -100,
      significant: true,
    });
    expect(byName(aboveThreshold!.components, 'conv_2[0]')).toMatchObject({
      meanEffect: -100,
      ate: 0,
      significant: false,
    });
  });

  it('rounds the default draws down to whole rounds, and refuses given draws that are not', async () => {
    // 20 natural images hold the default 16 draws, which are not whole rounds of 5.
    const many = Array.from({ length: 20 }, (_, k) =>
      image(0.7, 0.1, (i) => ((i * (k + 3)) % 100) / 100),
    );
    const { defaulted, given } = await withModel(async (runner, bytes) => ({
      defaulted: await analyseComponents(options(runner, bytes, { naturalImages: many, round: 5 })),
      given: await analyseComponents(
        options(runner, bytes, { naturalImages: many, round: 5, samples: 16 }),
      ).catch((error: unknown) => error),
    }));
    expect(defaulted.parameters).toMatchObject({ samples: 15, samplesAsked: 16, round: 5 });
    // Every draw of channel 0 halves the Dice: settled after its first round of 5.
    expect(byName(defaulted.components, 'conv_2[0]')).toMatchObject({
      ate: halfEffect,
      n: 5,
      significant: true,
    });
    expect(given).toBeInstanceOf(ComponentError);
    expect((given as ComponentError).input).toBe('samples');
    expect((given as ComponentError).message).toBe(
      'samples: 16 is not a whole number of rounds of 5 draws; give a multiple of 5',
    );
  });

  it('leaves the output bit for bit unchanged where nothing is replaced', async () => {
    await withModel(async (runner, bytes) => {
      const network = await ComponentNetwork.open(runner, bytes, nodeRuntimes(), analysed.data);
      const edited = await network.intervenable(network.tensors);
      try {
        const batch = new Float32Array(4 * SIZE * SIZE);
        naturals
          .concat([analysed])
          .forEach((natural, i) => batch.set(natural.data, i * SIZE * SIZE));
        const replacements = network.tensors.map((tensor) => ({
          tensor,
          values: new Float32Array(4 * tensor.size).map((_, i) => Math.sin(i) * 7),
          select: new Float32Array(4 * tensor.channels),
        }));
        const output = await edited.run(batch, 4, replacements);
        expect(output).toEqual(await runner.run(batch, 4));
      } finally {
        await edited.release();
      }
    });
  });

  it('lists no unfinished component when interrupted before any draw', async () => {
    const interrupted = await withModel((runner, bytes) =>
      analyseComponents(options(runner, bytes, { signal: AbortSignal.abort() })),
    );
    expect(interrupted.complete).toBe(false);
    expect(interrupted.components).toEqual([]);
  });

  it('names the input it rejects', async () => {
    await withModel(async (runner, bytes) => {
      const rejected = async (overrides: Partial<ComponentAnalysisOptions>) =>
        analyseComponents(options(runner, bytes, overrides)).catch((error: unknown) => error);
      const noMatch = await rejected({ select: 'LSTM' });
      expect(noMatch).toBeInstanceOf(ComponentError);
      expect((noMatch as ComponentError).input).toBe('select');
      expect(((await rejected({ select: '(' })) as ComponentError).input).toBe('select');
      const granularity = { granularity: 'layer' } as unknown as Partial<ComponentAnalysisOptions>;
      expect(((await rejected(granularity)) as ComponentError).input).toBe('granularity');
      expect(((await rejected({ naturalImages: [] })) as ComponentError).input).toBe('natural');
      // One natural sample is one draw per component: no spread, no interval.
      const one = await rejected({ naturalImages: naturals.slice(0, 1) });
      expect(one).toBeInstanceOf(ComponentError);
      expect((one as ComponentError).input).toBe('natural');
      expect((one as ComponentError).message).toMatch(/at least 2 natural samples.*got 1/);
    });
  });

  it('preprocesses natural images as explain preprocesses its batches', () => {
    const input = modelInput(analysed, { kind: 'meanStd', mean: [0.5], std: [0.25] });
    expect(input[0]).toBeCloseTo((analysed.data[0]! - 0.5) / 0.25, 6);
    expect(input[SIZE * SIZE - 1]).toBeCloseTo((analysed.data[SIZE * SIZE - 1]! - 0.5) / 0.25, 6);
  });
});

/** A 1-channel image whose pixel at (y, x) is `y * width + x`: a crop names its position. */
function numbered(height: number, width: number): PlanarImage {
  const data = Float32Array.from({ length: height * width }, (_, i) => i);
  return { channels: 1, height, width, data };
}

const cropPlace = (crop: PlanarImage, width: number) => ({
  top: Math.floor(crop.data[0]! / width),
  left: crop.data[0]! % width,
});

describe('natural crops', () => {
  it('takes one sample from a source of exactly the crop size, never copies of it', () => {
    const source = numbered(8, 8);
    const error = (() => {
      try {
        naturalCrops([source], 16, 8, 8, new SeededRandom(0));
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(ComponentError);
    expect((error as ComponentError).input).toBe('natural');
    expect((error as ComponentError).message).toMatch(/only 1 distinct 8x8 crops/);
    const [only, ...rest] = naturalCrops([source], 1, 8, 8, new SeededRandom(0));
    expect(rest).toEqual([]);
    expect(only!.data).toEqual(source.data);
  });

  it('takes a source smaller than the crop once, resized whole', () => {
    const small = numbered(4, 4);
    expect(naturalCrops([small], 1, 8, 8, new SeededRandom(0))).toHaveLength(1);
    expect(() => naturalCrops([small], 2, 8, 8, new SeededRandom(0))).toThrow(ComponentError);
  });

  it('takes every position once at most, and none overlapping the excluded region', () => {
    // 17 x 17 positions of a 4x4 crop in 20x20; 7 x 7 of them overlap 8,8,4,4.
    const source = numbered(20, 20);
    const excluded = { top: 8, left: 8, height: 4, width: 4 };
    const exclude = { source: 0, region: excluded };
    const crops = naturalCrops([source], 240, 4, 4, new SeededRandom(3), exclude);
    const places = crops.map((crop) => cropPlace(crop, 20));
    expect(new Set(places.map(({ top, left }) => `${top},${left}`)).size).toBe(240);
    for (const { top, left } of places) {
      expect(top >= 0 && top <= 16 && left >= 0 && left <= 16).toBe(true);
      const overlapping = top > 4 && top < 12 && left > 4 && left < 12;
      expect(overlapping).toBe(false);
    }
    expect(() => naturalCrops([source], 241, 4, 4, new SeededRandom(3), exclude)).toThrow(
      /only 240 distinct 4x4 crops/,
    );
  });

  it('says what to give when every crop of the only source overlaps the analysed region', () => {
    const whole = { top: 0, left: 0, height: 8, width: 8 };
    expect(() =>
      naturalCrops([numbered(8, 8)], 16, 8, 8, new SeededRandom(0), { source: 0, region: whole }),
    ).toThrow(/give --crop, --natural-from, or --intervention zero$/);
  });
});

describe('candidate tensors', () => {
  it('leaves out a tensor read inside a subgraph, which the edit could not rewire', () => {
    const graph = new GraphBuilder();
    const features = graph.node('Relu', ['image']);
    const scaled = graph.node('Mul', [features, graph.floats([2], [1])]);
    const keepdims = { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 };
    const peak = graph.node('ReduceMax', ['image'], [keepdims]);
    const condition = graph.node('Greater', [peak, graph.floats([0.5], [])]);
    const branch = (name: string, read: string) => {
      const output = `${name}_out`;
      return {
        name,
        type: onnx.AttributeProto.AttributeType.GRAPH,
        g: {
          name,
          node: [{ opType: 'Identity', input: [read], output: [output], name: output }],
          output: [{ name: output, type: { tensorType: { elemType: 1 } } }],
        },
      };
    };
    // Replacing `features` would reach its main-graph reader (Mul), not the then-branch.
    const chosen = graph.node(
      'If',
      [condition],
      [branch('then_branch', features), branch('else_branch', scaled)],
    );
    const map = graph.node('Add', [chosen, graph.floats([0], [1])]);
    const size = { channels: 1, height: SIZE, width: SIZE };
    const bytes = graph.build(map, size, size);
    const names = candidateTensors(bytes, 'if.onnx', 'image').map((tensor) => tensor.name);
    expect(names).toEqual([peak, condition, chosen, map]);
    expect(names).not.toContain(features);
    expect(names).not.toContain(scaled);
  });
});
