// The metrics UI's page: live over the WebSocket at /live (runtime/metrics/ui-server.ts).
// Plain JavaScript, no build step; charts by uPlot (served from its npm package).
// Memory stays bounded over a day: each series keeps at most the window's points,
// every other list is replaced whole by each message, and charts of series that
// are gone are destroyed.
import { $, el, fmtBytes, fmtCount, fmtNs, fmtTime } from './dom.js';
import { chart, clock, detailsCharts, pruneCharts, pruneDetails, rate } from './charts.js';

/** Hard cap on a series' points, whatever the server sends (the window is 150). */
const MAX_POINTS = 200;
/** Rows of the busiest-mailbox table. */
const BUSIEST = 10;

const state = {
  apps: new Map(),
  selected: null,
  now: 0,
  pointMs: 2000,
  windowMs: 300000,
};
let lastMap = '';

// ---------------------------------------------------------------------------
// Data.

/** `old` points updated by `fresh` (same `t` replaced), within the window, at most MAX_POINTS. */
function mergePoints(old, fresh) {
  const byT = new Map();
  for (const p of old) byT.set(p.t, p);
  for (const p of fresh) byT.set(p.t, p);
  const since = state.now - state.windowMs;
  return [...byT.values()]
    .filter((p) => p.t >= since)
    .sort((a, b) => a.t - b.t)
    .slice(-MAX_POINTS);
}

/** Merges the points of `items` (an update's) into `previous` (the last view's), by key. */
function mergeList(previous, items, key) {
  const before = new Map(previous.map((x) => [key(x), x]));
  for (const x of items) x.points = mergePoints(before.get(key(x))?.points || [], x.points);
}

function apply(msg) {
  state.now = msg.now;
  state.pointMs = msg.pointMs;
  state.windowMs = msg.windowMs;
  clock.now = msg.now;
  clock.pointMs = msg.pointMs;
  const next = new Map();
  for (const app of msg.apps) {
    const prev = msg.type === 'update' ? state.apps.get(app.name) : undefined;
    if (prev) {
      app.points = mergePoints(prev.points, app.points);
      mergeList(prev.workers, app.workers, (w) => w.name);
      mergeList(prev.pipelines, app.pipelines, (p) => p.name);
      mergeList(prev.steps, app.steps, (s) => `${s.pipeline}\u0000${s.step}`);
    } else {
      app.points = mergePoints([], app.points);
      for (const list of [app.workers, app.pipelines, app.steps]) {
        for (const x of list) x.points = mergePoints([], x.points);
      }
    }
    next.set(app.name, app);
  }
  state.apps = next;
  if (!state.apps.has(state.selected)) state.selected = state.apps.keys().next().value ?? null;
  render();
}

// ---------------------------------------------------------------------------
// Rendering.

function tableRows(testid, rows) {
  const body = $(testid).querySelector('tbody');
  body.replaceChildren(...rows);
}

function num(v, testid) {
  return el('td', { class: 'num', 'data-testid': testid }, v);
}

function renderTabs() {
  const nav = $('app-tabs');
  nav.replaceChildren(
    ...[...state.apps.keys()].map((name) => {
      const b = el(
        'button',
        {
          'data-testid': 'app-tab',
          'data-app': name,
          'aria-selected': String(name === state.selected),
        },
        name,
      );
      b.addEventListener('click', () => {
        state.selected = name;
        render();
      });
      return b;
    }),
  );
}

function renderSummary(app) {
  $('app-total-messages').textContent = fmtCount(app.messages);
  $('app-total-messages').dataset.value = String(app.messages);
  $('app-throughput').textContent = fmtCount(rate(app.points));
  for (const p of ['p50', 'p95', 'p99', 'p999']) {
    $(`app-latency-${p}`).textContent = fmtNs(app.latest[p]);
    $(`app-latency-${p}`).dataset.value = String(app.latest[p]);
  }
  const box = $('app-charts');
  chart('app:rate', box, 'completed messages per second', app.points, 'rate');
  chart(
    'app:latency',
    box,
    'start to end latency (ms): p50, p95, p99, p99.9',
    app.points,
    'latency',
  );
}

function renderWorkers(app) {
  tableRows(
    'workers',
    app.workers.map((w) =>
      el(
        'tr',
        { 'data-testid': 'worker-row', 'data-worker': w.name, 'data-status': w.status },
        el('td', {}, w.name),
        el('td', { class: w.status, 'data-testid': 'worker-status' }, w.status),
        el('td', {}, w.pid),
        el('td', {}, w.threads),
        num(fmtCount(w.messages), 'worker-messages'),
        num(fmtCount(rate(w.points)), 'worker-rate'),
        num(fmtNs(w.latest.p50), 'worker-p50'),
        num(fmtNs(w.latest.p99), 'worker-p99'),
      ),
    ),
  );
  const box = $('worker-charts');
  for (const w of app.workers) {
    detailsCharts(
      box,
      `worker:${w.name}`,
      `${w.name}: ingress to egress`,
      w.points,
      'worker-details',
    );
  }
  pruneDetails(box);
}

function renderPipelines(app) {
  const box = $('pipelines');
  const seen = new Set();
  for (const p of app.pipelines) {
    seen.add(p.name);
    let card = box.querySelector(`[data-pipeline="${CSS.escape(p.name)}"]`);
    if (!card) {
      card = el(
        'div',
        { 'data-testid': 'pipeline', 'data-pipeline': p.name },
        el('h3', {}, p.name),
        el('p', { class: 'hint', 'data-testid': 'pipeline-summary' }),
        el('div', { class: 'charts' }),
      );
      box.append(card);
    }
    card.querySelector('[data-testid="pipeline-summary"]').textContent =
      `${fmtCount(p.messages)} messages · ${fmtCount(rate(p.points))} msg/s · ` +
      `p50 ${fmtNs(p.latest.p50)} · p99 ${fmtNs(p.latest.p99)} · p99.9 ${fmtNs(p.latest.p999)}`;
    const charts = card.querySelector('.charts');
    chart(`pipeline:${p.name}:rate`, charts, 'msg/s', p.points, 'rate');
    chart(`pipeline:${p.name}:latency`, charts, 'start to end latency (ms)', p.points, 'latency');
  }
  for (const card of [...box.children]) if (!seen.has(card.dataset.pipeline)) card.remove();
}

function renderSteps(app) {
  tableRows(
    'steps',
    app.steps.map((s) =>
      el(
        'tr',
        {
          'data-testid': 'step-row',
          'data-pipeline': s.pipeline,
          'data-step': s.step,
          'data-kind': s.kind,
        },
        el('td', {}, s.pipeline),
        el('td', {}, s.step),
        el('td', {}, s.kind),
        el(
          'td',
          { class: 'num', 'data-testid': 'step-messages', 'data-value': s.messages },
          fmtCount(s.messages),
        ),
        num(fmtCount(rate(s.points)), 'step-rate'),
        ...['p50', 'p95', 'p99', 'p999'].map((q) =>
          el(
            'td',
            { class: 'num', 'data-testid': `step-${q}`, 'data-value': s.latest[q] },
            fmtNs(s.latest[q]),
          ),
        ),
      ),
    ),
  );
  const box = $('step-charts');
  for (const s of app.steps) {
    detailsCharts(
      box,
      `step:${s.pipeline}\u0000${s.step}`,
      `${s.pipeline} / ${s.step}`,
      s.points,
      'step-details',
    );
  }
  pruneDetails(box);
}

function renderMap(app) {
  const text = `${app.name}\n${JSON.stringify(app.cluster)}`;
  if (text === lastMap) return;
  lastMap = text;
  const box = $('cluster-map');
  const map = app.cluster;
  if (!map) {
    box.replaceChildren(el('p', { class: 'hint' }, 'no routing table reported yet'));
    return;
  }
  const members = map.members.map((m, index) => {
    const threads = Math.max(m.threads, 1);
    const rows = [];
    for (let t = -1; t < threads; t++) {
      const cells = [];
      for (const part of map.partitions) {
        part.owner.forEach((o, g) => {
          if (o !== index || part.thread[g] !== t) return;
          const moving = part.moving.includes(g);
          cells.push(
            el('span', {
              class: moving ? 'kg moving' : 'kg',
              'data-testid': 'key-group',
              'data-partition': part.name,
              'data-group': g,
              'data-moving': moving ? 'true' : undefined,
              title: `${part.name} #${g} on ${m.name} thread ${t < 0 ? '?' : t}${moving ? ' (moving)' : ''}`,
            }),
          );
        });
      }
      if (t < 0 && cells.length === 0) continue;
      rows.push(
        el(
          'div',
          { class: 'map-thread', 'data-testid': 'map-thread', 'data-thread': t },
          el('span', {}, t < 0 ? 'thread ?' : `thread ${t}`),
          el('div', { class: 'groups' }, ...cells),
        ),
      );
    }
    return el(
      'div',
      {
        class: m.live ? 'map-worker' : 'map-worker down',
        'data-testid': 'map-worker',
        'data-worker': m.name,
      },
      el('b', {}, m.name),
      ` · ${map.partitions.reduce((n, p) => n + p.owner.filter((o) => o === index).length, 0)} key groups`,
      ...rows,
    );
  });
  box.replaceChildren(
    el(
      'p',
      { class: 'hint', 'data-testid': 'routing-version' },
      `routing table version ${map.version}`,
    ),
    ...members,
  );
}

function renderCheckpoints(app) {
  const box = $('checkpoints');
  const list = app.checkpoints;
  const longest = Math.max(1, ...list.map((c) => c.durationMs));
  box.replaceChildren(
    ...list.map((c) =>
      el('div', {
        class: c.outcome === 'aborted' ? 'checkpoint aborted' : 'checkpoint',
        'data-testid': 'checkpoint',
        'data-id': c.id,
        'data-outcome': c.outcome,
        style: `height: ${Math.max(3, (c.durationMs / longest) * 100)}%`,
        title: `checkpoint ${c.id}: ${c.durationMs.toFixed(1)} ms, ${fmtBytes(c.bytes)}, ${c.outcome} (${c.workers} workers) at ${fmtTime(c.startedAt)}`,
      }),
    ),
  );
  const last = list[list.length - 1];
  let caption = box.nextElementSibling;
  if (!caption || !caption.classList.contains('checkpoint-last')) {
    caption = el('p', { class: 'checkpoint-last', 'data-testid': 'checkpoint-last' });
    box.after(caption);
  }
  caption.textContent = last
    ? `last: checkpoint ${last.id}, ${last.durationMs.toFixed(1)} ms, ${fmtBytes(last.bytes)}, ${last.outcome}; ${list.length} shown`
    : 'no checkpoint yet (workers run with --run-with-resilience take them)';
}

function renderEvents(app) {
  const items = [...app.events]
    .reverse()
    .map((e) =>
      el(
        'li',
        { 'data-testid': 'event', 'data-kind': e.kind },
        el('time', {}, fmtTime(e.at)),
        el('span', { class: `kind ${e.kind}` }, e.kind),
        `${e.worker}: ${e.text}`,
      ),
    );
  if (items.length === 0) {
    items.push(
      el(
        'li',
        { class: 'hint', 'data-testid': 'no-events' },
        'no event yet: recoveries, migrations, rebalances, joins and leaves show here',
      ),
    );
  }
  $('events').replaceChildren(...items);
}

function renderBackpressure(app) {
  tableRows(
    'sources',
    app.sources.map((s) =>
      el(
        'tr',
        {
          'data-testid': s.muted ? 'muted-source' : 'source',
          'data-source': s.name,
          'data-worker': s.worker,
        },
        el('td', {}, s.worker),
        el('td', {}, s.name),
        num(fmtCount(s.received), 'source-messages'),
        num(fmtBytes(s.bytes), 'source-bytes'),
        el('td', { class: s.muted ? 'muted-source' : 'live' }, s.muted ? 'muted' : 'reading'),
      ),
    ),
  );
  const busiest = [...app.threads]
    .sort((a, b) => b.deepestMailbox - a.deepestMailbox || b.queued - a.queued)
    .slice(0, BUSIEST);
  tableRows(
    'threads',
    busiest.map((t) =>
      el(
        'tr',
        { 'data-testid': 'thread-row', 'data-worker': t.worker, 'data-thread': t.thread },
        el('td', {}, t.worker),
        el('td', {}, t.thread),
        num(`${Math.round(t.utilization * 100)} %`),
        num(fmtCount(t.queued)),
        num(fmtCount(t.deepestMailbox)),
        el('td', {}, t.deepestActor || '–'),
        num(fmtCount(t.entities)),
        num(t.gcMs.toFixed(1)),
      ),
    ),
  );
}

function render() {
  renderTabs();
  const app = state.apps.get(state.selected);
  $('no-apps').hidden = app !== undefined;
  $('app').hidden = app === undefined;
  if (app !== undefined) {
    $('app').dataset.app = app.name;
    renderSummary(app);
    renderWorkers(app);
    renderPipelines(app);
    renderSteps(app);
    renderMap(app);
    renderCheckpoints(app);
    renderEvents(app);
    renderBackpressure(app);
  }
  pruneCharts();
}

// ---------------------------------------------------------------------------
// The live feed: reconnects with a growing delay, up to 10 s.

let delay = 500;
function connect() {
  const status = $('connection-status');
  const ws = new WebSocket(
    `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`,
  );
  ws.onopen = () => {
    delay = 500;
    status.textContent = 'live';
    status.dataset.state = 'live';
  };
  ws.onmessage = (event) => apply(JSON.parse(event.data));
  ws.onclose = () => {
    status.textContent = 'reconnecting';
    status.dataset.state = 'reconnecting';
    setTimeout(connect, delay);
    delay = Math.min(10000, delay * 2);
  };
}
clock.rerender = render;
connect();
