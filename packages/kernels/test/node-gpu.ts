import { existsSync } from 'node:fs';
import { create, globals } from 'webgpu';
import type { TestContext } from 'vitest';

/** Debian's Chromium ships SwiftShader, a Vulkan driver that gives Dawn an adapter without a GPU. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let gpu: GPU | undefined;

/**
 * Dawn's `GPU` for this process. Without a GPU, Vulkan needs a software driver: SwiftShader is
 * chosen when nothing else is configured.
 */
export function nodeGpu(): GPU {
  if (!gpu) {
    if (!process.env['VK_ICD_FILENAMES'] && existsSync(SWIFTSHADER_ICD)) {
      process.env['VK_ICD_FILENAMES'] = SWIFTSHADER_ICD;
    }
    Object.assign(globalThis, globals);
    gpu = create([]);
  }
  return gpu;
}

/**
 * Ends the test when there is no adapter: a failure in CI, where the GPU tier must run; a skip
 * that says why everywhere else.
 */
export async function requireAdapter(context: TestContext): Promise<GPU> {
  const found = nodeGpu();
  if (await found.requestAdapter()) return found;
  const why =
    "no WebGPU adapter: install Debian's chromium (SwiftShader) and libvulkan1, " +
    'or run scripts/bootstrap.sh';
  if (process.env['CI']) throw new Error(why);
  console.warn(`skipping GPU test: ${why}`);
  context.skip(why);
  return found;
}
