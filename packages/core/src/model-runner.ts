import type * as OrtWeb from 'onnxruntime-web';
import { BackendError, ModelError } from './errors.ts';
import { nextTask } from './event-loop.ts';
import type { Logger } from './logger.ts';
import type { Region } from '@pdcr/kernels';
import { receptiveField, type ReceptiveField } from './receptive-field.ts';
import {
  cropImageInput,
  imageSignature,
  inspectOnnxModel,
  relaxModelShapes,
  type ImageModelSignature,
  type OnnxModelInfo,
} from './onnx-model.ts';

/** The onnxruntime API PdCR uses; onnxruntime-node and onnxruntime-web both provide it. */
export type OrtModule = typeof OrtWeb;
type Session = OrtWeb.InferenceSession;

/** Where the model runs: onnxruntime-node's CPU provider, onnxruntime-web's wasm or WebGPU. */
export type Backend = 'cpu' | 'wasm' | 'webgpu';
export type BackendChoice = Backend | 'auto';

/** How each backend's onnxruntime is loaded on this platform; absent where it cannot run. */
export interface OrtRuntimes {
  readonly cpu?: () => Promise<OrtModule>;
  readonly wasm?: () => Promise<OrtModule>;
  readonly webgpu?: () => Promise<OrtModule>;
  /** The WebGPU adapter `auto` would use, or null where there is none. */
  readonly gpuAdapter?: () => Promise<GPUAdapter | null>;
}

export interface ModelLoadOptions {
  readonly bytes: Uint8Array;
  /** The model's path or name, for messages. */
  readonly name: string;
  readonly runtimes: OrtRuntimes;
  readonly backend: BackendChoice;
  /** The image's size, used where the model's is dynamic or `size` is `image`. */
  readonly imageSize: { readonly height: number; readonly width: number };
  /** Run at this size instead of the declared one (`image`: the image's own size). */
  readonly size?: { readonly height: number; readonly width: number } | 'image';
  /** Channels to feed where the model leaves them open. */
  readonly channels?: number;
  /** Most images one run may hold. */
  readonly maxBatchSize?: number;
  readonly logger: Logger;
}

export interface ModelShape {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A model output living on the GPU; `release` hands it back to onnxruntime. */
export interface GpuModelOutput {
  readonly buffer: GPUBuffer;
  /** Copies the output to the CPU (B x K x H x W floats). */
  read(): Promise<Float32Array>;
  release(): void;
}

/** Largest relative difference between a batched and a one-by-one run that counts as equal. */
const BATCH_CHECK_TOLERANCE = 1e-4;
/** Pixels (batch x height x width) a default batch holds: 16 at 256x256, 4 at 512x512. */
const DEFAULT_BATCH_PIXELS = 2 ** 20;

/**
 * One ONNX segmentation model, loaded on one backend, adapted to run batches of images: the
 * declared batch of 1 that many exports fix is relaxed and checked, and fully convolutional
 * models run at another size on request.
 */
export class ModelRunner {
  private gpuInputs = new Map<number, GPUBuffer>();

  private constructor(
    readonly name: string,
    readonly backend: Backend,
    readonly info: OnnxModelInfo,
    readonly signature: ImageModelSignature,
    readonly input: ModelShape,
    readonly output: ModelShape,
    readonly maxBatchSize: number,
    readonly sha256: string,
    /** What the output sees of the input, read off the graph (`receptive-field.ts`). */
    readonly receptiveField: ReceptiveField,
    private readonly bytes: Uint8Array,
    private readonly ort: OrtModule,
    private session: Session,
    /**
     * The window of each image this runner takes, where it takes one (`windowed` on the CPU):
     * callers write only that region (`CpuIntervention`'s window) and `input` is its size.
     */
    readonly inputWindow?: Region,
  ) {}

  static async load(options: ModelLoadOptions): Promise<ModelRunner> {
    const { bytes, name, logger } = options;
    const info = inspectOnnxModel(bytes, name);
    const signature = imageSignature(info, name);
    const [declaredBatch, declaredChannels, declaredHeight, declaredWidth] = signature.input.dims;
    const channels =
      typeof declaredChannels === 'number' ? declaredChannels : (options.channels ?? 1);
    if (options.channels !== undefined && options.channels !== channels) {
      throw new ModelError(
        name,
        `takes ${channels} input channels; --channels ${options.channels} does not fit it`,
      );
    }
    const fixedSize = typeof declaredHeight === 'number' && typeof declaredWidth === 'number';
    const size =
      options.size === 'image' || (!fixedSize && options.size === undefined)
        ? options.imageSize
        : (options.size ?? { height: declaredHeight as number, width: declaredWidth as number });
    const relaxSpatial =
      fixedSize && (size.height !== declaredHeight || size.width !== declaredWidth);
    const input = { channels, height: size.height, width: size.width };
    const requestedBatch = options.maxBatchSize ?? defaultBatchSize(size);

    let backend = await chooseBackend(options);
    let ort = await loadRuntime(options.runtimes, backend);
    const sha256 = await digest(bytes);
    const fixedBatch = typeof declaredBatch === 'number';
    const relaxed = relaxModelShapes(bytes, name, { relaxBatch: true, relaxSpatial });
    let session: Session;
    try {
      session = await createSession(ort, relaxed, backend, name);
    } catch (error) {
      // `auto` promises WebGPU only where the model runs on it.
      if (options.backend !== 'auto' || backend !== 'webgpu') throw error;
      backend = options.runtimes.cpu ? 'cpu' : 'wasm';
      logger.warn(
        `${name}: does not run on WebGPU (${(error as Error).message}); running on ${backend}`,
      );
      ort = await loadRuntime(options.runtimes, backend);
      session = await createSession(ort, relaxed, backend, name);
    }
    let maxBatchSize = requestedBatch;
    if (fixedBatch && requestedBatch > 1 && !(await batchesAgree(ort, session, signature, input))) {
      logger.warn(
        `${name}: a batch of two does not give what two single runs give; running one image at a time`,
      );
      await session.release();
      session = await createSession(
        ort,
        relaxModelShapes(bytes, name, { relaxBatch: false, relaxSpatial }),
        backend,
        name,
      );
      maxBatchSize = 1;
    }
    const probe = await runOnCpu(
      ort,
      session,
      signature,
      input,
      new Float32Array(channels * size.height * size.width),
      1,
      name,
    );
    const [, classes, outHeight, outWidth] = probe.dims;
    if (outHeight !== size.height || outWidth !== size.width) {
      throw new ModelError(
        name,
        `maps a ${size.height}x${size.width} input to a ${outHeight}x${outWidth} output; PdCR needs the ` +
          'output at the input size to place the RoI',
      );
    }
    const output = { channels: classes!, height: size.height, width: size.width };
    logger.info(
      () =>
        `${name}: ${backend}, input ${channels}x${size.height}x${size.width}, batches of ${maxBatchSize}`,
    );
    return new ModelRunner(
      name,
      backend,
      info,
      signature,
      input,
      output,
      maxBatchSize,
      sha256,
      receptiveField(bytes, name, signature.input.name, signature.output.name),
      bytes,
      ort,
      session,
    );
  }

  /**
   * The model run on `window` of every image, for a fully convolutional model whose receptive
   * field the window holds: its output is the window's alone. On the CPU it takes the window
   * itself (`inputWindow`), which the caller writes; on WebGPU, where the intervention kernel
   * writes whole images into the input buffer, a Slice in front of the graph cuts the window
   * (`cropImageInput`). A second session on the same backend, released apart. A model that does
   * not give a map of the window's size fails its first run with a `ModelError`.
   */
  async windowed(window: Region, maxBatchSize = this.maxBatchSize): Promise<ModelRunner> {
    const onGpu = this.backend === 'webgpu';
    const graph = onGpu ? cropImageInput(this.bytes, this.name, window) : this.bytes;
    const relaxed = relaxModelShapes(graph, this.name, { relaxBatch: true, relaxSpatial: true });
    const session = await createSession(this.ort, relaxed, this.backend, this.name);
    const size = { height: window.height, width: window.width };
    return new ModelRunner(
      this.name,
      this.backend,
      this.info,
      this.signature,
      onGpu ? this.input : { channels: this.input.channels, ...size },
      { channels: this.output.channels, ...size },
      // By default the whole image's batch size: the statistics route, which chooses its runs a
      // batch at a time, runs more draws in larger batches, and onnxruntime runs no faster.
      maxBatchSize,
      this.sha256,
      this.receptiveField,
      relaxed,
      this.ort,
      session,
      onGpu ? undefined : { ...window },
    );
  }

  /** Elements of one image as the model takes it. */
  get inputSize(): number {
    return this.input.channels * this.input.height * this.input.width;
  }

  /** Elements of one image's output. */
  get outputSize(): number {
    return this.output.channels * this.output.height * this.output.width;
  }

  /**
   * Refuses an output that is not one map of the runner's output size per image: a model opened
   * on a window it does not keep the size of, say.
   */
  private checkOutput(length: number, batchSize: number): void {
    if (length === batchSize * this.outputSize) return;
    const { channels, height, width } = this.output;
    throw new ModelError(
      this.name,
      `gives ${length} values for ${batchSize} image(s), not ${channels}x${height}x${width} each`,
    );
  }

  /** Runs `batchSize` images (B x C x H x W floats) and returns the output (B x K x H x W). */
  async run(batch: Float32Array, batchSize: number): Promise<Float32Array> {
    const { data } = await runOnCpu(
      this.ort,
      this.session,
      this.signature,
      this.input,
      batch,
      batchSize,
      this.name,
    );
    this.checkOutput(data.length, batchSize);
    await nextTask();
    return data;
  }

  /** onnxruntime's own device when the model runs on WebGPU, else null. */
  async gpuDevice(): Promise<GPUDevice | null> {
    return this.backend === 'webgpu' ? ((await this.ort.env.webgpu.device) as GPUDevice) : null;
  }

  /**
   * The input buffer for a batch of `batchSize` on onnxruntime's device, for a kernel to write.
   * One buffer per batch size, kept for the runner's life.
   */
  async gpuInput(batchSize: number): Promise<GPUBuffer> {
    let buffer = this.gpuInputs.get(batchSize);
    if (!buffer) {
      const device = await this.gpuDevice();
      if (!device) throw new BackendError('backend', `${this.backend} does not run on the GPU`);
      buffer = device.createBuffer({
        label: `model input, batch ${batchSize}`,
        size: batchSize * this.inputSize * 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.gpuInputs.set(batchSize, buffer);
    }
    return buffer;
  }

  /** Runs the batch in `gpuInput(batchSize)` and leaves the output on the GPU. */
  async runOnGpu(batchSize: number): Promise<GpuModelOutput> {
    const input = await this.gpuInput(batchSize);
    const { channels, height, width } = this.input;
    const feeds = {
      [this.signature.input.name]: this.ort.Tensor.fromGpuBuffer(input, {
        dataType: 'float32',
        dims: [batchSize, channels, height, width],
      }),
    };
    const results = await this.session.run(feeds);
    await nextTask();
    const tensor = results[this.signature.output.name]!;
    for (const [outputName, other] of Object.entries(results))
      if (outputName !== this.signature.output.name) other.dispose();
    try {
      this.checkOutput(tensor.size, batchSize);
    } catch (error) {
      tensor.dispose();
      throw error;
    }
    return {
      buffer: tensor.gpuBuffer as GPUBuffer,
      read: async () => (await tensor.getData()) as Float32Array,
      release: () => tensor.dispose(),
    };
  }

  async release(): Promise<void> {
    for (const buffer of this.gpuInputs.values()) buffer.destroy();
    this.gpuInputs.clear();
    await this.session.release();
  }
}

function defaultBatchSize(size: { height: number; width: number }): number {
  return Math.max(1, Math.min(64, Math.floor(DEFAULT_BATCH_PIXELS / (size.height * size.width))));
}

/**
 * Software adapters (SwiftShader, llvmpipe) run compute on the CPU, far slower than
 * onnxruntime's own CPU provider: `auto` does not pick them.
 */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text =
    `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/.test(text);
}

async function chooseBackend(options: ModelLoadOptions): Promise<Backend> {
  const { runtimes, backend } = options;
  if (backend !== 'auto') {
    if (!runtimes[backend]) {
      throw new BackendError(
        'backend',
        `${backend} is not available here; choose one of ${availableBackends(runtimes).join(', ')}`,
      );
    }
    return backend;
  }
  const adapter = runtimes.webgpu && runtimes.gpuAdapter ? await runtimes.gpuAdapter() : null;
  if (adapter && !isSoftwareAdapter(adapter)) return 'webgpu';
  if (runtimes.cpu) return 'cpu';
  if (runtimes.wasm) return 'wasm';
  throw new BackendError('backend', 'no onnxruntime backend is available on this platform');
}

function availableBackends(runtimes: OrtRuntimes): Backend[] {
  return (['cpu', 'wasm', 'webgpu'] as const).filter((backend) => runtimes[backend] !== undefined);
}

async function loadRuntime(runtimes: OrtRuntimes, backend: Backend): Promise<OrtModule> {
  try {
    return await runtimes[backend]!();
  } catch (error) {
    throw new BackendError(
      'backend',
      `could not load onnxruntime for ${backend}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function createSession(
  ort: OrtModule,
  bytes: Uint8Array,
  backend: Backend,
  name: string,
): Promise<Session> {
  const executionProviders = [
    backend === 'webgpu' ? 'webgpu' : backend === 'wasm' ? 'wasm' : 'cpu',
  ];
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders,
      graphOptimizationLevel: 'all',
      ...(backend === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
  } catch (error) {
    throw new ModelError(
      name,
      `onnxruntime (${backend}) could not load it: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function runOnCpu(
  ort: OrtModule,
  session: Session,
  signature: ImageModelSignature,
  input: ModelShape,
  batch: Float32Array,
  batchSize: number,
  name: string,
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const { channels, height, width } = input;
  const length = batchSize * channels * height * width;
  const tensor = new ort.Tensor('float32', batch.subarray(0, length), [
    batchSize,
    channels,
    height,
    width,
  ]);
  let results: Awaited<ReturnType<Session['run']>>;
  try {
    results = await session.run({ [signature.input.name]: tensor });
  } catch (error) {
    throw new ModelError(
      name,
      `failed to run on a ${batchSize}x${channels}x${height}x${width} input: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const output = results[signature.output.name]!;
  const data = (
    output.location === 'gpu-buffer' ? await output.getData(true) : output.data
  ) as Float32Array;
  for (const other of Object.values(results)) if (other !== output) other.dispose();
  return { data, dims: output.dims };
}

/** Whether a batch of two differing images gives what two single runs give. */
async function batchesAgree(
  ort: OrtModule,
  session: Session,
  signature: ImageModelSignature,
  input: ModelShape,
): Promise<boolean> {
  const size = input.channels * input.height * input.width;
  const pair = new Float32Array(2 * size);
  for (let i = 0; i < pair.length; i++) pair[i] = ((i * 2654435761) % 1000) / 1000;
  try {
    const batched = (await runOnCpu(ort, session, signature, input, pair, 2, signature.input.name))
      .data;
    const first = (
      await runOnCpu(
        ort,
        session,
        signature,
        input,
        pair.subarray(0, size),
        1,
        signature.input.name,
      )
    ).data;
    const second = (
      await runOnCpu(ort, session, signature, input, pair.subarray(size), 1, signature.input.name)
    ).data;
    const singles = new Float32Array(first.length + second.length);
    singles.set(first);
    singles.set(second, first.length);
    if (batched.length !== singles.length) return false;
    let scale = 1;
    for (const value of singles) scale = Math.max(scale, Math.abs(value));
    return batched.every(
      (value, i) => Math.abs(value - singles[i]!) <= BATCH_CHECK_TOLERANCE * scale,
    );
  } catch {
    return false;
  }
}

async function digest(bytes: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest('SHA-256', bytes.slice().buffer);
  return Array.from(new Uint8Array(hash), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
