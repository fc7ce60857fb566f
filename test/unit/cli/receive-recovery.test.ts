/**
 * What a durable receiver does with its output and ledger at start
 * (runtime/cli/receive-recovery.ts): every case a SIGKILL can leave, and
 * the ones it cannot, which are refused.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeLedgerRecord,
  ErrorCode,
  LEDGER_MAGIC,
  type LedgerRecord,
  RooError,
  scanLedger,
} from '../../../protocols/index.js';
import { planRecovery, type RecoveryFacts } from '../../../runtime/cli/receive-recovery.js';

const OUT = '/data/out.txt';
const LEDGER = '/data/out.ledger';

const open = (length = 0): LedgerRecord => ({ type: 'open', version: 1, output: OUT, length });
const applied = (length: number, sinks: [string, number][]): LedgerRecord => ({
  type: 'applied',
  version: 1,
  length,
  sinks,
});

function bytesOf(records: readonly LedgerRecord[]): Buffer {
  return Buffer.concat([LEDGER_MAGIC, ...records.map(encodeLedgerRecord)]);
}

function facts(ledger: Buffer | undefined, outputLength: number | undefined): RecoveryFacts {
  return {
    output: OUT,
    outputLength,
    ledger: LEDGER,
    scan: ledger === undefined ? undefined : scanLedger(ledger),
  };
}

function refused(f: RecoveryFacts): RooError {
  try {
    planRecovery(f);
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    expect((e as RooError).code).toBe(ErrorCode.LedgerCorrupt);
    return e as RooError;
  }
  return expect.fail('expected a refusal');
}

const history = [
  open(),
  applied(10, [['w1/s', 1]]),
  applied(25, [
    ['w1/s', 2],
    ['w2/s', 1],
  ]),
  applied(40, [['w1/s', 4]]),
];

describe('planRecovery', () => {
  it('no ledger: a new one, after whatever the output holds already', () => {
    expect(planRecovery(facts(undefined, undefined))).toEqual({
      newLedger: true,
      length: 0,
      applied: new Map(),
      notes: [],
    });
    expect(planRecovery(facts(undefined, 123))).toMatchObject({ newLedger: true, length: 123 });
  });

  it('a ledger cut short as it was created is started again', () => {
    const plan = planRecovery(facts(Buffer.from(LEDGER_MAGIC.subarray(0, 3)), 7));
    expect(plan).toMatchObject({ newLedger: true, length: 7 });
    expect(plan.notes[0]).toMatch(/no whole record/);
    const torn = bytesOf([open()]).subarray(0, LEDGER_MAGIC.length + 5);
    expect(planRecovery(facts(torn, 0))).toMatchObject({ newLedger: true, length: 0 });
  });

  it('a clean stop: the highest epoch per sink, nothing cut', () => {
    const plan = planRecovery(facts(bytesOf(history), 40));
    expect(plan).toEqual({
      newLedger: false,
      length: 40,
      applied: new Map([
        ['w1/s', 4],
        ['w2/s', 1],
      ]),
      notes: [],
    });
  });

  it('killed after writing output, before its record: the output is cut back to the last record', () => {
    const plan = planRecovery(facts(bytesOf(history), 52));
    expect(plan.truncateOutput).toBe(40);
    expect(plan.truncateLedger).toBeUndefined();
    expect(plan.length).toBe(40);
    expect(plan.notes.join('\n')).toMatch(/cutting off the last 12 bytes/);
  });

  it('killed while its record was written (a torn last record): both cut back to the record before', () => {
    const whole = bytesOf(history);
    const before = bytesOf(history.slice(0, -1)).length;
    for (let at = before + 1; at < whole.length; at++) {
      const plan = planRecovery(facts(whole.subarray(0, at), 40));
      expect(plan.truncateLedger).toBe(before);
      expect(plan.truncateOutput).toBe(25);
      expect(plan.length).toBe(25);
      // The torn group's transaction (w1/s 4) was never acknowledged: it is not applied.
      expect(plan.applied).toEqual(
        new Map([
          ['w1/s', 2],
          ['w2/s', 1],
        ]),
      );
    }
  });

  it('a compacted ledger starts at its open record’s length', () => {
    const compacted = bytesOf([open(40), applied(40, [['w1/s', 4]])]);
    expect(planRecovery(facts(compacted, 40))).toMatchObject({ length: 40, newLedger: false });
    expect(planRecovery(facts(bytesOf([open(40)]), 41)).truncateOutput).toBe(40);
  });

  it('refuses an output shorter than recorded, or missing', () => {
    expect(refused(facts(bytesOf(history), 39)).message).toMatch(
      /39 bytes, shorter than the 40 it recorded.*rm \/data\/out.ledger \/data\/out.txt/,
    );
    expect(refused(facts(bytesOf(history), undefined)).message).toMatch(/is missing/);
  });

  it('refuses a ledger of another output file', () => {
    const other = bytesOf([{ type: 'open', version: 1, output: '/elsewhere.txt', length: 0 }]);
    expect(refused(facts(other, 0)).message).toMatch(/records output \/elsewhere.txt/);
  });

  it('refuses a ledger damaged before its last record, or not a ledger at all', () => {
    const damaged = bytesOf(history);
    const at = LEDGER_MAGIC.length + encodeLedgerRecord(history[0]!).length + 20;
    damaged[at] = damaged[at]! ^ 0x55;
    expect(refused(facts(damaged, 40)).message).toMatch(/fails its checksum/);
    expect(refused(facts(Buffer.from('hello world'), 40)).message).toMatch(/bad magic/);
  });
});
