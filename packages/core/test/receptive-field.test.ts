import { describe, expect, it } from 'vitest';
import {
  cutPatchBank,
  explain,
  Logger,
  ModelRunner,
  receptiveField,
  SeededRandom,
  type ExplanationResult,
} from '../src/index.ts';
import { nodeRuntimes } from '../src/node/index.ts';
import { openRoiWindow, roiWindow, withinWindow } from '../src/roi-window.ts';
import { baseActivatedRoi } from '../src/untouched.ts';
import { BlockGrid } from '@pdcr/kernels';
import { dsbCrop, nucleiModelBytes } from './fixtures.ts';
import { GraphBuilder } from './onnx-builder.ts';
import { int, LOCAL_MODELS as MODELS, poolResizeSkip, randomScene, SIZE } from './local-models.ts';

async function load(bytes: Uint8Array, name: string, size = SIZE) {
  return ModelRunner.load({
    bytes,
    name,
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: { height: size, width: size },
    maxBatchSize: 16,
    logger: new Logger('silent'),
  });
}

describe("the receptive field read off a model's graph", () => {
  it.for(Object.keys(MODELS))(
    'holds exactly the pixels that change the output (%s)',
    async (name) => {
      const bytes = MODELS[name]!();
      const model = await load(bytes, name);
      try {
        const field = model.receptiveField;
        if (!field.local) throw new Error(`not local: ${field.reason}`);
        expect(field.alignment).toBe(name.startsWith('conv') ? 2 : 4);
        const random = new SeededRandom(3);
        const image = Float32Array.from({ length: SIZE * SIZE }, () => random.integer(1000) / 1000);
        const base = await model.run(image, 1);
        // For output pixels at every phase of the alignment: a change at the span's edge moves
        // the output pixel, one just beyond it does not.
        for (const phase of [0, 1, 2, 3]) {
          const y = 20 + phase;
          const x = 24 + phase;
          const [top, bottom] = field.span(0, y, y);
          const [left, right] = field.span(1, x, x);
          const moved = async (row: number, column: number) => {
            const changed = image.slice();
            changed[row * SIZE + column] = 50;
            const output = await model.run(changed, 1);
            return output[y * SIZE + x] !== base[y * SIZE + x];
          };
          const where = `output ${y},${x}, span rows ${top}-${bottom}, columns ${left}-${right}`;
          expect(await moved(top, x), where).toBe(true);
          expect(await moved(bottom, x), where).toBe(true);
          expect(await moved(y, left), where).toBe(true);
          expect(await moved(y, right), where).toBe(true);
          expect(await moved(top - 1, x), where).toBe(false);
          expect(await moved(bottom + 1, x), where).toBe(false);
          expect(await moved(y, left - 1), where).toBe(false);
          expect(await moved(y, right + 1), where).toBe(false);
        }
      } finally {
        await model.release();
      }
    },
  );

  it("reads the nuclei U-Net's field: 54 pixels beyond a 32 x 32 RoI on the pooling grid", async () => {
    const bytes = await nucleiModelBytes();
    const field = receptiveField(bytes, 'unet2d-nuclei-broad.onnx', 'input.1', '82');
    if (!field.local) throw new Error(`not local: ${field.reason}`);
    expect(field.alignment).toBe(8);
    // Three 2x poolings, two 3x3 convs a level and linear 2x upsampling: rows 400-431 read
    // rows 346-485. A window 48 pixels beyond the RoI changed its output; 56 did not.
    expect(field.span(0, 400, 431)).toEqual([346, 485]);
    expect(field.reach).toEqual({ top: 58, bottom: 58, left: 58, right: 58 });
  });

  it.for([
    {
      name: 'global average pooling',
      build: (graph: GraphBuilder) =>
        graph.node('Add', ['image', graph.node('GlobalAveragePool', ['image'])]),
      reason: /^GlobalAveragePool \(.*\) is not a local operator$/,
    },
    {
      name: 'a constant that varies over the image',
      build: (graph: GraphBuilder) =>
        graph.node('Mul', ['image', graph.floats(new Float32Array(16).fill(2), [1, 1, 4, 4])]),
      reason: /^Mul with a constant that varies over the image/,
    },
    {
      name: 'a per-image normalisation',
      build: (graph: GraphBuilder) =>
        graph.node('InstanceNormalization', [
          'image',
          graph.floats([1], [1]),
          graph.floats([0], [1]),
        ]),
      reason: /^InstanceNormalization .* is not a local operator$/,
    },
    {
      name: 'a concatenation along the width',
      build: (graph: GraphBuilder) =>
        graph.node('Slice', [
          graph.node('Concat', ['image', 'image'], [int('axis', 3)]),
          graph.ints([0]),
          graph.ints([4]),
          graph.ints([3]),
        ]),
      reason: /^Concat along axis 3, not the channel axis$/,
    },
  ])('finds no finite field in a model with $name', ({ build, reason }) => {
    const graph = new GraphBuilder();
    const size = { channels: 1, height: 4, width: 4 };
    const bytes = graph.build(build(graph), size, size);
    const field = receptiveField(bytes, 'global.onnx', 'image', 'map');
    expect(field.local).toBe(false);
    if (!field.local) expect(field.reason).toMatch(reason);
  });

  it('prunes every block beyond the field with one joint test, to the map group testing gives', async () => {
    const bytes = MODELS['conv, pool, dilated conv, nearest resize, skip']!();
    // The same model behind a Reshape to its own shape, which the graph reading does not know:
    // pruning then halves groups as for any model.
    const opaque = (() => {
      const graph = new GraphBuilder();
      const size = { channels: 1, height: SIZE, width: SIZE };
      const inner = graph.node('Reshape', ['image', graph.ints([-1, 1, SIZE, SIZE])]);
      return graph.build(poolResizeSkip(graph, inner), size, size);
    })();
    const { image, patchBank } = randomScene(4);
    const explainWith = async (model: ModelRunner): Promise<ExplanationResult> =>
      explain({
        model,
        image,
        roi: { top: 20, left: 20, height: 8, width: 8 },
        block: { height: 4, width: 4 },
        patchBank,
        preprocessing: { kind: 'none' },
        outcome: { activation: 'none', classIndex: 0, binarize: 0, metric: 'hardDice' },
        preset: 'fast',
        seed: 5,
      });
    const local = await load(bytes, 'local.onnx');
    const hidden = await load(opaque, 'opaque.onnx');
    try {
      expect(hidden.receptiveField).toEqual({
        local: false,
        reason: expect.stringMatching(/^Reshape/),
      });
      const [byField, byGroups] = [await explainWith(local), await explainWith(hidden)];
      const pruned = byField.blocks.filter((block) => block.n === 0);
      expect(pruned.length).toBeGreaterThan(byField.blocks.length / 2);
      expect(byGroups.blocks).toEqual(byField.blocks);
      // Group testing spends two passes on every group it halves; the field, two in all.
      const fieldPasses = byField.forwardPasses;
      expect(byGroups.forwardPasses - fieldPasses).toBeGreaterThan(20);
    } finally {
      await local.release();
      await hidden.release();
    }
  });
});

describe("the model run on the RoI's window", () => {
  it('gives the whole image output on the RoI to the last bit, on a window of its field', async () => {
    const name = 'conv, pool, dilated conv, nearest resize, skip';
    const model = await load(MODELS[name]!(), name);
    const roi = { top: 21, left: 13, height: 6, width: 5 };
    const window = roiWindow(model.receptiveField, roi, { height: SIZE, width: SIZE })!;
    const windowed = await model.windowed(window);
    try {
      // The field's span, out to the stride grid of 2.
      const field = model.receptiveField;
      if (!field.local) throw new Error('not local');
      const [top, bottom] = field.span(0, 21, 26);
      const [left, right] = field.span(1, 13, 17);
      expect(window).toEqual({
        top: Math.floor(top / 2) * 2,
        left: Math.floor(left / 2) * 2,
        height: Math.ceil((bottom + 1) / 2) * 2 - Math.floor(top / 2) * 2,
        width: Math.ceil((right + 1) / 2) * 2 - Math.floor(left / 2) * 2,
      });
      // On the CPU the windowed model takes the window itself.
      const size = { height: window.height, width: window.width };
      expect(windowed.input).toEqual({ channels: 1, ...size });
      expect(windowed.output).toEqual({ channels: 1, ...size });
      expect(windowed.inputWindow).toEqual(window);
      const random = new SeededRandom(8);
      const batch = Float32Array.from(
        { length: 3 * SIZE * SIZE },
        () => random.integer(1000) / 999,
      );
      const windows = new Float32Array(3 * window.height * window.width);
      for (let sample = 0; sample < 3; sample++) {
        for (let r = 0; r < window.height; r++) {
          const from = sample * SIZE * SIZE + (window.top + r) * SIZE + window.left;
          const to = (sample * window.height + r) * window.width;
          windows.set(batch.subarray(from, from + window.width), to);
        }
      }
      const whole = await model.run(batch, 3);
      const cut = await windowed.run(windows, 3);
      for (let sample = 0; sample < 3; sample++) {
        for (let y = roi.top; y < roi.top + roi.height; y++) {
          for (let x = roi.left; x < roi.left + roi.width; x++) {
            const inWindow = (y - window.top) * window.width + (x - window.left);
            expect(cut[sample * window.height * window.width + inWindow]).toBe(
              whole[sample * SIZE * SIZE + y * SIZE + x],
            );
          }
        }
      }
    } finally {
      await windowed.release();
      await model.release();
    }
  });

  it('explains the nuclei U-Net on a window to the map whole images give, for one pass more', async () => {
    const crop = { top: 256, left: 0, height: 256, width: 256 };
    const roi = { top: 144, left: 112, height: 32, width: 32 };
    const { image, mask } = await dsbCrop(crop);
    const model = await ModelRunner.load({
      bytes: await nucleiModelBytes(),
      name: 'unet2d-nuclei-broad.onnx',
      runtimes: nodeRuntimes(),
      backend: 'cpu',
      imageSize: crop,
      size: 'image',
      maxBatchSize: 16,
      logger: new Logger('silent'),
    });
    try {
      const explainWith = (window: boolean) =>
        explain({
          model,
          image,
          mask,
          roi,
          block: { height: 32, width: 32 },
          patchBank: cutPatchBank([image], 64, 32, 32, new SeededRandom(1).fork('bank'), roi),
          preprocessing: { kind: 'zscore', epsilon: 1e-6 },
          outcome: { activation: 'sigmoid', classIndex: 0, binarize: 0.5, metric: 'hardDice' },
          preset: 'fast',
          samples: 8,
          seed: 2,
          window,
        });
      const [windowed, whole] = [await explainWith(true), await explainWith(false)];
      // Rows 144-175 read rows 90-229 (columns 58-197): on the grid of 8, 88-231 by 56-199.
      expect(windowed.window).toEqual({ top: 88, left: 56, height: 144, width: 144 });
      expect(whole.window).toBeUndefined();
      expect(windowed.blocks).toEqual(whole.blocks);
      expect(windowed.baseScore).toBe(whole.baseScore);
      expect(windowed.statisticsRoute).toEqual(whole.statisticsRoute);
      expect(windowed.forwardPasses).toBe(whole.forwardPasses + 1);
    } finally {
      await model.release();
    }
  });

  it("keeps the window only where the model's output on the RoI is the whole image's", async () => {
    const roi = { top: 21, left: 13, height: 6, width: 5 };
    const random = new SeededRandom(11);
    const image = {
      channels: 1,
      height: SIZE,
      width: SIZE,
      data: Float32Array.from({ length: SIZE * SIZE }, () => random.integer(1000) / 999),
    };
    const source = {
      image,
      patchBank: { count: 1, channels: 1, height: 8, width: 8, data: new Float32Array(64) },
      grid: new BlockGrid(SIZE, SIZE, 8, 8),
      preprocessing: { kind: 'none' },
    } as const;
    const reading = { classIndex: 0, activation: 'none' } as const;
    const warnings: string[] = [];
    const logger = new Logger('warn', (_, message) => warnings.push(message));
    const open = async (model: ModelRunner, change = 0) => {
      const window = roiWindow(model.receptiveField, roi, image)!;
      const whole = await baseActivatedRoi(model, roi, reading, source);
      whole[0] = whole[0]! + change;
      const result = await openRoiWindow(
        model,
        window,
        roi,
        whole,
        (candidate, within) => baseActivatedRoi(candidate, within, reading, source),
        logger,
      );
      await result.opened?.model.release();
      return result;
    };

    const name = 'conv, pool, dilated conv, nearest resize, skip';
    const model = await load(MODELS[name]!(), name);
    try {
      const kept = await open(model);
      expect(kept.opened?.window).toEqual(roiWindow(model.receptiveField, roi, image));
      expect(kept.passes).toBe(1);
      expect(warnings).toEqual([]);
      // One value of the whole image's output off by a millionth: the window is not kept.
      const differing = await open(model, 1e-6);
      expect(differing).toEqual({ opened: null, passes: 1 });
      expect(warnings.pop()).toMatch(/^conv, pool.*: its output on the RoI differs between/);
      expect(withinWindow(roi, { top: 4, left: 2, height: 30, width: 30 })).toEqual({
        ...roi,
        top: 17,
        left: 11,
      });
    } finally {
      await model.release();
    }
  });

  it('runs whole images where the window would hold most of the image, or the model has no field', async () => {
    const name = 'conv, pool, dilated conv, nearest resize, skip';
    const model = await load(MODELS[name]!(), name);
    try {
      const image = { height: SIZE, width: SIZE };
      expect(
        roiWindow(model.receptiveField, { top: 4, left: 4, height: 40, width: 40 }, image),
      ).toBeNull();
      expect(
        roiWindow(
          { local: false, reason: 'GlobalAveragePool' },
          { top: 20, left: 20, height: 4, width: 4 },
          image,
        ),
      ).toBeNull();
    } finally {
      await model.release();
    }
  });
});
