import { once } from 'node:events';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeSourceAckMessage,
  encodeFrame,
  encodeSourceAckOpening,
  ErrorCode,
  FrameDecoder,
  RooError,
  SOURCE_ACK_MAGIC,
  type SourceAckMessage,
} from '../../../protocols/index.js';
import { AckedStreams } from '../../../runtime/connectors/acked-streams.js';
import { TcpListener } from '../../../runtime/connectors/tcp-listener.js';
import type { Logger } from '../../../runtime/logging/logger.js';

/** An AckedStreams with recording callbacks. */
function harness(options: { acks?: boolean; maxStreams?: number; maxFrameBytes?: number } = {}) {
  const delivered: string[] = [];
  const written = new Map<number, SourceAckMessage[]>();
  const decoders = new Map<number, FrameDecoder>();
  const dropped: number[] = [];
  const reports: { err: unknown; connection: number }[] = [];
  const streams = new AckedStreams({
    acks: options.acks ?? true,
    ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
    ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
    write: (connection, bytes) => {
      let decoder = decoders.get(connection);
      if (decoder === undefined) decoders.set(connection, (decoder = new FrameDecoder()));
      const list = written.get(connection) ?? [];
      written.set(connection, list);
      decoder.push(Buffer.from(bytes), (p) => list.push(decodeSourceAckMessage(p)));
    },
    drop: (connection) => dropped.push(connection),
    onData: (payload) => delivered.push(payload.toString()),
    report: (err, connection) => reports.push({ err, connection }),
  });
  return {
    streams,
    delivered,
    dropped,
    reports,
    /** Messages written to `connection`. */
    to: (connection: number) => written.get(connection) ?? [],
    /** Opens `connection` as a sender of `stream`. */
    hello: (connection: number, stream: string) =>
      streams.push(connection, encodeSourceAckOpening(stream)),
    /** Sends data frames on `connection`. */
    send: (connection: number, ...payloads: string[]) =>
      streams.push(connection, Buffer.concat(payloads.map((p) => encodeFrame(Buffer.from(p))))),
  };
}

const resume = (position: number, acks = true): SourceAckMessage => ({
  type: 'resume',
  version: 1,
  position,
  acks,
});
const ack = (position: number): SourceAckMessage => ({ type: 'ack', version: 1, position });
const frames = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `f${from + i}`);

describe('AckedStreams', () => {
  it('answers a hello with resume 0, delivers data and counts the position', () => {
    const h = harness();
    h.hello(1, 'a');
    expect(h.to(1)).toEqual([resume(0)]);
    expect(h.streams.streamOf(1)).toBe('a');
    h.send(1, ...frames(0, 3));
    expect(h.delivered).toEqual(frames(0, 3));
    expect(h.streams.positions()).toEqual({ a: 3 });
  });

  it('closeForGood tells every acknowledging sender why, and no plain connection', () => {
    const h = harness();
    h.hello(1, 'a');
    h.hello(2, 'b');
    h.streams.push(3, Buffer.from([0, 0, 0, 1, 120]));
    h.streams.closeForGood(
      'ROO_ERR_SNAPSHOT_ENCODE_FAILED',
      'state of partition p cannot be encoded',
    );
    const close: SourceAckMessage = {
      type: 'close',
      version: 1,
      code: 'ROO_ERR_SNAPSHOT_ENCODE_FAILED',
      reason: 'state of partition p cannot be encoded',
    };
    expect(h.to(1)).toEqual([resume(0), close]);
    expect(h.to(2)).toEqual([resume(0), close]);
    expect(h.to(3)).toEqual([]);
  });

  it('passes plain connections straight through, with no position', () => {
    const h = harness();
    h.streams.push(7, Buffer.from([0]));
    h.streams.push(7, Buffer.concat([Buffer.from([0, 0, 2]), Buffer.from('hi')]));
    h.send(7, 'there');
    expect(h.delivered).toEqual(['hi', 'there']);
    expect(h.streams.positions()).toEqual({});
    expect(h.to(7)).toEqual([]);
    h.streams.closed(7);
    expect(h.reports).toEqual([]);
  });

  it('takes the magic and hello split at every byte', () => {
    const opening = Buffer.concat([encodeSourceAckOpening('s'), encodeFrame(Buffer.from('x'))]);
    for (let cut = 0; cut <= opening.length; cut++) {
      const h = harness();
      h.streams.push(1, opening.subarray(0, cut));
      h.streams.push(1, opening.subarray(cut));
      expect(h.delivered).toEqual(['x']);
      expect(h.to(1)).toEqual([resume(0)]);
    }
  });

  it('resumes a reconnecting stream at its committed position and skips the resent overlap', () => {
    const h = harness();
    h.hello(1, 'a');
    h.send(1, ...frames(0, 5));
    h.streams.committed({ a: 3 });
    expect(h.to(1)).toEqual([resume(0), ack(3)]);
    h.streams.closed(1);

    h.hello(2, 'a');
    expect(h.to(2)).toEqual([resume(3)]);
    // The sender resends 3 and 4 (consumed, not yet covered), then new frames.
    h.send(2, ...frames(3, 8));
    expect(h.delivered).toEqual(frames(0, 8));
    expect(h.streams.skipped).toBe(2);
    expect(h.streams.positions()).toEqual({ a: 8 });
  });

  it('without acks resumes at the consumed position and says acks: false', () => {
    const h = harness({ acks: false });
    h.hello(1, 'a');
    h.send(1, ...frames(0, 4));
    h.streams.closed(1);
    h.hello(2, 'a');
    expect(h.to(1)).toEqual([resume(0, false)]);
    expect(h.to(2)).toEqual([resume(4, false)]);
    h.send(2, 'f4');
    expect(h.delivered).toEqual(frames(0, 5));
  });

  it('a second connection of a stream takes it over: the old one is dropped and ignored', () => {
    const h = harness();
    h.hello(1, 'a');
    h.send(1, ...frames(0, 2));
    h.hello(2, 'a');
    expect(h.dropped).toEqual([1]);
    expect(h.to(2)).toEqual([resume(0)]);
    // A chunk of the old connection still in flight: ignored.
    h.send(1, 'late');
    h.send(2, ...frames(0, 4));
    expect(h.delivered).toEqual(frames(0, 4));
    expect(h.streams.streamOf(2)).toBe('a');
    // The old connection's close does not detach the new one.
    h.streams.closed(1);
    h.streams.committed({ a: 4 });
    expect(h.to(2)).toEqual([resume(0), ack(4)]);
    expect(h.reports).toEqual([]);
  });

  it('sends acks only to connected streams, only forward, never beyond the consumed position', () => {
    const h = harness();
    h.hello(1, 'a');
    h.hello(2, 'b');
    h.send(1, ...frames(0, 5));
    h.send(2, ...frames(0, 2));
    h.streams.committed({ a: 2, b: 2, unknown: 9 });
    h.streams.committed({ a: 2 }); // no move: no ack
    h.streams.committed({ a: 1 }); // backwards: ignored
    h.streams.committed({ a: 6 }); // beyond consumed (stale): ignored
    h.streams.committed({ a: 5 });
    expect(h.to(1)).toEqual([resume(0), ack(2), ack(5)]);
    expect(h.to(2)).toEqual([resume(0), ack(2)]);
    h.streams.closed(2);
    h.streams.committed({ b: 2 });
    expect(h.to(2)).toEqual([resume(0), ack(2)]);
  });

  it('restore rewinds every stream, forgets the others and drops acking connections', () => {
    const h = harness();
    h.hello(1, 'a');
    h.hello(2, 'b');
    h.streams.push(3, encodeFrame(Buffer.from('plain')));
    h.send(1, ...frames(0, 6));
    h.send(2, ...frames(0, 2));
    h.streams.restore({ a: 4 });
    expect(h.dropped.sort()).toEqual([1, 2]);
    expect(h.streams.positions()).toEqual({ a: 4 });
    h.send(1, 'ignored');
    h.send(3, 'plain again');

    h.hello(4, 'a');
    h.hello(5, 'b');
    expect(h.to(4)).toEqual([resume(4)]);
    expect(h.to(5)).toEqual([resume(0)]);
    h.send(4, 'f4');
    expect(h.streams.positions()).toEqual({ a: 5, b: 0 });
    expect(h.delivered.filter((d) => !d.startsWith('f'))).toEqual(['plain', 'plain again']);
  });

  it('a restore from inside onData stops the rest of that chunk', () => {
    const delivered: string[] = [];
    const streams: AckedStreams = new AckedStreams({
      acks: true,
      write: () => undefined,
      drop: () => undefined,
      onData: (payload) => {
        delivered.push(payload.toString());
        if (delivered.length === 2) streams.restore({ a: 1 });
      },
      report: (err) => expect.fail(String(err)),
    });
    streams.push(1, encodeSourceAckOpening('a'));
    streams.push(1, Buffer.concat(frames(0, 5).map((f) => encodeFrame(Buffer.from(f)))));
    expect(delivered).toEqual(['f0', 'f1']);
    expect(streams.positions()).toEqual({ a: 1 });
  });

  it('refuses a restore with a bad position, changing nothing', () => {
    const h = harness();
    h.hello(1, 'a');
    h.send(1, 'f0');
    expect(() => h.streams.restore({ a: -1 })).toThrow(RooError);
    expect(() => h.streams.restore({ a: 1.5 } as Record<string, number>)).toThrow(/stream "a"/);
    expect(h.streams.positions()).toEqual({ a: 1 });
    expect(h.dropped).toEqual([]);
  });

  it('reports and drops a broken connection, keeps the others going', () => {
    const h = harness({ maxFrameBytes: 10 });
    h.hello(1, 'a');
    h.hello(2, 'b');
    h.send(1, 'f0');
    h.send(1, 'x'.repeat(11));
    expect(h.dropped).toEqual([1]);
    expect((h.reports[0]!.err as RooError).code).toBe(ErrorCode.FrameTooLarge);
    expect(h.reports[0]!.connection).toBe(1);
    h.send(1, 'never');
    h.send(2, 'f0');
    expect(h.delivered).toEqual(['f0', 'f0']);
    // The broken stream resumes from where it was consumed.
    h.streams.closed(1);
    h.hello(3, 'a');
    expect(h.to(3)).toEqual([resume(0)]);
    h.send(3, 'f0', 'f1');
    expect(h.delivered).toEqual(['f0', 'f0', 'f1']);

    const garbage = Buffer.from(SOURCE_ACK_MAGIC);
    garbage[5] = 0;
    h.streams.push(9, garbage);
    expect((h.reports[1]!.err as RooError).code).toBe(ErrorCode.BadMessage);
    expect(h.dropped).toContain(9);
  });

  it('refuses a frame limit the protocol cannot tell from the magic, at construction', () => {
    expect(() => harness({ maxFrameBytes: 0x52000000 })).toThrow(
      expect.objectContaining({ code: ErrorCode.BadFlag }),
    );
  });

  it('reports a connection that closes inside a frame', () => {
    const h = harness();
    h.hello(1, 'a');
    h.streams.push(1, encodeFrame(Buffer.from('cut short')).subarray(0, 6));
    h.streams.closed(1);
    expect((h.reports[0]!.err as RooError).code).toBe(ErrorCode.FrameTruncated);
    expect(h.streams.connectionCount).toBe(0);
  });

  it('keeps at most maxStreams, forgetting the longest idle fully covered one', () => {
    const h = harness({ maxStreams: 2 });
    h.hello(1, 'a');
    h.send(1, 'f0');
    h.hello(2, 'b');
    // Both connected: no room for c.
    h.hello(3, 'c');
    expect((h.reports[0]!.err as RooError).code).toBe(ErrorCode.QueueFull);
    expect(h.dropped).toEqual([3]);
    h.streams.closed(3);
    // a idle but holding an uncovered frame; b idle and covered (nothing sent).
    h.streams.closed(1);
    h.streams.closed(2);
    h.hello(4, 'c');
    expect(Object.keys(h.streams.positions()).sort()).toEqual(['a', 'c']);
    h.streams.closed(4);
    // Once a commit covers a, a (idle longer than c) is the one to go.
    h.streams.committed({ a: 1 });
    h.hello(5, 'd');
    expect(Object.keys(h.streams.positions()).sort()).toEqual(['c', 'd']);
    h.streams.closed(5);
    h.hello(6, 'e');
    expect(Object.keys(h.streams.positions()).sort()).toEqual(['d', 'e']);
    // Without acks nothing is ever covered: any idle stream may go.
    const plain = harness({ acks: false, maxStreams: 1 });
    plain.hello(1, 'a');
    plain.send(1, 'f0');
    plain.streams.closed(1);
    plain.hello(2, 'b');
    expect(plain.streams.positions()).toEqual({ b: 0 });
  });

  it('delivers every frame exactly once in order across random drops, takeovers and commits', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('send' as const), n: fc.integer({ min: 1, max: 5 }) }),
            fc.record({ kind: fc.constant('reconnect' as const), close: fc.boolean() }),
            fc.record({ kind: fc.constant('commit' as const) }),
          ),
          { maxLength: 40 },
        ),
        (steps) => {
          const h = harness();
          // The sender: frames it keeps until acked, and the next frame it makes.
          let acked = 0;
          let made = 0;
          let connection = 0;
          const open = () => {
            connection++;
            h.hello(connection, 's');
            const m = h.to(connection)[0]!;
            if (m.type !== 'resume') throw new Error('no resume');
            expect(m.position).toBeGreaterThanOrEqual(acked);
            acked = m.position;
            h.send(connection, ...frames(m.position, made));
          };
          open();
          for (const step of steps) {
            if (step.kind === 'send') {
              h.send(connection, ...frames(made, made + step.n));
              made += step.n;
            } else if (step.kind === 'reconnect') {
              if (step.close) h.streams.closed(connection);
              open();
            } else {
              h.streams.committed(h.streams.positions());
              for (const m of h.to(connection)) if (m.type === 'ack') acked = m.position;
            }
          }
          expect(h.delivered).toEqual(frames(0, made));
          expect(h.streams.positions()).toEqual({ s: made });
          expect(h.reports).toEqual([]);
        },
      ),
    );
  });

  it('answers through a TcpListener: resume and acks reach the sender; unknown connections are ignored', async () => {
    const log = { warn: () => undefined, error: () => undefined } as unknown as Logger;
    const delivered: string[] = [];
    let gotData!: () => void;
    const data = new Promise<void>((resolve) => (gotData = resolve));
    // The listener's events run only once connections come, after `streams` exists.
    const listener = new TcpListener(
      { host: '127.0.0.1', port: 0 },
      {
        chunk: (connection, bytes) => streams.push(connection, bytes),
        closed: (connection) => streams.closed(connection),
      },
      log,
    );
    const streams = new AckedStreams({
      acks: true,
      write: (connection, bytes) => listener.write(connection, bytes),
      drop: (connection) => listener.drop(connection),
      onData: (payload) => {
        delivered.push(payload.toString());
        if (delivered.length === 2) gotData();
      },
      report: (err) => expect.fail(String(err)),
    });
    const bound = await listener.listen();
    try {
      listener.write(99, Buffer.from('nobody'));
      const socket = createConnection({ host: bound.host, port: bound.port });
      await once(socket, 'connect');
      const received: SourceAckMessage[] = [];
      const decoder = new FrameDecoder();
      let waiting: { n: number; resolve: () => void } | undefined;
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk, (p) => received.push(decodeSourceAckMessage(p)));
        if (waiting !== undefined && received.length >= waiting.n) waiting.resolve();
      });
      const messages = (n: number) =>
        received.length >= n
          ? Promise.resolve()
          : new Promise<void>((resolve) => (waiting = { n, resolve }));
      socket.write(encodeSourceAckOpening('net'));
      await messages(1);
      socket.write(Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('b'))]));
      await data;
      streams.committed(streams.positions());
      await messages(2);
      expect(received).toEqual([resume(0), ack(2)]);
      expect(delivered).toEqual(['a', 'b']);
      socket.destroy();
    } finally {
      await listener.close();
    }
  });
});
