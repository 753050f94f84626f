import {
  CpuIntervention,
  CpuOutcome,
  GpuIntervention,
  GpuOutcome,
  type InterventionPlan,
  type InterventionSource,
  type OutcomeReadback,
  type OutcomeSpec,
} from '@pdcr/kernels';
import { BackendError, ModelOutputError } from './errors.ts';
import type { BatchEvaluator } from './evaluator.ts';
import type { ModelRunner } from './model-runner.ts';

function requireFiniteScores(readback: OutcomeReadback, model: string): OutcomeReadback {
  if (readback.scores.some(Number.isNaN)) {
    throw new ModelOutputError(
      model,
      'produced NaN or infinite values inside the RoI; check the model and its input ' +
        'normalisation (--normalize)',
    );
  }
  return readback;
}

/**
 * Batches written by the intervention kernel's CPU reference, run through onnxruntime with CPU
 * tensors, scored by the outcome kernel's CPU reference.
 */
export class CpuEvaluator implements BatchEvaluator {
  readonly backend: string;
  readonly maxBatchSize: number;
  readonly blockCount: number;
  forwardPasses = 0;
  modelSeconds = 0;
  baseScore = 0;
  private readonly intervention: CpuIntervention;
  private readonly outcome: CpuOutcome;
  private readonly batch: Float32Array;

  constructor(
    private readonly model: ModelRunner,
    source: InterventionSource,
    spec: OutcomeSpec,
  ) {
    this.backend = model.backend;
    this.maxBatchSize = model.maxBatchSize;
    this.blockCount = source.grid.blockCount;
    this.intervention = new CpuIntervention(source);
    this.outcome = new CpuOutcome(spec);
    this.batch = new Float32Array(this.maxBatchSize * model.inputSize);
  }

  setBaseScore(score: number): void {
    this.baseScore = score;
    this.outcome.setBaseScore(score);
  }

  async evaluate(plan: InterventionPlan, targets: Uint32Array): Promise<OutcomeReadback> {
    this.intervention.run(plan, this.batch, this.model.inputWindow);
    const started = performance.now();
    const output = await this.model.run(this.batch, plan.batchSize);
    this.modelSeconds += (performance.now() - started) / 1000;
    this.forwardPasses += plan.batchSize;
    this.outcome.run(output, plan.batchSize, targets);
    const readback = await this.outcome.read();
    this.outcome.reset();
    return requireFiniteScores(readback, this.model.name);
  }

  async dispose(): Promise<void> {}
}

/**
 * The zero-copy path: on onnxruntime's own WebGPU device, the intervention kernel writes the
 * model's input buffer and the outcome kernel reads its output buffer; only scores and the
 * accumulators come back to the CPU.
 */
export class GpuEvaluator implements BatchEvaluator {
  readonly backend = 'webgpu';
  readonly maxBatchSize: number;
  readonly blockCount: number;
  forwardPasses = 0;
  modelSeconds = 0;
  baseScore = 0;
  private lost: GPUDeviceLostInfo | null = null;

  private constructor(
    private readonly model: ModelRunner,
    private readonly intervention: GpuIntervention,
    private readonly outcome: GpuOutcome,
    device: GPUDevice,
  ) {
    this.maxBatchSize = model.maxBatchSize;
    this.blockCount = intervention.source.grid.blockCount;
    void device.lost.then((info) => {
      this.lost = info;
    });
  }

  static async create(
    model: ModelRunner,
    source: InterventionSource,
    spec: OutcomeSpec,
  ): Promise<GpuEvaluator> {
    const device = await model.gpuDevice();
    if (!device)
      throw new BackendError('backend', `the model runs on ${model.backend}, not on WebGPU`);
    const options = { maxBatchSize: model.maxBatchSize };
    return new GpuEvaluator(
      model,
      new GpuIntervention(device, source, options),
      new GpuOutcome(device, spec, options),
      device,
    );
  }

  setBaseScore(score: number): void {
    this.baseScore = score;
    this.outcome.setBaseScore(score);
  }

  async evaluate(plan: InterventionPlan, targets: Uint32Array): Promise<OutcomeReadback> {
    this.requireDevice();
    this.intervention.run(plan, await this.model.gpuInput(plan.batchSize));
    const started = performance.now();
    const output = await this.model.runOnGpu(plan.batchSize);
    this.modelSeconds += (performance.now() - started) / 1000;
    try {
      this.outcome.run(output.buffer, plan.batchSize, targets);
      const readback = await this.outcome.read();
      this.outcome.reset();
      this.requireDevice();
      this.forwardPasses += plan.batchSize;
      return requireFiniteScores(readback, this.model.name);
    } finally {
      output.release();
    }
  }

  async dispose(): Promise<void> {
    this.intervention.destroy();
    this.outcome.destroy();
  }

  private requireDevice(): void {
    if (this.lost) {
      throw new BackendError(
        'webgpu',
        `the GPU device was lost (${this.lost.reason}: ${this.lost.message}); run again, or use --backend cpu`,
      );
    }
  }
}
