import type { ExplanationResult } from '@pdcr/core';

/** What a run prints on stdout: the base score, the blocks found, the cost. */
export function summaryLines(result: ExplanationResult): string[] {
  const { positive, negative, zero } = result.summary;
  const rate = result.forwardPasses / Math.max(result.seconds, 1e-9);
  return [
    `base Dice ${result.baseScore.toFixed(2)}; ` +
      `${positive} positive, ${negative} negative, ${zero} zero blocks`,
    `${result.forwardPasses} forward passes in ${result.seconds.toFixed(1)} s ` +
      `on ${result.backend} (${rate.toFixed(1)} passes/s)` +
      (result.window
        ? `, on the ${result.window.height}x${result.window.width} window at ` +
          `${result.window.top},${result.window.left} that holds the RoI's receptive field`
        : ''),
    // Said only where blocks went through it (none does where the field covers the image).
    ...(result.statisticsRoute?.blocks ? [statisticsRouteLine(result.statisticsRoute)] : []),
  ];
}

/**
 * Prints the summary and where the report is; after an interruption, says so on stderr and
 * exits with 130, the outputs of the finished blocks having been written.
 */
export function finishRun(result: ExplanationResult, files: string[], prefix = ''): void {
  for (const line of summaryLines(result)) console.log(`${prefix}${line}`);
  console.log(`${prefix}report at ${files.find((file) => file.endsWith('report.html'))}`);
  if (!result.complete) {
    console.error(`pdcr: interrupted; the ${result.blocks.length} blocks finished were written`);
    process.exit(130);
  }
}

/** How much of the map came through the image's statistics rather than passes of its own. */
export function statisticsRouteLine(
  route: NonNullable<ExplanationResult['statisticsRoute']>,
): string {
  const draws = route.drawsRun + route.drawsInferred;
  return (
    `${route.blocks} blocks beyond the receptive field scored through the image statistics: ` +
    `${route.drawsInferred} of their ${draws} draws inferred, ${route.drawsRun} run`
  );
}
