// Node-only: where each onnxruntime backend comes from in Node, and WebGPU through Dawn.
import { dawnGpu } from '@pdcr/kernels/node';
import type { OrtModule, OrtRuntimes } from '../model-runner.ts';

let webgpuReady = false;

/**
 * Gives Node what onnxruntime-web's WebGPU build expects of a browser: `navigator.gpu` (Dawn)
 * and a `GPUQueue.writeBuffer` that accepts views of a SharedArrayBuffer, which onnxruntime
 * passes (its wasm memory) and Dawn rejects. Must run before the first session is created, as
 * weights are uploaded then.
 */
export function provideWebGpuToNode(): void {
  if (webgpuReady) return;
  const gpu = dawnGpu();
  if (!('navigator' in globalThis) || !(globalThis.navigator as Navigator | undefined)?.gpu) {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu },
      configurable: true,
      writable: true,
    });
  }
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (
    this: GPUQueue,
    buffer: GPUBuffer,
    offset: number,
    data: GPUAllowSharedBufferSource,
    dataOffset?: number,
    size?: number,
  ): undefined {
    const backing = ArrayBuffer.isView(data) ? data.buffer : data;
    if (typeof SharedArrayBuffer !== 'undefined' && backing instanceof SharedArrayBuffer) {
      const view = ArrayBuffer.isView(data) ? data : new Uint8Array(data);
      const elementSize = 'BYTES_PER_ELEMENT' in view ? (view.BYTES_PER_ELEMENT as number) : 1;
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      const start = (dataOffset ?? 0) * elementSize;
      const end = size === undefined ? bytes.byteLength : start + size * elementSize;
      return writeBuffer.call(this, buffer, offset, bytes.slice(start, end));
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  webgpuReady = true;
}

async function moduleOf(imported: Promise<unknown>): Promise<OrtModule> {
  const loaded = (await imported) as OrtModule & { default?: OrtModule };
  return loaded.default?.InferenceSession ? loaded.default : loaded;
}

/** The backends Node offers: onnxruntime-node's CPU provider, onnxruntime-web's wasm and WebGPU. */
export function nodeRuntimes(): OrtRuntimes {
  return {
    cpu: () => moduleOf(import('onnxruntime-node')),
    wasm: () => moduleOf(import('onnxruntime-web')),
    webgpu: async () => {
      provideWebGpuToNode();
      return moduleOf(import('onnxruntime-web/webgpu'));
    },
    gpuAdapter: () => dawnGpu().requestAdapter(),
  };
}
