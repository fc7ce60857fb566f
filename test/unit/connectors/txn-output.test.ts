/**
 * An exactly-once sink's connection (runtime/connectors/txn-output.ts) over
 * loopback: it opens with the magic and hello, reports the receiver's acks,
 * takes a receiver that stays silent (an older roo receive) or sends what is
 * not an ack for one that does not acknowledge, and starts over on a new
 * connection after the old one breaks.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeSinkTxnAck,
  TxnConnectionParser,
  type TxnConnectionEvent,
} from '../../../protocols/index.js';
import { TxnOutput, type TxnOutputEvents } from '../../../runtime/connectors/txn-output.js';
import { createLogger } from '../../../runtime/logging/logger.js';

const log = createLogger({ test: 'txn-output' });
log.level = 'silent';

const servers: Server[] = [];
const outputs: TxnOutput[] = [];
afterEach(async () => {
  await Promise.all(outputs.splice(0).map((o) => o.close()));
  for (const s of servers.splice(0)) s.close();
});

/** A receiver stand-in: `next()` resolves with each accepted connection in turn. */
async function receiver(): Promise<{ port: number; next: () => Promise<Socket> }> {
  const accepted: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  let taken = 0;
  const server = createServer((socket) => {
    accepted.push(socket);
    waiting.shift()?.(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    next: () => {
      const i = taken++;
      const ready = accepted[i];
      return ready !== undefined
        ? Promise.resolve(ready)
        : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/**
 * Events as they come; `next(kind)` resolves when the newest event is of
 * that kind (the prefix), at once if it is already.
 */
function recorder() {
  const seen: string[] = [];
  const waiters: { kind: string; resolve: () => void }[] = [];
  const note = (e: string): void => {
    seen.push(e);
    for (const w of waiters.filter((w) => e.startsWith(w.kind))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const events: TxnOutputEvents = {
    connected: () => note('connected'),
    disconnected: () => note('disconnected'),
    ack: (applied) => note(`ack ${applied}`),
    noAcks: () => note('no-acks'),
    writable: () => undefined,
  };
  const next = (kind: string) =>
    new Promise<void>((resolve) => {
      if (seen.at(-1)?.startsWith(kind) === true) resolve();
      else waiters.push({ kind, resolve });
    });
  return { seen, events, next };
}

function open(port: number, events: TxnOutputEvents, ackWaitMs: number): TxnOutput {
  const out = new TxnOutput({ host: '127.0.0.1', port }, 'w1/s', log, ackWaitMs);
  out.events = events;
  outputs.push(out);
  return out;
}

/** The hello a sink's connection opened with, read as a receiver reads it. */
async function helloOf(socket: Socket): Promise<string> {
  const parser = new TxnConnectionParser();
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) =>
      parser.push(chunk, (e: TxnConnectionEvent) => {
        if (e.kind === 'hello') resolve(e.sink);
      }),
    );
  });
}

describe('TxnOutput', () => {
  it("opens with the hello and reports the receiver's acks", async () => {
    const r = await receiver();
    const rec = recorder();
    open(r.port, rec.events, 10_000);
    const socket = await r.next();
    expect(await helloOf(socket)).toBe('w1/s');
    socket.write(encodeSinkTxnAck('w1/s', null));
    await rec.next('ack');
    socket.write(Buffer.concat([encodeSinkTxnAck('w1/s', 4), encodeSinkTxnAck('w1/s', 7)]));
    await rec.next('ack 7');
    expect(rec.seen).toEqual(['connected', 'ack null', 'ack 4', 'ack 7']);
  });

  it('a receiver silent after the hello is one that does not acknowledge', async () => {
    const r = await receiver();
    const rec = recorder();
    open(r.port, rec.events, 100);
    await r.next();
    await rec.next('no-acks');
    expect(rec.seen).toEqual(['connected', 'no-acks']);
  });

  it('a receiver that sends what is not an ack is taken for one that does not acknowledge', async () => {
    const r = await receiver();
    const rec = recorder();
    open(r.port, rec.events, 10_000);
    const socket = await r.next();
    socket.write(encodeSinkTxnAck('another/sink', 1));
    await rec.next('no-acks');
    expect(rec.seen).toEqual(['connected', 'no-acks']);
  });

  it('after a broken connection, a new one with its own hello and its own wait for acks', async () => {
    const r = await receiver();
    const rec = recorder();
    open(r.port, rec.events, 10_000);
    const first = await r.next();
    first.write(encodeSinkTxnAck('w1/s', 2));
    await rec.next('ack');
    first.destroy();
    await rec.next('disconnected');
    const second = await r.next();
    expect(await helloOf(second)).toBe('w1/s');
    second.write(encodeSinkTxnAck('w1/s', 2));
    await rec.next('ack');
    expect(rec.seen).toEqual(['connected', 'ack 2', 'disconnected', 'connected', 'ack 2']);
  });
});
