/**
 * The executor of the reconfiguration coordinator (reconfiguration.ts) on
 * the initializer: it feeds the state machine what the workers report and
 * sends its decisions over the control channel. With resilience it starts
 * each reconfiguration at a checkpoint boundary (a checkpoint is taken and
 * committed first, then checkpoints pause) and has the new membership made
 * durable by a checkpoint before any worker leaves.
 */
import { workerEvents } from '../engine/worker-events.js';
import { chunkGroups } from '../../protocols/index.js';
import type {
  WireThreadMove,
  AssignControlMessage,
  ControlMessage,
  ShrinkOutcome,
  ShrinkRequest,
  WorkerDirectory,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import type { Member } from './coordinator.js';
import {
  idleReconfiguration,
  memberNames,
  reconfigure,
  type Layout,
  type ReconfigurationDecision,
  type ReconfigurationEvent,
  type ReconfigurationState,
} from './reconfiguration.js';
import { planShrink } from './shrink-plan.js';

/** How checkpoints and reconfigurations take turns (resilience on). */
export interface CheckpointTurns {
  /** Takes a checkpoint now, waits for its commit, pauses checkpoints; resolves with the next free id. */
  before(): Promise<number>;
  /**
   * Every old member wrote its snapshot at barrier `id`: commit it (durably,
   * then tell `members`), so that the output before the barrier is released
   * ahead of any output after it.
   */
  commit(id: number, members: readonly string[]): void;
  /** Checkpoints go on over `members` after barrier `id`; resolves once one has committed. */
  after(members: readonly string[], id: number): Promise<void>;
}

/** What the driver needs from the cluster node. */
export interface ReconfigurationDriverOptions {
  readonly log: Logger;
  /** The plan's state partitions, in order. */
  readonly partitions: readonly string[];
  /** The initializer's name (it may not leave). */
  readonly initializer: string;
  /** The `assign` telling member `index` of `layout` its place. */
  readonly assignOf: (layout: Layout, index: number) => AssignControlMessage;
  /** Sends to a worker by name. */
  readonly send: (name: string, m: ControlMessage) => void;
  /** The cluster's members and directories after a reconfiguration. */
  readonly installed: (layout: Layout, directories: readonly WorkerDirectory[]) => void;
  /** A worker left: forget its connection (its close is not a loss). */
  readonly left: (name: string) => void;
  /** A reconfiguration could not finish (a member was lost); `paused`: input was held already. */
  readonly failed: (reason: string, joiners: readonly string[], paused: boolean) => void;
  readonly checkpoints?: CheckpointTurns;
  /**
   * A pause of every reconfiguration at `delayAt`, in ms (0 by default; set
   * by ROO_RECONFIGURE_DELAY_MS, for tests that crash a worker mid-way).
   */
  readonly delayMs?: number;
  /**
   * Where the pause is (ROO_RECONFIGURE_DELAY_AT): before the barrier goes
   * out, before the key groups are handed out (the default), or before the
   * new routing table is installed.
   */
  readonly delayAt?: ReconfigurationDelayPoint;
  /** Why no reconfiguration may start now (a worker is lost, a recovery runs), or undefined. */
  readonly blocked: () => string | undefined;
}

/** Where a test may hold every reconfiguration (ROO_RECONFIGURE_DELAY_AT). */
export type ReconfigurationDelayPoint = 'barrier' | 'hand-out' | 'rewire';

/** Reads ROO_RECONFIGURE_DELAY_AT: one of the points, else the default ('hand-out'). */
export function delayPointOf(text: string | undefined): ReconfigurationDelayPoint {
  return text === 'barrier' || text === 'rewire' ? text : 'hand-out';
}

/** One request waiting for its reconfiguration to end. */
interface Waiter {
  readonly id: number;
  readonly resolve: (o: ShrinkOutcome) => void;
  readonly message: string;
  readonly eligible: readonly string[];
}

/** What a rebalance request gets back. */
export interface RebalanceOutcome {
  readonly ok: boolean;
  readonly message: string;
}

/** Runs reconfigurations, one at a time. */
export class ReconfigurationDriver {
  private state: ReconfigurationState;
  private directories: readonly (WorkerDirectory | undefined)[];
  private lastId = 0;
  /** A request accepted but not yet started (waiting for its checkpoint boundary). */
  private starting = false;
  private waiter: Waiter | undefined;
  /** The joiners of the running reconfiguration. */
  private joiners: string[] = [];

  constructor(
    private readonly o: ReconfigurationDriverOptions,
    layout: Layout,
    directories: readonly (WorkerDirectory | undefined)[],
  ) {
    this.state = idleReconfiguration(layout, o.partitions);
    this.directories = directories;
  }

  /** The layout in force (the one before, while a reconfiguration runs). */
  get layout(): Layout {
    return this.state.before;
  }

  /** The running reconfiguration, for status: phase, id, and the groups that move. */
  get running(): { phase: string; id: number; moving: number } | undefined {
    if (this.state.phase === 'idle')
      return this.starting ? { phase: 'starting', id: 0, moving: 0 } : undefined;
    const before = this.state.before;
    const after = this.state.after;
    let moving = 0;
    after.owners.forEach((row, pi) =>
      row.forEach((w, g) => {
        if (after.members[w]?.name !== before.members[before.owners[pi]?.[g] ?? -1]?.name) moving++;
      }),
    );
    return { phase: this.state.phase, id: this.state.id, moving };
  }

  /** After a rollback: the layout in force is `layout` again, and nothing runs. */
  reset(layout: Layout): void {
    this.state = idleReconfiguration(layout, this.o.partitions);
    this.joiners = [];
    this.starting = false;
  }

  /** The directories of the members, by index (after start-up or the last reconfiguration). */
  setDirectories(directories: readonly (WorkerDirectory | undefined)[]): void {
    this.directories = directories;
  }

  /** Workers started with --join asked to join (together, with --worker-count): grow the cluster by them. */
  grow(members: readonly Member[]): void {
    void this.begin(
      (id) => ({ kind: 'grow', joiners: members, id, nowMs: Date.now() }),
      (reason) => {
        for (const member of members) {
          this.o.log.warn(`worker '${member.name}' cannot join now: ${reason}`);
          this.o.send(member.name, { type: 'leave', version: 1, reason });
          this.o.left(member.name);
        }
      },
    );
  }

  /** A shrink request (or query) from the external channel. */
  shrink(request: ShrinkRequest): Promise<ShrinkOutcome> {
    const plan = planShrink(this.layout, this.directories, this.o.initializer, request);
    const members = memberNames(this.layout);
    if (!plan.ok || request.query) return Promise.resolve({ ...plan, leaving: [], members });
    if (this.busy())
      return Promise.resolve({
        ok: false,
        message: this.busyReason(),
        leaving: [],
        eligible: plan.eligible,
        members,
      });
    return new Promise((resolve) => {
      void this.begin(
        (id) => {
          this.waiter = { id, resolve, message: plan.message, eligible: plan.eligible };
          return { kind: 'shrink', leaving: plan.leaving, id, nowMs: Date.now() };
        },
        (reason) =>
          resolve({ ok: false, message: reason, leaving: [], eligible: plan.eligible, members }),
      );
    });
  }

  /** Moves `worker`'s key groups between its threads (its own plan, from its measured loads). */
  rebalance(worker: string, moves: readonly WireThreadMove[]): Promise<RebalanceOutcome> {
    if (moves.length === 0) return Promise.resolve({ ok: true, message: 'nothing to move' });
    const blocked = this.o.blocked();
    if (blocked !== undefined) return Promise.resolve({ ok: false, message: blocked });
    if (this.busy()) return Promise.resolve({ ok: false, message: this.busyReason() });
    return new Promise((resolve) => {
      void this.begin(
        (id) => {
          this.waiter = {
            id,
            resolve: (o) => resolve({ ok: o.ok, message: o.message }),
            message: `rebalanced the threads of '${worker}'`,
            eligible: [],
          };
          return { kind: 'rebalance', worker, moves, id, nowMs: Date.now() };
        },
        (reason) => resolve({ ok: false, message: reason }),
      );
    });
  }

  /** Handles a worker's report; false if it is not about a reconfiguration. */
  observe(m: ControlMessage): boolean {
    switch (m.type) {
      case 'spawned':
        if (this.state.phase !== 'joining' || !this.state.waiting.has(m.name)) return false;
        this.apply({
          kind: 'joiner-spawned',
          name: m.name,
          directory: m.directory,
          nowMs: Date.now(),
        });
        return true;
      case 'migrate-prepared':
        this.apply({ kind: 'prepared', name: m.name, id: m.id, nowMs: Date.now() });
        return true;
      case 'migrate-out':
        this.apply({
          kind: 'shipped',
          name: m.name,
          id: m.id,
          groups: m.groups,
          last: m.last,
          epoch: m.epoch,
        });
        return true;
      case 'migrate-spawned':
        this.apply({ kind: 'spawned', name: m.name, id: m.id, directory: m.directory });
        return true;
      case 'reconfigured':
        this.apply({ kind: 'rewired', name: m.name, id: m.id, nowMs: Date.now() });
        return true;
      default:
        return false;
    }
  }

  /** A worker's control connection closed. */
  lost(name: string): void {
    this.apply({ kind: 'lost', name });
  }

  private busy(): boolean {
    return this.starting || this.state.phase !== 'idle';
  }

  private busyReason(): string {
    const r = this.running;
    return `a reconfiguration is under way (${r?.phase ?? 'starting'}); one runs at a time, try again when it is over`;
  }

  /** Starts a reconfiguration at a checkpoint boundary (with resilience) or at once. */
  private async begin(
    event: (id: number) => ReconfigurationEvent,
    refused: (reason: string) => void,
  ): Promise<void> {
    if (this.busy()) return refused(this.busyReason());
    const blocked = this.o.blocked();
    if (blocked !== undefined) return refused(blocked);
    this.starting = true;
    let id: number;
    try {
      id = this.o.checkpoints === undefined ? this.lastId + 1 : await this.o.checkpoints.before();
    } catch (err) {
      this.starting = false;
      return refused((err as Error).message);
    }
    this.lastId = id;
    this.starting = false;
    this.apply(event(id));
  }

  private apply(event: ReconfigurationEvent): void {
    const r = reconfigure(this.state, event);
    this.state = r.state;
    for (const d of r.decisions) this.execute(d);
  }

  private execute(d: ReconfigurationDecision): void {
    const { o } = this;
    switch (d.kind) {
      case 'refuse':
        o.log.warn(`reconfiguration request refused: ${d.reason}`);
        return;
      case 'assign-joiner': {
        this.joiners.push(d.name);
        o.log.info(`worker '${d.name}' is joining the running cluster`);
        o.send(
          d.name,
          o.assignOf(
            d.layout,
            d.layout.members.findIndex((m) => m.name === d.name),
          ),
        );
        return;
      }
      case 'migrate': {
        const a = this.state.after;
        o.log.info(
          `reconfiguration ${d.id}: ${memberNames(this.state.before).join(', ')} -> ${memberNames(a).join(', ')}; ${this.running?.moving ?? 0} key groups move at barrier ${d.id}, every other key flows on`,
        );
        const routing = o.assignOf(a, 0).routing;
        for (const name of d.to)
          o.send(name, {
            type: 'migrate',
            version: 1,
            id: d.id,
            members: o.assignOf(a, 0).members,
            routing,
            moves: d.moves,
          });
        return;
      }
      case 'barrier':
        o.log.info(
          `reconfiguration ${d.id}: every old member is prepared; barrier ${d.id} goes out`,
        );
        this.at('barrier', d.id, 'pausing', () => {
          for (const name of d.to) o.send(name, { type: 'migrate-barrier', version: 1, id: d.id });
        });
        return;
      case 'migrate-in': {
        const first = d.name === this.state.after.members[0]?.name;
        const go = () => {
          // A failure in the meantime (a lost member) ends this reconfiguration: send nothing more.
          if (this.state.id !== d.id || this.state.phase !== 'shipping') return;
          if (first) o.checkpoints?.commit(d.id, memberNames(this.state.before));
          const chunks = chunkGroups(d.groups);
          chunks.forEach((groups, i) =>
            o.send(d.name, {
              type: 'migrate-in',
              version: 1,
              id: d.id,
              groups,
              last: i === chunks.length - 1,
              epoch: d.epoch,
            }),
          );
        };
        if (first)
          o.log.info(
            `reconfiguration ${d.id}: every worker aligned barrier ${d.id}; handing out ${this.state.shipped.length} key groups`,
          );
        this.at('hand-out', d.id, 'shipping', go);
        return;
      }
      case 'reconfigure':
        o.log.info(
          `reconfiguration ${d.id}: every member holds what it takes over; installing routing table version ${d.after.version}`,
        );
        this.directories = d.directories;
        this.at('rewire', d.id, 'rewiring', () =>
          d.after.members.forEach((m, i) =>
            o.send(m.name, {
              type: 'reconfigure',
              version: 1,
              id: d.id,
              assign: o.assignOf(d.after, i),
              directory: d.directories,
            }),
          ),
        );
        return;
      case 'done':
        this.finish(d);
        return;
      case 'failed': {
        const joiners = this.joiners;
        this.joiners = [];
        o.log.error(`reconfiguration ${d.id} failed: ${d.reason}`);
        this.waiter?.resolve({
          ok: false,
          message: d.reason,
          leaving: [],
          eligible: this.waiter.eligible,
          members: memberNames(this.layout),
        });
        this.waiter = undefined;
        o.failed(d.reason, joiners, d.paused);
        return;
      }
    }
  }

  /**
   * Runs `go` now, or after the test delay if `point` is where it holds;
   * a failure in the meantime (the reconfiguration no longer in `phase`)
   * cancels it.
   */
  private at(
    point: ReconfigurationDelayPoint,
    id: number,
    phase: ReconfigurationState['phase'],
    go: () => void,
  ): void {
    const ms = this.o.delayMs ?? 0;
    if (ms <= 0 || (this.o.delayAt ?? 'hand-out') !== point) return go();
    setTimeout(() => {
      if (this.state.id === id && this.state.phase === phase) go();
    }, ms);
  }

  private finish(d: Extract<ReconfigurationDecision, { kind: 'done' }>): void {
    const { o } = this;
    this.joiners = [];
    o.installed(d.after, this.directories as WorkerDirectory[]);
    for (const name of d.to) o.send(name, { type: 'resume', version: 1, id: d.id });
    reportReconfiguration(d);
    o.log.info(
      `reconfiguration ${d.id} complete: routing table version ${d.after.version}, ${d.after.members.length} workers (${memberNames(d.after).join(', ')})${d.joined.length > 0 ? `, joined: ${d.joined.join(', ')}` : ''}${d.leaving.length > 0 ? `, leaving: ${d.leaving.join(', ')}` : ''}; moved ${d.moved.groups} key groups, ${d.moved.entities} keys, ${d.moved.bytes} bytes; the moving groups paused ${d.pausedMs} ms`,
    );
    const leave = () => {
      for (const name of d.leaving) {
        o.send(name, {
          type: 'leave',
          version: 1,
          reason: `shrunk out of the cluster (reconfiguration ${d.id})`,
        });
        o.left(name);
      }
      this.waiter?.resolve({
        ok: true,
        message: `${this.waiter.message}; moved ${d.moved.groups} key groups (${d.moved.entities} keys) in ${d.pausedMs} ms`,
        leaving: d.leaving,
        eligible: this.waiter.eligible.filter((n) => !d.leaving.includes(n)),
        members: memberNames(d.after),
      });
      this.waiter = undefined;
    };
    if (o.checkpoints === undefined) return leave();
    // Leavers stay until a checkpoint of the new cluster commits: a crash before it rolls back to theirs.
    o.checkpoints.after(memberNames(d.after), d.id).then(leave, (err: Error) => {
      o.log.warn(`no checkpoint committed after reconfiguration ${d.id}: ${err.message}`);
      leave();
    });
  }
}

/** Tells the worker's metrics (engine/worker-events.ts) what a finished reconfiguration did. */
function reportReconfiguration(d: Extract<ReconfigurationDecision, { kind: 'done' }>): void {
  const detail = { id: d.id, routingVersion: d.after.version, ...d.moved, pausedMs: d.pausedMs };
  for (const name of d.joined) workerEvents.event('join', `worker '${name}' joined`, detail);
  for (const name of d.leaving) workerEvents.event('leave', `worker '${name}' left`, detail);
  const kind = d.joined.length === 0 && d.leaving.length === 0 ? 'rebalance' : 'migration';
  workerEvents.event(
    kind,
    `reconfiguration ${d.id}: ${d.moved.groups} key groups moved, input paused ${d.pausedMs} ms`,
    detail,
  );
}
