/**
 * The receiver's side of the exactly-once sink protocol (sink-txn.ts holds
 * the wire format and the messages): an incremental parser that tells a
 * sink's connection from plain output by its first 8 bytes and reports the
 * sink's hello and each transaction once its last byte is in. Pure: sockets
 * and the deduplication state live in runtime/ (runtime/cli/receive*.ts).
 */
import { ErrorCode, RooError } from './errors.js';
import { FIRST_BODY_BYTES, FRAME_HEADER_BYTES } from './frame.js';
import { magicPrefix, matchMagic } from './magic.js';
import {
  decodeSinkTxnMessage,
  DEFAULT_MAX_SINK_TXN_BYTES,
  MAX_SINK_TXN_MESSAGE_BYTES,
  SINK_TXN_MAGIC,
  type SinkTxnMessage,
} from './sink-txn.js';
import { checkedTransition, type TransitionTable } from './transition.js';
import { bad } from './validate.js';

/** What a {@link TxnConnectionParser} finds in a connection's bytes. */
export type TxnConnectionEvent =
  /** Bytes of a connection that is not in this protocol, unchanged and in order. */
  | { readonly kind: 'plain'; readonly bytes: Buffer }
  /** The connection speaks this protocol for sink `sink`. */
  | { readonly kind: 'hello'; readonly sink: string }
  /**
   * A complete transaction. `bytes` may be a view of a pushed chunk: valid
   * only during the call unless copied.
   */
  | { readonly kind: 'txn'; readonly sink: string; readonly epoch: number; readonly bytes: Buffer };

/** A transaction whose body was still arriving. */
export interface PendingSinkTxn {
  readonly sink: string;
  readonly epoch: number;
  /** Body bytes received so far. */
  readonly received: number;
  /** Body bytes announced. */
  readonly bytes: number;
}

/**
 * States of a connection's parser: `detecting` while the bytes so far are a
 * prefix of the magic; `plain` once they are not (pass-through); `hello`
 * after the magic; `header` between transactions; `body` inside one;
 * `failed` after an error (fail-stop).
 */
export type TxnConnectionState = 'detecting' | 'plain' | 'hello' | 'header' | 'body' | 'failed';

const PARSER_TRANSITIONS: TransitionTable<TxnConnectionState> = {
  detecting: ['plain', 'hello', 'failed'],
  plain: ['failed'],
  hello: ['header', 'failed'],
  header: ['body', 'failed'],
  body: ['header', 'failed'],
  failed: [],
};

/** Returns `to` if a parser may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextTxnConnectionState(
  from: TxnConnectionState,
  to: TxnConnectionState,
): TxnConnectionState {
  return checkedTransition(PARSER_TRANSITIONS, from, to, 'sink transaction parser');
}

/**
 * Incremental parser of one connection to a receiver. Feed it chunks as they
 * arrive: it tells plain connections from exactly-once sink connections by
 * their first 8 bytes (the magic may arrive split, and a plain connection
 * shorter than 8 bytes comes out at `end`), passes plain bytes through
 * unchanged, and reports a sink connection's hello and its complete
 * transactions. A transaction is reported only once its last byte is in, so
 * one cut short by a closed connection is never reported at all.
 *
 * Errors (garbage messages, a txn before the hello, a second hello, an ack
 * from the sink (acks are the receiver's), a body over `maxTxnBytes`) throw
 * RooError from `push`; like FrameDecoder the parser is then fail-stop,
 * every later call throwing the same error, and the caller closes the
 * connection. Bounded: at most one control message (1 KiB)
 * and one transaction body (`maxTxnBytes`) are held.
 */
export class TxnConnectionParser {
  private readonly maxTxnBytes: number;
  private current: TxnConnectionState = 'detecting';
  /** Bytes of the magic matched so far, while detecting. */
  private matched = 0;
  private sinkId: string | undefined;
  /** Frame header of the control message in progress. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Payload of the control message in progress, once its header is complete. */
  private message: Buffer | undefined;
  private messageFill = 0;
  /** The transaction whose body is arriving (state `body`). */
  private epoch = 0;
  /**
   * The body so far: it starts at FIRST_BODY_BYTES (or the announced size,
   * if smaller) and doubles as bytes arrive, so a header announcing 256 MiB
   * and then silence holds what arrived, not 256 MiB.
   */
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** The announced size of the body in progress. */
  private bodyLength = 0;
  private delivering = false;
  private failure: RooError | undefined;

  /**
   * @param maxTxnBytes largest transaction body accepted, a safe integer ≥ 0;
   *   anything else throws ROO_ERR_BAD_FLAG.
   */
  constructor(maxTxnBytes: number = DEFAULT_MAX_SINK_TXN_BYTES) {
    if (!(Number.isSafeInteger(maxTxnBytes) && maxTxnBytes >= 0)) {
      throw new RooError(
        ErrorCode.BadFlag,
        `maximum transaction size must be a non-negative integer number of bytes, got ${maxTxnBytes}`,
        { max: maxTxnBytes },
      );
    }
    this.maxTxnBytes = maxTxnBytes;
  }

  /** Where the parser is. */
  get state(): TxnConnectionState {
    return this.current;
  }

  /** The sink id of a connection that has sent its hello. */
  get sink(): string | undefined {
    return this.sinkId;
  }

  /** Bytes set aside for the body in progress (at most twice what arrived, or 64 KiB). */
  get reservedBytes(): number {
    return this.body === undefined ? 0 : this.body.length;
  }

  /** The transaction whose body is arriving, if any: what a close now would discard. */
  get pending(): PendingSinkTxn | undefined {
    if (this.current !== 'body' || this.sinkId === undefined || this.body === undefined) {
      return undefined;
    }
    return {
      sink: this.sinkId,
      epoch: this.epoch,
      received: this.bodyFill,
      bytes: this.bodyLength,
    };
  }

  /** Consumes `chunk`, calling `visit` for what it completes. */
  push(chunk: Buffer, visit: (event: TxnConnectionEvent) => void): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.delivering) {
      throw this.fail(
        new RooError(
          ErrorCode.Internal,
          'TxnConnectionParser.push called from inside its own visit',
        ),
      );
    }
    let pos = 0;
    if (this.current === 'detecting') {
      const held = this.matched;
      const match = matchMagic(SINK_TXN_MAGIC, held, chunk);
      if (match.kind === 'mismatch') {
        // Not this protocol: everything so far, and from now on, is plain.
        this.move('plain');
        if (held > 0)
          this.deliver(visit, { kind: 'plain', bytes: magicPrefix(SINK_TXN_MAGIC, held) });
        this.deliver(visit, { kind: 'plain', bytes: chunk });
        return;
      }
      if (match.kind === 'partial') {
        this.matched = match.matched;
        return;
      }
      this.matched = SINK_TXN_MAGIC.length;
      pos = match.at;
      this.move('hello');
    }
    if (this.current === 'plain') {
      if (chunk.length > 0) this.deliver(visit, { kind: 'plain', bytes: chunk });
      return;
    }
    while (pos < chunk.length) {
      pos =
        this.current === 'body'
          ? this.readBody(chunk, pos, visit)
          : this.readMessage(chunk, pos, visit);
    }
  }

  /**
   * Signals the end of the connection. A plain connection's bytes still held
   * (a prefix of the magic) are delivered. Throws ROO_ERR_FRAME_TRUNCATED if
   * the stream stopped inside a message or a transaction (which is
   * discarded; `details` names it).
   */
  end(visit: (event: TxnConnectionEvent) => void): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.current === 'detecting') {
      const held = this.matched;
      this.move('plain');
      if (held > 0)
        this.deliver(visit, { kind: 'plain', bytes: magicPrefix(SINK_TXN_MAGIC, held) });
      return;
    }
    const pending = this.pending;
    if (pending !== undefined) {
      throw this.fail(
        new RooError(
          ErrorCode.FrameTruncated,
          `connection ended inside transaction epoch ${pending.epoch} of sink ${JSON.stringify(pending.sink)} (${pending.received} of ${pending.bytes} bytes received; discarded)`,
          { ...pending },
        ),
      );
    }
    const held =
      this.message === undefined ? this.headerFill : FRAME_HEADER_BYTES + this.messageFill;
    if (held > 0) {
      throw this.fail(
        new RooError(
          ErrorCode.FrameTruncated,
          `connection ended inside a sink transaction message (${held} bytes of it discarded)`,
          { bytes: held },
        ),
      );
    }
    // Between transactions (or before the hello) nothing is lost.
  }

  /** Reads control-message bytes from `pos`; handles a completed message. Returns the new position. */
  private readMessage(
    chunk: Buffer,
    pos: number,
    visit: (event: TxnConnectionEvent) => void,
  ): number {
    if (this.message === undefined) {
      const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + take);
      this.headerFill += take;
      pos += take;
      if (this.headerFill < FRAME_HEADER_BYTES) return pos;
      const length = this.header.readUInt32BE(0);
      if (length > MAX_SINK_TXN_MESSAGE_BYTES) {
        throw this.fail(
          new RooError(
            ErrorCode.FrameTooLarge,
            `sink transaction message of ${length} bytes exceeds the maximum of ${MAX_SINK_TXN_MESSAGE_BYTES} bytes`,
            { length, max: MAX_SINK_TXN_MESSAGE_BYTES },
          ),
        );
      }
      this.headerFill = 0;
      this.message = Buffer.allocUnsafe(length);
      this.messageFill = 0;
    }
    const take = Math.min(this.message.length - this.messageFill, chunk.length - pos);
    chunk.copy(this.message, this.messageFill, pos, pos + take);
    this.messageFill += take;
    pos += take;
    if (this.messageFill < this.message.length) return pos;
    const payload = this.message;
    this.message = undefined;
    this.messageFill = 0;
    this.handleMessage(payload, visit);
    return pos;
  }

  private handleMessage(payload: Buffer, visit: (event: TxnConnectionEvent) => void): void {
    let message: SinkTxnMessage;
    try {
      message = decodeSinkTxnMessage(payload);
    } catch (e) {
      throw this.fail(e instanceof RooError ? e : bad(String(e)));
    }
    if (this.current === 'hello') {
      if (message.type !== 'hello') {
        throw this.fail(bad(`a '${message.type}' sink transaction message came before the hello`));
      }
      this.sinkId = message.sink;
      this.move('header');
      this.deliver(visit, { kind: 'hello', sink: message.sink });
      return;
    }
    if (message.type === 'hello') {
      throw this.fail(
        bad(`a second hello on a connection of sink ${JSON.stringify(this.sinkId ?? '')}`),
      );
    }
    if (message.type === 'ack') {
      // Acks go from the receiver to the sink, never the other way.
      throw this.fail(
        bad(`an 'ack' from the sink on a connection of sink ${JSON.stringify(this.sinkId ?? '')}`),
      );
    }
    if (message.bytes > this.maxTxnBytes) {
      throw this.fail(
        new RooError(
          ErrorCode.FrameTooLarge,
          `transaction epoch ${message.epoch} of ${message.bytes} bytes exceeds the maximum of ${this.maxTxnBytes} bytes`,
          { epoch: message.epoch, length: message.bytes, max: this.maxTxnBytes },
        ),
      );
    }
    const sink = this.sinkId ?? '';
    if (message.bytes === 0) {
      this.deliver(visit, { kind: 'txn', sink, epoch: message.epoch, bytes: Buffer.alloc(0) });
      return;
    }
    this.epoch = message.epoch;
    this.body = Buffer.allocUnsafe(Math.min(message.bytes, FIRST_BODY_BYTES));
    this.bodyFill = 0;
    this.bodyLength = message.bytes;
    this.move('body');
  }

  /** Reads body bytes from `pos`; reports the transaction once complete. Returns the new position. */
  private readBody(chunk: Buffer, pos: number, visit: (event: TxnConnectionEvent) => void): number {
    const body = this.body;
    if (body === undefined)
      throw this.fail(new RooError(ErrorCode.Internal, 'no body in state body'));
    let bytes: Buffer;
    const length = this.bodyLength;
    if (this.bodyFill === 0 && chunk.length - pos >= length) {
      // Fast path: the whole body is in this chunk; deliver a view, uncopied.
      bytes = chunk.subarray(pos, pos + length);
      pos += length;
    } else {
      const take = Math.min(length - this.bodyFill, chunk.length - pos);
      let into = body;
      if (this.bodyFill + take > into.length) {
        // Room for what arrived, at least doubling, never past the announced size.
        into = Buffer.allocUnsafe(
          Math.min(length, Math.max(into.length * 2, this.bodyFill + take)),
        );
        body.copy(into, 0, 0, this.bodyFill);
        this.body = into;
      }
      chunk.copy(into, this.bodyFill, pos, pos + take);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill < length) return pos;
      bytes = into;
    }
    this.body = undefined;
    this.bodyFill = 0;
    this.bodyLength = 0;
    this.move('header');
    this.deliver(visit, { kind: 'txn', sink: this.sinkId ?? '', epoch: this.epoch, bytes });
    return pos;
  }

  private move(to: TxnConnectionState): void {
    this.current = nextTxnConnectionState(this.current, to);
  }

  private deliver(visit: (event: TxnConnectionEvent) => void, event: TxnConnectionEvent): void {
    this.delivering = true;
    try {
      visit(event);
    } catch (e) {
      // The rest of the chunk is lost with the caller's stack frame.
      if (this.failure === undefined) {
        this.fail(
          new RooError(
            ErrorCode.Internal,
            'TxnConnectionParser used after its visit threw: its place in the stream is lost',
          ),
        );
      }
      throw e;
    } finally {
      this.delivering = false;
    }
  }

  private fail(error: RooError): RooError {
    this.failure = error;
    if (this.current !== 'failed') this.current = nextTxnConnectionState(this.current, 'failed');
    this.headerFill = 0;
    this.message = undefined;
    this.messageFill = 0;
    this.body = undefined;
    this.bodyFill = 0;
    this.bodyLength = 0;
    return error;
  }
}
