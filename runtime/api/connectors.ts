/**
 * Source and sink configurations: what a pipeline reads and where it writes.
 * They are descriptions only; the runtime opens sockets and files when the
 * worker starts, on the scheduler thread that hosts the source or sink.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { Address, InputAddress } from './args.js';

/** Turns one framed message (TCP) into a value; throwing drops that message. */
export type Decoder<T> = (payload: Buffer) => T;

/**
 * Turns one output into the bytes a sink writes: a string (written as
 * UTF-8) or bytes, or, made with {@link encodeInto}, a function that writes
 * straight into the sink's buffer. Throwing drops that output.
 */
export type Encoder<O> = ((output: O) => string | Uint8Array) | IntoEncoder<O>;

/**
 * Where an {@link encodeInto} encoder writes one output: straight into the
 * sink's buffer, each call returning the writer so calls chain. Nothing is
 * allocated per output, where a string encoder makes a string per output
 * (often several: a template literal builds its parts, then the sink copies
 * the joined string); for word count's `word => count` lines that was about
 * 45 ns of 95 per output.
 */
export interface OutputWriter {
  /** A string, as UTF-8. */
  text(s: string): OutputWriter;
  /** A number in decimal, as `String(n)` writes it. */
  number(n: number): OutputWriter;
  /** One byte (0..255). */
  byte(b: number): OutputWriter;
  /** Bytes, copied. */
  bytes(b: Uint8Array): OutputWriter;
}

/** An encoder that writes into the sink's buffer; see {@link encodeInto}. */
export interface IntoEncoder<O> {
  readonly into: (output: O, out: OutputWriter) => void;
}

/**
 * An encoder that writes each output straight into the sink's buffer, for
 * sinks that must keep up with the fastest pipelines:
 *
 *   encoder: encodeInto((o, out) => out.text(o.word).text(' => ').number(o.count).text('\n'))
 *
 * If it throws, what it wrote for that output is discarded and the output is
 * dropped (counted and logged), as with a string encoder.
 */
export function encodeInto<O>(write: (output: O, out: OutputWriter) => void): IntoEncoder<O> {
  return { into: write };
}

/** A TCP source: listens on an address for framed messages (4-byte length prefix). */
export interface TcpSourceConfig<T> {
  readonly kind: 'tcp-source';
  readonly name: string;
  readonly address: InputAddress;
  readonly decoder: Decoder<T>;
  /** Largest frame accepted (default 16 MiB); a larger one closes that connection. */
  readonly maxFrameBytes: number | undefined;
}

/** A file source: each line of a file (without its newline) is a message. */
export interface FileSourceConfig<T> {
  readonly kind: 'file-source';
  readonly name: string;
  readonly path: string;
  readonly decoder: (line: string) => T;
}

/**
 * A generator source: `generate(i)` for i = 0, 1, ... until it returns
 * undefined or `count` values were made. With `parallel`, every scheduler
 * thread runs an instance that makes the indices congruent to its thread
 * index modulo the thread count (so the work spreads; order holds per
 * instance only).
 */
export interface GeneratorSourceConfig<T> {
  readonly kind: 'generator-source';
  readonly name: string;
  readonly generate: (index: number) => T | undefined;
  readonly count: number;
  readonly parallel: boolean;
}

/** Any source. */
export type SourceConfig<T> = TcpSourceConfig<T> | FileSourceConfig<T> | GeneratorSourceConfig<T>;

/** A TCP sink: connects to an address and writes each output's encoded bytes. */
export interface TcpSinkConfig<O> {
  readonly kind: 'tcp-sink';
  readonly name: string;
  readonly address: Address;
  readonly encoder: Encoder<O>;
  /** With resilience on: `at-least-once` (default) or `exactly-once`; see {@link SinkDelivery}. */
  readonly delivery: SinkDelivery;
  /**
   * Exactly once: bytes of committed transactions the sink keeps until its
   * receiver acknowledges them; at this bound it stops taking output, and
   * the sources stop reading (default {@link DEFAULT_SINK_MAX_UNACKED_BYTES}).
   */
  readonly maxUnackedBytes: number;
}

/** Default bound on what an exactly-once sink keeps for its receiver: 64 MiB. */
export const DEFAULT_SINK_MAX_UNACKED_BYTES = 64 * 1024 * 1024;

/**
 * What a TCP sink promises across a recovery (resilience on):
 * - `at-least-once`: output is written as it is made; after a recovery,
 *   output made after the last checkpoint is made (and written) again.
 * - `exactly-once`: each checkpoint's output is held until the checkpoint
 *   commits and then written as one transaction that the receiver (`roo
 *   receive`) applies once: no repeats, at the cost of up to one
 *   `--time-between-checkpoints` of added latency. Without resilience the
 *   output is written as it is made.
 */
export type SinkDelivery = 'at-least-once' | 'exactly-once';

/** A file sink: appends each output's encoded bytes to a file. */
export interface FileSinkConfig<O> {
  readonly kind: 'file-sink';
  readonly name: string;
  readonly path: string;
  readonly encoder: Encoder<O>;
}

/** A stdout sink: writes each output's encoded bytes to standard output. */
export interface StdoutSinkConfig<O> {
  readonly kind: 'stdout-sink';
  readonly name: string;
  readonly encoder: Encoder<O>;
}

/** A sink that only counts what reaches it (benchmarks, tests). */
export interface NullSinkConfig {
  readonly kind: 'null-sink';
  readonly name: string;
}

/** Any sink. */
export type SinkConfig<O> =
  TcpSinkConfig<O> | FileSinkConfig<O> | StdoutSinkConfig<O> | NullSinkConfig;

/** Decodes a frame as UTF-8 text. */
export const utf8Decoder: Decoder<string> = (payload) => payload.toString('utf8');

/** A TCP source listening on `address` (usually from `--in`). */
export function tcpSource<T = string>(options: {
  readonly address: InputAddress;
  readonly decoder?: Decoder<T>;
  readonly name?: string;
  readonly maxFrameBytes?: number;
}): TcpSourceConfig<T> {
  return {
    kind: 'tcp-source',
    name: options.name ?? options.address.name ?? 'tcp source',
    address: options.address,
    decoder: options.decoder ?? (utf8Decoder as unknown as Decoder<T>),
    maxFrameBytes: options.maxFrameBytes,
  };
}

/** A file source reading `path` line by line. */
export function fileSource<T = string>(options: {
  readonly path: string;
  readonly decoder?: (line: string) => T;
  readonly name?: string;
}): FileSourceConfig<T> {
  return {
    kind: 'file-source',
    name: options.name ?? `file ${options.path}`,
    path: options.path,
    decoder: options.decoder ?? ((line: string) => line as unknown as T),
  };
}

/** A generator source; see {@link GeneratorSourceConfig}. */
export function generatorSource<T>(options: {
  readonly generate: (index: number) => T | undefined;
  readonly count?: number;
  readonly parallel?: boolean;
  readonly name?: string;
}): GeneratorSourceConfig<T> {
  return {
    kind: 'generator-source',
    name: options.name ?? 'generator',
    generate: options.generate,
    count: options.count ?? Infinity,
    parallel: options.parallel ?? false,
  };
}

/**
 * A TCP sink connecting to `address` (usually `--out`). Throws RooError
 * ROO_ERR_BAD_APPLICATION for a `maxUnackedBytes` that is not a positive
 * whole number.
 */
export function tcpSink<O>(options: {
  readonly address: Address;
  readonly encoder: Encoder<O>;
  readonly name?: string;
  readonly delivery?: SinkDelivery;
  readonly maxUnackedBytes?: number;
}): TcpSinkConfig<O> {
  const name = options.name ?? 'tcp sink';
  const maxUnackedBytes = options.maxUnackedBytes ?? DEFAULT_SINK_MAX_UNACKED_BYTES;
  if (!(Number.isSafeInteger(maxUnackedBytes) && maxUnackedBytes >= 1)) {
    throw new RooError(
      ErrorCode.BadApplication,
      `sink '${name}': maxUnackedBytes must be a positive whole number of bytes, got ${String(maxUnackedBytes)}`,
    );
  }
  return {
    kind: 'tcp-sink',
    name,
    address: options.address,
    encoder: options.encoder,
    delivery: options.delivery ?? 'at-least-once',
    maxUnackedBytes,
  };
}

/** A file sink appending to `path`. */
export function fileSink<O>(options: {
  readonly path: string;
  readonly encoder: Encoder<O>;
  readonly name?: string;
}): FileSinkConfig<O> {
  return {
    kind: 'file-sink',
    name: options.name ?? `file ${options.path}`,
    path: options.path,
    encoder: options.encoder,
  };
}

/** A sink writing to standard output. */
export function stdoutSink<O>(options: {
  readonly encoder: Encoder<O>;
  readonly name?: string;
}): StdoutSinkConfig<O> {
  return { kind: 'stdout-sink', name: options.name ?? 'stdout', encoder: options.encoder };
}

/** A sink that counts and discards. */
export function nullSink(name = 'null sink'): NullSinkConfig {
  return { kind: 'null-sink', name };
}
