import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentAnalysisResult } from '@pdcr/core';
import onnxProto from 'onnx-proto';
import { GraphBuilder } from '../../core/test/onnx-builder.ts';
import { buildCli, pdcr, removeCli } from './cli-harness.ts';

const { onnx } = onnxProto;
const SIZE = 16;
const roi = { top: 4, left: 4, height: 8, width: 8 };
let folder = '';

/**
 * A 1x1 convolution writes the image into channel 0 and 2 x image into channel 1; the output
 * keeps channel 0 alone, minus 0.5. Only channel 0 reaches the RoI.
 */
function model(): Uint8Array {
  const graph = new GraphBuilder();
  const features = graph.node('Conv', [
    'image',
    graph.floats([1, 2], [2, 1, 1, 1]),
    graph.floats([0, 0], [2]),
  ]);
  const kept = graph.node('Slice', [features, graph.ints([0]), graph.ints([1]), graph.ints([1])]);
  const map = graph.node('Add', [kept, graph.floats([-0.5], [1])]);
  const size = { channels: 1, height: SIZE, width: SIZE };
  return graph.build(map, size, size, 1);
}

/**
 * `model()` plus a term that mixes the samples of a batch (their mean over the batch axis, times
 * zero): its tensors have a first axis of 1 whatever the batch, and are no components.
 */
function batchMixingModel(): Uint8Array {
  const graph = new GraphBuilder();
  const features = graph.node('Conv', [
    'image',
    graph.floats([1, 2], [2, 1, 1, 1]),
    graph.floats([0, 0], [2]),
  ]);
  const kept = graph.node('Slice', [features, graph.ints([0]), graph.ints([1]), graph.ints([1])]);
  const axes = { name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [0] };
  const batchMean = graph.node('ReduceMean', [kept], [axes]);
  const nothing = graph.node('Mul', [batchMean, graph.floats([0], [1])]);
  const map = graph.node('Add', [kept, nothing]);
  const size = { channels: 1, height: SIZE, width: SIZE };
  return graph.build(map, size, size);
}

/** Grey 16-bit-free PNG of `height x width` from a pixel function. */
function png(height: number, width: number, pixel: (y: number, x: number) => number): Uint8Array {
  const data = new Uint8Array(height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = pixel(y, x);
  return encodePng({ width, height, data, channels: 1, depth: 8 });
}

const inRoi = (y: number, x: number) =>
  y >= roi.top && y < roi.top + roi.height && x >= roi.left && x < roi.left + roi.width;

beforeAll(async () => {
  await buildCli();
  folder = await mkdtemp(path.join(tmpdir(), 'pdcr-components-'));
  await writeFile(path.join(folder, 'model.onnx'), model());
  await writeFile(path.join(folder, 'batch-mixing.onnx'), batchMixingModel());
  // The analysed image: the RoI bright, the rest dark and varied.
  await writeFile(
    path.join(folder, 'image.png'),
    png(SIZE, SIZE, (y, x) => (inRoi(y, x) ? 230 : (y * 5 + x * 3) % 60)),
  );
  await writeFile(
    path.join(folder, 'mask.png'),
    png(SIZE, SIZE, (y, x) => (inRoi(y, x) ? 255 : 0)),
  );
  // A larger image of the same kind, all dark: every crop of it predicts nothing.
  await writeFile(
    path.join(folder, 'dark.png'),
    png(40, 40, (y, x) => (y * 7 + x * 11) % 100),
  );
});

afterAll(async () => {
  await removeCli();
  await rm(folder, { recursive: true, force: true });
});

describe('pdcr components', () => {
  it('ranks the channels of a model whose signal channel is known, and writes every output', async () => {
    const out = path.join(folder, 'out');
    const run = await pdcr([
      'components',
      '--model',
      path.join(folder, 'model.onnx'),
      '--image',
      path.join(folder, 'image.png'),
      '--mask',
      path.join(folder, 'mask.png'),
      '--roi',
      '4,4,8,8',
      '--natural-from',
      path.join(folder, 'dark.png'),
      '--natural-count',
      '4',
      '--select',
      'Conv',
      '--granularity',
      'channel',
      '--binarize',
      '0',
      '--backend',
      'cpu',
      '--out',
      out,
    ]);
    // stderr holds the progress bar alone, ending on every planned pass done: 2 probe, 4
    // natural, 1 base and 2 components x 4 draws.
    const progress = run.stderr.trim().split('\n');
    for (const line of progress)
      expect(line).toMatch(/^(base|estimate) +\|[█░]{30}\| \d+\/\d+ passes/);
    expect(progress.at(-1)).toMatch(
      /^estimate \|█{30}\| 15\/15 passes \| [\d.]+ passes\/s \| 0s left$/,
    );
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    // The signal channel first: replacing it by any dark crop empties the RoI (Dice 100 to 0).
    expect(lines[0]).toMatch(/^rank\s+component\s+op\s+ATE\s+95% CI\s+n\s+significant$/);
    expect(lines[1]).toMatch(
      /^\s*1\s+conv_2\[0\]\s+Conv\s+-100\.000\s+\[-100\.000, -100\.000\]\s+4\s+yes$/,
    );
    expect(lines[2]).toMatch(/^\s*2\s+conv_2\[1\]\s+Conv\s+0\.000\s+\[0\.000, 0\.000\]\s+4\s+no$/);
    expect(run.stdout).toContain(
      'base Dice 100.00; 2 components (channels, resample), 1 significant',
    );

    expect((await readdir(out)).sort()).toEqual(['components.txt', 'report.html', 'result.json']);
    const result = JSON.parse(
      await readFile(path.join(out, 'result.json'), 'utf8'),
    ) as ComponentAnalysisResult;
    expect(result.kind).toBe('components');
    expect(result.components.map((effect) => [effect.component, effect.ate])).toEqual([
      ['conv_2[0]', -100],
      ['conv_2[1]', 0],
    ]);
    expect(result.passes).toEqual({ probe: 2, natural: 4, base: 1, estimate: 8 });
    const report = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(report).toContain('conv_2[0]');
    expect(report).toContain('<h2>Per layer</h2>');
  });

  it('lists the components with pdcr info --components', async () => {
    const run = await pdcr(['info', path.join(folder, 'model.onnx'), '--components']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('components: 3 tensors');
    expect(run.stdout).toMatch(/^ {2}Conv\s+conv_2\s+2x64x64$/m);
    expect(run.stdout).toMatch(/^ {2}Slice\s+slice_6\s+1x64x64$/m);
  });

  it('lists with pdcr info --components only tensors that follow the batch, as components does', async () => {
    // Probed with a batch of one, the batch mean and its product would pass for components.
    const run = await pdcr(['info', path.join(folder, 'batch-mixing.onnx'), '--components']);
    expect(run.code).toBe(0);
    const listed = run.stdout.slice(run.stdout.indexOf('components: ')).trim().split('\n');
    expect(listed[0]).toMatch(/^components: 3 tensors/);
    expect(listed.slice(1).map((line) => line.trim().split(/\s+/))).toEqual([
      ['Conv', 'conv_2', '2x64x64'],
      ['Slice', 'slice_6', '1x64x64'],
      ['Add', 'add_10', '1x64x64'],
    ]);
  });

  it('says at once what to give when the whole image is analysed and nothing else is natural', async () => {
    const out = path.join(folder, 'no-natural');
    const run = await pdcr([
      'components',
      '--model',
      path.join(folder, 'model.onnx'),
      '--image',
      path.join(folder, 'image.png'),
      '--roi',
      '4,4,8,8',
      '--backend',
      'cpu',
      '--quiet',
      '--out',
      out,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'pdcr: natural: every 16x16 crop of the image overlaps the analysed region (the whole ' +
        'image when no crop is given), so no natural sample can be taken from it; give --crop, ' +
        '--natural-from, or --intervention zero\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a negative threshold in one line before anything runs', async () => {
    const out = path.join(folder, 'negative-threshold');
    const run = await pdcr([
      'components',
      ...['--model', path.join(folder, 'model.onnx'), '--image', path.join(folder, 'image.png')],
      ...['--roi', '4,4,8,8', '--threshold', '-0.5', '--out', out],
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "pdcr: option '--threshold <t>' argument '-0.5' is invalid. give a number of at least 0 " +
        '(run pdcr <command> --help for the flags)\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses one natural sample under resample before the model runs', async () => {
    // One draw per component would leave no spread: a zero-width interval, any effect significant.
    const out = path.join(folder, 'one-natural');
    const run = await pdcr([
      'components',
      '--model',
      path.join(folder, 'model.onnx'),
      '--image',
      path.join(folder, 'image.png'),
      '--roi',
      '4,4,8,8',
      '--natural-from',
      path.join(folder, 'dark.png'),
      '--natural-count',
      '1',
      '--backend',
      'cpu',
      '--out',
      out,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'pdcr: natural: resample needs at least 2 natural samples to put an interval on an ' +
        'effect, got 1; give --natural-count 2 or more, or use --intervention mean or zero\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('names a selection that matches nothing in one line, exits 2 and writes nothing', async () => {
    const out = path.join(folder, 'nothing');
    const run = await pdcr([
      'components',
      '--model',
      path.join(folder, 'model.onnx'),
      '--image',
      path.join(folder, 'image.png'),
      '--roi',
      '4,4,8,8',
      '--natural-from',
      path.join(folder, 'dark.png'),
      '--select',
      'LSTM',
      '--backend',
      'cpu',
      '--quiet',
      '--out',
      out,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^pdcr: select: LSTM matches none of the model's 3 component tensors/,
    );
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(folder)).filter((name) => name.includes('.partial-'))).toEqual([]);
  });
});
