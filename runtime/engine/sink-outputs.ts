/**
 * The writer of a sink placed on a thread: for an exactly-once TCP sink of
 * a resilient worker, the transactional writer (txn-sink-writer.ts) over
 * its acknowledged connection; otherwise the plain writer over a TCP
 * connection, a file or stdout; none for a null sink.
 */
import type { Scheduler, ThreadLoop } from '../../actors/index.js';
import { StreamOutput, TcpOutput, type Output } from '../connectors/output.js';
import { TxnOutput } from '../connectors/txn-output.js';
import type { Logger } from '../logging/logger.js';
import type { Plan } from '../topology/plan.js';
import { SinkWriterActor, type SinkWriter } from './sink-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import { TxnSinkWriterActor } from './txn-sink-writer.js';

/** A sink's configuration in the plan. */
type SinkConfig = Plan['sinks'][number]['config'];

/** What a writer is made with on its thread. */
export interface WriterContext {
  readonly scheduler: Scheduler;
  readonly loop: ThreadLoop;
  readonly log: Logger;
  readonly checkpoints: CheckpointCollector;
  readonly workerName: string;
  /** Resilience on (`--run-with-resilience`). */
  readonly resilient: boolean;
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
    const output = new TxnOutput(config.address, `${c.workerName}/${config.name}`, c.log);
    return new TxnSinkWriterActor(
      c.scheduler,
      c.loop,
      output,
      config.maxUnackedBytes,
      sink,
      c.checkpoints,
    );
  }
  let output: Output;
  switch (config.kind) {
    case 'tcp-sink':
      output = new TcpOutput(config.address, c.log);
      break;
    case 'file-sink':
      output = new StreamOutput({ path: config.path });
      break;
    case 'stdout-sink':
      output = new StreamOutput({ stdout: true });
      break;
    case 'null-sink':
      return undefined;
  }
  return new SinkWriterActor(c.scheduler, c.loop, output, sink, c.checkpoints);
}
