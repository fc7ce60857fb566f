/**
 * Length-prefixed frames: a 4-byte big-endian payload length, then the
 * payload. Used by TCP sources and sinks, `roo send` / `roo receive`, and the
 * data channels between workers. Pure: bytes in, frames or typed errors out.
 */
import { ErrorCode, RooError } from './errors.js';

/** Bytes in a frame header. */
export const FRAME_HEADER_BYTES = 4;
/** Default largest payload accepted (16 MiB); larger frames are refused. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The largest length a 4-byte header can carry. */
const MAX_U32 = 0xffffffff;
/** Bytes first set aside for a frame split across chunks (more as more arrives). */
export const FIRST_BODY_BYTES = 64 * 1024;

/** Returns header + payload as one buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, 0, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Writes a frame header for a payload of `length` bytes at `offset` of `target`.
 * Throws ROO_ERR_FRAME_TOO_LARGE for a length a u32 cannot carry: written
 * unchecked, `>>>` would wrap it and the peer would misframe the stream.
 */
export function writeFrameHeader(target: Uint8Array, offset: number, length: number): void {
  if (!(Number.isInteger(length) && length >= 0 && length <= MAX_U32)) {
    throw new RooError(
      length > MAX_U32 ? ErrorCode.FrameTooLarge : ErrorCode.Internal,
      `frame length must be an integer from 0 to ${MAX_U32}, got ${length}`,
      { length },
    );
  }
  target[offset] = (length >>> 24) & 0xff;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/**
 * Incremental frame decoder for a byte stream. Feed it chunks as they arrive;
 * it calls `onFrame` for each complete payload (a view valid only during the
 * call unless copied). A header announcing more than `maxFrameBytes` makes
 * `push` throw ROO_ERR_FRAME_TOO_LARGE before anything of that size is
 * allocated. `end()` reports a stream that stopped inside a frame
 * (ROO_ERR_FRAME_TRUNCATED) and leaves the decoder empty.
 *
 * Fail-stop: once `push` has thrown (a frame too large, or `onFrame` threw),
 * the position in the stream is lost, so every later `push` and `end` throws
 * too rather than read payload bytes as headers; the caller closes the
 * connection. A frame split across chunks is gathered into a buffer that
 * starts at {@link FIRST_BODY_BYTES} (or the announced size, if smaller) and
 * doubles as bytes arrive, up to the announced size: a large frame arriving
 * in small chunks costs linear, not quadratic, copying, and a header that
 * announces 16 MiB and then stalls holds what arrived, not 16 MiB (a peer
 * opening many such connections would otherwise make the process reserve
 * 16 MiB each for bytes it never sends).
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  /** Header bytes of the frame in progress; meaningful while `body` is undefined. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Payload of the frame in progress so far, allocated once its header is complete. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** The announced length of the frame in progress. */
  private bodyLength = 0;
  /** Set while `onFrame` runs, to refuse a re-entrant `push`. */
  private delivering = false;
  /** The error that stopped the decoder; rethrown by every later call. */
  private failure: RooError | undefined;

  /**
   * @param maxFrameBytes largest payload accepted, an integer from 0 to 2^32-1;
   *   anything else (NaN would silently mean "no limit") throws ROO_ERR_BAD_FLAG.
   */
  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    if (!(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 0 && maxFrameBytes <= MAX_U32)) {
      throw new RooError(
        ErrorCode.BadFlag,
        `maximum frame size must be an integer from 0 to ${MAX_U32} bytes, got ${maxFrameBytes}`,
        { max: maxFrameBytes },
      );
    }
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.body === undefined ? this.headerFill : FRAME_HEADER_BYTES + this.bodyFill;
  }

  /** Bytes set aside for the frame in progress (at most twice what arrived, or 64 KiB). */
  get reservedBytes(): number {
    return this.body === undefined ? 0 : this.body.length;
  }

  /**
   * Consumes `chunk`, calling `onFrame(payload)` per complete frame.
   * Returns the number of frames delivered.
   */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): number {
    if (this.failure !== undefined) throw this.failure;
    if (this.delivering) {
      // The outer push still holds the rest of its chunk; taking this one now
      // would reorder the stream.
      throw this.fail(
        new RooError(ErrorCode.Internal, 'FrameDecoder.push called from inside its own onFrame'),
      );
    }
    let pos = 0;
    let frames = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.body === undefined && this.headerFill === 0 && end - pos >= FRAME_HEADER_BYTES) {
        // Fast path: a whole frame inside the chunk is delivered as a view, uncopied.
        const len = chunk.readUInt32BE(pos);
        this.checkLength(len);
        if (end - pos - FRAME_HEADER_BYTES >= len) {
          const start = pos + FRAME_HEADER_BYTES;
          pos = start + len;
          frames++;
          this.deliver(chunk.subarray(start, pos), onFrame);
          continue;
        }
      }
      pos = this.absorb(chunk, pos);
      const body = this.body;
      if (body !== undefined && this.bodyFill === this.bodyLength) {
        this.body = undefined;
        this.bodyFill = 0;
        frames++;
        this.deliver(body, onFrame);
      }
    }
    return frames;
  }

  /** Signals end of stream; throws ROO_ERR_FRAME_TRUNCATED if inside a frame. */
  end(): void {
    if (this.failure !== undefined) throw this.failure;
    const held = this.bufferedBytes;
    this.reset();
    if (held > 0) {
      throw new RooError(
        ErrorCode.FrameTruncated,
        `stream ended inside a frame (${held} bytes of an incomplete frame discarded)`,
        { bytes: held },
      );
    }
  }

  /** Copies bytes of `chunk` from `pos` into the frame in progress; returns the new position. */
  private absorb(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    if (this.body === undefined) {
      const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + take);
      this.headerFill += take;
      pos += take;
      if (this.headerFill < FRAME_HEADER_BYTES) return pos;
      const len = this.header.readUInt32BE(0);
      this.checkLength(len);
      this.headerFill = 0;
      this.body = Buffer.allocUnsafe(Math.min(len, FIRST_BODY_BYTES));
      this.bodyFill = 0;
      this.bodyLength = len;
    }
    const take = Math.min(this.bodyLength - this.bodyFill, end - pos);
    if (this.bodyFill + take > this.body.length) {
      // Room for what arrived, at least doubling, never past the announced length.
      const grown = Buffer.allocUnsafe(
        Math.min(this.bodyLength, Math.max(this.body.length * 2, this.bodyFill + take)),
      );
      this.body.copy(grown, 0, 0, this.bodyFill);
      this.body = grown;
    }
    chunk.copy(this.body, this.bodyFill, pos, pos + take);
    this.bodyFill += take;
    return pos + take;
  }

  private deliver(payload: Buffer, onFrame: (payload: Buffer) => void): void {
    this.delivering = true;
    try {
      onFrame(payload);
    } catch (e) {
      // The rest of the chunk is lost with the caller's stack frame.
      if (this.failure === undefined) {
        this.fail(
          new RooError(
            ErrorCode.Internal,
            'FrameDecoder used after onFrame threw: its place in the stream is lost',
          ),
        );
      }
      throw e;
    } finally {
      this.delivering = false;
    }
  }

  private checkLength(len: number): void {
    if (len > this.maxFrameBytes) {
      throw this.fail(
        new RooError(
          ErrorCode.FrameTooLarge,
          `frame of ${len} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`,
          { length: len, max: this.maxFrameBytes },
        ),
      );
    }
  }

  private fail(error: RooError): RooError {
    this.failure = error;
    this.reset();
    return error;
  }

  private reset(): void {
    this.headerFill = 0;
    this.body = undefined;
    this.bodyFill = 0;
    this.bodyLength = 0;
  }
}
