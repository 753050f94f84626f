import { describe, it } from 'vitest';
import { expectCaseToPass } from './expect-case.ts';
import { checkInterventionCase, checkOutcomeCase } from './kernel-cases.ts';
import { requireAdapter } from './node-gpu.ts';
import { testSeed } from './random.ts';

const CASES_PER_KERNEL = 24;
const firstSeed = testSeed();

describe(`kernels on Dawn against their CPU references (seeds from ${firstSeed})`, () => {
  const seeds = Array.from({ length: CASES_PER_KERNEL }, (_, i) => firstSeed + i);

  it.for(seeds)('intervention, seed %i', async (seed, context) => {
    const gpu = await requireAdapter(context);
    expectCaseToPass(await checkInterventionCase(gpu, seed));
  });

  it.for(seeds)('outcome, seed %i', async (seed, context) => {
    const gpu = await requireAdapter(context);
    for (const result of await checkOutcomeCase(gpu, seed)) expectCaseToPass(result);
  });
});
