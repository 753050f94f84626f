import type { ModelRunner } from '../model-runner.ts';
import type { OutcomeOptions } from '../explain.ts';
import type { ModelDescription } from '../result.ts';
import { EffectTally } from '../statistics.ts';
import type { CurveKind } from './curves.ts';
import type { ImageEvaluation } from './faithfulness.ts';
import type { FaithfulnessMethod } from './methods.ts';
import type { Removal } from './removal.ts';

/** 2: intervals null where there is none, maps and base passes counted as run. */
export const FAITHFULNESS_VERSION = 2;

/** Said in every result and report, since it changes what the curves can show. */
export const ROI_NOTE =
  "Only blocks outside the RoI are ranked and removed, as in explain: the RoI's own blocks are " +
  'never removed, so the fully removed image still holds the RoI as it was.';

/**
 * A curve's area over the images (or, for one image, over the removal's draws), with its 95%
 * interval; null bounds where there is none (one image, one draw).
 */
export interface AreaSummary {
  readonly mean: number;
  readonly low: number | null;
  readonly high: number | null;
}

/** What the intervals are over: the images, one image's draws, or nothing (one draw). */
export type IntervalSource = 'images' | 'draws' | 'none';

export interface MethodSummary {
  readonly method: FaithfulnessMethod;
  /** Images this method was evaluated on. */
  readonly images: number;
  readonly deletion?: AreaSummary;
  readonly insertion?: AreaSummary;
  /** Mean forward passes of the method's map per image. */
  readonly forwardPasses: number;
}

/** Everything `pdcr evaluate` writes to `result.json`. */
export interface FaithfulnessResult {
  readonly version: number;
  readonly kind: 'faithfulness';
  readonly model: ModelDescription;
  readonly backend: string;
  readonly block: { readonly height: number; readonly width: number };
  readonly removal: Removal;
  /** Draws each curve averages over (1 unless the removal is by natural patches). */
  readonly draws: number;
  readonly curves: readonly CurveKind[];
  readonly methods: readonly FaithfulnessMethod[];
  readonly seed: number;
  readonly outcome: OutcomeOptions & { readonly reference: 'mask' | 'prediction' };
  readonly preprocessing: string;
  readonly note: string;
  /**
   * What the summary's intervals are over: the images when there are two or more, otherwise
   * the removal's draws on the one image; none with one image and one draw (a removal that is
   * not random, or `draws` 1), where the interval fields are null.
   */
  readonly intervalOver: IntervalSource;
  readonly summary: readonly MethodSummary[];
  readonly images: readonly ImageEvaluation[];
  /** Every forward pass: each image's base, the methods' maps and the curves. */
  readonly forwardPasses: number;
  readonly seconds: number;
  /** False when interrupted: `images` then lists only what was finished. */
  readonly complete: boolean;
}

/** The result of evaluating `methods` on `images`, with the summary over them. */
export function faithfulnessResult(header: {
  readonly model: ModelRunner;
  readonly modelPath?: string;
  readonly backend: string;
  readonly block: { readonly height: number; readonly width: number };
  readonly removal: Removal;
  readonly draws: number;
  readonly curves: readonly CurveKind[];
  readonly methods: readonly FaithfulnessMethod[];
  readonly seed: number;
  readonly outcome: OutcomeOptions;
  readonly reference: 'mask' | 'prediction';
  readonly preprocessing: string;
  readonly images: readonly ImageEvaluation[];
  readonly seconds: number;
  readonly complete: boolean;
}): FaithfulnessResult {
  const { model, images } = header;
  const draws = header.removal === 'patch' ? header.draws : 1;
  const intervalOver: IntervalSource =
    images.length >= 2 ? 'images' : draws >= 2 ? 'draws' : 'none';
  const summary = header.methods
    .map((method) => summariseMethod(method, images, intervalOver))
    .filter((entry) => entry.images > 0);
  const forwardPasses = images.reduce((sum, image) => sum + image.forwardPasses, 0);
  return {
    version: FAITHFULNESS_VERSION,
    kind: 'faithfulness',
    model: {
      ...(header.modelPath ? { path: header.modelPath } : {}),
      sha256: model.sha256,
      inputName: model.signature.input.name,
      outputName: model.signature.output.name,
      inputShape: model.signature.input.dims,
      outputShape: model.signature.output.dims,
    },
    backend: header.backend,
    block: { ...header.block },
    removal: header.removal,
    draws,
    curves: [...header.curves],
    methods: [...header.methods],
    seed: header.seed,
    outcome: { ...header.outcome, reference: header.reference },
    preprocessing: header.preprocessing,
    note: ROI_NOTE,
    intervalOver,
    summary,
    images,
    forwardPasses,
    seconds: header.seconds,
    complete: header.complete,
  };
}

function summariseMethod(
  method: FaithfulnessMethod,
  images: readonly ImageEvaluation[],
  intervalOver: IntervalSource,
): MethodSummary {
  const evaluations = images.flatMap((image) => image.methods.filter((m) => m.method === method));
  const area = (kind: CurveKind): AreaSummary | undefined => {
    const curves = evaluations.flatMap((evaluation) => evaluation[kind] ?? []);
    if (curves.length === 0) return undefined;
    if (intervalOver !== 'images') {
      const only = curves[0]!;
      return { mean: only.area, low: only.areaLow, high: only.areaHigh };
    }
    const tally = new EffectTally();
    for (const curve of curves) tally.add(1, curve.area, curve.area * curve.area);
    // A method an interruption left with one image has no spread over images to show.
    if (curves.length < 2) return { mean: tally.mean, low: null, high: null };
    const { low, high } = tally.interval();
    return { mean: tally.mean, low, high };
  };
  const deletion = area('deletion');
  const insertion = area('insertion');
  return {
    method,
    images: evaluations.length,
    ...(deletion ? { deletion } : {}),
    ...(insertion ? { insertion } : {}),
    forwardPasses:
      evaluations.reduce((sum, evaluation) => sum + evaluation.forwardPasses, 0) /
      Math.max(evaluations.length, 1),
  };
}

/**
 * An area as the CLI and the report print it: `mean [low, high]`, or the mean and why there is
 * no interval (one deterministic draw, one draw of natural patches, one image).
 *
 * @example
 * formatArea(result.summary[0]!.deletion, result); // '41.20 (no interval: one deterministic draw)'
 */
export function formatArea(
  area: AreaSummary | undefined,
  result: Pick<FaithfulnessResult, 'intervalOver' | 'removal'>,
): string {
  if (!area) return '-';
  const mean = area.mean.toFixed(2);
  if (area.low !== null && area.high !== null) {
    return `${mean} [${area.low.toFixed(2)}, ${area.high.toFixed(2)}]`;
  }
  return `${mean} (no interval: ${noIntervalReason(result)})`;
}

function noIntervalReason(result: Pick<FaithfulnessResult, 'intervalOver' | 'removal'>): string {
  if (result.intervalOver === 'images') return 'one image';
  return result.removal === 'patch' ? 'one draw' : 'one deterministic draw';
}
