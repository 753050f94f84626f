// The messages between the page and the worker that runs explanations, so that the page stays
// responsive while the model runs and a run can be cancelled between batches.
import type {
  Backend,
  BackendChoice,
  EstimationProgress,
  ExplanationResult,
  NamedRaster,
  Preset,
  ProvisionalEffect,
} from '@pdcr/core';
import type { Activation, Preprocessing, Region } from '@pdcr/kernels';

/** An explanation as the page asks for it: the job's inputs, all of them clonable. */
export interface RunRequest {
  readonly model: { readonly name: string; readonly bytes: Uint8Array };
  readonly image: NamedRaster;
  readonly mask?: NamedRaster;
  readonly crop?: Region;
  readonly roi: Region;
  readonly block: { readonly height: number; readonly width: number };
  readonly patchImages?: readonly NamedRaster[];
  readonly patchCount: number;
  readonly preset: Preset;
  readonly samples?: number;
  readonly screen?: number;
  readonly threshold?: number;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly channels?: number;
  readonly size?: { readonly height: number; readonly width: number } | 'image';
  readonly normalize: Preprocessing;
  readonly activation: Activation;
  readonly classIndex?: number;
  readonly binarize: number;
  readonly freezeStats?: boolean;
  readonly batch?: number;
}

export type ToWorker =
  { readonly type: 'run'; readonly request: RunRequest } | { readonly type: 'cancel' };

export type FromWorker =
  | { readonly type: 'started'; readonly backend: Backend; readonly batchSize: number }
  | { readonly type: 'progress'; readonly progress: EstimationProgress; readonly seconds: number }
  | { readonly type: 'effects'; readonly effects: ProvisionalEffect[] }
  | {
      readonly type: 'done';
      readonly result: ExplanationResult;
      readonly files: Record<string, Uint8Array | string>;
    }
  | { readonly type: 'failed'; readonly message: string; readonly deviceLost: boolean };
