// `pnpm bench:kernels`: each kernel at realistic sizes on the GPU adapter found and as its CPU
// reference; time per call and effective bandwidth (bytes that must move: each output element
// written once, each input element the kernel needs read once). Not a test: it prints a table.
import {
  BlockGrid,
  CpuIntervention,
  CpuOutcome,
  GpuIntervention,
  GpuOutcome,
  InterventionPlan,
  type InterventionSource,
  type OutcomeSpec,
  type Preprocessing,
} from '../src/index.ts';
import { dawnGpu, describeAdapter } from '../src/node/dawn.ts';

const WARMUP_CALLS = 3;
const GPU_CALLS = 20;
const CPU_CALLS = 3;

interface Row {
  kernel: string;
  shape: string;
  variant: string;
  bytes: number;
  gpuSeconds: number | null;
  cpuSeconds: number;
}

/** A deterministic stand-in for image data: the values do not change the work done. */
function filled(length: number, seed: number): Float32Array<ArrayBuffer> {
  const values = new Float32Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 32;
  }
  return values;
}

interface InterventionBench {
  batch: number;
  channels: number;
  size: number;
  block: number;
  preprocessing: Preprocessing;
  /** Blocks each sample replaces: 1 for an estimation batch, half the grid for a group test. */
  replaced: 'one' | 'half';
}

function interventionCase(bench: InterventionBench) {
  const { batch, channels, size, block, preprocessing } = bench;
  const grid = new BlockGrid(size, size, block, block);
  const patchCount = 1000;
  const source: InterventionSource = {
    image: { channels, height: size, width: size, data: filled(channels * size * size, 1) },
    patchBank: {
      count: patchCount,
      channels,
      height: block,
      width: block,
      data: filled(patchCount * channels * block * block, 2),
    },
    grid,
    preprocessing,
  };
  const plan = new InterventionPlan(batch, grid.blockCount);
  let replacedPixels = 0;
  for (let sample = 0; sample < batch; sample++) {
    const blocks = bench.replaced === 'one' ? [(sample * 37) % grid.blockCount] : [];
    if (bench.replaced === 'half') {
      for (let k = sample % 2; k < grid.blockCount; k += 2) blocks.push(k);
    }
    for (const k of blocks) plan.replace(sample, k, (sample * 131 + k) % patchCount);
    replacedPixels += blocks.length * block * block;
  }
  const imageBytes = channels * size * size * 4;
  const bytes =
    batch * imageBytes + // the batch, written once
    imageBytes + // the base image
    replacedPixels * channels * 4 + // the patch pixels used
    plan.patchOfBlock.byteLength;
  return { source, plan, bytes };
}

async function timeGpu(
  device: GPUDevice,
  encode: (encoder: GPUCommandEncoder, timestamps?: GPUComputePassTimestampWrites) => void,
): Promise<{ seconds: number; timestamps: boolean }> {
  const timestamps = device.features.has('timestamp-query');
  for (let i = 0; i < WARMUP_CALLS; i++) {
    const encoder = device.createCommandEncoder();
    encode(encoder);
    device.queue.submit([encoder.finish()]);
  }
  await device.queue.onSubmittedWorkDone();

  if (!timestamps) {
    const start = performance.now();
    for (let i = 0; i < GPU_CALLS; i++) {
      const encoder = device.createCommandEncoder();
      encode(encoder);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    }
    return { seconds: (performance.now() - start) / 1000 / GPU_CALLS, timestamps };
  }

  const querySet = device.createQuerySet({
    label: 'bench timestamps',
    type: 'timestamp',
    count: 2,
  });
  const resolved = device.createBuffer({
    label: 'bench timestamps resolved',
    size: 16,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const readback = device.createBuffer({
    label: 'bench timestamps readback',
    size: 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  let total = 0;
  for (let i = 0; i < GPU_CALLS; i++) {
    const encoder = device.createCommandEncoder();
    encode(encoder, { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(readback.getMappedRange());
    total += Number(end! - begin!) / 1e9;
    readback.unmap();
  }
  querySet.destroy();
  resolved.destroy();
  readback.destroy();
  return { seconds: total / GPU_CALLS, timestamps };
}

function timeCpu(call: () => void): number {
  call();
  const start = performance.now();
  for (let i = 0; i < CPU_CALLS; i++) call();
  return (performance.now() - start) / 1000 / CPU_CALLS;
}

async function benchIntervention(
  device: GPUDevice | null,
  bench: InterventionBench,
): Promise<Row & { timestamps: boolean }> {
  const { source, plan, bytes } = interventionCase(bench);
  const length = bench.batch * bench.channels * bench.size * bench.size;
  const cpuBatch = new Float32Array(length);
  const cpu = new CpuIntervention(source);
  const cpuSeconds = timeCpu(() => cpu.run(plan, cpuBatch));
  let gpuSeconds: number | null = null;
  let timestamps = false;
  if (device) {
    const gpu = new GpuIntervention(device, source, { maxBatchSize: bench.batch });
    const target = device.createBuffer({
      label: 'bench batch',
      size: length * 4,
      usage: GPUBufferUsage.STORAGE,
    });
    ({ seconds: gpuSeconds, timestamps } = await timeGpu(device, (encoder, writes) =>
      gpu.encode(encoder, plan, target, writes),
    ));
    target.destroy();
    gpu.destroy();
  }
  return {
    kernel: 'intervention',
    shape: `${bench.batch} x ${bench.channels} x ${bench.size} x ${bench.size}, block ${bench.block}`,
    variant: `${bench.preprocessing.kind}, ${bench.replaced === 'one' ? '1 block' : 'half the blocks'} per sample`,
    bytes,
    gpuSeconds,
    cpuSeconds,
    timestamps,
  };
}

async function benchOutcome(
  device: GPUDevice | null,
  batch: number,
  size: number,
  roiSize: number,
  blocks: number,
): Promise<Row & { timestamps: boolean }> {
  const roi = {
    top: size / 2 - roiSize / 2,
    left: size / 2 - roiSize / 2,
    height: roiSize,
    width: roiSize,
  };
  const spec: OutcomeSpec = {
    classes: 1,
    height: size,
    width: size,
    roi,
    classIndex: 0,
    activation: 'sigmoid',
    metric: 'hardDice',
    threshold: 0.5,
    reference: filled(roiSize * roiSize, 3).map((value) => (value > 0.5 ? 1 : 0)),
    accumulatorCount: blocks,
  };
  const output = filled(batch * size * size, 4).map((value) => value * 8 - 4);
  const targets = Uint32Array.from({ length: batch }, (_, sample) => (sample * 37) % blocks);
  const bytes = batch * roiSize * roiSize * 4 + roiSize * roiSize * 4 + batch * 8 + blocks * 12 * 2;
  const cpu = new CpuOutcome(spec);
  const cpuSeconds = timeCpu(() => cpu.run(output, batch, targets));
  let gpuSeconds: number | null = null;
  let timestamps = false;
  if (device) {
    const gpu = new GpuOutcome(device, spec, { maxBatchSize: batch });
    const outputBuffer = device.createBuffer({
      label: 'bench model output',
      size: output.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(outputBuffer, 0, output);
    ({ seconds: gpuSeconds, timestamps } = await timeGpu(device, (encoder, writes) =>
      gpu.encode(encoder, outputBuffer, batch, targets, writes),
    ));
    outputBuffer.destroy();
    gpu.destroy();
  }
  return {
    kernel: 'outcome',
    shape: `${batch} x 1 x ${size} x ${size}, RoI ${roiSize}x${roiSize}`,
    variant: `sigmoid, hard Dice, ${blocks} accumulators`,
    bytes,
    gpuSeconds,
    cpuSeconds,
    timestamps,
  };
}

function formatRate(bytes: number, seconds: number | null): string {
  return seconds === null ? 'n/a' : (bytes / seconds / 1e9).toFixed(2);
}

function formatMs(seconds: number | null): string {
  return seconds === null ? 'n/a' : (seconds * 1000).toFixed(3);
}

async function main(): Promise<void> {
  const adapter = await dawnGpu().requestAdapter();
  let device: GPUDevice | null = null;
  if (adapter) {
    device = await adapter.requestDevice({
      label: 'bench device',
      requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
  }
  const zscore: Preprocessing = { kind: 'zscore', epsilon: 1e-6 };
  const meanStd: Preprocessing = {
    kind: 'meanStd',
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  };
  const rows = [
    await benchIntervention(device, {
      batch: 64,
      channels: 3,
      size: 256,
      block: 8,
      preprocessing: meanStd,
      replaced: 'one',
    }),
    await benchIntervention(device, {
      batch: 64,
      channels: 3,
      size: 256,
      block: 8,
      preprocessing: zscore,
      replaced: 'one',
    }),
    await benchIntervention(device, {
      batch: 64,
      channels: 3,
      size: 256,
      block: 8,
      preprocessing: zscore,
      replaced: 'half',
    }),
    await benchIntervention(device, {
      batch: 8,
      channels: 1,
      size: 512,
      block: 8,
      preprocessing: zscore,
      replaced: 'one',
    }),
    await benchIntervention(device, {
      batch: 8,
      channels: 1,
      size: 512,
      block: 32,
      preprocessing: zscore,
      replaced: 'half',
    }),
    await benchOutcome(device, 64, 256, 32, 1024),
    await benchOutcome(device, 8, 512, 32, 4096),
  ];

  console.log(`adapter: ${adapter ? describeAdapter(adapter) : 'none (CPU reference only)'}`);
  console.log(
    `GPU timing: ${device?.features.has('timestamp-query') ? 'timestamp queries (pass begin to end)' : 'wall clock to onSubmittedWorkDone'}, mean of ${GPU_CALLS} calls after ${WARMUP_CALLS} warm-up; CPU reference: mean of ${CPU_CALLS} calls`,
  );
  console.log('');
  console.log(
    '| kernel | shape | variant | MB moved | GPU ms/call | GPU GB/s | CPU ms/call | CPU GB/s |',
  );
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(
      `| ${row.kernel} | ${row.shape} | ${row.variant} | ${(row.bytes / 1e6).toFixed(2)} | ` +
        `${formatMs(row.gpuSeconds)} | ${formatRate(row.bytes, row.gpuSeconds)} | ` +
        `${formatMs(row.cpuSeconds)} | ${formatRate(row.bytes, row.cpuSeconds)} |`,
    );
  }
  device?.destroy();
}

await main();
process.exit(0);
