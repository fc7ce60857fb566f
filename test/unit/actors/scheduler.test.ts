import { describe, expect, it } from 'vitest';
import {
  DeterministicSchedulers,
  type ActorRef,
  type Behaviour,
  type Scheduler,
} from '../../../actors/index.js';

/** Records what each sender sent, in order of arrival. */
class Collector implements Behaviour {
  paused = false;
  readonly bySender = new Map<number, number[]>();
  receive(tag: number, a: unknown): void {
    const list = this.bySender.get(tag) ?? [];
    list.push(a as number);
    this.bySender.set(tag, list);
  }
  receiveRuntime(): void {}
}

/** Sends `count` numbered messages to each target, a few per turn, re-scheduling itself. */
class Emitter implements Behaviour {
  paused = false;
  private next = 0;
  constructor(
    private readonly s: Scheduler,
    private readonly id: number,
    private readonly targets: ActorRef[],
    private readonly count: number,
    public self: ActorRef = -1,
  ) {}
  receive(): void {}
  receiveRuntime(): void {
    for (let k = 0; k < 7 && this.next < this.count; k++, this.next++) {
      for (const t of this.targets)
        this.s.send(t, this.id, this.next, { n: this.next, id: this.id });
    }
    if (this.next < this.count) this.s.send(this.self, -1, undefined, undefined);
  }
}

function run(seed: number, threads: number, count: number) {
  const d = new DeterministicSchedulers(threads, seed, { batch: 5, flushBytes: 256 }, 2048);
  const collectors: Collector[] = [];
  const targets: ActorRef[] = [];
  for (const s of d.schedulers) {
    const c = new Collector();
    collectors.push(c);
    targets.push(s.spawn(c, 'collector'));
  }
  d.schedulers.forEach((s, i) => {
    const e = new Emitter(s, i, targets, count);
    e.self = s.spawn(e, `emitter-${i}`);
    s.send(e.self, -1, undefined, undefined);
  });
  const steps = d.runUntilIdle();
  return { collectors, steps, d };
}

describe('Scheduler (seeded deterministic mode)', () => {
  it('delivers every message exactly once, in order per sender, over many seeds', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const threads = 1 + (seed % 3);
      const { collectors } = run(seed, threads, 300);
      for (const c of collectors) {
        expect(c.bySender.size).toBe(threads);
        for (const list of c.bySender.values())
          expect(list).toEqual(Array.from({ length: 300 }, (_, i) => i));
      }
    }
  });

  it('replays the same interleaving for the same seed', () => {
    const a = run(42, 3, 100);
    const b = run(42, 3, 100);
    expect(a.steps).toBe(b.steps);
    expect(a.d.schedulers.map((s) => ({ ...s.stats }))).toEqual(
      b.d.schedulers.map((s) => ({ ...s.stats })),
    );
  });

  it('raises pressure on an overloaded mailbox and relieves it when drained', () => {
    const d = new DeterministicSchedulers(1, 7, { overloadHigh: 10, overloadLow: 2 });
    const s = d.schedulers[0]!;
    const c = new Collector();
    const ref = s.spawn(c, 'c');
    for (let i = 0; i < 11; i++) s.send(ref, 0, i, undefined);
    expect(s.pressured()).toBe(true);
    let unmuted = 0;
    s.muteUntilRelieved({ unmute: () => unmuted++ });
    s.checkUnmute();
    expect(unmuted).toBe(0);
    d.runUntilIdle();
    expect(s.pressured()).toBe(false);
    s.checkUnmute();
    expect(unmuted).toBe(1);
  });

  it('counts a throwing behaviour as an actor error and keeps running', () => {
    const errors: string[] = [];
    const d = new DeterministicSchedulers(1, 3, { onActorError: (_e, name) => errors.push(name) });
    const s = d.schedulers[0]!;
    const c = new Collector();
    const bad: Behaviour = {
      paused: false,
      receive(_t, a) {
        if (a === 2) throw new Error('boom');
        c.receive(0, a);
      },
      receiveRuntime() {},
    };
    const ref = s.spawn(bad, 'bad');
    for (let i = 0; i < 5; i++) s.send(ref, 0, i, undefined);
    d.runUntilIdle();
    expect(errors).toEqual(['bad']);
    expect(c.bySender.get(0)).toEqual([0, 1, 3, 4]);
    expect(s.stats.actorErrors).toBe(1);
  });

  // Regression (rule 7): a data-channel reader muted on "any pressure" stayed
  // muted while its own outbound channel was congested, so two workers each
  // stopped reading the other and the cluster stalled.
  it('unmutes channel readers once actors are relieved, even while a channel is congested', () => {
    const d = new DeterministicSchedulers(1, 11, { overloadHigh: 4, overloadLow: 1 });
    const s = d.schedulers[0]!;
    const ref = s.spawn(new Collector(), 'c');
    for (let i = 0; i < 5; i++) s.send(ref, 0, i, undefined);
    s.addPressure(1); // a congested outbound socket
    expect(s.actorsOverloaded()).toBe(true);
    const woke: string[] = [];
    s.muteUntilRelieved({ unmute: () => woke.push('source') });
    s.muteUntilRelieved({ unmute: () => woke.push('reader') }, 'actors');
    s.checkUnmute();
    expect(woke).toEqual([]);
    d.runUntilIdle();
    expect(s.actorsOverloaded()).toBe(false);
    expect(s.pressured()).toBe(true);
    expect(s.canUnmute()).toBe(true);
    s.checkUnmute();
    expect(woke).toEqual(['reader']);
    s.addPressure(-1);
    s.checkUnmute();
    expect(woke).toEqual(['reader', 'source']);
  });
});
