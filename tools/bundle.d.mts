import type { Plugin } from 'esbuild';

export declare const rawImports: Plugin;

/** Bundles a TypeScript entry with esbuild; returns the code when no outfile is given. */
export declare function bundle(
  entry: string,
  options: { platform: 'node' | 'browser'; outfile?: string },
): Promise<string>;
