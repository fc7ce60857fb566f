/**
 * The stages of `roo demo` that start the cluster: a `roo receive` per
 * worker, the initializer with word count's source, then the other workers;
 * and the worker command a restart runs again (demo-crash.ts).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LogLine } from '../logging/log-lines.js';
import { type Child, watchAddress } from './demo-children.js';
import {
  DEMO_CHECKPOINT_NS,
  type DemoContext,
  type DemoStage,
  type DemoWorker,
  WORD_COUNT_APP,
  WORD_COUNT_SOURCE,
} from './demo-context.js';
import { workerName } from './demo-count.js';

/** Where every process of the demo listens. */
export const LOCAL = '127.0.0.1';

const externalLine = new RegExp(`${LogLine.ExternalListening} (\\S+)`);
const sourceLine = new RegExp(`source '${WORD_COUNT_SOURCE}' listening on (\\S+)`);
const dataLine = /data channel listening on (\S+)/;
const controlLine = /control channel listening on ([^\s;]+)/;
const committedLine = /: checkpoint (\d+) committed$/;

/** A port free on 127.0.0.1 now, picked by the OS. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOCAL, () => {
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the `roo receive` of worker `index`: its stdout, the output of that
 * worker's sink, feeds the tally as a stream of its own. Resolves once it
 * listens, with its address in `ctx.receiverAddresses[index]`.
 */
export function startReceiver(ctx: DemoContext, index: number): Promise<Child> {
  const receiver = ctx.children.start(['receive', '--listen', `${LOCAL}:0`]);
  ctx.outputsBy[index] = 0;
  receiver.proc.stdout!.on('data', (chunk: Buffer) => {
    ctx.tally.push(chunk, index);
    ctx.outputsBy[index] = (ctx.outputsBy[index] ?? 0) + newlines(chunk);
    ctx.lastOutputMs = performance.now();
    ctx.counts.note(ctx.tally.outputs);
  });
  ctx.receivers[index] = receiver;
  const listening = watchAddress(receiver, /^Listening on (\S+)/, 'where it listens', ctx.signal);
  const started = listening.then((address) => {
    ctx.receiverAddresses[index] = address;
    return receiver;
  });
  // Marked handled, as watchFor's are: it may be awaited after another.
  started.catch(() => undefined);
  return started;
}

/** The newlines in a chunk of output: the counts it ends. */
function newlines(chunk: Buffer): number {
  let n = 0;
  for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) n++;
  return n;
}

/**
 * Starts one `roo receive` per worker; each one's stdout, the output of its
 * worker's sink, feeds the tally as a stream of its own.
 *
 * One receiver per worker, not one for all as in the README's cluster
 * commands, so that each worker's output reaches the tally as a stream of
 * its own. A shared receiver would not garble lines: `roo receive` writes
 * whole lines per connection, so one sink's bytes never land in the middle
 * of another's line; but its output would be one stream of every worker's
 * lines.
 */
export const startReceivers: DemoStage = {
  title: "starting roo receive, one per worker (captures each worker's sink output)",
  async run(ctx) {
    const listening = [];
    for (let i = 0; i < ctx.options.workers; i++) listening.push(startReceiver(ctx, i));
    for (const [i, started] of listening.entries()) {
      const receiver = await started;
      const whose = ctx.options.workers > 1 ? ` for ${workerName(i)}` : '';
      ctx.say(
        `receiver${whose} listening on ${ctx.receiverAddresses[i]} (pid ${receiver.proc.pid})`,
      );
    }
  },
};

/**
 * The command of worker `index` (after `roo`), with the flags of its role:
 * resilience on, exactly-once sinks, reporting to `roo metrics`. A restart
 * runs the same command.
 */
export function workerArgs(ctx: DemoContext, index: number, role: readonly string[]): string[] {
  return [
    ...['worker', '--application-module', join(ctx.root, WORD_COUNT_APP)],
    ...['--out', ctx.receiverAddresses[index]!, '--ponythreads', `${ctx.options.threads}`],
    ...['--name', workerName(index), '--external', `${LOCAL}:0`],
    ...['--run-with-resilience', '--resilience-dir', ctx.resilienceDir],
    ...['--time-between-checkpoints', `${DEMO_CHECKPOINT_NS}`],
    ...(ctx.metricsAddress === undefined ? [] : ['--metrics', ctx.metricsAddress]),
    ...role,
    // Word count's application argument: the exactly-once sink.
    ...['--', '--exactly-once'],
  ];
}

/** Starts a worker's process, watching for its external channel and the checkpoints it commits. */
export function spawnWorker(ctx: DemoContext, name: string, args: readonly string[]): DemoWorker {
  const child = ctx.children.start([...args], name);
  const external = watchAddress(child, externalLine, 'its external channel', ctx.signal);
  child.onLine((line) => {
    const m = committedLine.exec(line);
    if (m !== null) ctx.lastCommitted = Number(m[1]);
  });
  return { name, args, child, external };
}

/** Starts watching for the address of a worker's data channel (a cluster of two or more). */
export function watchData(ctx: DemoContext, child: Child): Promise<string> {
  return watchAddress(child, dataLine, 'its data channel', ctx.signal);
}

/**
 * Starts the initializer: it runs word count's source (`--in`) and, in a
 * cluster, waits on its control channel for the other workers.
 */
export const startInitializer: DemoStage = {
  title: 'starting the initializer (roo worker --cluster-initializer, with the source)',
  async run(ctx) {
    const { workers, threads } = ctx.options;
    const name = workerName(0);
    const args = workerArgs(ctx, 0, [
      ...['--in', `${LOCAL}:${await freePort()}`],
      ...['--cluster-initializer', '--worker-count', `${workers}`],
      ...(workers > 1 ? ['--control', `${LOCAL}:0`, '--data', `${LOCAL}:0`] : []),
    ]);
    const worker = spawnWorker(ctx, name, args);
    const { child } = worker;
    // Watched from the start: these lines come once every worker has joined.
    ctx.sourceReady = watchAddress(child, sourceLine, 'that its source listens', ctx.signal);
    ctx.workers.push(worker);
    if (workers === 1) {
      ctx.sourceAddress = await ctx.sourceReady;
      worker.externalAddress = await worker.external;
      ctx.say(
        `${name} ready (a cluster of one): ${threads} scheduler threads, source listening on ` +
          `${ctx.sourceAddress}, external channel on ${worker.externalAddress} (pid ${child.proc.pid})`,
      );
      return;
    }
    const data = watchData(ctx, child);
    const control = await watchAddress(child, controlLine, 'its control channel', ctx.signal);
    worker.dataAddress = await data;
    ctx.controlAddress = control;
    ctx.say(
      `${name}: control channel on ${control}, data channel on ${worker.dataAddress}; ` +
        `waiting for ${workers} workers (pid ${child.proc.pid})`,
    );
  },
};

/**
 * Starts the other workers: each joins through the initializer's control
 * channel, gets its share of the key groups, and opens data channels to
 * every other worker; none has `--in`, so the source runs on the
 * initializer only. Resolves when the whole cluster is ready.
 */
export const startMembers: DemoStage = {
  title: 'starting the other workers (roo worker --control <initializer> --my-data ...)',
  async run(ctx) {
    const members: { worker: DemoWorker; data: Promise<string> }[] = [];
    for (let i = 1; i < ctx.options.workers; i++) {
      const args = workerArgs(ctx, i, [
        // A fixed data address: the restart after the crash must come back at the
        // address the cluster has on record (its layout, restored by the rollback).
        ...['--control', ctx.controlAddress!, '--my-data', `${LOCAL}:${await freePort()}`],
      ]);
      const worker = spawnWorker(ctx, workerName(i), args);
      ctx.workers.push(worker);
      members.push({ worker, data: watchData(ctx, worker.child) });
    }
    for (const { worker, data } of members) {
      worker.dataAddress = await data;
      ctx.say(
        `${worker.name}: data channel on ${worker.dataAddress} (pid ${worker.child.proc.pid})`,
      );
    }
    for (const w of ctx.workers) w.externalAddress = await w.external;
    ctx.sourceAddress = await ctx.sourceReady!;
    ctx.say(
      `cluster of ${ctx.workers.length} workers ready (${ctx.options.threads} scheduler ` +
        `thread${ctx.options.threads === 1 ? '' : 's'} each): source listening on ` +
        `${ctx.sourceAddress} (on ${ctx.workers[0]!.name}); external channels: ` +
        ctx.workers.map((w) => `${w.name} ${w.externalAddress}`).join(', '),
    );
  },
};
