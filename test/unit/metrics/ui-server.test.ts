import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { formatAddress } from '../../../protocols/address.js';
import {
  startMetricsService,
  type MetricsService,
  type UiMessage,
} from '../../../runtime/metrics/index.js';
import { parsePrometheus, sampleValue } from './prometheus-text.js';
import { APP, connect, frame, hello, report } from './reports.js';

const LOCAL = { host: '127.0.0.1', port: 0 };
let service: MetricsService | undefined;
afterEach(async () => {
  await service?.close();
  service = undefined;
});

async function start(
  maxClients = 4,
): Promise<{ service: MetricsService; base: string; lines: string[] }> {
  const lines: string[] = [];
  service = await startMetricsService({
    listen: LOCAL,
    http: LOCAL,
    log: (l) => lines.push(l),
    maxClients,
    pushIntervalMs: 20,
  });
  return { service, base: `http://${formatAddress(service.ui.address)}`, lines };
}

/** A WebSocket client of /live that collects the messages it gets. */
async function live(
  base: string,
): Promise<{ ws: WebSocket; next: (f: (m: UiMessage) => boolean) => Promise<UiMessage> }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/live`);
  const seen: UiMessage[] = [];
  const waiting: { f: (m: UiMessage) => boolean; resolve: (m: UiMessage) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as UiMessage;
    seen.push(m);
    for (const w of [...waiting]) {
      if (w.f(m)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // A message that came before the caller asked counts too.
  const next = (f: (m: UiMessage) => boolean): Promise<UiMessage> => {
    const found = seen.find(f);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => waiting.push({ f, resolve }));
  };
  return { ws, next };
}

describe('metrics UI server', () => {
  it('serves the page, its script and style, and uPlot from its package', async () => {
    const { base } = await start();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('data-testid="cluster-map"');
    for (const [path, type, marker] of [
      ['/app.js', 'text/javascript; charset=utf-8', 'new WebSocket'],
      ['/style.css', 'text/css; charset=utf-8', '.map-worker'],
      ['/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8', 'uPlot'],
      ['/vendor/uPlot.min.css', 'text/css; charset=utf-8', '.uplot'],
    ] as const) {
      expect(html).toContain(path);
      const r = await fetch(`${base}${path}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(type);
      expect(await r.text()).toContain(marker);
    }
    expect((await fetch(`${base}/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('pushes a snapshot, then updates as reports arrive; /api/state and /metrics agree', async () => {
    const { service: s, base } = await start();
    const client = await live(base);
    const first = await client.next((m) => m.type === 'snapshot');
    expect(first.apps).toEqual([]);
    const worker = await connect(s.receiver.address);
    const at = Date.now();
    worker.write(
      Buffer.concat([frame(hello('initializer')), frame(report('initializer', 0, at, 25))]),
    );
    const update = await client.next((m) => m.type === 'update' && m.apps[0]?.messages === 25);
    const app = update.apps[0]!;
    expect(app.name).toBe(APP);
    expect(app.workers.map((w) => [w.name, w.status])).toEqual([['initializer', 'live']]);
    expect(app.steps.map((x) => x.messages)).toEqual([25, 25, 25, 25]);
    expect(app.points.at(-1)!.messages).toBe(25);
    const state = (await (await fetch(`${base}/api/state`)).json()) as UiMessage;
    expect(state.type).toBe('snapshot');
    expect(state.apps[0]!.steps.map((x) => x.step)).toEqual([
      'lines',
      'split',
      'count',
      'counts out',
    ]);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const page = parsePrometheus(await metrics.text());
    expect(
      sampleValue(page, 'roo_step_messages_total', { worker: 'initializer', step: 'lines' }),
    ).toBe(25);
    expect(sampleValue(page, 'roo_metrics_receiver_connections')).toBe(1);
    worker.destroy();
    client.ws.close();
  });

  it('turns away clients beyond its bound with 503', async () => {
    const { base, service: s, lines } = await start(1);
    const one = await live(base);
    const refused = new WebSocket(`${base.replace('http', 'ws')}/live`);
    const status = await new Promise<number>((resolve) =>
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(503);
    expect(s.ui.clients).toBe(1);
    expect(lines.join('\n')).toMatch(/1 live clients already/);
    one.ws.close();
  });
});
