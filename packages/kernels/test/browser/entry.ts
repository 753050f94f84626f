// The browser tier's page script: the same kernel cases as the Node tier, on navigator.gpu.
import { checkInterventionCase, checkOutcomeCase, type CaseResult } from '../kernel-cases.ts';

declare global {
  interface Window {
    runKernelCases(seeds: number[]): Promise<CaseResult[]>;
    adapterAvailable(): Promise<boolean>;
  }
}

window.adapterAvailable = async () => (await navigator.gpu?.requestAdapter()) != null;

window.runKernelCases = async (seeds) => {
  const results: CaseResult[] = [];
  for (const seed of seeds) {
    results.push(await checkInterventionCase(navigator.gpu, seed));
    results.push(...(await checkOutcomeCase(navigator.gpu, seed)));
  }
  return results;
};
