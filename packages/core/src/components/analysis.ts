import {
  activatedValue,
  CpuOutcome,
  NO_TARGET,
  type OutcomeSpec,
  type PlanarImage,
  type Preprocessing,
  type Region,
} from '@pdcr/kernels';
import { ModelOutputError } from '../errors.ts';
import type { OutcomeOptions } from '../explain.ts';
import type { EstimationProgress } from '../estimation/paper.ts';
import { FAST_DEFAULTS } from '../estimation/fast.ts';
import { requireRate, sampleSequentially } from '../estimation/sequential.ts';
import { cropPlane } from '../image-adaptation.ts';
import type { ModelRunner, OrtRuntimes } from '../model-runner.ts';
import { SeededRandom } from '../random.ts';
import { RESULT_VERSION } from '../result.ts';
import { EffectTally } from '../statistics.ts';
import { ComponentError } from './errors.ts';
import { modelInput } from './natural.ts';
import { ComponentNetwork, type ComponentTensor } from './network.ts';
import { selectComponents, validateInputs } from './selection.ts';
import {
  type ComponentAnalysisResult,
  type ComponentEffect,
  type ComponentGranularity,
  type ComponentIntervention,
  type LayerEffect,
} from './result.ts';
import { interveneOnComponents, type Component } from './draws.ts';

/**
 * The component analysis's defaults: the `fast` preset's stopping rules, taken from it. Not its
 * patch strata: natural samples are whole images at the model's input, not patches, and have no
 * brightness to stratify by.
 */
export const COMPONENT_DEFAULTS = {
  round: FAST_DEFAULTS.round,
  maxDraws: FAST_DEFAULTS.maxDraws,
  falseDiscoveryRate: FAST_DEFAULTS.falseDiscoveryRate,
  threshold: FAST_DEFAULTS.threshold,
  /** Natural images whose component values resampling draws from. */
  naturalSamples: 16,
} as const;

export interface ComponentAnalysisOptions {
  /** The loaded model; its backend, batch size and input size are used as they are. */
  readonly model: ModelRunner;
  /** The model's ONNX bytes, as given to `ModelRunner.load`: the graph that is edited. */
  readonly modelBytes: Uint8Array;
  readonly runtimes: OrtRuntimes;
  /** The image as the model sees it: its channels and size, values in [0, 1]. */
  readonly image: PlanarImage;
  /** Ground truth at the image's size (0/1); without it, the model's own prediction. */
  readonly mask?: PlanarImage;
  readonly roi: Region;
  readonly preprocessing: Preprocessing;
  readonly outcome: OutcomeOptions;
  /**
   * A regular expression matched against each tensor's name and its operator (`Conv`,
   * `encoders\.1`); absent: every component.
   */
  readonly select?: string;
  readonly granularity: ComponentGranularity;
  readonly intervention: ComponentIntervention;
  /**
   * Natural images at the model's input size, values in [0, 1], other than the analysed one
   * (see `naturalCrops`): what `resample` draws a component's value from and `mean` averages.
   */
  readonly naturalImages?: readonly PlanarImage[];
  /**
   * The most draws a component gets (`resample`); at most as many as there are natural images,
   * each of which a component is given once at most.
   */
  readonly samples?: number;
  readonly round?: number;
  readonly threshold?: number;
  readonly falseDiscoveryRate?: number;
  readonly seed: number;
  readonly onProgress?: (progress: EstimationProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * The average treatment effect of each selected component of the network (an intermediate
 * tensor, or one channel of it) on the RoI's score: the component is replaced, per sample of a
 * batch, by its value on another natural image (or by their mean, or zeros), and the score's
 * change is averaged, with the `fast` preset's sequential rounds, t intervals, dead zone and
 * Benjamini-Hochberg calls.
 *
 * @example
 * const result = await analyseComponents({ model, modelBytes, runtimes: nodeRuntimes(), image,
 *   mask, roi, preprocessing: { kind: 'zscore', epsilon: 1e-6 },
 *   outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
 *   select: 'Conv', granularity: 'tensor', intervention: 'resample',
 *   naturalImages: naturalCrops([whole], 16, 128, 128, new SeededRandom(0), exclusion), seed: 0 });
 */
export async function analyseComponents(
  options: ComponentAnalysisOptions,
): Promise<ComponentAnalysisResult> {
  const started = performance.now();
  const { model, image, roi, intervention } = options;
  validateInputs(options);
  const naturalImages = intervention === 'zero' ? [] : (options.naturalImages ?? []);
  const samplesAsked =
    intervention === 'resample' ? (options.samples ?? COMPONENT_DEFAULTS.maxDraws) : 1;
  const { samples, round } =
    intervention === 'resample'
      ? drawLimits(options.samples, options.round ?? COMPONENT_DEFAULTS.round, naturalImages.length)
      : { samples: 1, round: 1 };
  const threshold = options.threshold ?? COMPONENT_DEFAULTS.threshold;
  const falseDiscoveryRate = options.falseDiscoveryRate ?? COMPONENT_DEFAULTS.falseDiscoveryRate;
  if (intervention === 'resample') requireRate('falseDiscoveryRate', falseDiscoveryRate);
  const passes = { probe: 0, natural: 0, base: 0, estimate: 0 };
  let done = 0;
  let planned = 0;
  const report = (phase: EstimationProgress['phase'], count: number) => {
    done += count;
    options.onProgress?.({ phase, passesDone: done, passesPlanned: Math.max(planned, done) });
  };

  const baseInput = modelInput(image, options.preprocessing);
  const network = await ComponentNetwork.open(
    model,
    options.modelBytes,
    options.runtimes,
    baseInput,
  );
  passes.probe = Math.min(2, model.maxBatchSize);
  const components = selectComponents(network.tensors, options);
  const tensors = [...new Set(components.map((component) => component.tensor))];
  planned = passes.probe + naturalImages.length + 1 + components.length * samples;
  report('base', passes.probe);

  const naturalValues = await network.tensorValues(
    tensors,
    naturalImages.map((natural) => modelInput(natural, options.preprocessing)),
    (count) => {
      passes.natural += count;
      report('base', count);
    },
  );
  const intervened = await network.intervenable(tensors);
  try {
    const baseOutput = await intervened.run(baseInput, 1, []);
    passes.base = 1;
    report('base', 1);
    const spec = outcomeSpec(options, baseOutput, components.length);
    const outcome = new CpuOutcome(spec);
    outcome.run(baseOutput, 1, Uint32Array.of(NO_TARGET));
    const baseScore = (await outcome.read()).scores[0]!;
    if (Number.isNaN(baseScore)) {
      throw new ModelOutputError(model.name, 'produced NaN or infinite values inside the RoI');
    }
    outcome.setBaseScore(baseScore);

    const draws = interveneOnComponents({
      model: intervened,
      baseInput,
      components,
      intervention,
      naturalValues,
      naturalCount: naturalImages.length,
      outcome,
      baseScore,
      ...(options.signal ? { signal: options.signal } : {}),
      onBatch: (count) => {
        passes.estimate += count;
        report('estimate', count);
      },
    });
    const units = components.map((_, index) => index);
    const tallies = new Map(units.map((unit) => [unit, new EffectTally()]));
    let finished: readonly number[];
    let significant: ReadonlySet<number>;
    let complete: boolean;
    if (intervention === 'resample') {
      // Every active component gets the same draws, so the draws so far are the same for all:
      // the k-th draw of the analysis takes the k-th natural image of one seeded permutation,
      // and no component sees a natural image twice (`drawLimits` keeps the draws within the
      // pool). The sampler's own draws, with replacement, only say how many are due.
      const random = new SeededRandom(options.seed).fork('component draws');
      const order = shuffled(naturalImages.length, random);
      let drawn = 0;
      const sampling = await sampleSequentially({
        units,
        poolSize: naturalImages.length,
        threshold,
        round,
        maxDraws: samples,
        falseDiscoveryRate,
        random,
        onPlan: (passesLeft) => {
          planned = done + passesLeft;
        },
        runRound: (active, roundDraws, roundTallies) => {
          const naturals = order.slice(drawn, (drawn += roundDraws.length));
          return draws(
            active.flatMap((unit) => naturals.map((natural) => ({ unit, natural }))),
            roundTallies,
          );
        },
      });
      for (const [unit, tally] of sampling.tallies) tallies.set(unit, tally);
      ({ finished, significant, complete } = sampling);
    } else {
      // Ablations are deterministic: one pass per component, called significant at or beyond the
      // threshold, as the block ablation (the zero preset) calls its blocks.
      complete = await draws(
        units.map((unit) => ({ unit, natural: 0 })),
        tallies,
      );
      finished = units.filter((unit) => tallies.get(unit)!.count > 0);
      significant = new Set(
        finished.filter((unit) => Math.abs(tallies.get(unit)!.mean) >= threshold),
      );
    }

    const effects = finished.map((unit) =>
      componentEffect(components[unit]!, tallies.get(unit)!, significant.has(unit)),
    );
    return {
      version: RESULT_VERSION,
      kind: 'components',
      model: {
        sha256: model.sha256,
        inputName: model.signature.input.name,
        outputName: model.signature.output.name,
        inputShape: model.signature.input.dims,
        outputShape: model.signature.output.dims,
      },
      image: { height: image.height, width: image.width },
      roi: { ...roi },
      granularity: options.granularity,
      intervention,
      select: options.select ?? null,
      seed: options.seed,
      backend: model.backend,
      outcome: {
        metric: options.outcome.metric,
        reference: options.mask ? 'mask' : 'prediction',
        activation: options.outcome.activation,
        classIndex: options.outcome.classIndex,
        binarize: options.outcome.binarize,
      },
      parameters: {
        samples,
        samplesAsked,
        round: intervention === 'resample' ? round : 1,
        threshold,
        falseDiscoveryRate,
        naturalSamples: naturalImages.length,
        preprocessing: describePreprocessing(options.preprocessing),
        batchSize: model.maxBatchSize,
      },
      baseScore,
      forwardPasses: passes.probe + passes.natural + passes.base + passes.estimate,
      passes,
      modelSeconds: intervened.modelSeconds,
      seconds: (performance.now() - started) / 1000,
      complete,
      components: rankComponents(effects, components),
      layers: layerEffects(tensors, effects),
    };
  } finally {
    await intervened.release();
  }
}

/**
 * The most draws per component and the draws per round under `resample`, in whole rounds (the
 * sampler runs no part-round, which would break the same draws for every component) and no more
 * than the `pool` of natural images holds, so that every draw of a component takes a natural image
 * it has not had. The default draws, and draws capped by the pool, are rounded down to whole
 * rounds, one at least; draws given (`samplesGiven`) that fit the pool but are not whole rounds
 * are the caller's to change, and are refused before any pass.
 */
function drawLimits(
  samplesGiven: number | undefined,
  roundAsked: number,
  pool: number,
): { samples: number; round: number } {
  const wanted = Math.min(samplesGiven ?? COMPONENT_DEFAULTS.maxDraws, pool);
  const round = Math.min(roundAsked, wanted);
  if (samplesGiven !== undefined && samplesGiven <= pool && samplesGiven % round !== 0) {
    throw new ComponentError(
      'samples',
      `${samplesGiven} is not a whole number of rounds of ${round} draws; give a multiple of ${round}`,
    );
  }
  return { samples: Math.floor(wanted / round) * round, round };
}

/** 0 to `size - 1` in a seeded random order (Fisher-Yates). */
function shuffled(size: number, random: SeededRandom): number[] {
  const order = Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = random.integer(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The outcome spec of the RoI; the reference is the mask, or the binarised base prediction. */
function outcomeSpec(
  options: ComponentAnalysisOptions,
  baseOutput: Float32Array,
  accumulatorCount: number,
): OutcomeSpec {
  const { model, roi, outcome } = options;
  const spec = {
    classes: model.output.channels,
    height: model.output.height,
    width: model.output.width,
    roi,
    classIndex: outcome.classIndex,
    activation: outcome.activation,
    metric: outcome.metric,
    threshold: outcome.binarize,
    reference: new Float32Array(roi.height * roi.width),
    accumulatorCount,
  };
  if (options.mask) return { ...spec, reference: cropPlane(options.mask, roi) };
  for (let r = 0; r < roi.height; r++) {
    for (let q = 0; q < roi.width; q++) {
      const value = activatedValue(spec, baseOutput, 0, roi.top + r, roi.left + q);
      spec.reference[r * roi.width + q] = value > outcome.binarize ? 1 : 0;
    }
  }
  return spec;
}

function componentEffect(
  component: Component,
  tally: EffectTally,
  significant: boolean,
): ComponentEffect {
  const { low, high } = tally.interval();
  return {
    component: component.name,
    tensor: component.tensor.name,
    channel: component.channel,
    operator: component.tensor.operator,
    node: component.tensor.node,
    shape: component.tensor.shape,
    ate: significant ? tally.mean : 0,
    meanEffect: tally.mean,
    se: tally.standardError,
    n: tally.count,
    ciLow: low,
    ciHigh: high,
    significant,
  };
}

/** Largest |ATE| first, then largest |measured mean|, then graph order. */
function rankComponents(
  effects: readonly ComponentEffect[],
  components: readonly Component[],
): ComponentEffect[] {
  const order = new Map(components.map((component, index) => [component.name, index]));
  return [...effects].sort(
    (a, b) =>
      Math.abs(b.ate) - Math.abs(a.ate) ||
      Math.abs(b.meanEffect) - Math.abs(a.meanEffect) ||
      order.get(a.component)! - order.get(b.component)!,
  );
}

function layerEffects(
  tensors: readonly ComponentTensor[],
  effects: readonly ComponentEffect[],
): LayerEffect[] {
  return tensors.map((tensor) => {
    const own = effects.filter((effect) => effect.tensor === tensor.name);
    const strongest = own.reduce<ComponentEffect | null>(
      (best, effect) => (!best || Math.abs(effect.ate) > Math.abs(best.ate) ? effect : best),
      null,
    );
    return {
      tensor: tensor.name,
      operator: tensor.operator,
      channels: tensor.channels,
      analysed: own.length,
      significantChannels: own.filter((effect) => effect.significant).length,
      totalAte: own.reduce((sum, effect) => sum + effect.ate, 0),
      strongest: strongest ? { channel: strongest.channel, ate: strongest.ate } : null,
    };
  });
}

function describePreprocessing(preprocessing: Preprocessing): string {
  if (preprocessing.kind !== 'meanStd') return preprocessing.kind;
  return `${preprocessing.mean.join(',')}/${preprocessing.std.join(',')}`;
}
