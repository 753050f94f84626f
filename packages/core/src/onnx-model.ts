import onnxProto from 'onnx-proto';
import { ModelError } from './errors.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A dimension as the model declares it: a size, a symbolic name, or unknown. */
export type Dimension = number | string;

export interface TensorDescription {
  readonly name: string;
  readonly dims: readonly Dimension[];
  readonly elementType: string;
}

/** What PdCR reads from an ONNX file before running it. */
export interface OnnxModelInfo {
  readonly inputs: readonly TensorDescription[];
  readonly outputs: readonly TensorDescription[];
  readonly opset: number;
  readonly producer: string;
  readonly nodeCount: number;
  readonly operatorCounts: Readonly<Record<string, number>>;
}

/** The input and output PdCR explains: a float image batch in, a float map batch out. */
export interface ImageModelSignature {
  readonly input: TensorDescription;
  readonly output: TensorDescription;
}

export function decodeModel(bytes: Uint8Array, name: string): InstanceType<typeof onnx.ModelProto> {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ModelError(
      name,
      `is not an ONNX model (${(error as Error).message}); is the file complete?`,
      {
        cause: error,
      },
    );
  }
  if (!model.graph || !model.graph.node?.length || !model.graph.output?.length) {
    throw new ModelError(name, 'holds no ONNX graph; give a model exported to ONNX');
  }
  return model;
}

function describe(value: onnxProto.onnx.IValueInfoProto): TensorDescription {
  const tensorType = value.type?.tensorType;
  const dims = (tensorType?.shape?.dim ?? []).map((dim): Dimension => {
    if (dim.dimParam) return dim.dimParam;
    if (dim.dimValue !== undefined && dim.dimValue !== null && Number(dim.dimValue) > 0) {
      return Number(dim.dimValue);
    }
    return '?';
  });
  const typeName = onnx.TensorProto.DataType[tensorType?.elemType ?? 0] ?? 'UNDEFINED';
  return { name: value.name ?? '', dims, elementType: typeName.toLowerCase() };
}

/** Reads inputs (initialisers excluded), outputs, opset and operators of an ONNX model. */
export function inspectOnnxModel(bytes: Uint8Array, name: string): OnnxModelInfo {
  const model = decodeModel(bytes, name);
  const graph = model.graph!;
  const initialisers = new Set((graph.initializer ?? []).map((tensor) => tensor.name));
  const operatorCounts: Record<string, number> = {};
  for (const node of graph.node ?? [])
    operatorCounts[node.opType ?? '?'] = (operatorCounts[node.opType ?? '?'] ?? 0) + 1;
  const defaultDomain = (model.opsetImport ?? []).find(
    (opset) => !opset.domain || opset.domain === 'ai.onnx',
  );
  return {
    inputs: (graph.input ?? [])
      .filter((input) => !initialisers.has(input.name ?? ''))
      .map(describe),
    outputs: (graph.output ?? []).map(describe),
    opset: Number(defaultDomain?.version ?? 0),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    nodeCount: graph.node?.length ?? 0,
    operatorCounts,
  };
}

/**
 * The image input (the first float input of rank 4, N x C x H x W) and the output explained (the
 * first float output of rank 4). Throws a `ModelError` naming the model where there is none.
 */
export function imageSignature(info: OnnxModelInfo, name: string): ImageModelSignature {
  const isImageShaped = (tensor: TensorDescription) =>
    tensor.dims.length === 4 && tensor.elementType === 'float';
  const input = info.inputs.find(isImageShaped);
  if (!input) {
    const found = info.inputs
      .map((tensor) => `${tensor.name} ${tensor.elementType}[${tensor.dims}]`)
      .join(', ');
    throw new ModelError(
      name,
      `has no image-shaped input (float, N x C x H x W); its inputs are ${found || 'none'}`,
    );
  }
  const others = info.inputs.filter((tensor) => tensor !== input);
  if (others.length > 0) {
    throw new ModelError(
      name,
      `needs inputs besides the image (${others.map((tensor) => tensor.name).join(', ')}); PdCR feeds one image input`,
    );
  }
  const output = info.outputs.find(isImageShaped);
  if (!output) {
    throw new ModelError(name, 'has no segmentation-map output (float, N x K x H x W)');
  }
  return { input, output };
}

/**
 * The model with the declared sizes of its image input and output replaced by symbolic ones:
 * the batch always (`relaxBatch`), height and width on request (`relaxSpatial`, for fully
 * convolutional models run at another size than they were exported with). Shapes recorded for
 * intermediate values are dropped, since they may pin the old sizes.
 */
export function relaxModelShapes(
  bytes: Uint8Array,
  name: string,
  options: { relaxBatch: boolean; relaxSpatial: boolean },
): Uint8Array {
  const model = decodeModel(bytes, name);
  const graph = model.graph!;
  const info = inspectOnnxModel(bytes, name);
  const { input, output } = imageSignature(info, name);
  const names = ['batch', null, 'height', 'width'] as const;
  for (const value of [...(graph.input ?? []), ...(graph.output ?? [])]) {
    if (value.name !== input.name && value.name !== output.name) continue;
    const dims = value.type?.tensorType?.shape?.dim ?? [];
    names.forEach((symbol, axis) => {
      const relax = axis === 0 ? options.relaxBatch : axis >= 2 && options.relaxSpatial;
      if (symbol && relax && dims[axis])
        dims[axis] = onnx.TensorShapeProto.Dimension.create({ dimParam: symbol });
    });
  }
  graph.valueInfo = [];
  return onnx.ModelProto.encode(model).finish();
}

export { FLOAT as ONNX_FLOAT };

/**
 * The model with a Slice in front of its image input: it takes whole images and runs its graph on
 * `window` of each, giving the output for the window alone. For fully convolutional models whose
 * receptive field the window holds around the RoI (`receptive-field.ts`).
 */
export function cropImageInput(
  bytes: Uint8Array,
  name: string,
  window: { top: number; left: number; height: number; width: number },
): Uint8Array {
  const model = decodeModel(bytes, name);
  const graph = model.graph!;
  const info = inspectOnnxModel(bytes, name);
  const { input } = imageSignature(info, name);
  const cropped = `${input.name}/pdcr_window`;
  for (const node of graph.node ?? [])
    node.input = (node.input ?? []).map((value) => (value === input.name ? cropped : value));
  const { opset } = info;
  if (opset < 10) {
    // Before opset 10 Slice takes its bounds as attributes; no model here needs that form.
    throw new ModelError(name, `has opset ${opset}; the RoI's window needs opset 10 or later`);
  }
  const constant = (suffix: string, values: number[]) => {
    const tensorName = `${cropped}/${suffix}`;
    const dataType = onnx.TensorProto.DataType.INT64;
    graph.initializer = [
      ...(graph.initializer ?? []),
      { name: tensorName, dims: [2], dataType, int64Data: values },
    ];
    return tensorName;
  };
  const slice: onnxProto.onnx.INodeProto = {
    opType: 'Slice',
    name: cropped,
    input: [
      input.name,
      constant('starts', [window.top, window.left]),
      constant('ends', [window.top + window.height, window.left + window.width]),
      constant('axes', [2, 3]),
    ],
    output: [cropped],
  };
  graph.node = [slice, ...(graph.node ?? [])];
  return onnx.ModelProto.encode(model).finish();
}
