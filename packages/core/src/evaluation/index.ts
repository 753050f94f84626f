export {
  curveArea,
  curvePasses,
  CURVE_KINDS,
  rankingCurves,
  type Curve,
  type CurveKind,
} from './curves.ts';
export {
  DEFAULT_REMOVAL_DRAWS,
  evaluateImage,
  type FaithfulnessImageOptions,
  type FaithfulnessProgress,
  type ImageEvaluation,
  type MethodEvaluation,
} from './faithfulness.ts';
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
  type Removal,
  type RemovalFill,
} from './removal.ts';
export { scoreRemovals } from './replacements.ts';
export {
  FAITHFULNESS_VERSION,
  faithfulnessResult,
  ROI_NOTE,
  type AreaSummary,
  type FaithfulnessResult,
  type MethodSummary,
} from './result.ts';
export { faithfulnessReportHtml } from './report.ts';
