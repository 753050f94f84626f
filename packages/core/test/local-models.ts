/**
 * Small fully convolutional models built for the tests, linear (no ReLU, average pools) so that
 * every pixel their receptive field holds changes the output, with the graph features the field
 * reading handles: asymmetric pads, strides, a dilation, resizes of both kinds, a transposed conv
 * and a skip connection.
 */
import { SeededRandom } from '../src/index.ts';
import { GraphBuilder } from './onnx-builder.ts';

export const SIZE = 48;
const INT_ATTRIBUTE = 2;
const STRING_ATTRIBUTE = 3;
const INTS_ATTRIBUTE = 7;

const ints = (name: string, values: number[]) => ({
  name,
  type: INTS_ATTRIBUTE,
  ints: values,
});
export const int = (name: string, value: number) => ({ name, type: INT_ATTRIBUTE, i: value });
const text = (name: string, value: string) => ({
  name,
  type: STRING_ATTRIBUTE,
  s: new TextEncoder().encode(value),
});

/** Weights in [-1, 1) with no zero, so that every path through a conv carries a change. */
function weights(random: SeededRandom, count: number): number[] {
  return Array.from({ length: count }, () => (random.integer(1000) + 0.5) / 500 - 1);
}

function conv(
  graph: GraphBuilder,
  random: SeededRandom,
  input: string,
  channels: [number, number],
  kernel: number,
  attributes: { pads?: number[]; strides?: number; dilation?: number; autoPad?: string } = {},
): string {
  const [from, to] = channels;
  return graph.node(
    'Conv',
    [input, graph.floats(weights(random, to * from * kernel * kernel), [to, from, kernel, kernel])],
    [
      ...(attributes.autoPad
        ? [text('auto_pad', attributes.autoPad)]
        : [ints('pads', attributes.pads ?? [0, 0, 0, 0])]),
      ints('strides', [attributes.strides ?? 1, attributes.strides ?? 1]),
      ints('dilations', [attributes.dilation ?? 1, attributes.dilation ?? 1]),
    ],
  );
}

/**
 * Conv, average pool, dilated conv, nearest 2x resize and a skip connection, from `input`; the
 * same weights every time.
 */
export function poolResizeSkip(graph: GraphBuilder, input: string): string {
  const random = new SeededRandom(1);
  const first = conv(graph, random, input, [1, 2], 3, { pads: [1, 0, 1, 2] });
  const pooled = graph.node(
    'AveragePool',
    [first],
    [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])],
  );
  const dilated = conv(graph, random, pooled, [2, 2], 3, { pads: [2, 2, 2, 2], dilation: 2 });
  const up = graph.node(
    'Resize',
    [dilated, '', graph.floats([1, 1, 2, 2], [4])],
    [
      text('mode', 'nearest'),
      text('coordinate_transformation_mode', 'asymmetric'),
      text('nearest_mode', 'floor'),
    ],
  );
  const joined = graph.node('Concat', [first, up], [int('axis', 1)]);
  return conv(graph, random, joined, [4, 1], 1);
}

/** A random image of the models' size and a bank of 64 random 4 x 4 patches, values in [0, 1). */
export function randomScene(seed: number) {
  const random = new SeededRandom(seed);
  const image = {
    channels: 1,
    height: SIZE,
    width: SIZE,
    data: Float32Array.from({ length: SIZE * SIZE }, () => random.integer(1000) / 1000),
  };
  const patchBank = {
    count: 64,
    channels: 1,
    height: 4,
    width: 4,
    data: Float32Array.from({ length: 64 * 16 }, () => random.integer(1000) / 1000),
  };
  return { image, patchBank };
}

/** The models, by what they hold; each takes and gives 1 x H x W at any size. */
export const LOCAL_MODELS: Record<string, () => Uint8Array> = {
  'conv, pool, dilated conv, nearest resize, skip': () => {
    const graph = new GraphBuilder();
    const size = { channels: 1, height: 'H', width: 'W' };
    return graph.build(poolResizeSkip(graph, 'image'), size, size);
  },
  'strided conv, transposed conv, linear resize': () => {
    const random = new SeededRandom(2);
    const graph = new GraphBuilder();
    const down = conv(graph, random, 'image', [1, 2], 3, { pads: [1, 1, 1, 1], strides: 2 });
    const downAgain = conv(graph, random, down, [2, 2], 3, { autoPad: 'SAME_UPPER' });
    const pooled = graph.node(
      'AveragePool',
      [downAgain],
      [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])],
    );
    const up = graph.node(
      'ConvTranspose',
      [pooled, graph.floats(weights(random, 2 * 2 * 2 * 2), [2, 2, 2, 2])],
      [ints('strides', [2, 2]), ints('kernel_shape', [2, 2])],
    );
    const smooth = graph.node(
      'Resize',
      [up, '', graph.floats([1, 1, 2, 2], [4])],
      [text('mode', 'linear'), text('coordinate_transformation_mode', 'half_pixel')],
    );
    const scaled = graph.node('Mul', [smooth, graph.floats([0.5, 2], [1, 2, 1, 1])]);
    const out = conv(graph, random, scaled, [2, 1], 3, { pads: [1, 1, 1, 1] });
    const size = { channels: 1, height: 'H', width: 'W' };
    return graph.build(out, size, size);
  },
};
