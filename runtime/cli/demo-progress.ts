/**
 * The counting stages of `roo demo`: progress every second while the counts
 * come in, until the first checkpoint's counts are out (before the crash)
 * or every expected count has arrived (at the end). A child that dies, a
 * sender that fails or a long stall ends the wait.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Child, DemoFailure } from './demo-children.js';
import type { DemoContext, DemoStage } from './demo-context.js';
import { num } from './demo-count.js';

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
export async function showProgress(
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
      const quiet = `no new count for ${STALL_TIMEOUT_MS / 1000} s`;
      if (stall === 'fail') throw new DemoFailure(quiet);
      ctx.say(`${quiet}; checking what arrived`);
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
