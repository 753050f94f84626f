import interventionWgsl from './intervention.wgsl?raw';
import { KernelInputError } from './errors.ts';
import {
  channelStatistics,
  MAX_CHANNELS,
  validateInterventionSource,
  validatePlan,
  type InterventionPlan,
  type InterventionSource,
} from './intervention-plan.ts';
import { createBuffer, kernelFamily, writeToBuffer, type KernelFamily } from './kernel-family.ts';

const PREPROCESSING_CODE = { none: 0, meanStd: 1, zscore: 2 } as const;
const TILE_WIDTH = 64;
const TILE_HEIGHT = 4;
const STATS_WORKGROUP_SIZE = 64;
/** Bytes of the WGSL `Params` struct: 8 u32, 4 vec4<f32>, 1 f32, padded to 16. */
const PARAMS_BYTES = 112;

export interface GpuInterventionOptions {
  /** Largest batch a single `run` may write; sizes the plan and statistics buffers. */
  readonly maxBatchSize: number;
}

/**
 * The intervention kernel on one `GPUDevice` (a browser's, Dawn's, or onnxruntime-web's own).
 * The base image and the patch bank are uploaded once; each `run` uploads only the plan and
 * writes the batch into a buffer the caller owns, such as a model's input buffer.
 *
 * @example
 * const intervention = new GpuIntervention(device, { image, patchBank, grid, preprocessing }, {
 *   maxBatchSize: 64,
 * });
 * intervention.run(plan, modelInputBuffer); // B x C x H x W float32, STORAGE usage
 */
export class GpuIntervention {
  private readonly family: KernelFamily;
  private readonly params: GPUBuffer;
  private readonly baseImage: GPUBuffer;
  private readonly patchBank: GPUBuffer;
  private readonly patchOfBlock: GPUBuffer;
  private readonly sampleStats: GPUBuffer;
  private readonly constants: Record<string, number>;
  private readonly bindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();
  private readonly paramsData = new ArrayBuffer(PARAMS_BYTES);

  constructor(
    readonly device: GPUDevice,
    readonly source: InterventionSource,
    readonly options: GpuInterventionOptions,
  ) {
    validateInterventionSource(source);
    const { image, patchBank, grid } = source;
    const { maxBatchSize } = options;
    const usage = GPUBufferUsage.STORAGE;
    this.family = kernelFamily(device, 'intervention', interventionWgsl);
    this.params = createBuffer(device, 'intervention params', GPUBufferUsage.UNIFORM, PARAMS_BYTES);
    this.baseImage = createBuffer(
      device,
      'intervention base image',
      usage,
      image.data.byteLength,
      image.data,
    );
    this.patchBank = createBuffer(
      device,
      'intervention patch bank',
      usage,
      patchBank.data.byteLength,
      patchBank.data,
    );
    this.patchOfBlock = createBuffer(
      device,
      'intervention plan',
      usage,
      maxBatchSize * grid.blockCount * 4,
    );
    this.sampleStats = createBuffer(
      device,
      'intervention sample statistics',
      usage,
      maxBatchSize * 32,
    );
    this.constants = {
      PREPROCESSING: PREPROCESSING_CODE[source.preprocessing.kind],
      TILE_WIDTH,
      TILE_HEIGHT,
      STATS_WORKGROUP_SIZE,
    };
    this.fillConstantParams();
  }

  /** Bytes one batch of `batchSize` images occupies in the target buffer. */
  batchBytes(batchSize: number): number {
    const { image } = this.source;
    return batchSize * image.channels * image.height * image.width * 4;
  }

  /**
   * Records the passes that write `plan`'s batch into `batch`. The plan is uploaded now, so
   * submit `encoder` before the next `encode` on this instance.
   */
  encode(
    encoder: GPUCommandEncoder,
    plan: InterventionPlan,
    batch: GPUBuffer,
    timestampWrites?: GPUComputePassTimestampWrites,
  ): void {
    validatePlan(this.source, plan);
    if (plan.batchSize > this.options.maxBatchSize) {
      throw new KernelInputError(
        'plan',
        `has ${plan.batchSize} samples, more than the ${this.options.maxBatchSize} this kernel was made for`,
      );
    }
    if (batch.size < this.batchBytes(plan.batchSize)) {
      throw new KernelInputError(
        'batch',
        `must hold at least ${this.batchBytes(plan.batchSize)} bytes, has ${batch.size}`,
      );
    }
    new Uint32Array(this.paramsData, 0, 1)[0] = plan.batchSize;
    this.device.queue.writeBuffer(this.params, 0, this.paramsData);
    writeToBuffer(this.device, this.patchOfBlock, plan.patchOfBlock);

    const { image } = this.source;
    const bindGroup = this.bindGroupFor(batch);
    const pass = encoder.beginComputePass({
      label: 'intervention pass',
      ...(timestampWrites ? { timestampWrites } : {}),
    });
    pass.setBindGroup(0, bindGroup);
    if (this.source.preprocessing.kind === 'zscore') {
      pass.setPipeline(this.family.pipeline('sampleStatistics', this.constants));
      pass.dispatchWorkgroups(plan.batchSize);
    }
    pass.setPipeline(this.family.pipeline('writeBatch', this.constants));
    pass.dispatchWorkgroups(
      Math.ceil(image.width / TILE_WIDTH),
      Math.ceil(image.height / TILE_HEIGHT),
      plan.batchSize,
    );
    pass.end();
  }

  /** Writes `plan`'s batch into `batch` and submits the work. */
  run(plan: InterventionPlan, batch: GPUBuffer): void {
    const encoder = this.device.createCommandEncoder({ label: 'intervention encoder' });
    this.encode(encoder, plan, batch);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Destroys the buffers this instance made; the caller's batch buffers are left alone. */
  destroy(): void {
    for (const buffer of [
      this.params,
      this.baseImage,
      this.patchBank,
      this.patchOfBlock,
      this.sampleStats,
    ]) {
      buffer.destroy();
    }
  }

  private bindGroupFor(batch: GPUBuffer): GPUBindGroup {
    let bindGroup = this.bindGroups.get(batch);
    if (!bindGroup) {
      bindGroup = this.family.bindGroup(batch.label || 'batch', {
        params: this.params,
        baseImage: this.baseImage,
        patchBank: this.patchBank,
        patchOfBlock: this.patchOfBlock,
        sampleStats: this.sampleStats,
        batch,
      });
      this.bindGroups.set(batch, bindGroup);
    }
    return bindGroup;
  }

  /** Fills every field of `Params` but `batchSize`, which changes with each plan. */
  private fillConstantParams(): void {
    const { image, grid, preprocessing } = this.source;
    const words = new Uint32Array(this.paramsData, 0, 8);
    words.set([
      0,
      image.channels,
      image.height,
      image.width,
      grid.blockHeight,
      grid.blockWidth,
      grid.columns,
      grid.blockCount,
    ]);
    const floats = new Float32Array(this.paramsData, 32, 17);
    const mean = new Float32Array(MAX_CHANNELS);
    const inverseStd = new Float32Array(MAX_CHANNELS).fill(1);
    if (preprocessing.kind === 'meanStd') {
      mean.set(preprocessing.mean);
      inverseStd.set(preprocessing.std.map((std) => 1 / std));
    }
    const base = channelStatistics(image);
    floats.set(mean, 0);
    floats.set(inverseStd, 4);
    floats.set(base.mean, 8);
    floats.set(base.squaredDeviations, 12);
    floats[16] = preprocessing.kind === 'zscore' ? preprocessing.epsilon : 0;
  }
}
