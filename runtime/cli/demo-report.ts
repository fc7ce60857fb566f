/**
 * What `roo demo` prints at the end of a run that got through its stages:
 * the top words, the totals, the throughput, the crash and the recovery,
 * the grow and the shrink, how the state is spread over the workers, and the check of every count
 * against an independent count of the text (OK or MISMATCH).
 */
import type { DemoContext } from './demo-context.js';
import {
  checkCounts,
  countsOk,
  num,
  shareProblems,
  SHOWN_PROBLEMS,
  topWords,
} from './demo-count.js';
import { movedWords } from './demo-resize.js';

/** How many of the most counted words the report lists. */
export const TOP_WORDS = 10;

/** Prints the top words, the totals, the throughput, the state and the check; returns true for OK. */
export function report(ctx: DemoContext): boolean {
  const { tally, expected } = ctx;
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`\nTop ${TOP_WORDS} words:`);
  topWords(tally.counts, TOP_WORDS).forEach(([word, count], i) => {
    out(`  ${String(i + 1).padStart(2)}. ${word.padEnd(16)} ${num(count).padStart(12)}`);
  });
  out(`\nLines sent:       ${num(ctx.linesSent)}`);
  out(`Words counted:    ${num(tally.outputs)} (expected ${num(expected.totalWords)})`);
  out(`Distinct words:   ${num(tally.counts.size)} (expected ${num(expected.counts.size)})`);
  // From starting roo send to the last count at the receiver.
  const seconds = ((ctx.lastOutputMs ?? 0) - (ctx.sendStartedMs ?? 0)) / 1000;
  if (ctx.lastOutputMs !== undefined && seconds > 0) {
    out(
      `Throughput:       ${num(tally.outputs / seconds)} words/s end to end ` +
        `(${num(ctx.linesSent / seconds)} lines/s over ${seconds.toFixed(1)} s` +
        `${ctx.pace === undefined ? '' : `; the first half paced at ${num(ctx.pace)} lines/s at most`})`,
    );
  }
  const shares = ctx.shares;
  // After a rollback, or once a worker has left with its traffic figures, only the state adds up.
  const partial = ctx.crash?.recoveredFrom !== undefined || ctx.shrink !== undefined;
  const spread =
    shares === undefined ? [] : shareProblems(shares, expected, ctx.linesSent, partial);
  const crash = ctx.crash;
  if (crash !== undefined) {
    const back =
      crash.recoveryMs === undefined
        ? 'not restarted'
        : `restarted with the same command; rolled back to checkpoint ${crash.recoveredFrom ?? 0}, ` +
          `ready ${(crash.recoveryMs / 1000).toFixed(1)} s after the restart`;
    out(
      `Crash:            ${crash.victim} killed (SIGKILL) at ${num(crash.atWords)} words; ${back}`,
    );
  }
  for (const [label, resize, how] of [
    ['Grow:', ctx.grow, 'joined'],
    ['Shrink:', ctx.shrink, 'left'],
  ] as const) {
    if (resize?.id === undefined) continue;
    out(
      `${label.padEnd(18)}${resize.worker} ${how} at ${num(resize.atWords)} words ` +
        `(reconfiguration ${resize.id}, ${resize.workers} workers after): moved ${movedWords(resize)}; ` +
        `moving groups paused ${num(resize.pausedMs ?? 0)} ms`,
    );
  }
  if (shares !== undefined) {
    const each = shares.workers.map((w) => `${w.worker} ${num(w.entities)}`).join(', ');
    out(
      `State:            ${num(shares.entities)} word entities on ${shares.workers.length} ` +
        `worker${shares.workers.length === 1 ? '' : 's'} (${each})`,
    );
  }
  if (countsOk(expected, tally) && spread.length === 0) {
    out('Check:            OK (every final count equals an independent count of the text)');
    return true;
  }
  out('Check:            MISMATCH (against an independent count of the text)');
  const mismatches = checkCounts(expected, tally);
  for (const m of mismatches.slice(0, SHOWN_PROBLEMS)) {
    out(`  '${m.word}': expected ${num(m.expected)}, counted ${num(m.actual)}`);
  }
  if (mismatches.length > SHOWN_PROBLEMS)
    out(`  ... and ${num(mismatches.length - SHOWN_PROBLEMS)} more`);
  for (const p of tally.problems) out(`  ${p}`);
  if (tally.bad > tally.problems.length) out(`  ... ${num(tally.bad)} bad output lines in all`);
  for (const p of spread) out(`  ${p}`);
  return false;
}
