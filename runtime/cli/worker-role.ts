/**
 * What `roo worker`'s flags make of a worker: its place in a cluster
 * (alone, initializer, member, joiner), worked out from the flags with a
 * clear error for what is missing.
 */
import { ErrorCode, RooError, type Address } from '../../protocols/index.js';
import type { WorkerOptions } from './worker-flags.js';

/** How this worker takes part in a cluster (a worker alone is a cluster of one). */
export interface ClusterRole {
  /**
   * The initializer: where it listens for the other workers (none for a
   * worker alone without --control: nobody can join it). Others: the
   * initializer's (or, joining, any member's) control address.
   */
  readonly control: Address | undefined;
  /** This worker's data address (none for a worker alone without --data). */
  readonly data: Address | undefined;
  readonly myControl: Address | undefined;
  readonly initializer: { readonly workerCount: number } | undefined;
  /** Started with --join: `control` is any running member's control address. */
  readonly join: boolean;
  /** With --join: how many workers join together (--worker-count). */
  readonly joinCount?: number;
}

/**
 * Works out the role from the flags; throws a clear RooError when flags are
 * missing. A worker alone is the initializer of a one-worker cluster; given
 * --control it listens there, so that it can grow (--join) later.
 */
export function clusterRole(o: WorkerOptions): ClusterRole {
  const missing = (what: string) => new RooError(ErrorCode.BadFlag, what);
  if (o.join !== undefined) {
    if (o.myData === undefined)
      throw missing('a worker joining a running cluster (--join) needs --my-data HOST:PORT');
    return {
      control: o.join,
      data: o.myData,
      myControl: o.myControl,
      initializer: undefined,
      join: true,
      joinCount: Math.max(1, o.workerCount),
    };
  }
  if (o.clusterInitializer || o.control === undefined) {
    if (o.workerCount <= 1 && o.control === undefined)
      return {
        control: undefined,
        data: o.data,
        myControl: undefined,
        initializer: { workerCount: 1 },
        join: false,
      };
    if (o.control === undefined || (o.data === undefined && o.workerCount > 1)) {
      throw missing(
        `--worker-count ${o.workerCount} needs --control and --data (where the initializer listens)`,
      );
    }
    return {
      control: o.control,
      data: o.data ?? { host: o.control.host, port: 0 },
      myControl: undefined,
      initializer: { workerCount: Math.max(1, o.workerCount) },
      join: false,
    };
  }
  if (o.myData === undefined) {
    throw missing(
      'a worker joining a cluster (--control without --cluster-initializer) needs --my-data HOST:PORT',
    );
  }
  return {
    control: o.control,
    data: o.myData,
    myControl: o.myControl,
    initializer: undefined,
    join: false,
  };
}
