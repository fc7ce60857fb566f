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

/** Returns header + payload as one buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Writes a frame header for a payload of `length` bytes at `offset` of `target`. */
export function writeFrameHeader(target: Uint8Array, offset: number, length: number): void {
  target[offset] = (length >>> 24) & 0xff;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/**
 * Incremental frame decoder for a byte stream. Feed it chunks as they arrive;
 * it calls `onFrame` for each complete payload (a view valid only during the
 * call unless copied). A header announcing more than `maxFrameBytes` makes
 * `push` throw ROO_ERR_FRAME_TOO_LARGE; the stream cannot be resynchronised
 * after that, so the caller closes the connection. `end()` reports a stream
 * that stopped inside a frame (ROO_ERR_FRAME_TRUNCATED).
 */
export class FrameDecoder {
  private pending: Buffer | undefined;
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /**
   * Consumes `chunk`, calling `onFrame(payload)` per complete frame.
   * Returns the number of frames delivered.
   */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): number {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    let frames = 0;
    const end = buf.length;
    while (end - pos >= FRAME_HEADER_BYTES) {
      const len = buf.readUInt32BE(pos);
      if (len > this.maxFrameBytes) {
        throw new RooError(
          ErrorCode.FrameTooLarge,
          `frame of ${len} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`,
          { length: len, max: this.maxFrameBytes },
        );
      }
      if (end - pos - FRAME_HEADER_BYTES < len) break;
      const start = pos + FRAME_HEADER_BYTES;
      pos = start + len;
      frames++;
      onFrame(buf.subarray(start, pos));
    }
    if (pos < end) this.pending = Buffer.from(buf.subarray(pos));
    return frames;
  }

  /** Signals end of stream; throws ROO_ERR_FRAME_TRUNCATED if inside a frame. */
  end(): void {
    const held = this.bufferedBytes;
    this.pending = undefined;
    if (held > 0) {
      throw new RooError(
        ErrorCode.FrameTruncated,
        `stream ended inside a frame (${held} bytes of an incomplete frame discarded)`,
        { bytes: held },
      );
    }
  }
}
