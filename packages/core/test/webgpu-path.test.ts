import { describe, expect, it } from 'vitest';
import { dawnGpu } from '@pdcr/kernels/node';
import {
  cutPatchBank,
  explain,
  Logger,
  ModelRunner,
  SeededRandom,
  type Backend,
  type ExplainOptions,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { dsbCrop, nucleiModelBytes } from './fixtures.ts';
import { LOCAL_MODELS, randomScene } from './local-models.ts';
import { sceneBank, sceneImage, sceneMask, sceneModel, WIDE_SCENE } from './step-scenario.ts';

// SwiftShader runs the U-Net at seconds per pass: the crop and the draws are kept small.
const CROP = { top: 400, left: 112, height: 32, width: 32 };
const ROI = { top: 8, left: 8, height: 16, width: 16 };
const logger = new Logger('silent');

async function explainOn(backend: Backend) {
  const { image, mask } = await dsbCrop(CROP);
  const runner = await ModelRunner.load({
    bytes: await nucleiModelBytes(),
    name: 'unet2d-nuclei-broad.onnx',
    runtimes: nodeRuntimes(),
    backend,
    imageSize: CROP,
    size: 'image',
    maxBatchSize: 16,
    logger,
  });
  try {
    return await explain({
      model: runner,
      image,
      mask,
      roi: ROI,
      block: { height: 8, width: 8 },
      patchBank: cutPatchBank([image], 32, 8, 8, new SeededRandom(5).fork('bank'), ROI),
      preprocessing: { kind: 'zscore', epsilon: 1e-6 },
      outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
      preset: 'paper',
      screen: 2,
      samples: 4,
      seed: 5,
    });
  } finally {
    await runner.release();
  }
}

/** A small model explained under the fast preset and per-image z-score, on `backend`. */
async function explainFast(
  backend: Backend,
  bytes: Uint8Array,
  options: Pick<ExplainOptions, 'image' | 'mask' | 'roi' | 'block' | 'patchBank' | 'seed'>,
) {
  const runner = await ModelRunner.load({
    bytes,
    name: 'small.onnx',
    runtimes: nodeRuntimes(),
    backend,
    imageSize: options.image,
    maxBatchSize: 16,
    logger,
  });
  try {
    return await explain({
      ...options,
      model: runner,
      preprocessing: { kind: 'zscore', epsilon: 1e-6 },
      outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
      preset: 'fast',
    });
  } finally {
    await runner.release();
  }
}

/** The step model's scene: not a local model, so pruning halves groups. */
function explainFastOn(backend: Backend) {
  const scene = WIDE_SCENE;
  return explainFast(backend, sceneModel(scene), {
    image: sceneImage(scene),
    mask: sceneMask(scene),
    roi: scene.roi,
    block: { height: 8, width: 8 },
    patchBank: sceneBank(4, 4),
    seed: 3,
  });
}

/** A small fully convolutional model: its passes run on the RoI's window. */
function explainOnWindow(backend: Backend) {
  const { image, patchBank } = randomScene(6);
  return explainFast(backend, LOCAL_MODELS['conv, pool, dilated conv, nearest resize, skip']!(), {
    image,
    roi: { top: 20, left: 20, height: 8, width: 8 },
    block: { height: 4, width: 4 },
    patchBank,
    seed: 7,
  });
}

async function requireAdapter(context: { skip: (note: string) => void }): Promise<void> {
  if (await dawnGpu().requestAdapter()) return;
  const why = "no WebGPU adapter: install Debian's chromium (SwiftShader) and libvulkan1";
  if (process.env['CI']) throw new Error(why);
  console.warn(`skipping: ${why}`);
  context.skip(why);
}

describe('the zero-copy WebGPU path (onnxruntime-web on Dawn)', () => {
  it('gives the CPU path map on the nuclei U-Net', { timeout: 600_000 }, async (context) => {
    await requireAdapter(context);
    const cpu = await explainOn('cpu');
    const gpu = await explainOn('webgpu');
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.forwardPasses).toBe(cpu.forwardPasses);
    expect(gpu.baseScore).toBeCloseTo(cpu.baseScore, 3);
    expect(gpu.blocks.map((block) => block.significant)).toEqual(
      cpu.blocks.map((block) => block.significant),
    );
    for (const [i, block] of gpu.blocks.entries()) {
      expect(block.ate, `block ${block.top},${block.left}`).toBeCloseTo(cpu.blocks[i]!.ate, 3);
      expect(block.n).toBe(cpu.blocks[i]!.n);
    }
  });

  it('prunes under the fast preset as the CPU path does', { timeout: 300_000 }, async (context) => {
    // The pruning reference is the untouched image run as the batches are: on WebGPU written by
    // the intervention kernel, whose normalisation may differ from the CPU reference's in the
    // last bit. Compared with a CPU-written reference, every group test would show a change
    // and pruning would fall back, at many more passes.
    await requireAdapter(context);
    const cpu = await explainFastOn('cpu');
    const gpu = await explainFastOn('webgpu');
    expect(gpu.backend).toBe('webgpu');
    expect(cpu.statisticsRoute?.blocks).toBe(26);
    expect(gpu.statisticsRoute).toEqual(cpu.statisticsRoute);
    expect(gpu.forwardPasses).toBe(cpu.forwardPasses);
    expect(gpu.blocks.map(({ ate, n, significant }) => ({ ate, n, significant }))).toEqual(
      cpu.blocks.map(({ ate, n, significant }) => ({ ate, n, significant })),
    );
  });

  it("runs the RoI's window as the CPU path does", { timeout: 300_000 }, async (context) => {
    // The window is a second session of the model with a Slice in front, fed the batches the
    // intervention kernel writes; its output buffer is read by the outcome kernel at its size.
    await requireAdapter(context);
    const cpu = await explainOnWindow('cpu');
    const gpu = await explainOnWindow('webgpu');
    expect(gpu.backend).toBe('webgpu');
    expect(cpu.window).toBeDefined();
    expect(gpu.window).toEqual(cpu.window);
    expect(gpu.forwardPasses).toBe(cpu.forwardPasses);
    expect(gpu.blocks.map(({ ate, n, significant }) => ({ ate, n, significant }))).toEqual(
      cpu.blocks.map(({ ate, n, significant }) => ({ ate, n, significant })),
    );
  });
});
