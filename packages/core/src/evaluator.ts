import type { InterventionPlan, OutcomeReadback } from '@pdcr/kernels';

/**
 * Runs intervened batches through the model and scores them: the one thing an estimator needs
 * from a backend. Implemented on the CPU (kernel references and onnxruntime tensors) and on
 * WebGPU (kernels writing the model's input buffer and reading its output buffer).
 */
export interface BatchEvaluator {
  /** Most samples one `evaluate` may run. */
  readonly maxBatchSize: number;
  /** Blocks of the grid the plans refer to. */
  readonly blockCount: number;
  /** The backend's name as results report it: `cpu`, `wasm` or `webgpu`. */
  readonly backend: string;
  /** Images run through the model so far. */
  readonly forwardPasses: number;
  /** Seconds spent waiting on the model's runs, for the share of time outside them. */
  readonly modelSeconds: number;
  /**
   * Writes the plan's batch, runs the model on it and scores each sample; `targets[s]` names the
   * accumulator sample s adds `score - baseScore` to (or NO_TARGET). Returns the batch's scores
   * and the accumulators' sums over this batch alone.
   */
  evaluate(plan: InterventionPlan, targets: Uint32Array): Promise<OutcomeReadback>;
  /** The score subtracted before accumulation: the untouched image's, once measured. */
  readonly baseScore: number;
  /** Sets the score subtracted before accumulation. */
  setBaseScore(score: number): void;
  /** Frees what the evaluator holds (GPU buffers, sessions it made). */
  dispose(): Promise<void>;
}
