import { checkDevice } from './device-check.ts';

const deviceStatus = document.querySelector<HTMLParagraphElement>('#device-status')!;
const kernelStatus = document.querySelector<HTMLParagraphElement>('#kernel-status')!;

try {
  const report = await checkDevice(navigator.gpu);
  if (!report.adapter) {
    deviceStatus.textContent =
      'No WebGPU adapter here: explanations would run on the CPU (wasm), much more slowly.';
  } else {
    deviceStatus.textContent = `WebGPU adapter: ${report.adapter}.`;
    kernelStatus.textContent = `Intervention kernel checked against its CPU reference: largest difference ${report.kernelError!.toExponential(1)}.`;
    document.body.dataset['kernelError'] = String(report.kernelError);
  }
} catch (error) {
  deviceStatus.textContent = `The GPU check failed: ${(error as Error).message}`;
  deviceStatus.classList.add('error');
}
document.body.dataset['ready'] = 'true';
