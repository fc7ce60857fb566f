/**
 * The sink's side of the exactly-once protocol's acknowledgements
 * (sink-txn.ts holds the messages): an incremental parser of what a
 * receiver writes back on a sink's connection, framed `ack` messages. Pure:
 * the socket and what the sink does with an ack live in runtime/.
 */
import { ErrorCode, RooError } from './errors.js';
import { FrameDecoder } from './frame.js';
import { decodeSinkTxnMessage, MAX_SINK_TXN_MESSAGE_BYTES, type SinkTxnAck } from './sink-txn.js';
import { bad } from './validate.js';

/**
 * Incremental parser of a receiver's replies on one sink connection. Feed it
 * chunks as they arrive; it reports each whole `ack` for the connection's
 * sink id. Anything else (garbage, a frame over 1 KiB, a `hello` or `txn`,
 * an ack naming another sink) throws RooError ROO_ERR_BAD_MESSAGE,
 * ROO_ERR_BAD_VERSION or ROO_ERR_FRAME_TOO_LARGE from `push`, and the parser
 * is fail-stop: every later call throws the same error. Bounded: at most one
 * message (1 KiB) is held.
 */
export class SinkAckParser {
  private readonly frames = new FrameDecoder(MAX_SINK_TXN_MESSAGE_BYTES);
  private failure: RooError | undefined;

  /** @param sink the sink id this connection's hello named; acks must name it. */
  constructor(private readonly sink: string) {}

  /** Consumes `chunk`, calling `visit` with each whole ack. */
  push(chunk: Buffer, visit: (ack: SinkTxnAck) => void): void {
    if (this.failure !== undefined) throw this.failure;
    const acks: SinkTxnAck[] = [];
    try {
      this.frames.push(chunk, (payload) => acks.push(this.ack(payload)));
    } catch (e) {
      this.failure =
        e instanceof RooError ? e : new RooError(ErrorCode.Internal, `sink ack parser: ${e}`);
      throw this.failure;
    }
    // Visited after the chunk is parsed, so that a throwing visit cannot lose the parser's place.
    for (const ack of acks) visit(ack);
  }

  private ack(payload: Buffer): SinkTxnAck {
    const message = decodeSinkTxnMessage(payload);
    if (message.type !== 'ack') {
      throw bad(`a receiver sent a '${message.type}' sink transaction message; only acks go back`);
    }
    if (message.sink !== this.sink) {
      throw bad(
        `a receiver acknowledged sink ${JSON.stringify(message.sink)} on the connection of sink ${JSON.stringify(this.sink)}`,
      );
    }
    return message;
  }
}
