// The faithfulness report's own script, inlined into report.html after Chart.js. It reads the
// JSON that report.ts embeds in #report-data: per curve kind, one line per method, each a list
// of [fraction of the ranked blocks removed or restored, RoI score] points.
/* global document, Chart */
const data = JSON.parse(document.getElementById('report-data').textContent);
const palette = ['#d73027', '#4575b4', '#1a9850', '#984ea3', '#ff7f00', '#a65628', '#777777'];
Chart.defaults.maintainAspectRatio = false;

for (const [kind, lines] of Object.entries(data.curves)) {
  new Chart(document.getElementById(kind), {
    type: 'line',
    options: {
      animation: false,
      parsing: false,
      scales: {
        x: {
          type: 'linear',
          min: 0,
          max: 1,
          title: {
            display: true,
            text: `share of ranked blocks ${kind === 'deletion' ? 'removed' : 'restored'}`,
          },
        },
        y: { title: { display: true, text: data.metric } },
      },
    },
    data: {
      datasets: lines.map((line, i) => ({
        label: line.method,
        data: line.points.map(([x, y]) => ({ x, y })),
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        pointRadius: 0,
        borderWidth: 2,
      })),
    },
  });
}
