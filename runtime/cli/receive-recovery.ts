/**
 * What `roo receive --output FILE --ledger FILE` does with the two files at
 * start, decided from facts alone so that every case is a unit test
 * (receive-durable.ts reads the files and carries the decision out).
 *
 * The receiver writes a group's output bytes, fsyncs the output, then
 * appends the group's ledger record (protocols/receive-ledger.ts) and fsyncs
 * the ledger, and only then acknowledges. So after a SIGKILL:
 * - the ledger's last record may be torn: it is cut off (that group was
 *   never acknowledged; its sink sends it again);
 * - the output may be longer than the last whole record says: the bytes of a
 *   group whose record never made it, cut off for the same reason;
 * - the output is never shorter than the ledger says, and a ledger damaged
 *   before its last record cannot come from a crash: both are refused, since
 *   carrying on would repeat or skip transactions.
 */
import { ErrorCode, RooError, type LedgerScan } from '../../protocols/index.js';

/** What the receiver finds on disk at start. */
export interface RecoveryFacts {
  /** The `--output` path, absolute. */
  readonly output: string;
  /** The output file's length, or undefined if it does not exist. */
  readonly outputLength: number | undefined;
  /** The `--ledger` path, for messages. */
  readonly ledger: string;
  /** The ledger's bytes scanned, or undefined if the file does not exist. */
  readonly scan: LedgerScan | undefined;
}

/** What to do before serving. */
export interface RecoveryPlan {
  /** Write a new ledger (magic and `open` record) over whatever is there. */
  readonly newLedger: boolean;
  /** Cut the ledger to this many bytes (a torn last record), if set. */
  readonly truncateLedger?: number;
  /** Cut the output file to this many bytes (a group never acknowledged), if set. */
  readonly truncateOutput?: number;
  /** The output's length once the plan is carried out: where appends go. */
  readonly length: number;
  /** The highest epoch applied per sink id. */
  readonly applied: ReadonlyMap<string, number>;
  /** Lines worth logging about what was found and done. */
  readonly notes: readonly string[];
}

/** How to start afresh, for the refusals' messages. */
function fresh(facts: RecoveryFacts): string {
  return `to start afresh, remove both files (rm ${facts.ledger} ${facts.output}); a new receiver applies every transaction its sinks send again`;
}

function refuse(facts: RecoveryFacts, why: string, details: Record<string, unknown> = {}): never {
  throw new RooError(
    ErrorCode.LedgerCorrupt,
    `cannot recover from ledger ${facts.ledger}: ${why}. Carrying on would repeat or skip transactions; ${fresh(facts)}`,
    { ledger: facts.ledger, output: facts.output, ...details },
  );
}

/**
 * Decides how to start from `facts`. Throws RooError ROO_ERR_LEDGER_CORRUPT
 * when the files cannot be trusted: a ledger that is not one or is damaged
 * before its last record, one that belongs to another output file, or an
 * output file missing or shorter than the ledger records.
 */
export function planRecovery(facts: RecoveryFacts): RecoveryPlan {
  const scan = facts.scan;
  const none = scan === undefined || scan.kind === 'empty';
  if (none || (scan.kind === 'records' && scan.records.length === 0)) {
    // No ledger yet (or one whose creation a crash cut short): the output's
    // bytes so far stay, and transactions are appended after them.
    const length = facts.outputLength ?? 0;
    const notes =
      scan === undefined
        ? []
        : [
            `ledger ${facts.ledger} holds no whole record (cut short as it was created): starting it again`,
          ];
    return { newLedger: true, length, applied: new Map(), notes };
  }
  if (scan.kind === 'corrupt') refuse(facts, scan.error.message, { ...scan.error.details });
  const [open] = scan.records;
  if (open?.type !== 'open') refuse(facts, 'it does not start with its output file');
  if (open.output !== facts.output) {
    refuse(facts, `it records output ${open.output}, not ${facts.output}`, {
      recorded: open.output,
    });
  }
  const applied = new Map<string, number>();
  let length = open.length;
  for (const record of scan.records) {
    length = record.length;
    if (record.type !== 'applied') continue;
    for (const [sink, epoch] of record.sinks) {
      if (epoch > (applied.get(sink) ?? -1)) applied.set(sink, epoch);
    }
  }
  const notes: string[] = [];
  const plan: { truncateLedger?: number; truncateOutput?: number } = {};
  if (scan.torn !== undefined) {
    plan.truncateLedger = scan.validBytes;
    notes.push(
      `ledger ${facts.ledger}: cutting off ${scan.torn.bytes} bytes at offset ${scan.torn.at} (${scan.torn.why}: a record the crash cut short, never acknowledged)`,
    );
  }
  if (facts.outputLength === undefined) {
    if (length > 0)
      refuse(facts, `its output ${facts.output} is missing (it recorded ${length} bytes)`);
  } else if (facts.outputLength < length) {
    refuse(
      facts,
      `its output ${facts.output} is ${facts.outputLength} bytes, shorter than the ${length} it recorded (was it truncated or replaced?)`,
      { outputLength: facts.outputLength, recordedLength: length },
    );
  } else if (facts.outputLength > length) {
    plan.truncateOutput = length;
    notes.push(
      `output ${facts.output}: cutting off the last ${facts.outputLength - length} bytes (written after the last ledger record, never acknowledged; their sinks send them again)`,
    );
  }
  return { newLedger: false, ...plan, length, applied, notes };
}
