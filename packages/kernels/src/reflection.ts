import { ResourceType, WgslReflect } from 'wgsl_reflect';

/** How a kernel's WGSL declares one buffer binding. */
export interface BufferBinding {
  readonly name: string;
  readonly group: number;
  readonly binding: number;
  readonly type: GPUBufferBindingType;
}

/**
 * The buffer bindings a WGSL module declares, in binding order, read from the source itself so
 * that the bind-group layout can never drift from the shader. Kernels here use group 0 only and
 * buffers only; anything else is a programming error.
 */
export function reflectBufferBindings(source: string): BufferBinding[] {
  const groups = new WgslReflect(source).getBindGroups();
  if (groups.length !== 1) {
    throw new Error(`kernel WGSL must use exactly bind group 0, found ${groups.length} groups`);
  }
  return groups[0]!
    .filter((variable) => variable !== undefined)
    .map((variable) => ({
      name: variable.name,
      group: variable.group,
      binding: variable.binding,
      type: bufferBindingType(variable.name, variable.resourceType, variable.access),
    }));
}

function bufferBindingType(
  name: string,
  resource: ResourceType,
  access: string,
): GPUBufferBindingType {
  if (resource === ResourceType.Uniform) {
    return 'uniform';
  }
  if (resource === ResourceType.Storage) {
    return access === 'read' ? 'read-only-storage' : 'storage';
  }
  throw new Error(`kernel WGSL binding ${name} is not a buffer (resource type ${resource})`);
}
