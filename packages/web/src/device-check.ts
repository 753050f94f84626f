import { isSoftwareAdapter } from '@pdcr/core';
import {
  BlockGrid,
  CpuIntervention,
  GpuIntervention,
  InterventionPlan,
  type InterventionSource,
} from '@pdcr/kernels';

export interface DeviceReport {
  readonly adapter: string | null;
  /** A software renderer (SwiftShader and the like), which `auto` passes over for wasm. */
  readonly software: boolean;
  /** Largest difference between the GPU intervention kernel and its CPU reference. */
  readonly kernelError: number | null;
}

/**
 * Finds the browser's WebGPU adapter and runs the intervention kernel once against its CPU
 * reference: the page says plainly whether explanations will run on this GPU.
 */
export async function checkDevice(gpu: GPU | undefined): Promise<DeviceReport> {
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return { adapter: null, software: false, kernelError: null };
  const info = adapter.info;
  const name =
    [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') ||
    'unnamed adapter';
  const device = await adapter.requestDevice({ label: 'page check device' });
  try {
    const size = 24;
    const image = {
      channels: 1,
      height: size,
      width: size,
      data: Float32Array.from({ length: size * size }, (_, i) => (i % 7) / 7),
    };
    const patchBank = {
      count: 1,
      channels: 1,
      height: 8,
      width: 8,
      data: new Float32Array(64).fill(0.5),
    };
    const source: InterventionSource = {
      image,
      patchBank,
      grid: new BlockGrid(size, size, 8, 8),
      preprocessing: { kind: 'zscore', epsilon: 1e-6 },
    };
    const plan = new InterventionPlan(2, source.grid.blockCount).replace(1, 4, 0);
    const expected = new Float32Array(2 * size * size);
    new CpuIntervention(source).run(plan, expected);

    const kernel = new GpuIntervention(device, source, { maxBatchSize: 2 });
    const batch = device.createBuffer({
      label: 'page check batch',
      size: expected.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const readback = device.createBuffer({
      label: 'page check readback',
      size: expected.byteLength,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    kernel.run(plan, batch);
    const encoder = device.createCommandEncoder({ label: 'page check copy' });
    encoder.copyBufferToBuffer(batch, 0, readback, 0, expected.byteLength);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const actual = new Float32Array(readback.getMappedRange());
    let kernelError = 0;
    actual.forEach(
      (value, i) => (kernelError = Math.max(kernelError, Math.abs(value - expected[i]!))),
    );
    readback.unmap();
    for (const buffer of [batch, readback]) buffer.destroy();
    kernel.destroy();
    return { adapter: name, software: isSoftwareAdapter(adapter), kernelError };
  } finally {
    device.destroy();
  }
}
