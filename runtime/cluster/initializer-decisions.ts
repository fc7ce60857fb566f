/**
 * How the initializer carries out the start-up coordinator's decisions
 * (coordinator.ts decides, this acts): accepting and refusing workers,
 * sending `assign`, `wire` and `start`, and the log line of each step. Kept
 * apart from initializer-node.ts, which owns the state, the connections and
 * the drivers these decisions act through (the `DecisionEffects` below).
 */
import {
  encodeControlMessage,
  RooError,
  ErrorCode,
  type AssignControlMessage,
  type ControlMessage,
  type WireControlMessage,
  type WorkerDirectory,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import type { ControlServer } from './control-transport.js';
import type { CoordinatorState, Decision, Member } from './coordinator.js';

/** A `join` decision: a worker started with --join asks to join the running cluster. */
export type JoinDecision = Extract<Decision, { kind: 'join' }>;

/** What the initializer's node lends the executor: its state, connections and drivers. */
export interface DecisionEffects {
  readonly log: Logger;
  /** The coordinator's state after the step that made the decision. */
  state(): CoordinatorState;
  /** Member name -> control connection. */
  readonly names: Map<string, number>;
  /** The control server, once it listens. */
  server(): ControlServer | undefined;
  /** Sends `m` to member `name` (in process for the initializer itself). */
  toName(name: string, m: ControlMessage): void;
  /** The `assign` message telling worker `index` of `members` its place. */
  assignOf(members: readonly Member[], index: number): AssignControlMessage;
  /** Tells every member but the initializer itself to shut down. */
  shutdownOthers(reason: string): void;
  /** A joiner: batched, then added by a reconfiguration (join-batch.ts). */
  join(d: JoinDecision): void;
  /** The cluster runs for the first time. */
  running(): void;
  /** The cluster rolled back to a checkpoint and runs again. */
  recovered(): void;
  /** Rolls `members` back to the newest checkpoint they can all restore. */
  rollback(members: readonly Member[]): void;
  /** Stops this worker with `err`. */
  fatal(err: RooError): void;
}

/** Carries out one decision of the start-up coordinator. */
export function executeDecision(d: Decision, fx: DecisionEffects): void {
  const { log } = fx;
  switch (d.kind) {
    case 'join':
      fx.join(d);
      return;
    case 'accept':
      fx.names.set(d.name, d.connection);
      log.info(
        `worker '${d.name}' joined (${fx.state().members.length} of ${fx.state().expected})`,
      );
      return;
    case 'refuse':
      log.warn(`refused a worker: ${d.message}`);
      fx.server()?.send(
        d.connection,
        encodeControlMessage({ type: 'refuse', version: 1, code: d.code, message: d.message }),
      );
      fx.server()?.drop(d.connection, 'refused');
      return;
    case 'assign':
      d.members.forEach((m, i) => fx.toName(m.name, fx.assignOf(d.members, i)));
      return;
    case 'assign-one': {
      const i = fx.state().members.findIndex((m) => m.name === d.name);
      log.info(
        `worker '${d.name}' restarted: rejoining as worker ${i + 1}; the state it held is lost (no resilience)`,
      );
      fx.toName(d.name, fx.assignOf(d.members, i));
      return;
    }
    case 'wire-one':
      fx.toName(d.name, {
        type: 'wire',
        version: 1,
        directory: d.directories as WorkerDirectory[],
      });
      return;
    case 'start-one':
      fx.toName(d.name, { type: 'start', version: 1 });
      return;
    case 'rejoined':
      log.info(`worker '${d.name}' is back in the cluster`);
      return;
    case 'wire': {
      const msg: WireControlMessage = {
        type: 'wire',
        version: 1,
        directory: d.directories as WorkerDirectory[],
      };
      for (const m of fx.state().members) fx.toName(m.name, msg);
      return;
    }
    case 'start':
      for (const m of fx.state().members) fx.toName(m.name, { type: 'start', version: 1 });
      return;
    case 'running':
      fx.running();
      return;
    case 'rollback':
      fx.rollback(d.members);
      return;
    case 'recovered':
      fx.recovered();
      return;
    case 'abort':
      fx.shutdownOthers(d.reason);
      fx.fatal(new RooError(ErrorCode.Internal, d.reason));
      return;
  }
}
