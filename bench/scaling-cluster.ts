/**
 * Driving the processes of a scaling run (scaling-run.ts measures with
 * them; scaling-baseline.ts too): the command lines of the workers and of
 * `roo send`, starting them and reading the lines they log (ready, their
 * addresses, the initializer's reconfigurations, checkpoints), and the waits
 * on a run that fail as soon as something goes wrong (a worker died, a
 * deadline passed, the outputs stopped), with the check of every output
 * after the sender's last line. Kept apart from the measurements so that
 * each run reads as its steps and figures, not as process plumbing.
 */
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogLine } from '../runtime/logging/log-lines.js';
import {
  BenchChild,
  BenchFailure,
  EACH_CHECKPOINT,
  LOCAL_HOST,
  rootDir,
  watchUntil as watchChild,
} from './bench-child.js';
import type { ScalingOptions } from './scaling-options.js';
import { inputLines, ScalingReceiver, sentCounts, type CountCheck } from './scaling-receiver.js';

/** Longest the state may take to fill (every key's first output). */
const FILL_TIMEOUT_MS = 180_000;
/** With no output for this long, a wait for outputs fails. */
export const STALL_MS = 20_000;
/** The sender's batches start this far apart; the batch size sets the rate. */
const SEND_INTERVAL_MS = 5;
/** Kept after the last step, and on top of the plan, so that input still flows through it. */
const MESSAGES_MARGIN = 1.3;
const MESSAGES_EXTRA_SECONDS = 5;

/** `text` as a regular expression that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const READY_LINE = new RegExp(literal(LogLine.InitPhaseIII));
const EXTERNAL_LINE = new RegExp(`${literal(LogLine.ExternalListening)} (\\S+)`);
const SOURCE_LINE = /source '.*' listening on (\S+)/;
const CONTROL_LINE = /control channel listening on ([^\s;]+)/;
const COMPLETE_LINE = new RegExp(
  'reconfiguration (\\d+) complete: routing table version (\\d+), (\\d+) workers \\(([^)]*)\\)' +
    '(?:, joined: ([^;|]*?))?(?:, leaving: ([^;]*?))?; moved (\\d+) key groups, (\\d+) keys, ' +
    '(\\d+) bytes; the moving groups paused (\\d+) ms',
);
const RECONFIGURATION_TROUBLE = /reconfiguration \d+ failed: .*|worker '.*' cannot join now: .*/;
/** A worker's line when a checkpoint commits (the baseline kills right after one). */
export const COMMITTED_LINE = /checkpoint (\d+) committed/;
/** A restarted worker's line naming the checkpoint it restores. */
export const RESTORING_LINE = /restoring checkpoint (\d+)/;
const SENT_LINE = /sent (\d+) messages/;

/** The application every run measures. */
function appPath(): string {
  return join(rootDir(), 'examples', 'word_count', 'app.ts');
}

/** A free loopback port (listen on 0, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOCAL_HOST, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** `promise`, with its rejection marked handled: it may be awaited later, or never. */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** One `reconfiguration N complete` line of the initializer. */
export interface Reconfiguration {
  /** performance.now() when the bench read it. */
  readonly at: number;
  readonly id: number;
  readonly version: number;
  readonly workers: number;
  readonly joined: readonly string[];
  readonly leaving: readonly string[];
  readonly groups: number;
  readonly keys: number;
  readonly bytes: number;
  readonly pausedMs: number;
}

function parseComplete(m: RegExpExecArray, at: number): Reconfiguration {
  const names = (s: string | undefined): string[] =>
    s === undefined ? [] : s.split(',').map((x) => x.trim());
  return {
    at,
    id: Number(m[1]),
    version: Number(m[2]),
    workers: Number(m[3]),
    joined: names(m[5]),
    leaving: names(m[6]),
    groups: Number(m[7]),
    keys: Number(m[8]),
    bytes: Number(m[9]),
    pausedMs: Number(m[10]),
  };
}

/** A worker process of a run. */
export interface Worker {
  readonly name: string;
  readonly args: readonly string[];
  child: BenchChild;
  /** Its exit is expected (it was asked to leave, or killed by the bench). */
  leaving: boolean;
}

/** What every worker of a run is started with. */
interface ClusterSetup {
  readonly out: string;
  readonly dir: string;
  readonly resilient: boolean;
  readonly checkpointMs: number;
}

/** The arguments every worker of a run starts with (`name` its `--name`). */
export function commonArgs(s: ClusterSetup, name: string): string[] {
  return [
    ...['worker', '--application-module', appPath(), '--name', name, '--out', s.out],
    ...['--ponythreads', '1', '--external', `${LOCAL_HOST}:0`, '--resilience-dir', s.dir],
    ...(s.resilient
      ? [
          '--run-with-resilience',
          '--time-between-checkpoints',
          String(Math.round(s.checkpointMs * 1e6)),
        ]
      : []),
  ];
}

/** The initializer of a cluster of `workers`, on the given addresses (port 0: any). */
export function initializerArgs(
  s: ClusterSetup,
  workers: number,
  ports: { in: number; control: number; data: number },
): string[] {
  return [
    ...commonArgs(s, 'initializer'),
    ...['--in', `${LOCAL_HOST}:${ports.in}`, '--cluster-initializer'],
    ...['--worker-count', String(workers), '--control', `${LOCAL_HOST}:${ports.control}`],
    ...['--data', `${LOCAL_HOST}:${ports.data}`],
  ];
}

/** The worker's process has exited though nothing asked it to. */
export function deadWorker(workers: readonly Worker[]): string | undefined {
  const dead = workers.find((w) => !w.leaving && w.child.exit !== undefined);
  return dead === undefined ? undefined : `${dead.name}: ${dead.child.describe()}`;
}

/** Starts a worker; resolves when it logged ready (and with what it logged before). */
export async function startWorker(
  name: string,
  args: readonly string[],
): Promise<{
  worker: Worker;
  ready: Promise<number>;
  external: Promise<string>;
  source: Promise<string>;
  control: Promise<string>;
}> {
  // Each commit's line (debug level): the baseline kills right after one.
  const child = BenchChild.roo(args, [], EACH_CHECKPOINT);
  const worker: Worker = { name, args, child, leaving: false };
  const at = <T>(p: Promise<RegExpExecArray>, f: (m: RegExpExecArray) => T): Promise<T> =>
    later(p.then(f));
  return {
    worker,
    ready: at(child.waitForLine(READY_LINE, 'that it is ready'), () => performance.now()),
    external: at(child.waitForLine(EXTERNAL_LINE, 'its external channel'), (m) => m[1] as string),
    source: at(child.waitForLine(SOURCE_LINE, 'its source'), (m) => m[1] as string),
    control: at(child.waitForLine(CONTROL_LINE, 'its control channel'), (m) => m[1] as string),
  };
}

/** `roo send` of the input file at `rate` words/s (unpaced without), `messages` lines or forever. */
export function startSender(
  o: ScalingOptions,
  file: string,
  source: string,
  p: { rate?: number; messages?: number; acks: boolean },
): { child: BenchChild; sent: () => number | undefined } {
  const args = ['send', '--host', source, '--file', file, '--repeat'];
  if (p.messages !== undefined) args.push('--messages', String(p.messages));
  if (p.rate !== undefined) {
    const linesPerSec = p.rate / wordsPerLine(o);
    const batch = Math.max(1, Math.round((linesPerSec * SEND_INTERVAL_MS) / 1000));
    args.push('--batch-size', String(batch));
    args.push('--interval', String(Math.round((batch / linesPerSec) * 1e9)));
  }
  if (p.acks) args.push('--stream-id', `scaling-bench-${process.pid}`);
  else args.push('--no-acks');
  const child = BenchChild.roo(args);
  let sent: number | undefined;
  child.onLine((line) => {
    const m = SENT_LINE.exec(line);
    if (m !== null) sent = Number(m[1]);
  });
  return { child, sent: () => sent };
}

/** Words per line of the input, on average (the last line of a pass may be shorter). */
export function wordsPerLine(o: ScalingOptions): number {
  return o.keys / inputLines(o.keys, o.wordsPerLine);
}

/** Lines to send for a run planned to last `seconds` at `rate` words/s, with a margin. */
export function messagesFor(o: ScalingOptions, rate: number, seconds: number): number {
  const lines = (rate / wordsPerLine(o)) * (seconds * MESSAGES_MARGIN + MESSAGES_EXTRA_SECONDS);
  return Math.ceil(lines);
}

/** Waits for every key's first output; returns seconds from `since`. */
export async function fill(
  receiver: ScalingReceiver,
  keys: number,
  since: number,
  problem: () => string | undefined,
): Promise<number> {
  const late = until(
    performance.now() + FILL_TIMEOUT_MS,
    `not every key had an output within ${FILL_TIMEOUT_MS / 1000} s`,
  );
  await receiver.waitUntil(
    () => receiver.count >= keys,
    () => problem() ?? late(),
    STALL_MS,
    `the first ${keys} outputs`,
  );
  return (performance.now() - since) / 1000;
}

/** Waits until `untilMs`, failing as soon as `problem()` names one (asked every 50 ms). */
export function watchUntil(untilMs: number, problem: () => string | undefined): Promise<void> {
  return watchChild(untilMs, problem, 50);
}

/** Waits until `done()` holds, failing as soon as `problem()` names one (checked every 20 ms). */
export async function waitFor(
  done: () => boolean,
  problem: () => string | undefined,
): Promise<void> {
  for (;;) {
    if (done()) return;
    const why = problem();
    if (why !== undefined) throw new BenchFailure(why);
    await sleep(20);
  }
}

/** A problem() that names the deadline once it has passed. */
export function until(deadline: number, what: string): () => string | undefined {
  return () => (performance.now() > deadline ? what : undefined);
}

/** Fresh resilience directory of one run. */
export function runDir(): string {
  return mkdtempSync(join(tmpdir(), 'roo-bench-scaling-'));
}

/**
 * After the sender has sent its last line: waits until every update has
 * come out (the highest count of every key is what was sent), then a
 * moment for stragglers, and checks the outputs.
 */
export async function finalCheck(
  o: ScalingOptions,
  receiver: ScalingReceiver,
  sender: { child: BenchChild; sent: () => number | undefined },
  messages: number,
  problem: () => string | undefined,
): Promise<CountCheck> {
  await sender.child.exited;
  const sent = sender.sent();
  if (sender.child.exit?.code !== 0 || sent === undefined) {
    throw new BenchFailure(`the sender failed: ${sender.child.describe()}`);
  }
  if (sent !== messages) {
    throw new BenchFailure(`the sender says it sent ${sent} lines, ${messages} were asked for`);
  }
  const counts = sentCounts(o.keys, o.wordsPerLine, sent);
  let expected = 0;
  for (const n of counts) expected += n;
  try {
    await receiver.waitUntil(
      () => receiver.progress >= expected,
      problem,
      5000,
      `every update of the ${expected} words sent`,
    );
  } catch (err) {
    // Checked below: the check says what is missing.
    if (!(err instanceof BenchFailure) || problem() !== undefined) throw err;
  }
  await sleep(500);
  return receiver.check(counts);
}

/** Watches the initializer's reconfiguration lines. */
export function watchReconfigurations(child: BenchChild): {
  done: Reconfiguration[];
  trouble: string[];
} {
  const out = { done: [] as Reconfiguration[], trouble: [] as string[] };
  child.onLine((line) => {
    const m = COMPLETE_LINE.exec(line);
    if (m !== null) out.done.push(parseComplete(m, performance.now()));
    const t = RECONFIGURATION_TROUBLE.exec(line);
    if (t !== null) out.trouble.push(t[0]);
  });
  return out;
}
