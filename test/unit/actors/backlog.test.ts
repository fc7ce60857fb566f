/** Rule 8: a producer yields to its own thread's backlog of unread batches. */
import { describe, expect, it } from 'vitest';
import { DeterministicSchedulers, Scheduler, type ActorRef } from '../../../actors/index.js';
import { Driver, Recorder } from './recorder.js';

describe('a producer yields to its thread backlog (rule 8)', () => {
  it('is backlogged while unread batches pass the mark, and resumes once they are read', () => {
    const d = new DeterministicSchedulers(2, 3, { flushBytes: 64, backlogBytes: 256 });
    const [s0, s1] = d.schedulers as [Scheduler, Scheduler];
    const r = new Recorder();
    const ref: ActorRef = s1.spawn(r, 'r');
    const driver = s0.spawn(
      new Driver(() => {
        for (let i = 0; i < 200; i++) s0.send(ref, 0, i, undefined);
      }),
      'driver',
    );
    s0.send(driver, -1, undefined, undefined);
    s0.runTurns();
    s0.flushOutbound();
    expect(s1.backlogged()).toBe(true);
    let unmuted = 0;
    s1.muteUntilRelieved({ unmute: () => unmuted++ }, 'backlog');
    expect(s1.canUnmute()).toBe(false);
    s1.checkUnmute();
    expect(unmuted).toBe(0);
    s1.drainInbound();
    expect(s1.backlogged()).toBe(false);
    expect(s1.canUnmute()).toBe(true);
    s1.checkUnmute();
    expect(unmuted).toBe(1);
    expect(r.seen).toHaveLength(200);
  });

  it('a backlog-muted producer also waits for process pressure to go', () => {
    const d = new DeterministicSchedulers(2, 3, { backlogBytes: 1 << 20 });
    const [s0] = d.schedulers as [Scheduler, Scheduler];
    let unmuted = 0;
    s0.muteUntilRelieved({ unmute: () => unmuted++ }, 'backlog');
    s0.addPressure(1);
    s0.checkUnmute();
    expect(unmuted).toBe(0);
    s0.addPressure(-1);
    s0.checkUnmute();
    expect(unmuted).toBe(1);
  });
});
