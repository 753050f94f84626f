// Files as they reach the page (picked, dropped loose, or in a dropped or picked folder): which
// input each one is, and all of them read and checked before any is applied, so that a refused
// file leaves every input as it was.
import type { NamedRaster } from '@pdcr/core';
import { fileBytes, loadImage, loadModel, type Inputs, type LoadedModel } from './inputs.ts';

export type Role = 'model' | 'image' | 'mask' | 'patch';

/** A file and whether it came inside a folder: a folder's images are patches. */
export interface ArrivedFile {
  readonly file: File;
  readonly inFolder: boolean;
}

/** The inputs one pick or drop brings; what it does not bring is left as it was. */
export interface TakenFiles {
  readonly model?: LoadedModel;
  readonly image?: NamedRaster;
  readonly mask?: NamedRaster;
  readonly patches?: NamedRaster[];
}

/** The images a patch folder may hold, as `pdcr explain --patches` reads them; others are skipped. */
const IMAGE_FILE = /\.(png|jpe?g|tiff?)$/i;
const MASK_NAME = /mask|label|segmentation|_gt\b/i;

/** The rule the page states under its drop zone, so that where a file goes can be predicted. */
export const DROP_RULE =
  'A .onnx file is the model; an image whose name holds mask, label, segmentation or _gt is ' +
  'the mask; one other image is the image; the images in a dropped folder are patches.';

/** Which input a file is, by the rule of DROP_RULE, or by the picker it came from. */
function roleOf({ file, inFolder }: ArrivedFile, picked?: Role): Role {
  if (picked) return picked;
  if (inFolder) return 'patch';
  if (/\.onnx$/i.test(file.name)) return 'model';
  return MASK_NAME.test(file.name) ? 'mask' : 'image';
}

/** Refuses a drop that would bring two of an input there is one of: it is not guessed which. */
function checkOnePerRole(arrived: readonly ArrivedFile[], roles: readonly Role[]): void {
  for (const role of ['model', 'image', 'mask'] as const) {
    const names = arrived.filter((_, i) => roles[i] === role).map(({ file }) => file.name);
    if (names.length > 1) {
      throw new RangeError(
        `${names.join(', ')}: ${names.length} files were dropped as the ${role}; drop one ` +
          `(${DROP_RULE}) Nothing was changed.`,
      );
    }
  }
}

/**
 * Reads and checks every file of one pick or drop; throws, naming the file, at the first that is
 * refused, before anything is applied. `picked`: the role of the picker the files came from.
 */
export async function readFiles(
  arrived: readonly ArrivedFile[],
  picked?: Role,
): Promise<TakenFiles> {
  const usable = arrived.filter(({ file, inFolder }) => !inFolder || IMAGE_FILE.test(file.name));
  if (arrived.length > 0 && usable.length === 0) {
    const folder = arrived[0]!.file.webkitRelativePath.split('/')[0] || 'the folder';
    throw new RangeError(
      `${folder}: holds no PNG, JPEG or TIFF images to use as patches; nothing was changed`,
    );
  }
  const roles = usable.map((file) => roleOf(file, picked));
  checkOnePerRole(usable, roles);

  let taken: TakenFiles = {};
  const patches: NamedRaster[] = [];
  for (const [i, { file }] of usable.entries()) {
    const bytes = await fileBytes(file);
    const role = roles[i]!;
    if (role === 'model') taken = { ...taken, model: loadModel(file.name, bytes) };
    else if (role === 'patch') patches.push(loadImage(file.webkitRelativePath || file.name, bytes));
    else taken = { ...taken, [role]: loadImage(file.name, bytes) };
  }
  return patches.length > 0 ? { ...taken, patches } : taken;
}

/**
 * The inputs after `taken` is applied to `chosen`: a new image drops the old image's mask unless
 * the same drop brought one.
 */
export function applyFiles(chosen: Partial<Inputs>, taken: TakenFiles): Partial<Inputs> {
  const next: Partial<Inputs> = { ...chosen };
  if (taken.model) next.model = taken.model;
  if (taken.image) {
    next.image = taken.image;
    delete next.mask;
  }
  if (taken.mask) next.mask = taken.mask;
  if (taken.patches) next.patches = taken.patches;
  return next;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every file under a dropped folder, its subfolders included. */
async function filesUnder(folder: FileSystemDirectoryEntry): Promise<File[]> {
  const reader = folder.createReader();
  const files: File[] = [];
  // readEntries gives a folder's entries in chunks (100 in Chromium) until it gives none.
  for (let chunk = await readEntries(reader); chunk.length > 0; chunk = await readEntries(reader)) {
    for (const entry of chunk) {
      if (entry.isFile) files.push(await entryFile(entry as FileSystemFileEntry));
      else if (entry.isDirectory)
        files.push(...(await filesUnder(entry as FileSystemDirectoryEntry)));
    }
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The files of a drop, folders walked. The entries are taken while the drop event runs (the
 * browser empties its DataTransfer after), and read afterwards.
 */
export function droppedFiles(transfer: DataTransfer): Promise<ArrivedFile[]> {
  const items = Array.from(transfer.items).filter((item) => item.kind === 'file');
  const entries = items.map((item) => item.webkitGetAsEntry?.() ?? null);
  const loose = items.map((item) => item.getAsFile());
  return Promise.all(
    entries.map(async (entry, i): Promise<ArrivedFile[]> => {
      if (entry?.isDirectory) {
        const files = await filesUnder(entry as FileSystemDirectoryEntry);
        return files.map((file) => ({ file, inFolder: true }));
      }
      const file = loose[i];
      return file ? [{ file, inFolder: false }] : [];
    }),
  ).then((lists) => lists.flat());
}
