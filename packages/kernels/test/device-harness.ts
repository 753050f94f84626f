/**
 * Runs a body of GPU work on a fresh device and reports what the WebGPU CTS and webgpu-utils
 * check after every test: validation errors, and buffers left undestroyed. Works on any `GPU`
 * object (Dawn in Node, `navigator.gpu` in Chromium); imports nothing from Node.
 */
export interface DeviceRun<T> {
  readonly value: T;
  readonly validationErrors: string[];
  readonly undestroyedBuffers: string[];
  readonly adapterDescription: string;
}

export class NoAdapterError extends Error {
  override readonly name = 'NoAdapterError';
}

export async function withFreshDevice<T>(
  gpu: GPU,
  body: (device: GPUDevice) => Promise<T>,
): Promise<DeviceRun<T>> {
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new NoAdapterError('requestAdapter() returned null: no WebGPU adapter on this machine');
  }
  const device = await adapter.requestDevice({
    label: 'test device',
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const live = trackBuffers(device);
  const uncaptured: string[] = [];
  device.addEventListener('uncapturederror', (event) => {
    uncaptured.push((event as GPUUncapturedErrorEvent).error.message);
  });
  device.pushErrorScope('validation');
  try {
    const value = await body(device);
    const error = await device.popErrorScope();
    return {
      value,
      validationErrors: [...(error ? [error.message] : []), ...uncaptured],
      undestroyedBuffers: [...live].map((buffer) => buffer.label),
      adapterDescription: describeAdapter(adapter),
    };
  } finally {
    device.destroy();
  }
}

function trackBuffers(device: GPUDevice): Set<GPUBuffer> {
  const live = new Set<GPUBuffer>();
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = createBuffer(descriptor);
    const destroy = buffer.destroy.bind(buffer);
    live.add(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return live;
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  return (
    [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') ||
    'unnamed adapter'
  );
}
