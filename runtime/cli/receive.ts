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
 *
 * This file is the command: its flags, usage, run and summary line. The
 * server and its lifecycle, `startReceiver` itself, are in receive-server.ts;
 * one connection's handling in receive-connection.ts; the batched stdout
 * path in receive-output.ts.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_SINK_TXN_BYTES,
  ErrorCode,
  RooError,
} from '../../protocols/index.js';
import { formatAddress, parseAddress } from '../../protocols/address.js';
import { flagError, parseCount } from './flags.js';
import type { ReceiverStats } from './receive-connection.js';
import { type Receiver, type ReceiverOptions, startReceiver } from './receive-server.js';

export type { ConnectionClosed, ReceiverStats } from './receive-connection.js';
export { OUTPUT_BUFFER_BYTES, RAW_HOLD_BYTES } from './receive-output.js';
export {
  nextReceiverState,
  type Receiver,
  type ReceiverOptions,
  type ReceiverState,
  startReceiver,
} from './receive-server.js';

// ---------------------------------------------------------------------------
// The command.

/** The usage text of `roo receive`. */
export const RECEIVE_USAGE = `usage: roo receive --listen HOST:PORT [flags]

Listens for connections and prints what arrives (Wallaroo: data_receiver).
Prints 'Listening on HOST:PORT' to stderr once listening (port 0: any free
port, printed), and a summary of what it received on SIGINT or SIGTERM.
Connections of exactly-once sinks are told apart by their first bytes: each
transaction is printed whole, once; one already applied is dropped; each is
acknowledged to its sink once written (with --ledger: once on disk).

  --listen HOST:PORT      where to listen (required)
  --output FILE           append to FILE instead of printing to stdout
  --ledger FILE           with --output: keep the record of applied transactions
                          in FILE, so that a receiver restarted with the same
                          command (even after SIGKILL) neither repeats nor skips
                          one; a damaged ledger stops it (exit 2)
  --framed                input is length-prefixed frames; print each payload as a line
  --no-write              print nothing; only count
  --max-frame-bytes N     close a connection that sends a larger frame (default ${DEFAULT_MAX_FRAME_BYTES})
  --max-txn-bytes N       close an exactly-once sink's connection that sends a larger
                          transaction (default ${DEFAULT_MAX_SINK_TXN_BYTES})
  --ponythreads N, --ponynoblock, --ponypinasio   accepted and ignored (Wallaroo)
`;

const RECEIVE_FLAGS = {
  listen: { type: 'string' },
  output: { type: 'string' },
  ledger: { type: 'string' },
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
    throw flagError(err, RECEIVE_FLAGS);
  }
  if (v.help === true) return 'help';
  if (v.listen === undefined) {
    throw new RooError(ErrorCode.BadFlag, '--listen HOST:PORT is required');
  }
  const address = parseAddress(v.listen, { allowPortZero: true });
  if (v.ledger !== undefined && v.output === undefined) {
    throw new RooError(
      ErrorCode.BadFlag,
      '--ledger needs --output FILE: the ledger records how long the output file is, and stdout cannot be cut back after a crash',
    );
  }
  for (const name of ['output', 'ledger'] as const) {
    if (v[name] === '') throw new RooError(ErrorCode.BadFlag, `--${name} needs a file name`);
  }
  if (v.ledger !== undefined && v.ledger === v.output) {
    throw new RooError(ErrorCode.BadFlag, '--ledger and --output must be two different files');
  }
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
    ...(v.output === undefined ? {} : { outputFile: v.output }),
    ...(v.ledger === undefined ? {} : { ledgerFile: v.ledger }),
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
  let stop: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => {
    stop = resolve;
  });
  try {
    receiver = await startReceiver({ ...options, log: logLine, onFatal: () => stop(1) });
  } catch (err) {
    if (err instanceof RooError && err.code !== ErrorCode.Internal) {
      // A ledger that cannot be trusted, or a bad combination of flags: nothing was served.
      logLine(`roo receive: ${err.code} ${err.message}`);
      return 2;
    }
    logLine(
      `roo receive: cannot listen on ${formatAddress(options.address)}: ${(err as Error).message}`,
    );
    return 1;
  }
  logLine(`Listening on ${formatAddress(receiver.address)}`);

  const onSignal = (): void => stop(0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await receiver.close();
  logLine(receiveSummary(receiver.stats, options.framed === true));
  return code;
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
