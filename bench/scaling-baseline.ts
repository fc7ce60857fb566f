/**
 * The scaling benchmark's baseline (scaling.ts): how a user of a system
 * without live rescaling changes a cluster's size. A resilient cluster at
 * the step's new size, an acknowledging sender at the same rate; at a
 * committed checkpoint every worker is SIGKILLed and started again with
 * the same commands: it restores the checkpoint and the sender sends the
 * lost window again.
 */
import { rmSync } from 'node:fs';
import { BenchChild, LOCAL_HOST, stopAll } from './bench-child.js';
import { PartProbe } from './run-load.js';
import type { ScalingOptions } from './scaling-options.js';
import { ScalingReceiver, type CountCheck } from './scaling-receiver.js';
import {
  COMMITTED_LINE,
  commonArgs,
  deadWorker,
  fill,
  finalCheck,
  freePort,
  initializerArgs,
  messagesFor,
  RESTORING_LINE,
  runDir,
  STALL_MS,
  startSender,
  startWorker,
  until,
  waitFor,
  watchUntil,
  wordsPerLine,
  type Worker,
} from './scaling-cluster.js';
import { PACE_SLACK_MS, since } from './scaling-run.js';

// ---------------------------------------------------------------------------
// The baseline: checkpoint, kill every worker, restart, resend.

/** One kill and restart of a resilient cluster. */
export interface BaselineRun {
  readonly workers: number;
  readonly rep: number;
  readonly rate: number;
  /** The longest gap between two outputs in the settle window (no restart), ms. */
  readonly steadyGapMs: number;
  /** The checkpoint committed just before the kill, and the one restored. */
  readonly committed: number;
  readonly restored: number | undefined;
  /** Kill → every worker's process gone, ms. */
  readonly exitMs: number;
  /** Kill → every restarted worker logged ready, ms. */
  readonly readyMs: number;
  /** The longest gap between two outputs from the kill on, ms. */
  readonly gapMs: number;
  /** Kill → the outputs back on the input's pace, ms (undefined: not within the window). */
  readonly paceMs: number | undefined;
  /** The window, ms from the kill. */
  readonly windowMs: number;
  /** Lines the sender sent (each once; the ones it resent are not counted twice). */
  readonly messages: number;
  readonly check: CountCheck;
  /** Cores others kept busy during the run. */
  readonly otherLoad: number;
}

/** The baseline at one cluster size: kill at a committed checkpoint, restart the same commands. */
export async function runBaseline(
  o: ScalingOptions,
  rate: number,
  file: string,
  size: number,
  rep: number,
  log: (line: string) => void,
): Promise<BaselineRun> {
  const probe = new PartProbe('baseline');
  const receiver = await ScalingReceiver.listen(o.keys);
  const dir = runDir();
  const setup = { out: receiver.address, dir, resilient: true, checkpointMs: o.checkpointMs };
  const ports = { in: await freePort(), control: await freePort(), data: await freePort() };
  const control = `${LOCAL_HOST}:${ports.control}`;
  const specs: { name: string; args: string[] }[] = [
    { name: 'initializer', args: initializerArgs(setup, size, ports) },
  ];
  for (let w = 2; w <= size; w++) {
    const name = `worker${w}`;
    specs.push({
      name,
      args: [...commonArgs(setup, name), ...['--control', control, '--my-data', `${LOCAL_HOST}:0`]],
    });
  }
  let workers: Worker[] = [];
  const all: BenchChild[] = [];
  let sender: ReturnType<typeof startSender> | undefined;
  const name = `baseline ${size} worker${size === 1 ? '' : 's'}, rep ${rep}`;
  const startAll = async (): Promise<{ ready: Promise<number>[]; init: Worker }> => {
    const started = [];
    for (const spec of specs) started.push(await startWorker(spec.name, spec.args));
    workers = started.map((s) => s.worker);
    all.push(...workers.map((w) => w.child));
    return { ready: started.map((s) => s.ready), init: workers[0] as Worker };
  };
  try {
    const first = await startAll();
    await Promise.all(first.ready);
    let committed = 0;
    first.init.child.onLine((line) => {
      const m = COMMITTED_LINE.exec(line);
      if (m !== null) committed = Number(m[1]);
    });
    const planned = o.keys / rate + o.settleSeconds + o.checkpointMs / 1000 + o.stepSeconds + 3;
    const messages = messagesFor(o, rate, planned);
    const s = startSender(o, file, `${LOCAL_HOST}:${ports.in}`, { rate, messages, acks: true });
    sender = s;
    const sentAt = performance.now();
    let killed = false;
    const problem = (): string | undefined =>
      (killed ? undefined : deadWorker(workers)) ??
      (s.child.exit !== undefined && s.child.exit.code !== 0
        ? `the sender failed: ${s.child.describe()}`
        : undefined) ??
      (receiver.badLines > 0 ? `${receiver.badLines} output lines did not decode` : undefined);
    await fill(receiver, o.keys, sentAt, problem);
    const settle0 = performance.now();
    await watchUntil(settle0 + o.settleSeconds * 1000, problem);
    const steadyGapMs = receiver.longestGap(settle0, performance.now()).ms;
    // The next checkpoint to commit, then at once the kill.
    const next = committed + 1;
    const noCommit = until(performance.now() + 30_000, 'no checkpoint committed within 30 s');
    await waitFor(
      () => committed >= next,
      () => problem() ?? noCommit(),
    );
    const kill = performance.now();
    const atKill = committed;
    killed = true;
    const p0 = receiver.progress;
    for (const w of workers) {
      w.leaving = true;
      w.child.proc.kill('SIGKILL');
    }
    await Promise.all(workers.map((w) => w.child.exited));
    const exitMs = performance.now() - kill;
    let restored: number | undefined;
    const again = await startAll();
    again.init.child.onLine((line) => {
      const m = RESTORING_LINE.exec(line);
      if (m !== null) restored ??= Number(m[1]);
    });
    killed = false;
    const readyAt = Math.max(...(await Promise.all(again.ready)));
    const readyMs = readyAt - kill;
    await watchUntil(Math.max(kill + o.stepSeconds * 1000, readyAt + 1000), problem);
    // The gap ends with the first output after the restart: wait for it if it has not come.
    await receiver.waitUntil(
      () => receiver.lastOutputAt > readyAt,
      problem,
      STALL_MS,
      'an output after the restart',
    );
    const end = performance.now();
    const gap = receiver.longestGap(kill, end, end);
    log(
      `  ${name}: checkpoint ${atKill} committed, SIGKILL; every process gone in ${exitMs.toFixed(0)} ms; ` +
        `restart → every worker ready ${readyMs.toFixed(0)} ms after the kill (restored checkpoint ` +
        `${restored ?? '?'}); longest output gap ${gap.ms.toFixed(0)} ms`,
    );
    const check = await finalCheck(o, receiver, s, messages, problem);
    // The pace line is the input's only until the sender's last line was due.
    const inputEnd = sentAt + (messages / (rate / wordsPerLine(o))) * 1000;
    const paceMs = since(kill, receiver.paceTime(kill, p0, rate, PACE_SLACK_MS, readyAt, inputEnd));
    log(
      `  ${name}: back on pace ${paceMs === undefined ? 'not before the input ended' : `${paceMs.toFixed(0)} ms after the kill`}; ` +
        `${check.expected} words sent, ${check.received} outputs (${check.extra} again after ` +
        `the restart), ${check.lostUpdates} updates lost, ${check.wrongKeys} keys wrong`,
    );
    await stopAll(workers.map((w) => w.child));
    const otherLoad = probe.stop().otherLoad;
    return {
      workers: size,
      rep,
      rate,
      steadyGapMs,
      committed: atKill,
      restored,
      exitMs,
      readyMs,
      gapMs: gap.ms,
      paceMs,
      windowMs: end - kill,
      messages,
      check,
      otherLoad,
    };
  } finally {
    await sender?.child.stop();
    await stopAll(all);
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
