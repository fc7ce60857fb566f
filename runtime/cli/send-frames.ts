/**
 * The bytes `roo send` puts on the wire: the file read pass after pass, and
 * its messages encoded as length-prefixed frames straight into 64 KB buffers,
 * so that a batch goes out in as few socket writes as those buffers allow (a
 * write per message costs about a third of the throughput, PERF-LIMITS.md
 * section 5). Writing the buffers is send-connection.ts's part.
 */
import { readFile, open } from 'node:fs/promises';
import {
  ErrorCode,
  FRAME_HEADER_BYTES,
  RooError,
  writeFrameHeader,
} from '../../protocols/index.js';

/** Size of the buffers frames are encoded into (one socket write each, at most). */
export const WRITE_BUFFER_BYTES = 64 * 1024;
/** Byte that ends a line. */
export const NEWLINE = 0x0a;
/** Byte dropped before a line's NEWLINE (`\r\n` line endings). */
export const CARRIAGE_RETURN = 0x0d;

/** Files up to this size are read once and kept for `--repeat` passes. */
const CACHED_FILE_BYTES = 16 * 1024 * 1024;
/** Read size for larger files, streamed pass after pass. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Up to this many payload bytes are copied by a loop rather than Buffer#copy. */
const SMALL_COPY_BYTES = 128;

/** The file's bytes, pass after pass. Small files are read once and kept. */
export class FileChunks {
  private cached: Buffer | undefined;

  constructor(
    private readonly path: string,
    private readonly size: number,
  ) {}

  /** One pass over the file, chunk by chunk. */
  async *pass(): AsyncGenerator<Buffer> {
    if (this.size <= CACHED_FILE_BYTES) {
      this.cached ??= await readFile(this.path);
      yield this.cached;
      return;
    }
    const handle = await open(this.path, 'r');
    try {
      for (;;) {
        // A fresh buffer per read: frames may still reference the previous one.
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) return;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}

/**
 * Encodes frames into 64 KB buffers. A buffer's taken part is never reused
 * (the socket may still hold it), so a new buffer starts when the current one
 * has no room for the next frame.
 */
export class FrameEncoder {
  /** Frames encoded. */
  messages = 0;
  /** Bytes encoded, frame headers included. */
  bytes = 0;
  /** Bytes of message payload, without frame headers. */
  payloadBytes = 0;
  private buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  /** Start of the encoded frames not yet taken. */
  private start = 0;
  private pos = 0;
  /** Filled buffers, waiting to be taken. */
  private readonly full: Buffer[] = [];

  /** True when filled buffers wait to be taken. */
  get hasFull(): boolean {
    return this.full.length > 0;
  }

  /** Encodes `source[from, to)` as one frame. */
  add(source: Buffer, from: number, to: number): void {
    const length = to - from;
    const need = FRAME_HEADER_BYTES + length;
    if (this.buffer.length - this.pos < need) {
      if (this.pos > this.start) this.full.push(this.buffer.subarray(this.start, this.pos));
      this.buffer = Buffer.allocUnsafe(Math.max(WRITE_BUFFER_BYTES, need));
      this.start = 0;
      this.pos = 0;
    }
    writeFrameHeader(this.buffer, this.pos, length);
    const at = this.pos + FRAME_HEADER_BYTES;
    if (length <= SMALL_COPY_BYTES) {
      // Buffer#copy crosses into C++: for short lines a loop is several times faster.
      const target = this.buffer;
      for (let i = 0; i < length; i++) target[at + i] = source[from + i]!;
    } else {
      source.copy(this.buffer, at, from, to);
    }
    this.pos += need;
    this.messages++;
    this.bytes += need;
    this.payloadBytes += length;
  }

  /** Takes every frame encoded since the last take, as buffers to write in order. */
  take(): Buffer[] {
    const parts = this.full.splice(0);
    if (this.pos > this.start) {
      parts.push(this.buffer.subarray(this.start, this.pos));
      this.start = this.pos;
    }
    return parts;
  }
}

/** The error for a line longer than the largest frame. */
export function lineTooLong(length: number, max: number): RooError {
  return new RooError(
    ErrorCode.FrameTooLarge,
    `a line of ${length} bytes exceeds the largest frame of ${max} bytes`,
    { length, max },
  );
}
