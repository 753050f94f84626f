import type { TestContext } from 'vitest';
import { dawnGpu } from '../src/node/dawn.ts';

/**
 * Dawn's GPU, or the end of the test when it has no adapter: a failure in CI, where the GPU tier
 * must run; a skip that says why everywhere else.
 */
export async function requireAdapter(context: TestContext): Promise<GPU> {
  const gpu = dawnGpu();
  if (await gpu.requestAdapter()) return gpu;
  const why =
    "no WebGPU adapter: install Debian's chromium (SwiftShader) and libvulkan1, " +
    'or run scripts/bootstrap.sh';
  if (process.env['CI']) throw new Error(why);
  console.warn(`skipping GPU test: ${why}`);
  context.skip(why);
  return gpu;
}
