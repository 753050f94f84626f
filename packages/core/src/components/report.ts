import reportCss from '../outputs/report.css?raw';
import type { ComponentAnalysisResult, ComponentEffect } from './result.ts';

/** Components the report's chart shows, the strongest first; the tables list every one. */
const CHARTED = 40;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const number = (value: number) => value.toFixed(3);

/** What replaces a component, as the report's introduction says it. */
const REPLACEMENTS: Record<ComponentAnalysisResult['intervention'], string> = {
  resample: 'its value on another natural image',
  mean: 'its mean over natural images',
  zero: 'zeros',
};

/** The ranking as aligned plain-text rows: rank, component, ATE, interval, n (CLI and report). */
export function componentTable(
  result: ComponentAnalysisResult,
  limit = result.components.length,
): string[] {
  const rows = result.components
    .slice(0, limit)
    .map((effect, index) => [
      String(index + 1),
      effect.component,
      effect.operator,
      number(effect.ate),
      `[${number(effect.ciLow)}, ${number(effect.ciHigh)}]`,
      String(effect.n),
      effect.significant ? 'yes' : 'no',
    ]);
  const header = ['rank', 'component', 'op', 'ATE', '95% CI', 'n', 'significant'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const align = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 1 || column === 2
          ? cell.padEnd(widths[column]!)
          : cell.padStart(widths[column]!),
      )
      .join('  ');
  return [align(header), ...rows.map(align)];
}

function effectRow(effect: ComponentEffect, rank: number): string {
  const cells = [
    String(rank),
    escapeHtml(effect.component),
    escapeHtml(effect.operator),
    effect.shape.join('x'),
    number(effect.ate),
    number(effect.meanEffect),
    `[${number(effect.ciLow)}, ${number(effect.ciHigh)}]`,
    String(effect.n),
    effect.significant ? 'yes' : 'no',
  ];
  return `<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`;
}

// Runs in the report, after Chart.js: the strongest components' measured means as bars, their
// intervals as floating bars behind them.
const pageScript = `
const data = JSON.parse(document.getElementById('report-data').textContent);
new Chart(document.getElementById('ranking'), {
  type: 'bar',
  data: {
    labels: data.labels,
    datasets: [
      { label: 'ATE', data: data.ate, backgroundColor: data.ate.map((v) => (v < 0 ? '#c0392b' : '#2e86c1')) },
      { label: '95% CI of the mean effect', data: data.intervals, backgroundColor: 'rgba(0,0,0,0.15)', grouped: false },
    ],
  },
  options: { indexAxis: 'y', maintainAspectRatio: false, scales: { x: { title: { display: true, text: 'ATE (points)' } } } },
});
`;

/**
 * `report.html` of a component analysis: one self-contained file with a chart of the strongest
 * components' effects and intervals, the ranked table of every component, the per-layer table
 * (each channel's effect alone, summed: not the layer's effect) under channel granularity, and the parameters and cost.
 * `chartLibrary` is Chart.js's UMD build, inlined so the file opens offline.
 */
export function componentReportHtml(result: ComponentAnalysisResult, chartLibrary: string): string {
  const charted = result.components.slice(0, CHARTED);
  const data = {
    labels: charted.map((effect) => effect.component),
    ate: charted.map((effect) => effect.ate),
    intervals: charted.map((effect) => [effect.ciLow, effect.ciHigh]),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const layers = result.layers.map((layer) => {
    const strongest = layer.strongest
      ? `${layer.strongest.channel ?? 'all'}: ${number(layer.strongest.ate)}`
      : '';
    return (
      `<tr><td>${escapeHtml(layer.tensor)}</td><td>${escapeHtml(layer.operator)}</td>` +
      `<td>${layer.channels}</td><td>${layer.analysed}</td><td>${layer.significantChannels}</td>` +
      `<td>${number(layer.totalAte)}</td><td>${strongest}</td></tr>`
    );
  });
  const { samples, samplesAsked } = result.parameters;
  const capped =
    samples < samplesAsked
      ? ` (${samplesAsked} asked, capped by the natural samples and whole rounds)`
      : '';
  const parameters: [string, string][] = [
    ['model', `${result.model.path ?? ''} (sha256 ${result.model.sha256.slice(0, 12)}…)`],
    ['image', `${result.image.path ?? ''} ${result.image.height}x${result.image.width}`],
    ['RoI (top, left, height, width)', Object.values(result.roi).join(', ')],
    ['components', `${result.granularity}s of ${result.select ?? 'every tensor'}`],
    ['intervention', result.intervention],
    [
      'outcome',
      `${result.outcome.metric} against the ${result.outcome.reference}, ` +
        `${result.outcome.activation} activation, class ${result.outcome.classIndex}, ` +
        `binarised at ${result.outcome.binarize}`,
    ],
    [
      'draws: most / round / threshold / FDR',
      `${samples}${capped} / ${result.parameters.round} / ${result.parameters.threshold} / ` +
        `${result.parameters.falseDiscoveryRate}`,
    ],
    ['natural samples', String(result.parameters.naturalSamples)],
    ['preprocessing', result.parameters.preprocessing],
    ['seed', String(result.seed)],
    ['base score', result.baseScore.toFixed(4)],
    [
      'cost',
      `${result.forwardPasses} forward passes (probe ${result.passes.probe}, natural ` +
        `${result.passes.natural}, base ${result.passes.base}, interventions ` +
        `${result.passes.estimate}), ${result.seconds.toFixed(2)} s on ${result.backend}, ` +
        `batches of ${result.parameters.batchSize}`,
    ],
  ];
  const rows = parameters.map(
    ([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td></tr>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>PdCR components</title>
<style>${reportCss}</style>
</head>
<body>
<h1>PdCR: network components</h1>
<p>Average treatment effect of replacing each component (${result.granularity} of the graph) by
${REPLACEMENTS[result.intervention]}
on the RoI's ${escapeHtml(result.outcome.metric)} (percentage points). Negative: the component's
own value helped the segmentation.${result.complete ? '' : ' <strong>Interrupted: only the components finished are shown.</strong>'}</p>
<h2>Strongest ${charted.length} components</h2>
<div class="chart" style="height:${Math.max(200, 22 * charted.length)}px"><canvas id="ranking"></canvas></div>
<h2>Ranking</h2>
<table><tr><th>rank</th><th>component</th><th>op</th><th>shape</th><th>ATE</th><th>mean effect</th>
<th>95% CI</th><th>n</th><th>significant</th></tr>
${result.components.map((effect, index) => effectRow(effect, index + 1)).join('\n')}</table>
${
  result.granularity === 'channel'
    ? `<h2>Per layer</h2>
<table><tr><th>tensor</th><th>op</th><th>channels</th><th>analysed</th><th>significant</th>
<th>sum of channel ATEs</th><th>strongest channel</th></tr>
${layers.join('\n')}</table>
<p>Each channel's ATE is measured with that channel alone replaced; channel effects interact and
do not add up, so their sum is not the effect of replacing the layer (analyse whole tensors for
that).</p>`
    : ''
}
<h2>Parameters and cost</h2>
<table>${rows.join('')}</table>
<script type="application/json" id="report-data">${json}</script>
<script>${chartLibrary}</script>
<script>${pageScript}</script>
</body>
</html>
`;
}
