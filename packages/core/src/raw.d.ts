// Text files imported as strings (Vite, Vitest and the workspace's esbuild plugin resolve `?raw`).
declare module '*.js?raw' {
  const source: string;
  export default source;
}
declare module '*.css?raw' {
  const source: string;
  export default source;
}
