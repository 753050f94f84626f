import cliProgress from 'cli-progress';
import type { EstimationProgress } from '@pdcr/core';

/** Progress of the forward passes as a bar on stderr: done and planned, rate, time left. */
export class PassProgress {
  private readonly bar: cliProgress.SingleBar | null;
  private started = false;

  constructor(quiet: boolean) {
    this.bar = quiet
      ? null
      : new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format:
              '{phase} |{bar}| {value}/{total} passes | {rate} passes/s | {eta_formatted} left',
            barsize: 30,
            hideCursor: true,
            etaBuffer: 50,
            noTTYOutput: true,
            notTTYSchedule: 5000,
          },
          cliProgress.Presets.shades_classic,
        );
  }

  /** `phase` is an estimation phase, or any short label (`pdcr evaluate` names its steps). */
  update(
    progress: Omit<EstimationProgress, 'phase'> & { readonly phase: string },
    elapsedSeconds: number,
  ): void {
    if (!this.bar) return;
    const payload = {
      phase: progress.phase.padEnd(8),
      rate: (progress.passesDone / Math.max(elapsedSeconds, 1e-3)).toFixed(1),
    };
    if (!this.started) {
      this.bar.start(progress.passesPlanned, progress.passesDone, payload);
      this.started = true;
      return;
    }
    this.bar.setTotal(progress.passesPlanned);
    this.bar.update(progress.passesDone, payload);
  }

  stop(): void {
    if (this.started) this.bar?.stop();
  }
}
