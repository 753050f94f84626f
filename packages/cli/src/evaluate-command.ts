import { Command, InvalidArgumentError, Option } from 'commander';
import {
  CURVE_KINDS,
  DEFAULT_REMOVAL_DRAWS,
  FAITHFULNESS_METHODS,
  REMOVALS,
  RISE_DEFAULTS,
  type Logger,
} from '@pdcr/core';
import { evaluationLines, runEvaluateJob } from './evaluate-job.ts';
import {
  parseActivation,
  parseBlock,
  parseNormalize,
  parseNumber,
  parseRoi,
  parseSize,
  parseWholeNumber,
} from './options.ts';

/** A comma-separated list of names, each one of `choices`. */
function parseList<T extends string>(choices: readonly T[]): (text: string) => T[] {
  return (text) => {
    const names = text.split(',').map((name) => name.trim());
    const unknown = names.filter((name) => !choices.includes(name as T));
    if (unknown.length > 0 || names.length === 0) {
      throw new InvalidArgumentError(
        `${unknown.join(',') || 'nothing'} is not among ${choices.join(', ')}; give a comma-separated list of them`,
      );
    }
    return names as T[];
  };
}

/** `pdcr evaluate`: registered by main.ts, which owns the logger and the Ctrl-C handling. */
export function addEvaluateCommand(
  program: Command,
  loggerFor: (options: { quiet?: boolean; verbose?: boolean }) => Logger,
  interruptSignal: () => AbortSignal,
): void {
  program
    .command('evaluate')
    .description(
      "Measure how faithfully each method's map ranks the blocks: deletion and insertion curves of the RoI score, against baselines.",
    )
    .requiredOption('--model <file>', 'ONNX segmentation model')
    .option('--image <file>', 'image to evaluate on (PNG, JPEG or TIFF)')
    .option('--mask <file>', "ground-truth mask (default: the model's own prediction)")
    .option(
      '--crop <top,left,height,width>',
      "evaluate on this crop of the image (and mask), in the image's own pixels; with --rois, of every listed image",
      parseRoi,
    )
    .option(
      '--roi <top,left,height,width>',
      'region of interest, in the pixels the model sees',
      parseRoi,
    )
    .option(
      '--rois <file>',
      "instead of --image: a list in the paper's format, <image-stem> <top> <left> per line",
    )
    .option('--images <dir>', 'folder of the listed images (<stem>.png, .jpg or .tif)')
    .option('--masks <dir>', 'folder of their masks (<stem>_segmentation.png or <stem>.png)')
    .option('--roi-size <n>', 'height and width of the listed RoIs', parseWholeNumber(1), 32)
    .addOption(
      new Option(
        '--methods <list>',
        `maps to evaluate: ${FAITHFULNESS_METHODS.join(', ')} (pdcr is the fast preset)`,
      )
        .argParser(parseList(FAITHFULNESS_METHODS))
        .default([...FAITHFULNESS_METHODS], FAITHFULNESS_METHODS.join(',')),
    )
    .addOption(
      new Option('--curve <list>', 'curves to measure: deletion, insertion')
        .argParser(parseList(CURVE_KINDS))
        .default([...CURVE_KINDS], CURVE_KINDS.join(',')),
    )
    .addOption(
      new Option('--removal <how>', 'how the curves remove a block (it changes the verdict)')
        .choices(REMOVALS)
        .default('patch'),
    )
    .option(
      '--draws <n>',
      'draws of natural patches each curve averages over',
      parseWholeNumber(1),
      DEFAULT_REMOVAL_DRAWS,
    )
    .option(
      '--rise-masks <n>',
      `random masks of the rise method (${RISE_DEFAULTS.masks})`,
      parseWholeNumber(1),
    )
    .addOption(
      new Option('--block <n|h,w>', 'block size')
        .argParser(parseBlock)
        .default({ height: 8, width: 8 }, '8'),
    )
    .option(
      '--patches <dir>',
      "folder of patch images of the block size (the paper's bank format); half estimate the maps, half remove blocks",
    )
    .option(
      '--patch-count <n>',
      'patches to cut from each image without --patches (half for the maps, half for the curves)',
      parseWholeNumber(1),
      1000,
    )
    .option('--seed <s>', 'seed of every random draw', parseWholeNumber(0), 0)
    .addOption(
      new Option('--backend <name>', 'where the model runs')
        .choices(['auto', 'webgpu', 'wasm', 'cpu'])
        .default('auto'),
    )
    .option('--out <dir>', 'folder for result.json and report.html', 'pdcr-evaluation')
    .addOption(
      new Option('--channels <n>', 'input channels, where the model leaves them open')
        .choices(['1', '3'])
        .argParser(Number),
    )
    .option('--size <HxW|image>', "run at this size (image: the image's own)", parseSize)
    .addOption(
      new Option(
        '--normalize <none|zscore|MEAN,STD>',
        'input normalisation after scaling pixels to [0, 1]',
      )
        .argParser(parseNormalize)
        .default({ kind: 'none' }, 'none'),
    )
    .option(
      '--activation <none|sigmoid|softmax>',
      'applied to the output before thresholding',
      parseActivation,
      'none',
    )
    .option(
      '--class <k>',
      'output channel scored (default 0, or 1 under softmax)',
      parseWholeNumber(0),
    )
    .option('--binarize <t>', 'threshold of the activated output', parseNumber, 0.5)
    .option('--batch <n>', 'most images per model run', parseWholeNumber(1))
    .option(
      '--no-window',
      "run whole images, not the window that holds the RoI's receptive field (same curves, slower)",
    )
    .option('--quiet', 'no progress bar')
    .option('--verbose', 'log what is chosen and why')
    .action(async (options) => {
      const { result, files } = await runEvaluateJob({
        ...options,
        curves: options.curve,
        classIndex: options.class,
        quiet: Boolean(options.quiet),
        logger: loggerFor(options),
        signal: interruptSignal(),
      });
      if (!result) {
        console.error('pdcr: interrupted before any method finished; nothing was written');
        process.exit(130);
      }
      for (const line of evaluationLines(result)) console.log(line);
      console.log(`report at ${files.find((file) => file.endsWith('report.html'))}`);
      if (!result.complete) {
        console.error('pdcr: interrupted; the methods finished were written');
        process.exit(130);
      }
    });
}
