/**
 * The measured runs of the scaling benchmark (bench/scaling.ts): the
 * maximum of one worker and the grow/shrink run, and the figures each
 * gives; the processes are started and watched through scaling-cluster.ts.
 * Word count (examples/word_count/app.ts) on `roo worker`s with
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
 *  - baseline (scaling-baseline.ts): what a system without live rescaling
 *    does: a cluster of the step's new size with `--run-with-resilience` and
 *    an acknowledging `roo send`; at a committed checkpoint every worker is
 *    SIGKILLed and the same commands are started again at once: the cluster
 *    restores the checkpoint and `roo send` sends again what came after it.
 *    (roo cannot restart from a checkpoint with another worker count, so the
 *    restart is of the same size; the state restored is the whole state
 *    either way.)
 *
 * Every run gets its own receiver and resilience directory (removed
 * afterwards) and stops every process it started. A run fails (BenchFailure)
 * when a worker dies unexpectedly, a step does not complete within
 * STEP_TIMEOUT_MS, the sender fails or ends before the last step, or the
 * outputs stop; the failure is recorded and the other runs go on.
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import { BenchChild, BenchFailure, LOCAL_HOST, stopAll } from './bench-child.js';
import { PartProbe } from './run-load.js';
import {
  commonArgs,
  deadWorker,
  fill,
  finalCheck,
  initializerArgs,
  messagesFor,
  type Reconfiguration,
  runDir,
  startSender,
  startWorker,
  until,
  waitFor,
  watchReconfigurations,
  watchUntil,
  type Worker,
} from './scaling-cluster.js';
import { stepsOf, type ScalingOptions } from './scaling-options.js';
import { ScalingReceiver, type CountCheck } from './scaling-receiver.js';
import { formatRate } from './stats.js';

/** Longest a step (every join, or the shrink and its leavers' exit) may take. */
const STEP_TIMEOUT_MS = 90_000;
/** Milliseconds of input the outputs may lag and still be "on pace". */
export const PACE_SLACK_MS = 20;
/** What a join may add to a step's planned time (the joiner's start-up on a busy machine). */
const JOIN_SECONDS = 3;

/** Busy time of every core of the machine so far, ms. */
function machineBusyMs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
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
