export { BlockGrid } from './block-grid.ts';
export { KernelInputError } from './errors.ts';
export {
  channelStatistics,
  InterventionPlan,
  KEEP_BLOCK,
  MAX_CHANNELS,
  validateInterventionSource,
  validatePlan,
  type ChannelStatistics,
  type InterventionSource,
  type Preprocessing,
} from './intervention-plan.ts';
export {
  CpuIntervention,
  interventionStatistics,
  shiftedStatistics,
} from './intervention-reference.ts';
export { GpuIntervention, type GpuInterventionOptions } from './intervention.ts';
export {
  NO_TARGET,
  OVERLAP_EPSILON,
  validateOutcomeSpec,
  type Activation,
  type OutcomeMetric,
  type OutcomeReadback,
  type OutcomeSpec,
} from './outcome-spec.ts';
export { activatedValue, CpuOutcome, scoreSample } from './outcome-reference.ts';
export { GpuOutcome, type GpuOutcomeOptions } from './outcome.ts';
export { kernelFamily, type KernelFamily } from './kernel-family.ts';
export { reflectBufferBindings, type BufferBinding } from './reflection.ts';
export type { BatchShape, PatchBank, PlanarImage, Region } from './tensors.ts';
export { elementCount } from './tensors.ts';
export { default as interventionWgsl } from './intervention.wgsl?raw';
export { default as outcomeWgsl } from './outcome.wgsl?raw';
