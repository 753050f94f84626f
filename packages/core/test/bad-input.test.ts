import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeImage,
  explain,
  ImageError,
  Logger,
  ModelError,
  ModelOutputError,
  ModelRunner,
  PatchBankError,
  patchBankFromImages,
  RegionError,
  type ExplainOptions,
} from '../src/index.ts';
import { nodeRuntimes, readPatchFolder } from '../src/node/index.ts';
import { nucleiModelBytes } from './fixtures.ts';
import { GraphBuilder, stepModel } from './onnx-builder.ts';

const logger = new Logger('silent');
const size = { height: 16, width: 16 };

function load(bytes: Uint8Array, name = 'model.onnx') {
  return ModelRunner.load({
    bytes,
    name,
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: size,
    logger,
  });
}

async function stepOptions(overrides: Partial<ExplainOptions>): Promise<ExplainOptions> {
  const region = { top: 0, left: 0, height: 4, width: 4 };
  const model = await load(
    stepModel({
      ...size,
      roi: { top: 8, left: 8, height: 4, width: 4 },
      helper: region,
      hinderer: region,
      level: 0.5,
    }),
  );
  return {
    model,
    image: { channels: 1, ...size, data: new Float32Array(256).fill(1) },
    roi: { top: 8, left: 8, height: 4, width: 4 },
    block: { height: 4, width: 4 },
    patchBank: { count: 1, channels: 1, height: 4, width: 4, data: new Float32Array(16) },
    preprocessing: { kind: 'none' },
    outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
    preset: 'paper',
    seed: 0,
    ...overrides,
  };
}

describe('bad input gets a typed error that names it', () => {
  it('a truncated model file', async () => {
    const bytes = (await nucleiModelBytes()).subarray(0, 100_000);
    await expect(load(bytes, 'cut.onnx')).rejects.toThrow(ModelError);
    await expect(load(bytes, 'cut.onnx')).rejects.toThrow(/^cut\.onnx: /);
  });

  it('a file that is not ONNX at all', async () => {
    const notOnnx = new TextEncoder().encode('<html>not a model</html>');
    await expect(load(notOnnx, 'page.html')).rejects.toThrow(ModelError);
  });

  it('a model with no image-shaped input', async () => {
    const graph = new GraphBuilder();
    const vector = graph.buildWithShapes(graph.node('Relu', ['image']), ['N', 10], ['N', 10]);
    await expect(load(vector, 'vector.onnx')).rejects.toThrow(ModelError);
    await expect(load(vector, 'vector.onnx')).rejects.toThrow(
      /^vector\.onnx: has no image-shaped input \(float, N x C x H x W\); its inputs are image float\[N,10\]/,
    );
  });

  it('an image that is not one', () => {
    expect(() => decodeImage(new TextEncoder().encode('hello'), 'notes.txt')).toThrow(ImageError);
    expect(() => decodeImage(new TextEncoder().encode('hello'), 'notes.txt')).toThrow(
      /^notes\.txt: is not a PNG, JPEG or TIFF/,
    );
    const truncatedPng = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0);
    expect(() => decodeImage(truncatedPng, 'cut.png')).toThrow(
      /^cut\.png: could not be decoded as PNG/,
    );
  });

  it('an RoI outside the image', async () => {
    const options = await stepOptions({ roi: { top: 10, left: 10, height: 8, width: 8 } });
    await expect(explain(options)).rejects.toThrow(RegionError);
    await expect(explain(options)).rejects.toThrow(
      /^roi: 10,10,8,8 does not lie inside the 16x16 image/,
    );
    await options.model.release();
  });

  it('a mask of another size', async () => {
    const options = await stepOptions({
      mask: { channels: 1, height: 8, width: 8, data: new Float32Array(64) },
    });
    await expect(explain(options)).rejects.toThrow(/^mask: is 8x8 but the image is 16x16/);
    await options.model.release();
  });

  it('an empty patch bank, from a list or from a folder', async () => {
    expect(() => patchBankFromImages([], 1, 8, 8)).toThrow(PatchBankError);
    const folder = await mkdtemp(path.join(tmpdir(), 'pdcr-empty-'));
    await expect(readPatchFolder(folder)).rejects.toThrow(
      /holds no PNG, JPEG or TIFF patch images/,
    );
    await rm(folder, { recursive: true });
    const options = await stepOptions({
      patchBank: { count: 0, channels: 1, height: 4, width: 4, data: new Float32Array(0) },
    });
    await expect(explain(options)).rejects.toThrow(/^patches: the patch bank is empty/);
    await options.model.release();
  });

  it('patches of another size than the block', async () => {
    const raster = {
      width: 9,
      height: 9,
      channels: 1,
      bitDepth: 8 as const,
      data: new Uint8Array(81),
    };
    expect(() => patchBankFromImages([{ name: 'p_1_2.png', raster }], 1, 8, 8)).toThrow(
      /^p_1_2\.png: is 9x9 but blocks are 8x8/,
    );
    const options = await stepOptions({ block: { height: 8, width: 8 } });
    await expect(explain(options)).rejects.toThrow(/^patches: are 4x4 but blocks are 8x8/);
    await options.model.release();
  });

  it('NaN in the model output', async () => {
    const graph = new GraphBuilder();
    const zero = graph.node('Sub', ['image', 'image']);
    const bytes = graph.build(
      graph.node('Div', [zero, zero]),
      { channels: 1, ...size },
      { channels: 1, ...size },
    );
    const options = await stepOptions({});
    await options.model.release();
    const model = await load(bytes, 'nan.onnx');
    const run = explain({
      ...options,
      model,
      mask: { channels: 1, ...size, data: new Float32Array(256) },
    });
    await expect(run).rejects.toThrow(ModelOutputError);
    await expect(explain({ ...options, model })).rejects.toThrow(
      /^nan\.onnx: produced NaN or infinite values/,
    );
    await model.release();
  });
});
