/**
 * One connection to `roo receive`. Each is either plain (the at-least-once
 * sink, `roo send`) or, told by its first 8 bytes, an exactly-once sink's
 * (protocols/sink-txn.ts): transactions, one per checkpoint, each printed
 * whole once its last byte is in, through the same output path as plain
 * bytes, and acknowledged to the sink once the output has made it safe
 * (receive-acks.ts). A transaction whose epoch the receiver already applied
 * for that sink id, on any connection, is dropped; one cut short by a closed
 * connection is discarded. A bad frame closes this connection alone, with
 * its error code in the log.
 */
import type { Socket } from 'node:net';
import {
  FrameDecoder,
  type PendingSinkTxn,
  RooError,
  TxnConnectionParser,
  type TxnConnectionEvent,
} from '../../protocols/index.js';
import { formatAddress } from '../../protocols/address.js';
import type { SinkAcks } from './receive-acks.js';
import { type ReceiverOutput, WholeLines } from './receive-output.js';
import type { DuplicateLogLimiter, TxnLedger } from './txn-ledger.js';

/** The end of one connection. */
export interface ConnectionClosed {
  /** The sender's address, `host:port`. */
  readonly remote: string;
  /** Frames received on it (0 when not framed); of transactions, only applied ones count. */
  readonly messages: number;
  /** Bytes received on it. */
  readonly bytes: number;
  /** The sink id, if it was an exactly-once sink's connection. */
  readonly sink?: string;
  /** Transactions applied from it. */
  readonly transactions: number;
  /** Transactions dropped from it as already applied. */
  readonly duplicates: number;
  /** Why it closed, if not by a clean end of stream (RooError for bad frames). */
  readonly error?: Error;
}

/** Counts over all connections. */
export interface ReceiverStats {
  /** Connections accepted. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Connections closed for an error (bad frame, reset, a transaction cut short). */
  failed: number;
  /** Frames received (0 when not framed); of transactions, only applied ones count. */
  messages: number;
  /** Bytes received, frame headers included. */
  bytes: number;
  /** Connections from exactly-once sinks (those that sent the ROOTXN1 magic and a hello). */
  sinkConnections: number;
  /** Transactions applied. */
  transactions: number;
  /** Transactions dropped because their sink's epoch was applied already. */
  duplicates: number;
  /** Transactions cut short by their connection's end, discarded. */
  discarded: number;
}

/** What every connection of one receiver shares: its settings, counts, ledger and output. */
export interface ConnectionContext {
  /** Input is length-prefixed frames: print each payload as a line. */
  readonly framed: boolean;
  /** Print what arrives; false only counts it. */
  readonly write: boolean;
  /** Largest frame accepted. */
  readonly maxFrameBytes: number;
  /** Largest exactly-once transaction accepted. */
  readonly maxTxnBytes: number;
  /** Receives lines about connections. */
  readonly log: (line: string) => void;
  /** The receiver's counts, updated in place. */
  readonly stats: ReceiverStats;
  /** Open connections: added here, removed when they close. */
  readonly sockets: Set<Socket>;
  /** Applied epochs per sink id, shared by every connection: a recovered sink resends on a new one. */
  readonly ledger: TxnLedger;
  /** Acknowledgements to exactly-once sinks, shared by every connection. */
  readonly acks: SinkAcks;
  /** Limits the lines about dropped duplicates. */
  readonly duplicateLog: DuplicateLogLimiter;
  /** Where every connection's output goes. */
  readonly output: ReceiverOutput;
  /** Called when a connection has closed, with its counts and error if any. */
  readonly onConnectionClosed?: (event: ConnectionClosed) => void;
}

/** Serves one accepted connection until it closes. */
export function serveConnection(socket: Socket, ctx: ConnectionContext): void {
  const { framed, write, maxFrameBytes, maxTxnBytes, log, stats, ledger, output } = ctx;
  const remote = formatAddress({
    host: socket.remoteAddress ?? '?',
    port: socket.remotePort ?? 0,
  });
  ctx.sockets.add(socket);
  stats.connections++;
  stats.open++;
  if (output.isBlocked) socket.pause();
  let messages = 0;
  let bytes = 0;
  let transactions = 0;
  let duplicates = 0;
  let sink: string | undefined;
  let error: Error | undefined;
  /** A transaction the stream ended inside of (the parser forgets it when it fails). */
  let cutShort: PendingSinkTxn | undefined;

  const fail = (err: Error, quiet = false): void => {
    if (error !== undefined) return;
    error = err;
    stats.failed++;
    const code = err instanceof RooError ? err.code : ((err as NodeJS.ErrnoException).code ?? '');
    if (!quiet) log(`roo receive: connection from ${remote} closed: ${code} ${err.message}`);
    socket.destroy();
  };

  // Plain connections: frames, or raw bytes. Exactly-once connections:
  // their transactions' bodies are the same bytes, decoded the same way.
  const parser = new TxnConnectionParser(maxTxnBytes);
  const decoder = framed ? new FrameDecoder(maxFrameBytes) : undefined;
  const lines = new WholeLines(output);
  const onFrame = (payload: Buffer): void => {
    messages++;
    stats.messages++;
    if (write) output.append(payload, true);
  };

  const plain = (chunk: Buffer): void => {
    if (decoder === undefined) {
      if (write) lines.append(chunk);
      return;
    }
    // Frames before a bad header are delivered; then the stream cannot resync.
    decoder.push(chunk, onFrame);
  };

  const applyTxn = (txnSink: string, epoch: number, body: Buffer): void => {
    if (ledger.check(txnSink, epoch) === 'duplicate') {
      duplicates++;
      stats.duplicates++;
      const report = ctx.duplicateLog.note(performance.now());
      if (report > 0) {
        const more = report > 1 ? ` (and ${report - 1} more dropped since the last such line)` : '';
        log(
          `roo receive: dropped transaction epoch ${epoch} of sink ${JSON.stringify(txnSink)} from ${remote}: epochs up to ${ledger.lastApplied(txnSink)} already applied${more}`,
        );
      }
      return;
    }
    let frames: Buffer[] | undefined;
    if (framed) {
      // All or nothing: a body that is not whole frames is refused before any of it is written.
      const bodyDecoder = new FrameDecoder(maxFrameBytes);
      const payloads: Buffer[] = [];
      bodyDecoder.push(body, (payload) => payloads.push(payload));
      bodyDecoder.end();
      frames = payloads;
    }
    ledger.record(txnSink, epoch);
    transactions++;
    stats.transactions++;
    if (frames === undefined) {
      // Whole, not through WholeLines: a transaction's bytes are applied all
      // together, and its acknowledgement must cover every one of them.
      if (write && body.length > 0) output.append(body, false);
    } else {
      for (const payload of frames) onFrame(payload);
    }
    output.applied(txnSink, epoch);
  };

  const visit = (event: TxnConnectionEvent): void => {
    switch (event.kind) {
      case 'plain':
        plain(event.bytes);
        return;
      case 'hello':
        ledger.register(event.sink);
        sink = event.sink;
        ctx.acks.connected(event.sink, socket);
        stats.sinkConnections++;
        log(
          `roo receive: exactly-once sink ${JSON.stringify(event.sink)} connected from ${remote}`,
        );
        return;
      case 'txn':
        applyTxn(event.sink, event.epoch, event.bytes);
        return;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (error !== undefined) return;
    bytes += chunk.length;
    stats.bytes += chunk.length;
    try {
      parser.push(chunk, visit);
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
    }
  });
  socket.on('end', () => {
    if (error !== undefined) return;
    cutShort = parser.pending;
    try {
      // A plain connection shorter than the magic is delivered here.
      parser.end(visit);
    } catch (err) {
      // A transaction cut short is reported once, when the connection closes.
      fail(err instanceof Error ? err : new Error(String(err)), cutShort !== undefined);
      return;
    }
    lines.flush(write);
    if (decoder === undefined || parser.state !== 'plain') return;
    try {
      decoder.end();
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
    }
  });
  socket.on('error', (err) => fail(err));
  socket.on('close', () => {
    const cut = cutShort ?? parser.pending;
    if (cut !== undefined) {
      stats.discarded++;
      log(
        `roo receive: discarded transaction epoch ${cut.epoch} of sink ${JSON.stringify(cut.sink)} from ${remote}: the connection closed after ${cut.received} of its ${cut.bytes} bytes`,
      );
    }
    lines.flush(write);
    if (sink !== undefined) ctx.acks.disconnected(sink, socket);
    ctx.sockets.delete(socket);
    stats.open--;
    const counts = { remote, messages, bytes, transactions, duplicates };
    const event: ConnectionClosed = {
      ...counts,
      ...(sink === undefined ? {} : { sink }),
      ...(error === undefined ? {} : { error }),
    };
    ctx.onConnectionClosed?.(event);
  });
}
