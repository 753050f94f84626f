// The page: inputs and options on the left, the image with its RoI and the map (or the ranking of
// the network's components) on the right. The runs themselves go in a worker (explain-worker.ts).
import {
  cropImage,
  parseBlock,
  parseNormalize,
  parseRegion,
  parseSize,
  resizeBilinear,
  toPlanar,
  type Backend,
  type BackendChoice,
  type ExplanationResult,
  type Preset,
} from '@pdcr/core';
import type { Activation, PlanarImage } from '@pdcr/kernels';
import { ComponentTable, componentOptions, componentSummary } from './components-view.ts';
import { checkDevice, type DeviceReport } from './device-check.ts';
import { element, errorText, field, numberField, optional, parsed } from './fields.ts';
import {
  DEMO_SETTINGS,
  demoInputs,
  describeModel,
  fileBytes,
  loadImage,
  loadModel,
  roleOf,
  type Inputs,
} from './inputs.ts';
import { MapView } from './map-view.ts';
import type { FromWorker, RunRequest, SharedRequest, ToWorker } from './protocol.ts';

const message = element<HTMLParagraphElement>('message');
const runStatus = element<HTMLParagraphElement>('run-status');
const progressBar = element<HTMLProgressElement>('progress');
const runButton = element<HTMLButtonElement>('run');
const componentsButton = element<HTMLButtonElement>('run-components');
const cancelButton = element<HTMLButtonElement>('cancel');
const downloads = element<HTMLDivElement>('downloads');

let inputs: Inputs | null = null;
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

/** The image as the model will see it (crop, channels, size): what the RoI is drawn on. */
function modelView(current: Inputs): PlanarImage {
  const { model, image } = current;
  const cropText = optional('opt-crop');
  const crop = cropText ? parsed('crop', parseRegion, cropText) : undefined;
  const [, declaredChannels, declaredHeight, declaredWidth] = model.input.dims;
  const chosenChannels = optional('opt-channels');
  const channels =
    typeof declaredChannels === 'number' ? declaredChannels : Number(chosenChannels ?? 3);
  let planar = toPlanar(image.raster, channels);
  if (crop) {
    if (crop.top + crop.height > planar.height || crop.left + crop.width > planar.width) {
      throw new RangeError(
        `crop: ${cropText} does not fit the ${planar.height}x${planar.width} image ${image.name}`,
      );
    }
    planar = cropImage(planar, crop);
  }
  const sizeText = optional('opt-size');
  const size = sizeText ? parsed('size', parseSize, sizeText) : undefined;
  const target =
    size === 'image' || (size === undefined && typeof declaredHeight !== 'number')
      ? { height: planar.height, width: planar.width }
      : (size ?? { height: declaredHeight as number, width: declaredWidth as number });
  return resizeBilinear(planar, target.height, target.width);
}

function refreshView(): void {
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
  if (!inputs) return;
  const { model, image, mask, patches } = inputs;
  element('inputs-summary').textContent =
    `Model ${model.name}; image ${image.name} (${image.raster.height}x${image.raster.width})` +
    (mask ? `; mask ${mask.name}` : '; no mask: the model’s own prediction is the reference') +
    (patches ? `; ${patches.length} patch images` : '; patches cut from the image');
  element('model-info').textContent = describeModel(model);
  componentTable.clear();
  refreshView();
}

function applySettings(settings: Partial<Record<string, string>>): void {
  for (const [key, value] of Object.entries(settings)) field(`opt-${key}`).value = value ?? '';
}

async function useDemo(): Promise<void> {
  setState('loading');
  runStatus.textContent = 'Loading the demo (nuclei U-Net, DSB2018 image)…';
  try {
    inputs = await demoInputs();
    applySettings(DEMO_SETTINGS);
    clearError();
    showInputs();
    runStatus.textContent = 'Demo ready: press Explain, or Rank components.';
  } catch (error) {
    showError(`The demo could not be loaded: ${errorText(error)}`);
  }
  setState('ready');
}

/** Takes the files picked or dropped; a file that is refused leaves the other inputs as they were. */
async function takeFiles(files: readonly File[], forced?: 'model' | 'image' | 'mask' | 'patch') {
  clearError();
  const imageCount = files.filter((file) => !/\.onnx$/i.test(file.name)).length;
  const patches: Inputs['patches'] = [];
  try {
    for (const file of files) {
      const role = forced ?? roleOf(file, imageCount);
      const bytes = await fileBytes(file);
      if (role === 'model') {
        const model = loadModel(file.name, bytes);
        inputs = inputs ? { ...inputs, model } : null;
      } else if (role === 'patch') {
        patches.push(loadImage(file.name, bytes));
      } else if (role === 'mask') {
        const mask = loadImage(file.name, bytes);
        if (inputs) inputs = { ...inputs, mask };
      } else {
        const image = loadImage(file.name, bytes);
        if (inputs) {
          // A new image drops the mask of the old one.
          inputs = {
            model: inputs.model,
            image,
            ...(inputs.patches ? { patches: inputs.patches } : {}),
          };
          field('opt-crop').value = '';
        }
      }
    }
    if (patches.length > 0 && inputs) inputs = { ...inputs, patches };
  } catch (error) {
    showError(errorText(error));
  }
  view.clearMap();
  showInputs();
}

/** The inputs and the fields both kinds of run read: how the model sees the image, RoI, seed. */
function sharedRequest(current: Inputs): SharedRequest {
  const cropText = optional('opt-crop');
  const sizeText = optional('opt-size');
  const channels = optional('opt-channels');
  const classIndex = numberField('opt-class', 'class', true, 0);
  const batch = numberField('opt-batch', 'batch', true, 1);
  return {
    model: { name: current.model.name, bytes: current.model.bytes },
    image: current.image,
    ...(current.mask ? { mask: current.mask } : {}),
    ...(cropText ? { crop: parsed('crop', parseRegion, cropText) } : {}),
    roi: parsed('RoI', parseRegion, optional('opt-roi') ?? ''),
    seed: numberField('opt-seed', 'seed', true, 0) ?? 0,
    backend: field('opt-backend').value as BackendChoice,
    ...(channels ? { channels: Number(channels) } : {}),
    ...(sizeText ? { size: parsed('size', parseSize, sizeText) } : {}),
    normalize: parsed('normalise', parseNormalize, optional('opt-normalize') ?? 'none'),
    activation: field('opt-activation').value as Activation,
    ...(classIndex !== undefined ? { classIndex } : {}),
    binarize: numberField('opt-binarize', 'binarise', false, 0) ?? 0.5,
    ...(batch !== undefined ? { batch } : {}),
  };
}

function explainRequest(current: Inputs): RunRequest {
  const samples = numberField('opt-samples', 'samples', true, 1);
  const screen = numberField('opt-screen', 'screen', true, 1);
  const threshold = numberField('opt-threshold', 'threshold', false, 0);
  return {
    ...sharedRequest(current),
    block: parsed('block', parseBlock, optional('opt-block') ?? ''),
    ...(current.patches ? { patchImages: current.patches } : {}),
    patchCount: numberField('opt-patch-count', 'patches to cut', true, 1) ?? 1000,
    preset: field('opt-preset').value as Preset,
    ...(samples !== undefined ? { samples } : {}),
    ...(screen !== undefined ? { screen } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
    ...(element<HTMLInputElement>('opt-freeze').checked ? { freezeStats: true } : {}),
  };
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
    `${result.seconds.toFixed(1)} s (${rate.toFixed(1)} per second) on ${result.backend}; ` +
    `base Dice ${result.baseScore.toFixed(4)}; ${significant} of ${result.blocks.length} blocks ` +
    `significant${result.complete ? '' : ` (${result.blocks.length} blocks finished)`}.`;
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
      if (data.deviceLost) {
        worker?.terminate();
        worker = null;
      }
      setState('failed');
      break;
  }
}

function explainerWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./explain-worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = onWorkerMessage;
    worker.onerror = (event) => {
      showError(`The explainer stopped: ${event.message}`);
      worker?.terminate();
      worker = null;
      setState('failed');
    };
  }
  return worker;
}

/** Starts an explanation, or a component analysis; the page shows one result at a time. */
function run(kind: 'explain' | 'components'): void {
  if (!inputs) return;
  clearError();
  let message: ToWorker;
  try {
    message =
      kind === 'explain'
        ? { type: 'run', request: explainRequest(inputs) }
        : { type: 'components', request: { ...sharedRequest(inputs), ...componentOptions() } };
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
] as const;
for (const [id, role] of pickers) {
  const picker = element<HTMLInputElement>(id);
  picker.addEventListener('change', () => {
    void takeFiles(Array.from(picker.files ?? []), role).then(() => (picker.value = ''));
  });
}
const dropZone = element('drop-zone');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  void takeFiles(Array.from(event.dataTransfer?.files ?? []));
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
}

await Promise.all([describeDevice(), useDemo()]);
document.body.dataset['ready'] = 'true';
