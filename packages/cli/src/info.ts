import { readFile } from 'node:fs/promises';
import {
  imageSignature,
  inspectOnnxModel,
  Logger,
  ModelError,
  ModelRunner,
  type TensorDescription,
} from '@pdcr/core';
import { nodeRuntimes } from '@pdcr/core/node';
import onnxProto from 'onnx-proto';
import { componentLines } from './components-info.ts';

function shape(tensor: TensorDescription): string {
  return `${tensor.name}: ${tensor.elementType}[${tensor.dims.join(', ')}]`;
}

/** The operator that produces `output`, to tell whether the graph already ends in an activation. */
function producerOf(bytes: Uint8Array, output: string): string | null {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const node = (model.graph?.node ?? []).find((candidate) =>
    (candidate.output ?? []).includes(output),
  );
  return node?.opType ?? null;
}

/** `pdcr info MODEL`: what the model takes and gives, and the flags it probably needs. */
export async function runInfo(
  file: string,
  logger: Logger,
  options: { components?: boolean } = {},
): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ModelError(
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`,
    );
  }
  const info = inspectOnnxModel(bytes, file);
  const { input, output } = imageSignature(info, file);
  const [batch, channels, height, width] = input.dims;
  const fixedSize = typeof height === 'number' && typeof width === 'number';
  const probeSize = fixedSize ? { height, width } : { height: 64, width: 64 };
  const runner = await ModelRunner.load({
    bytes,
    name: file,
    runtimes: nodeRuntimes(),
    backend: 'cpu',
    imageSize: probeSize,
    maxBatchSize: 2,
    logger,
  });
  const batchable = runner.maxBatchSize > 1;
  const classes = runner.output.channels;
  const field = runner.receptiveField;
  await runner.release();

  const last = producerOf(bytes, output.name);
  const flags: string[] = [];
  if (last === 'Sigmoid' || last === 'Softmax') {
    flags.push(`--activation none (the graph ends in ${last})`);
  } else {
    flags.push(
      classes > 1
        ? '--activation softmax --class 1 (logits over classes)'
        : '--activation sigmoid (one channel of logits)',
    );
  }
  if (typeof channels !== 'number')
    flags.push('--channels 1|3 (the model leaves its channels open)');
  if (fixedSize)
    flags.push(
      `--size image to run this fully convolutional model at another size than ${height}x${width}`,
    );
  flags.push(
    '--normalize zscore or MEAN,STD if the model was trained on normalised images (see its model card)',
  );

  const operators = Object.entries(info.operatorCounts)
    .sort((a, b) => b[1] - a[1])
    .map(([op, count]) => `${op} ${count}`)
    .join(', ');
  return [
    `model: ${file}`,
    `producer: ${info.producer || 'unknown'}; opset ${info.opset}; ${info.nodeCount} nodes (${operators})`,
    `inputs:  ${info.inputs.map(shape).join('; ')}`,
    `outputs: ${info.outputs.map(shape).join('; ')}`,
    `image input: ${input.name}, ${channels} channel(s), ${fixedSize ? `fixed ${height}x${width}` : 'any size'}`,
    `explained output: ${output.name}, ${classes} channel(s)`,
    `batch: ${typeof batch === 'number' ? `declared ${batch}` : `dynamic (${batch})`}; ` +
      (batchable
        ? 'runs in batches (a batch of two equals two single runs)'
        : 'one image per run (batching changes its output)'),
    field.local
      ? `receptive field: ${field.reach.top} pixels up, ${field.reach.bottom} down, ` +
        `${field.reach.left} left, ${field.reach.right} right, on a grid of ${field.alignment}` +
        ' (the fast preset prunes the blocks beyond it with one joint test)'
      : `receptive field: not read off the graph (${field.reason}); pruning halves groups`,
    'flags it probably needs:',
    ...flags.map((flag) => `  ${flag}`),
    ...(options.components ? await componentLines(bytes, file, logger) : []),
  ].join('\n');
}
