import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Settings every package's tests share. wgsl_reflect's package.json names a CommonJS build as
 * `main` while declaring `"type": "module"`, which Node cannot load; its ES module build is
 * aliased instead.
 */
export const sharedConfig = defineConfig({
  resolve: {
    alias: {
      wgsl_reflect: fileURLToPath(
        new URL('./node_modules/wgsl_reflect/wgsl_reflect.module.js', import.meta.url),
      ),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Dawn and Chromium are heavy; one file at a time keeps a 2-core machine responsive.
    fileParallelism: false,
  },
});
