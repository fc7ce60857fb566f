/**
 * The listening side of `roo receive`: {@link startReceiver} opens the TCP
 * server, hands each connection to receive-connection.ts with the state all
 * connections share (counts, the exactly-once ledger, the acks, the output),
 * and closes it all down. Any number of connections are served at once; when
 * stdout pushes back, every connection is paused until it drains, so TCP
 * pushes back on the senders and memory stays bounded.
 */
import { createWriteStream } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_SINK_TXN_BYTES,
  ErrorCode,
  RooError,
} from '../../protocols/index.js';
import type { Address } from '../../protocols/address.js';
import {
  type ConnectionClosed,
  type ConnectionContext,
  type ReceiverStats,
  serveConnection,
} from './receive-connection.js';
import { SinkAcks } from './receive-acks.js';
import { DurableOutput } from './receive-durable.js';
import { OutputBuffer, type ReceiverOutput } from './receive-output.js';
import { DuplicateLogLimiter, TxnLedger } from './txn-ledger.js';

/** Where to listen and what to do with the data. */
export interface ReceiverOptions {
  /** Where to listen; port 0 lets the OS pick (read it back from `address`). */
  readonly address: Address;
  /** Input is length-prefixed frames: print each payload as a line. */
  readonly framed?: boolean;
  /** Print what arrives (default true); false only counts it (`--no-write`). */
  readonly write?: boolean;
  /** Where output goes (default process.stdout; ignored with `outputFile`). */
  readonly out?: Writable;
  /** `--output`: append the output to this file instead. */
  readonly outputFile?: string;
  /**
   * `--ledger` (with `outputFile`): keep the record of applied transactions
   * in this file, so that a restarted receiver neither repeats nor skips one
   * (receive-durable.ts).
   */
  readonly ledgerFile?: string;
  /** The output or ledger could not be written: the receiver stops acknowledging and must exit. */
  readonly onFatal?: (err: Error) => void;
  /** Largest frame accepted (default 16 MiB); a larger one closes its connection. */
  readonly maxFrameBytes?: number;
  /**
   * Largest exactly-once transaction accepted (default 256 MiB): each is held
   * whole until its last byte arrives. A larger one closes its connection.
   */
  readonly maxTxnBytes?: number;
  /** Receives lines about connections that fail (default: silent). */
  readonly log?: (line: string) => void;
  /** Called when a connection has closed, with its counts and error if any. */
  readonly onConnectionClosed?: (event: ConnectionClosed) => void;
}

/** A running receiver. */
export interface Receiver {
  /** The address it listens on, with the port the OS picked for port 0. */
  readonly address: Address;
  /** Live counts. */
  readonly stats: Readonly<ReceiverStats>;
  /** Stops listening, closes every connection and writes out buffered output. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Lifecycle.

/** States of a receiver. */
export type ReceiverState = 'listening' | 'closing' | 'closed';

const RECEIVER_TRANSITIONS: Readonly<Record<ReceiverState, readonly ReceiverState[]>> = {
  listening: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** Returns `to` if a receiver may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextReceiverState(from: ReceiverState, to: ReceiverState): ReceiverState {
  if (!RECEIVER_TRANSITIONS[from].includes(to)) {
    throw new RooError(ErrorCode.Internal, `receiver cannot move from ${from} to ${to}`);
  }
  return to;
}

// ---------------------------------------------------------------------------
// Receiving.

/**
 * Starts a receiver; resolves once it is listening. With a ledger, recovers
 * the output and ledger first: rejects with RooError ROO_ERR_LEDGER_CORRUPT
 * when they cannot be trusted (receive-recovery.ts), ROO_ERR_BAD_FLAG for a
 * ledger without an output file.
 */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const log = options.log ?? (() => undefined);
  const stats: ReceiverStats = {
    connections: 0,
    open: 0,
    failed: 0,
    messages: 0,
    bytes: 0,
    sinkConnections: 0,
    transactions: 0,
    duplicates: 0,
    discarded: 0,
  };
  const sockets = new Set<Socket>();
  let state: ReceiverState = 'listening';

  const fatal =
    options.onFatal ??
    ((err: Error) => {
      throw err;
    });
  let durable: DurableOutput | undefined;
  if (options.ledgerFile !== undefined) {
    if (options.outputFile === undefined) {
      throw new RooError(
        ErrorCode.BadFlag,
        '--ledger needs --output FILE: stdout cannot be cut back after a crash',
      );
    }
    const files = { output: options.outputFile, ledger: options.ledgerFile };
    try {
      durable = new DurableOutput({
        ...files,
        log,
        onDurable: (applied) => acks.durable(applied),
        onFatal: (err) => {
          log(`roo receive: cannot write ${files.output} or its ledger: ${err.message}`);
          fatal(err);
        },
      });
    } catch (err) {
      if (err instanceof RooError) throw err;
      throw new RooError(
        ErrorCode.BadFlag,
        `cannot open --output ${files.output} or --ledger ${files.ledger}: ${(err as Error).message}`,
      );
    }
  }
  const acks = new SinkAcks(durable?.durable);
  const ledger = new TxnLedger();
  if (durable !== undefined) ledger.seed(durable.durable);
  const output: ReceiverOutput =
    durable ??
    new OutputBuffer(
      options.outputFile === undefined
        ? (options.out ?? process.stdout)
        : createWriteStream(options.outputFile, { flags: 'a' }),
      () => sockets.forEach((s) => s.pause()),
      () => sockets.forEach((s) => s.resume()),
      log,
      (applied) => acks.durable(applied),
      options.outputFile !== undefined,
    );
  const context: ConnectionContext = {
    framed: options.framed === true,
    write: options.write !== false,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxTxnBytes: options.maxTxnBytes ?? DEFAULT_MAX_SINK_TXN_BYTES,
    log,
    stats,
    sockets,
    // Shared by every connection: a recovered sink resends on a new one.
    ledger,
    acks,
    duplicateLog: new DuplicateLogLimiter(),
    output,
    onConnectionClosed: options.onConnectionClosed,
  };

  const serve = (socket: Socket): void => {
    if (state !== 'listening') {
      socket.destroy();
      return;
    }
    serveConnection(socket, context);
  };

  const server: Server = createServer({ noDelay: true }, serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.address.port, options.address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log(`roo receive: ${err.message}`));
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : options.address.port;

  let closing: Promise<void> | undefined;
  return {
    address: { host: options.address.host, port },
    stats,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        state = nextReceiverState(state, 'closing');
        // Once every connection has closed (and handed over its last bytes), the output closes.
        server.close(() => {
          state = nextReceiverState(state, 'closed');
          output.close().then(resolve, resolve);
        });
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
