// WGSL sources are imported as strings: `import source from './kernel.wgsl?raw'` (Vite, Vitest
// and the workspace's esbuild plugin all resolve the `?raw` suffix this way).
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
