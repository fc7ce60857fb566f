/**
 * The crash and the recovery of `roo demo`, as in Wallaroo's resilience
 * guide: kill -9 a worker (worker2, or the initializer when it runs alone),
 * then run its command again and show the recovery's log lines as they
 * come, the restarted worker's in the order Wallaroo logs them.
 */
import { performance } from 'node:perf_hooks';
import { LogLine } from '../logging/log-lines.js';
import { DemoFailure, watchFor } from './demo-children.js';
import type { DemoContext, DemoStage } from './demo-context.js';
import { num, workerName } from './demo-count.js';
import { echo, messageOf, sayFrom } from './demo-echo.js';
import { spawnWorker, watchData } from './demo-start.js';

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

/** What the initializer says about a lost worker and a rollback. */
const initializerNews =
  /disconnected from the control channel|^checkpoint \d+ aborted|^rolling the cluster back|recovered from checkpoint \d+ and is running/;

/** The worker the demo kills: worker2, or the initializer when it runs alone. */
function victimOf(workers: number): { readonly index: number; readonly name: string } {
  const index = workers > 1 ? 1 : 0;
  return { index, name: workerName(index) };
}

/**
 * Starts watching the initializer for a line about the victim, or nothing
 * when the victim is the initializer itself (index 0).
 */
function fromInitializer(
  ctx: DemoContext,
  index: number,
  pattern: RegExp,
  what: string,
): Promise<RegExpExecArray> | undefined {
  return index === 0 ? undefined : watchFor(ctx.workers[0]!.child, pattern, what, ctx.signal);
}

/**
 * Kills a worker with SIGKILL (kill -9: no warning, no clean-up), as a
 * crash, usually while the first `roo send` is still running; shows what
 * the others notice.
 */
export function crashWorker(workers: number): DemoStage {
  const { index, name } = victimOf(workers);
  return {
    title: `crashing ${name}: kill -9 (SIGKILL), no warning`,
    async run(ctx) {
      const victim = ctx.workers[index]!;
      const initializer = ctx.workers[0]!;
      const noticed = fromInitializer(
        ctx,
        index,
        new RegExp(`worker '${name}' disconnected from the control channel`),
        `that ${name} is gone`,
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
export function restartWorker(workers: number): DemoStage {
  const { index, name } = victimOf(workers);
  return {
    title: `restarting ${name} with the same command`,
    async run(ctx) {
      const before = ctx.workers[index]!;
      const startedMs = performance.now();
      const worker = spawnWorker(ctx, name, before.args);
      ctx.workers[index] = worker;
      const { child } = worker;
      const data = index === 0 ? undefined : watchData(ctx, child);
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
            sayFrom(ctx, name, message);
            return;
          }
          const at = RECOVERY_LINES.indexOf(message);
          if (at < 0) return;
          if (at !== next) {
            disorder ??= `${name} logged '${message}' when '${RECOVERY_LINES[next] ?? 'nothing more'}' was due`;
            return;
          }
          next++;
          sayFrom(ctx, name, message);
        }),
      );
      const ready = watchFor(child, /INIT PHASE III/, 'that it is ready to work', ctx.signal);
      const recovered = fromInitializer(
        ctx,
        index,
        /recovered from checkpoint (\d+) and is running/,
        'that the cluster recovered',
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
      if (data !== undefined) worker.dataAddress = await data;
      ctx.crash = { ...ctx.crash!, recoveredFrom: rolledBack ?? 0, recoveryMs };
      ctx.say(
        `${workers > 1 ? `the cluster of ${workers} workers` : name} recovered from checkpoint ` +
          `${rolledBack ?? 0} and is ready ${(recoveryMs / 1000).toFixed(1)} s after the restart; ` +
          `${name}'s external channel is now on ${worker.externalAddress}`,
      );
    },
  };
}
