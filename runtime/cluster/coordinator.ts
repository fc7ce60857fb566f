/**
 * The initializer's start-up coordinator, as a pure state machine over
 * observed facts (a worker said hello, reported its actors, wired, became
 * ready, or went away). It returns decisions; the control server executes
 * them. No sockets, no timers: every rule here has a unit test.
 *
 *   gathering --(N members)--> spawning --(all spawned)--> wiring
 *     --(all wired)--> starting --(all ready)--> running
 *
 * A duplicate name, or a worker of another application, is refused in any
 * phase. A member lost before `running` aborts the start (the others are
 * told to shut down); after `running`, a member that says hello again with
 * its old name is a restarted worker and is given its old place.
 *
 * With resilience, a restarted worker makes the whole cluster roll back:
 * every member is told to drop its engine and restore the last committed
 * checkpoint (`rollback`), then goes through spawning, wiring and starting
 * again (`recovered` at the end). A member lost on the way is waited for,
 * and the rollback starts over when it is back. A restarted initializer
 * starts in `gathering` with the saved order of the members, and rolls the
 * cluster back once all of them are connected again.
 */
import { ErrorCode, type Address, type ErrorCodeValue } from '../../protocols/index.js';

/** A worker of the cluster, as the initializer knows it. */
export interface Member {
  readonly name: string;
  readonly threads: number;
  readonly control: Address;
  readonly data: Address;
}

/** What a joining worker says about itself. */
export interface Hello extends Member {
  readonly application: string;
  readonly applicationHash: string;
  /** Committed checkpoints whose files this worker can restore. */
  readonly restorable?: readonly number[];
  /** Started with `--join`: asks to join a running cluster. */
  readonly joinRunning?: boolean;
  /** With `--join`: how many workers join together (its `--worker-count`; 1 alone). */
  readonly joinCount?: number;
}

/** Phases of start-up. */
export type Phase = 'gathering' | 'spawning' | 'wiring' | 'starting' | 'running' | 'aborted';

/** The coordinator's state. */
export interface CoordinatorState {
  readonly phase: Phase;
  readonly expected: number;
  readonly application: string;
  readonly applicationHash: string;
  /** Members in join order; index = worker index. */
  readonly members: readonly Member[];
  /** Names that have done the current phase's step. */
  readonly done: ReadonlySet<string>;
  /** Directories reported by members (by worker index), for wiring. */
  readonly directories: readonly (unknown | undefined)[];
  /** Restarted members going through spawn, wire and start again while the rest run. */
  readonly rejoining: ReadonlySet<string>;
  /** Members whose control connection was lost while running: only these may come back. */
  readonly lost: ReadonlySet<string>;
  /** Resilience on: a restarted member rolls the whole cluster back. */
  readonly resilient: boolean;
  /** A rollback is under way (or, on a restarted initializer, due once all are back). */
  readonly recovering: boolean;
  /** A restarted initializer's members, in their saved order (worker indexes must not change). */
  readonly order: readonly string[] | undefined;
  /** Committed checkpoints each member reported it can restore (from its latest hello). */
  readonly restorable: Readonly<Record<string, readonly number[]>>;
}

/** Something the coordinator observed. */
export type CoordinatorEvent =
  | { readonly kind: 'hello'; readonly connection: number; readonly hello: Hello }
  | { readonly kind: 'spawned'; readonly name: string; readonly directory: unknown }
  | { readonly kind: 'wired'; readonly name: string }
  | { readonly kind: 'ready'; readonly name: string }
  | { readonly kind: 'lost'; readonly name: string }
  /** A reconfiguration finished: these are the members now, in worker order. */
  /** A reconfiguration failed with resilience on: roll every member back now. */
  | { readonly kind: 'roll-back' }
  | {
      readonly kind: 'members';
      readonly members: readonly Member[];
      readonly directories: readonly unknown[];
    };

/** What the control server must do. */
export type Decision =
  | {
      readonly kind: 'refuse';
      readonly connection: number;
      readonly code: ErrorCodeValue;
      readonly message: string;
    }
  | { readonly kind: 'accept'; readonly connection: number; readonly name: string }
  /** A worker started with --join asks to join the running cluster (a reconfiguration adds it). */
  | {
      readonly kind: 'join';
      readonly connection: number;
      readonly member: Member;
      /** Workers joining together (join-batch.ts). */
      readonly count: number;
    }
  | { readonly kind: 'assign'; readonly members: readonly Member[] }
  | { readonly kind: 'assign-one'; readonly name: string; readonly members: readonly Member[] }
  | { readonly kind: 'wire'; readonly directories: readonly unknown[] }
  | { readonly kind: 'wire-one'; readonly name: string; readonly directories: readonly unknown[] }
  | { readonly kind: 'start' }
  | { readonly kind: 'start-one'; readonly name: string }
  | { readonly kind: 'rejoined'; readonly name: string }
  | { readonly kind: 'running' }
  | {
      readonly kind: 'rollback';
      readonly members: readonly Member[];
      readonly restorable: Readonly<Record<string, readonly number[]>>;
    }
  | { readonly kind: 'recovered' }
  | { readonly kind: 'abort'; readonly reason: string };

/** The first state: waiting for `expected` workers of `application`. */
export function initialState(
  expected: number,
  application: string,
  applicationHash: string,
  resilience: { readonly order?: readonly string[] } | undefined = undefined,
): CoordinatorState {
  return {
    phase: 'gathering',
    expected,
    application,
    applicationHash,
    members: [],
    done: new Set<string>(),
    directories: [],
    rejoining: new Set<string>(),
    lost: new Set<string>(),
    resilient: resilience !== undefined,
    recovering: resilience?.order !== undefined,
    order: resilience?.order,
    restorable: {},
  };
}

/** The one transition function: applies an event, returns the next state and the decisions. */
export function step(
  state: CoordinatorState,
  event: CoordinatorEvent,
): { state: CoordinatorState; decisions: Decision[] } {
  switch (event.kind) {
    case 'hello':
      return onHello(state, event.connection, event.hello);
    case 'spawned':
      if (state.rejoining.has(event.name))
        return onRejoinStep(state, event.name, 'spawned', event.directory);
      return onDone(state, 'spawning', event.name, (s, index) => {
        const directories = [...s.directories];
        directories[index] = event.directory;
        return { ...s, directories };
      });
    case 'wired':
      if (state.rejoining.has(event.name)) return onRejoinStep(state, event.name, 'wired');
      return onDone(state, 'wiring', event.name);
    case 'ready':
      if (state.rejoining.has(event.name)) return onRejoinStep(state, event.name, 'ready');
      return onDone(state, 'starting', event.name);
    case 'roll-back':
      if (!state.resilient || state.phase !== 'running') return { state, decisions: [] };
      return {
        state: {
          ...state,
          phase: 'spawning' as Phase,
          done: new Set<string>(),
          directories: [],
          recovering: true,
        },
        decisions: [{ kind: 'rollback', members: state.members, restorable: state.restorable }],
      };
    case 'members':
      return {
        state: {
          ...state,
          members: event.members,
          directories: event.directories,
          expected: event.members.length,
        },
        decisions: [],
      };
    case 'lost':
      return onLost(state, event.name);
  }
}

function refuse(
  state: CoordinatorState,
  connection: number,
  code: ErrorCodeValue,
  message: string,
) {
  return { state, decisions: [{ kind: 'refuse', connection, code, message } as Decision] };
}

type Result = { state: CoordinatorState; decisions: Decision[] };

function onHello(state: CoordinatorState, connection: number, hello: Hello): Result {
  if (hello.application !== state.application || hello.applicationHash !== state.applicationHash) {
    return refuse(
      state,
      connection,
      ErrorCode.ClusterMismatch,
      `worker '${hello.name}' runs application '${hello.application}' (${hello.applicationHash}), but this cluster runs '${state.application}' (${state.applicationHash}); start every worker with the same application module and arguments`,
    );
  }
  const known = state.members.findIndex((m) => m.name === hello.name);
  if (state.order !== undefined && !state.order.includes(hello.name)) {
    return refuse(
      state,
      connection,
      ErrorCode.ClusterMismatch,
      `worker '${hello.name}' is not one of this cluster's workers (${state.order.join(', ')}); the initializer is recovering that cluster`,
    );
  }
  const restorable = { ...state.restorable, [hello.name]: hello.restorable ?? [] };
  if (state.resilient && state.phase === 'running' && known >= 0 && state.lost.has(hello.name)) {
    const members = [...state.members];
    members[known] = memberOf(hello);
    const lost = without(state.lost, hello.name);
    const next = { ...state, members, lost, restorable };
    const decisions: Decision[] = [{ kind: 'accept', connection, name: hello.name }];
    // Roll back once every lost member is back: a checkpoint needs all of them.
    if (lost.size > 0) return { state: { ...next, recovering: true }, decisions };
    decisions.push({ kind: 'rollback', members, restorable });
    return {
      state: {
        ...next,
        phase: 'spawning' as Phase,
        done: new Set<string>(),
        directories: [],
        recovering: true,
      },
      decisions,
    };
  }
  if (state.phase === 'running' && known >= 0 && state.lost.has(hello.name)) {
    const before = state.members[known] as Member;
    if (before.data.host !== hello.data.host || before.data.port !== hello.data.port) {
      // The others' data channels keep reconnecting to the address on record.
      return refuse(
        state,
        connection,
        ErrorCode.ClusterMismatch,
        `worker '${hello.name}' came back with data address ${hello.data.host}:${hello.data.port}, but the cluster knows it at ${before.data.host}:${before.data.port}; restart it with --my-data ${before.data.host}:${before.data.port} (give restartable workers fixed addresses)`,
      );
    }
    // A restarted worker: same name, its old place.
    const members = [...state.members];
    members[known] = memberOf(hello);
    return {
      state: {
        ...state,
        members,
        rejoining: new Set(state.rejoining).add(hello.name),
        lost: without(state.lost, hello.name),
      },
      decisions: [
        { kind: 'accept', connection, name: hello.name } as Decision,
        { kind: 'assign-one', name: hello.name, members } as Decision,
      ],
    };
  }
  if (known >= 0) {
    return refuse(
      state,
      connection,
      ErrorCode.DuplicateWorker,
      `a worker named '${hello.name}' is already in the cluster; give every worker a unique --name`,
    );
  }
  if (hello.joinRunning === true && state.order?.includes(hello.name) !== true) {
    if (state.phase !== 'running' || state.recovering || state.lost.size > 0) {
      return refuse(
        state,
        connection,
        ErrorCode.ClusterMismatch,
        `worker '${hello.name}' asked to join, but the cluster is not running now (${state.lost.size > 0 ? `waiting for ${[...state.lost].join(', ')}` : state.phase}); start it again once the cluster runs`,
      );
    }
    return {
      state: { ...state, restorable },
      decisions: [
        { kind: 'join', connection, member: memberOf(hello), count: hello.joinCount ?? 1 },
      ],
    };
  }
  if (state.phase !== 'gathering') {
    return refuse(
      state,
      connection,
      ErrorCode.ClusterMismatch,
      `the cluster has ${state.members.length} workers and is past start-up; to grow it, start the new worker with --join and the control address of any worker`,
    );
  }
  let members = [...state.members, memberOf(hello)];
  const decisions: Decision[] = [{ kind: 'accept', connection, name: hello.name }];
  if (members.length < state.expected) {
    return { state: { ...state, members, restorable }, decisions };
  }
  const order = state.order;
  if (order !== undefined)
    members = [...members].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  decisions.push(
    state.recovering ? { kind: 'rollback', members, restorable } : { kind: 'assign', members },
  );
  return {
    state: { ...state, members, restorable, phase: 'spawning' as Phase, done: new Set<string>() },
    decisions,
  };
}

function memberOf(h: Hello): Member {
  return { name: h.name, threads: h.threads, control: h.control, data: h.data };
}

const NEXT: Partial<Record<Phase, { phase: Phase; decide: (s: CoordinatorState) => Decision }>> = {
  spawning: {
    phase: 'wiring',
    decide: (s) => ({ kind: 'wire', directories: s.directories as unknown[] }),
  },
  wiring: { phase: 'starting', decide: () => ({ kind: 'start' }) },
  starting: {
    phase: 'running',
    decide: (s) => (s.recovering ? { kind: 'recovered' } : { kind: 'running' }),
  },
};

function onDone(
  state: CoordinatorState,
  phase: Phase,
  name: string,
  record: (s: CoordinatorState, index: number) => CoordinatorState = (s) => s,
): Result {
  const index = state.members.findIndex((m) => m.name === name);
  if (state.phase !== phase || index < 0 || state.done.has(name)) return { state, decisions: [] };
  const done = new Set(state.done).add(name);
  const recorded = record({ ...state, done }, index);
  if (done.size < state.members.length) return { state: recorded, decisions: [] };
  const next = NEXT[phase];
  if (next === undefined) return { state: recorded, decisions: [] };
  return {
    state: {
      ...recorded,
      phase: next.phase,
      done: new Set(),
      recovering: next.phase === 'running' ? false : recorded.recovering,
    },
    decisions: [next.decide(recorded)],
  };
}

/** A restarted member's steps: spawned -> wire it; wired -> start it; ready -> it is back. */
function onRejoinStep(
  state: CoordinatorState,
  name: string,
  what: 'spawned' | 'wired' | 'ready',
  directory?: unknown,
): Result {
  const index = state.members.findIndex((m) => m.name === name);
  if (what === 'spawned') {
    const directories = [...state.directories];
    directories[index] = directory;
    return {
      state: { ...state, directories },
      decisions: [{ kind: 'wire-one', name, directories }],
    };
  }
  if (what === 'wired') return { state, decisions: [{ kind: 'start-one', name }] };
  const rejoining = new Set(state.rejoining);
  rejoining.delete(name);
  return { state: { ...state, rejoining }, decisions: [{ kind: 'rejoined', name }] };
}

function onLost(state: CoordinatorState, name: string): Result {
  const index = state.members.findIndex((m) => m.name === name);
  if (index < 0) return { state, decisions: [] };
  if (state.phase === 'gathering') {
    return {
      state: { ...state, members: state.members.filter((m) => m.name !== name) },
      decisions: [],
    };
  }
  if (state.phase === 'running')
    return { state: { ...state, lost: new Set(state.lost).add(name) }, decisions: [] };
  if (
    state.resilient &&
    state.phase !== 'aborted' &&
    (state.recovering || state.order !== undefined)
  ) {
    // A member lost during a recovery: wait for it, then roll back again.
    return {
      state: {
        ...state,
        phase: 'running' as Phase,
        done: new Set<string>(),
        recovering: true,
        lost: new Set(state.lost).add(name),
      },
      decisions: [],
    };
  }
  if (state.phase === 'aborted') return { state, decisions: [] };
  return {
    state: { ...state, phase: 'aborted' as Phase },
    decisions: [
      {
        kind: 'abort',
        reason: `worker '${name}' was lost during start-up (${state.phase})`,
      } as Decision,
    ],
  };
}

function without(set: ReadonlySet<string>, name: string): Set<string> {
  const out = new Set(set);
  out.delete(name);
  return out;
}
