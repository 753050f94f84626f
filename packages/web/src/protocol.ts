// The messages between the page and the worker that runs explanations and component analyses,
// so that the page stays responsive while the model runs and a run can be cancelled between
// batches.
import type {
  Backend,
  BackendChoice,
  ComponentAnalysisResult,
  ComponentGranularity,
  ComponentIntervention,
  EstimationProgress,
  ExplanationResult,
  NamedRaster,
  Preset,
  ProvisionalEffect,
} from '@pdcr/core';
import type { Activation, Preprocessing, Region } from '@pdcr/kernels';

/** What both kinds of run take: the inputs, and how the model sees them. */
export interface SharedRequest {
  readonly model: { readonly name: string; readonly bytes: Uint8Array };
  readonly image: NamedRaster;
  readonly mask?: NamedRaster;
  readonly crop?: Region;
  readonly roi: Region;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly channels?: number;
  readonly size?: { readonly height: number; readonly width: number } | 'image';
  readonly normalize: Preprocessing;
  readonly activation: Activation;
  readonly classIndex?: number;
  readonly binarize: number;
  readonly batch?: number;
}

/** An explanation as the page asks for it: the job's inputs, all of them clonable. */
export interface RunRequest extends SharedRequest {
  readonly block: { readonly height: number; readonly width: number };
  readonly patchImages?: readonly NamedRaster[];
  readonly patchCount: number;
  readonly preset: Preset;
  readonly samples?: number;
  readonly screen?: number;
  readonly threshold?: number;
  readonly freezeStats?: boolean;
  /** False: whole images, not the RoI's window (the CLI's --no-window). */
  readonly window?: boolean;
}

/**
 * A component analysis as the page asks for it; natural samples come from `naturalSources` (the
 * page's patch images) when given, else from the image itself away from the crop.
 */
export interface ComponentsRequest extends SharedRequest {
  readonly naturalSources?: readonly NamedRaster[];
  readonly select?: string;
  readonly granularity: ComponentGranularity;
  readonly intervention: ComponentIntervention;
  readonly naturalCount: number;
  /** Most draws per component, draws per round, and the dead zone (the CLI's --samples, --round
   * and --threshold); absent: the analysis's defaults. */
  readonly samples?: number;
  readonly round?: number;
  readonly threshold?: number;
}

export type ToWorker =
  | { readonly type: 'run'; readonly request: RunRequest }
  | { readonly type: 'components'; readonly request: ComponentsRequest }
  | { readonly type: 'cancel' }
  /** Test-only (the page's `?test-hooks`): destroys the running model's GPU device. */
  | { readonly type: 'lose-device' };

export type FromWorker =
  | { readonly type: 'started'; readonly backend: Backend; readonly batchSize: number }
  | { readonly type: 'progress'; readonly progress: EstimationProgress; readonly seconds: number }
  | { readonly type: 'effects'; readonly effects: ProvisionalEffect[] }
  | {
      readonly type: 'done';
      readonly result: ExplanationResult;
      readonly files: Record<string, Uint8Array | string>;
    }
  | {
      readonly type: 'components-done';
      readonly result: ComponentAnalysisResult;
      readonly files: Record<string, string>;
    }
  | { readonly type: 'failed'; readonly message: string; readonly deviceLost: boolean };
