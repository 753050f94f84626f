// What the option fields ask for: the image as the model will see it (what the RoI is drawn
// on), and the request of each kind of run, every field checked as it is read.
import {
  cropImage,
  parseBlock,
  parseNormalize,
  parseRegion,
  parseSize,
  resizeBilinear,
  toPlanar,
  type BackendChoice,
  type Preset,
} from '@pdcr/core';
import type { Activation, PlanarImage } from '@pdcr/kernels';
import { componentOptions } from './components-view.ts';
import { element, field, numberField, optional, parsed } from './fields.ts';
import type { Inputs } from './inputs.ts';
import type { ComponentsRequest, RunRequest, SharedRequest } from './protocol.ts';

/** The image as the model will see it (crop, channels, size): what the RoI is drawn on. */
export function modelView(current: Inputs): PlanarImage {
  const { model, image } = current;
  const cropText = optional('opt-crop');
  const crop = cropText ? parsed('crop', parseRegion, cropText) : undefined;
  const [, declaredChannels, declaredHeight, declaredWidth] = model.input.dims;
  const chosenChannels = optional('opt-channels');
  const channels =
    typeof declaredChannels === 'number' ? declaredChannels : Number(chosenChannels ?? 3);
  let planar = toPlanar(image.raster, channels);
  if (crop) {
    if (crop.top + crop.height > planar.height || crop.left + crop.width > planar.width) {
      throw new RangeError(
        `crop: ${cropText} does not fit the ${planar.height}x${planar.width} image ${image.name}`,
      );
    }
    planar = cropImage(planar, crop);
  }
  const sizeText = optional('opt-size');
  const size = sizeText ? parsed('size', parseSize, sizeText) : undefined;
  const target =
    size === 'image' || (size === undefined && typeof declaredHeight !== 'number')
      ? { height: planar.height, width: planar.width }
      : (size ?? { height: declaredHeight as number, width: declaredWidth as number });
  return resizeBilinear(planar, target.height, target.width);
}

/** The inputs and the fields both kinds of run read: how the model sees the image, RoI, seed. */
function sharedRequest(current: Inputs): SharedRequest {
  const cropText = optional('opt-crop');
  const sizeText = optional('opt-size');
  const channels = optional('opt-channels');
  const classIndex = numberField('opt-class', 'class', true, 0);
  const batch = numberField('opt-batch', 'batch', true, 1);
  return {
    model: { name: current.model.name, bytes: current.model.bytes },
    image: current.image,
    ...(current.mask ? { mask: current.mask } : {}),
    ...(cropText ? { crop: parsed('crop', parseRegion, cropText) } : {}),
    roi: parsed('RoI', parseRegion, optional('opt-roi') ?? ''),
    seed: numberField('opt-seed', 'seed', true, 0) ?? 0,
    backend: field('opt-backend').value as BackendChoice,
    ...(channels ? { channels: Number(channels) } : {}),
    ...(sizeText ? { size: parsed('size', parseSize, sizeText) } : {}),
    normalize: parsed('normalise', parseNormalize, optional('opt-normalize') ?? 'none'),
    activation: field('opt-activation').value as Activation,
    ...(classIndex !== undefined ? { classIndex } : {}),
    binarize: numberField('opt-binarize', 'binarise', false, 0) ?? 0.5,
    ...(batch !== undefined ? { batch } : {}),
  };
}

export function explainRequest(current: Inputs): RunRequest {
  const samples = numberField('opt-samples', 'samples', true, 1);
  const screen = numberField('opt-screen', 'screen', true, 1);
  const threshold = numberField('opt-threshold', 'threshold', false, 0);
  return {
    ...sharedRequest(current),
    block: parsed('block', parseBlock, optional('opt-block') ?? ''),
    ...(current.patches ? { patchImages: current.patches } : {}),
    patchCount: numberField('opt-patch-count', 'patches to cut', true, 1) ?? 1000,
    preset: field('opt-preset').value as Preset,
    ...(samples !== undefined ? { samples } : {}),
    ...(screen !== undefined ? { screen } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
    ...(element<HTMLInputElement>('opt-freeze').checked ? { freezeStats: true } : {}),
    ...(element<HTMLInputElement>('opt-window').checked ? {} : { window: false }),
  };
}

/** A component analysis: natural samples from the user's patch images when there are any. */
export function componentsRequest(current: Inputs): ComponentsRequest {
  return {
    ...sharedRequest(current),
    ...componentOptions(),
    // As `pdcr components --natural-from`: the user's own images of the same kind.
    ...(current.patches ? { naturalSources: current.patches } : {}),
  };
}
