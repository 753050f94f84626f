import { Command, CommanderError, Option } from 'commander';
import { FAST_DEFAULTS, Logger, PAPER_DEFAULTS, PdcrError } from '@pdcr/core';
import { KernelInputError } from '@pdcr/kernels';
import { runDemo } from './demo.ts';
import { addEvaluateCommand } from './evaluate-command.ts';
import { addComponentsCommand } from './components-command.ts';
import { runExplainJob } from './explain-job.ts';
import { runInfo } from './info.ts';
import { finishRun } from './summary.ts';
import {
  parseActivation,
  parseBlock,
  parseNormalize,
  parseNonNegative,
  parseNumber,
  parseRoi,
  parseSize,
  parseWholeNumber,
} from './options.ts';

interface CommonOptions {
  quiet?: boolean;
  verbose?: boolean;
}

function loggerFor(options: CommonOptions): Logger {
  return new Logger(options.verbose ? 'debug' : options.quiet ? 'silent' : 'warn');
}

/**
 * Ctrl-C stops the run between batches; the blocks finished so far are written, marked
 * incomplete, and the command exits with 130.
 */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return controller.signal;
}

const program = new Command('pdcr')
  .description(
    'Explain a segmentation model by causal intervention: which blocks of the image made it segment the RoI as it did.',
  )
  // A flag commander rejects is bad input like any other: one `pdcr: ` line and exit 2, which
  // the catch below prints. Settings made here pass to every command added after.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

program
  .command('explain')
  .description('Map the average treatment effect of every block on the RoI score.')
  .requiredOption('--model <file>', 'ONNX segmentation model')
  .requiredOption('--image <file>', 'image to explain (PNG, JPEG or TIFF, 8 or 16 bit)')
  .option('--mask <file>', "ground-truth mask (default: the model's own prediction)")
  .option(
    '--crop <top,left,height,width>',
    "explain this crop of the image (and mask), in the image's own pixels",
    parseRoi,
  )
  .requiredOption(
    '--roi <top,left,height,width>',
    'region of interest, in the pixels the model sees',
    parseRoi,
  )
  .addOption(
    new Option('--block <n|h,w>', 'block size')
      .argParser(parseBlock)
      .default({ height: 8, width: 8 }, '8'),
  )
  .option('--patches <dir>', "folder of patch images of the block size (the paper's bank format)")
  .option(
    '--patches-from <images...>',
    'cut patches at random from these images (default: the image itself, away from the RoI)',
  )
  .option('--patch-count <n>', 'patches to cut with --patches-from', parseWholeNumber(1), 1000)
  .addOption(
    new Option(
      '--preset <name>',
      "estimation preset: the paper's algorithm, its zero-occlusion ablation, or fast " +
        '(exact-zero pruning, sequential sampling, calls at a 5% false discovery rate that pays for ' +
        'every look at the draws)',
    )
      .choices(['paper', 'zero', 'fast'])
      .default('fast'),
  )
  .option(
    '--samples <n>',
    `estimation draws per block (paper: ${PAPER_DEFAULTS.samples}; fast: ` +
      `${FAST_DEFAULTS.maxDraws}, a multiple of ${FAST_DEFAULTS.round}, or up to ` +
      `${FAST_DEFAULTS.extraDrawFactor + 1}x that for a block that more draws could bring to ` +
      'a call)',
    parseWholeNumber(1),
  )
  .option('--screen <n>', 'screening draws per block (paper: 3)', parseWholeNumber(1))
  .option(
    '--threshold <t>',
    'effects below this, in Dice points, count as zero (paper: 0.02)',
    parseNonNegative,
  )
  .option('--seed <s>', 'seed of every random draw', parseWholeNumber(0), 0)
  .addOption(
    new Option('--backend <name>', 'where the model runs')
      .choices(['auto', 'webgpu', 'wasm', 'cpu'])
      .default('auto'),
  )
  .option(
    '--out <dir>',
    'folder for result.json, ate.npy, heatmap.png, overlay.png, stats.txt, report.html',
    'pdcr-out',
  )
  .addOption(
    new Option('--channels <n>', 'input channels, where the model leaves them open')
      .choices(['1', '3'])
      .argParser(Number),
  )
  .option(
    '--size <HxW|image>',
    "run at this size (image: the image's own, for fully convolutional models)",
    parseSize,
  )
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
  .option(
    '--freeze-stats',
    "with --normalize zscore, normalise intervened images by the untouched image's statistics (lets fast prune blocks out of reach)",
  )
  .option('--batch <n>', 'most images per model run', parseWholeNumber(1))
  .option(
    '--no-window',
    "run whole images, not the window that holds the RoI's receptive field (same map, slower)",
  )
  .option('--quiet', 'no progress bar')
  .option('--verbose', 'log what is chosen and why')
  .action(async (options) => {
    const logger = loggerFor(options);
    const { result, files } = await runExplainJob({
      ...options,
      classIndex: options.class,
      patchesFrom: options.patchesFrom,
      quiet: Boolean(options.quiet),
      logger,
      signal: interruptSignal(),
    });
    finishRun(result, files);
  });

program
  .command('info')
  .description(
    "Show a model's inputs and outputs, whether its batch can be relaxed, and the flags it probably needs.",
  )
  .argument('<model>', 'ONNX model')
  .option('--components', 'also list the components pdcr components can intervene on')
  .option('--verbose', 'log what is checked')
  .action(async (model: string, options: CommonOptions & { components?: boolean }) => {
    const logger = loggerFor({ ...options, quiet: !options.verbose });
    console.log(await runInfo(model, logger, { components: Boolean(options.components) }));
  });

program
  .command('demo')
  .description('Explain the bundled nuclei U-Net on a crop of the bundled DSB2018 image.')
  .option('--out <dir>', 'output folder', 'pdcr-demo')
  .addOption(
    new Option('--preset <name>', 'estimation preset')
      .choices(['paper', 'zero', 'fast'])
      .default('fast'),
  )
  .addOption(
    new Option('--backend <name>', 'where the model runs')
      .choices(['auto', 'webgpu', 'wasm', 'cpu'])
      .default('auto'),
  )
  .option('--quiet', 'no progress bar')
  .option('--verbose', 'log what is chosen and why')
  .action(async (options) => {
    await runDemo({
      out: options.out,
      preset: options.preset,
      backend: options.backend,
      quiet: Boolean(options.quiet),
      logger: loggerFor(options),
      signal: interruptSignal(),
    });
  });

addEvaluateCommand(program, loggerFor, interruptSignal);
addComponentsCommand(program, loggerFor, interruptSignal);

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help (asked for, or shown for a missing command) and the version end here too.
    if (error.code.startsWith('commander.help') || error.code === 'commander.version') {
      process.exit(error.exitCode);
    }
    console.error(
      `pdcr: ${error.message.replace(/^error: /, '')} (run pdcr <command> --help for the flags)`,
    );
    process.exit(2);
  }
  // Both name the input they reject; neither is an internal error.
  if (error instanceof PdcrError || error instanceof KernelInputError) {
    console.error(`pdcr: ${error.message}`);
    process.exit(2);
  }
  console.error(`pdcr: internal error: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
}
