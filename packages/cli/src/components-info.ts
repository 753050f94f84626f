import { ComponentNetwork, ModelRunner, type Logger } from '@pdcr/core';
import { nodeRuntimes } from '@pdcr/core/node';

/** Probe sizes for listing components: small first, for fully convolutional models. */
const PROBE_SIDE = 64;

/**
 * `pdcr info MODEL --components`: the tensors `pdcr components` can intervene on, in graph
 * order, with their operator and one sample's shape. Shapes come from one run on a batch of two
 * blank images, as `pdcr components` probes, so that a tensor whose first axis does not follow
 * the batch is left out here too; at 64x64 where the model runs at any size, else at its
 * declared size.
 */
export async function componentLines(
  bytes: Uint8Array,
  file: string,
  logger: Logger,
): Promise<string[]> {
  const load = (size?: 'image') =>
    ModelRunner.load({
      bytes,
      name: file,
      runtimes: nodeRuntimes(),
      backend: 'cpu',
      imageSize: { height: PROBE_SIDE, width: PROBE_SIDE },
      ...(size ? { size } : {}),
      // Two, as `pdcr components` probes: a batch of one cannot tell the batch axis apart.
      maxBatchSize: 2,
      logger,
    });
  let runner: ModelRunner;
  try {
    runner = await load('image');
  } catch {
    runner = await load();
  }
  try {
    const network = await ComponentNetwork.open(
      runner,
      bytes,
      nodeRuntimes(),
      new Float32Array(runner.inputSize),
    );
    const { height, width } = runner.input;
    const operatorWidth = Math.max(...network.tensors.map((tensor) => tensor.operator.length));
    return [
      `components: ${network.tensors.length} tensors (one sample's shape at a ${height}x${width} input; ` +
        '--granularity channel makes each channel one)',
      ...network.tensors.map(
        (tensor) =>
          `  ${tensor.operator.padEnd(operatorWidth)}  ${tensor.name}  ${tensor.shape.join('x')}`,
      ),
    ];
  } finally {
    await runner.release();
  }
}
