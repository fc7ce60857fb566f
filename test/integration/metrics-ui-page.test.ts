/**
 * The metrics UI's page in a real browser (headless Chromium through
 * playwright-core), fed by reports built with the real encoder and sent
 * over TCP to a metrics service started here: what the two-worker word
 * count of metrics-ui.test.ts does not show on its own. Moving key groups
 * are highlighted and follow the routing table; muted sources, events and
 * aborted checkpoints appear; several applications get a tab each; a
 * worker that disconnects is shown so; the page fits a phone-sized screen.
 */
import type { Socket } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatAddress } from '../../protocols/address.js';
import {
  startMetricsService,
  type MetricsService,
  type MetricsStoreOptions,
} from '../../runtime/metrics/index.js';
import {
  closed,
  connect,
  frame,
  GROUPS,
  hello,
  movingRouting,
  report,
} from '../unit/metrics/reports.js';
import { launchChromium } from './helpers/browser.js';

const WAIT_MS = 30_000;
let browser: Browser | undefined;
let service: MetricsService | undefined;
const sockets: Socket[] = [];

beforeAll(async () => {
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await service?.close();
  service = undefined;
});

/** A metrics service on free ports, and a page open on its UI. */
async function open(
  viewport = { width: 1200, height: 900 },
  store: MetricsStoreOptions = {},
): Promise<{ page: Page; s: MetricsService }> {
  service = await startMetricsService({
    listen: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: () => undefined,
    pushIntervalMs: 50,
    store,
  });
  const page = await browser!.newPage({ viewport });
  await page.goto(`http://${formatAddress(service.ui.address)}/`);
  await page.waitForSelector('[data-testid="connection-status"][data-state="live"]');
  return { page, s: service };
}

/** A worker's connection, its hello sent. */
async function worker(s: MetricsService, name: string, app?: string): Promise<Socket> {
  const socket = await connect(s.receiver.address);
  sockets.push(socket);
  socket.write(frame(hello(name, app === undefined ? {} : { app })));
  return socket;
}

const movingGroups = (page: Page) =>
  page.$$eval('[data-testid="key-group"][data-moving="true"]', (gs) =>
    gs.map((g) => Number(g.getAttribute('data-group'))).sort((a, b) => a - b),
  );

describe('the metrics UI page', () => {
  it('highlights moving key groups, muted sources, events and aborted checkpoints as they come', async () => {
    const { page, s } = await open();
    const a = await worker(s, 'initializer');
    const b = await worker(s, 'worker2');
    const now = Date.now();
    a.write(frame(report('initializer', 0, now, 10)));
    b.write(frame(report('worker2', 0, now, 10)));
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="key-group"]').length === n,
      GROUPS,
      { timeout: WAIT_MS },
    );
    expect(await movingGroups(page)).toEqual([]);
    expect(await page.locator('[data-testid="no-events"]').count()).toBe(1);

    // A migration starts: groups 2 and 5 move; the source is muted; a checkpoint aborts.
    a.write(
      frame(
        report('initializer', 1, now + 2000, 10, {
          routing: movingRouting('initializer', [2, 5]),
          sources: [{ name: 'lines', received: 10, bytes: 100, muted: true }],
          checkpoints: [{ id: 7, startedAt: now, durationMs: 30, bytes: 900, outcome: 'aborted' }],
          events: [{ at: now + 1000, kind: 'migration', text: 'moving key groups 2, 5' }],
        }),
      ),
    );
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="key-group"][data-moving="true"]').length === 2,
      undefined,
      { timeout: WAIT_MS },
    );
    expect(await movingGroups(page)).toEqual([2, 5]);
    expect(await page.$$eval('[data-testid="key-group"].moving', (gs) => gs.length)).toBe(2);
    await page.waitForSelector('[data-testid="muted-source"][data-worker="initializer"]');
    await page.waitForSelector('[data-testid="checkpoint"][data-id="7"][data-outcome="aborted"]');
    const events = await page.$$eval('[data-testid="event"]', (es) =>
      es.map((e) => [e.getAttribute('data-kind'), e.textContent]),
    );
    expect(events).toHaveLength(1);
    expect(events[0]![0]).toBe('migration');
    expect(events[0]![1]).toContain('initializer: moving key groups 2, 5');

    // The migration is over: nothing moves, the source reads again.
    a.write(frame(report('initializer', 2, now + 4000, 10)));
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="key-group"][data-moving="true"]').length === 0,
      undefined,
      { timeout: WAIT_MS },
    );
    await page.waitForSelector('[data-testid="source"][data-worker="initializer"]');

    // A worker that disconnects is shown so.
    b.end();
    await closed(b);
    await page.waitForSelector(
      '[data-testid="worker-row"][data-worker="worker2"][data-status="disconnected"]',
      {
        timeout: WAIT_MS,
      },
    );
    await page.close();
  });

  it('gives each application a tab of its own', async () => {
    const { page, s } = await open();
    const a = await worker(s, 'initializer', 'alpha');
    const b = await worker(s, 'initializer', 'beta');
    a.write(frame(report('initializer', 0, Date.now(), 4, { app: 'alpha' })));
    b.write(frame(report('initializer', 0, Date.now(), 9, { app: 'beta' })));
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="app-tab"]').length === 2,
      undefined,
      { timeout: WAIT_MS },
    );
    expect(await page.getAttribute('[data-testid="app"]', 'data-app')).toBe('alpha');
    await page.waitForSelector('[data-testid="app-total-messages"][data-value="4"]');
    await page.click('[data-testid="app-tab"][data-app="beta"]');
    await page.waitForSelector('[data-testid="app-total-messages"][data-value="9"]');
    expect(await page.getAttribute('[data-testid="app"]', 'data-app')).toBe('beta');
    expect(
      await page.getAttribute('[data-testid="app-tab"][data-app="beta"]', 'aria-selected'),
    ).toBe('true');
    await page.close();
  });

  it('fits a phone-sized screen: nothing but the tables scrolls sideways', async () => {
    const { page, s } = await open({ width: 390, height: 844 });
    const a = await worker(s, 'initializer');
    a.write(frame(report('initializer', 0, Date.now(), 10)));
    await page.waitForSelector('[data-testid="step-row"]');
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="app-charts"] canvas').length === 2,
    );
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      view: window.innerWidth,
    }));
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    await page.close();
  });

  it('holds no more than the window of points however long it stays open', async () => {
    // 100 ms points and a 2 s window: the page sees many windows pass in a few seconds.
    const { page, s } = await open(undefined, { pointMs: 100, windowMs: 2000 });
    const a = await worker(s, 'initializer');
    const chart = '[data-testid="chart"][data-chart="app:rate"]';
    let seq = 0;
    /** Resolved once the feed has sent reports up to `at`. */
    let sent: { at: number; resolve: () => void } | undefined;
    const feed = setInterval(() => {
      a.write(frame(report('initializer', seq++, Date.now(), 5)));
      if (sent !== undefined && seq >= sent.at) sent.resolve();
    }, 25);
    try {
      // The chart fills to about one window of points...
      await page.waitForFunction(
        ([selector, n]) =>
          Number(document.querySelector(selector)?.getAttribute('data-points')) >= n,
        [chart, 15] as const,
        { timeout: WAIT_MS },
      );
      // ...and after three more windows' worth of reports it holds no more than that.
      await new Promise<void>((resolve) => (sent = { at: seq + 250, resolve }));
      const points = Number(await page.getAttribute(chart, 'data-points'));
      expect(points).toBeGreaterThanOrEqual(15);
      expect(points).toBeLessThanOrEqual(21);
    } finally {
      clearInterval(feed);
    }
    await page.close();
  });
});
