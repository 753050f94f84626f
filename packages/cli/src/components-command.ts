import { Command, Option } from 'commander';
import {
  COMPONENT_DEFAULTS,
  COMPONENT_GRANULARITIES,
  COMPONENT_INTERVENTIONS,
  type Logger,
} from '@pdcr/core';
import { componentSummaryLines, runComponentsJob } from './components-job.ts';
import {
  parseActivation,
  parseNormalize,
  parseNonNegative,
  parseNumber,
  parseRoi,
  parseSize,
  parseWholeNumber,
} from './options.ts';

/** `pdcr components`: registered by main.ts, which owns the logger and the Ctrl-C handling. */
export function addComponentsCommand(
  program: Command,
  loggerFor: (options: { quiet?: boolean; verbose?: boolean }) => Logger,
  interruptSignal: () => AbortSignal,
): void {
  program
    .command('components')
    .description(
      "Rank the network's own components (layer outputs, or their channels) by the average treatment effect of replacing them on the RoI score.",
    )
    .requiredOption('--model <file>', 'ONNX segmentation model')
    .requiredOption('--image <file>', 'image to analyse (PNG, JPEG or TIFF, 8 or 16 bit)')
    .option('--mask <file>', "ground-truth mask (default: the model's own prediction)")
    .requiredOption(
      '--roi <top,left,height,width>',
      'region of interest, in the pixels the model sees',
      parseRoi,
    )
    .option(
      '--crop <top,left,height,width>',
      "analyse this crop of the image (and mask), in the image's own pixels",
      parseRoi,
    )
    .option(
      '--select <pattern>',
      'regular expression on tensor names and operators (e.g. Conv); list them with pdcr info MODEL --components (default: every tensor)',
    )
    .addOption(
      new Option('--granularity <kind>', 'a component is a whole tensor, or one channel of it')
        .choices([...COMPONENT_GRANULARITIES])
        .default('tensor'),
    )
    .addOption(
      new Option(
        '--intervention <kind>',
        'replace a component by its value on another natural image (resample), their mean, or zeros',
      )
        .choices([...COMPONENT_INTERVENTIONS])
        .default('resample'),
    )
    .option(
      '--natural-from <images...>',
      'images to take natural samples from, distinct crops of the analysed size (default: the image itself, away from --crop, which resample and mean then need)',
    )
    .option(
      '--natural-count <n>',
      'natural samples to take (resample: 2 at least); a component is given each once at most',
      parseWholeNumber(1),
      COMPONENT_DEFAULTS.naturalSamples,
    )
    .option(
      '--samples <n>',
      `most draws per component, whole rounds (resample; default ${COMPONENT_DEFAULTS.maxDraws} rounded down to whole rounds, at most --natural-count)`,
      parseWholeNumber(2),
    )
    .option(
      '--round <n>',
      `draws per component per round (default ${COMPONENT_DEFAULTS.round})`,
      parseWholeNumber(1),
    )
    .option(
      '--threshold <t>',
      `effects below this, in Dice points, count as zero (default ${COMPONENT_DEFAULTS.threshold})`,
      parseNonNegative,
    )
    .option('--seed <s>', 'seed of every random draw', parseWholeNumber(0), 0)
    .addOption(
      new Option('--backend <name>', 'where the model runs')
        .choices(['auto', 'webgpu', 'wasm', 'cpu'])
        .default('auto'),
    )
    .option('--out <dir>', 'folder for result.json, components.txt, report.html', 'pdcr-components')
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
    .option('--batch <n>', 'most images per model run', parseWholeNumber(1))
    .option('--quiet', 'no progress bar')
    .option('--verbose', 'log what is chosen and why')
    .action(async (options) => {
      const { result, files } = await runComponentsJob({
        ...options,
        classIndex: options.class,
        quiet: Boolean(options.quiet),
        logger: loggerFor(options),
        signal: interruptSignal(),
      });
      for (const line of componentSummaryLines(result)) console.log(line);
      console.log(`report at ${files.find((file) => file.endsWith('report.html'))}`);
      if (!result.complete) {
        console.error(
          `pdcr: interrupted; the ${result.components.length} components finished were written`,
        );
        process.exit(130);
      }
    });
}
