import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  resolve: {
    alias: {
      // wgsl_reflect's `main` is CommonJS in a `"type": "module"` package; its ES build loads.
      wgsl_reflect: fileURLToPath(
        new URL('../../node_modules/wgsl_reflect/wgsl_reflect.module.js', import.meta.url),
      ),
    },
  },
  build: { target: 'es2022' },
});
