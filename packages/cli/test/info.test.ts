import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, pdcr, removeCli } from './cli-harness.ts';

const model = fileURLToPath(
  new URL('../../../data/nuclei-unet/unet2d-nuclei-broad.onnx', import.meta.url),
);

beforeAll(buildCli);
afterAll(removeCli);

describe('pdcr info', () => {
  it('describes the nuclei U-Net: shapes, opset, batch relaxation and the flags it needs', async () => {
    const run = await pdcr(['info', model]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('opset 20');
    expect(run.stdout).toContain('inputs:  input.1: float[1, 1, 512, 512]');
    expect(run.stdout).toContain('outputs: 82: float[1, 1, 512, 512]');
    expect(run.stdout).toMatch(/Conv 18/);
    expect(run.stdout).toContain(
      'batch: declared 1; runs in batches (a batch of two equals two single runs)',
    );
    expect(run.stdout).toContain(
      'receptive field: 58 pixels up, 58 down, 58 left, 58 right, on a grid of 8',
    );
    expect(run.stdout).toContain('--activation sigmoid');
    expect(run.stdout).toContain('--size image');
  });

  it('names a file that is not a model in one line', async () => {
    const run = await pdcr(['info', fileURLToPath(new URL('../package.json', import.meta.url))]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^pdcr: .*package\.json: /);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
