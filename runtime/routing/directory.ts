/**
 * Routing: who owns what in the cluster, and how a message gets there.
 *
 * The routing table says which worker owns each key group (table.ts: the
 * first one, and the next one that moves as few groups as possible). Each
 * thread spawns the actors of its worker's share and reports them
 * (LocalDirectory, merged into the worker's WorkerDirectory); with every
 * worker's directory a thread builds its Directory, the whole cluster's
 * actors by role, and routes with one `send` that picks the way: the
 * actor's mailbox or a ring to another thread of this worker (the
 * scheduler's send), or the data channel to another worker. A route never
 * asks where its target lives; a reconfiguration installs the next table
 * and directories, and the routes are compiled again.
 */
import type { ActorRef, Scheduler } from '../../actors/index.js';
import type { Address, WorkerDirectory } from '../../protocols/index.js';
import type { Plan } from '../topology/plan.js';

/** What every thread needs to route anywhere in the cluster. */
export interface Wiring {
  /** This worker's index in `members`. */
  readonly me: number;
  /** Every worker, by index: its name, data address and thread count. */
  readonly members: readonly {
    readonly name: string;
    readonly data: Address;
    readonly threads: number;
  }[];
  /** owners[partitionIndex][keyGroup] = index of the worker that owns the group. */
  readonly owners: readonly (readonly number[])[];
  /** directories[workerIndex] = that worker's actors. */
  readonly directories: readonly WorkerDirectory[];
  /** The cluster's rollback generation (0 until the first recovery). */
  readonly generation?: number;
}

/** The actors one thread spawned, by role. */
export interface LocalDirectory {
  readonly thread: number;
  /** keyGroups[partitionIndex][keyGroup] for the groups this thread owns. */
  readonly keyGroups: Record<number, ActorRef>[];
  readonly parallel: Record<number, ActorRef>;
  readonly sinkWriters: Record<number, ActorRef>;
  readonly sources: Record<number, ActorRef>;
}

/** Where an actor lives in the cluster: a worker index and the actor's address there. */
export interface Placed {
  readonly worker: number;
  readonly ref: ActorRef;
}

/** The actors of the whole cluster, by role, as one thread routes to them. */
export interface Directory {
  /** This worker's index. */
  readonly me: number;
  /** Per partition: owner worker and actor of each key group. */
  readonly keyGroups: readonly {
    readonly worker: readonly number[];
    readonly ref: readonly ActorRef[];
  }[];
  /** parallel[stageId] = every replica, on every thread of every worker. */
  readonly parallel: Readonly<Record<number, readonly Placed[]>>;
  /** sinkWriters[sinkId] = this worker's writer actor (absent for a null sink). */
  readonly sinkWriters: Readonly<Record<number, ActorRef>>;
}

/** Sends to an actor of another worker (the thread's data links). */
export type RemoteSend = (
  worker: number,
  ref: ActorRef,
  tag: number,
  a: unknown,
  b: unknown,
) => void;

/** Sends one message to an actor anywhere in the cluster. */
export type Send = (worker: number, ref: ActorRef, tag: number, a: unknown, b: unknown) => void;

/**
 * The one send of a thread: to an actor of this worker through the
 * scheduler (its mailbox, or the ring to its thread), to another worker's
 * through `remote` (the thread's data links).
 */
export function sendVia(me: number, scheduler: Scheduler, remote: RemoteSend): Send {
  return (worker, ref, tag, a, b) => {
    if (worker === me) scheduler.send(ref, tag, a, b);
    else remote(worker, ref, tag, a, b);
  };
}

/** The routing view of the cluster's directory, for this thread's routes. */
export function clusterDirectory(p: Plan, wiring: Wiring): Directory {
  const keyGroups = p.partitions.map((partition, pi) => {
    const owners = wiring.owners[pi] ?? [];
    const worker: number[] = [];
    const ref: number[] = [];
    for (let kg = 0; kg < partition.grouper.groups; kg++) {
      const w = owners[kg] ?? 0;
      worker.push(w);
      ref.push(wiring.directories[w]?.keyGroups[pi]?.[String(kg)] ?? -1);
    }
    return { worker, ref };
  });
  const parallel: Record<number, Placed[]> = {};
  wiring.directories.forEach((d, w) => {
    for (const [stage, refs] of Object.entries(d.parallel)) {
      for (const r of refs) (parallel[Number(stage)] ??= []).push({ worker: w, ref: r });
    }
  });
  const mine = wiring.directories[wiring.me];
  const sinkWriters: Record<number, number> = {};
  for (const [id, ref] of Object.entries(mine?.sinkWriters ?? {})) sinkWriters[Number(id)] = ref;
  return { me: wiring.me, keyGroups, parallel, sinkWriters };
}

/** Merges the threads' local directories into this worker's directory. */
export function mergeDirectories(locals: readonly LocalDirectory[]): WorkerDirectory {
  const keyGroups: Record<string, number>[] = [];
  const parallel: Record<string, number[]> = {};
  const sinkWriters: Record<string, number> = {};
  const sources: Record<string, number> = {};
  for (const l of [...locals].sort((a, b) => a.thread - b.thread)) {
    l.keyGroups.forEach((owned, pi) => {
      const into = (keyGroups[pi] ??= {});
      for (const [kg, ref] of Object.entries(owned)) into[kg] = ref;
    });
    for (const [id, ref] of Object.entries(l.parallel)) (parallel[id] ??= []).push(ref);
    for (const [id, ref] of Object.entries(l.sinkWriters)) sinkWriters[id] = ref;
    for (const id of Object.keys(l.sources)) sources[id] = (sources[id] ?? 0) + 1;
  }
  return { keyGroups, parallel, sinkWriters, sources };
}
