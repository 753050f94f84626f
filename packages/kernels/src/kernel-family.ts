import { reflectBufferBindings, type BufferBinding } from './reflection.ts';

/**
 * One WGSL module on one device: its shader module, the bind-group layout derived from its
 * source, and its compute pipelines, each specialised by override constants and created once.
 */
export interface KernelFamily {
  readonly name: string;
  readonly bindings: readonly BufferBinding[];
  readonly layout: GPUBindGroupLayout;
  pipeline(entryPoint: string, constants: Record<string, number>): GPUComputePipeline;
  /** A bind group from buffers named as the WGSL names them; every binding must be given. */
  bindGroup(label: string, buffers: Record<string, GPUBuffer>): GPUBindGroup;
}

const familiesByDevice = new WeakMap<GPUDevice, Map<string, KernelFamily>>();

/** The family for `name` on `device`, created on first use and cached for the device's life. */
export function kernelFamily(device: GPUDevice, name: string, source: string): KernelFamily {
  let families = familiesByDevice.get(device);
  if (!families) {
    families = new Map();
    familiesByDevice.set(device, families);
  }
  let family = families.get(name);
  if (!family) {
    family = createKernelFamily(device, name, source);
    families.set(name, family);
  }
  return family;
}

function createKernelFamily(device: GPUDevice, name: string, source: string): KernelFamily {
  const bindings = reflectBufferBindings(source);
  const module = device.createShaderModule({ label: `${name} module`, code: source });
  const layout = device.createBindGroupLayout({
    label: `${name} bind group layout`,
    entries: bindings.map((binding) => ({
      binding: binding.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: binding.type },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({
    label: `${name} pipeline layout`,
    bindGroupLayouts: [layout],
  });
  const pipelines = new Map<string, GPUComputePipeline>();

  return {
    name,
    bindings,
    layout,

    pipeline(entryPoint, constants) {
      const key = `${entryPoint} ${JSON.stringify(constants)}`;
      let pipeline = pipelines.get(key);
      if (!pipeline) {
        pipeline = device.createComputePipeline({
          label: `${name} ${entryPoint} ${JSON.stringify(constants)}`,
          layout: pipelineLayout,
          compute: { module, entryPoint, constants },
        });
        pipelines.set(key, pipeline);
      }
      return pipeline;
    },

    bindGroup(label, buffers) {
      const given = Object.keys(buffers).sort();
      const declared = bindings.map((binding) => binding.name).sort();
      if (given.join() !== declared.join()) {
        throw new Error(`${name}: bound [${given}] but the WGSL declares [${declared}]`);
      }
      return device.createBindGroup({
        label: `${name} ${label}`,
        layout,
        entries: bindings.map((binding) => ({
          binding: binding.binding,
          resource: { buffer: buffers[binding.name]! },
        })),
      });
    },
  };
}

/** A buffer of at least 4 bytes, labelled, filled with `contents` when given. */
export function createBuffer(
  device: GPUDevice,
  label: string,
  usage: GPUBufferUsageFlags,
  byteLength: number,
  contents?: ArrayBufferView,
): GPUBuffer {
  const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
  const buffer = device.createBuffer({ label, size, usage: usage | GPUBufferUsage.COPY_DST });
  if (contents) {
    writeToBuffer(device, buffer, contents);
  }
  return buffer;
}

/**
 * Queues a write of `contents` (or its first `byteLength` bytes) to the start of `buffer`.
 * Views of a SharedArrayBuffer (as onnxruntime-web's wasm build hands out) are copied first:
 * Dawn's `writeBuffer` rejects them.
 */
export function writeToBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  contents: ArrayBufferView,
  byteLength = contents.byteLength,
): void {
  const bytes = new Uint8Array(contents.buffer, contents.byteOffset, byteLength);
  const owned =
    bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  device.queue.writeBuffer(buffer, 0, owned.buffer, owned.byteOffset, owned.byteLength);
}
