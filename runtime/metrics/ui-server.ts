/**
 * The HTTP side of `roo metrics`: the metrics UI's page and its assets (ui/,
 * and uPlot from its npm package: nothing from a CDN), a WebSocket live feed
 * at `/live`, the store as JSON at `/api/state`, and `/metrics` in the
 * Prometheus text format (prometheus.ts).
 *
 * The feed: a new client gets a `snapshot` (metrics-views.ts), then an
 * `update` every `pushIntervalMs` in which the store changed, encoded once
 * for all clients. At most `maxClients` clients: one beyond is answered 503.
 * A client that does not keep up (more than `maxBufferedBytes` unsent) is
 * dropped rather than buffered for: the page reconnects and starts over
 * from a snapshot.
 */
import { readFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import type { Address } from '../../protocols/address.js';
import { checkedTransition, type TransitionTable } from '../../protocols/transition.js';
import type { MetricsStore } from './metrics-store.js';
import { uiMessage } from './metrics-views.js';

/** Default bound on live clients. */
export const DEFAULT_MAX_UI_CLIENTS = 32;
/** Default unsent bytes a client may hold before it is dropped (4 MiB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** What the server serves. */
export interface UiServerOptions {
  /** Port 0 lets the OS pick; read it back from `address`. */
  readonly address: Address;
  readonly store: MetricsStore;
  readonly registry: Registry;
  readonly log: (line: string) => void;
  readonly maxClients?: number;
  /** How often changes are pushed, ms (default 500). */
  readonly pushIntervalMs?: number;
  readonly maxBufferedBytes?: number;
  readonly now?: () => number;
}

/** A running UI server. */
export interface UiServer {
  readonly address: Address;
  /** Live clients now. */
  readonly clients: number;
  /** Clients dropped for not keeping up. */
  readonly dropped: number;
  /** Stops serving and closes every client. */
  close(): Promise<void>;
}

/** States of a UI server. */
export type UiServerState = 'serving' | 'closing' | 'closed';

const TRANSITIONS: TransitionTable<UiServerState> = {
  serving: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** Returns `to` if a UI server may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextUiServerState(from: UiServerState, to: UiServerState): UiServerState {
  return checkedTransition(TRANSITIONS, from, to, 'metrics UI server');
}

/** A file served as it is. */
interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** The page's folder: beside this file in the sources, or the sources' from dist/. */
function uiFolder(): string {
  const beside = fileURLToPath(new URL('./ui/', import.meta.url));
  if (existsSync(`${beside}index.html`)) return beside;
  return fileURLToPath(new URL('../../../runtime/metrics/ui/', import.meta.url));
}

/** The page, its scripts and style, and uPlot, read once at start. */
export function loadAssets(): Map<string, Asset> {
  const dir = uiFolder();
  const require = createRequire(import.meta.url);
  const file = (path: string, type: string): Asset => ({ type, body: readFileSync(path) });
  return new Map([
    ['/', file(`${dir}index.html`, 'text/html; charset=utf-8')],
    ['/app.js', file(`${dir}app.js`, 'text/javascript; charset=utf-8')],
    ['/charts.js', file(`${dir}charts.js`, 'text/javascript; charset=utf-8')],
    ['/dom.js', file(`${dir}dom.js`, 'text/javascript; charset=utf-8')],
    ['/style.css', file(`${dir}style.css`, 'text/css; charset=utf-8')],
    [
      '/vendor/uPlot.iife.min.js',
      file(require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'),
    ],
    [
      '/vendor/uPlot.min.css',
      file(require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'),
    ],
  ]);
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** Starts the server; resolves once it listens. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { store, registry, log } = options;
  const now = options.now ?? Date.now;
  const maxClients = options.maxClients ?? DEFAULT_MAX_UI_CLIENTS;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const assets = loadAssets();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  let state: UiServerState = 'serving';
  let dropped = 0;
  let pushed = -1;

  const send = (ws: WebSocket, text: string): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > maxBuffered) {
      dropped++;
      log(`metrics UI: a client with ${ws.bufferedAmount} bytes unsent was dropped`);
      ws.terminate();
      return;
    }
    ws.send(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
      return;
    }
    if (path === '/metrics') {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, ...SECURITY_HEADERS }).end(text);
      return;
    }
    if (path === '/api/state') {
      const body = JSON.stringify(uiMessage(store, now(), true));
      res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS }).end(body);
      return;
    }
    if (path === '/favicon.ico') {
      // Browsers ask for one; there is none, and no error is worth logging.
      res.writeHead(204, SECURITY_HEADERS).end();
      return;
    }
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (asset === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': asset.type, ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`metrics UI: ${req.url ?? '?'} failed: ${(e as Error).message}`);
      if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS);
      res.end();
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/live' || state !== 'serving') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    if (wss.clients.size >= maxClients) {
      log(`metrics UI: ${maxClients} live clients already; one more was turned away`);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The page only listens; anything it sends is ignored (maxPayload bounds it).
      ws.on('error', () => ws.terminate());
      send(ws, JSON.stringify(uiMessage(store, now(), true)));
    });
  });

  const timer = setInterval(() => {
    if (store.version === pushed || wss.clients.size === 0) return;
    pushed = store.version;
    const text = JSON.stringify(uiMessage(store, now(), false));
    for (const ws of wss.clients) send(ws, text);
  }, options.pushIntervalMs ?? 500);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.address.port, options.address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log(`metrics UI: ${e.message}`));
  const bound = server.address();
  const address: Address =
    typeof bound === 'object' && bound !== null
      ? { host: options.address.host, port: bound.port }
      : options.address;

  return {
    address,
    get clients() {
      return wss.clients.size;
    },
    get dropped() {
      return dropped;
    },
    async close() {
      if (state !== 'serving') return;
      state = nextUiServerState(state, 'closing');
      clearInterval(timer);
      for (const ws of wss.clients) ws.terminate();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      wss.close();
      state = nextUiServerState(state, 'closed');
    },
  };
}
