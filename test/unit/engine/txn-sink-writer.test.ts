/**
 * The exactly-once sink writer (runtime/engine/txn-sink-writer.ts), driven by
 * hand: barriers and commits in the order a thread would deliver them, a fake
 * connection standing in for the receiver (acks, silence, reconnects,
 * congestion), and the bytes written parsed back as the receiver would.
 */
import { describe, expect, it } from 'vitest';
import type { Scheduler, ThreadLoop } from '../../../actors/index.js';
import {
  encodeSinkTxnHello,
  TxnConnectionParser,
  type TxnConnectionEvent,
} from '../../../protocols/index.js';
import type { TxnConnection, TxnOutputEvents } from '../../../runtime/connectors/txn-output.js';
import { EPOCH_BIT, RT_BARRIER, RT_COMMIT } from '../../../runtime/engine/epochs.js';
import { TAG_BYTES } from '../../../runtime/engine/sink-actors.js';
import { CheckpointCollector } from '../../../runtime/engine/thread-checkpoint.js';
import { RESEND_WITHOUT_ACKS } from '../../../runtime/engine/txn-hold.js';
import { TxnSinkWriterActor } from '../../../runtime/engine/txn-sink-writer.js';

const WRITER = 9;

/** A connection that records what is written, per connection, and can be congested or dropped. */
class FakeConnection implements TxnConnection {
  events!: TxnOutputEvents;
  writable = true;
  /** Bytes written on each connection so far, the newest last. */
  private readonly connections: Buffer[][] = [[]];

  write(bytes: Uint8Array): boolean {
    if (!this.writable) throw new Error('written while not writable');
    this.connections.at(-1)!.push(Buffer.from(bytes));
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The connection breaks and a new one comes up. */
  reconnect(): void {
    this.events.disconnected();
    this.connections.push([]);
    this.events.connected();
    this.events.writable();
  }

  /** The transactions written on connection `i` (default: every one), as `[epoch:body]`. */
  txns(i?: number): string[] {
    const conns = i === undefined ? this.connections : [this.connections[i]!];
    const out: string[] = [];
    for (const chunks of conns) {
      const parser = new TxnConnectionParser();
      const visit = (e: TxnConnectionEvent): void => {
        if (e.kind === 'txn') out.push(`[${e.epoch}:${e.bytes.toString()}]`);
      };
      parser.push(encodeSinkTxnHello('w/s'), visit);
      for (const c of chunks) parser.push(c, visit);
    }
    return out;
  }
}

function writer(threads: number, maxUnackedBytes = 1 << 20) {
  const resumed: number[] = [];
  const scheduler = { resume: (ref: number) => resumed.push(ref) };
  const output = new FakeConnection();
  const checkpoints = new CheckpointCollector();
  checkpoints.expected = 1;
  let kicks = 0;
  const loop = { kick: () => kicks++ } as unknown as ThreadLoop;
  const w = new TxnSinkWriterActor(
    scheduler as unknown as Scheduler,
    loop,
    output,
    maxUnackedBytes,
    0,
    checkpoints,
  );
  w.self = WRITER;
  w.barriers.expected = threads;
  output.events.connected();
  /** A chunk from an encoder, in epoch parity `bit`, holding `count` outputs. */
  const chunk = (bit: number, text: string, count = 1) =>
    w.receive(TAG_BYTES + bit * EPOCH_BIT, Buffer.from(text), count);
  const barrier = (id: number) => w.receiveRuntime(RT_BARRIER, id);
  const commit = (id: number) => w.receiveRuntime(RT_COMMIT, id);
  /** The sink part recorded for checkpoint `id`, bodies as text. */
  const recorded = async (id: number) => {
    const part = await checkpoints.wait(id);
    return part.sinks.map((s) => ({
      sink: s.sink,
      pending: s.pending.map(([k, body]) => [k, Buffer.from(body).toString()]),
    }));
  };
  /** One checkpoint of one thread's output `text`, taken and committed. */
  const epoch = (id: number, text: string) => {
    chunk(id % 2 === 1 ? 0 : 1, text);
    barrier(id);
    commit(id);
  };
  return {
    w,
    output,
    resumed,
    chunk,
    barrier,
    commit,
    recorded,
    epoch,
    part: (id: number) => checkpoints.wait(id),
    kicks: () => kicks,
  };
}

describe('TxnSinkWriterActor', () => {
  it('holds output per checkpoint and writes it only at commit, one transaction per checkpoint, in order', async () => {
    const { w, output, chunk, barrier, commit, recorded } = writer(2);
    chunk(0, 'a');
    chunk(1, 'n'); // thread 1 passed barrier 1
    barrier(1);
    chunk(0, 'b', 2); // thread 2 has not
    barrier(1);
    expect(await recorded(1)).toEqual([{ sink: 0, pending: [[1, 'ab']] }]);
    chunk(1, 'c');
    barrier(2);
    barrier(2);
    expect(await recorded(2)).toEqual([
      {
        sink: 0,
        pending: [
          [1, 'ab'],
          [2, 'nc'],
        ],
      },
    ]);
    expect(output.txns()).toEqual([]);
    commit(1);
    expect(output.txns()).toEqual(['[1:ab]']);
    expect(w.counters.outputs).toBe(3);
    chunk(0, 'd'); // epoch 3, not yet taken
    commit(2);
    expect(output.txns()).toEqual(['[1:ab]', '[2:nc]']);
    // Two checkpoints taken, only the newer commit heard: both go, oldest first, one each.
    barrier(3);
    barrier(3);
    chunk(1, 'e');
    barrier(4);
    barrier(4);
    commit(4);
    expect(output.txns()).toEqual(['[1:ab]', '[2:nc]', '[3:d]', '[4:e]']);
    expect(w.counters.outputs).toBe(7);
    // A repeated commit writes nothing more.
    commit(4);
    expect(output.txns()).toHaveLength(4);
  });

  it('a checkpoint records every transaction not yet acknowledged, written or not', async () => {
    const { output, epoch, chunk, barrier, recorded } = writer(1);
    epoch(1, 'a');
    epoch(2, 'b');
    output.events.ack(1);
    chunk(0, 'c'); // checkpoint 3's epoch: bit 0 again
    barrier(3);
    // 1 is acknowledged; 2 is written but not acknowledged; 3 is pending.
    expect(await recorded(3)).toEqual([
      {
        sink: 0,
        pending: [
          [2, 'b'],
          [3, 'c'],
        ],
      },
    ]);
  });

  it('after a reconnect writes again exactly the transactions not acknowledged, however many', () => {
    const { output, epoch } = writer(1);
    for (let k = 1; k <= 12; k++) epoch(k, `t${k}`);
    output.events.ack(4);
    output.reconnect();
    expect(output.txns(1)).toEqual(Array.from({ length: 8 }, (_, i) => `[${i + 5}:t${i + 5}]`));
  });

  it("the receiver's first ack on a new connection spares what it has already", () => {
    const { output, epoch } = writer(1);
    for (let k = 1; k <= 5; k++) epoch(k, `t${k}`);
    output.writable = false;
    output.reconnect(); // nothing written yet: congested
    output.events.ack(3);
    output.writable = true;
    output.events.writable();
    expect(output.txns(1)).toEqual(['[4:t4]', '[5:t5]']);
  });

  it('a receiver that does not acknowledge: only the newest written transactions are written again', () => {
    const { output, epoch } = writer(1);
    output.events.noAcks();
    for (let k = 1; k <= 10; k++) epoch(k, `t${k}`);
    output.reconnect();
    expect(output.txns(1)).toEqual(
      Array.from({ length: RESEND_WITHOUT_ACKS }, (_, i) => `[${i + 8}:t${i + 8}]`),
    );
  });

  it('while disconnected it keeps taking output, and pauses at the bound until acks bring it under', () => {
    const { w, output, epoch, resumed, kicks } = writer(1, 10);
    output.writable = false;
    output.events.disconnected();
    epoch(1, 'aaaa');
    epoch(2, 'bbbb');
    expect(w.paused).toBe(false);
    epoch(3, 'cccc');
    expect(w.paused).toBe(true);
    output.writable = true;
    output.events.connected();
    output.events.writable();
    expect(output.txns()).toEqual(['[1:aaaa]', '[2:bbbb]', '[3:cccc]']);
    // Written is not enough: only an acknowledgement frees it.
    expect(w.paused).toBe(true);
    expect(resumed).toEqual([]);
    output.events.ack(1);
    expect(w.paused).toBe(false);
    expect(resumed).toEqual([WRITER]);
    expect(kicks()).toBe(1);
  });

  it('restore() writes the restored checkpoints again at once, in order, then carries on', async () => {
    const first = writer(1);
    first.chunk(0, 'x');
    first.barrier(1);
    first.chunk(1, 'y');
    first.barrier(2);
    const saved = (await first.part(2)).sinks[0]!.pending;
    expect(first.output.txns()).toEqual([]);
    // The worker crashed before commit 2 reached it; checkpoint 2 committed.
    const second = writer(1);
    second.w.restore(saved);
    expect(second.output.txns()).toEqual(['[1:x]', '[2:y]']);
    second.chunk(0, 'z');
    second.barrier(3);
    expect(await second.recorded(3)).toEqual([
      {
        sink: 0,
        pending: [
          [1, 'x'],
          [2, 'y'],
          [3, 'z'],
        ],
      },
    ]);
    second.commit(3);
    expect(second.output.txns()).toEqual(['[1:x]', '[2:y]', '[3:z]']);
  });

  it('close() waits for the receiver to acknowledge what it holds', async () => {
    const { w, output, epoch } = writer(1);
    epoch(1, 'a');
    let closed = false;
    const closing = w.close().then(() => {
      closed = true;
    });
    await Promise.resolve();
    expect(closed).toBe(false);
    output.events.ack(1);
    await closing;
    expect(closed).toBe(true);
  });
});
