/**
 * `roo receive`: listens on a TCP address and prints what arrives (Wallaroo's
 * data_receiver), usually the output of a roo sink. With `--framed` the input
 * is length-prefixed frames and each payload is printed as one line; without
 * it the bytes are copied to stdout as they come.
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
  ErrorCode,
  FrameDecoder,
  RooError,
} from '../../protocols/index.js';
import { type Address, formatAddress, parseAddress } from '../../protocols/address.js';
import { flagError, parseCount } from './flags.js';

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
  /** Receives lines about connections that fail (default: silent). */
  readonly log?: (line: string) => void;
  /** Called when a connection has closed, with its counts and error if any. */
  readonly onConnectionClosed?: (event: ConnectionClosed) => void;
}

/** The end of one connection. */
export interface ConnectionClosed {
  /** The sender's address, `host:port`. */
  readonly remote: string;
  /** Frames received on it (0 when not framed). */
  readonly messages: number;
  /** Bytes received on it. */
  readonly bytes: number;
  /** Why it closed, if not by a clean end of stream (RooError for bad frames). */
  readonly error?: Error;
}

/** Counts over all connections. */
export interface ReceiverStats {
  /** Connections accepted. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Connections closed for an error (bad frame, reset). */
  failed: number;
  /** Frames received (0 when not framed). */
  messages: number;
  /** Bytes received, frame headers included. */
  bytes: number;
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
  const log = options.log ?? (() => undefined);
  const stats: ReceiverStats = { connections: 0, open: 0, failed: 0, messages: 0, bytes: 0 };
  const sockets = new Set<Socket>();
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
    let error: Error | undefined;

    const fail = (err: Error): void => {
      if (error !== undefined) return;
      error = err;
      stats.failed++;
      const code = err instanceof RooError ? err.code : ((err as NodeJS.ErrnoException).code ?? '');
      log(`roo receive: connection from ${remote} closed: ${code} ${err.message}`);
      socket.destroy();
    };

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

    socket.on('data', (chunk: Buffer) => {
      if (error !== undefined) return;
      bytes += chunk.length;
      stats.bytes += chunk.length;
      if (decoder === undefined) {
        if (write) appendWholeLines(chunk);
        return;
      }
      try {
        // Frames before a bad header are delivered; then the stream cannot resync.
        decoder.push(chunk, onFrame);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('end', () => {
      flushCarry();
      if (error !== undefined || decoder === undefined) return;
      try {
        decoder.end();
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      flushCarry();
      sockets.delete(socket);
      stats.open--;
      const event: ConnectionClosed =
        error === undefined ? { remote, messages, bytes } : { remote, messages, bytes, error };
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

  --listen HOST:PORT      where to listen (required)
  --framed                input is length-prefixed frames; print each payload as a line
  --no-write              print nothing; only count
  --max-frame-bytes N     close a connection that sends a larger frame (default ${DEFAULT_MAX_FRAME_BYTES})
  --ponythreads N, --ponynoblock, --ponypinasio   accepted and ignored (Wallaroo)
`;

const RECEIVE_FLAGS = {
  listen: { type: 'string' },
  framed: { type: 'boolean' },
  'no-write': { type: 'boolean' },
  'max-frame-bytes': { type: 'string' },
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
  return { address, framed: v.framed === true, write: v['no-write'] !== true, maxFrameBytes };
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
  const { messages, bytes, connections } = receiver.stats;
  const what =
    options.framed === true ? `${plural(messages, 'message')} (${bytes} bytes)` : `${bytes} bytes`;
  logLine(`roo receive: received ${what} on ${plural(connections, 'connection')}`);
  return 0;
}
