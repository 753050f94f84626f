import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** Two-sided confidence level of every interval PdCR reports. */
export const CONFIDENCE_LEVEL = 0.95;

interface Sums {
  count: number;
  sum: number;
  sumOfSquares: number;
}

const variance = ({ count, sum, sumOfSquares }: Sums) =>
  count < 2 ? 0 : Math.max((sumOfSquares - (sum * sum) / count) / (count - 1), 0);

/**
 * Running count, sum and sum of squares of one block's (or component's) treatment effects.
 *
 * With `weights`, the draws come from strata of the population (each stratum's share of it in
 * `weights`, summing to 1), drawn separately: the mean is the weighted mean of the strata's
 * means and its standard error that of a stratified sample. Effects that vary mostly between strata then get much tighter intervals for
 * the same draws. `count`, `sum` and `sumOfSquares` are always over all draws.
 */
export class EffectTally {
  count = 0;
  sum = 0;
  sumOfSquares = 0;
  private readonly strata: Sums[];

  constructor(private readonly weights: readonly number[] = [1]) {
    this.strata = weights.map(() => ({ count: 0, sum: 0, sumOfSquares: 0 }));
  }

  add(count: number, sum: number, sumOfSquares: number, stratum = 0): void {
    this.count += count;
    this.sum += sum;
    this.sumOfSquares += sumOfSquares;
    const sums = this.strata[stratum]!;
    sums.count += count;
    sums.sum += sum;
    sums.sumOfSquares += sumOfSquares;
  }

  private get stratified(): boolean {
    return this.weights.length > 1;
  }

  get mean(): number {
    if (!this.stratified) return this.count > 0 ? this.sum / this.count : 0;
    return this.strata.reduce(
      (mean, sums, s) => mean + (sums.count > 0 ? (this.weights[s]! * sums.sum) / sums.count : 0),
      0,
    );
  }

  /** Sample standard deviation (n - 1 in the denominator) of all draws; 0 below two. */
  get standardDeviation(): number {
    return Math.sqrt(variance(this));
  }

  /** Each stratum's contribution to the variance of the mean. */
  private get varianceTerms(): number[] {
    return this.strata.map((sums, s) =>
      sums.count > 0 ? (this.weights[s]! ** 2 * variance(sums)) / sums.count : 0,
    );
  }

  /**
   * Whether the strata's own spreads make the standard error. Where every stratum's draws agree
   * while the strata differ, the stratified estimate of the variance is zero, which no finite
   * sample shows; the plain one, larger in expectation under equal draws per stratum, is used.
   */
  private get usesStrata(): boolean {
    return this.stratified && this.varianceTerms.some((term) => term > 0);
  }

  /** Standard error of the mean. */
  get standardError(): number {
    if (!this.usesStrata) {
      return this.count > 0 ? this.standardDeviation / Math.sqrt(this.count) : 0;
    }
    return Math.sqrt(this.varianceTerms.reduce((total, term) => total + term, 0));
  }

  /**
   * Degrees of freedom of the t interval; below 1 there is no interval yet. Stratified: the
   * pooled n - strata. Satterthwaite's would be safer where strata differ in spread, but a block
   * whose few nonzero effects fall in one stratum then gets the degrees of that stratum alone
   * and an interval far wider than the plain one; on the demo crop the pooled intervals covered
   * the 400-draw reference effect in 97-98% of blocks (docs/benchmarks.md).
   */
  get degreesOfFreedom(): number {
    if (this.stratified && this.strata.some((sums) => sums.count < 2)) return 0;
    return this.usesStrata ? this.count - this.strata.length : this.count - 1;
  }

  /** Student-t interval for the mean at `level`; the mean alone before there are degrees of freedom. */
  interval(level = CONFIDENCE_LEVEL): { low: number; high: number } {
    if (this.degreesOfFreedom < 1) return { low: this.mean, high: this.mean };
    const halfWidth = tQuantile(1 - (1 - level) / 2, this.degreesOfFreedom) * this.standardError;
    return { low: this.mean - halfWidth, high: this.mean + halfWidth };
  }
}
