// The page: inputs and options on the left, the image with its RoI and the map (or the ranking of
// the network's components) on the right. The runs themselves go in a worker (explain-worker.ts).
import { parseRegion, type Backend, type ExplanationResult } from '@pdcr/core';
import { ComponentTable, componentSummary, showComponentDefaults } from './components-view.ts';
import { checkDevice, type DeviceReport } from './device-check.ts';
import { element, errorText, field, optional } from './fields.ts';
import {
  applyFiles,
  droppedFiles,
  DROP_RULE,
  readFiles,
  type ArrivedFile,
  type Role,
} from './file-intake.ts';
import { DEMO_SETTINGS, demoInputs, describeModel, type Inputs } from './inputs.ts';
import { MapView } from './map-view.ts';
import { componentsRequest, explainRequest, modelView } from './requests.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const message = element<HTMLParagraphElement>('message');
const runStatus = element<HTMLParagraphElement>('run-status');
const progressBar = element<HTMLProgressElement>('progress');
const runButton = element<HTMLButtonElement>('run');
const componentsButton = element<HTMLButtonElement>('run-components');
const cancelButton = element<HTMLButtonElement>('cancel');
const downloads = element<HTMLDivElement>('downloads');

/** What the user (or the demo) gave so far; a run needs at least the model and the image. */
let chosen: Partial<Inputs> = {};
let device: DeviceReport | null = null;
let worker: Worker | null = null;
let backend: Backend | null = null;
let downloadUrls: string[] = [];

const view = new MapView(
  element('image-canvas'),
  element('map-canvas'),
  element('tooltip'),
  (roi) => (field('opt-roi').value = `${roi.top},${roi.left},${roi.height},${roi.width}`),
);
const componentTable = new ComponentTable(element('component-table'));

/** Sets the page's state for people (the status line) and for tests (`body[data-state]`). */
function setState(state: 'loading' | 'ready' | 'running' | 'done' | 'cancelled' | 'failed') {
  document.body.dataset['state'] = state;
  runButton.disabled = state === 'running' || state === 'loading';
  componentsButton.disabled = runButton.disabled;
  cancelButton.disabled = state !== 'running';
}

function showError(text: string): void {
  message.textContent = text;
  message.hidden = false;
}

function clearError(): void {
  message.hidden = true;
  message.textContent = '';
}

/** The inputs of a run, once both the model and the image are there. */
function runInputs(): Inputs | null {
  const { model, image } = chosen;
  return model && image ? { ...chosen, model, image } : null;
}

function refreshView(): void {
  const inputs = runInputs();
  if (!inputs) return;
  try {
    view.showImage(modelView(inputs));
    const roiText = optional('opt-roi');
    view.setRoi(roiText ? parseRegion(roiText) : null);
  } catch (error) {
    showError(errorText(error));
  }
}

function showInputs(): void {
  const { model, image, mask, patches } = chosen;
  element('inputs-summary').textContent = [
    model ? `Model ${model.name}` : 'No model yet: pick or drop an ONNX model',
    image
      ? `image ${image.name} (${image.raster.height}x${image.raster.width})`
      : 'no image yet: pick or drop one',
    mask ? `mask ${mask.name}` : 'no mask: the model’s own prediction is the reference',
    patches
      ? `${patches.length} patch images (Rank components takes its natural samples from them too)`
      : 'patches cut from the image',
  ].join('; ');
  element('model-info').textContent = model ? describeModel(model) : '';
  componentTable.clear();
  refreshView();
}

function applySettings(settings: Partial<Record<string, string>>): void {
  for (const [key, value] of Object.entries(settings)) field(`opt-${key}`).value = value ?? '';
}

/**
 * Puts every option back to the value the page opened with, the backend aside (it is the
 * machine's, not the inputs'): the demo then runs as documented whatever an earlier run set.
 */
function resetOptions(): void {
  const options = document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[id^="opt-"]');
  for (const option of Array.from(options)) {
    if (option.id === 'opt-backend') continue;
    if (option instanceof HTMLSelectElement) {
      const initial = Array.from(option.options).findIndex((choice) => choice.defaultSelected);
      option.selectedIndex = Math.max(initial, 0);
    } else if (option.type === 'checkbox') {
      option.checked = option.defaultChecked;
    } else {
      option.value = option.defaultValue;
    }
  }
}

/**
 * Loads the bundled demo. On opening (`onOpening`) it gives way to files the user picked while
 * it loaded; when it cannot be loaded, the files picked are kept and the page waits for the rest.
 */
async function useDemo(onOpening = false): Promise<void> {
  setState('loading');
  runStatus.textContent = 'Loading the demo (nuclei U-Net, DSB2018 image)…';
  try {
    const demo = await demoInputs();
    if (!onOpening || Object.keys(chosen).length === 0) {
      chosen = demo;
      resetOptions();
      applySettings(DEMO_SETTINGS);
      view.clearMap();
      clearError();
      showInputs();
    }
    runStatus.textContent = 'Demo ready: press Explain, or Rank components.';
  } catch (error) {
    showError(`The demo could not be loaded: ${errorText(error)}. Pick or drop your own files.`);
    runStatus.textContent = '';
  }
  setState('ready');
}

/**
 * Takes the files of one pick or drop: all are read and checked first, and then all are applied,
 * or, when one is refused, none (and the map of the last run stays).
 */
async function takeFiles(arrived: readonly ArrivedFile[], picked?: Role): Promise<void> {
  clearError();
  let taken;
  try {
    taken = await readFiles(arrived, picked);
  } catch (error) {
    showError(errorText(error));
    return;
  }
  if (Object.keys(taken).length === 0) return;
  chosen = applyFiles(chosen, taken);
  // The crop belongs to the image it was chosen on.
  if (taken.image) field('opt-crop').value = '';
  view.clearMap();
  showInputs();
}

function backendNote(chosen: Backend): string {
  if (chosen === 'webgpu')
    return 'on WebGPU (zero-copy: the kernels write and read the model’s own buffers)';
  if (!device?.adapter) return 'on wasm (the CPU): this browser offers no WebGPU adapter';
  if (field('opt-backend').value === 'auto' && device.software) {
    return `on wasm (the CPU): the WebGPU adapter here (${device.adapter}) is a software renderer, slower than wasm; choose WebGPU to use it anyway`;
  }
  return 'on wasm (the CPU)';
}

function showDownloads(files: Record<string, Uint8Array | string>): void {
  for (const url of downloadUrls) URL.revokeObjectURL(url);
  downloadUrls = [];
  downloads.replaceChildren();
  const types: Record<string, string> = {
    json: 'application/json',
    npy: 'application/octet-stream',
    png: 'image/png',
    txt: 'text/plain',
    html: 'text/html',
  };
  for (const [name, content] of Object.entries(files)) {
    const type = types[name.split('.').pop()!] ?? 'application/octet-stream';
    const url = URL.createObjectURL(new Blob([content as BlobPart], { type }));
    downloadUrls.push(url);
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.id = `download-${name.replace('.', '-')}`;
    link.textContent = name;
    downloads.append(link);
  }
}

function finish(result: ExplanationResult, files: Record<string, Uint8Array | string>): void {
  view.showResult(result.blocks);
  showDownloads(files);
  const rate = result.forwardPasses / result.seconds;
  document.body.dataset['passesPerSecond'] = rate.toFixed(2);
  const significant = result.blocks.filter((block) => block.significant).length;
  runStatus.textContent =
    `${result.complete ? 'Done' : 'Cancelled'}: ${result.forwardPasses} forward passes in ` +
    `${result.seconds.toFixed(1)} s (${rate.toFixed(1)} per second) on ${result.backend}` +
    (result.window
      ? `, on the ${result.window.height}x${result.window.width} window ` +
        "that holds the RoI's receptive field; "
      : '; ') +
    `base Dice ${result.baseScore.toFixed(2)} % (effects are in percentage points); ` +
    `${significant} of ${result.blocks.length} blocks significant${result.complete ? '' : ` (${result.blocks.length} blocks finished)`}.`;
  progressBar.value = result.complete ? 1 : progressBar.value;
  setState(result.complete ? 'done' : 'cancelled');
}

function onWorkerMessage(event: MessageEvent<FromWorker>): void {
  const data = event.data;
  switch (data.type) {
    case 'started':
      backend = data.backend;
      runStatus.textContent = `Running ${backendNote(data.backend)}, batches of ${data.batchSize}…`;
      break;
    case 'progress': {
      const { passesDone, passesPlanned, phase } = data.progress;
      progressBar.value = passesPlanned > 0 ? passesDone / passesPlanned : 0;
      const rate = data.seconds > 0 ? passesDone / data.seconds : 0;
      runStatus.textContent =
        `${phase}: ${passesDone} of ${passesPlanned} forward passes, ${rate.toFixed(1)} per ` +
        `second, ${backendNote(backend ?? 'wasm')}.`;
      break;
    }
    case 'effects':
      view.addRunning(data.effects);
      break;
    case 'done':
      finish(data.result, data.files);
      break;
    case 'components-done':
      componentTable.show(data.result);
      showDownloads(data.files);
      runStatus.textContent = componentSummary(data.result);
      progressBar.value = data.result.complete ? 1 : progressBar.value;
      setState(data.result.complete ? 'done' : 'cancelled');
      break;
    case 'failed':
      showError(data.message);
      runStatus.textContent = data.deviceLost
        ? 'The GPU device was lost. Run again: the next run starts afresh (choose wasm if it repeats).'
        : 'The run failed; the page is ready for another.';
      // The worker is not trusted after a failure: a WebGPU run may leave it holding a device
      // that is lost or in error, and one that is not flagged lost would fail every later run.
      // The next run starts a fresh worker, with a fresh device.
      stopWorker();
      setState('failed');
      break;
  }
}

function stopWorker(): void {
  worker?.terminate();
  worker = null;
}

function explainerWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./explain-worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = onWorkerMessage;
    worker.onerror = (event) => {
      showError(`The explainer stopped: ${event.message}. Run again: the next run starts afresh.`);
      stopWorker();
      setState('failed');
    };
  }
  return worker;
}

/** Starts an explanation, or a component analysis; the page shows one result at a time. */
function run(kind: 'explain' | 'components'): void {
  const inputs = runInputs();
  if (!inputs) {
    showError('A run needs a model and an image: pick or drop the one that is missing.');
    return;
  }
  clearError();
  let message: ToWorker;
  try {
    message =
      kind === 'explain'
        ? { type: 'run', request: explainRequest(inputs) }
        : { type: 'components', request: componentsRequest(inputs) };
  } catch (error) {
    showError(errorText(error));
    return;
  }
  view.clearMap();
  view.setRoi(message.request.roi);
  componentTable.clear();
  downloads.replaceChildren();
  progressBar.value = 0;
  backend = null;
  runStatus.textContent = 'Loading the model…';
  setState('running');
  explainerWorker().postMessage(message);
}

element('options').addEventListener('submit', (event) => {
  event.preventDefault();
  run('explain');
});
componentsButton.addEventListener('click', () => run('components'));
cancelButton.addEventListener('click', () => {
  worker?.postMessage({ type: 'cancel' });
  runStatus.textContent = 'Cancelling after the current batch…';
});
element('use-demo').addEventListener('click', () => void useDemo());
for (const id of ['opt-crop', 'opt-size', 'opt-channels', 'opt-roi']) {
  field(id).addEventListener('change', () => {
    clearError();
    refreshView();
  });
}
const pickers = [
  ['model-file', 'model'],
  ['image-file', 'image'],
  ['mask-file', 'mask'],
  ['patch-files', 'patch'],
  ['patch-folder', 'patch'],
] as const;
for (const [id, role] of pickers) {
  const picker = element<HTMLInputElement>(id);
  picker.addEventListener('change', () => {
    const inFolder = picker.webkitdirectory;
    const arrived = Array.from(picker.files ?? [], (file) => ({ file, inFolder }));
    void takeFiles(arrived, role).then(() => (picker.value = ''));
  });
}
element('drop-rule').textContent = DROP_RULE;
const dropZone = element('drop-zone');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  if (!event.dataTransfer) return;
  droppedFiles(event.dataTransfer).then(
    (arrived) => takeFiles(arrived),
    (error: unknown) => showError(`The dropped folder could not be read: ${errorText(error)}`),
  );
});

async function describeDevice(): Promise<void> {
  const status = element('device-status');
  try {
    device = await checkDevice(navigator.gpu);
    status.textContent = device.adapter
      ? `WebGPU adapter: ${device.adapter}${device.software ? ' (a software renderer)' : ''}; ` +
        `the intervention kernel matches its CPU reference to ${device.kernelError!.toExponential(1)}.`
      : 'No WebGPU adapter in this browser: explanations run on wasm (the CPU), more slowly.';
  } catch (error) {
    status.textContent = `The GPU check failed (${errorText(error)}): explanations run on wasm.`;
  }
  // A check that failed past the adapter (device or kernel) leaves WebGPU to the user's choice.
  if (device && !device.adapter) offerWebGpu(false);
}

/** With no adapter WebGPU cannot be chosen: a run would only fail on creating its session. */
function offerWebGpu(offered: boolean): void {
  const select = element<HTMLSelectElement>('opt-backend');
  const option = select.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
  option.disabled = !offered;
  option.textContent = offered ? 'WebGPU' : 'WebGPU (no adapter here)';
  if (!offered && select.value === 'webgpu') select.value = 'auto';
}

// For the browser tests only, with `?test-hooks` in the address: destroys the worker's GPU
// device mid-run, the one way a test can lose a device on purpose. Without the flag nothing
// posts the message, and the worker only acts on it while a WebGPU run holds a device.
if (new URLSearchParams(location.search).has('test-hooks')) {
  Object.assign(window, { pdcrLoseDevice: () => worker?.postMessage({ type: 'lose-device' }) });
}

showComponentDefaults();
await Promise.all([describeDevice(), useDemo(true)]);
document.body.dataset['ready'] = 'true';
