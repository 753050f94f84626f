// Runs explanations off the page's thread: the model, the kernels and the estimator live here,
// and the page gets progress, the running map and finally the result and its files.
import {
  browserRuntimes,
  explanationFiles,
  Logger,
  PdcrError,
  runExplanation,
  type ExplanationJob,
} from '@pdcr/core';
import { KernelInputError } from '@pdcr/kernels';
// Chart.js's UMD build as text, inlined into the downloadable report (the package's exports do
// not name it, so it is imported by path).
import chartSource from '../node_modules/chart.js/dist/chart.umd.min.js?raw';
import ortMjs from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { FromWorker, RunRequest, ToWorker } from './protocol.ts';

const runtimes = browserRuntimes({ wasm: ortWasm, mjs: ortMjs });
let running: AbortController | null = null;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  postMessage(message, { transfer });
}

/** The page shows one line: the input at fault and what to do, or what went wrong. */
function describe(error: unknown): string {
  if (error instanceof PdcrError || error instanceof KernelInputError) return error.message;
  return `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
}

async function run(request: RunRequest): Promise<void> {
  const controller = new AbortController();
  running = controller;
  let deviceLost: string | null = null;
  const started = performance.now();
  const job: ExplanationJob = {
    ...request,
    runtimes,
    logger: new Logger('warn'),
    onModel: (model) => {
      post({ type: 'started', backend: model.backend, batchSize: model.maxBatchSize });
      void model.gpuDevice().then((device) =>
        device?.lost.then((info) => {
          if (running !== controller) return;
          deviceLost = info.message || info.reason;
          controller.abort();
        }),
      );
    },
    onProgress: (progress) =>
      post({ type: 'progress', progress, seconds: (performance.now() - started) / 1000 }),
    onEffects: (effects) => post({ type: 'effects', effects }),
    signal: controller.signal,
  };
  try {
    const explanation = await runExplanation(job);
    if (deviceLost !== null) throw new Error(deviceLost);
    post({
      type: 'done',
      result: explanation.result,
      files: explanationFiles(explanation, chartSource),
    });
  } catch (error) {
    post(
      deviceLost === null
        ? { type: 'failed', message: describe(error), deviceLost: false }
        : {
            type: 'failed',
            message: `the GPU device was lost (${deviceLost}); the run stopped`,
            deviceLost: true,
          },
    );
  } finally {
    if (running === controller) running = null;
  }
}

onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'cancel') running?.abort();
  else void run(message.request);
};
