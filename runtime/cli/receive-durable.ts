/**
 * `roo receive --output FILE --ledger FILE`: the receiver's output appended
 * to a file, and a ledger of the exactly-once transactions in it
 * (protocols/receive-ledger.ts), kept so that the two agree after a SIGKILL
 * and a receiver restarted with the same command neither repeats nor skips
 * a transaction.
 *
 * Per flush (once per event-loop turn that brought output), in this order:
 * 1. the queued bytes are written to the output file at its end;
 * 2. if transactions are among them: the output is fsynced, then one ledger
 *    record (the output's new length, the highest epoch per sink) is
 *    appended and fsynced, and only then are the transactions reported as
 *    durable, so that the receiver acknowledges them to their sinks.
 * A crash between any two steps leaves an output longer than the ledger
 * says, or a torn last record; a restart cuts both back to the last whole
 * record (receive-recovery.ts decides), and the sinks, which never heard an
 * acknowledgement for what was cut, send it again.
 *
 * Plain connections' bytes (no transactions) are written but not fsynced on
 * their own: they become durable with the next transaction's record, or at
 * a clean stop. After a crash, plain bytes written since the last record are
 * cut off with the rest (a plain sender has no acknowledgements anyway).
 *
 * Writes and fsyncs are synchronous: a receiver's event loop has nothing
 * better to do meanwhile, and reading no socket during an fsync is the
 * backpressure. An fsync per flush that carries transactions: one per
 * checkpoint per sink at most, coalesced when they arrive together.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { resolve } from 'node:path';
import {
  encodeLedgerRecord,
  encodeLedgerStart,
  LEDGER_FORMAT_VERSION,
  scanLedger,
} from '../../protocols/index.js';
import { writeDurably } from '../connectors/durable-file.js';
import type { OnDurable, ReceiverOutput } from './receive-output.js';
import { planRecovery, type RecoveryPlan } from './receive-recovery.js';

/**
 * A ledger is rewritten as one `open` and one `applied` record (temp file,
 * fsync, rename) once it passes this size, or four times its compacted
 * size if that is more: a record per transaction group would otherwise grow
 * it forever.
 */
export const LEDGER_COMPACT_BYTES = 1024 * 1024;

/** Where a durable receiver writes. */
export interface DurableOutputOptions {
  /** `--output`: the file appended to. */
  readonly output: string;
  /** `--ledger`: the record of what is applied. */
  readonly ledger: string;
  /** Lines about what recovery found and did. */
  readonly log: (line: string) => void;
  /** Transactions made durable by a flush: acknowledge them. */
  readonly onDurable: OnDurable;
  /** The output or ledger could not be written: the receiver must stop (nothing more is acknowledged). */
  readonly onFatal: (err: Error) => void;
}

/** Writes `bytes` whole at `position` of `fd`. */
function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length;) {
    at += writeSync(fd, bytes, at, bytes.length - at, position + at);
  }
}

/** Truncates `path` to `length` bytes and fsyncs it. */
function cut(path: string, length: number): void {
  truncateSync(path, length);
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The output file and its ledger, recovered and open. */
export class DurableOutput implements ReceiverOutput {
  readonly isBlocked = false;
  /** The highest durable epoch per sink, as the ledger has it. */
  readonly durable: Map<string, number>;
  private readonly output: string;
  private readonly ledger: string;
  private outFd: number;
  private ledgerFd: number;
  /** The output file's length, with what is written but not yet recorded. */
  private length: number;
  /** The ledger file's length. */
  private ledgerBytes: number;
  /** The output's length in the ledger's last record. */
  private recorded: number;
  private compactAt = LEDGER_COMPACT_BYTES;
  private queue: Buffer[] = [];
  private marks = new Map<string, number>();
  private scheduled = false;
  /** `open` while serving; `closed` after a clean close; `failed` after a write failed (nothing more is written). */
  private state: 'open' | 'closed' | 'failed' = 'open';

  /**
   * Opens (creating if need be) the output and the ledger, after carrying
   * out {@link planRecovery}'s decision. Throws RooError
   * ROO_ERR_LEDGER_CORRUPT when the files cannot be trusted, and what the
   * file system throws when they cannot be opened.
   */
  constructor(private readonly options: DurableOutputOptions) {
    this.output = resolve(options.output);
    this.ledger = resolve(options.ledger);
    const plan = planRecovery({
      output: this.output,
      outputLength: existsSync(this.output) ? statSync(this.output).size : undefined,
      ledger: this.ledger,
      scan: existsSync(this.ledger) ? scanLedger(readFileSync(this.ledger)) : undefined,
    });
    for (const note of plan.notes) options.log(`roo receive: ${note}`);
    this.carryOut(plan);
    this.outFd = openSync(this.output, 'r+');
    this.ledgerFd = openSync(this.ledger, 'r+');
    this.length = plan.length;
    this.recorded = plan.length;
    this.ledgerBytes = fstatSync(this.ledgerFd).size;
    this.durable = new Map(plan.applied);
  }

  private carryOut(plan: RecoveryPlan): void {
    if (!existsSync(this.output)) closeSync(openSync(this.output, 'a'));
    if (plan.truncateOutput !== undefined) cut(this.output, plan.truncateOutput);
    if (plan.newLedger) writeDurably(this.ledger, encodeLedgerStart(this.output, plan.length));
    else if (plan.truncateLedger !== undefined) cut(this.ledger, plan.truncateLedger);
  }

  append(bytes: Buffer, newline: boolean): void {
    if (this.state !== 'open') return;
    // Copied: the caller's buffer may be a view of a socket chunk reused later.
    this.queue.push(Buffer.from(bytes));
    if (newline) this.queue.push(Buffer.from('\n'));
    this.schedule();
  }

  applied(sink: string, epoch: number): void {
    if (this.state !== 'open') return;
    this.marks.set(sink, epoch);
    this.schedule();
  }

  flush(): void {
    this.scheduled = false;
    if (this.state !== 'open') return;
    try {
      this.writeQueued();
      if (this.marks.size === 0) return;
      const marks = this.marks;
      this.marks = new Map();
      fdatasyncSync(this.outFd);
      this.record([...marks]);
      for (const [sink, epoch] of marks) this.durable.set(sink, epoch);
      if (this.ledgerBytes >= this.compactAt) this.compact();
      this.options.onDurable(marks);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  close(): Promise<void> {
    this.flush();
    if (this.state !== 'open') return Promise.resolve();
    try {
      // Plain bytes since the last record become durable too: a clean stop loses nothing.
      if (this.length !== this.recorded) {
        fdatasyncSync(this.outFd);
        this.record([]);
      }
      closeSync(this.outFd);
      closeSync(this.ledgerFd);
      this.state = 'closed';
    } catch (err) {
      this.fail(err as Error);
    }
    return Promise.resolve();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private writeQueued(): void {
    if (this.queue.length === 0) return;
    const bytes = this.queue.length === 1 ? (this.queue[0] as Buffer) : Buffer.concat(this.queue);
    this.queue = [];
    writeAll(this.outFd, bytes, this.length);
    this.length += bytes.length;
  }

  /** Appends and fsyncs one `applied` record for the output as it stands. */
  private record(sinks: [string, number][]): void {
    const bytes = encodeLedgerRecord({
      type: 'applied',
      version: LEDGER_FORMAT_VERSION,
      length: this.length,
      sinks,
    });
    writeAll(this.ledgerFd, bytes, this.ledgerBytes);
    fdatasyncSync(this.ledgerFd);
    this.ledgerBytes += bytes.length;
    this.recorded = this.length;
  }

  /** Rewrites the ledger as its `open` record and one `applied` record of every sink. */
  private compact(): void {
    const bytes = Buffer.concat([
      encodeLedgerStart(this.output, this.length),
      encodeLedgerRecord({
        type: 'applied',
        version: LEDGER_FORMAT_VERSION,
        length: this.length,
        sinks: [...this.durable],
      }),
    ]);
    closeSync(this.ledgerFd);
    writeDurably(this.ledger, bytes);
    this.ledgerFd = openSync(this.ledger, 'r+');
    this.ledgerBytes = bytes.length;
    this.compactAt = Math.max(LEDGER_COMPACT_BYTES, 4 * bytes.length);
  }

  private fail(err: Error): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.queue = [];
    this.marks.clear();
    this.options.onFatal(err);
  }
}
