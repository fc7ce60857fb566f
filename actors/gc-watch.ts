/**
 * Garbage collections of the current thread (every worker thread has its own
 * V8 heap): how many and how long, by kind, from perf_hooks' 'gc' entries.
 * Scavenges (young generation) are the frequent, short ones that make the
 * latency floor; mark-compacts (whole heap) are rare and long.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { monotonicMs, trace, TraceKind } from './trace.js';

/** Collections of one kind. */
export interface GcCount {
  count: number;
  ms: number;
  /** Longest single pause. */
  maxMs: number;
}

/** Collections of this thread so far, by kind. */
export interface GcStats {
  /** Young-generation scavenges. */
  minor: GcCount;
  /** Whole-heap mark-compacts. */
  major: GcCount;
  /** Incremental marking steps and weak callbacks. */
  other: GcCount;
}

/** A listener for one finished collection: its kind, start (performance.now() ms) and duration. */
export type GcListener = (kind: keyof GcStats, startMs: number, durationMs: number) => void;

/** Watches this thread's collections from construction on. */
export class GcWatch {
  /** Totals so far. */
  readonly stats: GcStats = {
    minor: { count: 0, ms: 0, maxMs: 0 },
    major: { count: 0, ms: 0, maxMs: 0 },
    other: { count: 0, ms: 0, maxMs: 0 },
  };
  private readonly observer: PerformanceObserver;
  private readonly listeners: GcListener[] = [];

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.record(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Calls `listener` for every collection from now on. */
  onGc(listener: GcListener): void {
    this.listeners.push(listener);
  }

  /** Stops watching. */
  close(): void {
    this.observer.disconnect();
  }

  private record(entry: PerformanceEntry): void {
    const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
    const kind = detail?.kind;
    const which: keyof GcStats =
      kind === constants.NODE_PERFORMANCE_GC_MINOR
        ? 'minor'
        : kind === constants.NODE_PERFORMANCE_GC_MAJOR
          ? 'major'
          : 'other';
    const c = this.stats[which];
    c.count++;
    c.ms += entry.duration;
    if (entry.duration > c.maxMs) c.maxMs = entry.duration;
    for (const l of this.listeners) l(which, entry.startTime, entry.duration);
    if (trace.on) {
      // performance.now() is per thread; the trace's clock is CLOCK_MONOTONIC.
      const start = monotonicMs() - (performance.now() - entry.startTime);
      trace.at(
        start,
        TraceKind.GC,
        entry.duration,
        which === 'minor' ? 0 : which === 'major' ? 1 : 2,
      );
    }
  }
}
