/**
 * Raw connections to a worker's ports for the bad-input tests: bytes written
 * by hand (all at once, or dripped a few at a time, then ended, stalled or
 * reset), an optional WebSocket handshake done by hand, WebSocket frames
 * built by hand, and a real WebSocket client for messages the `ws` library
 * frames. Each reports whether the worker closed the connection and what it
 * answered; none of them ever waits longer than its own bound.
 */
import { createConnection, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'vitest';
import { WebSocket } from 'ws';

/** How long a worker may take to close a bad connection. */
export const CLOSE_WITHIN_MS = 5_000;

/** `host:port` as the parts `net.connect` takes. */
export function split(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** A WebSocket opening handshake, as a client sends it. */
export const WS_HANDSHAKE =
  'GET / HTTP/1.1\r\nHost: roo\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** Resolves true on `socket`'s close, or false after `ms` (the timer is cleared either way). */
async function closedWithin(closed: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How the bytes of a {@link rawSession} are delivered, and how it ends. */
export interface RawPlan {
  /** Do a WebSocket handshake first and expect `101 Switching Protocols`. */
  readonly handshake?: boolean;
  /** Bytes written at once, then bytes written one write per `dripBytes` with `dripMs` between. */
  readonly bytes: Uint8Array;
  /** How many bytes of `bytes` (from the start) are written at once; the rest drip (default all). */
  readonly burst?: number;
  /** Bytes per dripped write (default 1). */
  readonly dripBytes?: number;
  /** Milliseconds between dripped writes (default 2). */
  readonly dripMs?: number;
  /**
   * After the last byte: `end` half-closes, `reset` destroys at once, `stall`
   * keeps the connection open for `stallMs` (or until the worker closes it).
   */
  readonly then: 'end' | 'reset' | 'stall';
  /** How long a stall lasts at most (default {@link CLOSE_WITHIN_MS}). */
  readonly stallMs?: number;
}

/** What a {@link rawSession} saw. */
export interface RawOutcome {
  /** The worker closed the connection (before we destroyed it). */
  readonly closed: boolean;
  /** Everything the worker sent, as latin1. */
  readonly answer: string;
  /** Bytes written before the connection closed. */
  readonly written: number;
}

/**
 * Opens a TCP connection to `address` and plays `plan`. Resolves once the
 * worker has closed the connection, or, if it has not, after the wait the
 * plan's ending implies ({@link CLOSE_WITHIN_MS} after `end`, `stallMs`
 * after a stall, at once after a reset); the socket is destroyed then.
 */
export async function rawSession(address: string, plan: RawPlan): Promise<RawOutcome> {
  const socket = createConnection(split(address));
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  // Not events.once: it rejects on 'error', and a reset connection emits one before 'close'.
  const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
  let written = 0;
  try {
    await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), closed]);
    if (socket.destroyed) return { closed: true, answer: '', written };
    if (plan.handshake === true) await handshake(socket, chunks, closed);
    const bytes = Buffer.from(plan.bytes.buffer, plan.bytes.byteOffset, plan.bytes.length);
    const burst = Math.min(plan.burst ?? bytes.length, bytes.length);
    if (burst > 0 && !socket.destroyed) socket.write(bytes.subarray(0, burst));
    written = burst;
    const step = Math.max(1, plan.dripBytes ?? 1);
    for (let at = burst; at < bytes.length && !socket.destroyed; at += step) {
      await delay(plan.dripMs ?? 2);
      if (socket.destroyed) break;
      socket.write(bytes.subarray(at, at + step));
      written = Math.min(bytes.length, at + step);
    }
    if (plan.then === 'reset') {
      socket.destroy();
      return { closed: false, answer: Buffer.concat(chunks).toString('latin1'), written };
    }
    if (plan.then === 'end' && !socket.destroyed) socket.end();
    const wait = plan.then === 'end' ? CLOSE_WITHIN_MS : (plan.stallMs ?? CLOSE_WITHIN_MS);
    const result = socket.destroyed || (await closedWithin(closed, wait));
    return { closed: result, answer: Buffer.concat(chunks).toString('latin1'), written };
  } finally {
    socket.destroy();
  }
}

/** Writes the WebSocket handshake and waits for the worker's whole answer to it. */
async function handshake(
  socket: Socket,
  chunks: Buffer[],
  closed: Promise<boolean>,
): Promise<void> {
  socket.write(WS_HANDSHAKE);
  while (!Buffer.concat(chunks).toString('latin1').includes('\r\n\r\n')) {
    await Promise.race([new Promise((resolve) => socket.once('data', resolve)), closed]);
    if (socket.destroyed) break;
  }
  expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  chunks.length = 0;
}

/**
 * Opens a TCP connection, optionally does a WebSocket handshake by hand,
 * writes `bytes` and, if `end`, half-closes. Resolves with whether the
 * worker closed the connection within {@link CLOSE_WITHIN_MS} (false if it
 * was still open, after which it is destroyed) and what it answered.
 */
export async function raw(
  address: string,
  bytes: Buffer,
  options: { handshake?: boolean; end?: boolean } = {},
): Promise<{ closed: boolean; answer: string }> {
  const { closed, answer } = await rawSession(address, {
    bytes,
    then: options.end === true ? 'end' : 'stall',
    ...(options.handshake === true ? { handshake: true } : {}),
  });
  return { closed, answer };
}

/** A WebSocket frame header (FIN, binary, masked) announcing `length` bytes, and its mask. */
export function wsHeader(length: number): Buffer {
  const header = Buffer.alloc(2 + 8 + 4);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  header.writeUInt32BE(0x01020304, 10);
  return header;
}

/**
 * One WebSocket frame as a client sends it: FIN and `opcode` in the first
 * byte (with `rsv` bits, normally 0), the length in the shortest form, a mask
 * (unless `masked` is false, which a server must refuse), and `payload`
 * masked with it.
 */
export function wsFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; rsv?: number; masked?: boolean; mask?: number } = {},
): Buffer {
  const masked = options.masked ?? true;
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  head[0] = ((options.fin ?? true) ? 0x80 : 0) | (((options.rsv ?? 0) & 0x7) << 4) | (opcode & 0xf);
  head[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? n : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(n, 2);
  else if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(n), 2);
  const body = Buffer.from(payload);
  if (masked) {
    const mask = options.mask ?? 0x5a17c3e9;
    head.writeUInt32BE(mask >>> 0, 2 + lengthBytes);
    for (let i = 0; i < n; i++) body[i]! ^= (mask >>> (8 * (3 - (i & 3)))) & 0xff;
  }
  return Buffer.concat([head, body]);
}

/**
 * Sends `message` over a real WebSocket client and resolves with the close
 * code the worker ended the connection with (or 0 if it left it open for
 * `waitMs`).
 */
export async function wsSend(
  address: string,
  message: Uint8Array | string,
  waitMs = CLOSE_WITHIN_MS,
): Promise<number> {
  const ws = new WebSocket(`ws://${address}`);
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) =>
    ws.once('close', (code: number) => resolve(code)),
  );
  const opened = new Promise<number>((resolve) => ws.once('open', () => resolve(-1)));
  try {
    const first = await Promise.race([opened, closed]);
    if (first !== -1) return first;
    ws.send(message, { binary: typeof message !== 'string' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(0), waitMs);
    });
    const code = await Promise.race([closed, timeout]);
    clearTimeout(timer);
    return code;
  } finally {
    ws.terminate();
  }
}

/** A 4-byte big-endian length header (announcing `announced`) and `body`. */
export function frame(body: Uint8Array, announced = body.length): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(announced >>> 0);
  return Buffer.concat([header, body]);
}
