/**
 * Builds small ONNX models whose answers the tests know exactly. Written with onnx-proto, the
 * same schema the product reads models with.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly initialisers: Tensor[] = [];
  private counter = 0;

  /** A float constant of the given shape. */
  floats(values: ArrayLike<number>, dims: number[]): string {
    const name = this.fresh('const');
    const data = Float32Array.from(values as ArrayLike<number>);
    this.initialisers.push({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** An int64 constant (shapes, axes, slice bounds). */
  ints(values: number[]): string {
    const name = this.fresh('ints');
    this.initialisers.push({ name, dims: [values.length], dataType: INT64, int64Data: values });
    return name;
  }

  /** Adds a node and returns its (single) output's name. */
  node(
    opType: string,
    inputs: string[],
    attributes: onnxProto.onnx.IAttributeProto[] = [],
  ): string {
    const output = this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      input: inputs,
      output: [output],
      name: output,
      attribute: attributes,
    });
    return output;
  }

  /** The serialised model: one float input `image` and one float output `map`, N x C x H x W. */
  build(
    result: string,
    input: { channels: number; height: number | string; width: number | string },
    output: { channels: number; height: number | string; width: number | string },
    batch: number | string = 'N',
  ): Uint8Array {
    return this.buildWithShapes(
      result,
      [batch, input.channels, input.height, input.width],
      [batch, output.channels, output.height, output.width],
    );
  }

  /** The serialised model with the input and output declared with any shapes. */
  buildWithShapes(
    result: string,
    inputDims: (number | string)[],
    outputDims: (number | string)[],
  ): Uint8Array {
    const shape = (dims: (number | string)[]) => ({
      dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })),
    });
    const valueInfo = (name: string, dims: (number | string)[]) => ({
      name,
      type: { tensorType: { elemType: FLOAT, shape: shape(dims) } },
    });
    this.nodes.push({ opType: 'Identity', input: [result], output: ['map'], name: 'map' });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'pdcr-tests',
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'test',
        node: this.nodes,
        initializer: this.initialisers,
        input: [valueInfo('image', inputDims)],
        output: [valueInfo('map', outputDims)],
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }
}

export interface StepRegion {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/**
 * A model whose output inside `roi` is a step function of two regions' means, and -1 elsewhere:
 * the RoI's left half is positive (foreground at binarisation 0) while `helper`'s mean is above
 * `level`, the right half while `hinderer`'s mean is below it. Every other pixel of the image
 * has no effect at all.
 */
export function stepModel(options: {
  height: number;
  width: number;
  roi: StepRegion;
  helper: StepRegion;
  hinderer: StepRegion;
  level: number;
  fixedBatch?: boolean;
}): Uint8Array {
  const { height, width, roi, helper, hinderer, level } = options;
  const graph = new GraphBuilder();
  const regionMean = (region: StepRegion) => {
    const slice = graph.node('Slice', [
      'image',
      graph.ints([region.top, region.left]),
      graph.ints([region.top + region.height, region.left + region.width]),
      graph.ints([2, 3]),
    ]);
    return graph.node(
      'ReduceMean',
      [slice],
      [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [2, 3] }],
    );
  };
  // Large gains make the step sharp: means a hundredth away from the level saturate.
  const gain = 1000;
  const helped = graph.node('Mul', [
    graph.node('Sub', [regionMean(helper), graph.floats([level], [1])]),
    graph.floats([gain], [1]),
  ]);
  const hindered = graph.node('Mul', [
    graph.node('Sub', [regionMean(hinderer), graph.floats([level], [1])]),
    graph.floats([-gain], [1]),
  ]);

  const left = new Float32Array(height * width);
  const right = new Float32Array(height * width);
  const outside = new Float32Array(height * width).fill(-1);
  const half = Math.floor(roi.width / 2);
  for (let y = roi.top; y < roi.top + roi.height; y++) {
    for (let x = roi.left; x < roi.left + roi.width; x++) {
      (x < roi.left + half ? left : right)[y * width + x] = 1;
      outside[y * width + x] = 0;
    }
  }
  const map = graph.node('Add', [
    graph.node('Add', [
      graph.node('Mul', [helped, graph.floats(left, [1, 1, height, width])]),
      graph.node('Mul', [hindered, graph.floats(right, [1, 1, height, width])]),
    ]),
    graph.floats(outside, [1, 1, height, width]),
  ]);
  const size = { channels: 1, height, width };
  return graph.build(map, size, size, options.fixedBatch ? 1 : 'N');
}
