/**
 * The socket side of a TCP source: listens on the source's address and hands
 * every chunk of every connection to the source actor as a message, so that
 * decoding happens in the actor's turn. Pausing stops reading every
 * connection (TCP then pushes back on the senders).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { formatAddress, type Address } from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';

/** How long a closing listener lets a connection flush what was written to it. */
const FLUSH_WAIT_MS = 1_000;

/** What the listener tells its owner. */
export interface ListenerEvents {
  chunk(connection: number, bytes: Buffer): void;
  closed(connection: number): void;
}

/** A listening TCP source socket and its connections. */
export class TcpListener {
  private readonly server: Server;
  private readonly sockets = new Map<number, Socket>();
  private nextId = 0;
  private paused = false;
  /** The bound address (after `listen`). */
  bound: Address | undefined;

  constructor(
    private readonly address: Address,
    private readonly events: ListenerEvents,
    private readonly log: Logger,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<Address> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.address.port, this.address.host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        this.bound =
          typeof a === 'object' && a !== null
            ? { host: this.address.host, port: a.port }
            : this.address;
        this.server.on('error', (err) =>
          this.log.error(`source listener ${formatAddress(this.address)}: ${err.message}`),
        );
        resolve(this.bound);
      });
    });
  }

  /** Stops reading every connection. */
  pause(): void {
    this.paused = true;
    for (const s of this.sockets.values()) s.pause();
  }

  /** Reads again. */
  resume(): void {
    this.paused = false;
    for (const s of this.sockets.values()) s.resume();
  }

  /** Closes one connection (after a broken frame). */
  drop(connection: number): void {
    this.sockets.get(connection)?.destroy();
  }

  /**
   * Writes bytes back to one connection's sender (an acknowledging source's
   * resume and ack frames: a few bytes per checkpoint, so no backpressure).
   * An unknown or closing connection is ignored: its sender reconnects.
   */
  write(connection: number, bytes: Uint8Array): void {
    const socket = this.sockets.get(connection);
    if (socket === undefined || socket.destroyed || !socket.writable) return;
    socket.write(bytes);
  }

  /** Number of open connections. */
  get connections(): number {
    return this.sockets.size;
  }

  /**
   * Stops listening and closes every connection: at once, or with `flush`
   * after what was written to it has gone out (at most FLUSH_WAIT_MS).
   */
  close(flush = false): Promise<void> {
    for (const s of this.sockets.values()) {
      if (!flush) {
        s.destroy();
        continue;
      }
      // What was written (a last message to the sender) goes out before the FIN;
      // a peer that never reads it does not hold the close up for long.
      s.end();
      setTimeout(() => s.destroy(), FLUSH_WAIT_MS).unref();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const id = this.nextId++;
    this.sockets.set(id, socket);
    socket.setNoDelay(true);
    if (this.paused) socket.pause();
    socket.on('data', (bytes: Buffer) => this.events.chunk(id, bytes));
    socket.on('error', (err) => this.log.warn(`source connection #${id} failed: ${err.message}`));
    socket.on('close', () => {
      this.sockets.delete(id);
      this.events.closed(id);
    });
  }
}
