import { expect } from 'vitest';
import type { CaseResult } from './kernel-cases.ts';

/** A case passes with no validation error, nothing left undestroyed and no element off. */
export function expectCaseToPass(result: CaseResult): void {
  expect(result.validationErrors, result.name).toEqual([]);
  expect(result.undestroyedBuffers, result.name).toEqual([]);
  expect(result.firstMismatch, result.name).toBeNull();
  expect(result.mismatches, result.name).toBe(0);
  expect(result.compared, result.name).toBeGreaterThan(0);
}
