/**
 * The writer of a sink placed on a thread: for an exactly-once TCP sink of
 * a resilient worker, the transactional writer (txn-sink-writer.ts) over
 * its acknowledged connection; otherwise the plain writer over a TCP
 * connection, a file or stdout; none for a null sink. The connections are
 * opened through a {@link SinkOutputs} the thread's runtime is given, so
 * that a test can collect a sink's bytes in memory.
 */
import type { Scheduler, ThreadLoop } from '../../actors/index.js';
import type { Address } from '../../protocols/index.js';
import { StreamOutput, TcpOutput, type Output } from '../connectors/output.js';
import { TxnOutput, type TxnConnection } from '../connectors/txn-output.js';
import type { Logger } from '../logging/logger.js';
import type { Plan } from '../topology/plan.js';
import { SinkWriterActor, type SinkWriter } from './sink-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import { TxnSinkWriterActor } from './txn-sink-writer.js';

/** A sink's configuration in the plan. */
type SinkConfig = Plan['sinks'][number]['config'];

/** A sink's configuration that has an output (any but a null sink). */
export type OutputSinkConfig = Exclude<SinkConfig, { readonly kind: 'null-sink' }>;

/** Opens what sink writers write to. */
export interface SinkOutputs {
  /** The output of an at-least-once sink: its TCP connection, its file, or stdout. */
  plain(config: OutputSinkConfig, log: Logger): Output;
  /** The acknowledged connection of an exactly-once TCP sink, named `name` to its receiver. */
  transactional(address: Address, name: string, log: Logger): TxnConnection;
}

/** The production outputs: TCP connections that reconnect, files, stdout. */
export const openSinkOutputs: SinkOutputs = {
  plain(config, log) {
    switch (config.kind) {
      case 'tcp-sink':
        return new TcpOutput(config.address, log);
      case 'file-sink':
        return new StreamOutput({ path: config.path });
      case 'stdout-sink':
        return new StreamOutput({ stdout: true });
    }
  },
  transactional: (address, name, log) => new TxnOutput(address, name, log),
};

/** What a writer is made with on its thread. */
export interface WriterContext {
  readonly scheduler: Scheduler;
  readonly loop: ThreadLoop;
  readonly log: Logger;
  readonly checkpoints: CheckpointCollector;
  readonly workerName: string;
  /** Resilience on (`--run-with-resilience`). */
  readonly resilient: boolean;
  /** Opens the writer's connection, file or stdout. */
  readonly outputs: SinkOutputs;
}

/** True for an exactly-once TCP sink (without resilience nothing commits: output goes out as it is made). */
export function exactlyOnce(config: SinkConfig, resilient: boolean): boolean {
  return resilient && config.kind === 'tcp-sink' && config.delivery === 'exactly-once';
}

/** The writer of a sink placed on this thread, or undefined for a null sink. */
export function openWriter(
  config: SinkConfig,
  sink: number,
  c: WriterContext,
): SinkWriter | undefined {
  if (config.kind === 'tcp-sink' && exactlyOnce(config, c.resilient)) {
    const output = c.outputs.transactional(config.address, `${c.workerName}/${config.name}`, c.log);
    return new TxnSinkWriterActor(
      c.scheduler,
      c.loop,
      output,
      config.maxUnackedBytes,
      sink,
      c.checkpoints,
    );
  }
  if (config.kind === 'null-sink') return undefined;
  const output = c.outputs.plain(config, c.log);
  return new SinkWriterActor(c.scheduler, c.loop, output, sink, c.checkpoints);
}
