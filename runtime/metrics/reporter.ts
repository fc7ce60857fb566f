/**
 * `--metrics ADDR`: the executor of the reporter's state machine
 * (reporter-state.ts). It owns the one TCP connection to the metrics
 * receiver, its retry timer and nothing else: every decision (connect,
 * hello, send or drop a report, back off) is `reporterStep`'s. A report is
 * encoded before the machine is asked (its size decides whether it fits),
 * and written whole or not at all; the socket is unref'd, so the reporter
 * never keeps a worker alive. Nothing here runs on the data path: reports
 * are built on the main thread once per period (worker-collector.ts).
 */
import { Socket } from 'node:net';
import {
  encodeFrame,
  encodeMetricsMessage,
  formatAddress,
  type Address,
  type MetricsHello,
  type MetricsReport,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import { connectChannel, isOpen, OPEN_CHANNELS, type ChannelSecurity } from '../security/index.js';
import {
  INITIAL_REPORTER_STATE,
  reporterStep,
  SEND_BUFFER_BYTES,
  type ReporterEvent,
  type ReporterState,
} from './reporter-state.js';

/** Settings of a reporter. */
export interface ReporterOptions {
  readonly address: Address;
  readonly log: Logger;
  /** The hello each connection starts with. */
  readonly hello: () => MetricsHello;
  /** Unsent bytes the socket may hold before reports are dropped (default SEND_BUFFER_BYTES). */
  readonly sendBufferBytes?: number;
  /** The cluster secret and TLS, which the receiver (`roo metrics`) asks for too (default: none). */
  readonly security?: ChannelSecurity;
}

/** Sends a worker's metrics to a receiver. */
export class MetricsReporter {
  private state: ReporterState = INITIAL_REPORTER_STATE;
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The encoded report being offered (set only during `offer`). */
  private pending: ((seq: number) => Buffer) | undefined;
  /** True once a warning about the receiver was logged; reset when it connects. */
  private warned = false;
  /** Counts connection attempts: a protected connection that completes late belongs to the last. */
  private attempt = 0;

  constructor(private readonly o: ReporterOptions) {}

  /** Where reports go. */
  get address(): Address {
    return this.o.address;
  }

  /** Counters: reports sent, dropped (buffer full) and skipped (not connected). */
  get counts(): Pick<ReporterState, 'sent' | 'dropped' | 'skipped' | 'phase'> {
    const { sent, dropped, skipped, phase } = this.state;
    return { sent, dropped, skipped, phase };
  }

  /** Starts connecting. */
  start(): void {
    this.step({ kind: 'start' });
  }

  /**
   * Offers the period's report: written if connected and it fits the send
   * buffer, else dropped and counted. Never waits.
   */
  offer(report: Omit<MetricsReport, 'seq'>): void {
    let bytesOf: (seq: number) => Buffer;
    let size: number;
    try {
      // Encoded once to learn its size; the sequence number is set when it is written.
      const probe = encodeFrame(encodeMetricsMessage({ ...report, seq: 0 } as MetricsReport));
      size = probe.length;
      bytesOf = (seq) =>
        seq === 0 ? probe : encodeFrame(encodeMetricsMessage({ ...report, seq } as MetricsReport));
    } catch (err) {
      this.o.log.error(`metrics report not sent: ${(err as Error).message}`);
      return;
    }
    this.pending = bytesOf;
    try {
      this.step({ kind: 'report', buffered: this.socket?.writableLength ?? 0, bytes: size });
    } finally {
      this.pending = undefined;
    }
  }

  /** Stops: the socket is ended (what is buffered is still flushed) and no retry follows. */
  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    this.step({ kind: 'close' });
    if (socket === undefined || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 1_000);
      done.unref();
      socket.end(() => {
        clearTimeout(done);
        resolve();
      });
    });
  }

  private step(event: ReporterEvent): void {
    const r = reporterStep(this.state, event, this.o.sendBufferBytes ?? SEND_BUFFER_BYTES);
    this.state = r.state;
    for (const a of r.actions) {
      switch (a.kind) {
        case 'connect':
          this.connect();
          break;
        case 'hello':
          this.write(encodeFrame(encodeMetricsMessage(this.o.hello())));
          break;
        case 'send':
          if (this.pending !== undefined) this.write(this.pending(a.seq));
          break;
        case 'wait':
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.step({ kind: 'retry' }), a.ms);
          this.timer.unref();
          break;
        case 'destroy':
          clearTimeout(this.timer);
          this.socket?.destroy();
          this.socket = undefined;
          break;
        case 'drop':
          if (a.reason === 'buffer-full' && this.state.dropped === 1)
            this.o.log.warn(
              `the metrics receiver at ${formatAddress(this.o.address)} does not read: reports are dropped while its send buffer is full`,
            );
          break;
      }
    }
  }

  private connect(): void {
    const security = this.o.security ?? OPEN_CHANNELS;
    if (!isOpen(security)) {
      this.connectProtected(security);
      return;
    }
    const s = new Socket();
    this.socket = s;
    s.setNoDelay(true);
    s.unref();
    let failed = false;
    const fail = (why: string) => {
      if (failed || this.socket !== s) return;
      failed = true;
      if (!this.warned) {
        this.warned = true;
        this.o.log.warn(
          `metrics receiver at ${formatAddress(this.o.address)} unreachable (${why}); retrying, reports are skipped meanwhile`,
        );
      }
      this.step({ kind: 'failed' });
    };
    s.on('connect', () => {
      if (this.socket !== s) return;
      if (this.warned)
        this.o.log.info(`metrics receiver at ${formatAddress(this.o.address)} is up`);
      this.warned = false;
      this.step({ kind: 'connected' });
    });
    s.on('error', (err) => fail(err.message));
    s.on('close', () => fail('connection closed'));
    // The receiver never sends; anything it does is read and discarded.
    s.on('data', () => undefined);
    s.connect(this.o.address.port, this.o.address.host);
  }

  /**
   * With a cluster secret or TLS: the connection is the machine's once both
   * have passed (runtime/security/); until then reports are skipped, as
   * while connecting. A failed handshake is retried like a refused connection.
   */
  private connectProtected(security: ChannelSecurity): void {
    const attempt = ++this.attempt;
    const where = formatAddress(this.o.address);
    const fail = (why: string) => {
      if (!this.warned) {
        this.warned = true;
        this.o.log.warn(
          `metrics receiver at ${where} unreachable (${why}); retrying, reports are skipped meanwhile`,
        );
      }
      this.step({ kind: 'failed' });
    };
    connectChannel(this.o.address, 'metrics', security, { unref: true }).then(
      (s) => {
        // Closed or given up meanwhile: the machine no longer wants this socket.
        if (attempt !== this.attempt || this.state.phase !== 'connecting') {
          s.destroy();
          return;
        }
        this.socket = s;
        s.setNoDelay(true);
        let failed = false;
        const lost = (why: string) => {
          if (failed || this.socket !== s) return;
          failed = true;
          fail(why);
        };
        s.on('error', (err) => lost(err.message));
        s.on('close', () => lost('connection closed'));
        s.on('data', () => undefined);
        if (this.warned) this.o.log.info(`metrics receiver at ${where} is up`);
        this.warned = false;
        this.step({ kind: 'connected' });
      },
      (err: Error) => {
        if (attempt === this.attempt && this.state.phase === 'connecting') fail(err.message);
      },
    );
  }

  private write(bytes: Buffer): void {
    this.socket?.write(bytes);
  }
}
