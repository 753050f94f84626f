// Bundles a TypeScript entry of the workspace with esbuild, resolving `*.wgsl?raw` imports to
// the file's text as Vite does, so scripts and the browser test tier run the same sources.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as esbuild from 'esbuild';

/** esbuild plugin: `import source from './kernel.wgsl?raw'` gives the file's text. */
export const rawImports = {
  name: 'raw-imports',
  setup(build) {
    build.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'raw',
    }));
    build.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/**
 * @param {string} entry path of the TypeScript entry point
 * @param {{ platform: 'node' | 'browser', outfile?: string }} options
 * @returns {Promise<string>} the bundle's code when no outfile is given
 */
export async function bundle(entry, { platform, outfile }) {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform,
    target: platform === 'node' ? 'node20' : 'chrome120',
    // wgsl_reflect's `main` is a CommonJS file in a `"type": "module"` package; its `module`
    // build is the one that loads everywhere.
    mainFields: platform === 'node' ? ['module', 'main'] : ['browser', 'module', 'main'],
    // Native and WebAssembly-carrying packages load from node_modules as they are.
    external:
      platform === 'node'
        ? ['webgpu', 'onnxruntime-node', 'onnxruntime-web', 'puppeteer-core', 'vite']
        : [],
    sourcemap: 'inline',
    // CommonJS dependencies bundled into an ES module still call require(): give them one.
    ...(platform === 'node'
      ? {
          banner: {
            js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
          },
        }
      : {}),
    plugins: [rawImports],
    logLevel: 'warning',
    ...(outfile ? { outfile } : { write: false }),
  });
  return outfile ? '' : result.outputFiles[0].text;
}
