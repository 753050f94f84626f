import { describe, expect, it } from 'vitest';
import { checkInterventionCase, checkOutcomeCase, type CaseResult } from './kernel-cases.ts';
import { requireAdapter } from './node-gpu.ts';
import { testSeed } from './random.ts';

const CASES_PER_KERNEL = 24;
const firstSeed = testSeed();

export function expectCaseToPass(result: CaseResult): void {
  expect(result.validationErrors, result.name).toEqual([]);
  expect(result.undestroyedBuffers, result.name).toEqual([]);
  expect(result.firstMismatch, result.name).toBeNull();
  expect(result.mismatches, result.name).toBe(0);
  expect(result.compared, result.name).toBeGreaterThan(0);
}

describe(`kernels on Dawn against their CPU references (seeds from ${firstSeed})`, () => {
  const seeds = Array.from({ length: CASES_PER_KERNEL }, (_, i) => firstSeed + i);

  it.each(seeds)('intervention, seed %i', async (seed, context) => {
    const gpu = await requireAdapter(context);
    expectCaseToPass(await checkInterventionCase(gpu, seed));
  });

  it.each(seeds)('outcome, seed %i', async (seed, context) => {
    const gpu = await requireAdapter(context);
    for (const result of await checkOutcomeCase(gpu, seed)) expectCaseToPass(result);
  });
});
