/**
 * An exactly-once sink's connection to its receiver (protocols/sink-txn.ts):
 * a reconnecting TCP output that opens every connection with the magic and
 * the hello, and reads the receiver's acknowledgements back. It reports what
 * it learns; what to hold and what to write is the writer's
 * (engine/txn-hold.ts).
 *
 * A receiver that acknowledges sends its first ack at once on the hello. One
 * that stays silent for {@link RECEIVER_ACK_WAIT_MS} after connecting is an
 * older receiver that never will: the connection is reported as such. A
 * receiver that sends something the sink cannot read is treated the same way
 * (with a warning), rather than closed: what it sent says nothing about what
 * it applied.
 */
import {
  encodeSinkTxnHello,
  formatAddress,
  SinkAckParser,
  type Address,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import { TcpOutput } from './output.js';

/** How long after a connection opens a receiver that acknowledges has sent its first ack. */
export const RECEIVER_ACK_WAIT_MS = 10_000;

/** What a {@link TxnOutput} reports to its writer. */
export interface TxnOutputEvents {
  /** A connection is up (its hello written): nothing is written on it yet. */
  connected(): void;
  /** The connection is down: what was written on it may be lost. */
  disconnected(): void;
  /** The receiver applied every transaction up to `applied` (null: none yet). */
  ack(applied: number | null): void;
  /** The receiver does not acknowledge (silent, or unreadable). */
  noAcks(): void;
  /** The output can take writes again (connected, or drained). */
  writable(): void;
}

/** What an exactly-once writer writes to: a {@link TxnOutput}, or a fake in tests. */
export interface TxnConnection {
  /** Set by the writer: where the connection reports what it learns. */
  events: TxnOutputEvents;
  /** True when writes can be accepted now. */
  readonly writable: boolean;
  /** Writes bytes on the current connection; false when the caller should wait for `writable`. */
  write(bytes: Uint8Array): boolean;
  /** Flushes and closes. */
  close(): Promise<void>;
}

const NO_EVENTS: TxnOutputEvents = {
  connected: () => undefined,
  disconnected: () => undefined,
  ack: () => undefined,
  noAcks: () => undefined,
  writable: () => undefined,
};

/** The connection of one exactly-once sink. */
export class TxnOutput implements TxnConnection {
  events: TxnOutputEvents = NO_EVENTS;
  private readonly tcp: TcpOutput;
  private parser: SinkAckParser | undefined;
  private timer: NodeJS.Timeout | undefined;
  private warnedSilent = false;

  constructor(
    private readonly address: Address,
    private readonly sink: string,
    private readonly log: Logger,
    private readonly ackWaitMs: number = RECEIVER_ACK_WAIT_MS,
  ) {
    this.tcp = new TcpOutput(address, log, encodeSinkTxnHello(sink));
    this.tcp.onConnect = () => this.opened();
    this.tcp.onDisconnect = () => this.closed();
    this.tcp.onData = (chunk) => this.reply(chunk);
    this.tcp.onWritable = () => this.events.writable();
  }

  get writable(): boolean {
    return this.tcp.writable;
  }

  write(bytes: Uint8Array): boolean {
    return this.tcp.write(bytes);
  }

  close(): Promise<void> {
    this.stopTimer();
    return this.tcp.close();
  }

  private opened(): void {
    this.parser = new SinkAckParser(this.sink);
    this.stopTimer();
    this.timer = setTimeout(() => this.silent(), this.ackWaitMs);
    this.timer.unref();
    this.events.connected();
  }

  private closed(): void {
    this.stopTimer();
    this.parser = undefined;
    this.events.disconnected();
  }

  private reply(chunk: Buffer): void {
    const parser = this.parser;
    if (parser === undefined) return;
    try {
      parser.push(chunk, (ack) => {
        this.stopTimer();
        this.events.ack(ack.applied);
      });
    } catch (err) {
      this.parser = undefined;
      this.stopTimer();
      this.log.warn(
        `exactly-once sink ${JSON.stringify(this.sink)}: the receiver at ${formatAddress(this.address)} sent what is not an acknowledgement (${(err as Error).message}); taking it for a receiver that does not acknowledge`,
      );
      this.events.noAcks();
    }
  }

  private silent(): void {
    this.timer = undefined;
    if (!this.warnedSilent) {
      this.warnedSilent = true;
      this.log.warn(
        `exactly-once sink ${JSON.stringify(this.sink)}: the receiver at ${formatAddress(this.address)} sent no acknowledgement within ${this.ackWaitMs} ms of the hello; taking it for a receiver that does not acknowledge (an older roo receive): after a reconnect only the newest transactions are written again`,
      );
    }
    this.events.noAcks();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
