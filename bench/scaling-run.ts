/**
 * The processes of the scaling benchmark (bench/scaling.ts) and what they
 * measure. Word count (examples/word_count/app.ts) on `roo worker`s with
 * `--ponythreads 1` each, fed by `roo send --repeat --messages M` with the
 * generated file of KEYS distinct words (scaling-receiver.ts), every
 * worker's `--out` to the ScalingReceiver in this process.
 *
 *  - max: one worker, `roo send --no-acks` unpaced; once every key exists,
 *    a warm-up then a window of `--max-seconds` give words/s. Half of it is
 *    the rate of the other parts unless `--rate` is given.
 *  - steps: the initializer alone (`--cluster-initializer --control`, so it
 *    can grow), paced input at the rate; once every key exists and
 *    `--settle-seconds` have passed, each step of `--steps` in turn: a grow
 *    is one `roo worker --join <initializer control>` after the other, a
 *    shrink one `roo shrink --workers` naming the most recently joined. The
 *    step runs from the request (the joiner's spawn, the shrink's spawn) to
 *    the initializer's last `reconfiguration N complete` line of it, as the
 *    bench reads it; its window from the request to `--step-seconds` later
 *    (at least 1 s after completion). After the last step the sender ends
 *    and every output is checked against what was sent.
 *  - baseline: what a system without live rescaling does: a cluster of the
 *    step's new size with `--run-with-resilience` and an acknowledging
 *    `roo send`; at a committed checkpoint every worker is SIGKILLed and the
 *    same commands are started again at once: the cluster restores the
 *    checkpoint and `roo send` sends again what came after it. (roo cannot
 *    restart from a checkpoint with another worker count, so the restart is
 *    of the same size; the state restored is the whole state either way.)
 *
 * Every run gets its own receiver and resilience directory (removed
 * afterwards) and stops every process it started. A run fails (BenchFailure)
 * when a worker dies unexpectedly, a step does not complete within
 * STEP_TIMEOUT_MS, the sender fails or ends before the last step, or the
 * outputs stop; the failure is recorded and the other runs go on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogLine } from '../runtime/logging/log-lines.js';
import {
  BenchChild,
  BenchFailure,
  EACH_CHECKPOINT,
  LOCAL_HOST,
  rootDir,
  stopAll,
} from './bench-child.js';
import { PartProbe } from './run-load.js';
import { stepsOf, type ScalingOptions } from './scaling-options.js';
import { inputLines, ScalingReceiver, sentCounts, type CountCheck } from './scaling-receiver.js';
import { formatRate } from './stats.js';

/** Longest a step (every join, or the shrink and its leavers' exit) may take. */
const STEP_TIMEOUT_MS = 90_000;
/** Longest the state may take to fill (every key's first output). */
const FILL_TIMEOUT_MS = 180_000;
/** With no output for this long, a wait for outputs fails. */
export const STALL_MS = 20_000;
/** Milliseconds of input the outputs may lag and still be "on pace". */
export const PACE_SLACK_MS = 20;
/** The sender's batches start this far apart; the batch size sets the rate. */
const SEND_INTERVAL_MS = 5;
/** Kept after the last step, and on top of the plan, so that input still flows through it. */
const MESSAGES_MARGIN = 1.3;
const MESSAGES_EXTRA_SECONDS = 5;
/** What a join may add to a step's planned time (the joiner's start-up on a busy machine). */
const JOIN_SECONDS = 3;

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
export const COMMITTED_LINE = /checkpoint (\d+) committed/;
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

/** Busy time of every core of the machine so far, ms. */
function machineBusyMs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

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

/** Waits until `untilMs`, failing as soon as `problem()` names one. */
export async function watchUntil(
  untilMs: number,
  problem: () => string | undefined,
): Promise<void> {
  for (;;) {
    const why = problem();
    if (why !== undefined) throw new BenchFailure(why);
    const left = untilMs - performance.now();
    if (left <= 0) return;
    await sleep(Math.min(left, 50));
  }
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

// ---------------------------------------------------------------------------
// The maximum rate.

/** The maximum of one worker. */
export interface MaxRun {
  /** Words/s out over the window. */
  readonly rate: number;
  /** Seconds from the sender's spawn until every key had an output. */
  readonly fillSeconds: number;
  /** Cores the machine kept busy in the window. */
  readonly machineCores: number;
  /** Cores others kept busy during the run (PartProbe). */
  readonly otherLoad: number;
}

/** One worker, unpaced input: words/s once every key exists, after a warm-up of the window's length. */
export async function measureMax(
  o: ScalingOptions,
  file: string,
  log: (line: string) => void,
): Promise<MaxRun> {
  const probe = new PartProbe('max');
  const receiver = await ScalingReceiver.listen(o.keys);
  const dir = runDir();
  const setup = {
    out: receiver.address,
    dir,
    resilient: o.resilience,
    checkpointMs: o.checkpointMs,
  };
  const workers: Worker[] = [];
  let sender: BenchChild | undefined;
  try {
    const init = await startWorker(
      'initializer',
      initializerArgs(setup, 1, { in: 0, control: 0, data: 0 }),
    );
    workers.push(init.worker);
    await init.ready;
    const s = startSender(o, file, await init.source, { acks: false });
    sender = s.child;
    const t0 = performance.now();
    const problem = (): string | undefined =>
      deadWorker(workers) ??
      (s.child.exit !== undefined ? `the sender stopped: ${s.child.describe()}` : undefined);
    const fillSeconds = await fill(receiver, o.keys, t0, problem);
    await watchUntil(performance.now() + o.maxSeconds * 1000, problem);
    const c0 = receiver.count;
    const b0 = machineBusyMs();
    const w0 = performance.now();
    await watchUntil(w0 + o.maxSeconds * 1000, problem);
    const wallMs = performance.now() - w0;
    const rate = (receiver.count - c0) / (wallMs / 1000);
    const machineCores = (machineBusyMs() - b0) / wallMs;
    await s.child.stop();
    await stopAll(workers.map((w) => w.child));
    const otherLoad = probe.stop().otherLoad;
    log(
      `  max: 1 worker ${formatRate(rate)} words/s (${o.keys} keys filled in ${fillSeconds.toFixed(2)} s), ` +
        `machine ${machineCores.toFixed(2)} cores busy`,
    );
    return { rate, fillSeconds, machineCores, otherLoad };
  } finally {
    await sender?.stop();
    await stopAll(workers.map((w) => w.child));
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Grow and shrink.

/** One step of a grow/shrink run. */
export interface StepResult {
  readonly from: number;
  readonly to: number;
  /** The initializer's completion lines of the step (one per join; one for a shrink). */
  readonly reconfigurations: readonly Reconfiguration[];
  /** Request → the last completion line, ms (as the bench reads it). */
  readonly durationMs: number;
  /** Request → `roo shrink` exited and every leaver exited, ms (shrinks only). */
  readonly leftMs: number | undefined;
  /** The longest gap between two outputs in the step's window, ms. */
  readonly gapMs: number;
  /** When it started, ms after the request. */
  readonly gapAtMs: number;
  /** Request → the outputs back on the input's pace, ms (undefined: not within the window). */
  readonly paceMs: number | undefined;
  /** The window, ms from the request. */
  readonly windowMs: number;
  /** Words/s out over the window. */
  readonly outRate: number;
  /** Cores the whole machine kept busy over the window. */
  readonly machineCores: number;
}

/** One grow/shrink run. */
export interface StepsRun {
  readonly rep: number;
  /** Input words/s. */
  readonly rate: number;
  /** Initializer spawn → ready, s. */
  readonly startSeconds: number;
  /** Sender spawn → every key had an output, s. */
  readonly fillSeconds: number;
  /** The longest gap between outputs over the settle window before the first step (no step), ms. */
  readonly steadyGapMs: number;
  /** Words/s out over the settle window. */
  readonly steadyRate: number;
  readonly steps: readonly StepResult[];
  /** Lines the sender sent. */
  readonly messages: number;
  readonly check: CountCheck;
  /** Cores others kept busy during the run. */
  readonly otherLoad: number;
}

/** Watches the initializer's reconfiguration lines. */
function watchReconfigurations(child: BenchChild): {
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

/** The grow/shrink run: the steps of `o.steps` on a running cluster at `rate` words/s. */
export async function runSteps(
  o: ScalingOptions,
  rate: number,
  file: string,
  rep: number,
  log: (line: string) => void,
): Promise<StepsRun> {
  const probe = new PartProbe('steps');
  const receiver = await ScalingReceiver.listen(o.keys);
  const dir = runDir();
  const setup = {
    out: receiver.address,
    dir,
    resilient: o.resilience,
    checkpointMs: o.checkpointMs,
  };
  const workers: Worker[] = [];
  const others: BenchChild[] = [];
  let sender: ReturnType<typeof startSender> | undefined;
  const name = `steps, rep ${rep}`;
  try {
    const t0 = performance.now();
    const init = await startWorker(
      'initializer',
      initializerArgs(setup, 1, { in: 0, control: 0, data: 0 }),
    );
    workers.push(init.worker);
    const reconf = watchReconfigurations(init.worker.child);
    await init.ready;
    const startSeconds = (performance.now() - t0) / 1000;
    const control = await init.control;
    const initExternal = await init.external;
    const steps = stepsOf(o.steps);
    const joins = steps.reduce((a, s) => a + Math.max(0, s.to - s.from), 0);
    const planned =
      o.keys / rate + o.settleSeconds + steps.length * o.stepSeconds + JOIN_SECONDS * joins;
    const messages = messagesFor(o, rate, planned);
    const s = startSender(o, file, await init.source, { rate, messages, acks: o.resilience });
    sender = s;
    const sentAt = performance.now();
    let stepsOver = false;
    const problem = (): string | undefined =>
      deadWorker(workers) ??
      reconf.trouble[0] ??
      (s.child.exit !== undefined && (!stepsOver || s.child.exit.code !== 0)
        ? `the sender ended before the last step was over (${s.child.describe()}); ` +
          `it was given ${messages} lines`
        : undefined) ??
      (receiver.badLines > 0 ? `${receiver.badLines} output lines did not decode` : undefined);
    const fillSeconds = await fill(receiver, o.keys, sentAt, problem);
    const settle0 = performance.now();
    const settleCount = receiver.count;
    await watchUntil(settle0 + o.settleSeconds * 1000, problem);
    const settle1 = performance.now();
    const steadyGapMs = receiver.longestGap(settle0, settle1).ms;
    const steadyRate = (receiver.count - settleCount) / ((settle1 - settle0) / 1000);
    log(
      `  ${name}: start-up ${startSeconds.toFixed(2)} s, ${o.keys} keys in ${fillSeconds.toFixed(2)} s; ` +
        `steady ${formatRate(steadyRate)} words/s out (input ${formatRate(rate)}), longest gap ` +
        `${steadyGapMs.toFixed(0)} ms`,
    );
    const results: StepResult[] = [];
    let joined = 1;
    for (const step of steps) {
      const req = performance.now();
      const c0 = receiver.count;
      const b0 = machineBusyMs();
      const p0 = receiver.progress;
      const before = reconf.done.length;
      let leftMs: number | undefined;
      const late = until(
        req + STEP_TIMEOUT_MS,
        `step ${step.from} → ${step.to} not complete within ${STEP_TIMEOUT_MS / 1000} s`,
      );
      const stepProblem = (): string | undefined => problem() ?? late();
      if (step.to > step.from) {
        for (let n = step.from + 1; n <= step.to; n++) {
          const wname = `worker${++joined}`;
          const j = await startWorker(wname, [
            ...commonArgs(setup, wname),
            ...['--join', control, '--my-data', `${LOCAL_HOST}:0`],
          ]);
          workers.push(j.worker);
          await waitFor(() => reconf.done.some((l) => l.joined.includes(wname)), stepProblem);
        }
      } else {
        const current = workers.filter((w) => !w.leaving);
        const leavers = current.slice(step.to);
        const shrink = BenchChild.roo([
          ...['shrink', '--external', initExternal, '--workers'],
          leavers.map((w) => w.name).join(','),
        ]);
        others.push(shrink);
        for (const w of leavers) w.leaving = true;
        await waitFor(
          () => reconf.done.length > before,
          () => stepProblem() ?? shrinkFailed(shrink),
        );
        await waitFor(
          () => shrink.exit !== undefined && leavers.every((w) => w.child.exit !== undefined),
          stepProblem,
        );
        leftMs = performance.now() - req;
        const bad = [shrink, ...leavers.map((w) => w.child)].find((c) => c.exit?.code !== 0);
        if (bad !== undefined) throw new BenchFailure(`a shrink process failed: ${bad.describe()}`);
      }
      const lines = reconf.done.slice(before);
      const completed = (lines.at(-1) as Reconfiguration).at;
      const windowEnd = Math.max(req + o.stepSeconds * 1000, completed + 1000);
      await watchUntil(windowEnd, problem);
      const end = performance.now();
      const gap = receiver.longestGap(req, end, end);
      const r: StepResult = {
        ...step,
        reconfigurations: lines,
        durationMs: completed - req,
        leftMs,
        gapMs: gap.ms,
        gapAtMs: gap.at - req,
        paceMs: since(req, receiver.paceTime(req, p0, rate, PACE_SLACK_MS, completed, end)),
        windowMs: end - req,
        outRate: (receiver.count - c0) / ((end - req) / 1000),
        machineCores: (machineBusyMs() - b0) / (end - req),
      };
      results.push(r);
      log(
        `  ${name}: ${step.from} → ${step.to} workers: ${lines.length} reconfiguration(s), moved ` +
          `${sum(lines, (l) => l.groups)} key groups, ${sum(lines, (l) => l.keys)} keys, ` +
          `${sum(lines, (l) => l.bytes)} bytes; moving groups paused ${lines.map((l) => `${l.pausedMs} ms`).join(' + ')}; ` +
          `request → complete ${r.durationMs.toFixed(0)} ms; longest output gap ${r.gapMs.toFixed(0)} ms ` +
          `(from ${signed(r.gapAtMs)} ms); back on pace ` +
          `${r.paceMs === undefined ? 'not before the next step' : `${signed(r.paceMs)} ms`}; ` +
          `${formatRate(r.outRate)} words/s out; machine ${r.machineCores.toFixed(2)} cores busy`,
      );
    }
    stepsOver = true;
    const check = await finalCheck(o, receiver, s, messages, problem);
    log(
      `  ${name}: ${check.expected} words sent, ${check.received} outputs: ${check.missing} lost, ` +
        `${check.extra} duplicated, ${check.wrongKeys} keys wrong`,
    );
    await stopAll(workers.map((w) => w.child));
    const otherLoad = probe.stop().otherLoad;
    return {
      rep,
      rate,
      startSeconds,
      fillSeconds,
      steadyGapMs,
      steadyRate,
      steps: results,
      messages,
      check,
      otherLoad,
    };
  } finally {
    await sender?.child.stop();
    await stopAll([...others, ...workers.map((w) => w.child)]);
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `roo shrink` exited with an error. */
function shrinkFailed(shrink: BenchChild): string | undefined {
  return shrink.exit !== undefined && shrink.exit.code !== 0
    ? `roo shrink failed: ${shrink.describe()}`
    : undefined;
}

/** `at` − `from`, or undefined. */
export function since(from: number, at: number | undefined): number | undefined {
  return at === undefined ? undefined : at - from;
}

/** "+12" or "−3". */
function signed(ms: number): string {
  return ms < 0 ? `−${(-ms).toFixed(0)}` : `+${ms.toFixed(0)}`;
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  return items.reduce((a, t) => a + f(t), 0);
}
