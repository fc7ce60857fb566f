/**
 * `roo demo` end to end, as a user runs it (bin/roo, dist/): word count on
 * the bundled text comes out exactly right on a cluster of two workers (and
 * on one) although the cluster grows by worker3 and shrinks back while it
 * counts, and a worker is then killed with SIGKILL and restarted; the grow
 * and the shrink show their reconfiguration lines and what moved, the
 * restarted worker logs Wallaroo's recovery lines in order, the state is
 * spread over the workers, `roo shutdown` stops them all with exit 0, and
 * Ctrl-C stops every process the demo started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'roo');

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts `node bin/roo demo <args>`, collecting its output. */
function demo(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const w of waiters.slice()) {
      const m = stdout.match(w.re);
      if (m === null) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    /** Resolves when stdout matches `re`; rejects if the demo exits first. */
    waitFor(re: RegExp): Promise<RegExpMatchArray> {
      const m = stdout.match(re);
      if (m !== null) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exited.then(() =>
          reject(new Error(`demo exited without printing ${re}:\n${stdout}\n${stderr}`)),
        );
      });
    },
  };
}

/** True while a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('roo demo', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'runtime', 'cli', 'demo.js'))) {
      throw new Error("dist/runtime/cli/demo.js is missing: run 'npm run build' first");
    }
  });

  /** The checks every successful run must pass; returns the demo's stdout. */
  async function expectOk(args: string[]): Promise<string> {
    const run = demo(['--messages', '3000', ...args]);
    const code = await run.exited;
    expect(code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/^Check: +OK\b/m);
    expect(run.stdout).not.toMatch(/MISMATCH/);
    expect(run.stdout).toMatch(/^Lines sent: +3,000$/m);
    // 3,000 lines of the GPL: 4 whole passes of its 674 lines and 304 more.
    const [, counted, expected] = run.stdout.match(
      /^Words counted: +([\d,]+) \(expected ([\d,]+)\)$/m,
    )!;
    expect(counted).toBe(expected);
    expect(run.stdout).toMatch(/^Top 10 words:\n +1\. the +[\d,]+$/m);
    expect(run.stdout).toMatch(/^Throughput: +[\d,]+ words\/s end to end/m);
    return run.stdout;
  }

  /** The crash of `victim` and its recovery, as the demo shows them. */
  function expectRecovery(stdout: string, victim: string): void {
    expect(stdout).toMatch(new RegExp(`^kill -9 \\d+: ${victim} killed at [\\d,]+ of `, 'm'));
    // Wallaroo's recovery lines, from the restarted worker, in this order.
    const lines = [
      'Recovering from recovery files!',
      'Attempting to recover...',
      '|~~ - Recovery COMPLETE - ~~|',
      '~~~Resuming message processing.~~~',
      '|~~ INIT PHASE III: Application is ready to work! ~~|',
    ].map((l) => stdout.indexOf(`\n  [${victim}] ${l}\n`));
    expect(lines.every((at) => at > 0)).toBe(true);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
    // The second roo send resumed the stream where the first stopped.
    expect(stdout).toMatch(
      /^ +\[roo send\] \S+ already has the first 1500 messages of this stream/m,
    );
    expect(stdout).toMatch(
      new RegExp(
        `^Crash: +${victim} killed \\(SIGKILL\\) at [\\d,]+ words; restarted with the same command; rolled back to checkpoint \\d+, ready`,
        'm',
      ),
    );
  }

  /**
   * worker3 joined and left again before the crash, each time with the
   * reconfiguration's lines and what moved, and the report says so.
   */
  function expectGrowAndShrink(stdout: string): void {
    const n = (s: string | undefined) => Number(s!.replace(/,/g, ''));
    const at = (re: RegExp): number => {
      const m = re.exec(stdout);
      expect(m, `${re}\n${stdout}`).not.toBeNull();
      return m!.index;
    };
    // Grow: its own receiver, then roo worker --join; the initializer pauses input at a
    // barrier, the others ship key groups, worker3 takes them over and is ready.
    const receiver = at(/^receiver for worker3 listening on 127\.0\.0\.1:\d+ \(pid \d+\)$/m);
    const joins = at(/^worker3 joins through 127\.0\.0\.1:\d+, the initializer's control channel/m);
    const pausing = at(
      /^ +\[initializer\] reconfiguration (\d+): initializer, worker2 -> initializer, worker2, worker3; [1-9]\d* key groups move at barrier \1, every other key flows on$/m,
    );
    at(
      /^ +\[worker2\] reconfiguration \d+: barrier aligned by every actor \(\d+ ms\); shipping [1-9]\d* key groups/m,
    );
    const tookOver = stdout.match(
      /^ +\[worker3\] reconfiguration \d+: took over ([1-9]\d*) key groups \((\d+) keys; spawned in \d+ ms\)$/m,
    )!;
    expect(tookOver).not.toBeNull();
    at(/^ +\[worker3\] \|~~ INIT PHASE III: Application is ready to work! ~~\|$/m);
    const grown = stdout.match(
      /^ +\[initializer\] reconfiguration (\d+) complete: routing table version (\d+), 3 workers \(initializer, worker2, worker3\), joined: worker3; moved (\d+) key groups, (\d+) keys, (\d+) bytes; the moving groups paused (\d+) ms$/m,
    )!;
    expect(grown, stdout).not.toBeNull();
    expect(n(grown[3])).toBe(n(tookOver[1]));
    expect(n(grown[4])).toBe(n(tookOver[2]));
    at(
      /^the cluster grew to 3 workers, ready [\d.]+ s after worker3 started \(reconfiguration \d+\): moved [\d,]+ key groups/m,
    );
    // worker3 counted: its sink wrote counts through its own receiver (unless, on a loaded
    // machine, the first send was all counted before worker3 ran: then it says so).
    const wrote = at(
      /^(?:worker3's sink has written [1-9][\d,]* counts|every count of the first send is in before worker3's sink wrote any)/m,
    );
    // Shrink: roo shrink prints who left; worker3 ships everything back and leaves.
    const shrink = at(
      /^roo shrink --external 127\.0\.0\.1:\d+ --workers worker3 at [\d,]+ words counted$/m,
    );
    at(/^ +\[roo shrink\] leaving \(1\): worker3$/m);
    at(/^ +\[roo shrink\] remaining members \(2\): initializer, worker2$/m);
    at(
      /^ +\[worker3\] reconfiguration \d+: barrier aligned by every actor \(\d+ ms\); shipping [1-9]\d* key groups/m,
    );
    const shrunk = stdout.match(
      /^ +\[initializer\] reconfiguration (\d+) complete: routing table version (\d+), 2 workers \(initializer, worker2\), leaving: worker3; moved (\d+) key groups, (\d+) keys, (\d+) bytes; the moving groups paused (\d+) ms$/m,
    )!;
    expect(shrunk, stdout).not.toBeNull();
    expect(n(shrunk[1])).toBeGreaterThan(n(grown[1]));
    expect(n(shrunk[2])).toBe(n(grown[2]) + 1);
    // Everything worker3 took over goes back (and any word new since).
    expect(n(shrunk[3])).toBe(n(grown[3]));
    expect(n(shrunk[4])).toBeGreaterThanOrEqual(n(grown[4]));
    at(/^ +\[worker3\] left the cluster: shrunk out of the cluster \(reconfiguration \d+\)$/m);
    const gone = at(
      /^the cluster shrank to 2 workers; roo shrink took [\d.]+ s \(reconfiguration \d+\): .*worker3 exited with code 0 and removed its resilience files$/m,
    );
    const crash = at(/^kill -9 \d+: worker2 killed/m);
    expect([receiver, joins, pausing, wrote, shrink, gone, crash]).toEqual(
      [receiver, joins, pausing, wrote, shrink, gone, crash].sort((a, b) => a - b),
    );
    // The report: the grow and the shrink, from those lines.
    const moved = (line: RegExpMatchArray) =>
      `moved ${n(line[3]).toLocaleString('en-US')} key groups, ${n(line[4]).toLocaleString('en-US')} keys, ` +
      `${n(line[5]).toLocaleString('en-US')} bytes; moving groups paused ${n(line[6]).toLocaleString('en-US')} ms`;
    expect(stdout).toMatch(
      new RegExp(
        `^Grow: +worker3 joined at [\\d,]+ words \\(reconfiguration ${grown[1]}, 3 workers after\\): ${moved(grown)}$`,
        'm',
      ),
    );
    expect(stdout).toMatch(
      new RegExp(
        `^Shrink: +worker3 left at [\\d,]+ words \\(reconfiguration ${shrunk[1]}, 2 workers after\\): ${moved(shrunk)}$`,
        'm',
      ),
    );
  }

  it('counts the bundled text exactly on two workers, grows and shrinks, spreads the state, and shuts down', async () => {
    const stdout = await expectOk([]);
    expect(stdout).toMatch(/on a cluster of 2 workers$/m);
    expect(stdout).toMatch(
      /^metrics UI at http:\/\/127\.0\.0\.1:\d+\/, workers report to 127\.0\.0\.1:\d+ \(pid \d+\)$/m,
    );
    expectGrowAndShrink(stdout);
    expectRecovery(stdout, 'worker2');
    expect(stdout).toMatch(/^receiver for worker2 listening on 127\.0\.0\.1:\d+ \(pid \d+\)$/m);
    expect(stdout).toMatch(/^worker2: data channel on 127\.0\.0\.1:\d+ \(pid \d+\)$/m);
    // Each worker holds a share of the words, and together exactly the distinct words.
    const [, total, first, second] = stdout.match(
      /^State: +([\d,]+) word entities on 2 workers \(initializer ([\d,]+), worker2 ([\d,]+)\)$/m,
    )!;
    const n = (s: string | undefined) => Number(s!.replace(/,/g, ''));
    expect(n(first)).toBeGreaterThan(0);
    expect(n(second)).toBeGreaterThan(0);
    expect(n(first) + n(second)).toBe(n(total));
    expect(stdout).toMatch(/^Distinct words: +([\d,]+) \(expected \1\)$/m);
    expect(stdout.match(/^Distinct words: +([\d,]+)/m)![1]).toBe(total);
    // worker2 has no --in: its counts came over the data channel.
    expect(stdout).toMatch(/^ +worker2 +0 +[\d,]+ +[1-9][\d,]* +[1-9][\d,]* +[\d,]+ \(\d+%\)$/m);
    expect(stdout).toMatch(
      /^initializer exited with code 0, worker2 exited with code 0; their resilience files are removed$/m,
    );
  }, 120_000);

  it('still runs on one worker (--workers 1)', async () => {
    const stdout = await expectOk(['--workers', '1']);
    expect(stdout).toMatch(/on one worker$/m);
    expectRecovery(stdout, 'initializer');
    expect(stdout).toMatch(/^State: +([\d,]+) word entities on 1 worker \(initializer \1\)$/m);
    expect(stdout).toMatch(/^initializer exited with code 0$/m);
    // One worker neither grows nor shrinks.
    expect(stdout).not.toMatch(/--join|roo shrink|^Grow:|^Shrink:/m);
  });

  it('keeps the cluster and the metrics UI running with --ui until Ctrl-C, then shuts down cleanly', async () => {
    const run = demo(['--messages', '3000', '--workers', '1', '--ui']);
    const [, ui] = await run.waitFor(/^open (http:\/\/\S+\/); press Ctrl-C to stop the cluster$/m);
    const page = await fetch(ui!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-testid="cluster-map"');
    // The worker reported to the demo's roo metrics: its application, itself, its steps.
    const state = (await (await fetch(`${ui}api/state`)).json()) as {
      type: string;
      apps: {
        name: string;
        workers: { name: string }[];
        steps: { kind: string; messages: number }[];
      }[];
    };
    expect(state.type).toBe('snapshot');
    expect(state.apps.map((a) => a.name)).toEqual(['Word Count']);
    expect(state.apps[0]!.workers.map((w) => w.name)).toEqual(['initializer']);
    const source = state.apps[0]!.steps.find((x) => x.kind === 'source');
    expect(source!.messages).toBeGreaterThan(0);
    // Still running: the initializer has not been shut down.
    expect(run.stdout).not.toMatch(/roo shutdown/);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.stdout).toMatch(/^initializer exited with code 0$/m);
    expect(run.stdout).toMatch(/^Check: +OK\b/m);
  });

  it('refuses a bad command line with exit code 2', async () => {
    for (const [args, message] of [
      [['--messages', '0'], /^roo demo: --messages: /],
      [['--workers', '0'], /^roo demo: --workers: /],
      [['--workers', '17'], /^roo demo: --workers: at most 16/],
    ] as const) {
      const run = demo([...args]);
      expect(await run.exited).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  it('stops every process it started on Ctrl-C (SIGINT)', async () => {
    // Large enough that it is still counting when interrupted.
    const run = demo(['--messages', '50_000_000']);
    // roo metrics, a receiver per worker, the initializer, worker2, the sender: each says its pid.
    await run.waitFor(/^sending .* \(pid \d+\)$/m);
    const pids = [...run.stdout.matchAll(/\(pid (\d+)\)$/gm)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(6);
    await run.waitFor(/^ +\d+ s  words +[\d,]+ of /m);
    expect(pids.every(alive)).toBe(true);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stdout).toMatch(/interrupted/);
    expect(pids.filter(alive)).toEqual([]);
  });
});
