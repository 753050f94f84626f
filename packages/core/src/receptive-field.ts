/**
 * How far an output pixel of a fully convolutional model can see: the receptive field, read off
 * the ONNX graph. Where a model is made only of translation-equivariant local operators (convs,
 * pools, resizes by a fixed integer scale, pointwise operators and per-channel constants), the
 * model's output on an RoI is decided by a window of the image around it, and running the model
 * on that window gives the RoI's output at a fraction of the cost.
 *
 * Each spatial operator is described by the range of input indices that one output index reads
 * along an axis. The range is propagated backwards from one output pixel to the image, per axis
 * and for every phase of the model's largest stride, far from the borders; its widest reach
 * either way is the field. Anything the analysis does not know (global pooling, reductions,
 * reshapes, spatially varying constants, per-image normalisation) makes the model non-local,
 * with the operator named.
 */
import onnxProto from 'onnx-proto';
import { decodeModel } from './onnx-model.ts';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/** Input pixels an output pixel can depend on, beyond its own position, per side. */
export interface Reach {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

export type ReceptiveField =
  | {
      readonly local: true;
      readonly reach: Reach;
      /** The model's largest stride: a window starts on a multiple of it to see the same grid. */
      readonly alignment: number;
      /** The rows (axis 0) or columns (axis 1) of the image that output rows or columns
       * `first` to `last` read, before clipping to the image. */
      readonly span: (axis: 0 | 1, first: number, last: number) => Span;
    }
  | { readonly local: false; readonly reason: string };

/** Inclusive range of input indices along one axis. */
export type Span = readonly [number, number];
/** Input span one output index reads, along height (axis 0) or width (axis 1). */
type IndexMap = (index: number, axis: 0 | 1) => Span;

interface SpatialNode {
  readonly inputs: readonly string[];
  readonly output: string;
  readonly map: IndexMap;
}

/** Pointwise in space: elementwise maths, activations, per-channel affines, channel concats. */
const POINTWISE = new Set(
  (
    'Abs Add BatchNormalization Cast Ceil Celu Clip Concat Div Dropout Elu Erf Exp Floor Gelu ' +
    'HardSigmoid HardSwish Identity LeakyRelu Log Max Min Mish Mul Neg Pow PRelu Reciprocal Relu ' +
    'Round Selu Sigmoid Sign Softplus Softsign Sqrt Sub Sum Tanh ThresholdedRelu Where'
  ).split(' '),
);
/** Pointwise operators along every axis but the channel one. */
const CHANNEL_AXIS_OPERATORS = new Set(['Concat', 'Softmax', 'LogSoftmax', 'Split']);
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);
/** Operators whose constant inputs are parameters (bounds, affines, split sizes), not maps. */
const PARAMETER_INPUTS = new Set(['BatchNormalization', 'Clip', 'Split']);

class NonLocal extends Error {}

function attribute(node: NodeProto, name: string) {
  return node.attribute?.find((candidate) => candidate.name === name);
}

function ints(node: NodeProto, name: string): number[] | undefined {
  const found = attribute(node, name);
  return found?.ints?.length ? found.ints.map(Number) : undefined;
}

function text(node: NodeProto, name: string, fallback: string): string {
  const found = attribute(node, name);
  return found?.s?.length ? new TextDecoder().decode(found.s) : fallback;
}

/** A float constant's values (resize scales are floats by the ONNX spec). */
function floatValues(tensor: TensorProto): number[] {
  if (tensor.floatData?.length) return tensor.floatData.map(Number);
  const raw = tensor.rawData;
  if (!raw?.length || tensor.dataType !== onnx.TensorProto.DataType.FLOAT) return [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** True when a constant broadcasts the same value to every pixel of an N x C x H x W tensor. */
function spatiallyUniform(tensor: TensorProto): boolean {
  const dims = (tensor.dims ?? []).map(Number);
  if (dims.length <= 1) return (dims[0] ?? 1) === 1;
  return dims[dims.length - 1] === 1 && dims[dims.length - 2] === 1;
}

/** Conv and pools: index `o` reads `s o - p` to `s o - p + d (k - 1)`. */
function windowed(node: NodeProto, kernel: readonly number[]): { map: IndexMap; stride: number } {
  const strides = ints(node, 'strides') ?? [1, 1];
  const dilations = ints(node, 'dilations') ?? [1, 1];
  const autoPad = text(node, 'auto_pad', 'NOTSET');
  if (strides[0] !== strides[1]) throw new NonLocal(`${node.opType} with unequal strides`);
  let begin: number[];
  if (autoPad === 'NOTSET') {
    begin = (ints(node, 'pads') ?? [0, 0, 0, 0]).slice(0, 2);
  } else if (autoPad === 'VALID') {
    begin = [0, 0];
  } else if (strides[0] === 1) {
    const total = kernel.map((k, axis) => dilations[axis]! * (k - 1));
    begin = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
  } else {
    throw new NonLocal(
      `${node.opType} with ${autoPad} padding and a stride, whose pads depend on the size`,
    );
  }
  return {
    stride: strides[0]!,
    map: (o, axis) => {
      const start = strides[axis]! * o - begin[axis]!;
      return [start, start + dilations[axis]! * (kernel[axis]! - 1)];
    },
  };
}

function transposed(node: NodeProto, kernel: readonly number[]): { map: IndexMap; stride: number } {
  const strides = ints(node, 'strides') ?? [1, 1];
  const dilations = ints(node, 'dilations') ?? [1, 1];
  const begin = (ints(node, 'pads') ?? [0, 0, 0, 0]).slice(0, 2);
  if (strides[0] !== strides[1]) throw new NonLocal('ConvTranspose with unequal strides');
  if (text(node, 'auto_pad', 'NOTSET') !== 'NOTSET' || attribute(node, 'output_shape'))
    throw new NonLocal('ConvTranspose with padding set by size');
  return {
    stride: strides[0]!,
    // Input i writes outputs s i - p + d j for j in [0, k): output o is written by
    // ceil((o + p - d (k - 1)) / s) to floor((o + p) / s).
    map: (o, axis) => {
      const s = strides[axis]!;
      const reach = dilations[axis]! * (kernel[axis]! - 1);
      return [Math.ceil((o + begin[axis]! - reach) / s), Math.floor((o + begin[axis]!) / s)];
    },
  };
}

function resized(node: NodeProto, scales: readonly number[]): IndexMap {
  const [n, c, h, w] = scales;
  if (scales.length !== 4 || n !== 1 || c !== 1 || h !== w || !Number.isInteger(h) || h! < 1)
    throw new NonLocal(`${node.opType} by scales ${scales.join(',')}, not one integer upscale`);
  const s = h!;
  const mode = text(node, 'mode', 'nearest');
  const coordinates = text(node, 'coordinate_transformation_mode', 'half_pixel');
  const source =
    coordinates === 'asymmetric'
      ? (o: number) => o / s
      : coordinates === 'half_pixel' || coordinates === 'pytorch_half_pixel'
        ? (o: number) => (o + 0.5) / s - 0.5
        : null;
  if (!source) throw new NonLocal(`${node.opType} with ${coordinates} coordinates`);
  if (mode === 'nearest') {
    const rounding = text(node, 'nearest_mode', 'round_prefer_floor');
    const round = {
      round_prefer_floor: (x: number) =>
        x - Math.floor(x) === 0.5 ? Math.floor(x) : Math.round(x),
      round_prefer_ceil: (x: number) => Math.round(x),
      floor: Math.floor,
      ceil: Math.ceil,
    }[rounding];
    if (!round) throw new NonLocal(`${node.opType} with nearest_mode ${rounding}`);
    return (o) => {
      const i = round(source(o));
      return [i, i];
    };
  }
  if (mode === 'linear') {
    return (o) => {
      const i = Math.floor(source(o));
      return [i, i + 1];
    };
  }
  if (mode === 'cubic') {
    return (o) => {
      const i = Math.floor(source(o));
      return [i - 1, i + 2];
    };
  }
  throw new NonLocal(`${node.opType} in ${mode} mode`);
}

function sameScale(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(a, b);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * The receptive field of `bytes`'s output over its image input, or why the model is not made
 * of local, translation-equivariant operators.
 */
export function receptiveField(
  bytes: Uint8Array,
  name: string,
  input: string,
  output: string,
): ReceptiveField {
  try {
    return { local: true, ...analyse(bytes, name, input, output) };
  } catch (error) {
    if (error instanceof NonLocal) return { local: false, reason: error.message };
    throw error;
  }
}

function analyse(bytes: Uint8Array, name: string, input: string, output: string) {
  const graph = decodeModel(bytes, name).graph!;
  const constants = new Map<string, TensorProto>();
  for (const tensor of graph.initializer ?? []) constants.set(tensor.name ?? '', tensor);
  for (const node of graph.node ?? []) {
    const value = attribute(node, 'value')?.t;
    if (node.opType === 'Constant' && value) constants.set(node.output?.[0] ?? '', value);
  }
  const constant = (tensorName: string) => constants.get(tensorName);

  // Forward: which tensors carry the image, at what scale, through which spatial maps.
  const scales = new Map<string, number>([[input, 1]]);
  const nodes: SpatialNode[] = [];
  for (const node of graph.node ?? []) {
    const op = node.opType ?? '?';
    const carried = (node.input ?? []).filter((value) => scales.has(value));
    if (carried.length === 0) continue;
    const outputs = (node.output ?? []).filter(Boolean);
    const scale = scales.get(carried[0]!)!;
    if (carried.some((value) => !sameScale(scales.get(value)!, scale)))
      throw new NonLocal(`${op} joins tensors at different scales`);
    let map: IndexMap = (o) => [o, o];
    let factor = 1;
    if (POINTWISE.has(op) || CHANNEL_AXIS_OPERATORS.has(op)) {
      if (CHANNEL_AXIS_OPERATORS.has(op)) {
        const axis = attribute(node, 'axis')?.i;
        const along =
          axis === undefined || axis === null ? (op === 'Split' ? 0 : -1) : Number(axis);
        if (along !== 1) throw new NonLocal(`${op} along axis ${along}, not the channel axis`);
      }
      for (const operand of node.input ?? []) {
        if (!operand || scales.has(operand)) continue;
        const value = constant(operand);
        if (!value) throw new NonLocal(`${op} takes ${operand}, which is not a constant`);
        if (!PARAMETER_INPUTS.has(op) && !spatiallyUniform(value))
          throw new NonLocal(`${op} with a constant that varies over the image (${operand})`);
      }
    } else if (op === 'Conv' || op === 'ConvTranspose' || POOLS.has(op)) {
      if (carried.length !== 1 || node.input![0] !== carried[0])
        throw new NonLocal(`${op} whose weights depend on the image`);
      const weights =
        op === 'Conv' || op === 'ConvTranspose' ? constant(node.input![1] ?? '') : null;
      const kernel = ints(node, 'kernel_shape') ?? weights?.dims?.slice(2).map(Number);
      if (!kernel || kernel.length !== 2) throw new NonLocal(`${op} without a 2-D kernel`);
      const described = op === 'ConvTranspose' ? transposed(node, kernel) : windowed(node, kernel);
      map = described.map;
      factor = op === 'ConvTranspose' ? described.stride : 1 / described.stride;
    } else if (op === 'Resize' || op === 'Upsample') {
      if (node.input![0] !== carried[0] || carried.length !== 1)
        throw new NonLocal(`${op} whose scales depend on the image`);
      const scaleInput = op === 'Upsample' ? node.input![1] : node.input![2];
      const given = scaleInput ? constant(scaleInput) : undefined;
      const values = given
        ? floatValues(given)
        : (attribute(node, 'scales')?.floats ?? []).map(Number);
      if (!values.length) throw new NonLocal(`${op} to a fixed size rather than by a scale`);
      map = resized(node, values);
      factor = values[2]!;
    } else {
      throw new NonLocal(`${op} (${node.name || outputs[0]}) is not a local operator`);
    }
    for (const value of outputs) scales.set(value, scale * factor);
    nodes.push({ inputs: carried, output: outputs[0]!, map });
    // Every output of a multi-output node (Split) reads as the first does.
    for (const value of outputs.slice(1)) nodes.push({ inputs: carried, output: value, map });
  }
  const outputScale = scales.get(output);
  if (outputScale === undefined) throw new NonLocal(`${output} does not depend on the image`);
  if (!sameScale(outputScale, 1))
    throw new NonLocal(`${output} is at ${outputScale} times the input's size`);
  // A window must start where every downsampled tensor's grid starts in the whole image.
  let alignment = 1;
  for (const scale of scales.values()) {
    if (scale >= 1) continue;
    const stride = Math.round(1 / scale);
    if (!sameScale(stride * scale, 1))
      throw new NonLocal(`a tensor at ${scale} times the input's size`);
    alignment = (alignment * stride) / gcd(alignment, stride);
  }

  const span = (axis: 0 | 1, first: number, last: number): Span => {
    const spans = new Map<string, [number, number]>([[output, [first, last]]]);
    for (let k = nodes.length - 1; k >= 0; k--) {
      const node = nodes[k]!;
      const wanted = spans.get(node.output);
      if (!wanted) continue;
      const [low] = node.map(wanted[0], axis);
      const [, high] = node.map(wanted[1], axis);
      for (const value of node.inputs) {
        const known = spans.get(value);
        spans.set(value, known ? [Math.min(known[0], low), Math.max(known[1], high)] : [low, high]);
      }
    }
    return spans.get(input) ?? [first, last];
  };
  // The widest reach either way over every phase of the alignment.
  const widest = (axis: 0 | 1) => {
    let before = 0;
    let after = 0;
    for (let phase = 0; phase < alignment; phase++) {
      const [low, high] = span(axis, phase, phase);
      before = Math.max(before, phase - low);
      after = Math.max(after, high - phase);
    }
    return [before, after] as const;
  };
  const [top, bottom] = widest(0);
  const [left, right] = widest(1);
  return { reach: { top, bottom, left, right }, alignment, span };
}
