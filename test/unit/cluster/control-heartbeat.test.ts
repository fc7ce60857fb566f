/**
 * Heartbeats on the control channel's transport, over loopback with a short
 * timeout: an end that beats stays, an end that sends nothing is reported
 * silent (server) or has its connection closed (client), and heartbeats
 * never reach the node.
 */
import { once } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeControlMessage, encodeControlMessage } from '../../../protocols/index.js';
import { ControlClient, ControlServer } from '../../../runtime/cluster/control-transport.js';

const TIMEOUT_MS = 500;
const log = pino({ level: 'silent' });
const open: (() => unknown)[] = [];

afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

describe('control channel heartbeats', () => {
  it('the server reports a connection that sends nothing, never one that beats', async () => {
    const messages: Buffer[] = [];
    const silent: { connection: number; silentMs: number; timeoutMs: number }[] = [];
    let reported: () => void = () => undefined;
    const reportedOnce = new Promise<void>((resolve) => (reported = resolve));
    const server = await ControlServer.listen(
      { host: '127.0.0.1', port: 0 },
      {
        message: (_c, bytes) => messages.push(bytes),
        closed: () => undefined,
        silent: (connection, silentMs, timeoutMs) => {
          silent.push({ connection, silentMs, timeoutMs });
          server.drop(connection, 'silent');
          reported();
        },
      },
      log,
      { heartbeatTimeoutMs: TIMEOUT_MS },
    );
    open.push(() => server.close());
    const clientClosed: string[] = [];
    // Connection #1: a worker's client, which beats.
    const client = await ControlClient.connect(
      server.bound!,
      { message: () => undefined, closed: () => clientClosed.push('closed') },
      log,
      5_000,
      undefined,
      { heartbeatTimeoutMs: TIMEOUT_MS },
    );
    open.push(() => client.close());
    client.send(encodeControlMessage({ type: 'start', version: 1 }));
    // Connection #2, opened later: a bare WebSocket that never says anything.
    const mute = new WebSocket(`ws://127.0.0.1:${server.bound!.port}`);
    const heard: string[] = [];
    mute.on('message', (data: Buffer) => heard.push(decodeControlMessage(data).type));
    open.push(() => mute.terminate());
    await once(mute, 'open');
    await reportedOnce;
    // Only the mute one, after more than the timeout; the client, older, still stands.
    expect(silent).toHaveLength(1);
    expect(silent[0]!.connection).toBe(2);
    expect(silent[0]!.silentMs).toBeGreaterThan(TIMEOUT_MS);
    expect(silent[0]!.timeoutMs).toBe(TIMEOUT_MS);
    expect(clientClosed).toEqual([]);
    // The server beat to the mute one; the node saw only the client's real message.
    expect(heard.every((t) => t === 'heartbeat')).toBe(true);
    expect(heard.length).toBeGreaterThan(0);
    expect(messages.map((b) => decodeControlMessage(b).type)).toEqual(['start']);
  });

  it('a client closes its connection to a server that sends nothing', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    open.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on('connection', (ws) => ws.on('error', () => undefined));
    const port = (wss.address() as { port: number }).port;
    let closed: () => void = () => undefined;
    const closedOnce = new Promise<void>((resolve) => (closed = resolve));
    const client = await ControlClient.connect(
      { host: '127.0.0.1', port },
      { message: () => undefined, closed },
      log,
      5_000,
      undefined,
      { heartbeatTimeoutMs: TIMEOUT_MS },
    );
    open.push(() => client.close());
    await closedOnce;
  });
});
