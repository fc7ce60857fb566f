/**
 * `roo worker` on the command line, as a real process: every bad command line
 * (unknown flag, malformed address, missing module, contradictory cluster
 * flags) exits with code 2 and one clear `roo worker:`
 * line on stderr, before any socket is opened; `--flag=value` and short
 * forms start a worker; `--help` prints the usage and exits 0.
 */
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL, runRoo, startReceive, startWorker, stopAll } from './helpers/processes.js';

const APP = 'examples/word_count/app.ts';

afterEach(stopAll);

/** Sends one length-prefixed frame on a new connection and closes it. */
async function sendFrame(address: string, text: string): Promise<void> {
  const colon = address.lastIndexOf(':');
  const socket = createConnection({
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
  });
  await once(socket, 'connect');
  const payload = Buffer.from(text);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  socket.end(Buffer.concat([header, payload]));
  await once(socket, 'close');
}

/** The `roo worker:` lines of stderr (the message, without log lines or hints). */
function messages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('roo worker: '));
}

describe('roo worker refuses a bad command line with exit code 2 and one clear line', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--application-module', APP, '--bogus'], /Unknown option '--bogus'/],
    [
      'a malformed address',
      ['--application-module', APP, '--in', `${LOCAL}:99999`],
      /--in: .*'127\.0\.0\.1:99999'.*larger than 65535/,
    ],
    [
      'an address without a port',
      ['--application-module', APP, '--out', 'localhost'],
      /--out: .*port is missing/,
    ],
    ['no application module', ['--in', `${LOCAL}:0`], /--application-module PATH is required/],
    [
      'a missing module',
      ['--application-module', 'examples/no_such_app/app.ts', '--in', `${LOCAL}:0`],
      /application module not found: .*examples\/no_such_app\/app\.ts/,
    ],
    [
      'a module without a default function',
      ['--application-module', 'test/fixtures/apps/no-default-export.ts', '--in', `${LOCAL}:0`],
      /must export a default function/,
    ],
    [
      '--worker-count 2 without --control and --data',
      ['--application-module', APP, '--cluster-initializer', '--worker-count', '2'],
      /--worker-count 2 needs --control and --data/,
    ],
    [
      'a cluster member without --my-data',
      ['--application-module', APP, '--control', `${LOCAL}:6000`],
      /needs --my-data/,
    ],
    [
      '--join with --cluster-initializer',
      ['--application-module', APP, '--join', `${LOCAL}:6000`, '--cluster-initializer'],
      /--cluster-initializer cannot be given with --join/,
    ],
    [
      'a malformed --cluster-id',
      ['--application-module', APP, '--cluster-id', 'a b'],
      /--cluster-id 'a b': use 1 or more letters/,
    ],
    [
      '--time-between-checkpoints 0',
      ['--application-module', APP, '--run-with-resilience', '--time-between-checkpoints', '0'],
      /--time-between-checkpoints takes nanoseconds \(a whole number above 0\), got '0'/,
    ],
    [
      '--ponythreads 0',
      ['--application-module', APP, '--ponythreads=0'],
      /--ponythreads takes a whole number of at least 1, got '0'/,
    ],
  ];

  it.each(cases)('%s', async (_what, args, message) => {
    const { code, stderr, stdout } = await runRoo(['worker', ...args]);
    expect(code, stderr).toBe(2);
    const lines = messages(stderr);
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    // Refused before the topology came up: no source ever listened.
    expect(stderr).not.toMatch(/listening on/);
    expect(stdout).toBe('');
  });
});

describe('roo worker accepts its flags in every form', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const { code, stdout, stderr } = await runRoo(['worker', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: roo worker --application-module PATH/);
    expect(stdout).toMatch(/--ponythreads N/);
    expect(stderr).toBe('');
  });

  it('starts with --flag=value and short forms, and passes what follows -- to the app', async () => {
    const receive = await startReceive();
    const worker = await startWorker({
      module: APP,
      threads: 1,
      out: receive.address,
      extra: ['--name=flags-worker', '-t', '-w', '1', '--ponythreads=1', '--', '--app-flag', 'x'],
    });
    expect(worker.proc.stderr).toMatch(/flags-worker\/main: .* on 1 scheduler threads/);
    // It works: a message in, its outputs out.
    await sendFrame(worker.source, 'Flags flags');
    await receive.proc.waitForStdoutLines(2);
    expect(receive.proc.stdoutText).toBe('flags => 1\nflags => 2\n');
    const exit = await worker.proc.stop();
    expect(exit, worker.proc.stderr).toEqual({ code: 0, signal: null });
    expect(worker.proc.stderr).toMatch(/Worker shut down cleanly\./);
  });
});
