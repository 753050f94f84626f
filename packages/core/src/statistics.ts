import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** Two-sided confidence level of every interval PdCR reports. */
export const CONFIDENCE_LEVEL = 0.95;

/** Running count, sum and sum of squares of one block's (or component's) treatment effects. */
export class EffectTally {
  count = 0;
  sum = 0;
  sumOfSquares = 0;

  add(count: number, sum: number, sumOfSquares: number): void {
    this.count += count;
    this.sum += sum;
    this.sumOfSquares += sumOfSquares;
  }

  get mean(): number {
    return this.count > 0 ? this.sum / this.count : 0;
  }

  /** Sample standard deviation (n - 1 in the denominator); 0 below two samples. */
  get standardDeviation(): number {
    if (this.count < 2) return 0;
    const variance = (this.sumOfSquares - (this.sum * this.sum) / this.count) / (this.count - 1);
    return Math.sqrt(Math.max(variance, 0));
  }

  /** Standard error of the mean. */
  get standardError(): number {
    return this.count > 0 ? this.standardDeviation / Math.sqrt(this.count) : 0;
  }

  /** Student-t interval for the mean at `level`; the mean alone below two samples. */
  interval(level = CONFIDENCE_LEVEL): { low: number; high: number } {
    if (this.count < 2) return { low: this.mean, high: this.mean };
    const halfWidth = tQuantile(1 - (1 - level) / 2, this.count - 1) * this.standardError;
    return { low: this.mean - halfWidth, high: this.mean + halfWidth };
  }
}
