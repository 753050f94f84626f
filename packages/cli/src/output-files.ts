import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a set of files into `folder` all together or not at all: they are written into a
 * sibling staging folder first and moved in only once every one of them is complete.
 */
export async function writeOutputs(
  folder: string,
  files: Record<string, string | Uint8Array>,
): Promise<string[]> {
  const target = path.resolve(folder);
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    await mkdir(staging, { recursive: true });
    for (const [name, contents] of Object.entries(files))
      await writeFile(path.join(staging, name), contents);
    await mkdir(target, { recursive: true });
    for (const name of Object.keys(files))
      await rename(path.join(staging, name), path.join(target, name));
    return Object.keys(files).map((name) => path.join(target, name));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
