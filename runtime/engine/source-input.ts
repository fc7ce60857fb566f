/**
 * The outside world behind a source actor, as `Output` is behind a sink
 * writer: a TCP source's listening socket and its connections, or a file
 * source's file, read in chunks that the actor frames or splits in its turn.
 * The source actor (source-actor.ts) keeps everything else: decoding,
 * muting, barriers and replay positions. A thread's runtime opens inputs
 * through an {@link OpenSourceInput} it is given, so that a test can feed a
 * source from memory with no socket or file (a generator source has no
 * input: it makes its values in the actor).
 */
import type { Address } from '../../protocols/index.js';
import type { FileSourceConfig, TcpSourceConfig } from '../api/connectors.js';
import { FileReader } from '../connectors/file-reader.js';
import { TcpListener, type ListenerEvents } from '../connectors/tcp-listener.js';
import type { Logger } from '../logging/logger.js';

/** What an input tells its actor: a chunk read from a connection (a file is connection 0), or a connection's end. */
export type SourceEvents = ListenerEvents;

/** A source's input: chunks of bytes from one or more connections. */
export interface SourceInput {
  /**
   * Starts taking input: a TCP source listens (resolving with its bound
   * address), a file source reads from byte `offset` (its restored replay
   * position; resolving with undefined).
   */
  open(offset: number): Promise<Address | undefined>;
  /** Stops reading (backpressure, a reconfiguration's hold, too many chunks queued). */
  pause(): void;
  /** Reads again. */
  resume(): void;
  /** Writes bytes back to a connection's sender (an acknowledging TCP source's answers); else ignored. */
  write(connection: number, bytes: Uint8Array): void;
  /** Closes one connection (a broken frame, a stream taken over). */
  drop(connection: number): void;
  /** Closes for good; with `flush`, what was written to senders goes out first. */
  close(flush: boolean): Promise<void>;
}

/** The configuration of a source that has an input. */
export type InputSourceConfig = TcpSourceConfig<unknown> | FileSourceConfig<unknown>;

/**
 * Opens the input of a TCP or file source. `failed` is called if a file
 * cannot be read on (the source then counts as finished).
 */
export type OpenSourceInput = (
  source: InputSourceConfig,
  events: SourceEvents,
  failed: (err: Error) => void,
  log: Logger,
) => SourceInput;

/** The production inputs: a TCP listener on the source's address, or the source's file. */
export const openSourceInput: OpenSourceInput = (source, events, failed, log) => {
  if (source.kind === 'tcp-source') {
    const listener = new TcpListener(source.address, events, log);
    return {
      open: () => listener.listen(),
      pause: () => listener.pause(),
      resume: () => listener.resume(),
      write: (connection, bytes) => listener.write(connection, bytes),
      drop: (connection) => listener.drop(connection),
      close: (flush) => listener.close(flush),
    };
  }
  const reader = new FileReader(source.path, events, failed);
  return {
    open: (offset) => {
      reader.start(offset);
      return Promise.resolve(undefined);
    },
    pause: () => reader.pause(),
    resume: () => reader.resume(),
    // A file has no sender to answer.
    write: () => undefined,
    drop: () => undefined,
    close: () => reader.close(),
  };
};
