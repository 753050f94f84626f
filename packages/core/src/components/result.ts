import type { Region } from '@pdcr/kernels';
import type { ModelDescription } from '../result.ts';

/** A component is a whole intermediate tensor, or one channel of one. */
export type ComponentGranularity = 'tensor' | 'channel';

/**
 * What replaces a component: its value on another natural image (`resample`, the default, the
 * counterpart of natural patches), its mean over the natural images (`mean`), or zeros.
 */
export type ComponentIntervention = 'resample' | 'mean' | 'zero';

export const COMPONENT_GRANULARITIES: readonly ComponentGranularity[] = ['tensor', 'channel'];
export const COMPONENT_INTERVENTIONS: readonly ComponentIntervention[] = [
  'resample',
  'mean',
  'zero',
];

/** One component's treatment effect on the RoI score, as `result.json` lists it. */
export interface ComponentEffect {
  /** The tensor's name, with `[c]` for one of its channels. */
  readonly component: string;
  readonly tensor: string;
  /** The channel, or null when the component is the whole tensor. */
  readonly channel: number | null;
  /** The operator and node that produce the tensor. */
  readonly operator: string;
  readonly node: string;
  /** One sample's shape of the tensor (C x ...) at the size the model ran at. */
  readonly shape: readonly number[];
  /** Mean of (score - base score) over the draws; 0 where the decision is "no effect". */
  readonly ate: number;
  /** The mean effect measured, before any zeroing. */
  readonly meanEffect: number;
  readonly se: number;
  /** Draws (forward passes) spent on this component. */
  readonly n: number;
  /** 95% Student-t interval of the mean effect measured. */
  readonly ciLow: number;
  readonly ciHigh: number;
  readonly significant: boolean;
}

/** A tensor's components summed up: the per-layer view of a channel analysis. */
export interface LayerEffect {
  readonly tensor: string;
  readonly operator: string;
  readonly channels: number;
  /** Channels analysed (all of them, or those finished before an interruption). */
  readonly analysed: number;
  readonly significantChannels: number;
  /**
   * Sum of the channels' ATEs, each measured with that channel alone replaced: not the effect of
   * replacing the whole layer, since channel effects interact and do not add up. And the channel
   * with the largest |ATE|.
   */
  readonly totalAte: number;
  readonly strongest: { readonly channel: number | null; readonly ate: number } | null;
}

/** Everything a component analysis's `result.json` holds. */
export interface ComponentAnalysisResult {
  readonly version: number;
  readonly kind: 'components';
  readonly model: ModelDescription;
  readonly image: { readonly path?: string; readonly height: number; readonly width: number };
  readonly roi: Region;
  readonly granularity: ComponentGranularity;
  readonly intervention: ComponentIntervention;
  /** The selection pattern, or null for every component. */
  readonly select: string | null;
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
     * The most draws a component gets (1 under `mean` and `zero`): those asked, capped so that
     * no component is given the same natural image twice, the default and the cap rounded down
     * to whole rounds.
     */
    readonly samples: number;
    /** The most draws asked for (1 under `mean` and `zero`). */
    readonly samplesAsked: number;
    readonly round: number;
    readonly threshold: number;
    readonly falseDiscoveryRate: number;
    /** Natural images the components' values are taken from (0 under `zero`). */
    readonly naturalSamples: number;
    readonly preprocessing: string;
    readonly batchSize: number;
  };
  readonly baseScore: number;
  /** Every image run through the model, and how many went to each step. */
  readonly forwardPasses: number;
  readonly passes: {
    readonly probe: number;
    readonly natural: number;
    readonly base: number;
    readonly estimate: number;
  };
  readonly modelSeconds: number;
  readonly seconds: number;
  /** False when interrupted: `components` then lists only those finished. */
  readonly complete: boolean;
  /** Ranked: largest |ATE| first, then largest |measured mean|. */
  readonly components: readonly ComponentEffect[];
  /** One entry per tensor analysed, in graph order. */
  readonly layers: readonly LayerEffect[];
}
