/**
 * The product's one seeded generator: xoshiro128** seeded through splitmix32. The same seed
 * gives the same stream on every platform, which makes a run reproducible bit for bit.
 */
export class SeededRandom {
  private readonly state = new Uint32Array(4);

  constructor(readonly seed: number) {
    let mix = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      mix = (mix + 0x9e3779b9) >>> 0;
      let z = mix;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.state[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.state.every((word) => word === 0)) this.state[0] = 1;
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const s = this.state;
    const result = Math.imul(rotateLeft(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotateLeft(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, bound), without modulo bias. */
  integer(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > 4294967296) {
      throw new RangeError(`integer bound must be from 1 to 2^32, got ${bound}`);
    }
    const limit = 4294967296 - (4294967296 % bound);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return value % bound;
  }

  /** An independent generator for a named purpose, derived from this one's seed. */
  fork(purpose: string): SeededRandom {
    let hash = this.seed >>> 0;
    for (let i = 0; i < purpose.length; i++) {
      hash = Math.imul(hash ^ purpose.charCodeAt(i), 0x01000193) >>> 0;
    }
    return new SeededRandom(hash);
  }
}

function rotateLeft(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}
