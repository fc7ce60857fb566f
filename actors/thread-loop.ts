/**
 * The run loop of a scheduler thread. Each iteration drains the inbound
 * channels, runs actor turns for at most one slice (2 ms), and flushes the
 * outbound batches; between iterations it yields to the thread's event loop
 * (setImmediate) so that the sockets this thread owns are served. With
 * nothing to do it parks on its doorbell with Atomics.waitAsync, never a
 * blocking Atomics.wait: the event loop must stay free for sockets.
 *
 * The end of a slice is the batch timer: outbound batches are flushed at
 * least every slice, so an idle pipeline adds one thread wake-up (about
 * 25 µs here) per hop, and a busy one batches.
 */
import { ThreadSlot, threadSlot } from './shared-layout.js';
import { monotonicMs, trace, TraceKind } from './trace.js';
import type { Scheduler } from './scheduler.js';

/**
 * Application messages a loop iteration takes from the inbound rings (about
 * a slice of work); the rest waits there as bytes (Scheduler.drainInbound).
 */
const INBOUND_BUDGET = 8_192;

type LoopState = 'stopped' | 'scheduled' | 'running' | 'parked';

/** Drives one Scheduler on the current thread's event loop. */
export class ThreadLoop {
  private state: LoopState = 'stopped';
  private readonly ctrl: Int32Array;
  private readonly bell: number;
  private readonly sleeping: number;
  private readonly sliceMs: number;
  private readonly iterate = (): void => this.run();
  /** Iterations run (for stats). */
  iterations = 0;
  /** Times parked (for stats). */
  parks = 0;

  constructor(
    private readonly scheduler: Scheduler,
    control: SharedArrayBuffer,
    sliceMs = 2,
  ) {
    this.ctrl = new Int32Array(control);
    this.bell = threadSlot(scheduler.thread, ThreadSlot.BELL);
    this.sleeping = threadSlot(scheduler.thread, ThreadSlot.SLEEPING);
    this.sliceMs = sliceMs;
  }

  /** Starts the loop. */
  start(): void {
    if (this.state !== 'stopped') return;
    this.state = 'scheduled';
    setImmediate(this.iterate);
  }

  /** Stops the loop after the current iteration. */
  stop(): void {
    this.state = 'stopped';
    Atomics.add(this.ctrl, this.bell, 1);
    Atomics.notify(this.ctrl, this.bell);
  }

  /**
   * Makes sure the loop runs soon: call after giving an actor of this thread a
   * message from outside a turn (a socket callback, a control RPC).
   */
  kick(): void {
    if (this.state === 'parked') {
      Atomics.add(this.ctrl, this.bell, 1);
      Atomics.notify(this.ctrl, this.bell);
    }
  }

  private run(): void {
    if (this.state === 'stopped') return;
    this.state = 'running';
    this.iterations++;
    const s = this.scheduler;
    const traced = trace.on;
    let delivered0 = 0;
    let turns0 = 0;
    let startedAt = 0;
    let queued0 = 0;
    if (traced) {
      startedAt = monotonicMs();
      queued0 = s.queuedMessages;
      delivered0 = s.stats.delivered;
      turns0 = s.stats.turns;
    }
    const drained = s.drainInbound(INBOUND_BUDGET);
    if (traced && drained > 0) trace.event(TraceKind.DRAIN, drained);
    s.checkUnmute();
    const more = s.runTurns(performance.now() + this.sliceMs);
    s.flushOutbound();
    if (traced) {
      // An iteration that found nothing to do is left out unless it took
      // long: the ring keeps the ones that matter.
      const endedAt = monotonicMs();
      const delivered = s.stats.delivered - delivered0;
      if (delivered > 0 || drained > 0 || endedAt - startedAt > 0.5) {
        trace.at(startedAt, TraceKind.ITERATION_START, queued0);
        trace.at(endedAt, TraceKind.ITERATION_END, delivered, s.stats.turns - turns0);
      }
    }
    if (this.state !== 'running') return; // stopped during the slice
    if (more || s.hasInbound()) {
      this.state = 'scheduled';
      setImmediate(this.iterate);
    } else if (s.hasOverflow()) {
      // A full ring: poll until the reader frees space (rare; only under load).
      this.state = 'scheduled';
      setTimeout(this.iterate, 1);
    } else {
      this.park();
    }
  }

  private park(): void {
    const seen = Atomics.load(this.ctrl, this.bell);
    Atomics.store(this.ctrl, this.sleeping, 1);
    // Re-check after announcing sleep: a producer that published before it saw
    // SLEEPING did not notify, but its data is visible now. Likewise pressure
    // relieved after this iteration's checkUnmute: its doorbell ring may be
    // counted in `seen` already, so waiting for another ring would sleep with
    // muted sources forever.
    if (this.scheduler.hasInbound() || this.scheduler.hasRunnable() || this.scheduler.canUnmute()) {
      Atomics.store(this.ctrl, this.sleeping, 0);
      this.state = 'scheduled';
      setImmediate(this.iterate);
      return;
    }
    this.state = 'parked';
    this.parks++;
    const parkedAt = trace.on ? monotonicMs() : 0;
    if (trace.on) trace.at(parkedAt, TraceKind.PARK);
    const result = Atomics.waitAsync(this.ctrl, this.bell, seen);
    const wakeUp = (): void => {
      Atomics.store(this.ctrl, this.sleeping, 0);
      if (trace.on) {
        const now = monotonicMs();
        trace.at(now, TraceKind.WAKE, now - parkedAt);
      }
      if (this.state === 'parked') this.run();
    };
    if (result.async) void result.value.then(wakeUp);
    else setImmediate(wakeUp);
  }
}
