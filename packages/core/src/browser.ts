import type { OrtModule, OrtRuntimes } from './model-runner.ts';

/** Where onnxruntime-web's own `.wasm` and `.mjs` files are served, when not beside the script. */
export interface WasmPaths {
  readonly wasm: string;
  readonly mjs: string;
}

async function webRuntime(wasmPaths: WasmPaths | undefined): Promise<OrtModule> {
  const ort = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
  // Worker threads need SharedArrayBuffer, which only cross-origin isolated pages have.
  if (typeof crossOriginIsolated !== 'undefined' && !crossOriginIsolated)
    ort.env.wasm.numThreads = 1;
  if (wasmPaths) ort.env.wasm.wasmPaths = { ...wasmPaths };
  return ort;
}

/**
 * The backends a browser (page or worker) offers: onnxruntime-web's wasm and, where
 * `navigator.gpu` gives an adapter, WebGPU. onnxruntime-web fetches its `.wasm` and `.mjs` files
 * next to the script that loads it, or from `wasmPaths`.
 */
export function browserRuntimes(wasmPaths?: WasmPaths): OrtRuntimes {
  const runtime = () => webRuntime(wasmPaths);
  return {
    wasm: runtime,
    webgpu: runtime,
    gpuAdapter: async () =>
      typeof navigator !== 'undefined' && navigator.gpu ? navigator.gpu.requestAdapter() : null,
  };
}
