// The metrics UI's charts (uPlot, loaded before as a global): one per series
// and figure, kept by key and updated in place; those not drawn in a render
// are destroyed, so the page holds charts only for what it shows.
import { el } from './dom.js';

const COLORS = ['#2f6fde', '#238551', '#d9822b', '#c23030', '#7a4fd6'];

/** The page's clock and point length (set from each message), and how to redraw. */
export const clock = { now: 0, pointMs: 2000, rerender: () => {} };

/** uPlot charts by key. */
const charts = new Map();
/** Step and worker charts the user opened, by key. */
const opened = new Set();

/** Points whose slot is over (the newest may still be filling). */
export function complete(points) {
  return points.filter((p) => p.t + clock.pointMs <= clock.now);
}

/** Messages per second of the newest complete point. */
export function rate(points) {
  const done = complete(points);
  const p = done[done.length - 1];
  return p ? p.messages / (clock.pointMs / 1000) : 0;
}

export function chart(key, parent, title, points, kind) {
  let c = charts.get(key);
  const done = complete(points);
  const xs = done.map((p) => p.t / 1000);
  const data =
    kind === 'rate'
      ? [xs, done.map((p) => p.messages / (clock.pointMs / 1000))]
      : [
          xs,
          done.map((p) => (p.count > 0 ? p.p50 / 1e6 : null)),
          done.map((p) => (p.count > 0 ? p.p95 / 1e6 : null)),
          done.map((p) => (p.count > 0 ? p.p99 / 1e6 : null)),
          done.map((p) => (p.count > 0 ? p.p999 / 1e6 : null)),
        ];
  if (c === undefined) {
    const box = el('div', { class: 'chart', 'data-testid': 'chart', 'data-chart': key });
    box.append(el('p', { class: 'title' }, title));
    // Measured in place: the chart takes its grid cell's width.
    parent.append(box);
    const width = chartWidth(box);
    const series =
      kind === 'rate'
        ? [{}, { label: 'msg/s', stroke: COLORS[0], width: 1.5, fill: 'rgba(47,111,222,0.08)' }]
        : [
            {},
            ...['p50', 'p95', 'p99', 'p99.9'].map((label, i) => ({
              label: `${label} ms`,
              stroke: COLORS[i + 1],
              width: 1.3,
            })),
          ];
    const plot = new uPlot(
      { width, height: 150, series, axes: [{}, { size: 56 }], scales: { x: { time: true } } },
      data,
      box,
    );
    c = { plot, box };
    charts.set(key, c);
    resized.observe(box);
  } else {
    c.plot.setData(data);
  }
  if (c.box.parentElement !== parent) parent.append(c.box);
  c.used = true;
  // How many points the chart holds (for tests: the page's memory stays bounded).
  c.box.dataset.points = String(xs.length);
  return c.box;
}

export function pruneCharts() {
  for (const [key, c] of charts) {
    if (c.used) {
      c.used = false;
      continue;
    }
    resized.unobserve(c.box);
    c.plot.destroy();
    c.box.remove();
    charts.delete(key);
  }
}

/** The width a chart fits in its box (its padding taken off). */
function chartWidth(box) {
  return Math.max(200, (box.clientWidth || 320) - 8);
}

/** Refits each chart whose box changed width (a rotated phone, a resized window). */
const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const c = [...charts.values()].find((x) => x.box === entry.target);
    const width = chartWidth(entry.target);
    if (c !== undefined && Math.abs(c.plot.width - width) > 1)
      c.plot.setSize({ width, height: 150 });
  }
});

/** A <details> holding the rate and latency charts of one series, drawn while open. */
export function detailsCharts(parent, key, label, points, testid) {
  let d = parent.querySelector(`details[data-key="${CSS.escape(key)}"]`);
  if (!d) {
    d = el('details', { 'data-key': key, 'data-testid': testid });
    d.append(el('summary', {}, label), el('div', { class: 'charts' }));
    d.addEventListener('toggle', () => {
      if (d.open) opened.add(key);
      else opened.delete(key);
      render();
    });
    parent.append(d);
  }
  d.open = opened.has(key);
  d.dataset.seen = '1';
  if (d.open) {
    const box = d.querySelector('.charts');
    chart(`${key}:rate`, box, `${label}: msg/s`, points, 'rate');
    chart(`${key}:latency`, box, `${label}: latency`, points, 'latency');
  }
}

export function pruneDetails(parent) {
  for (const d of parent.querySelectorAll('details')) {
    if (d.dataset.seen === '1') d.dataset.seen = '';
    else d.remove();
  }
}
