// The report's own script, inlined into report.html after Chart.js. It reads the data that
// report.ts embeds as JSON in #report-data: the blocks (top, left, height, width, ATE, CI low,
// CI high, n, significant, screened), the summary, the histogram and the effect by distance.
const data = JSON.parse(document.getElementById('report-data').textContent);
const tip = document.getElementById('tip');

function describeBlock(block) {
  const [top, left, , , ate, low, high, n, significant, screened] = block;
  return (
    `block (${top}, ${left}): ATE ${ate.toFixed(3)}, 95% CI [${low.toFixed(3)}, ${high.toFixed(3)}], ` +
    `n = ${n}${significant ? ', significant' : ''}${screened ? ', screened out' : ''}`
  );
}

for (const id of ['overlay', 'heatmap']) {
  const image = document.getElementById(id);
  image.addEventListener('mousemove', (event) => {
    const rect = image.getBoundingClientRect();
    const y = ((event.clientY - rect.top) / rect.height) * data.height;
    const x = ((event.clientX - rect.left) / rect.width) * data.width;
    const block = data.blocks.find(
      ([top, left, height, width]) => y >= top && y < top + height && x >= left && x < left + width,
    );
    if (!block) {
      tip.style.display = 'none';
      return;
    }
    tip.textContent = describeBlock(block);
    tip.style.display = 'block';
    tip.style.left = `${event.clientX + 12}px`;
    tip.style.top = `${event.clientY + 12}px`;
  });
  image.addEventListener('mouseleave', () => (tip.style.display = 'none'));
}

const animation = false;
const noLegend = { legend: { display: false } };
Chart.defaults.maintainAspectRatio = false;
new Chart(document.getElementById('pie'), {
  type: 'pie',
  options: { animation },
  data: {
    labels: ['positive', 'negative', 'zero'],
    datasets: [
      {
        data: [data.summary.positive, data.summary.negative, data.summary.zero],
        backgroundColor: ['#4575b4', '#d73027', '#cccccc'],
      },
    ],
  },
});
new Chart(document.getElementById('histogram'), {
  type: 'bar',
  options: { animation, plugins: noLegend },
  data: {
    labels: data.histogram.labels,
    datasets: [{ data: data.histogram.counts, backgroundColor: '#666' }],
  },
});
new Chart(document.getElementById('distance'), {
  type: 'line',
  options: { animation, plugins: noLegend },
  data: {
    labels: data.distance.labels,
    datasets: [{ data: data.distance.means, borderColor: '#d73027' }],
  },
});
