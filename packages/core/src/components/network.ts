import type * as OrtWeb from 'onnxruntime-web';
import { ModelError, ModelOutputError } from '../errors.ts';
import { nextTask } from '../event-loop.ts';
import type { ModelRunner, OrtModule, OrtRuntimes } from '../model-runner.ts';
import { relaxModelShapes } from '../onnx-model.ts';
import {
  candidateTensors,
  exposeTensors,
  interventionGraph,
  interventionInputs,
  type CandidateTensor,
} from './graph.ts';

type Session = OrtWeb.InferenceSession;
type RunResults = Awaited<ReturnType<Session['run']>>;

/** An intermediate tensor of the graph that can be intervened on: N x C x ..., float. */
export interface ComponentTensor extends CandidateTensor {
  /** One sample's shape at the size the model runs at: C x ... */
  readonly shape: readonly number[];
  readonly channels: number;
  /** Values in one sample. */
  readonly size: number;
}

/** A run of the intervened model: per sample, which tensors (and channels) are replaced by what. */
export interface TensorReplacement {
  readonly tensor: ComponentTensor;
  /** Replacement values, `batchSize` samples of `tensor.size`, or one sample shared by all. */
  readonly values: Float32Array;
  /** Per sample and channel, 1 where the value is replaced, 0 where the model's own is kept. */
  readonly select: Float32Array;
}

/**
 * The network of a loaded model, opened up: its intermediate tensors listed with their shapes,
 * their values read on any input, and a copy of the graph in which chosen tensors are replaced
 * per sample. Runs on onnxruntime of the runner's backend, with CPU tensors.
 */
export class ComponentNetwork {
  private constructor(
    readonly runner: ModelRunner,
    private readonly ort: OrtModule,
    /** The model with its shapes relaxed as the runner relaxed them. */
    private readonly bytes: Uint8Array,
    /** Every float tensor with a batch and a channel axis, in graph order. */
    readonly tensors: readonly ComponentTensor[],
  ) {}

  /**
   * Lists the model's components by running it once on `probeInput` (a preprocessed image as
   * the model takes it) with every intermediate tensor exposed: a component is a float tensor
   * whose first axis follows the batch (checked with a batch of two where the model batches).
   */
  static async open(
    runner: ModelRunner,
    bytes: Uint8Array,
    runtimes: OrtRuntimes,
    probeInput: Float32Array,
  ): Promise<ComponentNetwork> {
    const load = runtimes[runner.backend];
    if (!load) throw new ModelError(runner.name, `cannot be opened on ${runner.backend}`);
    const ort = await load();
    const [, , declaredHeight, declaredWidth] = runner.signature.input.dims;
    const relaxSpatial =
      typeof declaredHeight === 'number' &&
      typeof declaredWidth === 'number' &&
      (declaredHeight !== runner.input.height || declaredWidth !== runner.input.width);
    const relaxed = relaxModelShapes(bytes, runner.name, { relaxBatch: true, relaxSpatial });
    const candidates = candidateTensors(relaxed, runner.name, runner.signature.input.name);

    const probeBatch = Math.min(2, runner.maxBatchSize);
    const batch = new Float32Array(probeBatch * runner.inputSize);
    for (let sample = 0; sample < probeBatch; sample++)
      batch.set(probeInput, sample * runner.inputSize);
    const names = candidates.map((candidate) => candidate.name);
    const session = await createSession(ort, exposeTensors(relaxed, runner.name, names), runner);
    let results: RunResults;
    try {
      results = await run(ort, session, runner, batch, probeBatch, {});
    } finally {
      await session.release();
    }
    const tensors: ComponentTensor[] = [];
    for (const candidate of candidates) {
      const value = results[candidate.name];
      if (!value) continue;
      const dims: number[] = value.dims.map(Number);
      const isComponent =
        value.type === 'float32' && dims.length >= 2 && dims[0] === probeBatch && dims[1]! > 0;
      if (isComponent) {
        const shape = dims.slice(1);
        tensors.push({
          ...candidate,
          shape,
          channels: shape[0]!,
          size: shape.reduce((product, dim) => product * dim, 1),
        });
      }
      value.dispose();
    }
    return new ComponentNetwork(runner, ort, relaxed, tensors);
  }

  /**
   * The values of `tensors` on each of `inputs` (preprocessed images as the model takes them),
   * run in batches: per tensor, `inputs.length` samples one after the other. Without inputs, no
   * session is created.
   */
  async tensorValues(
    tensors: readonly ComponentTensor[],
    inputs: readonly Float32Array[],
    onBatch?: (count: number) => void,
  ): Promise<Map<ComponentTensor, Float32Array>> {
    const { runner } = this;
    if (inputs.length === 0) return new Map(tensors.map((tensor) => [tensor, new Float32Array(0)]));
    const exposed = exposeTensors(
      this.bytes,
      runner.name,
      tensors.map((tensor) => tensor.name),
    );
    const session = await createSession(this.ort, exposed, runner);
    const values = new Map(
      tensors.map((tensor) => [tensor, new Float32Array(inputs.length * tensor.size)]),
    );
    try {
      for (let start = 0; start < inputs.length; start += runner.maxBatchSize) {
        const chunk = inputs.slice(start, start + runner.maxBatchSize);
        const batch = new Float32Array(chunk.length * runner.inputSize);
        chunk.forEach((input, sample) => batch.set(input, sample * runner.inputSize));
        const results = await run(this.ort, session, runner, batch, chunk.length, {});
        for (const tensor of tensors) {
          values.get(tensor)!.set(results[tensor.name]!.data as Float32Array, start * tensor.size);
        }
        for (const value of Object.values(results)) value.dispose();
        onBatch?.(chunk.length);
      }
    } finally {
      await session.release();
    }
    return values;
  }

  /** The model edited so that any of `tensors` can be replaced per sample. */
  async intervenable(tensors: readonly ComponentTensor[]): Promise<IntervenedModel> {
    const ranks = new Map(tensors.map((tensor) => [tensor.name, tensor.shape.length + 1]));
    const edited = interventionGraph(this.bytes, this.runner.name, ranks);
    return new IntervenedModel(
      this.runner,
      this.ort,
      await createSession(this.ort, edited, this.runner),
      tensors,
    );
  }
}

/**
 * The model with chosen tensors replaceable per sample (see `interventionGraph`). A tensor not
 * named in a run's replacements is fed a selector of zeros: the model's own values.
 */
export class IntervenedModel {
  forwardPasses = 0;
  modelSeconds = 0;

  constructor(
    readonly runner: ModelRunner,
    private readonly ort: OrtModule,
    private readonly session: Session,
    readonly tensors: readonly ComponentTensor[],
  ) {}

  /** Runs `batchSize` images with `replacements` and returns the explained output. */
  async run(
    batch: Float32Array,
    batchSize: number,
    replacements: readonly TensorReplacement[],
  ): Promise<Float32Array> {
    const feeds: Record<string, OrtWeb.Tensor> = {};
    for (const tensor of this.tensors) {
      const replacement = replacements.find((candidate) => candidate.tensor === tensor);
      const { value, select } = interventionInputs(tensor.name);
      const trailing = tensor.shape.slice(1).map(() => 1);
      const values = replacement?.values ?? new Float32Array(tensor.size);
      const samples = values.length / tensor.size;
      feeds[value] = new this.ort.Tensor('float32', values, [samples, ...tensor.shape]);
      feeds[select] = new this.ort.Tensor(
        'float32',
        replacement?.select ?? new Float32Array(batchSize * tensor.channels),
        [batchSize, tensor.channels, ...trailing],
      );
    }
    const started = performance.now();
    const results = await run(this.ort, this.session, this.runner, batch, batchSize, feeds);
    this.modelSeconds += (performance.now() - started) / 1000;
    this.forwardPasses += batchSize;
    const output = results[this.runner.signature.output.name]!;
    const data = output.data as Float32Array;
    for (const value of Object.values(results)) if (value !== output) value.dispose();
    return data;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * onnxruntime's graph optimisations for the opened graphs: everything but the layout
 * transformations ('all' adds them). On the CPU those rewrite chains of convolutions into a
 * blocked layout whose kernels round differently, and an edited tensor breaks such a chain
 * where the untouched graph has none: on the nuclei U-Net, 'all' made 1245 of 8192 output values
 * of the edited model differ in their last bits from the untouched model's with nothing
 * replaced, 'extended' none. Every pass of one analysis (base, natural values, interventions)
 * runs at this level, so effects are exactly zero where a component changes nothing.
 * TODO: 'all' is about 1.7x faster per pass on that model (20 against 35 ms per 128x128 image,
 * 2 threads); using it needs the untouched model's output from the edited graph only, as it is
 * now, plus accepting last-bit differences from `ModelRunner`'s own output.
 */
export const COMPONENT_OPTIMIZATION_LEVEL = 'extended';

async function createSession(
  ort: OrtModule,
  bytes: Uint8Array,
  runner: ModelRunner,
): Promise<Session> {
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: [runner.backend],
      graphOptimizationLevel: COMPONENT_OPTIMIZATION_LEVEL,
    });
  } catch (error) {
    throw new ModelError(
      runner.name,
      `onnxruntime (${runner.backend}) could not load its graph opened for component analysis: ` +
        (error as Error).message,
      { cause: error },
    );
  }
}

async function run(
  ort: OrtModule,
  session: Session,
  runner: ModelRunner,
  batch: Float32Array,
  batchSize: number,
  extraFeeds: Record<string, OrtWeb.Tensor>,
): Promise<RunResults> {
  const { channels, height, width } = runner.input;
  const image = new ort.Tensor('float32', batch.subarray(0, batchSize * runner.inputSize), [
    batchSize,
    channels,
    height,
    width,
  ]);
  try {
    const results = await session.run({ [runner.signature.input.name]: image, ...extraFeeds });
    await nextTask();
    return results;
  } catch (error) {
    throw new ModelOutputError(
      runner.name,
      `failed to run with its components opened (batch ${batchSize}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
