/**
 * The acknowledgements `roo receive` sends back to exactly-once sinks
 * (protocols/sink-txn.ts, `ack`): at once on a sink's hello, the highest
 * epoch already safe for that sink id (so that a reconnecting sink forgets
 * what the receiver has and sends the rest), then, whenever the output
 * makes more of its transactions safe, the new highest epoch on every open
 * connection of that sink (a recovered sink's new connection may overlap
 * its old, half-open one; an ack on the dead one is harmless).
 */
import type { Socket } from 'node:net';
import { encodeSinkTxnAck } from '../../protocols/index.js';

/** Where acks go: the open connections of each sink id, and what is safe per sink. */
export class SinkAcks {
  /** The highest safe epoch per sink id: bounded like the ledger (one entry per known sink). */
  private readonly safe: Map<string, number>;
  /** Open connections per sink id; an entry leaves with its last connection. */
  private readonly connections = new Map<string, Set<Socket>>();

  /** @param safe what is safe already (a durable receiver's ledger, recovered). */
  constructor(safe: ReadonlyMap<string, number> = new Map()) {
    this.safe = new Map(safe);
  }

  /** The highest safe epoch of `sink`, if any. */
  safeEpoch(sink: string): number | undefined {
    return this.safe.get(sink);
  }

  /** A connection said hello as `sink`: tells it at once what is safe already. */
  connected(sink: string, socket: Socket): void {
    let set = this.connections.get(sink);
    if (set === undefined) {
      set = new Set();
      this.connections.set(sink, set);
    }
    set.add(socket);
    socket.write(encodeSinkTxnAck(sink, this.safe.get(sink) ?? null));
  }

  /** A connection of `sink` closed. */
  disconnected(sink: string, socket: Socket): void {
    const set = this.connections.get(sink);
    if (set === undefined) return;
    set.delete(socket);
    if (set.size === 0) this.connections.delete(sink);
  }

  /** The output made these transactions safe: acknowledges them on their sinks' connections. */
  durable(applied: ReadonlyMap<string, number>): void {
    for (const [sink, epoch] of applied) {
      if (epoch <= (this.safe.get(sink) ?? -1)) continue;
      this.safe.set(sink, epoch);
      const set = this.connections.get(sink);
      if (set === undefined) continue;
      const ack = encodeSinkTxnAck(sink, epoch);
      for (const socket of set) if (!socket.destroyed) socket.write(ack);
    }
  }
}
