import { describe, expect, it } from 'vitest';
import { insideHull, nearestInHull } from '../src/estimation/convex-hull.ts';
import { SeededRandom } from '../src/index.ts';

const fixedSeed = process.env['PDCR_TEST_SEED'];
const seed = fixedSeed ? Number(fixedSeed) : Math.floor(Math.random() * 2 ** 31);

function gaussian(random: SeededRandom): number {
  return Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
}

function randomPoints(random: SeededRandom, count: number, dimensions: number): number[][] {
  return Array.from({ length: count }, () =>
    Array.from({ length: dimensions }, () => gaussian(random)),
  );
}

/** A random mix of the vertices, with weights summing to one. */
function randomMix(random: SeededRandom, vertices: readonly number[][]): number[] {
  const weights = vertices.map(() => -Math.log(1 - random.uniform()));
  const sum = weights.reduce((total, weight) => total + weight, 0);
  return vertices[0]!.map((_, d) =>
    vertices.reduce((total, vertex, i) => total + (weights[i]! / sum) * vertex[d]!, 0),
  );
}

const dot = (a: readonly number[], b: readonly number[]) =>
  a.reduce((sum, value, d) => sum + value * b[d]!, 0);

/**
 * Checks that the projection is the nearest point of the hull: its weights mix the vertices into
 * a point of the hull at the distance given, and no vertex lies beyond the plane through it
 * normal to the point's offset (the condition that makes a point of a convex set its nearest).
 */
function expectNearest(point: number[], vertices: number[][], context: string): number {
  const { weights, distance } = nearestInHull(point, vertices);
  expect(
    weights.every((weight) => weight >= 0),
    context,
  ).toBe(true);
  expect(
    weights.reduce((sum, weight) => sum + weight, 0),
    context,
  ).toBeCloseTo(1, 12);
  const nearest = point.map((_, d) =>
    vertices.reduce((sum, vertex, i) => sum + weights[i]! * vertex[d]!, 0),
  );
  const offset = point.map((value, d) => value - nearest[d]!);
  expect(Math.sqrt(dot(offset, offset)), context).toBeCloseTo(distance, 9);
  for (const vertex of vertices) {
    const towards = vertex.map((value, d) => value - nearest[d]!);
    expect(dot(towards, offset), context).toBeLessThanOrEqual(1e-9);
  }
  return distance;
}

describe(`the nearest point of a convex hull (seed ${seed})`, () => {
  it('is the point itself inside the hull, and a certified nearest point outside it', () => {
    const random = new SeededRandom(seed);
    for (const dimensions of [2, 3, 4, 6, 8]) {
      for (let trial = 0; trial < 50; trial++) {
        const context = `seed ${seed}, ${dimensions} dimensions, trial ${trial}`;
        const vertices = randomPoints(random, 3 * dimensions, dimensions);
        const inside = randomMix(random, vertices);
        expect(expectNearest(inside, vertices, context), context).toBeLessThan(1e-9);
        expect(insideHull(inside, vertices, 1e-9), context).toBe(true);

        // Beyond the hull's support plane in a random direction by `gap`: at least that far.
        const direction = randomPoints(random, 1, dimensions)[0]!;
        const length = Math.sqrt(dot(direction, direction));
        const unit = direction.map((value) => value / length);
        const support = Math.max(...vertices.map((vertex) => dot(vertex, unit)));
        const gap = 0.01 + random.uniform();
        const outside = inside.map(
          (value, d) => value + (support - dot(inside, unit) + gap) * unit[d]!,
        );
        const distance = expectNearest(outside, vertices, context);
        expect(distance, context).toBeGreaterThanOrEqual(gap - 1e-9);
        expect(insideHull(outside, vertices, 1e-6), context).toBe(false);
      }
    }
  });

  it('in the plane, is the distance to the nearest edge of the hull', () => {
    const random = new SeededRandom(seed + 1);
    for (let trial = 0; trial < 200; trial++) {
      const vertices = randomPoints(random, 6, 2);
      const point = randomPoints(random, 1, 2)[0]!.map((value) => 2 * value);
      // Outside the hull the nearest point lies on an edge, a segment between two vertices;
      // every segment lies in the hull, so the least distance to one is the hull's.
      let nearestSegment = Infinity;
      for (const a of vertices) {
        for (const b of vertices) {
          const along = b.map((value, d) => value - a[d]!);
          const squared = dot(along, along);
          const t =
            squared === 0
              ? 0
              : Math.min(
                  1,
                  Math.max(
                    0,
                    dot(
                      point.map((value, d) => value - a[d]!),
                      along,
                    ) / squared,
                  ),
                );
          const offset = point.map((value, d) => value - a[d]! - t * along[d]!);
          nearestSegment = Math.min(nearestSegment, Math.sqrt(dot(offset, offset)));
        }
      }
      const context = `seed ${seed}, trial ${trial}`;
      const distance = expectNearest(point, vertices, context);
      if (distance > 1e-9) expect(distance, context).toBeCloseTo(nearestSegment, 9);
      else expect(nearestSegment, context).toBeGreaterThan(0);
    }
  });

  it('gives a hull the same answer whatever hulls were projected onto before it', () => {
    // The search keeps its buffers across calls; a hull of other sizes in between must leave
    // nothing behind in them.
    const random = new SeededRandom(seed + 2);
    const cases = Array.from({ length: 60 }, (_, i) => {
      const dimensions = 1 + (i % 7);
      const vertices = randomPoints(random, 1 + random.integer(60), dimensions);
      const point = randomPoints(random, 1, dimensions)[0]!.map((value) => 1.5 * value);
      return { point, vertices };
    });
    const first = cases.map(({ point, vertices }) => nearestInHull(point, vertices));
    for (let pass = 0; pass < 3; pass++) {
      const order = cases.map((_, i) => i).sort(() => random.uniform() - 0.5);
      for (const i of order) {
        const { weights, distance } = nearestInHull(cases[i]!.point, cases[i]!.vertices);
        expect(distance, `seed ${seed}, case ${i}`).toBe(first[i]!.distance);
        expect([...weights], `seed ${seed}, case ${i}`).toEqual([...first[i]!.weights]);
      }
    }
  });

  it('holds on degenerate hulls: repeated vertices, vertices on a line, one vertex', () => {
    const line = [
      [0, 0],
      [1, 1],
      [2, 2],
      [1, 1],
      [3, 3],
      [0, 0],
    ];
    expect(nearestInHull([1.5, 1.5], line).distance).toBeLessThan(1e-12);
    expect(nearestInHull([1, 2], line).distance).toBeCloseTo(Math.SQRT1_2, 12);
    expect(nearestInHull([4, 4], line).distance).toBeCloseTo(Math.SQRT2, 12);
    expectNearest([1, 2], line, 'line');
    expect(nearestInHull([3, 3], line).distance).toBe(0);
    expect(nearestInHull([5, 1], [[2, 1]]).distance).toBe(3);
    expect(nearestInHull([2, 1], [[2, 1]]).distance).toBe(0);
    // A square's corner, edge and centre; a point just beyond an edge.
    const square = [
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 1],
    ];
    expect(insideHull([0.5, 0.5], square, 1e-12)).toBe(true);
    expect(insideHull([1, 0.5], square, 1e-12)).toBe(true);
    expect(insideHull([1, 1], square, 0)).toBe(true);
    expect(insideHull([1 + 1e-6, 0.5], square, 1e-9)).toBe(false);
    expect(nearestInHull([1 + 1e-6, 0.5], square).distance).toBeCloseTo(1e-6, 12);
    expect(() => nearestInHull([0, 0], [])).toThrow(RangeError);
  });
});
