export {
  analyseComponents,
  COMPONENT_DEFAULTS,
  type ComponentAnalysisOptions,
} from './analysis.ts';
export { ComponentError } from './errors.ts';
export {
  candidateTensors,
  exposeTensors,
  interventionGraph,
  interventionInputs,
  type CandidateTensor,
} from './graph.ts';
export { componentFiles, runComponentAnalysis, type ComponentAnalysisJob } from './job.ts';
export { modelInput, naturalCrops } from './natural.ts';
export {
  COMPONENT_OPTIMIZATION_LEVEL,
  ComponentNetwork,
  IntervenedModel,
  type ComponentTensor,
  type TensorReplacement,
} from './network.ts';
export {
  COMPONENT_GRANULARITIES,
  COMPONENT_INTERVENTIONS,
  type ComponentAnalysisResult,
  type ComponentEffect,
  type ComponentGranularity,
  type ComponentIntervention,
  type LayerEffect,
} from './result.ts';
export { componentReportHtml, componentTable } from './report.ts';
