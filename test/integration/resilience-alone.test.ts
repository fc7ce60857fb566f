/**
 * A worker alone (no cluster) with --run-with-resilience, killed with
 * SIGKILL partway through a file and started again with the same command:
 * it restores the newest whole committed checkpoint and finishes the file.
 * The file sink is at least once, so after the restart some outputs repeat,
 * but for every word the counts seen are exactly 1..n, n its true count:
 * nothing is lost and no word is counted twice. A damaged newest snapshot
 * makes the worker fall back to the committed one before it; when no
 * snapshot is whole, the worker refuses to start and says what to remove.
 */
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogLine } from '../../runtime/logging/log-lines.js';
import { EACH_CHECKPOINT, RooProcess, stopAll } from './helpers/processes.js';

const MODULE = 'test/fixtures/apps/file-connectors.ts';
/** The file source whose lines are counted (the app's other source shouts them to stdout). */
const COUNTING = 'lines for counting';
const END_OF_FILE = new RegExp(`source '${COUNTING}' reached the end of its file`);
/** The lines a restarted worker writes, in this order. */
const RECOVERY_LINES = [
  LogLine.RecoveringFromFiles,
  LogLine.AttemptingToRecover,
  LogLine.RecoveryComplete,
  LogLine.ResumingProcessing,
  LogLine.InitPhaseIII,
];

/** The input, shared by the tests (read only), and the true count of every word in it. */
let inputDir: string;
let input: string;
let truth: Map<string, number>;
/** Each test's own output file and resilience directory. */
let dir: string;
let output: string;
let resilience: string;

beforeAll(() => {
  inputDir = mkdtempSync(join(tmpdir(), 'roo-resilience-input-'));
  input = join(inputDir, 'in.txt');
  truth = writeInput(input);
});

afterAll(() => {
  rmSync(inputDir, { recursive: true, force: true });
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-resilience-'));
  output = join(dir, 'out.txt');
  resilience = join(dir, 'resilience');
});

afterEach(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Writes ~15 MB of lines of 10 words drawn from 3,000 (seeded, so every run
 * is the same file) and returns each word's count. At roughly 3 MB/s per
 * worker this takes seconds to process, so a kill after the first committed
 * checkpoint (50 ms in) lands well before the end.
 */
function writeInput(path: string): Map<string, number> {
  const vocabulary = Array.from({ length: 3000 }, (_, i) => `w${i}`);
  const tally = new Array<number>(vocabulary.length).fill(0);
  let seed = 0x2545f491;
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < 15_000_000) {
    for (let i = 0; i < 10; i++) {
      // xorshift32: the same file on every run.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const k = (seed >>> 0) % vocabulary.length;
      tally[k]!++;
      const w = vocabulary[k]!;
      parts.push(w, i === 9 ? '\n' : ' ');
      bytes += w.length + 1;
    }
  }
  writeFileSync(path, parts.join(''));
  const counts = new Map<string, number>();
  tally.forEach((n, k) => {
    if (n > 0) counts.set(vocabulary[k]!, n);
  });
  return counts;
}

/**
 * Starts the worker with resilience, checkpointing every 50 ms, on 2 threads.
 * Its stdout (the app's other pipeline, 15 MB of shouted lines) goes to
 * /dev/null: this test is about the counting pipeline, and a pipe that a busy
 * test process drains late fills up. `sh` execs node in its own place, so
 * the process killed is node itself.
 */
function startWorker(label: string): RooProcess {
  const toDevNull = ['sh', '-c', 'exec "$0" "$@" >/dev/null'];
  return RooProcess.spawn(
    label,
    [
      'worker',
      '--application-module',
      MODULE,
      '--run-with-resilience',
      '--resilience-dir',
      resilience,
      '--time-between-checkpoints',
      '50000000',
      '--ponythreads',
      '2',
      '--',
      input,
      output,
    ],
    // Each commit's line (debug level): the test kills right after one.
    { prefix: toDevNull, ...EACH_CHECKPOINT },
  );
}

/**
 * Kills the worker's node process itself with SIGKILL once it has committed
 * checkpoint `id`; returns the size of the output it left (where the
 * restarted worker's output begins).
 */
async function killAfterCommit(worker: RooProcess, id: number): Promise<number> {
  // Ids start at 1 in a fresh directory and rise by one per checkpoint.
  await worker.waitForStderr(new RegExp(`checkpoint ${id} committed`));
  worker.child.kill('SIGKILL');
  const exit = await worker.exited;
  expect(exit.signal).toBe('SIGKILL');
  // The kill landed before the end of the file, so the restart has work left to do.
  expect(worker.stderr).not.toMatch(END_OF_FILE);
  return existsSync(output) ? statSync(output).size : 0;
}

/** The counts seen per word in `word => n` lines, in order (millions of them: no regex per line). */
function parseCounts(text: string): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (let at = 0; at < text.length;) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    const sep = line.indexOf(' => ');
    const n = Number(line.slice(sep + 4));
    if (sep <= 0 || !Number.isInteger(n)) throw new Error(`not a 'word => n' line: ${line}`);
    const word = line.slice(0, sep);
    let list = seen.get(word);
    if (list === undefined) seen.set(word, (list = []));
    list.push(n);
    at = end + 1;
  }
  return seen;
}

/** Resolves once `path` has not grown for `quietMs`. */
async function quiet(path: string, quietMs: number, until: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size !== last) {
      last = size;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    if (Date.now() > until) throw new Error(`${path} kept growing (${size} bytes)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The counts each run wrote: before the kill, and after the restart. */
interface Runs {
  readonly killed: Map<string, number[]>;
  readonly restarted: Map<string, number[]>;
}

/**
 * Waits until the counting source has read its whole file and the output
 * has stopped growing with every word's true count reached; returns the
 * counts each run wrote, split where the killed worker's output ended.
 */
async function finalCounts(worker: RooProcess, cut: number, timeoutMs = 30_000): Promise<Runs> {
  const until = Date.now() + timeoutMs;
  await worker.waitForStderr(END_OF_FILE, timeoutMs);
  for (;;) {
    await quiet(output, 1_000, until);
    const bytes = readFileSync(output);
    const runs = {
      killed: parseCounts(bytes.toString('utf8', 0, cut)),
      restarted: parseCounts(bytes.toString('utf8', cut)),
    };
    const done = [...truth].every(([w, n]) => runs.restarted.get(w)?.at(-1) === n);
    if (done || Date.now() > until || worker.exitStatus !== undefined) return runs;
  }
}

/**
 * Problems with the counts, at most 10:
 * - for every word, the set of counts seen is exactly {1..n}, n its true
 *   count (a count may repeat: output is at least once), and no other word
 *   appears;
 * - each run wrote a word's counts in order, one apart: the killed one from
 *   1, the restarted one from wherever the restored state left the word up
 *   to n (it replays from a consistent checkpoint, not from anywhere).
 */
function countProblems({ killed, restarted }: Runs): string[] {
  const problems: string[] = [];
  const steps = (list: readonly number[], from: number) => list.every((c, i) => c === from + i);
  for (const [w, n] of truth) {
    const before = killed.get(w) ?? [];
    const after = restarted.get(w) ?? [];
    const counts = new Set([...before, ...after]);
    const wrong = [...counts].filter((c) => c < 1 || c > n);
    const missing: number[] = [];
    for (let c = 1; c <= n && missing.length < 5; c++) if (!counts.has(c)) missing.push(c);
    if (wrong.length > 0 || missing.length > 0)
      problems.push(
        `'${w}' (true count ${n}): missing ${missing.join(',')} wrong ${wrong.join(',')}`,
      );
    if (!steps(before, 1)) problems.push(`'${w}': the killed worker wrote ${before.join(',')}`);
    if (after.at(-1) !== n || !steps(after, after[0] ?? 0))
      problems.push(`'${w}': the restarted worker wrote ${after.slice(0, 5).join(',')}..`);
  }
  for (const w of [...killed.keys(), ...restarted.keys()])
    if (!truth.has(w)) problems.push(`'${w}' is not in the input`);
  return problems.slice(0, 10);
}

/** True if the restarted worker went on from restored state: some word's counts do not restart at 1. */
const resumed = ({ restarted }: Runs): boolean =>
  [...restarted.values()].some((counts) => (counts[0] ?? 1) > 1);

/** Asserts `lines` appear in `text` in this order. */
function expectInOrder(text: string, lines: readonly string[]): void {
  let at = -1;
  for (const line of lines) {
    const i = text.indexOf(line, at + 1);
    expect(i, `'${line}' after position ${at}`).toBeGreaterThan(at);
    at = i;
  }
}

/** This worker's snapshot files, by checkpoint id. */
function snapshotFiles(): Map<number, string> {
  const files = new Map<number, string>();
  for (const name of readdirSync(resilience)) {
    const m = /\.checkpoint-(\d+)\.snap$/.exec(name);
    if (m !== null) files.set(Number(m[1]), join(resilience, name));
  }
  return files;
}

/** The committed checkpoints the worker recorded, oldest first. */
function committed(): number[] {
  const name = readdirSync(resilience).find((n) => n.endsWith('.commits.json'));
  if (name === undefined) throw new Error(`no record of commits in ${resilience}`);
  return (JSON.parse(readFileSync(join(resilience, name), 'utf8')) as { committed: number[] })
    .committed;
}

describe('a worker alone with --run-with-resilience', () => {
  it('killed with SIGKILL mid-file, restarted with the same command, loses nothing and counts nothing twice', async () => {
    const first = startWorker('worker');
    // Checkpoint 3 is 150 ms in: it has certainly recorded some of the file.
    const cut = await killAfterCommit(first, 3);
    const restored = Math.max(...committed());

    const second = startWorker('worker (restarted)');
    const runs = await finalCounts(second, cut);
    expect(countProblems(runs)).toEqual([]);
    expect(resumed(runs)).toBe(true);
    expect(second.stderr).toContain(`restoring checkpoint ${restored}`);
    expectInOrder(second.stderr, RECOVERY_LINES);
    expect((await second.stop()).code).toBe(0);
  });

  it('refuses a damaged newest snapshot and restores the committed checkpoint before it, from files without cluster information (an earlier roo wrote none) too', async () => {
    const first = startWorker('worker');
    const cut = await killAfterCommit(first, 3);
    // The files of a worker alone from before it ran as a cluster of one: no cluster file.
    const info = readdirSync(resilience).filter(
      (n) => n.endsWith('.cluster.json') || n.endsWith('.layouts.json'),
    );
    expect(info.some((n) => n.endsWith('.cluster.json'))).toBe(true);
    for (const name of info) rmSync(join(resilience, name));
    const ids = committed();
    expect(ids).toHaveLength(2);
    const [older, newest] = ids as [number, number];
    const files = snapshotFiles();
    expect(files.has(older)).toBe(true);
    const damaged = files.get(newest)!;
    const bytes = readFileSync(damaged);
    const at = bytes.length >> 1;
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(damaged, bytes);

    const second = startWorker('worker (restarted)');
    const runs = await finalCounts(second, cut);
    expect(countProblems(runs)).toEqual([]);
    expect(second.stderr).toMatch(
      new RegExp(`checkpoint-${newest}\\.snap is refused: .*checksum mismatch`),
    );
    expect(second.stderr).toContain(`restoring checkpoint ${older}`);
    expect(second.stderr).toContain('recovering them as a cluster of one');
    expectInOrder(second.stderr, RECOVERY_LINES);
    // Its first assignment saved the cluster information the files lacked.
    expect(readdirSync(resilience).some((n) => n.endsWith('.cluster.json'))).toBe(true);
    expect((await second.stop()).code).toBe(0);
  });

  it('with every snapshot truncated, refuses to start: exit code 2, says what to remove, no stack trace', async () => {
    const first = startWorker('worker');
    await killAfterCommit(first, 1);
    const files = snapshotFiles();
    expect(files.size).toBeGreaterThan(0);
    for (const path of files.values()) truncateSync(path, statSync(path).size >> 1);

    const second = startWorker('worker (restarted)');
    const exit = await second.waitForExit(30_000);
    expect(exit.code).toBe(2);
    expect(second.stderr).toContain('rm ');
    expect(second.stderr).toContain(`rm ${join(resilience, 'File-connectors-initializer.')}*`);
    expect(second.stderr).toMatch(/cannot recover: no committed checkpoint/);
    expect(second.stderr).not.toMatch(/^\s+at /m);
    expect(second.stderr).not.toContain(LogLine.InitPhaseIII);
  });
});
