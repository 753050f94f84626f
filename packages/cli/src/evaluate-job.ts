import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  checkEvaluationRoi,
  cropImage,
  cutPatchBank,
  evaluateImage,
  faithfulnessReportHtml,
  faithfulnessResult,
  formatArea,
  ImageError,
  ModelRunner,
  needsPatchBank,
  PatchBankError,
  patchBankFromImages,
  PdcrError,
  preprocessingForChannels,
  resizeBilinear,
  resizeNearest,
  SeededRandom,
  toBinaryMask,
  toPlanar,
  type AreaSummary,
  type BackendChoice,
  type CurveKind,
  type FaithfulnessMethod,
  type FaithfulnessResult,
  type ImageEvaluation,
  type Logger,
  type RasterImage,
  type Removal,
} from '@pdcr/core';
import { nodeRuntimes, readImageFile, readPatchFolder } from '@pdcr/core/node';
import type { Activation, PatchBank, PlanarImage, Preprocessing, Region } from '@pdcr/kernels';
import { chartLibrary, readModel } from './explain-job.ts';
import { writeOutputs } from './output-files.ts';
import { PassProgress } from './progress.ts';

/** Everything `pdcr evaluate` needs, parsed. */
export interface EvaluateJob {
  readonly model: string;
  /** One image, its mask and RoI... */
  readonly image?: string;
  readonly mask?: string;
  readonly roi?: Region;
  /** A crop of every image (and mask), in its own pixels, to evaluate on instead of the whole. */
  readonly crop?: Region;
  /** ...or a list in the paper's format, `<image-stem> <top> <left>` per line. */
  readonly rois?: string;
  /** Folder of the list's images, `<stem>.png|jpg|jpeg|tif|tiff`. */
  readonly images?: string;
  /** Folder of the list's masks, `<stem>_segmentation.<ext>` or `<stem>.<ext>`. */
  readonly masks?: string;
  /** Height and width of the list's RoIs. */
  readonly roiSize: number;
  readonly block: { height: number; width: number };
  readonly patches?: string;
  readonly patchCount: number;
  readonly methods: FaithfulnessMethod[];
  readonly curves: CurveKind[];
  readonly removal: Removal;
  readonly draws: number;
  readonly riseMasks?: number;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly out: string;
  readonly channels?: number;
  readonly size?: { height: number; width: number } | 'image';
  readonly normalize: Preprocessing;
  readonly activation: Activation;
  readonly classIndex?: number;
  readonly binarize: number;
  readonly batch?: number;
  /** False: run whole images rather than the RoI's window. */
  readonly window?: boolean;
  readonly quiet: boolean;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/** One image and RoI to evaluate, its files found and checked. */
interface EvaluationCase {
  readonly image: string;
  readonly mask?: string;
  readonly roi: Region;
  /** Where the RoI was given, for errors: `roi`, or `<list>:<line>`. */
  readonly where: string;
}

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'tif', 'tiff'];

/** The file of `folder` named `<stem><suffix>.<ext>`, trying the suffixes in order. */
function findFile(names: readonly string[], stem: string, suffixes: string[]): string | undefined {
  for (const suffix of suffixes) {
    const found = names.find((name) =>
      IMAGE_EXTENSIONS.some(
        (ext) => name.toLowerCase() === `${stem}${suffix}.${ext}`.toLowerCase(),
      ),
    );
    if (found) return found;
  }
  return undefined;
}

async function listFolder(folder: string, flag: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    throw new PdcrError(
      flag,
      `${folder} cannot be read as a folder (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
}

/** The cases of a list in the paper's format, every file found before anything runs. */
async function casesFromList(job: EvaluateJob): Promise<EvaluationCase[]> {
  const listFile = job.rois!;
  if (!job.images) {
    throw new PdcrError(
      'images',
      `--rois ${listFile} needs --images DIR, the folder of its images`,
    );
  }
  let text: string;
  try {
    text = await readFile(listFile, 'utf8');
  } catch (error) {
    throw new PdcrError(
      listFile,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`,
    );
  }
  const imageNames = await listFolder(job.images, 'images');
  const maskNames = job.masks ? await listFolder(job.masks, 'masks') : undefined;
  const cases: EvaluationCase[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const where = `${listFile}:${index + 1}`;
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    const [stem, top, left] = fields;
    if (fields.length !== 3 || !/^\d+$/.test(top!) || !/^\d+$/.test(left!)) {
      throw new PdcrError(where, `"${line.trim()}" is not "<image-stem> <top> <left>"`);
    }
    const image = findFile(imageNames, stem!, ['']);
    if (!image) {
      throw new ImageError(where, `no image ${stem}.png/.jpg/.tif in ${job.images}`);
    }
    const mask = maskNames ? findFile(maskNames, stem!, ['_segmentation', '_mask', '']) : undefined;
    if (maskNames && !mask) {
      throw new ImageError(
        where,
        `no mask ${stem}_segmentation.png (or ${stem}.png) in ${job.masks}`,
      );
    }
    cases.push({
      image: path.join(job.images!, image),
      ...(mask ? { mask: path.join(job.masks!, mask) } : {}),
      roi: { top: Number(top), left: Number(left), height: job.roiSize, width: job.roiSize },
      where,
    });
  });
  if (cases.length === 0) throw new PdcrError(listFile, 'lists no image; nothing to evaluate');
  return cases;
}

function casesOf(job: EvaluateJob): Promise<EvaluationCase[]> | EvaluationCase[] {
  if (job.rois) {
    if (job.image)
      throw new PdcrError('rois', 'give either --image with --roi, or --rois, not both');
    return casesFromList(job);
  }
  if (!job.image || !job.roi) {
    throw new PdcrError('image', 'give --image with --roi, or --rois LIST with --images DIR');
  }
  return [
    { image: job.image, ...(job.mask ? { mask: job.mask } : {}), roi: job.roi, where: 'roi' },
  ];
}

/** The image and its mask read, the mask checked against the image, and both cropped. */
async function readCase(
  job: EvaluateJob,
  entry: EvaluationCase,
): Promise<{ raster: RasterImage; maskRaster?: RasterImage }> {
  const raster = await readImageFile(entry.image);
  const maskRaster = entry.mask ? await readImageFile(entry.mask) : undefined;
  if (maskRaster && (maskRaster.width !== raster.width || maskRaster.height !== raster.height)) {
    throw new ImageError(
      entry.mask!,
      `is ${maskRaster.height}x${maskRaster.width} but the image is ${raster.height}x${raster.width}; give the mask of this image`,
    );
  }
  const { crop } = job;
  if (crop && (crop.top + crop.height > raster.height || crop.left + crop.width > raster.width)) {
    throw new ImageError(
      entry.image,
      `is ${raster.height}x${raster.width}, too small for the crop ${crop.top},${crop.left},${crop.height},${crop.width}; give a crop inside it`,
    );
  }
  return { raster, ...(maskRaster ? { maskRaster } : {}) };
}

/** `image` cut to the job's crop, if it has one (`readCase` checked that it fits). */
function cropped(job: EvaluateJob, image: PlanarImage): PlanarImage {
  return job.crop ? cropImage(image, job.crop) : image;
}

/**
 * The model each case runs on, loaded once per size (a model of dynamic size runs at each
 * image's own), each case's RoI checked against the image as that model sees it, and the patch
 * bank it needs cut (then dropped; it is cut again, the same, when the case runs): every bad
 * input is found before the first image is evaluated.
 */
async function modelsForCases(
  job: EvaluateJob,
  cases: readonly EvaluationCase[],
  bytes: Uint8Array,
  models: Map<string, ModelRunner>,
  bankFromFolder: BankFolder | undefined,
): Promise<ModelRunner[]> {
  const caseModels: ModelRunner[] = [];
  for (const entry of cases) {
    const { raster } = await readCase(job, entry);
    const imageSize = job.crop ?? { height: raster.height, width: raster.width };
    const key = `${imageSize.height}x${imageSize.width}`;
    let model = models.get(key);
    if (!model) {
      model = await ModelRunner.load({
        bytes,
        name: job.model,
        runtimes: nodeRuntimes(),
        backend: job.backend,
        imageSize: { height: imageSize.height, width: imageSize.width },
        ...(job.size ? { size: job.size } : {}),
        ...(job.channels ? { channels: job.channels } : {}),
        ...(job.batch ? { maxBatchSize: job.batch } : {}),
        logger: job.logger,
      });
      models.set(key, model);
    }
    checkEvaluationRoi(model.input, entry.roi, job.block, entry.where);
    if (needsPatchBank(job.methods, job.removal)) {
      patchBankFor(job, entry, adaptCase(job, model, raster, undefined).image, bankFromFolder);
    }
    caseModels.push(model);
  }
  return caseModels;
}

/** The image (and mask) as `model` sees them: its channels, the job's crop, its size. */
function adaptCase(
  job: EvaluateJob,
  model: ModelRunner,
  raster: RasterImage,
  maskRaster: RasterImage | undefined,
): { image: PlanarImage; mask?: PlanarImage } {
  const { channels, height, width } = model.input;
  const image = resizeBilinear(cropped(job, toPlanar(raster, channels)), height, width);
  const mask = maskRaster
    ? resizeNearest(cropped(job, toBinaryMask(maskRaster)), height, width)
    : undefined;
  return { image, ...(mask ? { mask } : {}) };
}

/**
 * Evaluates every method on every image and writes `result.json` and `report.html`, all or
 * nothing. Interrupted, it writes the methods finished (marked incomplete), or nothing when
 * none was.
 */
export async function runEvaluateJob(
  job: EvaluateJob,
): Promise<{ result: FaithfulnessResult | null; files: string[] }> {
  const cases = await casesOf(job);
  const bytes = await readModel(job.model);
  const bankNeeded = needsPatchBank(job.methods, job.removal);
  if (job.patches && !bankNeeded) {
    job.logger.info(
      () =>
        `--patches ${job.patches} is not read: removal ${job.removal} and methods ${job.methods.join(',')} take no natural patches`,
    );
  }
  const bankFromFolder = job.patches && bankNeeded ? await readPatchFolder(job.patches) : undefined;
  const models = new Map<string, ModelRunner>();
  const progress = new PassProgress(job.quiet);
  const images: ImageEvaluation[] = [];
  let first: ModelRunner | undefined;
  const started = performance.now();
  try {
    const caseModels = await modelsForCases(job, cases, bytes, models, bankFromFolder);
    for (const [index, entry] of cases.entries()) {
      const { raster, maskRaster } = await readCase(job, entry);
      const model = caseModels[index]!;
      first ??= model;
      const { channels } = model.input;
      const { image, mask } = adaptCase(job, model, raster, maskRaster);
      const patchBank = bankNeeded ? patchBankFor(job, entry, image, bankFromFolder) : undefined;
      const label = cases.length > 1 ? `${index + 1}/${cases.length} ` : '';
      const evaluation = await evaluateImage({
        model,
        image,
        ...(mask ? { mask } : {}),
        roi: entry.roi,
        roiInput: entry.where,
        block: job.block,
        ...(patchBank ? { patchBank } : {}),
        preprocessing: preprocessingForChannels(job.normalize, channels),
        outcome: {
          activation: job.activation,
          classIndex: job.classIndex ?? (job.activation === 'softmax' ? 1 : 0),
          binarize: job.binarize,
          metric: 'hardDice',
        },
        methods: job.methods,
        curves: job.curves,
        removal: job.removal,
        draws: job.draws,
        ...(job.riseMasks !== undefined ? { riseMasks: job.riseMasks } : {}),
        seed: job.seed,
        ...(job.window === false ? { window: false } : {}),
        onProgress: (update) =>
          progress.update(
            { ...update, phase: `${label}${update.phase}` },
            (performance.now() - started) / 1000,
          ),
        ...(job.signal ? { signal: job.signal } : {}),
        logger: job.logger,
      });
      if (evaluation.methods.length > 0) {
        images.push({ ...evaluation, image: { ...evaluation.image, path: entry.image } });
      }
      if (!evaluation.complete) break;
    }
  } finally {
    progress.stop();
    for (const model of models.values()) await model.release();
  }

  if (images.length === 0 || !first) return { result: null, files: [] };
  const result = faithfulnessResult({
    model: first,
    modelPath: job.model,
    backend: first.backend,
    block: job.block,
    removal: job.removal,
    draws: job.draws,
    curves: job.curves,
    methods: job.methods,
    seed: job.seed,
    outcome: {
      activation: job.activation,
      classIndex: job.classIndex ?? (job.activation === 'softmax' ? 1 : 0),
      binarize: job.binarize,
      metric: 'hardDice',
    },
    reference: cases.every((entry) => entry.mask) ? 'mask' : 'prediction',
    preprocessing: preprocessingName(job.normalize),
    images,
    seconds: (performance.now() - started) / 1000,
    complete: images.length === cases.length && images.every((image) => image.complete),
  });
  const files = await writeOutputs(job.out, {
    'result.json': `${JSON.stringify(result, null, 2)}\n`,
    'report.html': faithfulnessReportHtml(result, await chartLibrary()),
  });
  return { result, files };
}

/** The patch images of `--patches`, as read. */
type BankFolder = Parameters<typeof patchBankFromImages>[0];

/**
 * The bank of a case: the `--patches` folder, or without one `--patch-count` patches cut from
 * the image itself (as the model sees it, after any crop), away from the RoI. `evaluateImage`
 * splits the bank: half for the maps, half for the curves. Only called where the methods or the
 * removal take natural patches (`needsPatchBank`).
 */
function patchBankFor(
  job: EvaluateJob,
  entry: EvaluationCase,
  image: PlanarImage,
  bankFromFolder: BankFolder | undefined,
): PatchBank {
  const { height, width } = job.block;
  if (bankFromFolder) return patchBankFromImages(bankFromFolder, image.channels, height, width);
  const random = new SeededRandom(job.seed).fork('patch bank');
  try {
    return cutPatchBank([image], job.patchCount, height, width, random, entry.roi);
  } catch (error) {
    if (!(error instanceof PatchBankError)) throw error;
    const { roi } = entry;
    const roiText = `${roi.top},${roi.left},${roi.height},${roi.width}`;
    throw new PatchBankError(
      'patch-count',
      `${job.patchCount} patches of ${height}x${width} cannot be cut from ${entry.image} ` +
        `(${image.height}x${image.width} as the model sees it) away from the RoI ${roiText}` +
        `${entry.where === 'roi' ? '' : ` of ${entry.where}`}: too little of the image lies ` +
        'outside it. Give --patches DIR, a ' +
        'smaller --patch-count, --block or RoI, or, where no natural patches are wanted, ' +
        '--removal zero|mean|blur with methods other than pdcr and paper',
      { cause: error },
    );
  }
}

function preprocessingName(preprocessing: Preprocessing): string {
  return preprocessing.kind === 'meanStd'
    ? `${preprocessing.mean.join(',')}/${preprocessing.std.join(',')}`
    : preprocessing.kind;
}

/** What `pdcr evaluate` prints: one line per method, then where the report is. */
export function evaluationLines(result: FaithfulnessResult): string[] {
  const area = (summary: AreaSummary | undefined) => formatArea(summary, result);
  const interval = {
    images: '95% CI over the images',
    draws: `95% CI over the ${result.draws} draws`,
    none:
      result.removal === 'patch'
        ? 'no interval (one draw)'
        : 'no interval (one deterministic draw)',
  }[result.intervalOver];
  return [
    `${result.images.length} image(s), removal ${result.removal}; areas in Dice points, ${interval}`,
    ...result.summary.map(
      (entry) =>
        `${entry.method.padEnd(7)} deletion ${area(entry.deletion)}  ` +
        `insertion ${area(entry.insertion)}  map ${entry.forwardPasses.toFixed(0)} passes`,
    ),
    `${result.forwardPasses} forward passes in ${result.seconds.toFixed(1)} s on ${result.backend}`,
  ];
}
