export * from './errors.ts';
export {
  explain,
  frozenStatistics,
  summarise,
  type ExplainOptions,
  type OutcomeOptions,
  type Preset,
} from './explain.ts';
export type { BatchEvaluator } from './evaluator.ts';
export { CpuEvaluator, GpuEvaluator } from './evaluators.ts';
export {
  estimatePaper,
  outsideRoi,
  PAPER_DEFAULTS,
  type EstimationProgress,
  type ProvisionalEffect,
} from './estimation/paper.ts';
export { estimateZero } from './estimation/zero.ts';
export { benjaminiHochberg, estimateFast, FAST_DEFAULTS } from './estimation/fast.ts';
export { pruneExactZeros } from './estimation/pruning.ts';
export { screenGroups } from './estimation/screening.ts';
export * from './image-adaptation.ts';
export { decodeImage, type RasterImage } from './images.ts';
export { Logger, type LogLevel } from './logger.ts';
export {
  isSoftwareAdapter,
  ModelRunner,
  type Backend,
  type BackendChoice,
  type ModelLoadOptions,
  type ModelShape,
  type OrtModule,
  type OrtRuntimes,
} from './model-runner.ts';
export {
  imageSignature,
  inspectOnnxModel,
  relaxModelShapes,
  type OnnxModelInfo,
  type TensorDescription,
} from './onnx-model.ts';
export { receptiveField, type Reach, type ReceptiveField, type Span } from './receptive-field.ts';
export { cutPatchBank, patchBankFromImages, patchStrata, zeroPatchBank } from './patch-banks.ts';
export { SeededRandom } from './random.ts';
export {
  RESULT_VERSION,
  type BlockEffect,
  type ExplanationResult,
  type ModelDescription,
} from './result.ts';
export { CONFIDENCE_LEVEL, EffectTally } from './statistics.ts';
export * from './outputs/index.ts';
export * from './evaluation/index.ts';
export { parseBlock, parseNormalize, parseRegion, parseSize } from './option-text.ts';
export {
  explanationFiles,
  preprocessingForChannels,
  runExplanation,
  type Explanation,
  type ExplanationJob,
  type NamedRaster,
} from './job.ts';
export { browserRuntimes, type WasmPaths } from './browser.ts';
export * from './components/index.ts';
