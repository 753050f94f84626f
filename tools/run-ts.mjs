#!/usr/bin/env node
// Runs a TypeScript script of the workspace in Node: bundles it (see bundle.mjs) next to the
// script, so that its bare imports resolve from the same node_modules, then imports it.
// Usage: node tools/run-ts.mjs path/to/script.ts [arguments...]
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundle } from './bundle.mjs';

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node tools/run-ts.mjs SCRIPT.ts [ARGS...]');
  process.exit(2);
}
const script = path.resolve(entry);
const outfile = path.join(
  path.dirname(script),
  `.${path.basename(script, '.ts')}.${process.pid}.mjs`,
);
process.on('exit', () => rmSync(outfile, { force: true }));
await bundle(script, { platform: 'node', outfile });
process.argv = [process.argv[0], script, ...rest];
await import(pathToFileURL(outfile).href);
