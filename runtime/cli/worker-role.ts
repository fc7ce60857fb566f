/**
 * What `roo worker`'s flags make of a worker: its place in a cluster
 * (alone, initializer, member, joiner), worked out from the flags with a
 * clear error for what is missing.
 */
import { ErrorCode, RooError, type Address } from '../../protocols/index.js';
import type { WorkerOptions } from './worker-flags.js';

/** How this worker takes part in a cluster; undefined when it runs alone. */
export interface ClusterRole {
  readonly control: Address;
  readonly data: Address;
  readonly myControl: Address | undefined;
  readonly initializer: { readonly workerCount: number } | undefined;
  /** Started with --join: `control` is any running member's control address. */
  readonly join: boolean;
  /** With --join: how many workers join together (--worker-count). */
  readonly joinCount?: number;
}

/**
 * Works out the role from the flags; throws a clear RooError when flags are
 * missing. A worker alone given --control is the initializer of a
 * one-worker cluster, so that it can grow (--join) later.
 */
export function clusterRole(o: WorkerOptions): ClusterRole | undefined {
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
    if (o.workerCount <= 1 && o.control === undefined) return undefined;
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
