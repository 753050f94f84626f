import { ImageError, PdcrError, RegionError } from '../errors.ts';
import type { ComponentAnalysisOptions } from './analysis.ts';
import type { Component } from './draws.ts';
import { ComponentError } from './errors.ts';
import type { ComponentTensor } from './network.ts';
import {
  COMPONENT_GRANULARITIES,
  COMPONENT_INTERVENTIONS,
  type ComponentIntervention,
} from './result.ts';

/** Throws a typed error naming the first input that does not fit the model or the others. */
export function validateInputs(options: ComponentAnalysisOptions): void {
  const { image, roi, mask, model } = options;
  const { height, width } = image;
  if (
    image.channels !== model.input.channels ||
    height !== model.input.height ||
    width !== model.input.width
  ) {
    throw new ImageError(
      'image',
      `is ${image.channels}x${height}x${width} but the model takes ` +
        `${model.input.channels}x${model.input.height}x${model.input.width}; adapt it first`,
    );
  }
  const inside =
    [roi.top, roi.left, roi.height, roi.width].every(Number.isInteger) &&
    roi.top >= 0 &&
    roi.left >= 0 &&
    roi.height > 0 &&
    roi.width > 0 &&
    roi.top + roi.height <= height &&
    roi.left + roi.width <= width;
  if (!inside) {
    throw new RegionError(
      'roi',
      `${roi.top},${roi.left},${roi.height},${roi.width} does not lie inside the ${height}x${width} ` +
        'image; give TOP,LEFT,HEIGHT,WIDTH within it',
    );
  }
  const classes = model.output.channels;
  const { classIndex } = options.outcome;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new PdcrError(
      'class',
      `${classIndex} is not an output channel; the model has ${classes} (0 to ${classes - 1})`,
    );
  }
  if (mask && (mask.height !== height || mask.width !== width)) {
    throw new ImageError(
      'mask',
      `is ${mask.height}x${mask.width} but the image is ${height}x${width}; give the mask of this image`,
    );
  }
  if (!COMPONENT_GRANULARITIES.includes(options.granularity)) {
    throw new ComponentError(
      'granularity',
      `${String(options.granularity)} is not one; give ${COMPONENT_GRANULARITIES.join(' or ')}`,
    );
  }
  if (!COMPONENT_INTERVENTIONS.includes(options.intervention)) {
    throw new ComponentError(
      'intervention',
      `${String(options.intervention)} is not one; give ${COMPONENT_INTERVENTIONS.join(', ')}`,
    );
  }
  const naturals = options.naturalImages ?? [];
  if (options.intervention !== 'zero' && naturals.length === 0) {
    throw new ComponentError(
      'natural',
      `${options.intervention} needs natural images other than the analysed one; give some, or ` +
        'use the zero intervention',
    );
  }
  checkNaturalCount(options.intervention, naturals.length);
  for (const natural of naturals) {
    if (
      natural.channels !== image.channels ||
      natural.height !== height ||
      natural.width !== width
    ) {
      throw new ComponentError(
        'natural',
        `images must be ${image.channels}x${height}x${width} like the analysed one, got ` +
          `${natural.channels}x${natural.height}x${natural.width}`,
      );
    }
  }
  for (const [name, value, least] of [
    ['samples', options.samples, 2],
    ['round', options.round, 1],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < least)) {
      throw new ComponentError(name, `${value} is not a whole number of at least ${least}`);
    }
  }
}

/**
 * Throws a `ComponentError` naming `natural` when `resample` is given fewer than 2 natural
 * samples: from one draw per component there is no spread to estimate, so its interval would
 * have no width and any effect beyond the threshold would be called significant.
 */
export function checkNaturalCount(intervention: ComponentIntervention, count: number): void {
  if (intervention === 'resample' && count < 2) {
    throw new ComponentError(
      'natural',
      `resample needs at least 2 natural samples to put an interval on an effect, got ${count}; ` +
        'give --natural-count 2 or more, or use --intervention mean or zero',
    );
  }
}

/** The components `select` and `granularity` pick from the network's tensors. */
export function selectComponents(
  tensors: readonly ComponentTensor[],
  options: ComponentAnalysisOptions,
): Component[] {
  let pattern: RegExp | null = null;
  if (options.select !== undefined) {
    try {
      pattern = new RegExp(options.select);
    } catch (error) {
      throw new ComponentError(
        'select',
        `${options.select} is not a regular expression (${(error as Error).message})`,
      );
    }
  }
  const chosen = tensors.filter(
    (tensor) => !pattern || pattern.test(tensor.name) || pattern.test(tensor.operator),
  );
  if (chosen.length === 0) {
    throw new ComponentError(
      'select',
      `${options.select} matches none of the model's ${tensors.length} component tensors; ` +
        'list them with pdcr info MODEL --components',
    );
  }
  return chosen.flatMap((tensor): Component[] =>
    options.granularity === 'tensor'
      ? [{ tensor, channel: null, name: tensor.name }]
      : Array.from({ length: tensor.channels }, (_, channel) => ({
          tensor,
          channel,
          name: `${tensor.name}[${channel}]`,
        })),
  );
}
