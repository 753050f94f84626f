import type { ExplanationResult } from '../result.ts';

/** The paper's histogram edges of block effects, with its threshold t in the middle. */
export function histogramEdges(threshold: number): number[] {
  return [-Infinity, -3, -1, -0.3, -threshold, threshold, 0.3, 1, 3, Infinity];
}

/** Counts of block ATEs per bin [edge_i, edge_i+1), the last bin closed. */
export function histogram(result: ExplanationResult): { edges: number[]; counts: number[] } {
  const edges = histogramEdges(result.parameters.threshold);
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const { ate } of result.blocks) {
    const bin = edges.findIndex(
      (edge, i) => i < edges.length - 1 && ate >= edge && ate < edges[i + 1]!,
    );
    counts[bin === -1 ? counts.length - 1 : bin]!++;
  }
  return { edges, counts };
}

function formatEdge(edge: number): string {
  return edge === Infinity ? 'inf' : edge === -Infinity ? '-inf' : String(edge);
}

/** `stats.txt`: base Dice, the shares of positive, negative and zero blocks, the histogram. */
export function statsText(result: ExplanationResult): string {
  const total = result.blocks.length;
  const share = (count: number) => (total > 0 ? ((100 * count) / total).toFixed(2) : '0.00');
  const { positive, negative, zero } = result.summary;
  const { edges, counts } = histogram(result);
  const lines = [
    ...(result.complete ? [] : ['Interrupted: only the blocks finished are counted.']),
    `Base Dice: ${result.baseScore.toFixed(4)}`,
    `Blocks: ${total}`,
    `Positive: ${positive} (${share(positive)}%)`,
    `Negative: ${negative} (${share(negative)}%)`,
    `Zero: ${zero} (${share(zero)}%)`,
    '',
    'Histogram of block ATE:',
    ...counts.map(
      (count, i) => `[${formatEdge(edges[i]!)}, ${formatEdge(edges[i + 1]!)}): ${count}`,
    ),
    '',
    `Preset: ${result.preset}; forward passes: ${result.forwardPasses}; seconds: ${result.seconds.toFixed(2)}; backend: ${result.backend}`,
    ...(result.statisticsRoute
      ? [
          `Statistics route: ${result.statisticsRoute.blocks} blocks beyond the receptive field; ` +
            `draws run ${result.statisticsRoute.drawsRun}, inferred ${result.statisticsRoute.drawsInferred}`,
        ]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}
