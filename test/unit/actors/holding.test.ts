/**
 * Rule 9's kernel side: holders of an epoch bit's messages past their mark
 * are counted per bit, process-wide; the last one done wakes every thread;
 * and a producer muted for its own reason (a data channel reader owing
 * credit) resumes exactly when its own condition says so.
 */
import { describe, expect, it } from 'vitest';
import { allocateKernelMemory, DeterministicSchedulers, Scheduler } from '../../../actors/index.js';
import { ControlSlot, threadSlot, ThreadSlot } from '../../../actors/shared-layout.js';

describe('holders of an epoch bit (rule 9)', () => {
  it('are counted per bit, process-wide, and the last one done rings every doorbell', () => {
    const memory = allocateKernelMemory(2, 64 * 1024);
    const s0 = new Scheduler({ memory, thread: 0 });
    const s1 = new Scheduler({ memory, thread: 1 });
    const ctrl = new Int32Array(memory.control);
    const bells = () => [0, 1].map((t) => Atomics.load(ctrl, threadSlot(t, ThreadSlot.BELL)));
    expect([s0.holds(0), s0.holds(1)]).toEqual([false, false]);
    s0.holding(1, 1);
    s1.holding(1, 1);
    // Seen from either thread; the other bit is untouched.
    expect([s1.holds(0), s1.holds(1), s0.holds(1)]).toEqual([false, true, true]);
    expect(Atomics.load(ctrl, ControlSlot.HOLDING_1)).toBe(2);
    const before = bells();
    s1.holding(1, -1);
    expect(bells()).toEqual(before);
    expect(s0.holds(1)).toBe(true);
    s0.holding(1, -1);
    expect(s0.holds(1)).toBe(false);
    expect(bells().map((b, i) => b - before[i]!)).toEqual([1, 1]);
    // Holding is not pressure: a source is not muted by it (the hold adds its own unit).
    expect(s0.pressured()).toBe(false);
  });

  it('a producer muted for its own reason resumes when its own condition holds, and only then', () => {
    const d = new DeterministicSchedulers(1, 1);
    const [s] = d.schedulers as [Scheduler];
    let may = false;
    let unmuted = 0;
    s.muteUntilRelieved({ unmute: () => unmuted++, mayResume: () => may }, 'own');
    // Pressure does not matter to it, either way.
    s.addPressure(1);
    s.checkUnmute();
    expect([s.canUnmute(), unmuted]).toEqual([false, 0]);
    may = true;
    expect(s.canUnmute()).toBe(true);
    s.checkUnmute();
    expect(unmuted).toBe(1);
    // Unmuted once: it is no longer registered.
    s.checkUnmute();
    expect([s.canUnmute(), unmuted]).toEqual([false, 1]);
    s.addPressure(-1);
  });
});
