/**
 * Listening and connecting with the cluster secret and TLS, over loopback:
 * who gets a socket, who is refused and with what words, and that a channel
 * never sees a byte of a refused peer.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DATA_PROTOCOL_VERSION,
  encodeDataMessage,
  encodeFrame,
  ErrorCode,
  RooError,
  type AuthChannel,
} from '../../../protocols/index.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import {
  ChannelListener,
  connectChannel,
  MAX_PENDING_HANDSHAKES,
  type ChannelSecurity,
} from '../../../runtime/security/index.js';
import { makeTestCa, type TestCa } from '../../fixtures/tls.js';

const LOCAL = '127.0.0.1';
const SECRET = new TextEncoder().encode('a cluster secret of some length');
const OTHER = new TextEncoder().encode('another secret of the same size');

/** A listener whose accepted sockets echo what they read, and what it refused. */
interface Echo {
  readonly listener: ChannelListener;
  readonly errors: ErrorReporter;
  /** Sockets the channel was given. */
  readonly accepted: Socket[];
  /** Bytes the channel read, over all its sockets. */
  readonly read: Buffer[];
}

const open: { close(): unknown }[] = [];

async function echo(
  security: ChannelSecurity,
  channel: AuthChannel = 'data',
  handshakeTimeoutMs?: number,
): Promise<Echo> {
  const errors = new ErrorReporter(pino({ level: 'silent' }));
  const accepted: Socket[] = [];
  const read: Buffer[] = [];
  const listener = await ChannelListener.listen(
    { host: LOCAL, port: 0 },
    {
      channel,
      security,
      errors,
      ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
      onSocket: (s) => {
        accepted.push(s);
        s.on('data', (chunk: Buffer) => {
          read.push(chunk);
          s.write(chunk);
        });
        s.on('error', () => undefined);
      },
    },
  );
  open.push({ close: () => listener.close() });
  open.push({ close: () => accepted.forEach((s) => s.destroy()) });
  return { listener, errors, accepted, read };
}

/** Writes `text` and resolves with the echo of it. */
async function roundTrip(socket: Socket, text: string): Promise<string> {
  let got = '';
  socket.write(text);
  while (got.length < text.length) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got += chunk.toString();
  }
  return got;
}

function refusals(e: Echo): number {
  return e.errors.counts()[`${ErrorCode.AuthFailed} at data channel handshake`] ?? 0;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a rejection');
}

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

describe('a channel with a cluster secret', () => {
  it('takes a client with the same secret; bytes flow both ways after the handshake', async () => {
    const e = await echo({ secret: SECRET });
    const s = await connectChannel(e.listener.bound, 'data', { secret: SECRET });
    open.push({ close: () => s.destroy() });
    expect(await roundTrip(s, 'hello after the handshake')).toBe('hello after the handshake');
    expect(Buffer.concat(e.read).toString()).toBe('hello after the handshake');
    expect(refusals(e)).toBe(0);
  });

  it('refuses another secret before the channel reads a byte; the client hears why', async () => {
    const e = await echo({ secret: SECRET });
    const err = await rejection(connectChannel(e.listener.bound, 'data', { secret: OTHER }));
    expect(err).toBeInstanceOf(RooError);
    expect((err as RooError).code).toBe(ErrorCode.AuthFailed);
    expect(err.message).toMatch(/refused the cluster handshake: wrong cluster secret/);
    expect(e.accepted).toEqual([]);
    expect(refusals(e)).toBe(1);
  });

  it('refuses a client without the secret writing a valid data frame; the channel reads nothing', async () => {
    const e = await echo({ secret: SECRET });
    const raw = connect(e.listener.bound.port, LOCAL);
    await once(raw, 'connect');
    const frame = encodeFrame(
      encodeDataMessage({
        type: 'batch',
        version: DATA_PROTOCOL_VERSION,
        epoch: 0,
        sender: 'stranger',
        lane: 0,
        bytes: new Uint8Array(8),
      }),
    );
    raw.write(frame);
    raw.on('data', () => undefined);
    await once(raw, 'close');
    expect(e.accepted).toEqual([]);
    expect(e.read).toEqual([]);
    expect(refusals(e)).toBe(1);
  });

  it('closes a silent stranger when the handshake times out', async () => {
    const e = await echo({ secret: SECRET }, 'data', 200);
    const raw = connect(e.listener.bound.port, LOCAL);
    await once(raw, 'connect');
    await once(raw, 'close');
    expect(e.accepted).toEqual([]);
    expect(refusals(e)).toBe(1);
  });

  it(`closes connections beyond ${MAX_PENDING_HANDSHAKES} in their handshakes at once`, async () => {
    const e = await echo({ secret: SECRET });
    const raws: Socket[] = [];
    for (let i = 0; i < MAX_PENDING_HANDSHAKES; i++) {
      const raw = connect(e.listener.bound.port, LOCAL);
      raw.on('error', () => undefined);
      raws.push(raw);
      await once(raw, 'connect');
    }
    open.push({ close: () => raws.forEach((r) => r.destroy()) });
    const extra = connect(e.listener.bound.port, LOCAL);
    extra.on('error', () => undefined);
    await once(extra, 'close');
    expect(refusals(e)).toBe(1);
    expect(raws.every((r) => !r.destroyed)).toBe(true);
  });

  it('refuses a client of another channel, saying what the address serves', async () => {
    const e = await echo({ secret: SECRET }, 'external');
    const err = await rejection(connectChannel(e.listener.bound, 'data', { secret: SECRET }));
    expect(err.message).toMatch(/serves the external channel, not the data channel/);
    expect(e.accepted).toEqual([]);
  });

  it('a client with a secret fails clearly against a listener without one', async () => {
    const e = await echo({});
    const err = await rejection(
      connectChannel(e.listener.bound, 'data', { secret: SECRET }, { timeoutMs: 500 }),
    );
    expect((err as RooError).code).toBe(ErrorCode.AuthFailed);
  });
});

describe('a channel without protection', () => {
  it('passes sockets straight through', async () => {
    const e = await echo({});
    const raw = connect(e.listener.bound.port, LOCAL);
    await once(raw, 'connect');
    open.push({ close: () => raw.destroy() });
    expect(await roundTrip(raw, 'plain')).toBe('plain');
  });
});

describe('a channel with TLS', () => {
  let ca: TestCa;
  let stranger: TestCa;
  let mine: { cert: string; key: string; ca: string };
  let theirs: { cert: string; key: string; ca: string };

  beforeAll(() => {
    ca = makeTestCa('cluster-ca');
    stranger = makeTestCa('stranger-ca');
    mine = ca.read(ca.issue('node'));
    theirs = stranger.read(stranger.issue('intruder'));
  });

  afterAll(() => {
    ca.remove();
    stranger.remove();
  });

  it('connects a client with a certificate of the same CA, with and without the secret', async () => {
    for (const security of [{ tls: mine }, { tls: mine, secret: SECRET }]) {
      const e = await echo(security);
      const s = await connectChannel(e.listener.bound, 'data', security);
      open.push({ close: () => s.destroy() });
      expect(await roundTrip(s, 'over TLS')).toBe('over TLS');
    }
  });

  it('refuses a client whose certificate another CA signed; the channel reads nothing', async () => {
    const e = await echo({ tls: mine });
    // The stranger trusts our CA (it could have our CA certificate) but holds no certificate of it.
    const intruder = { tls: { ...theirs, ca: mine.ca } };
    const err = await rejection(
      (async () => {
        const s = await connectChannel(e.listener.bound, 'data', intruder);
        // TLS 1.3: the server's verdict on the client's certificate arrives after the client's handshake.
        s.write('injected');
        await once(s, 'close');
        throw new Error('closed');
      })(),
    );
    expect(err.message).toBeTruthy();
    expect(e.read).toEqual([]);
    expect(e.accepted).toEqual([]);
  });

  it('a client refuses a server whose certificate another CA signed', async () => {
    const e = await echo({ tls: { ...theirs, ca: mine.ca } });
    const err = await rejection(connectChannel(e.listener.bound, 'data', { tls: mine }));
    expect(err.message).toMatch(/^TLS: /);
  });
});
