/// <reference types="vite/client" />

// Chart.js's UMD build as text, inlined into the downloadable report (vite.config.ts aliases it).
declare module 'chart.js-umd?raw' {
  const source: string;
  export default source;
}
