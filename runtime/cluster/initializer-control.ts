/**
 * What the initializer's control server does with each connection's events:
 * decode a message (a bad one is reported, rate-limited, and its connection
 * closed), treat a silent member as lost, and tell a closed member's
 * connection from a cluster shutdown. Kept apart from initializer-node.ts,
 * which owns the members and drivers these events act on.
 */
import { workerEvents } from '../engine/worker-events.js';
import {
  decodeControlMessage,
  encodeControlMessage,
  RooError,
  ErrorCode,
  type ControlMessage,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { ControlServer, ControlServerEvents } from './control-transport.js';

/** What the initializer's node lends its control server's event handlers. */
export interface InitializerControl {
  readonly log: Logger;
  /** Member name -> control connection. */
  readonly names: Map<string, number>;
  /** The control server, once it listens. */
  server(): ControlServer | undefined;
  /** Bad and refused control messages: counted and logged, at most every few seconds per kind. */
  readonly errors: ErrorReporter;
  /** Handles a decoded message from `connection`. */
  observe(m: ControlMessage, connection: number): void;
  /** Whether this worker is shutting the cluster down (closed connections are expected). */
  shuttingDown(): boolean;
  /** Member `name`'s connection closed: it leaves any batch of joiners. */
  left(name: string): void;
  /** Member `name` was lost (not in a cluster shutdown). */
  lost(name: string): void;
}

/** The control server's event handlers for the initializer. */
export function initializerControlEvents(c: InitializerControl): ControlServerEvents {
  const { log, names } = c;
  return {
    message: (connection, bytes) => {
      let m: ControlMessage;
      try {
        m = decodeControlMessage(bytes);
      } catch (err) {
        c.errors.report(
          new RooError(
            err instanceof RooError ? err.code : ErrorCode.BadMessage,
            `bad control message on connection #${connection}: ${(err as Error).message}; closing it`,
          ),
          ErrorCode.BadMessage,
          'control channel',
        );
        c.server()?.drop(connection, 'bad control message');
        return;
      }
      c.observe(m, connection);
    },
    silent: (connection, silentMs, timeoutMs) => {
      // A member that stopped answering (SIGSTOP, a stall, a partition that keeps the socket
      // open) is lost as if its connection had closed; `dropped` tells it so if it resumes.
      const name = [...names].find(([, x]) => x === connection)?.[0];
      if (name === undefined) {
        // No member's: a stranger or a worker that never said hello. Not worth a warning each.
        log.debug(`control connection #${connection} sent nothing for ${silentMs} ms: closing it`);
        c.server()?.cut(connection);
        return;
      }
      log.warn(
        { code: ErrorCode.WorkerLost },
        `worker '${name}' sent nothing for ${silentMs} ms (heartbeat timeout ${timeoutMs} ms): treating it as lost`,
      );
      c.server()?.expel(
        connection,
        encodeControlMessage({ type: 'dropped', version: 1, silentMs, timeoutMs }),
      );
    },
    closed: (connection) => {
      for (const [name, x] of names) {
        if (x === connection) {
          names.delete(name);
          c.left(name);
          // A cluster shutdown closes every member's connection: expected, not a loss.
          if (c.shuttingDown()) {
            log.info(`worker '${name}' left the control channel (cluster shutdown)`);
            continue;
          }
          log.warn(`worker '${name}' disconnected from the control channel`);
          workerEvents.event(
            'worker-lost',
            `worker '${name}' disconnected from the control channel`,
          );
          c.lost(name);
        }
      }
    },
  };
}
