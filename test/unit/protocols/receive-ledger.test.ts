import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  decodeLedgerRecord,
  encodeLedgerRecord,
  encodeLedgerStart,
  ErrorCode,
  LEDGER_FORMAT_VERSION,
  LEDGER_MAGIC,
  LEDGER_RECORD_HEADER_BYTES,
  type LedgerRecord,
  RooError,
  scanLedger,
  validateLedgerRecord,
} from '../../../protocols/index.js';

const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

const length = fc.oneof(fc.nat({ max: 10_000 }), fc.maxSafeNat());
const sink = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });
const record: fc.Arbitrary<LedgerRecord> = fc.oneof(
  fc.record({
    type: fc.constant('open' as const),
    version: fc.constant(LEDGER_FORMAT_VERSION),
    output: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
    length,
  }),
  fc.record({
    type: fc.constant('applied' as const),
    version: fc.constant(LEDGER_FORMAT_VERSION),
    length,
    sinks: fc
      .uniqueArray(fc.tuple(sink, fc.nat()), { selector: ([s]) => s, maxLength: 5 })
      .map((a) => a.map(([s, e]) => [s, e] as const)),
  }),
);

/** A ledger as a receiver writes it: the start, then `applied` records of growing lengths. */
const ledger = fc
  .array(fc.tuple(fc.nat({ max: 1000 }), fc.array(fc.tuple(sink, fc.nat()), { maxLength: 3 })), {
    maxLength: 8,
  })
  .map((groups) => {
    let at = 0;
    const records: LedgerRecord[] = [
      { type: 'open', version: 1, output: '/tmp/out.txt', length: 0 },
    ];
    for (const [grow, sinks] of groups) {
      at += grow;
      const unique = [...new Map(sinks).entries()];
      records.push({ type: 'applied', version: 1, length: at, sinks: unique });
    }
    return records;
  });

function bytesOf(records: readonly LedgerRecord[]): Buffer {
  return Buffer.concat([LEDGER_MAGIC, ...records.map(encodeLedgerRecord)]);
}

describe('ledger records', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(record, (r) => {
        const bytes = encodeLedgerRecord(r);
        expect(bytes.readUInt32BE(0)).toBe(bytes.length - LEDGER_RECORD_HEADER_BYTES);
        expect(decodeLedgerRecord(bytes.subarray(LEDGER_RECORD_HEADER_BYTES))).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });

  it('refuse every truncated payload, and garbage, with RooError only', () => {
    fc.assert(
      fc.property(record, (r) => {
        const payload = encodeLedgerRecord(r).subarray(LEDGER_RECORD_HEADER_BYTES);
        for (let n = 0; n < payload.length; n++) {
          const e = thrown(() => decodeLedgerRecord(payload.subarray(0, n)));
          expect((e as RooError).code).toBe(ErrorCode.BadMessage);
        }
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(fc.anything({ withBigInt: true }), (x) => {
        try {
          decodeLedgerRecord(pack(x));
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuse bad fields, naming them', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'open', version: 1, output: '', length: 0 }, /'output'/],
      [{ type: 'open', version: 1, output: 'x', length: -1 }, /'length'/],
      [{ type: 'open', version: 1, output: 'x', length: 0, sinks: [] }, /unexpected field "sinks"/],
      [{ type: 'applied', version: 1, length: 1, sinks: {} }, /'sinks'.*array/],
      [{ type: 'applied', version: 1, length: 1, sinks: [['a']] }, /sinks\[0\].*pair/],
      [{ type: 'applied', version: 1, length: 1, sinks: [['', 1]] }, /sinks\[0\].*sink/],
      [{ type: 'applied', version: 1, length: 1, sinks: [['a', -1]] }, /sinks\[0\]\[1\]/],
      [
        {
          type: 'applied',
          version: 1,
          length: 1,
          sinks: [
            ['a', 1],
            ['a', 2],
          ],
        },
        /twice/,
      ],
      [{ type: 'closed', version: 1, length: 1 }, /unknown ledger record type/],
    ];
    for (const [value, pattern] of cases) {
      const e = thrown(() => validateLedgerRecord(value)) as RooError;
      expect(e.code).toBe(ErrorCode.BadMessage);
      expect(e.message).toMatch(pattern);
    }
    const v = thrown(() =>
      validateLedgerRecord({ type: 'open', version: 2, output: 'x', length: 0 }),
    );
    expect((v as RooError).code).toBe(ErrorCode.BadVersion);
  });
});

describe('scanLedger', () => {
  it('reads back every record of a whole ledger', () => {
    fc.assert(
      fc.property(ledger, (records) => {
        const scan = scanLedger(bytesOf(records));
        expect(scan).toEqual({ kind: 'records', records, validBytes: bytesOf(records).length });
      }),
      { numRuns: 200 },
    );
  });

  it('cut anywhere inside its last record: the records before it, and the tail reported torn', () => {
    fc.assert(
      fc.property(ledger, fc.nat(), (records, cut) => {
        fc.pre(records.length >= 2);
        const whole = bytesOf(records);
        const before = bytesOf(records.slice(0, -1)).length;
        const at = before + 1 + (cut % (whole.length - before - 1));
        const scan = scanLedger(whole.subarray(0, at));
        expect(scan.kind).toBe('records');
        if (scan.kind !== 'records') return;
        expect(scan.records).toEqual(records.slice(0, -1));
        expect(scan.validBytes).toBe(before);
        expect(scan.torn?.bytes).toBe(at - before);
      }),
      { numRuns: 300 },
    );
  });

  it('a last record whose bytes never reached the disk (garbage or zeros) is torn', () => {
    const records: LedgerRecord[] = [
      { type: 'open', version: 1, output: '/o', length: 0 },
      { type: 'applied', version: 1, length: 5, sinks: [['w/s', 3]] },
    ];
    const whole = bytesOf(records);
    const last = encodeLedgerRecord(records[1]!).length;
    const scribbled = Buffer.from(whole);
    scribbled[scribbled.length - 2] = scribbled[scribbled.length - 2]! ^ 0xff;
    for (const damaged of [scribbled, Buffer.concat([whole, Buffer.alloc(40)])]) {
      const scan = scanLedger(damaged);
      expect(scan.kind).toBe('records');
      if (scan.kind !== 'records') continue;
      expect(scan.torn).toBeDefined();
    }
    const s = scanLedger(scribbled);
    expect(s.kind === 'records' && s.validBytes).toBe(whole.length - last);
  });

  it('refuses damage before the last record, and what is not a ledger', () => {
    const records: LedgerRecord[] = [
      { type: 'open', version: 1, output: '/o', length: 0 },
      { type: 'applied', version: 1, length: 5, sinks: [['w/s', 3]] },
      { type: 'applied', version: 1, length: 9, sinks: [['w/s', 4]] },
    ];
    const whole = bytesOf(records);
    const middle = Buffer.from(whole);
    const at = LEDGER_MAGIC.length + encodeLedgerRecord(records[0]!).length + 14;
    middle[at] = middle[at]! ^ 0xff;
    const shrinking = bytesOf([
      records[0]!,
      records[2]!,
      { type: 'applied', version: 1, length: 5, sinks: [] },
    ]);
    const noOpen = bytesOf(records.slice(1));
    const cases: [Buffer, RegExp][] = [
      [middle, /fails its checksum/],
      [Buffer.from('NOTALEDGER'), /bad magic/],
      [shrinking, /less than the 9 before it/],
      [noOpen, /first record is 'applied'/],
      [bytesOf([records[0]!, records[0]!]), /second 'open'/],
    ];
    for (const [bytes, pattern] of cases) {
      const scan = scanLedger(bytes);
      expect(scan.kind).toBe('corrupt');
      if (scan.kind !== 'corrupt') continue;
      expect(scan.error.code).toBe(ErrorCode.LedgerCorrupt);
      expect(scan.error.message).toMatch(pattern);
    }
  });

  it('an empty file, or a prefix of the magic, is empty; random bytes never throw', () => {
    expect(scanLedger(new Uint8Array(0))).toEqual({ kind: 'empty' });
    expect(scanLedger(LEDGER_MAGIC.subarray(0, 5))).toEqual({ kind: 'empty' });
    expect(scanLedger(encodeLedgerStart('/o', 3))).toMatchObject({ kind: 'records' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        scanLedger(Buffer.concat([LEDGER_MAGIC, tail]));
      }),
      { numRuns: 1000 },
    );
  });
});
