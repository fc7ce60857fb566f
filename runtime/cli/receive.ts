/**
 * `roo receive`: listens on a TCP address and prints what arrives (Wallaroo's
 * data_receiver), usually the output of a roo sink. With `--framed` the input
 * is length-prefixed frames and each payload is printed as one line; without
 * it the bytes are copied to stdout as they come.
 *
 * Each connection is either plain (the at-least-once sink, `roo send`) or,
 * told by its first 8 bytes, an exactly-once sink's (protocols/sink-txn.ts):
 * transactions, one per checkpoint, each printed whole once its last byte is
 * in, through the same output path as plain bytes. A transaction whose epoch
 * this receiver already applied for that sink id, on any connection, is
 * dropped: a recovered sink sends its last transactions again. One cut short
 * by a closed connection is discarded.
 *
 * Any number of connections are served at once. Output is batched into 64 KB
 * buffers written at most once per event-loop turn; when stdout pushes back,
 * every connection is paused until it drains, so TCP pushes back on the
 * senders and memory stays bounded. A bad frame on one connection (say, a
 * header announcing more than the largest frame) closes that connection with
 * its error code on stderr; the others carry on.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_SINK_TXN_BYTES,
  ErrorCode,
  FrameDecoder,
  type PendingSinkTxn,
  RooError,
  TxnConnectionParser,
  type TxnConnectionEvent,
} from '../../protocols/index.js';
import { type Address, formatAddress, parseAddress } from '../../protocols/address.js';
import { flagError, parseCount } from './flags.js';
import { DuplicateLogLimiter, TxnLedger } from './txn-ledger.js';

/** Size of the output buffers (one stdout write each, at most). */
export const OUTPUT_BUFFER_BYTES = 64 * 1024;
/** Raw mode: bytes of one connection held waiting for a newline before they are written anyway. */
export const RAW_HOLD_BYTES = 1024 * 1024;

/** Where to listen and what to do with the data. */
export interface ReceiverOptions {
  /** Where to listen; port 0 lets the OS pick (read it back from `address`). */
  readonly address: Address;
  /** Input is length-prefixed frames: print each payload as a line. */
  readonly framed?: boolean;
  /** Print what arrives (default true); false only counts it (`--no-write`). */
  readonly write?: boolean;
  /** Where output goes (default process.stdout). */
  readonly out?: Writable;
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

/** The end of one connection. */
export interface ConnectionClosed {
  /** The sender's address, `host:port`. */
  readonly remote: string;
  /** Frames received on it (0 when not framed); of transactions, only applied ones count. */
  readonly messages: number;
  /** Bytes received on it. */
  readonly bytes: number;
  /** The sink id, if it was an exactly-once sink's connection. */
  readonly sink?: string;
  /** Transactions applied from it. */
  readonly transactions: number;
  /** Transactions dropped from it as already applied. */
  readonly duplicates: number;
  /** Why it closed, if not by a clean end of stream (RooError for bad frames). */
  readonly error?: Error;
}

/** Counts over all connections. */
export interface ReceiverStats {
  /** Connections accepted. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Connections closed for an error (bad frame, reset, a transaction cut short). */
  failed: number;
  /** Frames received (0 when not framed); of transactions, only applied ones count. */
  messages: number;
  /** Bytes received, frame headers included. */
  bytes: number;
  /** Connections from exactly-once sinks (those that sent the ROOTXN1 magic and a hello). */
  sinkConnections: number;
  /** Transactions applied. */
  transactions: number;
  /** Transactions dropped because their sink's epoch was applied already. */
  duplicates: number;
  /** Transactions cut short by their connection's end, discarded. */
  discarded: number;
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
// Output.

const NEWLINE = 0x0a;

/**
 * Batches output into 64 KB buffers, written once per event-loop turn or when
 * full. A buffer's written part is never reused (the stream may hold it).
 * Reports when the stream pushes back and when it has drained.
 */
class OutputBuffer {
  private buffer = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
  private start = 0;
  private pos = 0;
  private scheduled = false;
  private blocked = false;
  private broken = false;

  constructor(
    private readonly out: Writable,
    private readonly onBlocked: () => void,
    private readonly onDrained: () => void,
    log: (line: string) => void,
  ) {
    // A closed stdout (`roo receive | head`) must not crash the receiver: keep counting.
    out.on('error', (err) => {
      if (this.broken) return;
      this.broken = true;
      log(`roo receive: output failed (${err.message}); counting only from now on`);
      if (this.blocked) {
        this.blocked = false;
        this.onDrained();
      }
    });
  }

  /** True while the stream is pushing back. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  /** Queues `bytes`, followed by a newline if `newline`. */
  append(bytes: Buffer, newline: boolean): void {
    if (this.broken) return;
    const need = bytes.length + (newline ? 1 : 0);
    if (this.buffer.length - this.pos < need) {
      this.flush();
      this.buffer = Buffer.allocUnsafe(Math.max(OUTPUT_BUFFER_BYTES, need));
      this.start = 0;
      this.pos = 0;
    }
    bytes.copy(this.buffer, this.pos);
    this.pos += bytes.length;
    if (newline) this.buffer[this.pos++] = NEWLINE;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is queued. */
  flush(): void {
    this.scheduled = false;
    if (this.pos === this.start || this.broken) return;
    const room = this.out.write(this.buffer.subarray(this.start, this.pos));
    this.start = this.pos;
    if (!room && !this.blocked) {
      this.blocked = true;
      this.onBlocked();
      this.out.once('drain', () => {
        if (!this.blocked) return;
        this.blocked = false;
        this.onDrained();
      });
    }
  }
}

// ---------------------------------------------------------------------------
// Receiving.

/** Starts a receiver; resolves once it is listening. */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const framed = options.framed === true;
  const write = options.write !== false;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxTxnBytes = options.maxTxnBytes ?? DEFAULT_MAX_SINK_TXN_BYTES;
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
  // Shared by every connection: a recovered sink resends on a new one.
  const ledger = new TxnLedger();
  const duplicateLog = new DuplicateLogLimiter();
  let state: ReceiverState = 'listening';

  const output = new OutputBuffer(
    options.out ?? process.stdout,
    () => sockets.forEach((s) => s.pause()),
    () => sockets.forEach((s) => s.resume()),
    log,
  );

  const serve = (socket: Socket): void => {
    if (state !== 'listening') {
      socket.destroy();
      return;
    }
    const remote = formatAddress({
      host: socket.remoteAddress ?? '?',
      port: socket.remotePort ?? 0,
    });
    sockets.add(socket);
    stats.connections++;
    stats.open++;
    if (output.isBlocked) socket.pause();
    let messages = 0;
    let bytes = 0;
    let transactions = 0;
    let duplicates = 0;
    let sink: string | undefined;
    let error: Error | undefined;
    /** A transaction the stream ended inside of (the parser forgets it when it fails). */
    let cutShort: PendingSinkTxn | undefined;

    const fail = (err: Error, quiet = false): void => {
      if (error !== undefined) return;
      error = err;
      stats.failed++;
      const code = err instanceof RooError ? err.code : ((err as NodeJS.ErrnoException).code ?? '');
      if (!quiet) log(`roo receive: connection from ${remote} closed: ${code} ${err.message}`);
      socket.destroy();
    };

    // Plain connections: frames, or raw bytes. Exactly-once connections:
    // their transactions' bodies are the same bytes, decoded the same way.
    const parser = new TxnConnectionParser(maxTxnBytes);
    const decoder = framed ? new FrameDecoder(maxFrameBytes) : undefined;
    // Raw mode writes whole lines per connection: several workers' sinks
    // connect at once, and a chunk ending mid-line must not be followed by
    // another connection's bytes. Input without newlines is written as it
    // comes once RAW_HOLD_BYTES have gathered.
    let carry: Buffer | undefined;
    const appendWholeLines = (chunk: Buffer): void => {
      const last = chunk.lastIndexOf(10);
      if (last < 0) {
        carry = carry === undefined ? Buffer.from(chunk) : Buffer.concat([carry, chunk]);
        if (carry.length >= RAW_HOLD_BYTES) {
          output.append(carry, false);
          carry = undefined;
        }
        return;
      }
      if (carry !== undefined) {
        output.append(carry, false);
        carry = undefined;
      }
      output.append(chunk.subarray(0, last + 1), false);
      if (last + 1 < chunk.length) carry = Buffer.from(chunk.subarray(last + 1));
    };
    const flushCarry = (): void => {
      if (carry !== undefined && write) output.append(carry, false);
      carry = undefined;
    };
    const onFrame = (payload: Buffer): void => {
      messages++;
      stats.messages++;
      if (write) output.append(payload, true);
    };

    const plain = (chunk: Buffer): void => {
      if (decoder === undefined) {
        if (write) appendWholeLines(chunk);
        return;
      }
      // Frames before a bad header are delivered; then the stream cannot resync.
      decoder.push(chunk, onFrame);
    };

    const applyTxn = (txnSink: string, epoch: number, body: Buffer): void => {
      if (ledger.check(txnSink, epoch) === 'duplicate') {
        duplicates++;
        stats.duplicates++;
        const report = duplicateLog.note(performance.now());
        if (report > 0) {
          const more =
            report > 1 ? ` (and ${report - 1} more dropped since the last such line)` : '';
          log(
            `roo receive: dropped transaction epoch ${epoch} of sink ${JSON.stringify(txnSink)} from ${remote}: epochs up to ${ledger.lastApplied(txnSink)} already applied${more}`,
          );
        }
        return;
      }
      let frames: Buffer[] | undefined;
      if (framed) {
        // All or nothing: a body that is not whole frames is refused before any of it is written.
        const bodyDecoder = new FrameDecoder(maxFrameBytes);
        const payloads: Buffer[] = [];
        bodyDecoder.push(body, (payload) => payloads.push(payload));
        bodyDecoder.end();
        frames = payloads;
      }
      ledger.record(txnSink, epoch);
      transactions++;
      stats.transactions++;
      if (frames === undefined) {
        if (write) appendWholeLines(body);
      } else {
        for (const payload of frames) onFrame(payload);
      }
    };

    const visit = (event: TxnConnectionEvent): void => {
      switch (event.kind) {
        case 'plain':
          plain(event.bytes);
          return;
        case 'hello':
          ledger.register(event.sink);
          sink = event.sink;
          stats.sinkConnections++;
          log(
            `roo receive: exactly-once sink ${JSON.stringify(event.sink)} connected from ${remote}`,
          );
          return;
        case 'txn':
          applyTxn(event.sink, event.epoch, event.bytes);
          return;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (error !== undefined) return;
      bytes += chunk.length;
      stats.bytes += chunk.length;
      try {
        parser.push(chunk, visit);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('end', () => {
      if (error !== undefined) return;
      cutShort = parser.pending;
      try {
        // A plain connection shorter than the magic is delivered here.
        parser.end(visit);
      } catch (err) {
        // A transaction cut short is reported once, when the connection closes.
        fail(err instanceof Error ? err : new Error(String(err)), cutShort !== undefined);
        return;
      }
      flushCarry();
      if (decoder === undefined || parser.state !== 'plain') return;
      try {
        decoder.end();
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      const cut = cutShort ?? parser.pending;
      if (cut !== undefined) {
        stats.discarded++;
        log(
          `roo receive: discarded transaction epoch ${cut.epoch} of sink ${JSON.stringify(cut.sink)} from ${remote}: the connection closed after ${cut.received} of its ${cut.bytes} bytes`,
        );
      }
      flushCarry();
      sockets.delete(socket);
      stats.open--;
      const counts = { remote, messages, bytes, transactions, duplicates };
      const event: ConnectionClosed = {
        ...counts,
        ...(sink === undefined ? {} : { sink }),
        ...(error === undefined ? {} : { error }),
      };
      options.onConnectionClosed?.(event);
    });
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
        server.close(() => {
          state = nextReceiverState(state, 'closed');
          resolve();
        });
        for (const socket of sockets) socket.destroy();
        output.flush();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------
// The command.

/** The usage text of `roo receive`. */
export const RECEIVE_USAGE = `usage: roo receive --listen HOST:PORT [flags]

Listens for connections and prints what arrives (Wallaroo: data_receiver).
Prints 'Listening on HOST:PORT' to stderr once listening (port 0: any free
port, printed), and a summary of what it received on SIGINT or SIGTERM.
Connections of exactly-once sinks are told apart by their first bytes: each
transaction is printed whole, once; one already applied is dropped.

  --listen HOST:PORT      where to listen (required)
  --framed                input is length-prefixed frames; print each payload as a line
  --no-write              print nothing; only count
  --max-frame-bytes N     close a connection that sends a larger frame (default ${DEFAULT_MAX_FRAME_BYTES})
  --max-txn-bytes N       close an exactly-once sink's connection that sends a larger
                          transaction (default ${DEFAULT_MAX_SINK_TXN_BYTES})
  --ponythreads N, --ponynoblock, --ponypinasio   accepted and ignored (Wallaroo)
`;

const RECEIVE_FLAGS = {
  listen: { type: 'string' },
  framed: { type: 'boolean' },
  'no-write': { type: 'boolean' },
  'max-frame-bytes': { type: 'string' },
  'max-txn-bytes': { type: 'string' },
  ponythreads: { type: 'string' },
  ponynoblock: { type: 'boolean' },
  ponypinasio: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo receive` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseReceiveArgs(argv: string[]): ReceiverOptions | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: RECEIVE_FLAGS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw flagError(err);
  }
  if (v.help === true) return 'help';
  if (v.listen === undefined) {
    throw new RooError(ErrorCode.BadFlag, '--listen HOST:PORT is required');
  }
  const address = parseAddress(v.listen, { allowPortZero: true });
  if (v.ponythreads !== undefined) parseCount('ponythreads', v.ponythreads, 1);
  const maxFrameBytes =
    v['max-frame-bytes'] === undefined
      ? DEFAULT_MAX_FRAME_BYTES
      : parseCount('max-frame-bytes', v['max-frame-bytes'], 1);
  const maxTxnBytes =
    v['max-txn-bytes'] === undefined
      ? DEFAULT_MAX_SINK_TXN_BYTES
      : parseCount('max-txn-bytes', v['max-txn-bytes'], 1);
  return {
    address,
    framed: v.framed === true,
    write: v['no-write'] !== true,
    maxFrameBytes,
    maxTxnBytes,
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `roo receive [flags]`: runs until SIGINT/SIGTERM; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let options: ReceiverOptions;
  try {
    const parsed = parseReceiveArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(RECEIVE_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo receive: ${(err as Error).message} (see 'roo receive --help')\n`);
    return 2;
  }

  const logLine = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  let receiver: Receiver;
  try {
    receiver = await startReceiver({ ...options, log: logLine });
  } catch (err) {
    logLine(
      `roo receive: cannot listen on ${formatAddress(options.address)}: ${(err as Error).message}`,
    );
    return 1;
  }
  logLine(`Listening on ${formatAddress(receiver.address)}`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await receiver.close();
  logLine(receiveSummary(receiver.stats, options.framed === true));
  return 0;
}

/**
 * The line `roo receive` ends with: what it received, and, if exactly-once
 * sinks connected, what became of their transactions.
 */
export function receiveSummary(stats: Readonly<ReceiverStats>, framed: boolean): string {
  const { messages, bytes, connections } = stats;
  const what = framed ? `${plural(messages, 'message')} (${bytes} bytes)` : `${bytes} bytes`;
  const line = `roo receive: received ${what} on ${plural(connections, 'connection')}`;
  if (stats.sinkConnections === 0) return line;
  return (
    `${line}; ${plural(stats.transactions, 'transaction')} applied, ` +
    `${plural(stats.duplicates, 'duplicate transaction')} dropped, ` +
    `${plural(stats.discarded, 'cut-short transaction')} discarded`
  );
}
