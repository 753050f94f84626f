import outcomeWgsl from './outcome.wgsl?raw';
import { KernelInputError } from './errors.ts';
import { createBuffer, kernelFamily, writeToBuffer, type KernelFamily } from './kernel-family.ts';
import {
  ACTIVATION_CODE,
  METRIC_CODE,
  validateOutcomeSpec,
  validateSampleTargets,
  type OutcomeReadback,
  type OutcomeSpec,
} from './outcome-spec.ts';

const WORKGROUP_SIZE = 256;
const ACCUMULATE_WORKGROUP_SIZE = 64;
/** Bytes of the WGSL `Params` struct: 10 u32, 2 f32 and 1 u32, padded to 16. */
const PARAMS_BYTES = 64;
const QUIET_NAN_BITS = 0x7fc00000;

export interface GpuOutcomeOptions {
  /** Largest batch a single `run` may score. */
  readonly maxBatchSize: number;
}

/**
 * The outcome kernel on one `GPUDevice`. Each `run` scores a batch of model output where it lies
 * (a model's output buffer, say), reading only the RoI, and adds each sample's
 * `score - baseScore` to the accumulator the caller names. `read` copies back only the batch's
 * scores and the accumulators.
 *
 * @example
 * const outcome = new GpuOutcome(device, spec, { maxBatchSize: 64 });
 * outcome.setBaseScore(baseScore);
 * outcome.run(modelOutputBuffer, 64, targets); // targets[s]: block of sample s, or NO_TARGET
 * const { scores, effects } = await outcome.read();
 */
export class GpuOutcome {
  private readonly family: KernelFamily;
  private readonly params: GPUBuffer;
  private readonly reference: GPUBuffer;
  private readonly sampleTarget: GPUBuffer;
  /** The last batch's scores, one float per sample; kept on the GPU for kernels that follow. */
  readonly scoresBuffer: GPUBuffer;
  /** Count, sum and sum of squares of (score - base) per accumulator. */
  readonly effectsBuffer: GPUBuffer;
  private readonly readback: GPUBuffer;
  private readonly constants: Record<string, number>;
  private readonly paramsData = new ArrayBuffer(PARAMS_BYTES);
  private readonly bindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();
  private lastBatchSize = 0;

  constructor(
    readonly device: GPUDevice,
    readonly spec: OutcomeSpec,
    readonly options: GpuOutcomeOptions,
  ) {
    validateOutcomeSpec(spec);
    const { maxBatchSize } = options;
    const storage = GPUBufferUsage.STORAGE;
    const effectBytes = spec.accumulatorCount * 3 * 4;
    this.family = kernelFamily(device, 'outcome', outcomeWgsl);
    this.params = createBuffer(device, 'outcome params', GPUBufferUsage.UNIFORM, PARAMS_BYTES);
    this.reference = createBuffer(
      device,
      'outcome reference',
      storage,
      spec.reference.byteLength,
      spec.reference,
    );
    this.sampleTarget = createBuffer(device, 'outcome sample targets', storage, maxBatchSize * 4);
    this.scoresBuffer = createBuffer(
      device,
      'outcome scores',
      storage | GPUBufferUsage.COPY_SRC,
      maxBatchSize * 4,
    );
    this.effectsBuffer = createBuffer(
      device,
      'outcome effects',
      storage | GPUBufferUsage.COPY_SRC,
      effectBytes,
    );
    this.readback = createBuffer(
      device,
      'outcome readback',
      GPUBufferUsage.MAP_READ,
      this.scoresBuffer.size + this.effectsBuffer.size,
    );
    this.constants = {
      ACTIVATION: ACTIVATION_CODE[spec.activation],
      METRIC: METRIC_CODE[spec.metric],
      WORKGROUP_SIZE,
      ACCUMULATE_WORKGROUP_SIZE,
    };
    this.fillConstantParams();
    this.reset();
  }

  /** The score subtracted from every sample's before it is accumulated. */
  setBaseScore(score: number): void {
    new Float32Array(this.paramsData, 44, 1)[0] = score;
  }

  /** Records the passes that score `batchSize` samples of `modelOutput` and accumulate them. */
  encode(
    encoder: GPUCommandEncoder,
    modelOutput: GPUBuffer,
    batchSize: number,
    sampleTarget: Uint32Array,
    timestampWrites?: GPUComputePassTimestampWrites,
  ): void {
    validateSampleTargets(this.spec, batchSize, sampleTarget);
    if (batchSize > this.options.maxBatchSize) {
      throw new KernelInputError(
        'batchSize',
        `${batchSize} is more than the ${this.options.maxBatchSize} this kernel was made for`,
      );
    }
    const { classes, height, width } = this.spec;
    const needed = batchSize * classes * height * width * 4;
    if (modelOutput.size < needed) {
      throw new KernelInputError(
        'modelOutput',
        `must hold at least ${needed} bytes, has ${modelOutput.size}`,
      );
    }
    new Uint32Array(this.paramsData, 0, 1)[0] = batchSize;
    this.device.queue.writeBuffer(this.params, 0, this.paramsData);
    writeToBuffer(this.device, this.sampleTarget, sampleTarget, batchSize * 4);
    this.lastBatchSize = batchSize;

    const pass = encoder.beginComputePass({
      label: 'outcome pass',
      ...(timestampWrites ? { timestampWrites } : {}),
    });
    pass.setBindGroup(0, this.bindGroupFor(modelOutput));
    pass.setPipeline(this.family.pipeline('scoreSamples', this.constants));
    pass.dispatchWorkgroups(batchSize);
    pass.setPipeline(this.family.pipeline('accumulateEffects', this.constants));
    pass.dispatchWorkgroups(Math.ceil(this.spec.accumulatorCount / ACCUMULATE_WORKGROUP_SIZE));
    pass.end();
  }

  /** Scores and accumulates a batch, and submits the work. */
  run(modelOutput: GPUBuffer, batchSize: number, sampleTarget: Uint32Array): void {
    const encoder = this.device.createCommandEncoder({ label: 'outcome encoder' });
    this.encode(encoder, modelOutput, batchSize, sampleTarget);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Copies back the last batch's scores and every accumulator. */
  async read(): Promise<OutcomeReadback> {
    const encoder = this.device.createCommandEncoder({ label: 'outcome readback encoder' });
    encoder.copyBufferToBuffer(this.scoresBuffer, 0, this.readback, 0, this.scoresBuffer.size);
    encoder.copyBufferToBuffer(
      this.effectsBuffer,
      0,
      this.readback,
      this.scoresBuffer.size,
      this.effectsBuffer.size,
    );
    this.device.queue.submit([encoder.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ);
    try {
      const mapped = this.readback.getMappedRange();
      const scores = new Float32Array(mapped, 0, this.lastBatchSize).slice();
      const effects = Float64Array.from(
        new Float32Array(mapped, this.scoresBuffer.size, this.spec.accumulatorCount * 3),
      );
      return { scores, effects };
    } finally {
      this.readback.unmap();
    }
  }

  /** Zeroes every accumulator. */
  reset(): void {
    this.device.queue.writeBuffer(
      this.effectsBuffer,
      0,
      new Float32Array(this.effectsBuffer.size / 4),
    );
  }

  /** Destroys the buffers this instance made; the caller's output buffers are left alone. */
  destroy(): void {
    for (const buffer of [
      this.params,
      this.reference,
      this.sampleTarget,
      this.scoresBuffer,
      this.effectsBuffer,
      this.readback,
    ]) {
      buffer.destroy();
    }
  }

  private bindGroupFor(modelOutput: GPUBuffer): GPUBindGroup {
    let bindGroup = this.bindGroups.get(modelOutput);
    if (!bindGroup) {
      bindGroup = this.family.bindGroup(modelOutput.label || 'model output', {
        params: this.params,
        modelOutput,
        reference: this.reference,
        sampleTarget: this.sampleTarget,
        scores: this.scoresBuffer,
        effects: this.effectsBuffer,
      });
      this.bindGroups.set(modelOutput, bindGroup);
    }
    return bindGroup;
  }

  private fillConstantParams(): void {
    const { classes, height, width, roi, classIndex, accumulatorCount, threshold } = this.spec;
    new Uint32Array(this.paramsData, 0, 10).set([
      0,
      classes,
      height,
      width,
      roi.top,
      roi.left,
      roi.height,
      roi.width,
      classIndex,
      accumulatorCount,
    ]);
    new Float32Array(this.paramsData, 40, 2).set([threshold, 0]);
    new Uint32Array(this.paramsData, 48, 1)[0] = QUIET_NAN_BITS;
  }
}
