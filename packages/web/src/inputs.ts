// The page's inputs: the model, the image, the mask and patches, read from files or from the
// bundled demo, checked as they arrive so that a bad file is refused before any run.
import {
  decodeImage,
  imageSignature,
  inspectOnnxModel,
  type NamedRaster,
  type OnnxModelInfo,
  type TensorDescription,
} from '@pdcr/core';
import demoImageUrl from '../../../data/dsb2018/img2d.tif?url';
import demoMaskUrl from '../../../data/dsb2018/mask2d.tif?url';
import demoModelUrl from '../../../data/nuclei-unet/unet2d-nuclei-broad.onnx?url';

export interface LoadedModel {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly info: OnnxModelInfo;
  readonly input: TensorDescription;
  readonly output: TensorDescription;
}

export interface Inputs {
  model: LoadedModel;
  image: NamedRaster;
  mask?: NamedRaster;
  patches?: NamedRaster[];
}

/** The demo's settings: the CLI's `pdcr demo` (a crop of the DSB2018 image, z-score, sigmoid). */
export const DEMO_SETTINGS = {
  crop: '352,64,128,128',
  size: 'image',
  normalize: 'zscore',
  activation: 'sigmoid',
  roi: '48,48,32,32',
  block: '8',
  preset: 'fast',
} as const;

/** Reads and inspects ONNX bytes; throws the core's ModelError naming the file when it is not one. */
export function loadModel(name: string, bytes: Uint8Array): LoadedModel {
  const info = inspectOnnxModel(bytes, name);
  const { input, output } = imageSignature(info, name);
  return { name, bytes, info, input, output };
}

export function loadImage(name: string, bytes: Uint8Array): NamedRaster {
  return { name, raster: decodeImage(bytes, name) };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok)
    throw new Error(`the demo file ${url} could not be fetched (${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The bundled nuclei U-Net (bioimage.io, MIT) and DSB2018 image and mask (CC0). */
export async function demoInputs(): Promise<Inputs> {
  const [model, image, mask] = await Promise.all(
    [demoModelUrl, demoImageUrl, demoMaskUrl].map(fetchBytes),
  );
  return {
    model: loadModel('unet2d-nuclei-broad.onnx', model!),
    image: loadImage('img2d.tif', image!),
    mask: loadImage('mask2d.tif', mask!),
  };
}

export async function fileBytes(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}

export function describeModel(model: LoadedModel): string {
  const shape = (tensor: TensorDescription) =>
    `${tensor.name}: ${tensor.elementType}[${tensor.dims.join(', ')}]`;
  return [
    `inputs:  ${model.info.inputs.map(shape).join('; ')}`,
    `outputs: ${model.info.outputs.map(shape).join('; ')}`,
    `explained: ${model.input.name} → ${model.output.name}; opset ${model.info.opset}, ${model.info.nodeCount} nodes`,
  ].join('\n');
}
