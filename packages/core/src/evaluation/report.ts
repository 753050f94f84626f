import reportCss from '../outputs/report.css?raw';
import type { CurveKind } from './curves.ts';
import { formatArea, type FaithfulnessResult } from './result.ts';
import reportScript from './report-page.js?raw';

/** Points each method's mean curve is resampled to when it averages several images. */
const PLOT_POINTS = 51;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `curve` (evenly spaced over [0, 1]) at `x`, linearly interpolated. */
function sampleAt(curve: readonly number[], x: number): number {
  const position = x * (curve.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, curve.length - 1);
  const weight = position - below;
  return curve[below]! * (1 - weight) + curve[above]! * weight;
}

/**
 * Each method's curve of `kind` as [x, score] points: the image's own steps for one image, the
 * mean over images resampled on a common grid otherwise (images may rank different numbers of
 * blocks).
 */
export function plottedCurves(
  result: FaithfulnessResult,
  kind: CurveKind,
): { method: string; points: [number, number][] }[] {
  return result.methods.flatMap((method) => {
    const curves = result.images.flatMap((image) =>
      image.methods
        .filter((m) => m.method === method)
        .flatMap((m) => (m[kind] ? [m[kind].scores] : [])),
    );
    if (curves.length === 0) return [];
    const only = curves.length === 1 ? curves[0]! : undefined;
    const xs = only
      ? only.map((_, step) => step / Math.max(only.length - 1, 1))
      : Array.from({ length: PLOT_POINTS }, (_, i) => i / (PLOT_POINTS - 1));
    const points = xs.map((x, i): [number, number] => [
      x,
      only ? only[i]! : curves.reduce((sum, curve) => sum + sampleAt(curve, x), 0) / curves.length,
    ]);
    return [{ method, points }];
  });
}

/**
 * `report.html` of `pdcr evaluate`: one self-contained page with the table of curve areas and
 * map costs per method, the deletion and insertion curves of every method, the areas per image
 * and the parameters. `chartLibrary` is Chart.js's UMD build, inlined so the page opens offline.
 */
export function faithfulnessReportHtml(result: FaithfulnessResult, chartLibrary: string): string {
  const interval = {
    images: ` (95% CI over the ${result.images.length} images)`,
    draws: ` (95% CI over the ${result.draws} draws of the removal)`,
    none: '',
  }[result.intervalOver];
  const summaryRows = result.summary.map(
    (entry) =>
      `<tr><td>${escapeHtml(entry.method)}</td><td>${formatArea(entry.deletion, result)}</td>` +
      `<td>${formatArea(entry.insertion, result)}</td>` +
      `<td>${entry.forwardPasses.toFixed(0)}</td><td>${entry.images}</td></tr>`,
  );
  const imageRows = result.images.flatMap((image) =>
    image.methods.map(
      (method) =>
        `<tr><td>${escapeHtml(image.image.path ?? '')}</td>` +
        `<td>${image.roi.top}, ${image.roi.left}, ${image.roi.height}, ${image.roi.width}</td>` +
        `<td>${image.baseScore.toFixed(2)}</td><td>${escapeHtml(method.method)}</td>` +
        `<td>${method.deletion ? method.deletion.area.toFixed(2) : '–'}</td>` +
        `<td>${method.insertion ? method.insertion.area.toFixed(2) : '–'}</td>` +
        `<td>${method.forwardPasses}</td></tr>`,
    ),
  );
  const parameters: [string, string][] = [
    ['model', `${result.model.path ?? ''} (sha256 ${result.model.sha256.slice(0, 12)}…)`],
    ['block', `${result.block.height}x${result.block.width}`],
    [
      'removal',
      result.removal === 'patch'
        ? `natural patches from the half of the bank the maps were not estimated with, curves averaged over ${result.draws} draw(s) (the same draws for every method)`
        : result.removal,
    ],
    ['methods', result.methods.join(', ')],
    [
      'outcome',
      `${result.outcome.metric} against the ${result.outcome.reference}, ` +
        `${result.outcome.activation} activation, class ${result.outcome.classIndex}, ` +
        `binarised at ${result.outcome.binarize}`,
    ],
    ['preprocessing', result.preprocessing],
    ['seed', String(result.seed)],
    [
      'cost',
      `${result.forwardPasses} forward passes, ${result.seconds.toFixed(1)} s on ${result.backend}`,
    ],
  ];
  const interrupted = result.complete
    ? ''
    : ' <strong>Interrupted: only what finished is shown.</strong>';
  const parameterRows = parameters.map(
    ([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td></tr>`,
  );
  const data = {
    metric: result.outcome.metric,
    curves: Object.fromEntries(result.curves.map((kind) => [kind, plottedCurves(result, kind)])),
  };
  // `<` is escaped so that no value can close the script element early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const chartTitle = (kind: CurveKind) =>
    kind === 'deletion' ? 'Deletion (lower is better)' : 'Insertion (higher is better)';
  const charts = result.curves.map(
    (kind) =>
      `<div><h2>${chartTitle(kind)}</h2>` +
      `<div class="chart"><canvas id="${kind}"></canvas></div></div>`,
  );

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>PdCR faithfulness report</title>
<style>${reportCss}</style>
</head>
<body>
<h1>PdCR faithfulness report</h1>
<p>Each method's map ranks the blocks outside the RoI, most helpful to the RoI's score first.
Deletion removes them from the image in that order; insertion restores them, in the same order,
into the image with all of them removed. Areas are the mean score along each curve (trapezoids
over the steps spread on [0, 1]), in ${escapeHtml(result.outcome.metric)} points: a faithful map
gives a low deletion area and a high insertion area. Blocks are removed by
<strong>${escapeHtml(result.removal)}</strong>; the removal changes the verdict (a map made with
the same fill has an edge), so compare methods under more than one.
${escapeHtml(result.note)}${interrupted}</p>
<h2>Methods</h2>
<table><tr><th>method</th><th>deletion area${interval}</th>
<th>insertion area${interval}</th><th>map forward passes per image</th><th>images</th></tr>
${summaryRows.join('\n')}</table>
<div class="charts">${charts.join('')}</div>
<h2>Per image</h2>
<table><tr><th>image</th><th>RoI</th><th>base score</th><th>method</th><th>deletion area</th>
<th>insertion area</th><th>map passes</th></tr>
${imageRows.join('\n')}</table>
<h2>Parameters and cost</h2>
<table>${parameterRows.join('')}</table>
<script type="application/json" id="report-data">${json}</script>
<script>${chartLibrary}</script>
<script>${reportScript}</script>
</body>
</html>
`;
}
