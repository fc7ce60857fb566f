import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeProfiles,
  listProfiles,
  profileDir,
  profileNodeArgs,
  profilesComplete,
} from '../../../bench/profiles.js';
import {
  formatSteadyLine,
  parseSteadyChildArgv,
  parseSteadyLine,
  steadyChildArgv,
  windowUtilization,
  type SteadyLine,
} from '../../../bench/steady-protocol.js';

describe('steady-state child protocol', () => {
  it('round-trips every kind of line', () => {
    const lines: SteadyLine[] = [
      { kind: 'start', threads: 2, startSeconds: 0.3 },
      { kind: 'warmup', seconds: 3, rate: 5e6 },
      {
        kind: 'window',
        threads: 2,
        startSeconds: 0.3,
        warmupRate: 5e6,
        rate: 7e6,
        words: 42e6,
        seconds: 6,
        cpuNsPerWord: 270,
        utilization: [0.99, 0.98],
        otherLoad: 0.01,
      },
      {
        kind: 'window',
        threads: 1,
        startSeconds: 0.03,
        warmupRate: 9e6,
        rate: 1e7,
        words: 6e7,
        seconds: 6,
        cpuNsPerWord: 90,
        otherLoad: 0,
      },
      { kind: 'error', message: 'scheduler thread failed' },
    ];
    for (const line of lines) expect(parseSteadyLine(formatSteadyLine(line))).toEqual(line);
  });

  it('ignores anything else a child prints', () => {
    expect(parseSteadyLine('{"level":40,"msg":"warn"}')).toBeUndefined();
    expect(parseSteadyLine('steady {not json')).toBeUndefined();
    expect(parseSteadyLine('steady null')).toBeUndefined();
    expect(
      parseSteadyLine('steady {"kind":"start","threads":"2","startSeconds":1}'),
    ).toBeUndefined();
    expect(parseSteadyLine('steady {"kind":"window","threads":1}')).toBeUndefined();
    expect(parseSteadyLine('steady {"kind":"other"}')).toBeUndefined();
    const bad = formatSteadyLine({ kind: 'warmup', seconds: 1, rate: 1 }).replace('1}', 'null}');
    expect(parseSteadyLine(bad)).toBeUndefined();
  });

  it('round-trips the child command line and refuses a bad one', () => {
    const engine = {
      corpusPath: '/tmp/c.txt',
      subject: { kind: 'engine', threads: 4 },
      warmupSeconds: 3,
      seconds: 6,
    } as const;
    expect(parseSteadyChildArgv(steadyChildArgv(engine))).toEqual(engine);
    const loop = { ...engine, subject: { kind: 'loop' } } as const;
    expect(parseSteadyChildArgv(steadyChildArgv(loop))).toEqual(loop);
    expect(() => parseSteadyChildArgv(['--threads', '2'])).toThrow(/--corpus/);
    expect(() => parseSteadyChildArgv(['--corpus', 'x', '--threads', '1.5'])).toThrow(/integer/);
    expect(() => parseSteadyChildArgv(['--bogus', '1'])).toThrow(/bad argument/);
  });

  it("takes a thread's busy share of the window from two readings since its start", () => {
    // Busy 50 % over the first 1000 ms, then 100 % over the 2000 ms window.
    const u = windowUtilization(
      0,
      { ms: 1000, utilization: 0.5 },
      { ms: 3000, utilization: 2500 / 3000 },
    );
    expect(u).toBeCloseTo(1, 10);
    expect(windowUtilization(0, { ms: 1000, utilization: 1 }, { ms: 2000, utilization: 0.5 })).toBe(
      0,
    );
  });
});

describe('CPU profiles', () => {
  it('names a directory per process and the flags that fill it', () => {
    expect(profileDir('/p', 'c', 2, 3)).toBe('/p/c-2t-3');
    expect(profileNodeArgs('/p/c-2t-3')).toEqual(['--cpu-prof', '--cpu-prof-dir=/p/c-2t-3']);
    expect(profileNodeArgs(undefined)).toEqual([]);
  });

  it("finds the main thread's profile and counts the scheduler threads'", () => {
    const dir = mkdtempSync(join(tmpdir(), 'roo-bench-profiles-'));
    try {
      const since = Date.now();
      const put = (name: string, body: string): void => writeFileSync(join(dir, name), body);
      put('CPU.20260101.120000.42.0.001.cpuprofile', '{"url":"file:///x/runtime/cli/main.js"}');
      put(
        'CPU.20260101.120000.42.1.002.cpuprofile',
        '{"url":"file:///x/runtime/engine/thread-main.js"}',
      );
      put('CPU.20260101.120000.42.2.003.cpuprofile', '{"url":"node:internal/modules/esm/worker"}');
      put('notes.txt', 'not a profile');
      put('CPU.20250101.120000.7.3.001.cpuprofile', 'thread-main from an earlier run');
      const old = (since - 60_000) / 1000;
      utimesSync(join(dir, 'CPU.20250101.120000.7.3.001.cpuprofile'), old, old);
      const info = listProfiles(dir, 2, since);
      expect(info).toEqual({ dir, files: 3, main: true, schedulers: 1, expectedSchedulers: 2 });
      expect(profilesComplete(info)).toBe(false);
      expect(describeProfiles(info)).toMatch(
        /: 3 files, main \+ 1 of 2 scheduler threads, MISSING$/,
      );
      expect(profilesComplete({ ...info, schedulers: 2 })).toBe(true);
      expect(listProfiles(join(dir, 'none'), 0, since).files).toBe(0);
      expect(describeProfiles({ ...info, files: 1, expectedSchedulers: 0 })).toMatch(
        /: 1 file, main$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
