/**
 * The one lifecycle object of a worker process: it holds the state of the
 * pure machine (worker-lifecycle.ts), takes every event the worker's parts
 * report (worker-command.ts, the cluster nodes, member.ts, the
 * reconfigurations), logs each move and each refusal, and hands each
 * decision to whoever carries it out: `roo worker` stops or aborts its
 * start, the initializer node (a worker alone's too) shuts the cluster down, a member node relays `roo shutdown`. Whoever reports an
 * event learns whether it was taken, and does nothing when it was refused.
 */
import type { RooError } from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import {
  describePhase,
  initialLifecycle,
  lifecycleStep,
  type LifecycleDecision,
  type LifecycleEvent,
  type LifecyclePhase,
  type LifecycleState,
  type WorkerRole,
} from './worker-lifecycle.js';

/** Who carries out each kind of decision; one handler per kind, set by its owner. */
export interface LifecycleHandlers {
  readonly 'abort-start'?: (d: Extract<LifecycleDecision, { kind: 'abort-start' }>) => void;
  readonly stop?: (d: Extract<LifecycleDecision, { kind: 'stop' }>) => void;
  readonly 'defer-stop'?: (d: Extract<LifecycleDecision, { kind: 'defer-stop' }>) => void;
  readonly 'relay-shutdown'?: (d: Extract<LifecycleDecision, { kind: 'relay-shutdown' }>) => void;
  readonly 'shut-down'?: (d: Extract<LifecycleDecision, { kind: 'shut-down' }>) => void;
  readonly exit?: (d: Extract<LifecycleDecision, { kind: 'exit' }>) => void;
}

/** A worker's lifecycle, with its executor. */
export class WorkerLifecycle {
  private current: LifecycleState;
  private handlers: LifecycleHandlers = {};

  constructor(
    role: WorkerRole,
    private readonly log: Logger,
  ) {
    this.current = initialLifecycle(role);
  }

  /** The state now. */
  get state(): LifecycleState {
    return this.current;
  }

  /** The phase now. */
  get phase(): LifecyclePhase {
    return this.current.phase;
  }

  /** The phase in words, for `roo status` and logs. */
  describe(): string {
    return describePhase(this.current);
  }

  /** Sets the handlers of some kinds of decision (each owner sets its own). */
  handle(handlers: LifecycleHandlers): void {
    this.handlers = { ...this.handlers, ...handlers };
  }

  /**
   * Reports `event`: takes it if the state allows, logs the move, and carries
   * out the decisions. Returns false when it was refused (logged with its
   * code): the caller must then not do what the event announced.
   */
  report(event: LifecycleEvent): boolean {
    const before = this.current;
    const r = lifecycleStep(before, event);
    if (!r.ok) {
      this.log.warn({ code: r.error.code }, r.error.message);
      return false;
    }
    this.current = r.state;
    if (r.state.phase !== before.phase)
      this.log.debug(`lifecycle: ${before.phase} -> ${describePhase(r.state)} (${event.kind})`);
    for (const d of r.decisions) this.carryOut(d);
    return true;
  }

  /** Why `event` would be refused now, or undefined if it would be taken (nothing changes). */
  check(event: LifecycleEvent): RooError | undefined {
    const r = lifecycleStep(this.current, event);
    return r.ok ? undefined : r.error;
  }

  private carryOut(d: LifecycleDecision): void {
    const h = this.handlers;
    switch (d.kind) {
      case 'abort-start':
        return h['abort-start']?.(d);
      case 'stop':
        return h.stop?.(d);
      case 'defer-stop':
        this.log.info(`${d.reason}: stopping once the checkpoint is restored`);
        return h['defer-stop']?.(d);
      case 'relay-shutdown':
        return h['relay-shutdown']?.(d);
      case 'shut-down':
        return h['shut-down']?.(d);
      case 'exit':
        return h.exit?.(d);
    }
  }
}
