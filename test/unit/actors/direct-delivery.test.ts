/**
 * Direct delivery: a message sent while actor code runs, to an idle actor of
 * the same thread, is handled at once instead of going through the mailbox.
 * These tests pin down when it may happen and that it keeps the kernel's
 * promises: FIFO per sender, one message at a time per actor, runtime
 * messages in order with data, paused actors left alone.
 */
import { describe, expect, it } from 'vitest';
import {
  allocateKernelMemory,
  DeterministicSchedulers,
  Scheduler,
  type ActorRef,
} from '../../../actors/index.js';
import { Driver, Recorder } from './recorder.js';

function oneThread(onActorError?: (err: unknown, name: string) => void): Scheduler {
  return new Scheduler({
    memory: allocateKernelMemory(1, 4096),
    thread: 0,
    ...(onActorError === undefined ? {} : { onActorError }),
  });
}

/** Spawns a Driver running `act` in its turn, sends it its start, runs turns until it has run. */
function inTurn(s: Scheduler, act: () => void): void {
  const driver = new Driver(act);
  const ref = s.spawn(driver, 'driver');
  s.send(ref, -1, undefined, undefined);
  while (!driver.ran) s.runTurns(Infinity, 1);
}

describe('direct delivery to an idle local actor', () => {
  it('hands a message sent during a turn to an idle actor before send returns', () => {
    const s = oneThread();
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    let seenAtReturn = 0;
    inTurn(s, () => {
      s.send(ref, 0, 'x', undefined);
      seenAtReturn = r.seen.length;
    });
    expect(seenAtReturn).toBe(1);
    expect(s.stats.direct).toBe(1);
    expect(s.stats.delivered).toBe(1);
    expect(s.hasRunnable()).toBe(false);
  });

  it('queues what is sent from outside actor code (a socket callback, an RPC)', () => {
    const s = oneThread();
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    s.send(ref, 0, 'x', undefined);
    expect(r.seen).toEqual([]);
    expect(s.queuedMessages).toBe(1);
    s.runTurns();
    expect(r.seen).toEqual(['app:x']);
    expect(s.stats.direct).toBe(0);
  });

  it('keeps FIFO: behind messages already waiting, the new one waits too', () => {
    const s = oneThread();
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    const driver = s.spawn(
      new Driver(() => {
        s.send(ref, 0, 2, undefined);
        s.send(ref, 0, 3, undefined);
      }),
      'driver',
    );
    s.send(driver, -1, undefined, undefined); // the driver's turn comes first...
    s.send(ref, 0, 1, undefined); // ...while 1 waits in r's mailbox
    s.runTurns(Infinity, 1);
    expect(r.seen).toEqual([]);
    expect(s.stats.direct).toBe(0);
    s.runTurns();
    expect(r.seen).toEqual(['app:1', 'app:2', 'app:3']);
  });

  it('never lets data overtake a runtime message (a barrier) sent before it', () => {
    const s = oneThread();
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    inTurn(s, () => {
      s.send(ref, -5, 'barrier', undefined);
      s.send(ref, 0, 'after', undefined);
    });
    s.runTurns();
    expect(r.seen).toEqual(['rt:barrier', 'app:after']);
    expect(s.stats.direct).toBe(0);
  });

  it('queues a message to an actor that is handling one (no re-entry, A → B → A)', () => {
    const s = oneThread();
    const a = new Recorder();
    const b = new Recorder();
    const refA = s.spawn(a, 'a');
    const refB = s.spawn(b, 'b');
    a.onReceive = (v) => {
      if (v === 'start') s.send(refB, 0, 'ping', undefined);
    };
    b.onReceive = () => s.send(refA, 0, 'pong', undefined);
    inTurn(s, () => s.send(refA, 0, 'start', undefined));
    expect(a.seen).toEqual(['app:start']); // 'pong' waits: a was busy
    s.runTurns();
    expect(a.seen).toEqual(['app:start', 'app:pong']);
    expect(b.seen).toEqual(['app:ping']);
    expect(a.nested || b.nested).toBe(false);
  });

  it('queues a message an actor sends itself', () => {
    const s = oneThread();
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    r.onReceive = (v) => {
      if (v === 1) s.send(ref, 0, 2, undefined);
    };
    inTurn(s, () => s.send(ref, 0, 1, undefined));
    expect(r.seen).toEqual(['app:1']);
    s.runTurns();
    expect(r.seen).toEqual(['app:1', 'app:2']);
    expect(r.nested).toBe(false);
  });

  it('leaves a paused actor alone: the message waits in its mailbox', () => {
    const s = oneThread();
    const r = new Recorder();
    r.paused = true;
    const ref = s.spawn(r, 'r');
    inTurn(s, () => s.send(ref, 0, 'x', undefined));
    expect(r.seen).toEqual([]);
    r.paused = false;
    s.resume(ref);
    s.runTurns();
    expect(r.seen).toEqual(['app:x']);
  });

  it('reports a throwing receiver under its own name; the sender goes on', () => {
    const errors: string[] = [];
    const s = oneThread((_err, name) => errors.push(name));
    const bad = s.spawn(
      {
        paused: false,
        receive: () => {
          throw new Error('boom');
        },
        receiveRuntime: () => undefined,
      },
      'bad',
    );
    const r = new Recorder();
    const ref = s.spawn(r, 'r');
    inTurn(s, () => {
      s.send(bad, 0, 'x', undefined);
      s.send(ref, 0, 'after', undefined);
    });
    expect(errors).toEqual(['bad']);
    expect(r.seen).toEqual(['app:after']);
    expect(s.stats.actorErrors).toBe(1);
  });

  it('delivers an inbound batch to idle actors while draining, and queues for busy ones', () => {
    const d = new DeterministicSchedulers(2, 7);
    const [s0, s1] = d.schedulers as [Scheduler, Scheduler];
    const r = new Recorder();
    const ref: ActorRef = s1.spawn(r, 'r');
    const driver = s0.spawn(
      new Driver(() => {
        for (let i = 0; i < 5; i++) s0.send(ref, 0, i, undefined);
      }),
      'driver',
    );
    s0.send(driver, -1, undefined, undefined);
    s0.runTurns();
    s0.flushOutbound();
    s1.drainInbound();
    expect(r.seen).toEqual(['app:0', 'app:1', 'app:2', 'app:3', 'app:4']);
    expect(s1.stats.direct).toBe(5);
    expect(s1.queuedMessages).toBe(0);
  });

  it('stops draining at the budget and leaves the rest in the ring', () => {
    const d = new DeterministicSchedulers(2, 7, { flushBytes: 64 });
    const [s0, s1] = d.schedulers as [Scheduler, Scheduler];
    const r = new Recorder();
    const ref: ActorRef = s1.spawn(r, 'r');
    const driver = s0.spawn(
      new Driver(() => {
        for (let i = 0; i < 100; i++) s0.send(ref, 0, i, undefined);
      }),
      'driver',
    );
    s0.send(driver, -1, undefined, undefined);
    s0.runTurns();
    s0.flushOutbound();
    s1.drainInbound(10);
    const first = r.seen.length;
    expect(first).toBeGreaterThanOrEqual(10);
    expect(first).toBeLessThan(100);
    expect(s1.hasInbound()).toBe(true);
    s1.drainInbound();
    expect(r.seen.map((x) => Number(x.slice(4)))).toEqual([...Array(100).keys()]);
  });
});

describe('messages from a channel outside the kernel', () => {
  it('go at once to an idle actor of this thread, queue behind waiting ones, and cross to other threads', () => {
    const d = new DeterministicSchedulers(2, 5);
    const [s0, s1] = d.schedulers as [Scheduler, Scheduler];
    const here = new Recorder();
    const there = new Recorder();
    const refHere: ActorRef = s0.spawn(here, 'here');
    const refThere: ActorRef = s1.spawn(there, 'there');
    s0.deliverFromChannel(refHere, 0, 1, undefined);
    expect(here.seen).toEqual(['app:1']);
    s0.send(refHere, 0, 2, undefined); // from outside a turn: queued
    s0.deliverFromChannel(refHere, 0, 3, undefined);
    expect(here.seen).toEqual(['app:1']);
    s0.runTurns();
    expect(here.seen).toEqual(['app:1', 'app:2', 'app:3']);
    s0.deliverFromChannel(refThere, 0, 'x', undefined);
    s0.flushOutbound();
    s1.drainInbound();
    expect(there.seen).toEqual(['app:x']);
    expect(() => s0.deliverFromChannel(refHere + 99, 0, 1, undefined)).toThrow(RangeError);
  });
});
