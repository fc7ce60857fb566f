import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  AUTH_CHANNELS,
  AUTH_NONCE_BYTES,
  AUTH_PROOF_BYTES,
  AUTH_PROTOCOL_VERSION,
  authClientStep,
  authProof,
  authServerStep,
  decodeAuthMessage,
  encodeAuthFrame,
  encodeAuthMessage,
  ErrorCode,
  FrameDecoder,
  MAX_AUTH_MESSAGE_BYTES,
  RooError,
  startAuthClient,
  startAuthServer,
  validateAuthMessage,
  verifyAuthProof,
  type AuthChannel,
  type AuthClientSession,
  type AuthMessage,
  type AuthServerSession,
  type AuthStep,
} from '../../../protocols/index.js';

const V = AUTH_PROTOCOL_VERSION;
const packr = new Packr({ useRecords: false });
const pack = (value: unknown): Uint8Array => new Uint8Array(packr.pack(value));

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectRooError(e: unknown, code: string, message?: RegExp): void {
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  if (message !== undefined) expect((e as RooError).message).toMatch(message);
}

const nonce = fc.uint8Array({ minLength: AUTH_NONCE_BYTES, maxLength: AUTH_NONCE_BYTES });
const proofBytes = fc.uint8Array({ minLength: AUTH_PROOF_BYTES, maxLength: AUTH_PROOF_BYTES });
const channel: fc.Arbitrary<AuthChannel> = fc.constantFrom(...AUTH_CHANNELS);
const secret = fc.uint8Array({ minLength: 1, maxLength: 64 });
const code = fc.constantFrom(...Object.values(ErrorCode));
const refusalText = fc
  .string({ minLength: 1, maxLength: 300 })
  .filter((s) => !/[\uD800-\uDFFF]/.test(s));

const message: fc.Arbitrary<AuthMessage> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    version: fc.constant(V),
    channel,
    nonce,
  }),
  fc.record({ type: fc.constant('challenge' as const), version: fc.constant(V), nonce }),
  fc.record({ type: fc.constant('proof' as const), version: fc.constant(V), proof: proofBytes }),
  fc.record({ type: fc.constant('welcome' as const), version: fc.constant(V), proof: proofBytes }),
  fc.record({
    type: fc.constant('refused' as const),
    version: fc.constant(V),
    code,
    message: refusalText,
  }),
);

describe('cluster handshake messages', () => {
  it('round-trip through encode / decode', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeAuthMessage(m);
        expect(bytes.length).toBeLessThanOrEqual(MAX_AUTH_MESSAGE_BYTES);
        expect(decodeAuthMessage(bytes)).toEqual(m);
      }),
    );
  });

  it('round-trip through a frame split at any points', () => {
    fc.assert(
      fc.property(message, fc.array(fc.nat(), { maxLength: 5 }), (m, cuts) => {
        const frame = encodeAuthFrame(m);
        const points = [...new Set(cuts.map((c) => c % (frame.length + 1)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder(MAX_AUTH_MESSAGE_BYTES);
        const got: AuthMessage[] = [];
        let from = 0;
        for (const p of [...points, frame.length]) {
          decoder.push(frame.subarray(from, p), (payload) => got.push(decodeAuthMessage(payload)));
          from = p;
        }
        expect(got).toEqual([m]);
      }),
    );
  });

  it('refuses every strict prefix of an encoding as a bad message', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const bytes = encodeAuthMessage(m);
        const prefix = bytes.subarray(0, cut % bytes.length);
        expectRooError(
          thrown(() => decodeAuthMessage(prefix)),
          ErrorCode.BadMessage,
        );
      }),
    );
  });

  it('garbage either decodes to a valid message or is refused with a RooError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          const m = decodeAuthMessage(bytes);
          expect(validateAuthMessage(m)).toEqual(m);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
          expect([ErrorCode.BadMessage, ErrorCode.BadVersion]).toContain((e as RooError).code);
        }
      }),
    );
  });

  it('garbage maps are refused with a RooError', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.anything()), (record) => {
        try {
          validateAuthMessage(record);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
    );
  });

  it('refuses another version, a wrong-sized nonce or proof, an unknown channel, extra fields', () => {
    const n = new Uint8Array(AUTH_NONCE_BYTES);
    expectRooError(
      thrown(() =>
        decodeAuthMessage(pack({ type: 'hello', version: 2, channel: 'data', nonce: n })),
      ),
      ErrorCode.BadVersion,
      /version 2 is not supported/,
    );
    expectRooError(
      thrown(() =>
        decodeAuthMessage(pack({ type: 'hello', version: V, channel: 'data', nonce: n.slice(1) })),
      ),
      ErrorCode.BadMessage,
      /must be 32 bytes/,
    );
    expectRooError(
      thrown(() =>
        decodeAuthMessage(pack({ type: 'hello', version: V, channel: 'sinks', nonce: n })),
      ),
      ErrorCode.BadMessage,
      /channel/,
    );
    expectRooError(
      thrown(() => decodeAuthMessage(pack({ type: 'proof', version: V, proof: n, secret: 'x' }))),
      ErrorCode.BadMessage,
      /unexpected field "secret"/,
    );
    expectRooError(
      thrown(() => decodeAuthMessage(new Uint8Array(MAX_AUTH_MESSAGE_BYTES + 1))),
      ErrorCode.BadMessage,
      /exceeds/,
    );
    expectRooError(
      thrown(() =>
        decodeAuthMessage(pack({ type: 'refused', version: V, code: 'NOPE', message: 'x' })),
      ),
      ErrorCode.BadMessage,
      /error code/,
    );
  });
});

/** Runs a whole handshake between a client and a server; returns each side's last step. */
function exchange(
  client: { secret: Uint8Array; channel: AuthChannel; nonce: Uint8Array },
  server: { secret: Uint8Array; channel: AuthChannel; nonce: Uint8Array },
): { client: AuthStep<AuthClientSession>; server: AuthStep<AuthServerSession> } {
  let c = startAuthClient(client.secret, client.channel, client.nonce);
  let s: AuthStep<AuthServerSession> = {
    session: startAuthServer(server.secret, server.channel, server.nonce),
  };
  // Every message crosses the wire as bytes; each side takes the other's latest message in turn.
  const wire = (m: AuthMessage) => decodeAuthMessage(encodeAuthMessage(m));
  let pending: { to: 'server' | 'client'; message: AuthMessage } | undefined =
    c.send === undefined ? undefined : { to: 'server', message: c.send };
  while (pending !== undefined) {
    const { to, message } = pending;
    pending = undefined;
    if (to === 'server' && s.outcome === undefined) {
      s = authServerStep(s.session, wire(message));
      if (s.send !== undefined) pending = { to: 'client', message: s.send };
    } else if (to === 'client' && c.outcome === undefined) {
      c = authClientStep(c.session, wire(message));
      if (c.send !== undefined) pending = { to: 'server', message: c.send };
    }
  }
  return { client: c, server: s };
}

describe('cluster handshake sessions', () => {
  it('the same secret on both sides: both accept', () => {
    fc.assert(
      fc.property(secret, channel, nonce, nonce, (k, ch, cn, sn) => {
        fc.pre(Buffer.compare(cn, sn) !== 0);
        const r = exchange(
          { secret: k, channel: ch, nonce: cn },
          { secret: k, channel: ch, nonce: sn },
        );
        expect(r.server.outcome).toBe('accepted');
        expect(r.client.outcome).toBe('accepted');
        expect(r.server.session.phase).toBe('accepted');
        expect(r.client.session.phase).toBe('accepted');
      }),
    );
  });

  it('another secret: the server refuses with ROO_ERR_AUTH_FAILED and the client hears why', () => {
    fc.assert(
      fc.property(secret, secret, channel, nonce, nonce, (k1, k2, ch, cn, sn) => {
        fc.pre(Buffer.compare(k1, k2) !== 0 && Buffer.compare(cn, sn) !== 0);
        const r = exchange(
          { secret: k1, channel: ch, nonce: cn },
          { secret: k2, channel: ch, nonce: sn },
        );
        expectRooError(r.server.outcome, ErrorCode.AuthFailed, /wrong cluster secret/);
        expect(r.server.send?.type).toBe('refused');
        expectRooError(r.client.outcome, ErrorCode.AuthFailed, /refused.*wrong cluster secret/);
        // Trying again with the same secret cannot help: the client is told so.
        expect((r.client.outcome as RooError).details).toEqual({ definitive: true });
      }),
    );
  });

  it('a client proof replayed on another connection (another server nonce) is refused', () => {
    fc.assert(
      fc.property(secret, channel, nonce, nonce, nonce, (k, ch, cn, sn1, sn2) => {
        fc.pre(Buffer.compare(sn1, sn2) !== 0 && Buffer.compare(cn, sn1) !== 0);
        fc.pre(Buffer.compare(cn, sn2) !== 0);
        // A recorded exchange: the client's hello and proof for server nonce sn1.
        const proof = authProof(k, 'client', ch, cn, sn1);
        // Played against a new connection, whose server picks sn2.
        const s1 = authServerStep(startAuthServer(k, ch, sn2), {
          type: 'hello',
          version: V,
          channel: ch,
          nonce: cn,
        });
        const s2 = authServerStep(s1.session, { type: 'proof', version: V, proof });
        expectRooError(s2.outcome, ErrorCode.AuthFailed);
        expect(s2.send?.type).toBe('refused');
      }),
    );
  });

  it('a server proof replayed to another client (another client nonce) is refused', () => {
    fc.assert(
      fc.property(secret, channel, nonce, nonce, nonce, (k, ch, cn1, cn2, sn) => {
        fc.pre(Buffer.compare(cn1, cn2) !== 0 && Buffer.compare(cn2, sn) !== 0);
        const welcome = authProof(k, 'server', ch, cn1, sn);
        const c0 = startAuthClient(k, ch, cn2);
        const c1 = authClientStep(c0.session, { type: 'challenge', version: V, nonce: sn });
        const c2 = authClientStep(c1.session, { type: 'welcome', version: V, proof: welcome });
        expectRooError(c2.outcome, ErrorCode.AuthFailed, /does not hold this cluster secret/);
        expect((c2.outcome as RooError).details).toEqual({ definitive: true });
      }),
    );
  });

  it('proofs are bound to the role and the channel', () => {
    fc.assert(
      fc.property(secret, nonce, nonce, (k, cn, sn) => {
        const p = authProof(k, 'client', 'data', cn, sn);
        expect(verifyAuthProof(k, 'client', 'data', cn, sn, p)).toBe(true);
        expect(verifyAuthProof(k, 'server', 'data', cn, sn, p)).toBe(false);
        expect(verifyAuthProof(k, 'client', 'external', cn, sn, p)).toBe(false);
        expect(verifyAuthProof(k, 'client', 'data', sn, cn, p)).toBe(Buffer.compare(cn, sn) === 0);
      }),
    );
  });

  it('a client for another channel is refused with what the address serves', () => {
    const k = new Uint8Array([1, 2, 3]);
    const r = exchange(
      { secret: k, channel: 'data', nonce: new Uint8Array(32).fill(1) },
      { secret: k, channel: 'external', nonce: new Uint8Array(32).fill(2) },
    );
    expectRooError(r.server.outcome, ErrorCode.AuthFailed, /serves the external channel/);
    expectRooError(r.client.outcome, ErrorCode.AuthFailed, /serves the external channel/);
  });

  it('a reflected nonce is refused on either side', () => {
    const k = new Uint8Array([9]);
    const n = new Uint8Array(32).fill(7);
    const s = authServerStep(startAuthServer(k, 'control', n), {
      type: 'hello',
      version: V,
      channel: 'control',
      nonce: n,
    });
    expectRooError(s.outcome, ErrorCode.AuthFailed, /own nonce/);
    const c = authClientStep(startAuthClient(k, 'control', n).session, {
      type: 'challenge',
      version: V,
      nonce: n,
    });
    expectRooError(c.outcome, ErrorCode.AuthFailed, /echoed/);
  });

  it('a message out of turn fails the handshake', () => {
    const k = new Uint8Array([5]);
    const s = authServerStep(startAuthServer(k, 'control', new Uint8Array(32)), {
      type: 'proof',
      version: V,
      proof: new Uint8Array(32),
    });
    expectRooError(s.outcome, ErrorCode.BadMessage, /out of turn/);
    expect(s.send?.type).toBe('refused');
    const c = authClientStep(startAuthClient(k, 'control', new Uint8Array(32)).session, {
      type: 'welcome',
      version: V,
      proof: new Uint8Array(32),
    });
    expectRooError(c.outcome, ErrorCode.BadMessage, /out of turn/);
    expect(() =>
      authClientStep(c.session, { type: 'challenge', version: V, nonce: new Uint8Array(32) }),
    ).toThrow(/failed cluster handshake took a message/);
  });
});
