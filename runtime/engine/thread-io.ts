/**
 * Everything a scheduler thread's runtime (thread-runtime.ts) opens in the
 * outside world, behind one set of factories: source inputs (sockets,
 * files), sink outputs (connections, files, stdout), and the data channels
 * to other workers. A scheduler thread passes {@link productionIo}; a test
 * passes inputs and outputs in memory, and runs a whole plan on the
 * deterministic schedulers (actors/deterministic.ts) with no socket, file
 * or worker thread.
 */
import type { Scheduler } from '../../actors/index.js';
import type { Address } from '../../protocols/index.js';
import { DataLinks, DataListener } from '../connectors/data-channel.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import type { ChannelSecurity } from '../security/index.js';
import { laneOf } from './epochs.js';
import { openSinkOutputs, type SinkOutputs } from './sink-outputs.js';
import { openSourceInput, type OpenSourceInput } from './source-input.js';

/** What a thread asks of its outbound data links (connectors/data-channel.ts `DataLinks`). */
export type ThreadLinks = Pick<
  DataLinks,
  'reconfigure' | 'send' | 'sentByWorker' | 'traffic' | 'close'
>;

/** What a thread asks of its worker's data listener (connectors/data-channel.ts `DataListener`). */
export type ThreadDataListener = Pick<
  DataListener,
  'generation' | 'listen' | 'close' | 'received' | 'traffic'
>;

/** Every worker of the cluster, by index, as a thread's links see them. */
export type LinkMembers = readonly { readonly name: string; readonly data: Address }[];

/** The factories of what a thread's runtime opens outside itself. */
export interface ThreadIo {
  /** Opens a TCP or file source's input. */
  readonly sourceInput: OpenSourceInput;
  /** Opens sink writers' connections, files or stdout. */
  readonly sinkOutputs: SinkOutputs;
  /**
   * Opens this thread's links to the other workers (a cluster of more than
   * one): `me` is this worker's index in `members`, `generation` the
   * cluster's rollback generation.
   */
  dataLinks(
    scheduler: Scheduler,
    me: number,
    members: LinkMembers,
    log: Logger,
    generation: number,
    security: ChannelSecurity,
  ): ThreadLinks;
  /** Makes this worker's data listener (one thread of a cluster's worker listens); `kick` wakes the thread. */
  dataListener(
    scheduler: Scheduler,
    kick: () => void,
    errors: ErrorReporter,
    log: Logger,
    security: ChannelSecurity,
  ): ThreadDataListener;
}

/** Sockets and files: what a worker's scheduler threads run with. */
export const productionIo: ThreadIo = {
  sourceInput: openSourceInput,
  sinkOutputs: openSinkOutputs,
  dataLinks: (scheduler, me, members, log, generation, security) =>
    new DataLinks(scheduler, me, members, log, generation, security, laneOf),
  dataListener: (scheduler, kick, errors, log, security) =>
    new DataListener(scheduler, kick, errors, log, security),
};
