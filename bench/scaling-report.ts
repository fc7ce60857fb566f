/**
 * The scaling benchmark's report (bench/scaling.ts): the head (command,
 * flags, machine, code, input, rate, load probe), the steps of the running
 * cluster, the baseline restarts, roo against the baseline per step, the
 * output check, the targets, and the report's block in bench/RESULTS.md.
 * Pure.
 */
import {
  describeScalingOptions,
  scalingReproduceCommand,
  stepsOf,
  type ScalingOptions,
} from './scaling-options.js';
import type { BaselineRun } from './scaling-baseline.js';
import type { MaxRun, StepResult, StepsRun } from './scaling-run.js';
import { PACE_SLACK_MS } from './scaling-run.js';
import type { CountCheck } from './scaling-receiver.js';
import { fmtBytes, fmtMs, withSection, type SectionMarkers } from './resilience-report.js';
import { formatRate, markdownTable, median, summarize } from './stats.js';

/** The target: the longest gap between two outputs during a step. */
export const GAP_TARGET_MS = 500;

/** A step whose outputs were not back on pace before the next step's request. */
const NOT_BEFORE_NEXT = 'not before the next step';
/** A restart whose outputs were not back on pace before the input ended. */
const NOT_BEFORE_END = 'not before the input ended';

/** A run that gave no figures, and why. */
export interface ScalingFailure {
  readonly part: 'max' | 'steps' | 'baseline';
  readonly rep: number;
  /** The baseline's cluster size. */
  readonly workers?: number;
  readonly message: string;
}

/** Everything the report reads of a run. */
export interface ScalingResults {
  readonly options: ScalingOptions;
  readonly startedAt: string;
  readonly command: string;
  readonly machine: string;
  readonly machineLine: string;
  readonly code: string;
  /** The input file. */
  readonly input: { readonly bytes: number; readonly lines: number };
  /** Input words/s of the steps and the baseline; undefined when the maximum failed. */
  readonly rate: number | undefined;
  /** The maximum measured first (undefined with --rate). */
  readonly max: MaxRun | undefined;
  readonly steps: readonly StepsRun[];
  readonly baselines: readonly BaselineRun[];
  readonly failures: readonly ScalingFailure[];
  readonly idleOtherLoad: number;
  readonly loadAverageStart: string;
  readonly loadAverageEnd: string;
  readonly seconds: number;
  /** Compiled engine files that changed during the run (another build ran). */
  readonly rebuilt: readonly string[];
}

/**
 * "median (min..max)" of ms values, or the one value; n/a for none. An
 * undefined value is one that did not happen (`never` says when).
 */
function spread(values: readonly (number | undefined)[], never = 'never'): string {
  const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  const missing = values.length - known.length;
  if (known.length === 0) return values.length === 0 ? 'n/a' : never;
  const miss = missing > 0 ? ` (${missing} of ${values.length} ${never})` : '';
  const s = summarize(known);
  const text =
    s.min === s.max ? fmtMs(s.median) : `${fmtMs(s.median)} (${fmtMs(s.min)}..${fmtMs(s.max)})`;
  return text + miss;
}

/** "median (min..max)" of counts. */
function countSpread(values: readonly number[], f: (n: number) => string = String): string {
  if (values.length === 0) return 'n/a';
  const s = summarize(values);
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}..${f(s.max)})`;
}

const stepName = (from: number, to: number): string => `${from} → ${to}`;
const workersText = (n: number): string => `${n} worker${n === 1 ? '' : 's'}`;

/** The results of step `i` over every rep that got that far. */
function stepResults(r: ScalingResults, i: number): StepResult[] {
  return r.steps.map((run) => run.steps[i]).filter((s): s is StepResult => s !== undefined);
}

/** Sum over a step's reconfigurations. */
function moved(s: StepResult, f: (x: StepResult['reconfigurations'][number]) => number): number {
  return s.reconfigurations.reduce((a, x) => a + f(x), 0);
}

/** The verdict on the gap target for a set of step gaps: judged on the median, the worst given. */
function gapVerdict(gaps: readonly number[]): string {
  if (gaps.length === 0) return 'NOT RUN';
  const m = median(gaps);
  const over = gaps.filter((g) => g > GAP_TARGET_MS).length;
  const worst = Math.max(...gaps);
  const reps = over > 0 ? `; ${over} of ${gaps.length} reps over, worst ${fmtMs(worst)}` : '';
  return `**${m <= GAP_TARGET_MS ? 'MET' : 'MISSED'}** (median ${fmtMs(m)}${reps})`;
}

/** The steps table and what is under it. */
function renderSteps(r: ScalingResults): string[] {
  const o = r.options;
  const steps = stepsOf(o.steps);
  const rate = r.rate ?? NaN;
  const rows: string[][] = [];
  const runs = r.steps;
  rows.push([
    'steady, 1 worker (no step)',
    '',
    '',
    '',
    '',
    '',
    '',
    spread(runs.map((x) => x.steadyGapMs)),
    '',
    '',
    countSpread(
      runs.map((x) => x.steadyRate),
      formatRate,
    ),
    '',
  ]);
  steps.forEach((st, i) => {
    const res = stepResults(r, i);
    const gaps = res.map((s) => s.gapMs);
    rows.push([
      stepName(st.from, st.to),
      countSpread(res.map((s) => s.reconfigurations.length)),
      countSpread(res.map((s) => moved(s, (x) => x.groups))),
      countSpread(res.map((s) => moved(s, (x) => x.keys))),
      countSpread(
        res.map((s) => moved(s, (x) => x.bytes)),
        fmtBytes,
      ),
      spread(res.map((s) => moved(s, (x) => x.pausedMs))),
      spread(res.map((s) => s.durationMs)),
      spread(gaps),
      gaps.length === 0
        ? 'n/a'
        : gaps.every((g) => g <= GAP_TARGET_MS)
          ? 'yes'
          : median(gaps) <= GAP_TARGET_MS
            ? 'median yes'
            : 'no',
      spread(
        res.map((s) => s.paceMs),
        NOT_BEFORE_NEXT,
      ),
      countSpread(
        res.map((s) => s.outRate),
        formatRate,
      ),
      countSpread(
        res.map((s) => s.machineCores),
        (c) => c.toFixed(2),
      ),
    ]);
  });
  const shrinkLeft = steps
    .map((st, i) => ({ st, left: stepResults(r, i).map((s) => s.leftMs) }))
    .filter((x) => x.st.to < x.st.from && x.left.length > 0);
  return [
    `### Steps: grow and shrink the running cluster at ${formatRate(rate)} words/s, ${runs.length} run${runs.length === 1 ? '' : 's'}`,
    '',
    `Each run: the initializer alone (\`--cluster-initializer --control\`), the input paced at ` +
      `${formatRate(rate)} words/s; once every key had an output, ${o.settleSeconds} s steady ` +
      `(the first row), then each step, one every ${o.stepSeconds} s: a grow is one \`roo worker ` +
      `--join\` after the other (one reconfiguration each), a shrink one \`roo shrink --workers\` ` +
      `naming the most recently joined. Moved and paused: the initializer's \`reconfiguration N ` +
      `complete\` lines, summed over the step's reconfigurations. Request → complete: from the ` +
      `joiner's (or \`roo shrink\`'s) spawn to the step's last such line, as the bench reads it ` +
      `(a join includes the joiner's start-up, during which input flows). Longest output gap: ` +
      `the longest time between two consecutive outputs at the receiver (any worker's ` +
      `connection) that overlaps the step's window, from the request to ${o.stepSeconds} s ` +
      `later (at least 1 s after complete). Back on pace: from the request until, after ` +
      `complete, the keys' counts have risen by as much as the input since the request ` +
      `(within ${PACE_SLACK_MS} ms of input), before the next step's request. Words/s out: over the window (the input is ` +
      `${formatRate(rate)}). Machine busy: cores of the whole machine over the window, out of ` +
      `the machine's cores. Resilience ${o.resilience ? `on (every ${o.checkpointMs} ms)` : 'off'}. ` +
      `Median (min..max) over the runs.`,
    '',
    markdownTable(
      [
        'step (workers)',
        'reconfigurations',
        'key groups moved',
        'keys moved',
        'bytes moved',
        'groups paused',
        'request → complete',
        'longest output gap',
        `gap ≤ ${fmtMs(GAP_TARGET_MS)}`,
        'back on pace',
        'words/s out',
        'machine busy',
      ],
      rows,
    ),
    '',
    ...(shrinkLeft.length > 0
      ? [
          `Shrinks, request → \`roo shrink\` exited and every leaver exited (0): ` +
            shrinkLeft.map((x) => `${stepName(x.st.from, x.st.to)} ${spread(x.left)}`).join(', ') +
            '.',
          '',
        ]
      : []),
    ...(runs.length > 0
      ? [
          `Start-up of the initializer ${countSpread(
            runs.map((x) => x.startSeconds),
            (s) => `${s.toFixed(2)} s`,
          )}; every key's first output ${countSpread(
            runs.map((x) => x.fillSeconds),
            (s) => `${s.toFixed(2)} s`,
          )} after the sender's start.`,
          '',
        ]
      : []),
  ];
}

/** The baseline table. */
function renderBaseline(r: ScalingResults): string[] {
  const o = r.options;
  const sizes = [...new Set(r.baselines.map((b) => b.workers))].sort((a, b) => a - b);
  const rows = sizes.map((n) => {
    const runs = r.baselines.filter((b) => b.workers === n);
    return [
      String(n),
      String(runs.length),
      spread(runs.map((b) => b.steadyGapMs)),
      spread(runs.map((b) => b.exitMs)),
      spread(runs.map((b) => b.readyMs)),
      spread(runs.map((b) => b.gapMs)),
      spread(
        runs.map((b) => b.paceMs),
        NOT_BEFORE_END,
      ),
      countSpread(runs.map((b) => b.check.extra)),
      countSpread(runs.map((b) => b.check.lostUpdates)),
      countSpread(runs.map((b) => b.check.wrongKeys)),
    ];
  });
  return [
    `### Baseline: checkpoint, stop every worker, restart from the checkpoint, send the lost window again`,
    '',
    `How a user of a system without live rescaling (Flink, Bytewax, Hazelcast Jet) changes the ` +
      `worker count: take a checkpoint, stop the job, start it with the new count, restore. roo ` +
      `cannot restart from a checkpoint with another worker count, so here the cluster of the ` +
      `step's new size restarts at that size: a cluster with \`--run-with-resilience\` ` +
      `(checkpoints every ${o.checkpointMs} ms) and an acknowledging \`roo send\` at the same ` +
      `rate; once every key exists and ${o.settleSeconds} s have passed, at the next ` +
      `\`checkpoint K committed\` line every worker is SIGKILLed, and the same commands are started ` +
      `again at once: the cluster restores checkpoint K and \`roo send\` reconnects and sends ` +
      `again what came after it (the lost window). The whole state is restored whatever the ` +
      `count. Times from the kill; back on pace: from the kill until, once every worker is ready, the keys' counts have risen by as much as the input since the kill (within ${PACE_SLACK_MS} ms of input): the lost window and what came during the restart are through; it can only be seen while the input lasts. The sink is at-least-once: what the workers had put out after ` +
      `the checkpoint comes out again ("outputs again"); the state must still be exact (updates ` +
      `lost and keys with a wrong final count 0).`,
    '',
    markdownTable(
      [
        'workers',
        'runs',
        'longest gap, steady',
        'kill → processes gone',
        'kill → every worker ready',
        'longest output gap',
        'back on pace',
        'outputs again',
        'updates lost',
        'keys wrong',
      ],
      rows,
    ),
    '',
  ];
}

/** roo's steps against the baseline of their new size. */
function renderVersus(r: ScalingResults): string[] {
  const steps = stepsOf(r.options.steps);
  const rows = steps.map((st, i) => {
    const roo = stepResults(r, i);
    const base = r.baselines.filter((b) => b.workers === st.to);
    const rooGap = roo.length > 0 ? median(roo.map((s) => s.gapMs)) : undefined;
    const baseGap = base.length > 0 ? median(base.map((b) => b.gapMs)) : undefined;
    return [
      stepName(st.from, st.to),
      spread(roo.map((s) => s.gapMs)),
      `${spread(base.map((b) => b.gapMs))}`,
      rooGap === undefined || baseGap === undefined || baseGap === 0
        ? 'n/a'
        : `${(rooGap / baseGap).toFixed(3)}x`,
      spread(
        roo.map((s) => s.paceMs),
        NOT_BEFORE_NEXT,
      ),
      spread(
        base.map((b) => b.paceMs),
        NOT_BEFORE_END,
      ),
    ];
  });
  return [
    `### Per step: roo's live step against the baseline's restart`,
    '',
    `The baseline of a step is the restart of a cluster of the step's new size (the table above). ` +
      `roo / baseline: the medians' ratio (below 1: roo's longest gap is shorter).`,
    '',
    markdownTable(
      [
        'step (workers)',
        'roo: longest output gap',
        'baseline (restart at the new size): longest output gap',
        'roo / baseline',
        'roo: back on pace',
        'baseline: back on pace',
      ],
      rows,
    ),
    '',
  ];
}

/** One row of the check table. */
function checkRow(run: string, c: CountCheck): string[] {
  return [
    run,
    String(c.expected),
    String(c.received),
    String(c.missing),
    String(c.extra),
    String(c.lostUpdates),
    String(c.wrongKeys) + (c.examples.length > 0 ? ` (${c.examples.join('; ')})` : ''),
    String(c.badLines),
  ];
}

/** Lost and duplicated outputs of every run. */
function renderCheck(r: ScalingResults): string[] {
  const rows = [
    ...r.steps.map((s) => checkRow(`steps, rep ${s.rep}`, s.check)),
    ...r.baselines.map((b) =>
      checkRow(`baseline ${workersText(b.workers)}, rep ${b.rep} (at-least-once replay)`, b.check),
    ),
  ];
  return [
    `### Outputs against what was sent`,
    '',
    `Each run's sender sends a known number of lines of the file (\`--messages\`), so each key's ` +
      `words sent are known independently of the cluster; word count puts out one \`word => ` +
      `count\` line per word. Lost: outputs expected and not received, per key; duplicated: ` +
      `received beyond those expected, per key; updates lost: counts a key's final state never ` +
      `reached; keys wrong: final count not what was sent, or (as many outputs as words) not the ` +
      `counts 1..n once each.`,
    '',
    markdownTable(
      [
        'run',
        'words sent',
        'outputs',
        'lost',
        'duplicated',
        'updates lost',
        'keys wrong',
        'bad lines',
      ],
      rows,
    ),
    '',
  ];
}

/** The targets. */
function renderTargets(r: ScalingResults): string[] {
  const steps = stepsOf(r.options.steps);
  const lines = steps.map(
    (st, i) =>
      `- longest output gap during step ${stepName(st.from, st.to)} ≤ ${fmtMs(GAP_TARGET_MS)} with ` +
      `${r.options.keys} keys: ${gapVerdict(stepResults(r, i).map((s) => s.gapMs))}`,
  );
  const checks = r.steps.map((s) => s.check);
  const lost = checks.reduce((a, c) => a + c.missing, 0);
  const dup = checks.reduce((a, c) => a + c.extra, 0);
  const wrong = checks.reduce((a, c) => a + c.wrongKeys + c.badLines, 0);
  lines.push(
    `- 0 lost, 0 duplicated over the steps runs (against the count of what was sent): ` +
      (checks.length === 0
        ? 'NOT RUN'
        : `**${lost === 0 && dup === 0 && wrong === 0 ? 'MET' : 'MISSED'}** (${lost} lost, ${dup} ` +
          `duplicated, ${wrong} keys wrong or lines bad, over ${checks.length} run${checks.length === 1 ? '' : 's'})`),
  );
  return ['### Targets', '', ...lines, ''];
}

/** The foot of the report: the commands and the load. */
function renderFooter(r: ScalingResults): string[] {
  const o = r.options;
  const loads = (xs: readonly { otherLoad: number }[]): string =>
    xs.length === 0
      ? 'n/a'
      : countSpread(
          xs.map((x) => x.otherLoad),
          (c) => c.toFixed(2),
        );
  return [
    `Reproduce: \`${scalingReproduceCommand(o, ['steps', 'baseline'], r.rate)}\` ` +
      `(the steps alone: \`--only steps\`; the baseline alone: \`--only baseline\`; without ` +
      `\`--rate\` the maximum is measured again first). Machine: ${r.machineLine}. Load: other ` +
      `processes kept ${loads(r.steps)} cores busy during the steps runs, ${loads(r.baselines)} ` +
      `during the baseline runs${r.max === undefined ? '' : `, ${r.max.otherLoad.toFixed(2)} during the maximum`} ` +
      `(${r.idleOtherLoad.toFixed(2)} in the idle probe before the run).`,
    '',
  ];
}

/** The markdown report of a run. */
export function renderScalingReport(r: ScalingResults): string {
  const o = r.options;
  const title = o.steps.join(' → ');
  const rateLine =
    r.rate === undefined
      ? 'none (the maximum failed)'
      : o.rate !== undefined
        ? `${formatRate(r.rate)} words/s, given by --rate`
        : `${formatRate(r.rate)} words/s, half of 1 worker's maximum of ${formatRate(r.max?.rate ?? NaN)} ` +
          `words/s measured first (unpaced \`roo send --no-acks\`, every key filled in ` +
          `${r.max?.fillSeconds.toFixed(2)} s, then ${o.maxSeconds} s of warm-up and a ${o.maxSeconds} s window; ` +
          `machine ${r.max?.machineCores.toFixed(2)} cores busy)`;
  const out: string[] = [
    `## Scaling: word count on ${title} workers with ${o.keys} keys of state, ${r.startedAt}`,
    '',
    `**Command:** \`${r.command}\``,
    `**Flags:** \`${describeScalingOptions(o)}\``,
    r.machine,
    `**Code:** ${r.code}`,
    `**Input:** ${o.keys} distinct words \`k0\`..\`k${o.keys - 1}\`, ${o.wordsPerLine} to a line ` +
      `(${r.input.lines} lines, ${fmtBytes(r.input.bytes)} a pass; every key once a pass), sent round ` +
      `and round by \`roo send --repeat --messages M\`; word count (examples/word_count/app.ts), ` +
      `\`--ponythreads 1\` per worker; every worker's \`--out\` to a receiver in the bench process ` +
      `that stamps every chunk of outputs on arrival and decodes every \`word => count\` line.`,
    `**Rate:** ${rateLine}.`,
    `**Load probe:** before the run, other processes kept ${r.idleOtherLoad.toFixed(2)} cores busy ` +
      `(1 s idle probe); load average ${r.loadAverageStart} at the start, ${r.loadAverageEnd} at ` +
      `the end; whole run ${r.seconds.toFixed(0)} s.`,
    '',
  ];
  if (o.only.has('steps')) out.push(...renderSteps(r));
  if (o.only.has('baseline')) out.push(...renderBaseline(r));
  if (o.only.has('steps') && o.only.has('baseline')) out.push(...renderVersus(r));
  out.push(...renderCheck(r));
  if (o.only.has('steps')) out.push(...renderTargets(r));
  out.push(...renderFooter(r));
  if (r.rebuilt.length > 0) {
    out.push(
      `**Warning:** ${r.rebuilt.length} compiled engine files under dist/ changed during the run ` +
        `(another build): runs started after that ran other code. For example ` +
        `${r.rebuilt.slice(0, 3).join(', ')}.`,
      '',
    );
  }
  if (r.failures.length > 0) {
    out.push('### Failures', '');
    for (const f of r.failures) {
      const what =
        f.part === 'baseline'
          ? `baseline ${workersText(f.workers ?? 0)}, rep ${f.rep}`
          : `${f.part}, rep ${f.rep}`;
      out.push(`- **${what}**: ${f.message.replace(/\n/g, '\n  ')}`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** Markers of the scaling benchmark's block in RESULTS.md. */
export const SCALING_MARKERS: SectionMarkers = {
  begin: '<!-- scaling: written by node dist/bench/scaling.js --write-results -->',
  end: '<!-- scaling: end of the generated part -->',
};

/** RESULTS.md with `report` between the scaling markers (see withSection). */
export function withScalingSection(previous: string, report: string): string {
  return withSection(previous, SCALING_MARKERS, report);
}
