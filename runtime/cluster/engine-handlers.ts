/**
 * The external channel's commands over a running engine (status, partition
 * query, entity counts, rotate-logs, shutdown, shrink, rebalance): what
 * ExternalServer answers with, in a worker.
 */
import type {
  ExternalResultValue,
  RooError,
  ShrinkOutcome,
  ShrinkRequest,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import type { ExternalHandlers } from './external-server.js';
import {
  collectEntityCounts,
  collectPartitionQuery,
  collectStatus,
  type StatusEngine,
  type WorkerIdentity,
} from './status.js';

/**
 * The status records (status.ts) are JSON-like by construction: plain
 * objects, arrays, strings, finite numbers, booleans and null, never
 * undefined. The encoder checks it again before anything is sent.
 */
function asResult(record: object): ExternalResultValue {
  return record as unknown as ExternalResultValue;
}

/**
 * Why `rotate-logs` does nothing: a worker writes its log to stderr only and
 * holds no log file to reopen. Whoever redirects stderr to a file owns that
 * file and rotates it (logrotate's copytruncate, or a pipe into a rotating
 * writer such as multilog or rotatelogs). The request is answered ok, so
 * scripts written for Wallaroo's rotate-logs keep working.
 */
export const ROTATE_LOGS_NOTE =
  'logs go to stderr only; nothing to reopen. Rotate where stderr is redirected (e.g. logrotate copytruncate)';

/** What {@link engineHandlers} needs. */
export interface EngineHandlerOptions {
  readonly engine: StatusEngine;
  readonly identity: WorkerIdentity;
  readonly log: Logger;
  /** Shrinks the cluster (the cluster node's: a worker alone's is a cluster of one). */
  readonly shrink: (request: ShrinkRequest) => Promise<ShrinkOutcome>;
  /** Rebalances this worker's threads (through the cluster, or alone). */
  readonly rebalance?: () => Promise<{ readonly ok: boolean; readonly message: string }>;
  /**
   * Why the cluster refuses a shutdown now (its coordinator's lifecycle: a
   * recovery or a reconfiguration under way; a member asks the initializer
   * and waits for its answer), or undefined when it shuts down.
   */
  readonly shutdownRefusal?: () => Promise<RooError | undefined>;
}

/** The external commands over a running engine. */
export function engineHandlers(o: EngineHandlerOptions): ExternalHandlers {
  return {
    status: async () => asResult(await collectStatus(o.engine, o.identity)),
    partitionQuery: async (keysPerGroup) =>
      asResult(await collectPartitionQuery(o.engine, o.identity, keysPerGroup)),
    entityCounts: async () => asResult(await collectEntityCounts(o.engine, o.identity)),
    rotateLogs: async () => {
      o.log.info(`external channel: rotate-logs: ${ROTATE_LOGS_NOTE}`);
      return { worker: o.identity.worker, rotated: false, note: ROTATE_LOGS_NOTE };
    },
    // A cluster's shutdown stops every member, not only the one asked. A
    // refusal is thrown: the request is answered with its code, nothing stops.
    shutdownResult: async () => {
      const refused = await o.shutdownRefusal?.();
      if (refused !== undefined) {
        o.log.warn(
          { code: refused.code },
          `external channel: shutdown refused: ${refused.message}`,
        );
        throw refused;
      }
      return {
        worker: o.identity.worker,
        stopping: [...(o.identity.members?.() ?? [o.identity.worker])],
      };
    },
    rebalance: async () => {
      o.log.info('external channel: rebalance requested');
      const r =
        o.rebalance === undefined
          ? { ok: false, message: 'this worker cannot rebalance its threads' }
          : await o.rebalance();
      (r.ok ? o.log.info.bind(o.log) : o.log.warn.bind(o.log))(
        `external channel: rebalance ${r.ok ? 'done' : 'refused'}: ${r.message}`,
      );
      return r;
    },
    shrink: async (request) => {
      const what = request.query
        ? 'query'
        : request.count > 0
          ? `count ${request.count}`
          : `workers ${request.workers.join(',')}`;
      o.log.info(`external channel: shrink (${what}) requested`);
      const outcome = await o.shrink(request);
      const log = outcome.ok ? o.log.info.bind(o.log) : o.log.warn.bind(o.log);
      log(
        `external channel: shrink (${what}) ${outcome.ok ? 'done' : 'refused'}: ${outcome.message}`,
      );
      return outcome;
    },
  };
}
