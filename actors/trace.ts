/**
 * A thread's trace: what its run loop did and when (iterations, parking and
 * waking, flushes, garbage collections) plus events the layers above record
 * (a source read a socket chunk, a sink wrote its output), for finding what
 * delays a message. Off unless ROO_TRACE_DIR is set when the thread starts;
 * then each event costs a clock reading and four numbers in a preallocated
 * ring of the newest TRACE_EVENTS events, and `save` writes the ring to
 * `<ROO_TRACE_DIR>/<name>.trace.json` when the thread stops. Off, a call
 * costs one boolean test, and events are per loop iteration or per chunk,
 * never per message.
 *
 * Times are CLOCK_MONOTONIC milliseconds (process.hrtime), the clock
 * `process.hrtime.bigint()` reads, so a trace lines up with timestamps taken
 * in any thread or process of the machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What happened. */
export const TraceKind = {
  /** A run-loop iteration began; a = application messages waiting in mailboxes. */
  ITERATION_START: 1,
  /** It ended; a = messages delivered in it, b = turns run. */
  ITERATION_END: 2,
  /** The thread parked (nothing to do). */
  PARK: 3,
  /** It woke; a = ms it slept. */
  WAKE: 4,
  /** Outbound batches flushed; a = batches written to rings. */
  FLUSH: 5,
  /** A garbage collection ended; the event's time is its start, a = duration ms, b = 0 minor, 1 major, 2 other. */
  GC: 6,
  /** A source got a chunk from its socket or file; a = bytes, b = connection. */
  SOURCE_READ: 7,
  /** A source actor took a chunk from its mailbox (began framing it); a = bytes. */
  SOURCE_TAKE: 8,
  /** A sink writer handed bytes to its output; a = bytes, b = outputs. */
  SINK_WRITE: 9,
  /** Inbound batches read from the rings; a = batches. */
  DRAIN: 10,
  /** This thread woke a parked thread; a = that thread's index. */
  NOTIFY: 11,
} as const;

/** The name of each kind, as saved. */
export const TRACE_KIND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(TraceKind).map(([name, k]) => [k, name]),
);

/** Events a thread keeps (the newest; 4 numbers each, 32 MB at most). */
export const TRACE_EVENTS = 1 << 20;
const FIELDS = 4;

/** A saved trace: events as [ms, kind, a, b] rows, oldest first. */
export interface SavedTrace {
  readonly name: string;
  readonly clock: 'CLOCK_MONOTONIC ms';
  readonly kinds: Record<number, string>;
  /** Events that did not fit and were overwritten (the oldest). */
  readonly dropped: number;
  readonly events: readonly (readonly [number, number, number, number])[];
}

/** Milliseconds on CLOCK_MONOTONIC. */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** One thread's trace recorder. */
export class ThreadTrace {
  /** True when recording: test it before building an event's fields. */
  readonly on: boolean;
  private readonly ring: Float64Array;
  private next = 0;
  private written = 0;

  constructor(
    /** Where to save, or undefined: off. */
    private readonly dir: string | undefined,
    events = TRACE_EVENTS,
  ) {
    this.on = dir !== undefined && dir !== '';
    this.ring = new Float64Array(this.on ? events * FIELDS : 0);
  }

  /** Records an event now. */
  event(kind: number, a = 0, b = 0): void {
    if (this.on) this.at(monotonicMs(), kind, a, b);
  }

  /** Records an event at `ms` (CLOCK_MONOTONIC). */
  at(ms: number, kind: number, a = 0, b = 0): void {
    if (!this.on) return;
    const r = this.ring;
    const i = this.next * FIELDS;
    r[i] = ms;
    r[i + 1] = kind;
    r[i + 2] = a;
    r[i + 3] = b;
    this.next = this.next + 1 === r.length / FIELDS ? 0 : this.next + 1;
    this.written++;
  }

  /** The events recorded so far, oldest first. */
  snapshot(name: string): SavedTrace {
    const capacity = this.ring.length / FIELDS;
    const count = Math.min(this.written, capacity);
    const first = this.written > capacity ? this.next : 0;
    const events: [number, number, number, number][] = [];
    for (let k = 0; k < count; k++) {
      const i = ((first + k) % capacity) * FIELDS;
      const r = this.ring;
      events.push([r[i] as number, r[i + 1] as number, r[i + 2] as number, r[i + 3] as number]);
    }
    // Events are recorded in time order but for an iteration's start, which is
    // written at its end: sort by time.
    events.sort((x, y) => x[0] - y[0]);
    return {
      name,
      clock: 'CLOCK_MONOTONIC ms',
      kinds: TRACE_KIND_NAMES,
      dropped: this.written - count,
      events,
    };
  }

  /** Writes the trace to `<dir>/<name>.trace.json` (when on); returns the path. */
  save(name: string): string | undefined {
    if (!this.on || this.dir === undefined) return undefined;
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, `${name.replace(/[^\w.-]+/g, '_')}.trace.json`);
    writeFileSync(path, JSON.stringify(this.snapshot(name)));
    return path;
  }
}

/**
 * This thread's trace (each worker thread has its own module instance):
 * on when ROO_TRACE_DIR names a directory.
 */
export const trace = new ThreadTrace(process.env['ROO_TRACE_DIR']);
