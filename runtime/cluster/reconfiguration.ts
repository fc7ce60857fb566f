/**
 * The coordinator's side of growing and shrinking a running cluster, as a
 * pure state machine over observed facts (a worker asked to join, a shrink
 * was requested, a worker reported its part of a step, a worker was lost).
 * It returns decisions; cluster-node.ts sends them. No sockets, no timers.
 *
 *   idle --grow--> joining --(joiner spawned)--> preparing
 *   idle --shrink or rebalance-----------------> preparing
 *   preparing --(every old member holds what moves after the barrier)--> pausing
 *   pausing --(every old member aligned the barrier, shipped its leaving groups)--> shipping
 *   shipping --(every new member spawned what it takes over)--> rewiring
 *   rewiring --(every new member rewired)--> idle (resume; leavers leave)
 *
 * Only the key groups that move pause: from the barrier on, what is sent to
 * them waits on the sending thread until the new table is installed
 * (engine/move-hold.ts); every other key goes on. The barrier is injected
 * only once every old member is prepared to hold, so that no message sent
 * after it can reach a group's old owner.
 *
 * One reconfiguration at a time: a request while one runs is refused. A
 * member lost on the way fails the reconfiguration (`failed`): the cluster
 * node then shuts the cluster down, or with resilience rolls it back to the
 * last checkpoint, whose membership and routing table are the ones before.
 */
import type { WireGroupState, WireThreadMove, WorkerDirectory } from '../../protocols/index.js';
import { rebalanceOwners } from '../routing/index.js';
import type { Member } from './coordinator.js';

/** Who is in the cluster and who owns each key group (by index into `members`). */
export interface Layout {
  /** The routing table's version: +1 on every reconfiguration. */
  readonly version: number;
  readonly members: readonly Member[];
  /** owners[partitionIndex][keyGroup] = index of the owning member. */
  readonly owners: readonly (readonly number[])[];
}

/** Phases of a reconfiguration. */
export type ReconfigurationPhase =
  'idle' | 'joining' | 'preparing' | 'pausing' | 'shipping' | 'rewiring';

/** The reconfiguration coordinator's state. */
export interface ReconfigurationState {
  readonly phase: ReconfigurationPhase;
  /** The barrier id of the running reconfiguration (0 when idle). */
  readonly id: number;
  readonly before: Layout;
  /** The layout being installed (equal to `before` when idle). */
  readonly after: Layout;
  /** Members whose answer to the current phase is awaited. */
  readonly waiting: ReadonlySet<string>;
  /** Groups shipped by their old owners in this reconfiguration. */
  readonly shipped: readonly WireGroupState[];
  /** Directories of the new members, by index in `after.members`. */
  readonly directories: readonly (WorkerDirectory | undefined)[];
  /** When the running reconfiguration's barrier went out (ms): the moving groups paused then. */
  readonly pausedAtMs: number;
  /** The epoch bit the old members' actors stamp after the barrier (from their `shipped`). */
  readonly epoch: number;
  /** The plan's state partitions by index (shipped groups name theirs). */
  readonly partitions: readonly string[];
  /** Key groups moving between the threads of their worker (a rebalance). */
  readonly moves: readonly WireThreadMove[];
}

/** Something the reconfiguration coordinator observed. */
export type ReconfigurationEvent =
  | {
      readonly kind: 'grow';
      /** The workers joining, together (one, or a batch started with --worker-count K). */
      readonly joiners: readonly Member[];
      readonly id: number;
      readonly nowMs: number;
    }
  | {
      readonly kind: 'shrink';
      readonly leaving: readonly string[];
      readonly id: number;
      readonly nowMs: number;
    }
  | {
      readonly kind: 'rebalance';
      /** The worker whose key groups move between its threads. */
      readonly worker: string;
      readonly moves: readonly WireThreadMove[];
      readonly id: number;
      readonly nowMs: number;
    }
  | {
      readonly kind: 'joiner-spawned';
      readonly name: string;
      readonly directory: WorkerDirectory;
      readonly nowMs: number;
    }
  | {
      readonly kind: 'prepared';
      readonly name: string;
      readonly id: number;
      readonly nowMs: number;
    }
  | {
      readonly kind: 'shipped';
      readonly name: string;
      readonly id: number;
      readonly groups: readonly WireGroupState[];
      /** The worker's last chunk. */
      readonly last: boolean;
      /** Its epoch bit after the barrier. */
      readonly epoch: number;
    }
  | {
      readonly kind: 'spawned';
      readonly name: string;
      readonly id: number;
      readonly directory: WorkerDirectory;
    }
  | { readonly kind: 'rewired'; readonly name: string; readonly id: number; readonly nowMs: number }
  | { readonly kind: 'lost'; readonly name: string };

/** What the cluster node must do. */
export type ReconfigurationDecision =
  /** Refuse a request: one is running. */
  | { readonly kind: 'refuse'; readonly reason: string }
  /** Tell a joiner its place in `layout` (it owns nothing yet) and have it spawn. */
  | { readonly kind: 'assign-joiner'; readonly name: string; readonly layout: Layout }
  /** Tell each of `to`: prepare to hold, after barrier `id`, what moves under `after` (to another worker or thread). */
  | {
      readonly kind: 'migrate';
      readonly to: readonly string[];
      readonly id: number;
      readonly after: Layout;
      readonly moves: readonly WireThreadMove[];
    }
  /** Every old member is prepared: each of `to` injects barrier `id` and ships what leaves it. */
  | { readonly kind: 'barrier'; readonly to: readonly string[]; readonly id: number }
  /** Hand `name` the groups it takes over (possibly none) and have it report its directory. */
  | {
      readonly kind: 'migrate-in';
      readonly name: string;
      readonly id: number;
      readonly groups: readonly WireGroupState[];
      /** The epoch bit after the barrier (a joiner's actors start with it). */
      readonly epoch: number;
    }
  /** Every new member installs `after` with these directories. */
  | {
      readonly kind: 'reconfigure';
      readonly id: number;
      readonly after: Layout;
      readonly directories: readonly WorkerDirectory[];
    }
  /** The reconfiguration is over: resume `to` (a joiner starts), and `leaving` leave. */
  | {
      readonly kind: 'done';
      readonly id: number;
      readonly to: readonly string[];
      readonly leaving: readonly string[];
      readonly joined: readonly string[];
      readonly moved: MoveSummary;
      readonly pausedMs: number;
      readonly after: Layout;
    }
  /** A member was lost during the reconfiguration: it cannot finish. `paused`: input was held already. */
  | {
      readonly kind: 'failed';
      readonly id: number;
      readonly reason: string;
      readonly paused: boolean;
    };

/** What a reconfiguration moved. */
export interface MoveSummary {
  readonly groups: number;
  readonly entities: number;
  readonly bytes: number;
}

/** The idle state over `layout`; `partitions` names the plan's state partitions in order. */
export function idleReconfiguration(
  layout: Layout,
  partitions: readonly string[],
): ReconfigurationState {
  return {
    phase: 'idle',
    id: 0,
    before: layout,
    after: layout,
    waiting: new Set(),
    shipped: [],
    directories: [],
    pausedAtMs: 0,
    epoch: 0,
    partitions,
    moves: [],
  };
}

/** The names of a layout's members. */
export function memberNames(layout: Layout): string[] {
  return layout.members.map((m) => m.name);
}

/** The one transition function. */
export function reconfigure(
  state: ReconfigurationState,
  event: ReconfigurationEvent,
): { state: ReconfigurationState; decisions: ReconfigurationDecision[] } {
  const none = { state, decisions: [] as ReconfigurationDecision[] };
  switch (event.kind) {
    case 'grow': {
      if (state.phase !== 'idle') return { state, decisions: [busy(state)] };
      const taken = new Set(memberNames(state.before));
      const names = event.joiners.map((j) => j.name);
      if (
        names.length === 0 ||
        names.some((n) => taken.has(n)) ||
        new Set(names).size !== names.length
      )
        return {
          state,
          decisions: [
            { kind: 'refuse', reason: `no new, distinct workers to add (${names.join(', ')})` },
          ],
        };
      const members = [...state.before.members, ...event.joiners];
      // The joiners spawn with the table as it is (they own nothing) before anything pauses.
      const joining: Layout = { ...state.before, members };
      return {
        state: {
          ...state,
          phase: 'joining',
          id: event.id,
          after: {
            version: state.before.version + 1,
            members,
            owners: rebalanceOwners(
              state.before.owners,
              memberNames(state.before),
              members.map((m) => m.name),
            ),
          },
          waiting: new Set(names),
          shipped: [],
          directories: [],
        },
        decisions: names.map((name) => ({ kind: 'assign-joiner' as const, name, layout: joining })),
      };
    }
    case 'shrink': {
      if (state.phase !== 'idle') return { state, decisions: [busy(state)] };
      const members = state.before.members.filter((m) => !event.leaving.includes(m.name));
      const after: Layout = {
        version: state.before.version + 1,
        members,
        owners: rebalanceOwners(
          state.before.owners,
          memberNames(state.before),
          members.map((m) => m.name),
        ),
      };
      return prepare(
        { ...state, id: event.id, after, shipped: [], directories: [], moves: [] },
        event.nowMs,
      );
    }
    case 'rebalance': {
      if (state.phase !== 'idle') return { state, decisions: [busy(state)] };
      // Same members and owners; the version changes since actors move.
      const after: Layout = { ...state.before, version: state.before.version + 1 };
      return prepare(
        { ...state, id: event.id, after, shipped: [], directories: [], moves: event.moves },
        event.nowMs,
      );
    }
    case 'joiner-spawned': {
      if (state.phase !== 'joining' || !state.waiting.has(event.name)) return none;
      const directories = [...state.directories];
      directories[state.after.members.findIndex((m) => m.name === event.name)] = event.directory;
      const waiting = without(state.waiting, event.name);
      // Joiners that join together: the barrier waits for the last of them.
      if (waiting.size > 0) return { state: { ...state, waiting, directories }, decisions: [] };
      return prepare({ ...state, directories }, event.nowMs);
    }
    case 'prepared': {
      if (state.phase !== 'preparing' || event.id !== state.id || !state.waiting.has(event.name))
        return none;
      const waiting = without(state.waiting, event.name);
      if (waiting.size > 0) return { state: { ...state, waiting }, decisions: [] };
      const to = memberNames(state.before);
      return {
        state: { ...state, phase: 'pausing', waiting: new Set(to), pausedAtMs: event.nowMs },
        decisions: [{ kind: 'barrier', to, id: state.id }],
      };
    }
    case 'shipped': {
      if (state.phase !== 'pausing' || event.id !== state.id || !state.waiting.has(event.name))
        return none;
      const shipped = [...state.shipped, ...event.groups];
      if (!event.last) return { state: { ...state, shipped, epoch: event.epoch }, decisions: [] };
      const waiting = without(state.waiting, event.name);
      if (waiting.size > 0) return { state: { ...state, waiting, shipped }, decisions: [] };
      // Every old owner has aligned the barrier: nothing is in flight. Hand out the groups.
      const byOwner = new Map<string, WireGroupState[]>();
      for (const g of shipped) {
        const pi = state.partitions.indexOf(g.partition);
        const owner = state.after.members[state.after.owners[pi]?.[g.keyGroup] ?? -1];
        if (owner === undefined) continue;
        const list = byOwner.get(owner.name) ?? [];
        list.push(g);
        byOwner.set(owner.name, list);
      }
      const names = memberNames(state.after);
      return {
        state: {
          ...state,
          phase: 'shipping',
          waiting: new Set(names),
          shipped,
          epoch: event.epoch,
        },
        decisions: names.map((name) => ({
          kind: 'migrate-in' as const,
          name,
          id: state.id,
          groups: byOwner.get(name) ?? [],
          epoch: event.epoch,
        })),
      };
    }
    case 'spawned': {
      if (state.phase !== 'shipping' || event.id !== state.id || !state.waiting.has(event.name))
        return none;
      const waiting = without(state.waiting, event.name);
      const directories = [...state.directories];
      directories[state.after.members.findIndex((m) => m.name === event.name)] = event.directory;
      if (waiting.size > 0) return { state: { ...state, waiting, directories }, decisions: [] };
      return {
        state: {
          ...state,
          phase: 'rewiring',
          waiting: new Set(memberNames(state.after)),
          directories,
        },
        decisions: [
          {
            kind: 'reconfigure',
            id: state.id,
            after: state.after,
            directories: directories as WorkerDirectory[],
          },
        ],
      };
    }
    case 'rewired': {
      if (state.phase !== 'rewiring' || event.id !== state.id || !state.waiting.has(event.name))
        return none;
      const waiting = without(state.waiting, event.name);
      if (waiting.size > 0) return { state: { ...state, waiting }, decisions: [] };
      const afterNames = memberNames(state.after);
      const beforeNames = memberNames(state.before);
      return {
        state: idleReconfiguration(state.after, state.partitions),
        decisions: [
          {
            kind: 'done',
            id: state.id,
            to: afterNames,
            leaving: beforeNames.filter((n) => !afterNames.includes(n)),
            joined: afterNames.filter((n) => !beforeNames.includes(n)),
            moved: {
              groups: state.shipped.length,
              entities: state.shipped.reduce((a, g) => a + g.entities, 0),
              bytes: state.shipped.reduce((a, g) => a + g.state.byteLength, 0),
            },
            pausedMs: Math.max(0, event.nowMs - state.pausedAtMs),
            after: state.after,
          },
        ],
      };
    }
    case 'lost': {
      if (state.phase === 'idle') return none;
      const involved =
        state.before.members.some((m) => m.name === event.name) ||
        state.after.members.some((m) => m.name === event.name);
      if (!involved) return none;
      return {
        state: idleReconfiguration(state.before, state.partitions),
        decisions: [
          {
            kind: 'failed',
            id: state.id,
            reason: `worker '${event.name}' was lost during reconfiguration ${state.id}`,
            paused: state.phase !== 'joining',
          },
        ],
      };
    }
  }
}

/** Every old member prepares to hold what moves after the barrier. */
function prepare(
  state: ReconfigurationState,
  nowMs: number,
): {
  state: ReconfigurationState;
  decisions: ReconfigurationDecision[];
} {
  const to = memberNames(state.before);
  return {
    state: { ...state, phase: 'preparing', waiting: new Set(to), pausedAtMs: nowMs },
    decisions: [{ kind: 'migrate', to, id: state.id, after: state.after, moves: state.moves }],
  };
}

/** The refusal of a request while a reconfiguration runs. */
function busy(state: ReconfigurationState): ReconfigurationDecision {
  return {
    kind: 'refuse',
    reason: `reconfiguration ${state.id} is under way (${state.phase}); one runs at a time, try again when it is over`,
  };
}

function without(set: ReadonlySet<string>, name: string): Set<string> {
  const next = new Set(set);
  next.delete(name);
  return next;
}

/**
 * The layout a rollback restores: the one its checkpoint was taken under
 * (`saved`; the members' addresses as they are now), or, with none recorded,
 * `members` with the first routing table (`initialOwners`). `leaving`: the
 * members now that were not in it (joiners that came after the checkpoint).
 */
export function rollbackLayout(
  saved: Layout | undefined,
  members: readonly Member[],
  initialOwners: () => number[][],
): { layout: Layout; leaving: string[] } {
  if (saved === undefined)
    return { layout: { version: 1, members, owners: initialOwners() }, leaving: [] };
  const now = (m: Member) => members.find((x) => x.name === m.name) ?? m;
  const layout = { ...saved, members: saved.members.map(now) };
  return {
    layout,
    leaving: members
      .filter((m) => !layout.members.some((x) => x.name === m.name))
      .map((m) => m.name),
  };
}

/**
 * Why no reconfiguration may start now, or undefined: the cluster must be
 * running (not forming, not recovering), whole (no worker lost), and its
 * routes must not loop (`loop`: a stage on a loop, if any), or the barrier
 * could never align.
 */
export function whyBlocked(
  cluster: {
    readonly phase: string;
    readonly recovering: boolean;
    readonly lost: ReadonlySet<string>;
  },
  loop: string | undefined,
): string | undefined {
  if (cluster.phase !== 'running' || cluster.recovering)
    return `the cluster is not running now (${cluster.recovering ? 'recovering' : cluster.phase})`;
  if (cluster.lost.size > 0)
    return `worker ${[...cluster.lost].map((n) => `'${n}'`).join(', ')} is lost; the cluster must be whole to grow or shrink`;
  if (loop !== undefined)
    return `the application's routes loop through ${loop}, so a reconfiguration's barrier could never align`;
  return undefined;
}
