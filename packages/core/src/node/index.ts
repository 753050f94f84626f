// `@pdcr/core/node`: what only Node can do: files, onnxruntime-node, Dawn.
export { readImageFile, readPatchFolder } from './files.ts';
export { nodeRuntimes, provideWebGpuToNode } from './runtimes.ts';
