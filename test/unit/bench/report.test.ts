import { describe, expect, it } from 'vitest';
import { renderReport } from '../../../bench/report.js';
import { renderThroughput } from '../../../bench/report-throughput.js';
import { fakeResults, options } from './bench-fakes.js';

/** The markdown table row whose first cells are `cells`. */
function rowStarting(text: string, ...cells: string[]): string {
  const prefix = `| ${cells.join(' | ')} |`;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no row starts with ${prefix}`);
  return line;
}

describe('roo bench report', () => {
  it('heads the report with the command, flags, machine and load probe', () => {
    const text = renderReport(fakeResults());
    expect(text).toContain('**Command:** `node bin/roo bench --threads 1,2,4`');
    expect(text).toContain('**Flags:** `--mb 20 --reps 3');
    expect(text).toContain('--threads 1,2,4 --warmup-seconds 3 --seconds 6');
    expect(text).toContain('**Machine:** test');
    expect(text).toContain('**Load probe:**');
  });

  it('tables (a) and (c) by thread count with the ratios to 1 thread and to (a)', () => {
    const text = renderReport(fakeResults());
    expect(rowStarting(text, '(a) hand-written loop', '1', '3')).toContain(
      '| 10.00 M | 9.50..10.50 M |',
    );
    const two = rowStarting(text, '(c) roo engine in process', '2', '3');
    expect(two).toContain('| 9.00 M | 8.50..9.20 M | 1.500x | 1.417x | 95% / 95% | 300 ns |');
    expect(text).toContain('**1 thread / (a):** 0.600x (6.00 M / 10.00 M words/s, medians).');
    expect(text).toMatch(
      /\*\*Start-up\*\* .*1 thread 0\.25 s \(0\.25\.\.0\.25\); 2 threads 0\.50 s/,
    );
    expect(text).toContain(
      'Reproduce: `node bin/roo bench --only a,c --mb 20 --seed 20241121 --threads 1,2,4 --reps 3 ' +
        '--warmup-seconds 3 --seconds 6`. Machine: Test CPU, 2 cores, Node v20. ' +
        'Load: other processes kept 0.05 cores busy during the part',
    );
  });

  it('tables (d) against the hand-written TCP word count', () => {
    const text = renderReport(fakeResults());
    const hand = rowStarting(text, '(d) roo send → hand-written TCP word count → receiver', '1');
    expect(hand).toContain('| 5.00 M |');
    expect(hand).toContain('| 1.000x |');
    const two = rowStarting(text, '(d) roo send → roo worker → receiver', '2', '3');
    expect(two).toContain('| 3.00 M | 2.90..3.10 M | 1.500x | 1.450x | 0.600x | 300 ns | 0.01 |');
    expect(text).toContain('Reproduce: `node bin/roo bench --only d ');
  });

  it('tables each thread count against the best, to choose --ponythreads', () => {
    const text = renderReport(fakeResults());
    expect(text).toContain('### Choosing --ponythreads (2 cores here)');
    expect(rowStarting(text, '4')).toBe('| 4 | 0.944x | 0.933x |  |  |');
    expect(rowStarting(text, '2')).toBe('| 2 | 1.000x | 0.944x | 1.000x | 0.967x |');
    expect(text).toContain('Best: (c): 2 threads, 9.00 M words/s; (d): 2 threads, 3.00 M words/s.');
  });

  it('lists every process, and its profiles under --profile', () => {
    const r = fakeResults();
    expect(renderReport(r)).not.toContain('**CPU profiles:**');
    r.options = options(['--profile', '/tmp/p']);
    const engine = r.runs.find((p) => p.series === 'engine' && p.threads === 2)!;
    engine.profile = {
      dir: '/tmp/p/c-2t-1',
      files: 2,
      main: true,
      schedulers: 1,
      expectedSchedulers: 2,
    };
    const text = renderReport(r);
    expect(text).toContain('c-2t-1: 2 files, main + 1 of 2 scheduler threads, MISSING');
    expect(text).toContain('**CPU profiles:** under `/tmp/p`');
    expect(text).toContain('0 of 1 processes left every main and scheduler thread');
  });

  it('shows failed processes and leaves out parts that did not run', () => {
    const r = fakeResults();
    r.runs = r.runs.filter((p) => p.series !== 'tcp-roo' && p.series !== 'tcp-hand');
    r.processFailures.push({ series: 'engine', threads: 4, rep: 2, message: 'x' });
    r.rxLoop = undefined;
    const text = renderThroughput(r).join('\n');
    expect(rowStarting(text, '(c) roo engine in process', '4')).toContain('| 3 (+1 failed) |');
    expect(text).not.toContain('### (d)');
    expect(text).not.toContain('### (b)');
    expect(text).toContain('### Choosing --ponythreads');
  });

  it('keeps a row for a thread count whose every process failed', () => {
    const r = fakeResults();
    r.runs = r.runs.filter((p) => !(p.series === 'tcp-roo' && p.threads === 2));
    r.runs = r.runs.filter((p) => p.series !== 'loop');
    for (const rep of [1, 2]) {
      r.processFailures.push({ series: 'tcp-roo', threads: 2, rep, message: 'died' });
      r.processFailures.push({ series: 'loop', threads: 1, rep, message: 'died' });
    }
    const text = renderThroughput(r).join('\n');
    expect(rowStarting(text, '(d) roo send → roo worker → receiver', '2')).toBe(
      '| (d) roo send → roo worker → receiver | 2 | 0 (+2 failed) | n/a |  |  |  |  |  |  |',
    );
    expect(rowStarting(text, '(a) hand-written loop', '1')).toContain('| 0 (+2 failed) | n/a |');
    // The rows stay in thread order.
    const table = text.slice(text.indexOf('### (d)'), text.indexOf('### Choosing'));
    const d = table.split('\n').filter((l) => l.startsWith('| (d) roo send → roo worker'));
    expect(d.map((l) => l.split(' | ')[1])).toEqual(['1', '2']);
  });

  it('reports latency, memory and the targets with how to reproduce them', () => {
    const text = renderReport(fakeResults());
    expect(text).toContain(
      'Reproduce: `node bin/roo bench --only latency --mb 20 --seed 20241121 --latency-rate 150000 ' +
        '--latency-seconds 6 --latency-threads 1,2 --latency-reps 3`',
    );
    expect(text).toContain('--only memory --mb 20 --seed 20241121 --latency-rate 1500000');
    expect(text).toContain(
      "| latency at half of (d)'s rate, roo, 2 threads: p99.99 ≤ 10 ms | 12.00 ms (floor 7.00 ms) | MISSED |",
    );
    expect(text).toContain('| memory with a 10× slower sink: flat, peak < 250 MB |');
  });
});
