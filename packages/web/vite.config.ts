import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      // wgsl_reflect's `main` is CommonJS in a `"type": "module"` package; its ES build loads.
      {
        find: /^wgsl_reflect$/,
        replacement: fileURLToPath(
          new URL('../../node_modules/wgsl_reflect/wgsl_reflect.module.js', import.meta.url),
        ),
      },
    ],
  },
  // The demo's model and image live in the repository's data folder.
  server: { fs: { allow: [repositoryRoot] } },
  worker: { format: 'es' },
  // The wasm runtime alone is 27 MB; the page's own chunks stay under a megabyte.
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
});
