/**
 * A scheduler thread's counters as `ThreadControl.stats` reports them: the
 * kernel's (scheduler, loop, mailboxes, garbage collections) and the stream
 * actors' (sources, sink writers and encoders, key groups, data channels),
 * read from the objects that keep them.
 */
import type { GcWatch, Scheduler, ThreadLoop } from '../../actors/index.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { SinkEncoder, SinkWriter } from './sink-actors.js';
import type { SourceActor } from './source-actor.js';
import type { KeyGroupActor } from './stage-actors.js';
import type { KeyGroupKeys, ThreadStats } from './thread-control.js';
import type { ThreadDataListener, ThreadLinks } from './thread-io.js';
import type { Plan } from '../topology/plan.js';

/** What a thread's counters are read from. */
export interface ThreadParts {
  readonly scheduler: Scheduler;
  readonly loop: ThreadLoop;
  readonly gc: GcWatch;
  readonly sources: readonly SourceActor[];
  readonly keyGroups: readonly KeyGroupActor[];
  readonly writers: ReadonlyMap<number, SinkWriter>;
  readonly encoders: ReadonlyMap<number, SinkEncoder>;
  readonly errors: ErrorReporter;
  readonly links: ThreadLinks | undefined;
  readonly dataListener: ThreadDataListener | undefined;
}

/** Reads a thread's counters. */
export function threadStats(t: ThreadParts): ThreadStats {
  const { scheduler, loop } = t;
  const entities: Record<string, number> = {};
  for (const kg of t.keyGroups)
    entities[kg.partition.name] = (entities[kg.partition.name] ?? 0) + kg.size;
  return {
    thread: scheduler.thread,
    scheduler: { ...scheduler.stats },
    loop: {
      iterations: loop.iterations,
      parks: loop.parks,
      utilization: performance.eventLoopUtilization().utilization,
    },
    actors: scheduler.actorCount,
    mailboxes: scheduler.mailboxDepths(),
    gc: structuredClone(t.gc.stats),
    sources: t.sources.map((s) => ({
      name: s.stage.source.name,
      stage: s.stage.id,
      ...s.counters,
      muted: s.muting,
    })),
    sinks: [...t.writers.entries()].map(([id, w]) => ({ id, ...w.counters })),
    encoded: [...t.encoders.entries()].map(([id, e]) => ({ id, ...e.counters })),
    entities,
    errors: t.errors.counts(),
    idle: !scheduler.hasRunnable() && !scheduler.hasInbound() && !scheduler.hasPendingOutbound(),
    dataChannel: {
      sent: t.links?.sentByWorker() ?? [],
      received: t.dataListener?.received ?? 0,
      out: t.links?.traffic() ?? [],
      in: t.dataListener?.traffic() ?? [],
    },
  };
}

/** Every key group of `keyGroups` with its entity count and first `limit` keys (the partition query). */
export function groupKeys(
  plan: Pick<Plan, 'partitions'>,
  keyGroups: readonly KeyGroupActor[],
  limit: number,
): KeyGroupKeys[] {
  const max = Math.max(0, Math.floor(limit));
  return keyGroups.map((kg) => {
    const keys: string[] = [];
    const live = kg.live();
    for (const key of live.keys()) {
      if (keys.length >= max) break;
      keys.push(key);
    }
    const partition = plan.partitions.indexOf(kg.partition);
    return { partition, keyGroup: kg.keyGroup, count: live.size, keys };
  });
}
