/**
 * A new user's mistakes, with real processes: each stops the worker (or the
 * command) at once with exit 2 and a message that says what to write
 * instead, or, for a running worker, is reported once with what it needs to
 * find the fault; nothing hangs. The applications are two a new user might
 * write: orders and quotes from two named TCP sources, JSON lines, one
 * shared partition (test/fixtures/apps/orders-quotes.ts); and word count
 * with a class instance in its state (test/fixtures/apps/class-state.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeResilienceDir, stopClusters } from './helpers/cluster.js';
import { LOCAL, RooProcess, runRoo, startReceive, startWorker } from './helpers/processes.js';

const ORDERS = 'test/fixtures/apps/orders-quotes.ts';
const CLASS_STATE = 'test/fixtures/apps/class-state.ts';
/** Every refusal must come well within this: no hang. */
const REFUSE_MS = 30_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-bad-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await stopClusters();
});

/** `roo worker` of `module` alone with `extra` flags, run to its exit. */
function worker(module: string, extra: readonly string[]) {
  return runRoo(
    [
      'worker',
      ...['--application-module', module, '--out', `${LOCAL}:9`, '--ponythreads', '1'],
      ...extra,
    ],
    REFUSE_MS,
  );
}

/** Lines of a process's stderr that match `pattern`. */
function linesMatching(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((l) => pattern.test(l));
}

describe('bad configuration fails fast, with the fix in the message', () => {
  it('a named --in that matches no source: exit 2, naming the nearest source and the name@HOST:PORT form', async () => {
    const r = await worker(ORDERS, ['--in', `order@${LOCAL}:0,quotes@${LOCAL}:0`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "roo worker: --in order@127.0.0.1:0: no TCP source of 'Orders and Quotes' takes an address named 'order' (did you mean 'orders'?); it asks for 'orders', 'quotes': pass --in orders@HOST:PORT,quotes@HOST:PORT",
    );
    expect(r.stderr).not.toContain('ready to work');
  });

  it('unnamed --in addresses for named sources: exit 2, saying how to name them', async () => {
    const r = await worker(ORDERS, ['--in', `${LOCAL}:0,${LOCAL}:0`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /roo worker: --in 127\.0\.0\.1:0,127\.0\.0\.1:0: the TCP sources of 'Orders and Quotes' take their addresses by name \('orders', 'quotes'\).*pass --in orders@HOST:PORT,quotes@HOST:PORT/,
    );
    expect(r.stderr).not.toContain('ready to work');
  });

  it('two state partitions of one name with different state: refused when built, naming it', async () => {
    const r = await worker(ORDERS, [
      ...['--in', `orders@${LOCAL}:0,quotes@${LOCAL}:0`],
      ...['--', '--two-partitions'],
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /roo worker: application 'Orders and Quotes' has two state partitions named 'book' with different initial functions/,
    );
    expect(r.stderr).toContain('ROO_ERR_BAD_APPLICATION');
  });

  it('unknown flags and commands: exit 2 with the nearest known one', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['worker', '--application-module', ORDERS, '--ponythred', '2'],
        /roo worker: Unknown option '--ponythred'; did you mean '--ponythreads'\?/,
      ],
      [
        ['receive', '--listen', `${LOCAL}:0`, '--outptu', 'x'],
        /Unknown option '--outptu'; did you mean '--output'\?/,
      ],
      [['send', '--host', `${LOCAL}:9`, '--fiel', 'x'], /did you mean '--file'\?/],
      [['wroker'], /roo: unknown command 'wroker' \(did you mean 'worker'\?\)/],
    ];
    const results = await Promise.all(cases.map(([args]) => runRoo(args, REFUSE_MS)));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it('a computation that throws: its error names the step and the key, the input at debug level', async () => {
    const receive = await startReceive();
    const w = await startWorker({
      module: ORDERS,
      threads: 1,
      out: receive.address,
      in: `orders@${LOCAL}:0,quotes@${LOCAL}:0`,
    });
    const input = join(dir, 'orders.txt');
    writeFileSync(input, '{"symbol":"ACME","qty":5}\n{"symbol":"ACME","qty":-3}\nnot json\n');
    const debug = await startWorker({
      module: ORDERS,
      threads: 1,
      out: receive.address,
      in: `orders@${LOCAL}:0,quotes@${LOCAL}:0`,
      env: { ROO_LOG_LEVEL: 'debug' },
    });
    for (const target of [w, debug]) {
      const send = RooProcess.spawn('send', [
        'send',
        ...['--host', target.sources['orders']!, '--file', input, '--no-acks'],
      ]);
      expect((await send.waitForExit()).code).toBe(0);
      await target.proc.waitForStderr(/ROO_ERR_DECODER_FAILED/);
    }
    for (const target of [w, debug]) {
      expect(target.proc.stderr).toMatch(
        /ERROR: .*state computation 'check order': negative quantity -3 \(key "ACME"\)/,
      );
    }
    // The input at debug level only.
    expect(w.proc.stderr).not.toContain('the input it failed on');
    expect(debug.proc.stderr).toContain('the input it failed on: {"symbol":"ACME","qty":-3}');
    expect(debug.proc.stderr).toContain('the input it failed on: 8 bytes: "not json"');
  }, 60_000);

  for (const [when, appArgs] of [
    ['at its first update', []],
    ['at the checkpoint after it changes', ['--', '--plain-first']],
  ] as const) {
    it(`with resilience, a class instance in state (found ${when}): reported once, the worker exits 2, the acking sender is told why`, async () => {
      const receive = await startReceive();
      const resilience = makeResilienceDir();
      const w = await startWorker({
        module: CLASS_STATE,
        threads: 1,
        out: receive.address,
        extra: [
          ...['--run-with-resilience', '--resilience-dir', resilience],
          ...['--time-between-checkpoints', '100000000'],
          ...appArgs,
        ],
      });
      const input = join(dir, 'words.txt');
      writeFileSync(input, 'one two two three three three\n'.repeat(20));
      const send = RooProcess.spawn('send', ['send', '--host', w.source, '--file', input]);
      const exit = await w.proc.waitForExit(REFUSE_MS);
      expect(exit, w.proc.stderr).toEqual({ code: 2, signal: null });
      const fatal = linesMatching(w.proc.stderr, /FATAL/);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatch(
        /state of partition 'word totals' \(key '(one|two|three)'\) cannot be encoded for a checkpoint: the state\.tally is an instance of Tally.*give the partition a codec.*the worker stops/,
      );
      expect(/found at its first update/.test(fatal[0]!)).toBe(appArgs.length === 0);
      // Not at every checkpoint until someone notices (75 lines in 15 s, before): the
      // thread's error once, and the checkpoint that found it (one more, at most, while
      // the worker stops) on the main thread and the coordinator.
      expect(
        linesMatching(w.proc.stderr, /ERROR: \S+\/0: .*cannot be encoded/).length,
      ).toBeLessThanOrEqual(1);
      expect(linesMatching(w.proc.stderr, /cannot be encoded/).length).toBeLessThanOrEqual(6);
      const sent = await send.waitForExit(REFUSE_MS);
      expect(sent.code).toBe(1);
      expect(send.stderr).toMatch(
        /ROO_ERR_SNAPSHOT_ENCODE_FAILED: 127\.0\.0\.1:\d+ closed the stream for good, with \d+ messages not acknowledged: state of partition 'word totals'/,
      );
    }, 60_000);
  }
});
