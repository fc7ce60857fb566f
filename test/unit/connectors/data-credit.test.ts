/**
 * Credit between workers over a real loopback data channel
 * (runtime/connectors/data-link.ts and data-channel.ts, rule 9): a link and
 * a listener on one scheduler, a small window, and a recorder as the
 * receiving actor. While holders of epoch bit 1 are past their marks, the
 * listener hands back no credit for lane 1: the sender stops after a window
 * of it and keeps the rest waiting (and adds pressure), while lane 0 (the
 * closing epoch's messages and the barrier a holder waits for) goes on
 * through. Once the hold ends, lane 1 comes through whole, in order. A
 * listener whose actors are overloaded holds back every lane the same way.
 * And a sender that ignores its window is cut off, not buffered.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  allocateKernelMemory,
  Scheduler,
  type ActorRef,
  type Behaviour,
} from '../../../actors/index.js';
import { BATCH_VERSION } from '../../../protocols/batch-codec.js';
import {
  DATA_PROTOCOL_VERSION,
  decodeDataMessage,
  encodeDataMessage,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
} from '../../../protocols/index.js';
import { DataLinks, DataListener } from '../../../runtime/connectors/data-channel.js';
import { EPOCH_BIT, laneOf, RT_BARRIER } from '../../../runtime/engine/epochs.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { createLogger } from '../../../runtime/logging/logger.js';
import { OPEN_CHANNELS } from '../../../runtime/security/index.js';

const log = createLogger({ test: 'data-credit' });
log.level = 'silent';
/** A small window, so that a few hundred messages use it up. */
const WINDOW = 4096;
const STAGE = 1;

/** Records what it receives: lane-0 and lane-1 values and barriers, in order. */
class Sink implements Behaviour {
  paused = false;
  readonly seen: string[] = [];
  private waiters: { test: () => boolean; resolve: () => void }[] = [];
  receive(tag: number, a: unknown): void {
    this.seen.push(`${tag >= EPOCH_BIT ? 1 : 0}:${String(a)}`);
    this.poke();
  }
  receiveRuntime(tag: number, a: unknown, b: unknown): void {
    if (tag === RT_BARRIER) this.seen.push(`barrier ${String(a)} closes ${String(b)}`);
    this.poke();
  }
  /** Resolves once `test` holds, checked as messages arrive. */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
  count(lane: number): number {
    return this.seen.filter((s) => s.startsWith(`${lane}:`)).length;
  }
  private poke(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** A listener and a link to it on one scheduler, and the receiving actor. */
async function rig() {
  const memory = allocateKernelMemory(1, 64 * 1024);
  const scheduler = new Scheduler({ memory, thread: 0 });
  const sink = new Sink();
  const ref: ActorRef = scheduler.spawn(sink, 'sink');
  const errors = new ErrorReporter(log);
  // The listener's kick runs what it delivered, as a thread's loop would.
  const run = () => {
    scheduler.runTurns();
    scheduler.checkUnmute();
  };
  const listener = new DataListener(scheduler, run, errors, log, OPEN_CHANNELS, WINDOW);
  const bound = await listener.listen({ host: '127.0.0.1', port: 0 });
  const links = new DataLinks(
    scheduler,
    0,
    [
      { name: 'me', data: { host: '127.0.0.1', port: 1 } },
      { name: 'peer', data: bound },
    ],
    log,
    0,
    OPEN_CHANNELS,
    laneOf,
  );
  closers.push(
    () => links.close(),
    () => listener.close(),
  );
  const send = (tag: number, a: unknown, b?: unknown) => links.send(1, ref, tag, a, b);
  return { scheduler, sink, send, run, listener, bound, errors };
}

describe('credit between workers', () => {
  it('holds back the held bit’s lane after a window, while the other lane and its barrier go through', async () => {
    const { scheduler, sink, send, run, listener } = await rig();
    scheduler.holding(1, 1); // a key group aligning: past its mark of bit-1 messages
    for (let i = 0; i < 2000; i++) {
      send(STAGE + EPOCH_BIT, `n${i}`); // the next epoch's messages, in frames of 100
      if (i % 100 === 99) scheduler.flushOutbound();
    }
    for (let i = 0; i < 50; i++) send(STAGE, `c${i}`); // the closing epoch's, after them
    send(RT_BARRIER, 7, 0);
    scheduler.flushOutbound();
    await sink.until(() => sink.seen.includes('barrier 7 closes 0'));
    // Lane 0 came through whole, the barrier after its messages.
    expect(sink.count(0)).toBe(50);
    expect(sink.seen.indexOf('0:c49')).toBeLessThan(sink.seen.indexOf('barrier 7 closes 0'));
    // Round trips on lane 0, each a chance for lane 1 to move on if it had credit.
    for (let r = 0; r < 20; r++) {
      send(STAGE, `r${r}`);
      scheduler.flushOutbound();
      await sink.until(() => sink.seen.includes(`0:r${r}`));
    }
    // Lane 1 stopped at its window: the rest waits at the sender, pressing its sources.
    const frame = 100 * 12 + 64; // 100 messages of about 12 bytes, and the frame's envelope
    expect(listener.heldCredit(1)).toBeGreaterThan(0);
    expect(listener.heldCredit(1)).toBeLessThanOrEqual(WINDOW + frame);
    expect(sink.count(1)).toBeLessThanOrEqual(100 * Math.ceil((WINDOW + frame) / 1000));
    expect(listener.heldCredit(0)).toBe(0);
    expect(scheduler.pressured()).toBe(true);
    // The hold ends: credit comes back, lane 1 comes through whole and in order.
    scheduler.holding(1, -1);
    run();
    await sink.until(() => sink.count(1) === 2000);
    const lane1 = sink.seen.filter((s) => s.startsWith('1:'));
    expect(lane1).toEqual(Array.from({ length: 2000 }, (_, i) => `1:n${i}`));
    expect(listener.heldCredit(1)).toBe(0);
  });

  it('holds back every lane while actors of the receiving process are overloaded', async () => {
    const { scheduler, sink, send, run, listener } = await rig();
    // An overloaded actor elsewhere in the process (rule 7's part of the pressure).
    const stuck: Behaviour = {
      paused: true,
      receive: () => undefined,
      receiveRuntime: () => undefined,
    };
    const stuckRef = scheduler.spawn(stuck, 'stuck', undefined, { high: 1, low: 0 });
    scheduler.send(stuckRef, 0, 'x', undefined);
    scheduler.send(stuckRef, 0, 'y', undefined);
    expect(scheduler.actorsOverloaded()).toBe(true);
    for (let i = 0; i < 2000; i++) {
      send(STAGE + (i % 2) * EPOCH_BIT, i);
      if (i % 100 === 99) scheduler.flushOutbound();
    }
    scheduler.flushOutbound();
    await sink.until(() => sink.seen.length > 0);
    // What the window held came through, and its credit stays with the listener until the
    // overload ends: no more comes.
    expect(listener.heldCredit(0) + listener.heldCredit(1)).toBeGreaterThan(0);
    expect(sink.seen.length).toBeLessThan(2000);
    // Relieve the overload: the stuck actor drains.
    (stuck as { paused: boolean }).paused = false;
    scheduler.resume(stuckRef);
    run();
    await sink.until(() => sink.seen.length === 2000);
    expect(scheduler.actorsOverloaded()).toBe(false);
    expect(listener.heldCredit(0) + listener.heldCredit(1)).toBe(0);
  });

  it('cuts off a sender that ignores its window, with a typed error', async () => {
    const { bound, errors } = await rig();
    const raw = connect(bound.port, bound.host);
    raw.on('error', () => undefined);
    const closed = once(raw, 'close');
    // The listener speaks first: the window.
    const framer = new FrameDecoder();
    const told = new Promise<number>((resolve) =>
      raw.on('data', (chunk: Buffer) =>
        framer.push(chunk, (p) => {
          const m = decodeDataMessage(p);
          if (m.type === 'window') resolve(m.bytes);
        }),
      ),
    );
    expect(await told).toBe(WINDOW);
    // Empty batches (valid, delivering nothing), sent without waiting for any credit.
    const empty = Buffer.alloc(9);
    empty[0] = BATCH_VERSION;
    const frame = encodeFrame(
      encodeDataMessage({
        type: 'batch',
        version: DATA_PROTOCOL_VERSION,
        epoch: 0,
        sender: 'rogue',
        lane: 0,
        bytes: empty,
      }),
    );
    raw.write(
      Buffer.concat(Array.from({ length: Math.ceil((2 * WINDOW) / frame.length) }, () => frame)),
    );
    await closed;
    expect(errors.counts()).toEqual({ [`${ErrorCode.BadMessage} at data channel`]: 1 });
  });
});
