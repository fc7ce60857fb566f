/**
 * The markdown report of a `roo bench` run: the machine, flags and load
 * probe, a table per part with its baseline (the throughput tables are in
 * report-throughput.ts, the latency tables in report-latency.ts), the
 * targets, and the load per part; and bench/RESULTS.md as
 * `--write-results` rewrites it.
 */
import type { MemoryResult } from './memory.js';
import { renderLatency } from './report-latency.js';
import { renderThroughput, tableFooter } from './report-throughput.js';
import type { BenchResults } from './run.js';
import { describeOptions } from './run-options.js';
import { formatRate, markdownTable } from './stats.js';
import { evaluateTargets, mb } from './targets.js';

/** RSS series in MB, one value per `stepMs`. */
export function rssSeries(m: Pick<MemoryResult, 'samples'>, stepMs: number): string {
  const out: string[] = [];
  let next = 0;
  for (const s of m.samples) {
    if (s.ms >= next) {
      out.push((s.bytes / (1024 * 1024)).toFixed(0));
      next += stepMs;
      while (s.ms >= next) next += stepMs;
    }
  }
  return out.join(' ');
}

/** The markdown report of a run. */
export function renderReport(r: BenchResults): string {
  const o = r.options;
  const loadOf = (part: string): string => {
    const l = r.loads.find((x) => x.part === part);
    return l === undefined ? '' : l.otherLoad.toFixed(2);
  };
  const out: string[] = [];
  out.push(`## roo bench, ${r.startedAt}`);
  out.push('');
  out.push(`**Command:** \`${r.command}\``);
  out.push(`**Flags:** \`${describeOptions(o)}\``);
  out.push(r.machine);
  out.push(`**Code:** ${r.code}`);
  if (r.corpus !== undefined) {
    const c = r.corpus;
    out.push(
      `**Corpus:** ${(c.bytes / 1e6).toFixed(1)} MB generated (seed ${o.seed}), ${c.lines} lines, ` +
        `${c.words} words, ${c.distinct} distinct`,
    );
  }
  out.push(
    `**Load probe:** before the run, other processes kept ${r.idleOtherLoad.toFixed(2)} cores busy (1 s idle probe); ` +
      `load average ${r.loadAverageStart} at the start, ${r.loadAverageEnd} at the end; ` +
      `whole run ${r.seconds.toFixed(0)} s. Per part, "other load" = cores kept busy by ` +
      `processes that are not this bench or its children (about 0.00 on a quiet machine).`,
  );
  out.push('');

  out.push(...renderThroughput(r));

  out.push(...renderLatency(r));

  if (r.memory !== undefined) {
    const m = r.memory;
    out.push(
      `### Memory (roo worker, 2 threads, sink 10× slower than the sender), ${r.rateSource ?? ''}`,
    );
    out.push('');
    out.push(
      markdownTable(
        [
          'sender paced at',
          'receiver reads',
          'run',
          'idle RSS',
          'peak RSS',
          'first quarter mean / peak',
          'last quarter mean / peak',
          'flat',
          'other load',
        ],
        [
          [
            `${formatRate(m.senderRate)} words/s`,
            `${formatRate(m.receiverRate)} outputs/s`,
            `${m.seconds.toFixed(1)} s`,
            mb(m.idleBytes),
            mb(m.peakBytes),
            `${mb(m.firstQuarter.mean)} / ${mb(m.firstQuarter.peak)}`,
            `${mb(m.lastQuarter.mean)} / ${mb(m.lastQuarter.peak)}`,
            m.flat ? 'yes' : 'no',
            loadOf('memory'),
          ],
        ],
      ),
    );
    out.push('');
    out.push(`RSS every second, MB: ${rssSeries(m, 1000)}`);
    out.push('');
    out.push(
      `Backpressure: \`roo send\` sent ${m.linesSent} lines of the ${m.linesPlanned} its pacing allowed ` +
        `(${((100 * m.linesSent) / Math.max(m.linesPlanned, 1)).toFixed(0)} %); the receiver read ${m.outputsRead} outputs.`,
    );
    out.push('');
    // The memory part reads --latency-rate as words/s (the sender's pace).
    out.push(
      tableFooter(
        r,
        `node bin/roo bench --only memory --mb ${o.mb} --seed ${o.seed} ` +
          `--latency-rate ${Math.round(m.senderRate)} --memory-seconds ${o.memorySeconds}`,
        ['memory'],
      ),
    );
    out.push('');
  }

  out.push('### Targets');
  out.push('');
  out.push(
    markdownTable(
      ['target', 'measured', 'status'],
      evaluateTargets(r).map((t) => [t.target, t.measured, t.status]),
    ),
  );
  out.push('');
  if (r.failures.length > 0) {
    out.push('### Failures');
    out.push('');
    for (const f of r.failures) out.push(`- **${f.part}**: ${f.message.replace(/\n/g, '\n  ')}`);
    out.push('');
  }
  out.push('### Load per part');
  out.push('');
  out.push(
    markdownTable(
      ['part', 'wall', 'this process', 'its children', 'other load'],
      r.loads.map((l) => [
        l.part,
        `${l.seconds.toFixed(1)} s`,
        `${l.ownCpu.toFixed(2)} cores`,
        `${l.childCpu.toFixed(2)} cores`,
        `${l.otherLoad.toFixed(2)} cores`,
      ]),
    ),
  );
  return out.join('\n');
}

/** Marks the start of the hand-written notes RESULTS.md keeps across rewrites. */
export const NOTES_MARKER =
  '<!-- notes: kept when roo bench --write-results rewrites this file -->';

/**
 * The new RESULTS.md: a fixed head, the report, and the notes section of
 * `previous` (everything from NOTES_MARKER on), if it has one.
 */
export function resultsFile(report: string, previous: string | undefined): string {
  const at = previous?.indexOf(NOTES_MARKER) ?? -1;
  const notes = previous !== undefined && at >= 0 ? previous.slice(at) : `${NOTES_MARKER}\n`;
  return [
    '# Benchmark results',
    '',
    'Written by `roo bench --write-results` (bench/run.ts); bench/README.md explains each part.',
    "The machine these were taken on is shared with other engineers' jobs: the load probe",
    'and the "other load" columns say how busy the rest of it was. Rates taken under other',
    'load understate roo and its baselines alike; the ratios, measured interleaved in the',
    'same run, are the figures to compare.',
    '',
    report,
    '',
    notes.endsWith('\n') ? notes : `${notes}\n`,
  ].join('\n');
}
