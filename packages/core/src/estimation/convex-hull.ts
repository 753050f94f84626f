/** The point of a convex hull nearest a given point, as weights on the hull's vertices. */
export interface HullProjection {
  /** One weight per vertex: at least zero, summing to one; the nearest point is their mix. */
  readonly weights: Float64Array;
  /** Distance from the point to the nearest point of the hull. */
  readonly distance: number;
}

/** Weights at or below this (the vertices scaled to norms of at most one) leave the face. */
const WEIGHT_FLOOR = 1e-12;
/** The nearest point is optimal once no vertex improves on it by more than this (scaled). */
const OPTIMALITY_GAP = 1e-12;
/** A pivot below this makes a face's vertices affinely dependent: the search stops there. */
const PIVOT_FLOOR = 1e-13;

/**
 * The point of the convex hull of `vertices` nearest `point`, by Wolfe's nearest-point
 * algorithm: it keeps a face of the hull (at most d + 1 affinely independent vertices) whose
 * nearest point is the current one, adds the vertex that most improves on it, and drops the
 * vertices whose weights the new face's affine minimum would make negative. The answer is exact
 * up to rounding after finitely many steps, unlike descent methods that only approach a point
 * on the hull's boundary. Rounding that stalls the search stops it at a point of the hull, so the
 * distance it returns is never less than the true one. The search needs only inner products of
 * the vertices (their Gram matrix, relative to the point); the distance is measured in the
 * point's own coordinates.
 */
export function nearestInHull(
  point: readonly number[],
  vertices: readonly (readonly number[])[],
): HullProjection {
  const distance = projector.project(point, vertices);
  return { weights: projector.weights(vertices.length), distance };
}

/**
 * The search's buffers, kept across calls and grown to the largest hull seen: a hull of a few
 * vertices takes microseconds, and fresh typed arrays (each its own backing store) would cost
 * more than the search.
 */
class Projector {
  private dimensions = 0;
  private count = 0;
  /** Each vertex less the point, vertex by vertex. */
  private relative = new Float64Array(0);
  /**
   * Inner products of the relative vertices, scaled so that the farthest has norm one: row i
   * (each vertex's product with vertex i) once `filled[i]`.
   */
  private gram = new Float64Array(0);
  private filled = new Uint8Array(0);
  private largest = 1;
  /** The current face: its vertices and their weights, `size` of them. */
  private face = new Int32Array(0);
  private faceWeights = new Float64Array(0);
  private size = 0;
  /** The nearest point's inner product with every vertex. */
  private along = new Float64Array(0);
  private solver = new AffineSolver(0);

  /** The distance from `point` to the hull of `vertices`; the face it ends on is kept. */
  project(point: readonly number[], vertices: readonly (readonly number[])[]): number {
    const dimensions = point.length;
    const count = vertices.length;
    if (count === 0) throw new RangeError('a convex hull needs at least one vertex');
    this.fit(dimensions, count);
    const { relative, gram, face, faceWeights, along, filled } = this;
    for (let i = 0; i < count; i++) {
      const vertex = vertices[i]!;
      for (let d = 0; d < dimensions; d++) relative[i * dimensions + d] = vertex[d]! - point[d]!;
    }
    // Only the diagonal now: a row of the Gram matrix is filled when its vertex joins the face,
    // and a face has at most d + 2 vertices, so most of a large hull's rows are never needed.
    let largest = 0;
    let first = 0;
    for (let i = 0; i < count; i++) {
      let norm = 0;
      for (let d = 0; d < dimensions; d++) norm += relative[i * dimensions + d]! ** 2;
      along[i] = norm;
      largest = Math.max(largest, norm);
      if (norm < along[first]!) first = i;
    }
    face[0] = first;
    faceWeights[0] = 1;
    this.size = 1;
    if (along[first] === 0) return 0;
    this.largest = largest;
    filled.fill(0, 0, count);
    this.fill(first, dimensions, count);

    // Each step strictly shortens the distance and no face recurs: a bound for rounding alone.
    for (let step = 0; step < 8 * count + 16; step++) {
      let size = this.size;
      along.fill(0, 0, count);
      for (let f = 0; f < size; f++) {
        const row = face[f]! * count;
        for (let i = 0; i < count; i++) along[i]! += faceWeights[f]! * gram[row + i]!;
      }
      let squared = 0;
      for (let f = 0; f < size; f++) squared += faceWeights[f]! * along[face[f]!]!;
      let entering = 0;
      for (let i = 1; i < count; i++) if (along[i]! < along[entering]!) entering = i;
      // No vertex lies nearer the origin's side of the plane through the nearest point: optimal.
      // A full face, or a vertex already on it, is rounding: stop where it is.
      if (squared - along[entering]! <= OPTIMALITY_GAP || size === dimensions + 2) break;
      let onFace = false;
      for (let f = 0; f < size; f++) onFace ||= face[f] === entering;
      if (onFace) break;
      this.fill(entering, dimensions, count);
      face[size] = entering;
      faceWeights[size] = 0;
      size++;
      // The affine minimum of the face; where it falls outside the face, step towards it up to
      // the face's edge and drop the vertices the step zeroes, until it falls inside.
      for (;;) {
        const affine = this.solver.solve(gram, count, face, size);
        let theta = 1;
        if (affine) {
          for (let f = 0; f < size; f++) {
            if (affine[f]! <= WEIGHT_FLOOR) {
              theta = Math.min(theta, faceWeights[f]! / (faceWeights[f]! - affine[f]!));
            }
          }
        }
        // Affinely dependent, or the entering vertex cannot move the point: rounding, stop
        // where it is.
        if (!affine || theta <= 0) return this.distance(dimensions);
        if (theta === 1) {
          faceWeights.set(affine.subarray(0, size));
          break;
        }
        let kept = 0;
        let sum = 0;
        for (let f = 0; f < size; f++) {
          const weight = theta * affine[f]! + (1 - theta) * faceWeights[f]!;
          if (weight > WEIGHT_FLOOR) {
            face[kept] = face[f]!;
            faceWeights[kept] = weight;
            sum += weight;
            kept++;
          }
        }
        size = kept;
        for (let f = 0; f < size; f++) faceWeights[f]! /= sum;
      }
      this.size = size;
    }
    return this.distance(dimensions);
  }

  /** Row `i` of the scaled Gram matrix, unless it is filled already. */
  private fill(i: number, dimensions: number, count: number): void {
    if (this.filled[i]) return;
    const { relative, gram, largest } = this;
    for (let j = 0; j < count; j++) {
      let sum = 0;
      for (let d = 0; d < dimensions; d++) {
        sum += relative[i * dimensions + d]! * relative[j * dimensions + d]!;
      }
      gram[i * count + j] = sum / largest;
    }
    this.filled[i] = 1;
  }

  /** The weights of the last projection's face, on every vertex. */
  weights(count: number): Float64Array {
    const weights = new Float64Array(count);
    for (let f = 0; f < this.size; f++) weights[this.face[f]!] = this.faceWeights[f]!;
    return weights;
  }

  /** The length of the face's mix, in the point's own coordinates. */
  private distance(dimensions: number): number {
    let squared = 0;
    for (let d = 0; d < dimensions; d++) {
      let offset = 0;
      for (let f = 0; f < this.size; f++) {
        offset += this.faceWeights[f]! * this.relative[this.face[f]! * dimensions + d]!;
      }
      squared += offset * offset;
    }
    return Math.sqrt(squared);
  }

  private fit(dimensions: number, count: number): void {
    if (dimensions <= this.dimensions && count <= this.count) return;
    this.dimensions = Math.max(dimensions, this.dimensions);
    this.count = Math.max(count, this.count);
    this.relative = new Float64Array(this.count * this.dimensions);
    this.gram = new Float64Array(this.count * this.count);
    this.filled = new Uint8Array(this.count);
    this.face = new Int32Array(this.dimensions + 2);
    this.faceWeights = new Float64Array(this.dimensions + 2);
    this.along = new Float64Array(this.count);
    this.solver = new AffineSolver(this.dimensions + 2);
  }
}

/** Whether `point` lies within `tolerance` of the convex hull of `vertices`. */
export function insideHull(
  point: readonly number[],
  vertices: readonly (readonly number[])[],
  tolerance: number,
): boolean {
  return projector.project(point, vertices) <= tolerance;
}

/**
 * The weights, summing to one, of the point of a face's affine hull nearest the origin: the
 * solution of [G 1; 1' 0] [w; mu] = [0; 1], G the face's Gram matrix, by Gaussian elimination
 * with partial pivoting, in a buffer kept across calls. Null where the face's vertices are
 * affinely dependent.
 */
class AffineSolver {
  private readonly system: Float64Array;
  private readonly solution: Float64Array;
  private readonly stride: number;

  constructor(capacity: number) {
    this.stride = capacity + 2;
    this.system = new Float64Array((capacity + 1) * this.stride);
    this.solution = new Float64Array(capacity);
  }

  solve(gram: Float64Array, count: number, face: Int32Array, size: number): Float64Array | null {
    const { system, stride } = this;
    const rows = size + 1;
    const rhs = rows;
    for (let row = 0; row < rows; row++) {
      for (let column = 0; column < rows; column++) {
        system[row * stride + column] =
          row < size && column < size
            ? gram[face[row]! * count + face[column]!]!
            : row === column
              ? 0
              : 1;
      }
      system[row * stride + rhs] = row === size ? 1 : 0;
    }
    for (let pivot = 0; pivot < rows; pivot++) {
      let best = pivot;
      for (let row = pivot + 1; row < rows; row++) {
        if (Math.abs(system[row * stride + pivot]!) > Math.abs(system[best * stride + pivot]!)) {
          best = row;
        }
      }
      if (Math.abs(system[best * stride + pivot]!) < PIVOT_FLOOR) return null;
      if (best !== pivot) {
        for (let column = 0; column <= rhs; column++) {
          const swap = system[pivot * stride + column]!;
          system[pivot * stride + column] = system[best * stride + column]!;
          system[best * stride + column] = swap;
        }
      }
      const top = system[pivot * stride + pivot]!;
      for (let row = 0; row < rows; row++) {
        const factor = row === pivot ? 0 : system[row * stride + pivot]! / top;
        if (factor === 0) continue;
        for (let column = pivot; column <= rhs; column++) {
          system[row * stride + column]! -= factor * system[pivot * stride + column]!;
        }
      }
    }
    for (let row = 0; row < size; row++) {
      this.solution[row] = system[row * stride + rhs]! / system[row * stride + row]!;
    }
    return this.solution;
  }
}

/** One for the module: a projection runs to its end without yielding, so none overlaps. */
const projector = new Projector();
