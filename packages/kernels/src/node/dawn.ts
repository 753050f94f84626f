// Node-only entry point (`@pdcr/kernels/node`): WebGPU in Node through Dawn (the `webgpu`
// package). Browsers have navigator.gpu and never load this file.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create, globals } from 'webgpu';

/** Debian's Chromium ships SwiftShader: a Vulkan driver that gives Dawn an adapter, no GPU needed. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let gpu: GPU | undefined;

/**
 * Dawn's `GPU` for this process, created once. Where no Vulkan driver is configured and
 * SwiftShader is installed, it is used, so that machines without a GPU still get an adapter.
 */
export function dawnGpu(): GPU {
  if (!gpu) {
    if (!process.env['VK_ICD_FILENAMES'] && existsSync(SWIFTSHADER_ICD)) {
      process.env['VK_ICD_FILENAMES'] = SWIFTSHADER_ICD;
    }
    if (!process.env['XDG_RUNTIME_DIR']) {
      // Without it the Vulkan loader prints an error line on every start, into the user's stderr.
      const runtimeDir = path.join(tmpdir(), `pdcr-runtime-${process.getuid?.() ?? 'user'}`);
      mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
      process.env['XDG_RUNTIME_DIR'] = runtimeDir;
    }
    Object.assign(globalThis, globals);
    gpu = create([]);
  }
  return gpu;
}

/** A short name for the adapter, for logs and benchmark tables. */
export function describeAdapter(adapter: GPUAdapter): string {
  const { vendor, architecture, device, description } = adapter.info;
  const named = [vendor, architecture, device, description].filter(Boolean).join(' ');
  if (named) return `Dawn: ${named}`;
  const driver = process.env['VK_ICD_FILENAMES'] ?? '';
  return driver.includes('swiftshader')
    ? 'Dawn: SwiftShader (Vulkan, CPU)'
    : 'Dawn: unnamed adapter';
}
