/**
 * `roo send`: sends a file to a TCP address as length-prefixed frames
 * (Wallaroo's giles sender). Each line of the file, without its line ending,
 * becomes one frame; with `--binary --msg-size N` the file is cut into N-byte
 * messages instead. By default it speaks the acknowledging source protocol
 * (protocols/source-ack.ts): it keeps what the source has not acknowledged,
 * resends it after a reconnect, and exits once everything is acknowledged;
 * `--no-acks` is the plain Wallaroo sender.
 *
 * This file is the command: its flags, usage and run. Encoding frames and
 * reading the file are in send-frames.ts; connecting and writing with
 * backpressure, and `sendFile` itself, in send-connection.ts; the
 * acknowledging connection in send-acked.ts, its settings and decisions in
 * send-acked-link.ts.
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_FRAME_BYTES, ErrorCode, RooError } from '../../protocols/index.js';
import { parseAddress } from '../../protocols/address.js';
import { badFlag, flagError, parseCount } from './flags.js';
import { DEFAULT_RECONNECT_RETRY_MS, DEFAULT_RESUME_WAIT_MS } from './send-acked-link.js';
import {
  checkStreamId,
  DEFAULT_BATCH_SIZE,
  DEFAULT_CONNECT_RETRY_MS,
  PROGRESS_INTERVAL_MS,
  sendFile,
  type SendOptions,
} from './send-connection.js';

// The send's API stays reachable from the command's module (tests, bench).
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CONNECT_RETRY_MS,
  PROGRESS_INTERVAL_MS,
  batchDelayMs,
  defaultStreamId,
  nextSendState,
  retryDelayMs,
  sendFile,
  type SendOptions,
  type SendResult,
  type SendState,
} from './send-connection.js';
export {
  DEFAULT_MAX_UNACKED_BYTES,
  DEFAULT_RECONNECT_RETRY_MS,
  DEFAULT_RESUME_WAIT_MS,
  nextAckedLinkState,
  type AckedLinkState,
} from './send-acked-link.js';
export { UnackedFrames, WRITE_BUFFER_BYTES } from './send-frames.js';
// Older importers (runtime/cli/demo.ts, shutdown.ts) take the flag helpers from here.
export { flagError, parseCount } from './flags.js';

// ---------------------------------------------------------------------------
// Flags.

/** The usage text of `roo send`. */
export const SEND_USAGE = `usage: roo send --host HOST:PORT --file PATH [flags]

Sends each line of a file as one length-prefixed frame (Wallaroo: giles sender).

  --host HOST:PORT   where to connect (required)
  --file PATH        the file to send (required); lines lose their \\n or \\r\\n
  --messages N       stop after N messages (default: the whole file once)
  --repeat           loop over the file until --messages are sent (forever without)
  --batch-size N     frames per batch (default ${DEFAULT_BATCH_SIZE})
  --interval NS      nanoseconds between batch starts (default 0: as fast as possible)
  --binary           the file holds fixed-size binary messages; needs --msg-size
  --msg-size N       bytes per binary message; each is sent as a frame of N bytes
  --no-acks          plain Wallaroo sender: no acking hello, no replay, done once written
  --stream-id ID     the stream's id, 1 to 200 characters (default send-<pid>-<random>:
                     a restarted sender resumes where its stream was only with the same ID)
  --max-unacked-mb N most MiB kept until acknowledged; reading stops at the bound (default 64)
  --no-write         accepted for Wallaroo compatibility; roo send never logs messages
  --ponythreads N, --ponynoblock, --ponypinasio   accepted and ignored (Wallaroo)

Numbers may use _ between digits (1_000_000). A refused connection is retried
for up to ${DEFAULT_CONNECT_RETRY_MS / 1000} s. By default the connection opens with the acking hello: the
source answers where to start and whether it will acknowledge (it does when it
runs with checkpoints). Unacknowledged messages are kept; a lost connection is
retried for up to ${DEFAULT_RECONNECT_RETRY_MS / 1000} s and they are sent again from where the source asks. The
send ends once every message is acknowledged (or, without acks, written). A
receiver that closes the connection on the hello gets the plain sender; one
that does not answer in ${DEFAULT_RESUME_WAIT_MS / 1000} s fails the send (use --no-acks).
Progress goes to stderr every ${PROGRESS_INTERVAL_MS / 1000} s; the final 'sent N messages (B bytes)
in T s' line goes to stdout (B counts frame headers).
`;

/** Largest `--max-unacked-mb` (1 TiB): beyond it the byte count stops being exact. */
const MAX_UNACKED_MB = 1024 * 1024;

const SEND_FLAGS = {
  host: { type: 'string' },
  file: { type: 'string' },
  messages: { type: 'string' },
  'batch-size': { type: 'string' },
  interval: { type: 'string' },
  repeat: { type: 'boolean' },
  'no-write': { type: 'boolean' },
  binary: { type: 'boolean' },
  'msg-size': { type: 'string' },
  'no-acks': { type: 'boolean' },
  'stream-id': { type: 'string' },
  'max-unacked-mb': { type: 'string' },
  ponythreads: { type: 'string' },
  ponynoblock: { type: 'boolean' },
  ponypinasio: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo send` flags into send options, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseSendArgs(argv: string[]): SendOptions | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: SEND_FLAGS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw flagError(err, SEND_FLAGS);
  }
  if (v.help === true) return 'help';
  if (v.host === undefined) throw badFlag('--host HOST:PORT is required');
  if (v.file === undefined || v.file === '') throw badFlag('--file PATH is required');
  const address = parseAddress(v.host);
  if (v.ponythreads !== undefined) parseCount('ponythreads', v.ponythreads, 1);
  const binary = v.binary === true;
  if (binary && v['msg-size'] === undefined) throw badFlag('--binary needs --msg-size N');
  if (!binary && v['msg-size'] !== undefined) throw badFlag('--msg-size is only for --binary');
  const acks = v['no-acks'] !== true;
  if (!acks && v['stream-id'] !== undefined) throw badFlag('--stream-id is not for --no-acks');
  if (!acks && v['max-unacked-mb'] !== undefined) {
    throw badFlag('--max-unacked-mb is not for --no-acks');
  }
  const options: {
    -readonly [K in keyof SendOptions]: SendOptions[K];
  } = { address, file: v.file, repeat: v.repeat === true, binary, acks };
  if (v['stream-id'] !== undefined) options.streamId = checkStreamId(v['stream-id']);
  if (v['max-unacked-mb'] !== undefined) {
    const mb = parseCount('max-unacked-mb', v['max-unacked-mb'], 1);
    if (mb > MAX_UNACKED_MB)
      throw badFlag(`--max-unacked-mb: at most ${MAX_UNACKED_MB}, got ${mb}`);
    options.maxUnackedBytes = mb * 1024 * 1024;
  }
  if (v.messages !== undefined) options.messages = parseCount('messages', v.messages, 1);
  if (v['batch-size'] !== undefined) {
    options.batchSize = parseCount('batch-size', v['batch-size'], 1);
  }
  if (v.interval !== undefined) options.intervalNs = parseCount('interval', v.interval, 0);
  if (v['msg-size'] !== undefined) {
    const size = parseCount('msg-size', v['msg-size'], 1);
    if (size > DEFAULT_MAX_FRAME_BYTES) {
      throw badFlag(`--msg-size: at most ${DEFAULT_MAX_FRAME_BYTES} bytes, got ${size}`);
    }
    options.msgSize = size;
  }
  return options;
}

// ---------------------------------------------------------------------------
// The command.

/** `roo send [flags]`: resolves to the exit code (0 sent, 1 failed, 2 bad command line). */
export async function run(argv: string[]): Promise<number> {
  let options: SendOptions;
  try {
    const parsed = parseSendArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(SEND_USAGE);
      return 0;
    }
    options = parsed;
    await access(options.file, fsConstants.R_OK).catch((err: Error) => {
      throw badFlag(`--file: cannot read '${options.file}': ${err.message}`);
    });
  } catch (err) {
    process.stderr.write(`roo send: ${(err as Error).message} (see 'roo send --help')\n`);
    return 2;
  }

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await sendFile({
      ...options,
      signal: abort.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    console.log(
      `sent ${result.messages} messages (${result.bytes} bytes) in ${result.seconds.toFixed(3)} s`,
    );
    return 0;
  } catch (err) {
    const code = err instanceof RooError ? `${err.code}: ` : '';
    process.stderr.write(`roo send: ${code}${(err as Error).message}\n`);
    return err instanceof RooError && err.code === ErrorCode.BadFlag ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
