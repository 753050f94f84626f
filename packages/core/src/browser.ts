import type { OrtModule, OrtRuntimes } from './model-runner.ts';

async function webRuntime(): Promise<OrtModule> {
  const ort = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
  // Worker threads need SharedArrayBuffer, which only cross-origin isolated pages have.
  if (typeof crossOriginIsolated !== 'undefined' && !crossOriginIsolated)
    ort.env.wasm.numThreads = 1;
  return ort;
}

/**
 * The backends a browser offers: onnxruntime-web's wasm and, where `navigator.gpu` gives an
 * adapter, WebGPU. onnxruntime-web fetches its `.wasm` and `.mjs` files next to the script that
 * loads it (or from `ort.env.wasm.wasmPaths`).
 */
export function browserRuntimes(): OrtRuntimes {
  return {
    wasm: webRuntime,
    webgpu: webRuntime,
    gpuAdapter: async () =>
      typeof navigator !== 'undefined' && navigator.gpu ? navigator.gpu.requestAdapter() : null,
  };
}
