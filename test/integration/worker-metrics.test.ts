/**
 * `roo worker --metrics ADDR` with real processes: word count
 * (examples/word_count) over the GPL, with nothing listening at ADDR, with
 * a receiver that accepts and never reads, and with a receiver that decodes
 * every report. Whatever the receiver does, the worker's output is exact;
 * a stalled receiver costs reports (dropped, counted), never memory; and
 * the reports' message counts add up to what was sent.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMetricsMessage, FrameDecoder, type MetricsMessage } from '../../protocols/index.js';
import { freePort } from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import {
  LOCAL,
  ROOT,
  rooSend,
  runRoo,
  startReceive,
  startWorker,
  stopAll,
} from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const TEXT = readFileSync(GPL, 'utf8');
const REFERENCE = referenceWordCounts(TEXT);
const WORDS = total(REFERENCE);
/** Lines `roo send` sends: one message each (it drops the file's last newline). */
const LINES = TEXT.replace(/\n$/, '').split('\n').length;

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  await stopAll();
  // A stalled connection never reads its end: destroyed, or the server would not close.
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

/** A TCP server on 127.0.0.1:0 calling `onSocket` per connection. */
async function listen(onSocket: (s: Socket) => void): Promise<string> {
  const server = createServer((s) => {
    sockets.push(s);
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, LOCAL, () => r()));
  const a = server.address();
  return `${LOCAL}:${typeof a === 'object' && a !== null ? a.port : 0}`;
}

/** Word count at 2 threads with `extra` flags; sends the GPL, checks the output is exact, returns the worker. */
async function countExactly(extra: readonly string[], env: Record<string, string> = {}) {
  const receive = await startReceive();
  const worker = await startWorker({
    module: 'examples/word_count/app.ts',
    threads: 2,
    out: receive.address,
    extra,
    env,
  });
  await rooSend(worker.source, GPL);
  await receive.proc.waitForStdoutLines(WORDS);
  return { receive, worker };
}

/** The worker's status record (`roo status --json`). */
async function status(external: string): Promise<Record<string, unknown>> {
  const r = await runRoo(['status', external, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Resident set size of process `pid`, bytes (Linux /proc). */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

describe('roo worker --metrics', () => {
  it('counts exactly as without when nothing listens at ADDR, and says so once', async () => {
    const nobody = `${LOCAL}:${await freePort()}`;
    const { receive, worker } = await countExactly(['--metrics', nobody]);
    expect((await worker.proc.stop()).code).toBe(0);
    expect((await receive.proc.stop()).code).toBe(0);
    expect(receive.proc.stdoutLines).toBe(WORDS);
    expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), REFERENCE)).toEqual([]);
    const warnings = worker.proc.stderr.match(/metrics receiver at \S+ unreachable/g) ?? [];
    expect(warnings).toHaveLength(1);
    expect(worker.proc.stderr).not.toMatch(/ROO_ERR_/);
  });

  it('with a receiver that accepts and never reads: counts exactly, drops reports, memory stays bounded', async () => {
    const stalled: Socket[] = [];
    const address = await listen((s) => {
      // Never read: the worker's socket and then its send buffer fill.
      s.pause();
      stalled.push(s);
    });
    const external = `${LOCAL}:${await freePort()}`;
    // Reports every 1 ms (as often as takes come) instead of 2 s, so that the kernel's
    // socket buffers (some MB on loopback) and then the reporter's 1 MiB fill within the test.
    const receive = await startReceive();
    const worker = await startWorker({
      module: 'examples/word_count/app.ts',
      threads: 2,
      out: receive.address,
      extra: ['--metrics', address, '--external', external],
      env: { ROO_METRICS_PERIOD_MS: '1' },
    });
    const pid = worker.proc.child.pid!;
    const samples = [rss(pid)];
    const sampler = setInterval(() => samples.push(rss(pid)), 100);
    try {
      // Text through the pipeline again and again while reports pile up unread.
      let dropped = 0;
      let round = 0;
      while (dropped === 0) {
        round++;
        await rooSend(worker.source, GPL);
        await receive.proc.waitForStdoutLines(WORDS * round);
        const m = (await status(external))['metrics'] as { reporter: { dropped: number } } | null;
        dropped = m?.reporter.dropped ?? 0;
        expect(round).toBeLessThan(200);
      }
    } finally {
      clearInterval(sampler);
    }
    expect(stalled.length).toBeGreaterThan(0);
    const after = ((await status(external))['metrics'] as { reporter: Record<string, unknown> })
      .reporter;
    expect(after).toMatchObject({ address, phase: 'connected' });
    expect(after['dropped']).toBeGreaterThan(0);
    // The send buffer holds at most 1 MiB of reports: the worker's memory does not grow with them.
    expect(Math.max(...samples)).toBeLessThan(400 * 1024 * 1024);
    const lines = receive.proc.stdoutLines;
    expect((await worker.proc.stop()).code).toBe(0);
    await receive.proc.stop();
    expect(receive.proc.stdoutLines).toBe(lines);
    expect(lines % WORDS).toBe(0);
    expect(worker.proc.stderr).toMatch(/does not read: reports are dropped/);
  }, 300_000);

  it('with a receiver that decodes them: a hello, then reports whose counts add up to what was sent', async () => {
    const messages: MetricsMessage[] = [];
    const totals = { lines: 0, words: 0, outputs: 0 };
    let done: () => void = () => undefined;
    const allCounted = new Promise<void>((r) => (done = r));
    const address = await listen((s) => {
      const frames = new FrameDecoder();
      s.on('data', (chunk) =>
        frames.push(chunk, (payload) => {
          const m = decodeMetricsMessage(payload);
          messages.push(m);
          if (m.type !== 'report') return;
          totals.lines += m.steps.find((x) => x.kind === 'source')?.messages ?? 0;
          totals.words += m.steps.find((x) => x.kind === 'state')?.messages ?? 0;
          totals.outputs += m.pipelines[0]?.messages ?? 0;
          if (totals.lines === LINES && totals.outputs === WORDS) done();
        }),
      );
    });
    const { receive, worker } = await countExactly(['--metrics', address], {
      ROO_METRICS_PERIOD_MS: '200',
    });
    await allCounted;
    expect(totals).toEqual({ lines: LINES, words: WORDS, outputs: WORDS });
    const [hello, ...reports] = messages;
    expect(hello).toMatchObject({
      type: 'hello',
      worker: 'initializer',
      app: 'Word Count',
      threads: 2,
      pipelines: [
        {
          steps: [
            { kind: 'source' },
            { name: 'split', kind: 'computation' },
            { name: 'count word', kind: 'state' },
            { kind: 'sink' },
          ],
        },
      ],
    });
    expect(reports.map((r) => (r.type === 'report' ? r.seq : -1))).toEqual(
      reports.map((_, i) => i),
    );
    // Every word passed a sink: the latency markers found their way through.
    const markers = reports.reduce(
      (n, r) => n + (r.type === 'report' ? (r.pipelines[0]?.latency.count ?? 0) : 0),
      0,
    );
    expect(markers).toBeGreaterThan(0);
    expect((await worker.proc.stop()).code).toBe(0);
    await receive.proc.stop();
  });

  it('ROO_LOG_FORMAT=json: every log line is a JSON object with level, time, worker, thread and msg', async () => {
    // Where the source listens is in a JSON line now: a port given up front.
    const source = `${LOCAL}:${await freePort()}`;
    const receive = await startReceive();
    const worker = await startWorker({
      module: 'examples/word_count/app.ts',
      threads: 2,
      out: receive.address,
      in: source,
      env: { ROO_LOG_FORMAT: 'json' },
    });
    await rooSend(source, GPL);
    await receive.proc.waitForStdoutLines(WORDS);
    expect((await worker.proc.stop()).code).toBe(0);
    await receive.proc.stop();
    const lines = worker.proc.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(record)).toEqual(
        expect.arrayContaining(['level', 'time', 'worker', 'thread', 'msg']),
      );
    }
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain(
      'Worker shut down cleanly.',
    );
  });
});
