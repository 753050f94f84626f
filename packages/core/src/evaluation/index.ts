export {
  curveArea,
  curvePasses,
  CURVE_KINDS,
  rankingCurves,
  type Curve,
  type CurveKind,
} from './curves.ts';
export {
  checkEvaluationRoi,
  DEFAULT_REMOVAL_DRAWS,
  evaluateImage,
  needsPatchBank,
  type FaithfulnessImageOptions,
  type FaithfulnessProgress,
  type ImageEvaluation,
  type MethodEvaluation,
} from './faithfulness.ts';
export { FaithfulnessError } from './errors.ts';
export {
  FAITHFULNESS_METHODS,
  rankBlocks,
  RISE_DEFAULTS,
  type FaithfulnessMethod,
} from './methods.ts';
export {
  BLUR_SIGMA_IN_BLOCKS,
  blurredBlockBank,
  gaussianBlur,
  meanPatchBank,
  removalFill,
  REMOVALS,
  splitPatchBank,
  type Removal,
  type RemovalFill,
} from './removal.ts';
export { scoreRemovals } from './replacements.ts';
export {
  FAITHFULNESS_VERSION,
  faithfulnessResult,
  formatArea,
  ROI_NOTE,
  type AreaSummary,
  type FaithfulnessResult,
  type IntervalSource,
  type MethodSummary,
} from './result.ts';
export { faithfulnessReportHtml } from './report.ts';
