/**
 * The stages of `roo demo`: a run is a list of stages over one context, each
 * doing what a user would do in a shell, as in Wallaroo's resilience guide
 * (start, send, kill a worker, restart it, send more):
 *
 *   receivers    roo receive --listen 127.0.0.1:0       (one per worker)
 *   initializer  roo worker ... --in 127.0.0.1:<free port> --cluster-initializer --worker-count N
 *                  --control 127.0.0.1:0 --data 127.0.0.1:0 --external 127.0.0.1:0
 *   members      roo worker ... --control <initializer> --my-data 127.0.0.1:0
 *                  --external 127.0.0.1:0 --name worker2   (no --in)
 *                every worker with --run-with-resilience --resilience-dir <temp>
 *                --time-between-checkpoints 500000000 -- --exactly-once
 *   sender       roo send --host <source> --file <text> --repeat --messages M/2 --stream-id roo-demo
 *   counting     progress until the first checkpoint's counts are out
 *   crash        kill -9 worker2 (the initializer with --workers 1)
 *   restart      the same command again; the recovery log lines as they come
 *   send more    once the first send is acknowledged: roo send ... --messages M
 *                --stream-id roo-demo, which resumes where the stream stopped
 *   counting     progress until every expected count has arrived
 *   state        roo status <external> --json, for every worker
 *   shutdown     roo shutdown <initializer's external>; every worker exits 0
 *
 * Every address but the source's is picked by the OS (port 0) and read back
 * from the line the child logs, so a demo never collides with anything else
 * on the machine; the source's port is a free one picked up front, because a
 * recovery reopens the source at the address its command gives.
 */
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
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
/**
 * `--time-between-checkpoints` of the demo's workers, in nanoseconds (half a
 * second): the exactly-once sinks release each checkpoint's counts when it
 * commits, so counts arrive about twice a second.
 */
export const DEMO_CHECKPOINT_NS = 500_000_000;
/** The `--stream-id` of both `roo send`s: the second resumes the stream where the first stopped. */
export const DEMO_STREAM_ID = 'roo-demo';
/**
 * The lines the first `roo send` sends (the first half, rounded up); the
 * second sends the rest after the recovery.
 */
export function firstSendLines(messages: number): number {
  return Math.ceil(messages / 2);
}
/**
 * The recovery log lines of Wallaroo's resilience guide, in the order the
 * restarted worker logs them.
 */
export const RECOVERY_LINES: readonly string[] = [
  LogLine.RecoveringFromFiles,
  LogLine.AttemptingToRecover,
  LogLine.RecoveryComplete,
  LogLine.ResumingProcessing,
  LogLine.InitPhaseIII,
];

/**
 * With no new count for this long, the run is declared stuck. Long, because
 * the exactly-once sinks release counts only when a checkpoint commits, and
 * a checkpoint's barriers queue behind everything the source has already
 * taken in: on a busy machine one can take tens of seconds.
 */
const STALL_TIMEOUT_MS = 60_000;
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

/**
 * Waiters for the number of counts received: each resolves once the tally
 * has reached its number. Bounded by the stages that wait (a handful).
 */
export class CountWaiters {
  private waiting: { n: number; resolve: () => void }[] = [];

  /** Resolves once `outputs()` reaches `n`. */
  reached(n: number, outputs: number): Promise<void> {
    if (outputs >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }

  /** The tally is now `outputs`: settles every waiter it reaches. */
  note(outputs: number): void {
    if (this.waiting.length === 0) return;
    const still = [];
    for (const w of this.waiting) {
      if (outputs >= w.n) w.resolve();
      else still.push(w);
    }
    this.waiting = still;
  }
}

/** A worker of the demo's cluster. */
export interface DemoWorker {
  readonly name: string;
  /** Its command (after `roo`): a restart runs exactly this again. */
  readonly args: readonly string[];
  /** Its process now (a restart replaces it). */
  child: Child;
  /** Resolves with its external channel's address once it is ready. */
  external: Promise<string>;
  /** Its external channel's address, once known. */
  externalAddress?: string;
  /** Its data channel's address, once known. */
  dataAddress?: string;
}

/** What the crash and the recovery looked like, for the report. */
export interface DemoCrash {
  /** The worker killed. */
  readonly victim: string;
  /** Counts received when it was killed. */
  readonly atWords: number;
  /** The checkpoint the cluster rolled back to (0: none had committed). */
  recoveredFrom?: number;
  /** From the restart to the cluster ready again, ms. */
  recoveryMs?: number;
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
  /** Lines and words of the first `roo send` (the rest goes after the recovery). */
  readonly firstSend: { readonly lines: number; readonly words: number };
  /** Word count's output as it arrives. */
  readonly tally: WordTally;
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** Every child process of the run. */
  readonly children: Children;
  readonly progress: ProgressLine;
  /** Waiters for the tally to reach a number of counts. */
  readonly counts: CountWaiters;
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
  /** The `roo send`s, in the order started. */
  readonly senders: Child[];
  /** Lines each sender reports sent, by its index in `senders`. */
  readonly sentBy: number[];
  /** Whether each sender has said that every line it sent is acknowledged. */
  readonly sendersAcked: boolean[];
  /** performance.now() when the first sender started, and when the last count arrived. */
  sendStartedMs?: number;
  lastOutputMs?: number;
  /** Lines the senders report sent, in all. */
  linesSent: number;
  /** The newest checkpoint the initializer logged as committed. */
  lastCommitted?: number;
  /** The crash and the recovery, once they happened. */
  crash?: DemoCrash;
  /** Stops the echoes of other children's lines started for the crash (at the end of the recovery). */
  readonly echoes: (() => void)[];
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
const committedLine = /: checkpoint (\d+) committed$/;
/** A worker's log line: `[time] LEVEL: worker/thread: message`. */
const logLine = /^\[[^\]]*\] [A-Z]+: \S+: (.*)$/;

/** The message of a worker's log line (the whole line if it is not one). */
function messageOf(line: string): string {
  return logLine.exec(line)?.[1] ?? line;
}

/**
 * Prints, as they come, the lines of `child` whose message matches
 * `pattern`, as `  [who] message`; returns the function that stops it.
 */
function echo(ctx: DemoContext, child: Child, who: string, pattern: RegExp): () => void {
  return child.onLine((line) => {
    const message = messageOf(line).replace(/^roo send: /, '');
    if (pattern.test(message)) ctx.say(`  [${who}] ${message}`);
  });
}

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
        ctx.counts.note(ctx.tally.outputs);
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

/**
 * The command of worker `index` (after `roo`), with the flags of its role:
 * resilience on, exactly-once sinks. A restart runs the same command.
 */
function workerArgs(ctx: DemoContext, index: number, role: readonly string[]): string[] {
  return [
    ...['worker', '--application-module', join(ctx.root, WORD_COUNT_APP)],
    ...['--out', ctx.receiverAddresses[index]!, '--ponythreads', `${ctx.options.threads}`],
    ...['--name', workerName(index), '--external', `${LOCAL}:0`],
    ...['--run-with-resilience', '--resilience-dir', ctx.resilienceDir],
    ...['--time-between-checkpoints', `${DEMO_CHECKPOINT_NS}`],
    ...role,
    // Word count's application argument: the exactly-once sink.
    ...['--', '--exactly-once'],
  ];
}

/** Starts a worker's process, watching for its external channel and the checkpoints it commits. */
function spawnWorker(ctx: DemoContext, name: string, args: readonly string[]): DemoWorker {
  const child = ctx.children.start([...args], name);
  const external = watchFor(child, externalLine, 'its external channel', ctx.signal);
  child.onLine((line) => {
    const m = committedLine.exec(line);
    if (m !== null) ctx.lastCommitted = Number(m[1]);
  });
  return { name, args, child, external: handled(external.then((m) => m[1] as string)) };
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
    const source = watchFor(child, sourceLine, 'that its source listens', ctx.signal);
    ctx.sourceReady = handled(source.then((m) => m[1] as string));
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
      const args = workerArgs(ctx, i, [
        ...['--control', ctx.controlAddress!, '--my-data', `${LOCAL}:0`],
      ]);
      const worker = spawnWorker(ctx, workerName(i), args);
      const data = watchFor(worker.child, dataLine, 'its data channel', ctx.signal);
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

/** What a `roo send` says that the demo shows: a lost connection, the resend, the resume, the last ack. */
const senderNews =
  /^(connection to .* lost|reconnected to|every message acknowledged|.* already has the first)/;

/**
 * Starts a `roo send` of the text repeated to `messages` lines, as stream
 * DEMO_STREAM_ID (acknowledging, the default): its lines sent are added up
 * in `ctx.linesSent`.
 */
function startSend(ctx: DemoContext, messages: number): Child {
  const index = ctx.senders.length;
  const sender = ctx.children.start([
    ...['send', '--host', ctx.sourceAddress!, '--file', ctx.textPath],
    ...['--repeat', '--messages', `${messages}`, '--stream-id', DEMO_STREAM_ID],
  ]);
  ctx.senders.push(sender);
  ctx.sentBy.push(0);
  ctx.sendersAcked.push(false);
  // 'sent N messages ...': progress on stderr every 2 s, the final line on stdout.
  const sent = (text: string): void => {
    const m = /sent (\d+) messages/.exec(text);
    if (m === null) return;
    ctx.sentBy[index] = Number(m[1]);
    ctx.linesSent = ctx.sentBy.reduce((a, b) => a + b, 0);
  };
  sender.onLine(sent);
  sender.onLine((line) => {
    if (line.includes('every message acknowledged')) ctx.sendersAcked[index] = true;
  });
  sender.proc.stdout!.setEncoding('utf8').on('data', sent);
  echo(ctx, sender, 'roo send', senderNews);
  return sender;
}

/** Starts `roo send` with the first half of the lines, acknowledging, as stream DEMO_STREAM_ID. */
export const startSender: DemoStage = {
  title: `starting roo send (the text, repeated; acknowledging, --stream-id ${DEMO_STREAM_ID})`,
  async run(ctx) {
    const { messages } = ctx.options;
    const { linesPerPass, totalWords } = ctx.expected;
    ctx.sendStartedMs = performance.now();
    const sender = startSend(ctx, ctx.firstSend.lines);
    const rest = messages % linesPerPass;
    ctx.say(
      `sending ${num(messages)} lines in all (the text ${num(Math.floor(messages / linesPerPass))} times` +
        `${rest > 0 ? ` and its first ${num(rest)} lines` : ''}): ${num(totalWords)} words; ` +
        `the first ${num(ctx.firstSend.lines)} lines now (pid ${sender.proc.pid})`,
    );
  },
};

/** The child that failed, if any: a receiver or worker that exited, or a sender that failed. */
function failedChild(ctx: DemoContext): Child | undefined {
  const failed = (c: Child) => c.exit !== undefined;
  return (
    ctx.receivers.find(failed) ??
    ctx.workers.map((w) => w.child).find(failed) ??
    ctx.senders.find((s) => s.exit !== undefined && s.exit.code !== 0)
  );
}

/**
 * Shows progress until `done` resolves. Fails if a child dies or a sender
 * fails. With no new count for STALL_TIMEOUT_MS it stops waiting: it returns
 * false when `stall` is 'check' (the counts are checked as they are), and
 * fails when it is 'fail'.
 */
async function showProgress(
  ctx: DemoContext,
  done: Promise<unknown>,
  stall: 'check' | 'fail',
): Promise<boolean> {
  const total = ctx.expected.totalWords;
  const linesPerWord = ctx.options.messages / total;
  const startedMs = ctx.sendStartedMs ?? performance.now();
  let last = { ms: performance.now(), outputs: ctx.tally.outputs, changedMs: performance.now() };
  let finished = false;
  void done.then(() => (finished = true));
  for (;;) {
    const tick = new AbortController();
    await Promise.race([
      done,
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
    // Settled promises run their callbacks before the race's: `finished` is current.
    if (finished) return true;
    const failed = failedChild(ctx);
    if (failed !== undefined) throw new DemoFailure(failed.describeExit());
    if (now - last.changedMs > STALL_TIMEOUT_MS) {
      ctx.progress.end();
      if (stall === 'fail') {
        throw new DemoFailure(`no new count for ${STALL_TIMEOUT_MS / 1000} s`);
      }
      ctx.say(`no new count for ${STALL_TIMEOUT_MS / 1000} s; checking what arrived`);
      return false;
    }
  }
}

/**
 * Shows progress until the first counts are out. The exactly-once sinks
 * release a checkpoint's counts when it commits, so this is the first
 * checkpoint that holds data; the first `roo send` is usually still sending.
 */
export const countUntilCrash: DemoStage = {
  title:
    "counting until the first checkpoint's counts are out (exactly-once: they come out on commit)",
  async run(ctx) {
    await showProgress(ctx, ctx.counts.reached(1, ctx.tally.outputs), 'fail');
  },
};

/** The worker the demo kills: worker2, or the initializer when it runs alone. */
function victimIndex(workers: number): number {
  return workers > 1 ? 1 : 0;
}

/** What the initializer says about a lost worker and a rollback. */
const initializerNews =
  /disconnected from the control channel|^checkpoint \d+ aborted|^rolling the cluster back|recovered from checkpoint \d+ and is running/;

/**
 * Kills a worker with SIGKILL (kill -9: no warning, no clean-up), as a
 * crash, usually while the first `roo send` is still running; shows what
 * the others notice.
 */
function crashWorker(workers: number): DemoStage {
  const index = victimIndex(workers);
  const name = workerName(index);
  return {
    title: `crashing ${name}: kill -9 (SIGKILL), no warning`,
    async run(ctx) {
      const victim = ctx.workers[index]!;
      const initializer = ctx.workers[0]!;
      const noticed =
        index === 0
          ? undefined
          : watchFor(
              initializer.child,
              new RegExp(`worker '${name}' disconnected from the control channel`),
              `that ${name} is gone`,
              ctx.signal,
            );
      if (index !== 0)
        ctx.echoes.push(echo(ctx, initializer.child, initializer.name, initializerNews));
      const atWords = ctx.tally.outputs;
      const sending = ctx.sendersAcked[0] === false && ctx.senders[0]?.exit === undefined;
      ctx.crash = { victim: name, atWords };
      ctx.say(
        `kill -9 ${victim.child.proc.pid}: ${name} killed at ${num(atWords)} of ` +
          `${num(ctx.expected.totalWords)} words counted; the last checkpoint committed: ` +
          `${ctx.lastCommitted ?? 'none yet'}; the first roo send ` +
          `${sending ? 'still has lines not yet acknowledged' : 'has had every line acknowledged'}`,
      );
      victim.child.proc.kill('SIGKILL');
      await victim.child.exited;
      if (noticed !== undefined) await noticed;
      ctx.say(
        index === 0
          ? 'the source is gone with it: roo send keeps every line not yet acknowledged and reconnects'
          : `checkpoints pause while ${name} is down, so the exactly-once sinks release no counts; ` +
              'roo send keeps every line not yet acknowledged',
      );
    },
  };
}

/**
 * Restarts the killed worker with the same command, and prints the recovery
 * lines (the restarted worker's, the initializer's, the sender's) as they
 * come, until the cluster is ready again. The restarted worker must log
 * Wallaroo's recovery lines in order.
 */
function restartWorker(workers: number): DemoStage {
  const index = victimIndex(workers);
  const name = workerName(index);
  return {
    title: `restarting ${name} with the same command`,
    async run(ctx) {
      const before = ctx.workers[index]!;
      const initializer = ctx.workers[0]!;
      const startedMs = performance.now();
      const worker = spawnWorker(ctx, name, before.args);
      ctx.workers[index] = worker;
      const { child } = worker;
      const data =
        index === 0 ? undefined : watchFor(child, dataLine, 'its data channel', ctx.signal);
      ctx.say(`${name} restarted with the same command (pid ${child.proc.pid})`);
      // The recovery lines in order; 'restoring checkpoint N' says which.
      let next = 0;
      let disorder: string | undefined;
      let restored: number | undefined;
      ctx.echoes.push(
        child.onLine((line) => {
          const message = messageOf(line);
          const restoring = /^restoring checkpoint (\d+)$/.exec(message);
          if (restoring !== null) {
            restored = Number(restoring[1]);
            ctx.say(`  [${name}] ${message}`);
            return;
          }
          const at = RECOVERY_LINES.indexOf(message);
          if (at < 0) return;
          if (at !== next) {
            disorder ??= `${name} logged '${message}' when '${RECOVERY_LINES[next] ?? 'nothing more'}' was due`;
            return;
          }
          next++;
          ctx.say(`  [${name}] ${message}`);
        }),
      );
      const ready = watchFor(child, /INIT PHASE III/, 'that it is ready to work', ctx.signal);
      const recovered =
        index === 0
          ? undefined
          : watchFor(
              initializer.child,
              /recovered from checkpoint (\d+) and is running/,
              'that the cluster recovered',
              ctx.signal,
            );
      await ready;
      const rolledBack = recovered === undefined ? restored : Number((await recovered)[1]);
      const recoveryMs = performance.now() - startedMs;
      for (const stop of ctx.echoes.splice(0)) stop();
      if (disorder !== undefined) throw new DemoFailure(disorder);
      if (next < RECOVERY_LINES.length) {
        throw new DemoFailure(
          `${name} did not log '${RECOVERY_LINES[next]}' before it was ready:\n  ${child.tail.join('\n  ')}`,
        );
      }
      worker.externalAddress = await worker.external;
      if (data !== undefined) worker.dataAddress = (await data)[1];
      ctx.crash = { ...ctx.crash!, recoveredFrom: rolledBack ?? 0, recoveryMs };
      ctx.say(
        `${workers > 1 ? `the cluster of ${workers} workers` : name} recovered from checkpoint ` +
          `${rolledBack ?? 0} and is ready ${(recoveryMs / 1000).toFixed(1)} s after the restart; ` +
          `${name}'s external channel is now on ${worker.externalAddress}`,
      );
    },
  };
}

/**
 * Once the first `roo send` is done (it exits when a committed checkpoint
 * covers every line it sent, resent ones included), sends the rest: `roo
 * send` again with the same `--stream-id` and `--messages` all the lines.
 * The source tells it where the stream stands, and it skips what the source
 * already has (Wallaroo's guide: restart the sender).
 */
export const sendRest: DemoStage = {
  title: `sending the rest: roo send again, the same --stream-id ${DEMO_STREAM_ID} (it resumes where the stream stopped)`,
  async run(ctx) {
    const first = ctx.senders[0]!;
    await showProgress(ctx, first.exited, 'fail');
    if (first.exit?.code !== 0) throw new DemoFailure(first.describeExit());
    const sender = startSend(ctx, ctx.options.messages);
    ctx.say(
      `the first roo send is done (${num(ctx.sentBy[0] ?? 0)} lines, every one acknowledged); ` +
        `sending up to line ${num(ctx.options.messages)} (pid ${sender.proc.pid})`,
    );
  },
};

/**
 * Shows progress until every expected count has arrived, then watches a
 * moment longer for extra ones. Fails if a child dies or a sender fails;
 * stops waiting if no count arrives for STALL_TIMEOUT_MS.
 */
export const awaitCounts: DemoStage = {
  title: 'counting',
  async run(ctx) {
    const all = ctx.counts.reached(ctx.expected.totalWords, ctx.tally.outputs);
    if (await showProgress(ctx, all, 'check')) {
      // Everything expected is in; anything more would be a duplicate.
      await sleep(SETTLE_MS, undefined, { signal: ctx.signal });
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
    if (ctx.crash !== undefined) {
      ctx.say(
        '  (a rollback starts every worker afresh from the checkpoint: the traffic figures count ' +
          'from the recovery on; the words held are the whole state)',
      );
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

/**
 * The stages of the word count demo on a cluster of `workers` workers, in
 * order: a crash of worker2 (of the initializer when it runs alone) and its
 * recovery in the middle.
 */
export function wordCountStages(workers: number): DemoStage[] {
  return [
    startReceivers,
    startInitializer,
    ...(workers > 1 ? [startMembers] : []),
    startSender,
    countUntilCrash,
    crashWorker(workers),
    restartWorker(workers),
    sendRest,
    awaitCounts,
    inspectState,
    shutdownCluster,
  ];
}
