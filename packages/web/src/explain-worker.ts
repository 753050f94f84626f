// Runs explanations and component analyses off the page's thread: the model, the kernels and the
// estimator live here, and the page gets progress, the running map and finally the result and
// its files.
import {
  browserRuntimes,
  componentFiles,
  explanationFiles,
  Logger,
  PdcrError,
  runComponentAnalysis,
  runExplanation,
  type EstimationProgress,
  type ModelRunner,
} from '@pdcr/core';
import { KernelInputError } from '@pdcr/kernels';
// Chart.js's UMD build as text, inlined into the downloadable report (the package's exports do
// not name it, so it is imported by path).
import chartSource from '../node_modules/chart.js/dist/chart.umd.min.js?raw';
import ortMjs from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { ComponentsRequest, FromWorker, RunRequest, ToWorker } from './protocol.ts';

const runtimes = browserRuntimes({ wasm: ortWasm, mjs: ortMjs });
let running: AbortController | null = null;
/** The GPU device of the run in progress, on WebGPU; only the page's test hook reaches it. */
let runningDevice: GPUDevice | null = null;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  postMessage(message, { transfer });
}

/** The page shows one line: the input at fault and what to do, or what went wrong. */
function describe(error: unknown): string {
  if (error instanceof PdcrError || error instanceof KernelInputError) return error.message;
  return `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
}

/** What a run of either kind gets from the worker: the runtimes, a logger, progress, cancelling. */
interface RunHooks {
  readonly runtimes: typeof runtimes;
  readonly logger: Logger;
  readonly onModel: (model: ModelRunner) => void;
  readonly onProgress: (progress: EstimationProgress) => void;
  readonly signal: AbortSignal;
}

/**
 * Runs `work` as the one run in progress: it can be cancelled, and a lost GPU device stops it.
 * The loss is reported as soon as it happens rather than when `work` gives up, since a model run
 * on a lost device may never return; the page then ends this worker. `work` returns the message
 * that ends a run that succeeds.
 */
async function runOne(work: (hooks: RunHooks) => Promise<FromWorker>): Promise<void> {
  const controller = new AbortController();
  running = controller;
  let reported = false;
  const report = (message: FromWorker) => {
    if (!reported) post(message);
    reported = true;
  };
  const started = performance.now();
  const hooks: RunHooks = {
    runtimes,
    logger: new Logger('warn'),
    onModel: (model) => {
      post({ type: 'started', backend: model.backend, batchSize: model.maxBatchSize });
      void model.gpuDevice().then((device) => {
        if (!device) return;
        runningDevice = device;
        void device.lost.then((info) => {
          if (running !== controller) return;
          controller.abort();
          report({
            type: 'failed',
            message: `the GPU device was lost (${info.message || info.reason}); the run stopped`,
            deviceLost: true,
          });
        });
      });
    },
    onProgress: (progress) =>
      post({ type: 'progress', progress, seconds: (performance.now() - started) / 1000 }),
    signal: controller.signal,
  };
  try {
    report(await work(hooks));
  } catch (error) {
    report({ type: 'failed', message: describe(error), deviceLost: false });
  } finally {
    if (running === controller) {
      running = null;
      runningDevice = null;
    }
  }
}

function explainRun(request: RunRequest): Promise<void> {
  return runOne(async (hooks) => {
    const explanation = await runExplanation({
      ...request,
      ...hooks,
      onEffects: (effects) => post({ type: 'effects', effects }),
    });
    return {
      type: 'done',
      result: explanation.result,
      files: explanationFiles(explanation, chartSource),
    };
  });
}

function componentsRun(request: ComponentsRequest): Promise<void> {
  return runOne(async (hooks) => {
    const result = await runComponentAnalysis({ ...request, ...hooks });
    return { type: 'components-done', result, files: componentFiles(result, chartSource) };
  });
}

onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'cancel') running?.abort();
  else if (message.type === 'lose-device') runningDevice?.destroy();
  else if (message.type === 'components') void componentsRun(message.request);
  else void explainRun(message.request);
};
