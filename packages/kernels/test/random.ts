/** A small seeded generator for test inputs (mulberry32): the same seed, the same cases. */
export class TestRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [min, max]. */
  integer(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.integer(0, items.length - 1)]!;
  }

  floats(length: number, min: number, max: number): Float32Array<ArrayBuffer> {
    return Float32Array.from({ length }, () => this.uniform(min, max));
  }
}

/** A fresh seed for each run unless `PDCR_TEST_SEED` fixes one; tests print it on failure. */
export function testSeed(): number {
  const fixed = typeof process !== 'undefined' ? process.env['PDCR_TEST_SEED'] : undefined;
  return fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}
