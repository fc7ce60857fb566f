/**
 * An engine's settings and its summed counters: what a worker passes to
 * `Engine.prepare`, where the scheduler thread entry is, and the totals
 * `Engine.stats` adds up over threads. Kept apart from engine.ts (the
 * threads' lifecycle and the calls into them) since callers read these
 * without the engine.
 */
import type { AppArgsData } from '../api/args.js';
import type { Logger } from '../logging/logger.js';
import type { ChannelSecurity } from '../security/index.js';
import type { ThreadStats } from './thread-control.js';

/** Settings of an engine. */
export interface EngineOptions {
  readonly modulePath: string;
  readonly args: AppArgsData;
  readonly workerName: string;
  /** Scheduler threads (`--ponythreads`); default: available cores. */
  readonly threads?: number;
  readonly log: Logger;
  /** Capacity of each ring between two threads. */
  readonly ringBytes?: number;
  /** Young-generation heap of each scheduler thread, MB (default 64, or ROO_YOUNG_GEN_MB). */
  readonly youngGenerationMb?: number;
  /**
   * Called if a scheduler thread dies, or reports an error the worker cannot
   * go on with (a state no checkpoint can encode: RooError
   * ROO_ERR_SNAPSHOT_ENCODE_FAILED, its code kept), at most once per error.
   */
  readonly onFatal?: (error: Error & { code?: string }) => void;
  /** Resilience on: TCP sources acknowledge committed positions to acking senders. */
  readonly resilient?: boolean;
  /** The cluster secret and TLS of the data channels (default: none). */
  readonly security?: ChannelSecurity;
  /**
   * Record metrics on the data path (step latencies, latency markers);
   * default: on unless the environment has ROO_METRICS=off.
   */
  readonly metrics?: boolean;
}

/** Whether metrics are recorded unless an engine is told otherwise: on, except with ROO_METRICS=off. */
export function metricsByDefault(): boolean {
  return process.env['ROO_METRICS'] !== 'off';
}

/** Totals over every thread. */
export interface EngineStats {
  readonly threads: readonly ThreadStats[];
  /** Messages taken in by all sources. */
  readonly received: number;
  /** Outputs written by all sink writers. */
  readonly written: number;
  /** Outputs that reached sink encoders (including null sinks). */
  readonly encoded: number;
  /** Errors by code and place, over all threads. */
  readonly errors: Record<string, number>;
}

/** Sums every thread's counters. */
export function sumStats(threads: readonly ThreadStats[]): EngineStats {
  const errors: Record<string, number> = {};
  let received = 0;
  let written = 0;
  let encoded = 0;
  for (const t of threads) {
    for (const s of t.sources) received += s.received;
    for (const s of t.sinks) written += s.outputs;
    for (const e of t.encoded) encoded += e.received;
    for (const [k, v] of Object.entries(t.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return { threads, received, written, encoded, errors };
}

/** Where the scheduler thread entry is: compiled JS, or TS sources via tsx. */
export function threadEntry(): { entry: URL; argv?: string[] } {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    return {
      entry: new URL('./ts-thread.mjs', self),
      argv: [new URL('./thread-main.ts', self).href],
    };
  }
  return { entry: new URL('./thread-main.js', self) };
}
