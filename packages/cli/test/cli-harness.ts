import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundle } from '../../../tools/bundle.mjs';

const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// Next to the sources, so that the bundle's bare imports resolve from this package.
const bundled = fileURLToPath(new URL(`../src/.pdcr-test-${process.pid}.mjs`, import.meta.url));

/** Builds the CLI once per test file; call `removeCli` after. */
export async function buildCli(): Promise<void> {
  await bundle(entry, { platform: 'node', outfile: bundled });
}

export async function removeCli(): Promise<void> {
  await rm(bundled, { force: true });
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `pdcr ...args` as a user would, with no terminal attached; Ctrl-C after `interruptAfterMs`. */
export function pdcr(args: string[], interruptAfterMs?: number): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundled, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    if (interruptAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
