/**
 * Rebalancing a worker's threads under skewed keys:
 *
 *   node dist/bench/rebalance.js [--threads 2] [--reps 3] [--hot-share 0.9]
 *     [--rate 300000] [--seconds 4] [--warmup-seconds 3] [--write-results]
 *
 * A worker alone runs word count on --threads scheduler threads. Its input,
 * paced by `roo send` at --rate words/s, is skewed: --hot-share of the words
 * have keys whose key groups live on thread 0 (key group g is on thread
 * g mod threads), the rest spread evenly. After a warm-up, a window measures
 * each thread's busy time (its event-loop utilization over the window) and
 * the messages it delivered; then `roo rebalance` runs, and after a second
 * of settling the same window is measured again. Reported per fresh process
 * (--reps), with the spread: the busiest thread against the mean, before and
 * after, for both measures, the groups moved and the pause. Target: after the
 * rebalance the busiest thread's utilisation is within 1.2x of the mean.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dynamicGrouper } from '../runtime/topology/key-groups.js';
import { BenchChild, rootDir } from './bench-child.js';
import { withSection } from './resilience-report.js';
import { formatMachineLine, markdownTable, summarize } from './stats.js';

interface Options {
  readonly threads: number;
  readonly reps: number;
  readonly hotShare: number;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly writeResults: boolean;
}

const USAGE = `usage: node dist/bench/rebalance.js [--threads N] [--reps N] [--hot-share F] [--rate N]
  [--seconds N] [--warmup-seconds N] [--write-results]
`;

function parse(argv: readonly string[]): Options {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      threads: { type: 'string' },
      reps: { type: 'string' },
      'hot-share': { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      'warmup-seconds': { type: 'string' },
      'write-results': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const num = (x: string | undefined, d: number) => (x === undefined ? d : Number(x));
  return {
    threads: num(v.threads, 2),
    reps: num(v.reps, 3),
    hotShare: num(v['hot-share'], 0.9),
    rate: num(v.rate, 300_000),
    seconds: num(v.seconds, 4),
    warmupSeconds: num(v['warmup-seconds'], 3),
    writeResults: v['write-results'] === true,
  };
}

/** A file of skewed lines: `hotShare` of the words on thread 0's key groups. */
function skewedInput(dir: string, o: Options): string {
  const grouper = dynamicGrouper(256);
  const hot: string[] = [];
  const cold: string[] = [];
  for (let i = 0; hot.length < 2_000 || cold.length < 2_000; i++) {
    const w = `w${i.toString(36)}`;
    if (grouper.groupOf(w) % o.threads === 0) {
      if (hot.length < 2_000) hot.push(w);
    } else if (cold.length < 2_000) cold.push(w);
  }
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const lines: string[] = [];
  for (let l = 0; l < 20_000; l++) {
    const words: string[] = [];
    for (let k = 0; k < 10; k++) {
      const list = random() < o.hotShare ? hot : cold;
      words.push(list[Math.floor(random() * list.length)] as string);
    }
    lines.push(words.join(' '));
  }
  const path = join(dir, 'skewed.txt');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** A sink that reads and drops everything. */
async function nullSink(): Promise<{ server: Server; address: string }> {
  const server = createServer((s) => s.on('data', () => undefined).on('error', () => undefined));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const a = server.address() as { port: number };
  return { server, address: `127.0.0.1:${a.port}` };
}

interface ThreadSample {
  readonly utilization: number;
  readonly delivered: number;
}

/** Each thread's cumulative utilization and deliveries, and the worker's uptime. */
async function sample(external: string): Promise<{ uptimeMs: number; threads: ThreadSample[] }> {
  const c = BenchChild.roo(['status', external, '--json']);
  const lines: string[] = [];
  c.onLine((l) => lines.push(l));
  await c.exited;
  const s = JSON.parse(lines.join('\n')) as {
    uptimeMs: number;
    threadStats: { utilization: number; delivered: number }[];
  };
  return {
    uptimeMs: s.uptimeMs,
    threads: s.threadStats.map((t) => ({ utilization: t.utilization, delivered: t.delivered })),
  };
}

/** Per thread over a window: busy share (from cumulative utilizations) and messages delivered. */
function windowed(
  a: Awaited<ReturnType<typeof sample>>,
  b: Awaited<ReturnType<typeof sample>>,
): { busy: number[]; delivered: number[] } {
  const span = b.uptimeMs - a.uptimeMs;
  return {
    busy: b.threads.map((t, i) => {
      const before = a.threads[i] as ThreadSample;
      return Math.max(0, (t.utilization * b.uptimeMs - before.utilization * a.uptimeMs) / span);
    }),
    delivered: b.threads.map((t, i) => t.delivered - (a.threads[i] as ThreadSample).delivered),
  };
}

/** The busiest over the mean. */
function skew(values: readonly number[]): number {
  const mean = values.reduce((x, y) => x + y, 0) / values.length;
  return mean === 0 ? 1 : Math.max(...values) / mean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rep {
  readonly busyBefore: number[];
  readonly busyAfter: number[];
  readonly deliveredBefore: number[];
  readonly deliveredAfter: number[];
  readonly answer: string;
}

async function oneRep(o: Options, input: string): Promise<Rep> {
  const sink = await nullSink();
  const worker = BenchChild.roo([
    'worker',
    ...['--application-module', 'examples/word_count/app.ts', '--name', 'worker'],
    ...['--in', '127.0.0.1:0', '--out', sink.address, '--external', '127.0.0.1:0'],
    ...['--ponythreads', String(o.threads)],
  ]);
  try {
    const source = (
      await worker.waitForLine(/source '.+?' listening on (\S+:\d+)$/, 'its source')
    )[1]!;
    const external = (
      await worker.waitForLine(/external channel listening on (\S+:\d+)$/, 'its external channel')
    )[1]!;
    const linesPerSec = o.rate / 10;
    const batch = Math.max(1, Math.round(linesPerSec / 100));
    const send = BenchChild.roo([
      ...['send', '--host', source, '--file', input, '--repeat', '--no-acks'],
      ...[
        '--batch-size',
        String(batch),
        '--interval',
        String(Math.round((batch / linesPerSec) * 1e9)),
      ],
    ]);
    try {
      await sleep(o.warmupSeconds * 1000);
      const a = await sample(external);
      await sleep(o.seconds * 1000);
      const b = await sample(external);
      const r = BenchChild.roo(['rebalance', '--external', external]);
      const out: string[] = [];
      r.onLine((l) => out.push(l));
      await r.exited;
      await sleep(1000);
      const c = await sample(external);
      await sleep(o.seconds * 1000);
      const d = await sample(external);
      const before = windowed(a, b);
      const after = windowed(c, d);
      return {
        busyBefore: before.busy,
        busyAfter: after.busy,
        deliveredBefore: before.delivered,
        deliveredAfter: after.delivered,
        answer: out.join(' ').trim(),
      };
    } finally {
      await send.stop();
    }
  } finally {
    await worker.stop();
    sink.server.close();
  }
}

function spread(values: readonly number[], digits = 2): string {
  const s = summarize(values);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`;
}

async function main(argv: readonly string[]): Promise<number> {
  const o = parse(argv);
  const dir = mkdtempSync(join(tmpdir(), 'roo-bench-rebalance-'));
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  try {
    const input = skewedInput(dir, o);
    const reps: Rep[] = [];
    for (let i = 0; i < o.reps; i++) {
      process.stderr.write(`rep ${i + 1} of ${o.reps}\n`);
      const rep = await oneRep(o, input);
      process.stderr.write(
        `  busy ${rep.busyBefore.map((x) => x.toFixed(2)).join('/')} -> ${rep.busyAfter.map((x) => x.toFixed(2)).join('/')}; ${rep.answer}\n`,
      );
      reps.push(rep);
    }
    const cmd = `node dist/bench/rebalance.js --threads ${o.threads} --reps ${o.reps} --hot-share ${o.hotShare} --rate ${o.rate} --seconds ${o.seconds} --warmup-seconds ${o.warmupSeconds}`;
    const afterSkews = reps.map((r) => skew(r.busyAfter));
    const report = [
      `## Thread rebalancing under skewed keys, ${new Date().toISOString()}`,
      '',
      `**Command:** \`${cmd}\``,
      `**Machine:** ${formatMachineLine()}; load average ${load} at the start, ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} at the end`,
      `**Setup:** a worker alone, word count, \`--ponythreads ${o.threads}\`; \`roo send\` paced at ${o.rate} words/s of a file where ${Math.round(o.hotShare * 100)} % of the words have keys on thread 0's key groups; ${o.warmupSeconds} s warm-up, a ${o.seconds} s window, \`roo rebalance\`, 1 s settling, a second ${o.seconds} s window; ${o.reps} fresh processes, median (min..max).`,
      '',
      markdownTable(
        ['measure', 'before: busiest / mean', 'after: busiest / mean'],
        [
          [
            'thread utilization over the window',
            spread(reps.map((r) => skew(r.busyBefore))),
            spread(afterSkews),
          ],
          [
            'messages delivered per thread',
            spread(reps.map((r) => skew(r.deliveredBefore))),
            spread(reps.map((r) => skew(r.deliveredAfter))),
          ],
        ],
      ),
      '',
      'Threads busy (share of the window) per rep, before -> after:',
      '',
      ...reps.map(
        (r, i) =>
          `- rep ${i + 1}: ${r.busyBefore.map((x) => x.toFixed(2)).join(' / ')} -> ${r.busyAfter.map((x) => x.toFixed(2)).join(' / ')}; \`roo rebalance\`: ${r.answer}`,
      ),
      '',
      `Target: after the rebalance the busiest thread's utilization within 1.2x of the mean: **${summarize(afterSkews).median <= 1.2 ? 'MET' : 'MISSED'}** (median ${summarize(afterSkews).median.toFixed(2)}x, worst ${Math.max(...afterSkews).toFixed(2)}x).`,
    ].join('\n');
    process.stdout.write(report + '\n');
    if (o.writeResults) {
      const path = join(rootDir(), 'bench', 'RESULTS.md');
      writeFileSync(
        path,
        withSection(
          readFileSync(path, 'utf8'),
          {
            begin: '<!-- rebalance: written by node dist/bench/rebalance.js --write-results -->',
            end: '<!-- rebalance: end of the generated part -->',
          },
          report,
        ),
      );
      process.stderr.write(`wrote ${path}\n`);
    }
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
