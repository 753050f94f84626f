import type { Region } from '@pdcr/kernels';

export const RESULT_VERSION = 1;

/** One block's treatment effect on the RoI score, as `result.json` lists it. */
export interface BlockEffect {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
  /**
   * The map's value: mean of (score - base score) over the draws, 0 where the preset zeroes it
   * (paper: means below the threshold; fast: blocks pruned or screened out, whose draws all left
   * the score as it was).
   */
  readonly ate: number;
  /** Standard error of the mean effect measured (before any zeroing). */
  readonly se: number;
  /**
   * Draws of this block: each a forward pass, except that some draws of blocks scored through
   * the statistics route are inferred (see `ExplanationResult.statisticsRoute`).
   */
  readonly n: number;
  /** 95% Student-t interval of the mean effect measured. */
  readonly ciLow: number;
  readonly ciHigh: number;
  /** Whether the preset's decision is that the block has an effect. */
  readonly significant: boolean;
  /**
   * Whether a screen settled the block at zero (paper: its own screen; fast: its group's, or its
   * first round): every screening draw left the score as it was. Its interval is then that of
   * the screen's few draws, not of a sample taken to estimate it.
   */
  readonly screened: boolean;
}

export interface ModelDescription {
  readonly path?: string;
  readonly sha256: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly inputShape: readonly (number | string)[];
  readonly outputShape: readonly (number | string)[];
}

/** Everything `result.json` holds (DESIGN section 3). */
export interface ExplanationResult {
  readonly version: number;
  readonly model: ModelDescription;
  readonly image: { readonly path?: string; readonly height: number; readonly width: number };
  readonly roi: Region;
  readonly block: { readonly height: number; readonly width: number };
  readonly preset: string;
  readonly seed: number;
  readonly backend: string;
  readonly outcome: {
    readonly metric: string;
    readonly reference: 'mask' | 'prediction';
    readonly activation: string;
    readonly classIndex: number;
    readonly binarize: number;
  };
  readonly parameters: {
    /**
     * paper: draws per block past its screen; fast: draws after which a block stops unless more
     * could bring it to a call.
     */
    readonly samples: number;
    /**
     * fast: the most draws a block may take past `samples`, where they could bring it to a
     * call (`FAST_DEFAULTS.extraDrawFactor`); its `n` can then be above `samples`.
     */
    readonly extraDraws?: number;
    /**
     * fast, where blocks were scored through the statistics route: the most draws past `samples`
     * such a block may take, while its mean lies beyond the threshold
     * (`FAST_DEFAULTS.routeExtraDrawMultiple`).
     */
    readonly routeExtraDraws?: number;
    /**
     * fast: the false discovery rate its calls are made at, by Benjamini-Hochberg on p-values
     * that pay for every look at a block's draws; paper and zero call a block significant where
     * its mean is at or beyond the threshold, at no stated error rate.
     */
    readonly falseDiscoveryRate?: number;
    readonly screen: number;
    readonly threshold: number;
    readonly preprocessing: string;
    readonly patches: number;
    readonly batchSize: number;
  };
  readonly baseScore: number;
  /**
   * The window of the image the model ran on, holding the RoI's receptive field (image rows and
   * columns); absent where it ran on whole images.
   */
  readonly window?: Region;
  /** Forward passes of the model, the check of the window's output included. */
  readonly forwardPasses: number;
  /**
   * Seconds spent in the model's runs. On WebGPU this counts submitting the work, not always
   * finishing it, as onnxruntime may return before the GPU is done.
   */
  readonly modelSeconds: number;
  readonly seconds: number;
  /**
   * fast under per-image z-score: the blocks found beyond the receptive field, whose draws were
   * scored from the intervened image's statistics; of their draws, how many were run and how
   * many inferred from runs with the same score around them. Absent where the route was not used.
   */
  readonly statisticsRoute?: {
    readonly blocks: number;
    readonly drawsRun: number;
    readonly drawsInferred: number;
    /** Under `checkStatisticsRoute`: inferred draws run as well, and those whose run differed. */
    readonly drawsChecked?: number;
    readonly drawsWrong?: number;
  };
  /** False when the run was interrupted: `blocks` then lists only the blocks it finished. */
  readonly complete: boolean;
  readonly blocks: readonly BlockEffect[];
  readonly summary: { readonly positive: number; readonly negative: number; readonly zero: number };
}
