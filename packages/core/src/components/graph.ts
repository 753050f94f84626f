import onnxProto from 'onnx-proto';
import { ModelError } from '../errors.ts';

const { onnx } = onnxProto;
type ModelProto = InstanceType<typeof onnx.ModelProto>;
type GraphProto = onnxProto.onnx.IGraphProto;

/** Prefix of every name the intervention edit adds to a graph. */
const EDIT_PREFIX = 'pdcr_intervention';

/** An intermediate tensor of the graph that may be a component, before its shape is known. */
export interface CandidateTensor {
  /** The tensor's name in the graph. */
  readonly name: string;
  /** The operator that produces it (Conv, Relu, ...) and that node's name. */
  readonly operator: string;
  readonly node: string;
  /** Position of the producing node in the graph, for listing in graph order. */
  readonly order: number;
}

/** The names of a tensor's intervention inputs in the edited graph. */
export interface InterventionInputs {
  /** Replacement values, N x C x ... like the tensor (or 1 x C x ... for every sample). */
  readonly value: string;
  /** Per-sample per-channel selector, N x C x 1 x ... (1: replaced, 0: kept). */
  readonly select: string;
}

export function decodeOnnx(bytes: Uint8Array, name: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ModelError(name, `is not an ONNX model (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/**
 * Tensors produced by the graph's nodes that depend on its image input and are not one of its
 * outputs: the layers' outputs. Which of them are float tensors with a batch and a channel axis
 * is only known by running the model (see `ComponentNetwork.open`). A tensor read inside a
 * subgraph (the body of an If, Loop or Scan) is left out: `interventionGraph` rewires only the
 * main graph's consumers, so replacing it would leave those readers its own value and report an
 * effect of zero that was never measured.
 */
export function candidateTensors(
  bytes: Uint8Array,
  name: string,
  input: string,
): CandidateTensor[] {
  const graph = decodeOnnx(bytes, name).graph;
  if (!graph) throw new ModelError(name, 'holds no ONNX graph');
  const outputs = new Set((graph.output ?? []).map((value) => value.name ?? ''));
  const readInSubgraphs = subgraphReferences(graph);
  const dependent = new Set([input]);
  const candidates: CandidateTensor[] = [];
  (graph.node ?? []).forEach((node, order) => {
    if (!(node.input ?? []).some((tensor) => dependent.has(tensor))) return;
    for (const tensor of node.output ?? []) {
      if (!tensor) continue;
      dependent.add(tensor);
      if (outputs.has(tensor) || readInSubgraphs.has(tensor)) continue;
      candidates.push({
        name: tensor,
        operator: node.opType ?? '?',
        node: node.name || tensor,
        order,
      });
    }
  });
  return candidates;
}

/**
 * Every tensor name read inside the subgraphs of `graph`'s nodes (attributes `g` and `graphs`,
 * as If, Loop and Scan hold their bodies), at any depth: the inputs of their nodes and the
 * names of their outputs, either of which may be a tensor of an enclosing graph.
 */
export function subgraphReferences(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  const visit = (subgraph: GraphProto) => {
    for (const node of subgraph.node ?? []) for (const name of node.input ?? []) names.add(name);
    for (const output of subgraph.output ?? []) if (output.name) names.add(output.name);
    nested(subgraph).forEach(visit);
  };
  nested(graph).forEach(visit);
  return names;
}

/** The subgraphs held by the attributes of `graph`'s own nodes. */
function nested(graph: GraphProto): GraphProto[] {
  return (graph.node ?? []).flatMap((node) =>
    (node.attribute ?? []).flatMap((attribute) => [
      ...(attribute.g ? [attribute.g] : []),
      ...(attribute.graphs ?? []),
    ]),
  );
}

/**
 * The model with `tensors` added to its outputs, so that one run returns their values. Their
 * types are left for onnxruntime to infer.
 */
export function exposeTensors(
  bytes: Uint8Array,
  name: string,
  tensors: readonly string[],
): Uint8Array {
  const model = decodeOnnx(bytes, name);
  const graph = model.graph!;
  const present = new Set((graph.output ?? []).map((value) => value.name ?? ''));
  for (const tensor of tensors)
    if (!present.has(tensor)) graph.output!.push(onnx.ValueInfoProto.create({ name: tensor }));
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The model with every tensor of `tensors` replaced, for its consumers, by
 * `T * (1 - S) + R * S`: `R` and `S` are new graph inputs holding, per sample, a replacement
 * value and a per-channel 0/1 selector. Where S is 0 the consumers see T bit for bit (T * 1 is
 * T, and R * 0 adds a zero), so one batch can hold the untouched model and interventions on
 * any channels of any of the tensors. `ranks` gives each tensor's rank.
 *
 * @example
 * const edited = interventionGraph(bytes, 'unet.onnx', new Map([['/enc/Conv_output_0', 4]]));
 * // feeds: image, interventionInputs(name).value (N x C x H x W), .select (N x C x 1 x 1)
 */
export function interventionGraph(
  bytes: Uint8Array,
  name: string,
  ranks: ReadonlyMap<string, number>,
): Uint8Array {
  const model = decodeOnnx(bytes, name);
  const graph = model.graph!;
  const one = `${EDIT_PREFIX}_one`;
  graph.initializer!.push(
    onnx.TensorProto.create({
      name: one,
      dims: [1],
      dataType: onnx.TensorProto.DataType.FLOAT,
      floatData: [1],
    }),
  );
  const nodes = graph.node ?? [];
  const edited: onnxProto.onnx.INodeProto[] = [];
  let index = 0;
  for (const node of nodes) {
    edited.push(node);
    for (const tensor of node.output ?? []) {
      const rank = ranks.get(tensor);
      if (rank === undefined) continue;
      const { value, select } = interventionInputs(tensor);
      // Separate symbols: a value shared by every sample comes as 1 x C x ..., its selector not.
      const symbol = (kind: string, axis: number) => `${EDIT_PREFIX}_${index}_${kind}${axis}`;
      const axes = Array.from({ length: rank }, (_, axis) => axis);
      graph.input!.push(
        floatInput(
          value,
          axes.map((axis) => symbol('value', axis)),
        ),
      );
      graph.input!.push(
        floatInput(
          select,
          axes.map((axis) => (axis < 2 ? symbol('select', axis) : 1)),
        ),
      );
      const step = (suffix: string) => `${EDIT_PREFIX}_${index}_${suffix}`;
      edited.push(
        arithmetic('Sub', [one, select], step('keep')),
        arithmetic('Mul', [tensor, step('keep')], step('kept')),
        arithmetic('Mul', [value, select], step('put')),
        arithmetic('Add', [step('kept'), step('put')], step('intervened')),
      );
      for (const consumer of nodes) {
        if (consumer === node) continue;
        consumer.input = (consumer.input ?? []).map((input) =>
          input === tensor ? step('intervened') : input,
        );
      }
      index++;
    }
  }
  graph.node = edited;
  return onnx.ModelProto.encode(model).finish();
}

/** The inputs `interventionGraph` adds for `tensor`. */
export function interventionInputs(tensor: string): InterventionInputs {
  return { value: `${tensor}::${EDIT_PREFIX}_value`, select: `${tensor}::${EDIT_PREFIX}_select` };
}

function floatInput(name: string, dims: (string | number)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })),
        },
      },
    },
  });
}

function arithmetic(opType: string, input: string[], output: string): onnxProto.onnx.INodeProto {
  return onnx.NodeProto.create({ opType, input, output: [output], name: output });
}
