import type { PlanarImage } from '@pdcr/kernels';
import type { ExplanationResult } from '../result.ts';
import { heatmapPng, imagePng, overlayPng } from './maps.ts';
import { histogram } from './stats.ts';
import reportCss from './report.css?raw';
import reportScript from './report-page.js?raw';

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A rate as a percentage, without the float's noise: 0.07 gives 7%, 0.0125 gives 1.25%. */
function percent(rate: number): string {
  return `${Number((100 * rate).toPrecision(6))}%`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Mean |ATE| of the blocks by distance of their centre from the RoI's centre, in rings. */
export function effectByDistance(result: ExplanationResult): { labels: string[]; means: number[] } {
  const { roi, block } = result;
  const ring = 2 * Math.max(block.height, block.width);
  const centreY = roi.top + roi.height / 2;
  const centreX = roi.left + roi.width / 2;
  const sums: number[] = [];
  const counts: number[] = [];
  for (const effect of result.blocks) {
    const distance = Math.hypot(
      effect.top + effect.height / 2 - centreY,
      effect.left + effect.width / 2 - centreX,
    );
    const index = Math.floor(distance / ring);
    sums[index] = (sums[index] ?? 0) + Math.abs(effect.ate);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  const labels: string[] = [];
  const means: number[] = [];
  for (let i = 0; i < sums.length; i++) {
    if (!counts[i]) continue;
    labels.push(`${i * ring}-${(i + 1) * ring}`);
    means.push(sums[i]! / counts[i]!);
  }
  return { labels, means };
}

/**
 * `report.html`: one self-contained file with the image, the overlay and the map side by side (a
 * hover on any block shows its ATE, interval and sample count), the pie of positive, negative
 * and zero blocks, the histogram, the mean |ATE| by distance from the RoI, the parameters and
 * the cost. `chartLibrary` is Chart.js's UMD build, inlined so the file opens offline.
 */
export function reportHtml(
  result: ExplanationResult,
  image: PlanarImage,
  chartLibrary: string,
): string {
  const { edges, counts } = histogram(result);
  const format = (edge: number) => (Number.isFinite(edge) ? String(edge) : edge > 0 ? '∞' : '−∞');
  const data = {
    blocks: result.blocks.map((b) => [
      b.top,
      b.left,
      b.height,
      b.width,
      b.ate,
      b.ciLow,
      b.ciHigh,
      b.n,
      b.significant ? 1 : 0,
      b.screened ? 1 : 0,
    ]),
    summary: result.summary,
    histogram: {
      labels: counts.map((_, i) => `[${format(edges[i]!)}, ${format(edges[i + 1]!)})`),
      counts,
    },
    distance: effectByDistance(result),
  };
  const parameters: [string, string][] = [
    ['model', `${result.model.path ?? ''} (sha256 ${result.model.sha256.slice(0, 12)}…)`],
    ['image', `${result.image.path ?? ''} ${result.image.height}x${result.image.width}`],
    [
      'RoI (top, left, height, width)',
      `${result.roi.top}, ${result.roi.left}, ${result.roi.height}, ${result.roi.width}`,
    ],
    ['block', `${result.block.height}x${result.block.width}`],
    ['preset', result.preset],
    ['seed', String(result.seed)],
    [
      'outcome',
      `${result.outcome.metric} against the ${result.outcome.reference}, ` +
        `${result.outcome.activation} activation, class ${result.outcome.classIndex}, ` +
        `binarised at ${result.outcome.binarize}`,
    ],
    [
      'samples / screen / threshold',
      `${result.parameters.samples}` +
        (result.parameters.extraDraws
          ? ` (+${result.parameters.extraDraws} where more could bring a block to a call` +
            (result.parameters.routeExtraDraws
              ? `, +${result.parameters.routeExtraDraws} for blocks scored through the ` +
                'statistics route)'
              : ')')
          : '') +
        ` / ${result.parameters.screen} / ${result.parameters.threshold}`,
    ],
    [
      'calls',
      result.parameters.falseDiscoveryRate === undefined
        ? `significant where the mean is at or beyond ${result.parameters.threshold}`
        : `significant beyond ${result.parameters.threshold} at a ` +
          `${percent(result.parameters.falseDiscoveryRate)} false discovery rate ` +
          '(Benjamini-Hochberg, paying for every look at the draws)',
    ],
    ['preprocessing', result.parameters.preprocessing],
    ['patch bank', `${result.parameters.patches} patches`],
    ['base score', result.baseScore.toFixed(4)],
    [
      'cost',
      `${result.forwardPasses} forward passes, ${result.seconds.toFixed(2)} s, ` +
        `${(result.forwardPasses / Math.max(result.seconds, 1e-9)).toFixed(1)} passes/s on ` +
        `${result.backend}, batches of ${result.parameters.batchSize}`,
    ],
  ];
  const png = (bytes: Uint8Array) => `data:image/png;base64,${base64(bytes)}`;
  const { width, height } = result.image;
  const scale = Math.max(1, Math.floor(320 / Math.max(width, height)));
  const size = `width="${width * scale}" height="${height * scale}"`;
  const rows = parameters.map(
    ([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td></tr>`,
  );
  // `<` is escaped so that no value can close the script element early.
  const json = JSON.stringify({ ...data, width, height }).replace(/</g, '\\u003c');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>PdCR report</title>
<style>${reportCss}</style>
</head>
<body>
<h1>PdCR report</h1>
<p>Average treatment effect of each block on the RoI's ${escapeHtml(result.outcome.metric)}
(percentage points). Red: replacing the block lowers the score (the original block helped the
segmentation); blue: it raises it.${result.complete ? '' : ' <strong>Interrupted: only the blocks finished are shown.</strong>'}</p>
<div class="maps">
<figure><img alt="image" ${size} src="${png(imagePng(image))}"><figcaption>image</figcaption></figure>
<figure><img id="overlay" alt="overlay" ${size} src="${png(overlayPng(result, image))}">
<figcaption>overlay (hover a block)</figcaption></figure>
<figure><img id="heatmap" alt="ATE map" ${size} src="${png(heatmapPng(result))}">
<figcaption>ATE map</figcaption></figure>
</div>
<div id="tip"></div>
<div class="charts">
<div><h2>Blocks</h2><div class="chart"><canvas id="pie"></canvas></div></div>
<div><h2>Histogram of block ATE</h2><div class="chart"><canvas id="histogram"></canvas></div></div>
<div><h2>Mean |ATE| by distance from the RoI (px)</h2>
<div class="chart"><canvas id="distance"></canvas></div></div>
</div>
<h2>Parameters and cost</h2>
<table>${rows.join('')}</table>
<script type="application/json" id="report-data">${json}</script>
<script>${chartLibrary}</script>
<script>${reportScript}</script>
</body>
</html>
`;
}
