import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MsgpackParts } from '../../../protocols/msgpack-parts.js';
import { encodeSnapshot, encodeSnapshotParts } from '../../../protocols/snapshot-file.js';

const concat = (parts: Uint8Array[]): Buffer => Buffer.concat(parts);

describe('MsgpackParts', () => {
  it('writes the bytes msgpackr writes for the same maps, arrays, strings, numbers and binary', () => {
    const packr = new Packr({ useRecords: false });
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.string({ maxLength: 300 }),
            n: fc.oneof(fc.nat(), fc.maxSafeNat()),
            bin: fc.uint8Array({ maxLength: 600 }),
          }),
          { maxLength: 40 },
        ),
        (items) => {
          const w = new MsgpackParts();
          w.array(items.length);
          for (const it of items)
            w.map(3).str('name').str(it.name).str('n').uint(it.n).str('bin').bin(it.bin);
          const ours = concat(w.finish());
          const theirs = packr.pack(
            items.map((it) => ({ name: it.name, n: it.n, bin: Buffer.from(it.bin) })),
          );
          expect(ours.equals(theirs)).toBe(true);
          expect(new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(ours)).toEqual(
            items.map((it) => ({ name: it.name, n: it.n, bin: Buffer.from(it.bin) })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes large binary as a part of its own, uncopied', () => {
    const blob = new Uint8Array(100_000).fill(7);
    const w = new MsgpackParts();
    w.map(1).str('b').bin(blob);
    expect(w.finish()).toContain(blob);
  });
});

describe('encodeSnapshotParts', () => {
  it('concatenated, is the file encodeSnapshot makes, and holds each key group state uncopied', () => {
    const state = new Uint8Array(50_000).fill(3);
    const snapshot = {
      application: 'app',
      applicationHash: 'h',
      worker: 'w',
      checkpointId: 7,
      createdAt: new Date(0).toISOString(),
      sources: { '0/0': 42 },
      sinks: {},
      partitions: [{ name: 'p', keyGroups: [{ keyGroup: 1, entities: 9, state }] }],
    };
    const parts = encodeSnapshotParts(snapshot);
    expect(parts).toContain(state);
    expect(concat(parts).equals(Buffer.from(encodeSnapshot(snapshot)))).toBe(true);
  });
});
