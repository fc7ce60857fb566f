/**
 * The stages of `roo demo`: a run is a list of stages over one context, each
 * doing what a user would do in a shell, so later demos (a crash, a
 * recovery, a worker joining) add stages instead of rewriting the flow.
 *
 *   receivers    roo receive --listen 127.0.0.1:0       (one per worker)
 *   initializer  roo worker ... --in 127.0.0.1:0 --cluster-initializer --worker-count N
 *                  --control 127.0.0.1:0 --data 127.0.0.1:0 --external 127.0.0.1:0
 *   members      roo worker ... --control <initializer> --my-data 127.0.0.1:0
 *                  --external 127.0.0.1:0 --name worker2   (no --in)
 *   sender       roo send --host <source> --file <text> --repeat --messages M
 *   counting     progress until every expected count has arrived
 *   state        roo status <external> --json, for every worker
 *   shutdown     roo shutdown <initializer's external>; every worker exits 0
 *
 * Every address is picked by the OS (port 0) and read back from the line the
 * child logs, so a demo never collides with anything else on the machine.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogLine } from '../logging/log-lines.js';
import { parseWorkerStatus } from '../cluster/status-check.js';
import {
  type Child,
  type Children,
  DemoFailure,
  runTool,
  START_TIMEOUT_MS,
  watchFor,
} from './demo-children.js';
import {
  type ClusterShares,
  type ExpectedCounts,
  num,
  sumShares,
  type WordTally,
  workerName,
  workerShare,
} from './demo-count.js';

/** The application the demo runs, relative to the package root. */
export const WORD_COUNT_APP = 'examples/word_count/app.ts';
/** Name of word count's TCP source, as the worker logs it. */
export const WORD_COUNT_SOURCE = 'Split and Count';

/** With no new count for this long, the run is declared stuck and checked as it is. */
const STALL_TIMEOUT_MS = 20_000;
/** After the last expected count, how long to watch for extra (duplicate) counts. */
const SETTLE_MS = 500;
const PROGRESS_INTERVAL_MS = 1_000;
const LOCAL = '127.0.0.1';

/** What a demo run does. */
export interface DemoOptions {
  /** Lines to send (the text repeated). */
  readonly messages: number;
  /** Workers in the cluster (1: the initializer alone). */
  readonly workers: number;
  /** Scheduler threads of each worker (`--ponythreads`). */
  readonly threads: number;
  /** The text to count (default: the bundled text). */
  readonly file: string | undefined;
  /** Pass the children's logs through to stderr. */
  readonly verbose: boolean;
}

/** Progress: one line rewritten in place on a terminal, plain lines otherwise. */
export class ProgressLine {
  private open = false;

  show(text: string): void {
    if (process.stdout.isTTY !== true) {
      process.stdout.write(`${text}\n`);
      return;
    }
    // A line wider than the terminal would wrap, and \r would not reach its start.
    const width = Math.max((process.stdout.columns || 80) - 1, 20);
    process.stdout.write(`\r\x1b[K${text.slice(0, width)}`);
    this.open = true;
  }

  /** Ends a rewritten line before other output. */
  end(): void {
    if (this.open) process.stdout.write('\n');
    this.open = false;
  }
}

/** A worker of the demo's cluster. */
export interface DemoWorker {
  readonly name: string;
  readonly child: Child;
  /** Resolves with its external channel's address once it is ready. */
  readonly external: Promise<string>;
  /** Its external channel's address, once known. */
  externalAddress?: string;
  /** Its data channel's address, once known. */
  dataAddress?: string;
}

/** Everything the stages of a run share. */
export interface DemoContext {
  readonly options: DemoOptions;
  /** The package root (holds bin/roo, data/, examples/). */
  readonly root: string;
  /** The text file sent. */
  readonly textPath: string;
  /** A fresh --resilience-dir for this run's workers (removed at the end). */
  readonly resilienceDir: string;
  /** What word count must report. */
  readonly expected: ExpectedCounts;
  /** Word count's output as it arrives. */
  readonly tally: WordTally;
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** Every child process of the run. */
  readonly children: Children;
  readonly progress: ProgressLine;
  /** Resolves when the last expected count has arrived; `markCounted` resolves it. */
  readonly counted: Promise<void>;
  readonly markCounted: () => void;
  /** Prints a line of the run's narrative. */
  say(line: string): void;
  /** One receiver per worker (worker i's sink writes to receiver i), and their addresses. */
  readonly receivers: Child[];
  readonly receiverAddresses: string[];
  /** The workers, the initializer first. */
  readonly workers: DemoWorker[];
  /** The initializer's control address, once it listens (a cluster of two or more). */
  controlAddress?: string;
  /** Where word count's source listens (on the initializer). */
  sourceAddress?: string;
  /** Resolves with the source's address once the cluster is ready. */
  sourceReady?: Promise<string>;
  sender?: Child;
  /** performance.now() when the sender started, and when the last count arrived. */
  sendStartedMs?: number;
  lastOutputMs?: number;
  /** Lines the sender reports sent. */
  linesSent: number;
  /** What each worker reported about itself after counting. */
  shares?: ClusterShares;
  /** How each worker exited after `roo shutdown`. */
  shutdown?: { readonly exits: string; readonly leftovers: readonly string[] };
}

/** One step of a demo: start a process, send, wait, ask, stop... */
export interface DemoStage {
  /** What the step does, as shown to the user. */
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}

const externalLine = new RegExp(`${LogLine.ExternalListening} (\\S+)`);
const sourceLine = new RegExp(`source '${WORD_COUNT_SOURCE}' listening on (\\S+)`);
const dataLine = /data channel listening on (\S+)/;
const controlLine = /control channel listening on ([^\s;]+)/;

/**
 * Starts one `roo receive` per worker; each one's stdout, the output of its
 * worker's sink, feeds the tally as a stream of its own.
 *
 * One receiver per worker, not one for all as in the README's cluster
 * commands: `roo receive` (without --framed) copies each connection's bytes
 * as they come, so when two sinks write to one receiver a chunk of one can
 * land in the middle of a line of the other, and the check would fail on
 * spliced lines that no worker wrote.
 */
export const startReceivers: DemoStage = {
  title: "starting roo receive, one per worker (captures each worker's sink output)",
  async run(ctx) {
    const receivers = [];
    for (let i = 0; i < ctx.options.workers; i++) {
      const receiver = ctx.children.start(['receive', '--listen', `${LOCAL}:0`]);
      receiver.proc.stdout!.on('data', (chunk: Buffer) => {
        ctx.tally.push(chunk, i);
        ctx.lastOutputMs = performance.now();
        if (ctx.tally.outputs >= ctx.expected.totalWords) ctx.markCounted();
      });
      const listening = watchFor(receiver, /^Listening on (\S+)/, 'where it listens', ctx.signal);
      ctx.receivers.push(receiver);
      receivers.push({ receiver, listening });
    }
    for (const [i, { receiver, listening }] of receivers.entries()) {
      const [, address] = await listening;
      ctx.receiverAddresses.push(address as string);
      const whose = ctx.options.workers > 1 ? ` for ${workerName(i)}` : '';
      ctx.say(`receiver${whose} listening on ${address} (pid ${receiver.proc.pid})`);
    }
  },
};

/** Marks `p` handled (it may be awaited later, or never, if an earlier stage fails); returns it. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** The flags every worker of the demo shares. */
function commonFlags(ctx: DemoContext, index: number): string[] {
  const name = workerName(index);
  return [
    ...['worker', '--application-module', join(ctx.root, WORD_COUNT_APP)],
    ...['--out', ctx.receiverAddresses[index]!, '--ponythreads', `${ctx.options.threads}`],
    ...['--name', name, '--external', `${LOCAL}:0`, '--resilience-dir', ctx.resilienceDir],
  ];
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
    const child = ctx.children.start(
      [
        ...commonFlags(ctx, 0),
        ...['--in', `${LOCAL}:0`, '--cluster-initializer', '--worker-count', `${workers}`],
        ...(workers > 1 ? ['--control', `${LOCAL}:0`, '--data', `${LOCAL}:0`] : []),
      ],
      name,
    );
    // Watched from the start: these lines come once every worker has joined.
    const source = watchFor(child, sourceLine, 'that its source listens', ctx.signal);
    const external = watchFor(child, externalLine, 'its external channel', ctx.signal);
    ctx.sourceReady = handled(source.then((m) => m[1] as string));
    const worker: DemoWorker = {
      name,
      child,
      external: handled(external.then((m) => m[1] as string)),
    };
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
    const data = watchFor(child, dataLine, 'its data channel', ctx.signal);
    const [, control] = await watchFor(child, controlLine, 'its control channel', ctx.signal);
    worker.dataAddress = (await data)[1];
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
    const members: { worker: DemoWorker; data: Promise<RegExpExecArray> }[] = [];
    for (let i = 1; i < ctx.options.workers; i++) {
      const name = workerName(i);
      const child = ctx.children.start(
        [...commonFlags(ctx, i), ...['--control', ctx.controlAddress!, '--my-data', `${LOCAL}:0`]],
        name,
      );
      const data = watchFor(child, dataLine, 'its data channel', ctx.signal);
      const external = watchFor(child, externalLine, 'its external channel', ctx.signal);
      const worker: DemoWorker = {
        name,
        child,
        external: handled(external.then((m) => m[1] as string)),
      };
      ctx.workers.push(worker);
      members.push({ worker, data });
    }
    for (const { worker, data } of members) {
      worker.dataAddress = (await data)[1];
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

/** Starts `roo send` with the text repeated to `--messages` lines. */
export const startSender: DemoStage = {
  title: 'starting roo send (the text, repeated)',
  async run(ctx) {
    const { messages } = ctx.options;
    const { linesPerPass, totalWords } = ctx.expected;
    ctx.sendStartedMs = performance.now();
    const sender = (ctx.sender = ctx.children.start([
      ...['send', '--host', ctx.sourceAddress!, '--file', ctx.textPath],
      ...['--repeat', '--messages', `${messages}`],
    ]));
    // 'sent N messages ...': progress on stderr every 2 s, the final line on stdout.
    const sent = (text: string): void => {
      const m = /sent (\d+) messages/.exec(text);
      if (m !== null) ctx.linesSent = Number(m[1]);
    };
    sender.onLine(sent);
    sender.proc.stdout!.setEncoding('utf8').on('data', sent);
    const rest = messages % linesPerPass;
    ctx.say(
      `sending ${num(messages)} lines (the text ${num(Math.floor(messages / linesPerPass))} times` +
        `${rest > 0 ? ` and its first ${num(rest)} lines` : ''}): ${num(totalWords)} words (pid ${sender.proc.pid})`,
    );
  },
};

/**
 * Shows progress until every expected count has arrived, then watches a
 * moment longer for extra ones. Fails if a child dies or the sender fails;
 * stops waiting if no count arrives for STALL_TIMEOUT_MS.
 */
export const awaitCounts: DemoStage = {
  title: 'counting',
  async run(ctx) {
    const total = ctx.expected.totalWords;
    const linesPerWord = ctx.options.messages / total;
    const startedMs = ctx.sendStartedMs ?? performance.now();
    let last = { ms: performance.now(), outputs: ctx.tally.outputs, changedMs: performance.now() };
    for (;;) {
      const tick = new AbortController();
      const done = await Promise.race([
        ctx.counted.then(() => true),
        sleep(PROGRESS_INTERVAL_MS, false, { signal: AbortSignal.any([ctx.signal, tick.signal]) }),
      ]).finally(() => tick.abort());
      const now = performance.now();
      const { outputs } = ctx.tally;
      const rate = ((outputs - last.outputs) * 1000) / Math.max(now - last.ms, 1);
      last = { ms: now, outputs, changedMs: outputs !== last.outputs ? now : last.changedMs };
      ctx.progress.show(
        `${((now - startedMs) / 1000).toFixed(0).padStart(4)} s  words ${num(outputs).padStart(11)} ` +
          `of ${num(total)} (${String(Math.floor((outputs * 100) / total)).padStart(2)}%)  ` +
          `${num(rate).padStart(9)} words/s  ${num(rate * linesPerWord).padStart(7)} lines/s`,
      );
      if (done) {
        // Everything expected is in; anything more would be a duplicate.
        await sleep(SETTLE_MS, undefined, { signal: ctx.signal });
        return;
      }
      const failed = [...ctx.receivers, ...ctx.workers.map((w) => w.child), ctx.sender].find(
        (c) => c?.exit !== undefined && (c !== ctx.sender || c.exit.code !== 0),
      );
      if (failed !== undefined) throw new DemoFailure(failed.describeExit());
      if (now - last.changedMs > STALL_TIMEOUT_MS) {
        ctx.progress.end();
        ctx.say(`no new count for ${STALL_TIMEOUT_MS / 1000} s; checking what arrived`);
        return;
      }
    }
  },
};

/**
 * Asks every worker what it holds (`roo status ADDR --json`, the tool a
 * user would run): the lines its source took in, the messages it exchanged
 * with the other workers, the counts its sink wrote, and its state entities.
 */
export const inspectState: DemoStage = {
  title: 'asking every worker what it holds (roo status <external> --json)',
  async run(ctx) {
    const shares = [];
    for (const w of ctx.workers) {
      const args = ['status', w.externalAddress!, '--json'];
      const run = await runTool(ctx.children, args, ctx.signal);
      if (run.exit.code !== 0) {
        throw new DemoFailure(`roo ${args.join(' ')} exited with code ${run.exit.code}`);
      }
      let status;
      try {
        status = parseWorkerStatus(JSON.parse(run.stdout));
      } catch (err) {
        throw new DemoFailure(`roo ${args.join(' ')} printed no status: ${(err as Error).message}`);
      }
      shares.push(workerShare(status));
    }
    const all = (ctx.shares = sumShares(shares));
    const cluster = ctx.workers.length > 1;
    const width = Math.max(...shares.map((s) => s.worker.length), 'worker'.length) + 2;
    const cell = (s: string, n = 13) => s.padStart(n);
    const header = [
      '  ' + 'worker'.padEnd(width),
      cell('lines in'),
      ...(cluster ? [cell('to others'), cell('from others')] : []),
      cell('counts out'),
      cell('words held', 18),
    ].join('');
    ctx.say(header);
    for (const s of shares) {
      const part = all.entities > 0 ? ` (${Math.round((s.entities * 100) / all.entities)}%)` : '';
      ctx.say(
        [
          '  ' + s.worker.padEnd(width),
          cell(num(s.linesIn)),
          ...(cluster ? [cell(num(s.toWorkers)), cell(num(s.fromWorkers))] : []),
          cell(num(s.wordsOut)),
          cell(`${num(s.entities)}${part}`, 18),
        ].join(''),
      );
    }
    if (cluster) {
      ctx.say(
        [
          '  ' + 'all'.padEnd(width),
          cell(num(all.linesIn)),
          cell(''),
          cell(''),
          cell(num(all.wordsOut)),
          cell(num(all.entities), 18),
        ].join(''),
      );
      ctx.say('  lines in: read by its source; to/from others: messages over data channels;');
      ctx.say('  counts out: written by its own sink; words held: its state entities');
    }
  },
};

/** Where a stopped worker has left resilience files (a clean shutdown leaves none). */
function leftoverFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cluster.json'));
  } catch {
    return [];
  }
}

/**
 * Stops the cluster with `roo shutdown` on the initializer's external
 * channel (Wallaroo's cluster_shutdown), then checks that every worker
 * exited 0 and removed its resilience files.
 */
export const shutdownCluster: DemoStage = {
  title: 'stopping the cluster (roo shutdown <initializer external>)',
  async run(ctx) {
    const address = ctx.workers[0]!.externalAddress!;
    const run = await runTool(ctx.children, ['shutdown', address], ctx.signal);
    if (run.exit.code !== 0) {
      throw new DemoFailure(`roo shutdown ${address} exited with code ${run.exit.code}`);
    }
    ctx.say(run.stdout.trim());
    for (const w of ctx.workers) await w.child.exitsWithin(START_TIMEOUT_MS);
    const exits = ctx.workers.map((w) => `${w.name} ${w.child.describeHow()}`).join(', ');
    const failed = ctx.workers.filter((w) => w.child.exit?.code !== 0);
    if (failed.length > 0) {
      throw new DemoFailure(
        `after roo shutdown, ${exits}\n${failed.map((w) => w.child.describeExit()).join('\n')}`,
      );
    }
    const leftovers = leftoverFiles(ctx.resilienceDir);
    ctx.shutdown = { exits, leftovers };
    if (leftovers.length > 0) {
      throw new DemoFailure(
        `after roo shutdown, resilience files are left in ${ctx.resilienceDir}: ${leftovers.join(', ')}`,
      );
    }
    ctx.say(`${exits}` + (ctx.workers.length > 1 ? '; their resilience files are removed' : ''));
  },
};

/** The stages of the word count demo on a cluster of `workers` workers, in order. */
export function wordCountStages(workers: number): DemoStage[] {
  return [
    startReceivers,
    startInitializer,
    ...(workers > 1 ? [startMembers] : []),
    startSender,
    awaitCounts,
    inspectState,
    shutdownCluster,
  ];
}
