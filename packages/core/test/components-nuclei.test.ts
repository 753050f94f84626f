import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  analyseComponents,
  COMPONENT_OPTIMIZATION_LEVEL,
  ComponentNetwork,
  inspectOnnxModel,
  Logger,
  modelInput,
  ModelRunner,
  naturalCrops,
  relaxModelShapes,
  SeededRandom,
  toPlanar,
} from '../src/index.ts';
import { nodeRuntimes, readImageFile } from '../src/node/index.ts';
import { dataFile, dsbCrop, nucleiModelBytes } from './fixtures.ts';

const CROP = { top: 384, left: 96, height: 64, width: 64 };
const ROI = { top: 24, left: 24, height: 16, width: 16 };
const ZSCORE = { kind: 'zscore', epsilon: 1e-6 } as const;
const logger = new Logger('silent');

/** Runs `use` with the nuclei U-Net loaded, and releases the model however it ends. */
async function withNuclei<T>(use: (runner: ModelRunner, bytes: Uint8Array) => Promise<T>) {
  const bytes = await nucleiModelBytes();
  const runner = await ModelRunner.load({
    bytes,
    name: 'unet2d-nuclei-broad.onnx',
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: CROP,
    size: 'image',
    maxBatchSize: 8,
    logger,
  });
  try {
    return await use(runner, bytes);
  } finally {
    await runner.release();
  }
}

describe('components of the nuclei U-Net on a crop of DSB2018', () => {
  it('lists every Conv output and leaves the output bit for bit unchanged when nothing is replaced', async () => {
    const { image } = await dsbCrop(CROP);
    const whole = toPlanar(await readImageFile(dataFile('dsb2018/img2d.tif')), 1);
    const { output, unedited, runnerOutput } = await withNuclei(async (runner, bytes) => {
      const network = await ComponentNetwork.open(
        runner,
        bytes,
        nodeRuntimes(),
        modelInput(image, ZSCORE),
      );
      const convs = network.tensors.filter((tensor) => tensor.operator === 'Conv');
      const declaredConvs = inspectOnnxModel(bytes, 'nuclei').operatorCounts.Conv!;
      // Every Conv but the last, whose output is the model's.
      expect(convs).toHaveLength(declaredConvs - 1);
      expect(convs[0]).toMatchObject({
        name: '/encoders.0/encoders.0.0/Conv_output_0',
        shape: [16, 64, 64],
      });
      expect(network.tensors.map((tensor) => tensor.name)).not.toContain(
        runner.signature.output.name,
      );

      const inputs = naturalCrops([whole], 4, 64, 64, new SeededRandom(1)).map((crop) =>
        modelInput(crop, ZSCORE),
      );
      const batch = new Float32Array(4 * runner.inputSize);
      inputs.forEach((input, i) => batch.set(input, i * runner.inputSize));
      const edited = await network.intervenable(network.tensors);
      // The untouched model, with onnxruntime's optimisations at the same level.
      const session = await ort.InferenceSession.create(
        relaxModelShapes(bytes, 'nuclei', { relaxBatch: true, relaxSpatial: true }),
        { graphOptimizationLevel: COMPONENT_OPTIMIZATION_LEVEL },
      );
      try {
        const random = new SeededRandom(2);
        const replacements = network.tensors.map((tensor) => ({
          tensor,
          values: new Float32Array(4 * tensor.size).map(() => random.uniform() * 4 - 2),
          select: new Float32Array(4 * tensor.channels),
        }));
        const batchTensor = new ort.Tensor('float32', batch, [4, 1, 64, 64]);
        return {
          output: await edited.run(batch, 4, replacements),
          unedited: (await session.run({ 'input.1': batchTensor }))['82']!.data as Float32Array,
          // The runner's own output, at onnxruntime's highest level, agrees to the last bits.
          runnerOutput: await runner.run(batch, 4),
        };
      } finally {
        await session.release();
        await edited.release();
      }
    });
    expect(output.length).toBe(unedited.length);
    expect(Buffer.from(output.buffer, output.byteOffset, output.byteLength)).toEqual(
      Buffer.from(unedited.buffer, unedited.byteOffset, unedited.byteLength),
    );
    const largest = Math.max(...unedited.map(Math.abs));
    expect(Math.max(...output.map((value, i) => Math.abs(value - runnerOutput[i]!)))).toBeLessThan(
      1e-5 * largest,
    );
  });

  it('ranks its layers by resampling them from other crops of the image', async () => {
    const { image, mask } = await dsbCrop(CROP);
    const whole = toPlanar(await readImageFile(dataFile('dsb2018/img2d.tif')), 1);
    const naturalImages = naturalCrops([whole], 8, 64, 64, new SeededRandom(3), {
      source: 0,
      region: CROP,
    });
    const result = await withNuclei((runner, bytes) =>
      analyseComponents({
        model: runner,
        modelBytes: bytes,
        runtimes: nodeRuntimes(),
        image,
        mask,
        roi: ROI,
        preprocessing: ZSCORE,
        outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
        select: 'Conv',
        granularity: 'tensor',
        intervention: 'resample',
        naturalImages,
        samples: 4,
        round: 2,
        seed: 0,
      }),
    );
    expect(result.complete).toBe(true);
    expect(result.components).toHaveLength(17);
    expect(result.baseScore).toBeGreaterThan(50);
    for (const effect of result.components) {
      expect(effect.n).toBeGreaterThanOrEqual(2);
      expect(effect.n).toBeLessThanOrEqual(4);
    }

    // Layers that cut the U-Net at the same place give the same output draw for draw, so the
    // same tallies: the full-resolution convs (each carries the whole image), then the deep
    // path below each depth, its skip connections left alone.
    const conv = (layer: string) => `/${layer.replace(/\.\d+$/, '')}/${layer}/Conv_output_0`;
    const cuts = [
      ['encoders.0.0', 'encoders.0.1', 'decoders.2.0', 'decoders.2.1'],
      ['encoders.1.0', 'encoders.1.1', 'decoders.1.0', 'decoders.1.1', 'upsamplers.2.1'],
      ['encoders.2.0', 'encoders.2.1', 'decoders.0.0', 'decoders.0.1', 'upsamplers.1.1'],
      ['base.0', 'base.1', 'upsamplers.0.1'],
    ].map((layers) => layers.map(conv));
    const tally = (name: string) => {
      const effect = result.components.find((candidate) => candidate.component === name)!;
      return [effect.meanEffect, effect.se, effect.n];
    };
    for (const cut of cuts) {
      for (const name of cut) expect(tally(name)).toEqual(tally(cut[0]!));
    }
    // The shallow cut differs from every deep one (the two deepest flip the same pixels on
    // these four crops, so their tallies match).
    for (const cut of cuts.slice(1)) expect(tally(cut[0]!)).not.toEqual(tally(cuts[0]![0]!));

    // Replacing the image's own full-resolution features by another crop's wrecks the RoI's
    // segmentation; replacing the deep path alone barely moves it.
    const [shallow, ...deep] = cuts;
    expect(
      result.components
        .slice(0, 4)
        .map((effect) => effect.component)
        .sort(),
    ).toEqual([...shallow!].sort());
    expect(result.components[0]).toMatchObject({ significant: true });
    expect(result.components[0]!.meanEffect).toBeLessThan(-30);
    expect(result.components[0]!.ciHigh).toBeLessThan(0);
    for (const name of deep.flat()) expect(Math.abs(tally(name)[0]!)).toBeLessThan(2);
    // None of the deep cuts is called: two draws alike (+0.32 each, at the third cut) are not
    // proof of an effect beyond the threshold, and are priced as the chance of two alike.
    for (const name of deep.flat()) {
      expect(result.components.find((effect) => effect.component === name)!.significant).toBe(
        false,
      );
    }
    expect(result.forwardPasses).toBe(
      2 + 8 + 1 + result.components.reduce((sum, effect) => sum + effect.n, 0),
    );
  });
});
