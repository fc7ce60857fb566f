/**
 * `roo bench --profile DIR`: where each measured process of parts (a), (c)
 * and (d) writes its CPU profiles, the Node flags that make it, and what was
 * found there once the process had exited.
 *
 * Node's `--cpu-prof` profiles every thread of a process (the main thread
 * and each worker_threads thread, which inherit the flag) and writes one
 * `.cpuprofile` per thread when that thread ends, named
 * `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile` (thread id 0: the
 * main thread). The engine ends its scheduler threads with
 * Worker.terminate(); on Node 20 a terminated thread still writes its
 * profile, and the bench checks it for every process: it looks for the main
 * thread's file and counts the files that ran the scheduler thread's entry
 * (runtime/engine/thread-main). A TypeScript application also gets a
 * module-loader thread (tsx) beside the main thread and each scheduler
 * thread; those write profiles too and are simply counted.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What one process left in its profile directory. */
export interface ProfileInfo {
  /** The directory (absolute). */
  dir: string;
  /** `.cpuprofile` files found in it (written by this run). */
  files: number;
  /** The main thread's profile is among them. */
  main: boolean;
  /** Profiles of scheduler threads among them. */
  schedulers: number;
  /** Scheduler threads the process ran. */
  expectedSchedulers: number;
}

/** A profile file's name, with the thread id Node puts in it. */
const PROFILE_NAME = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/;
/** In a profile's call frames, the URL of the scheduler threads' entry module (.js or .ts). */
const SCHEDULER_ENTRY = '/runtime/engine/thread-main.';

/**
 * The directory of one process's profiles under `root`:
 * `<part>-<threads>t-<rep>`, e.g. `c-2t-1` for (c)'s first 2-thread process.
 */
export function profileDir(root: string, part: string, threads: number, rep: number): string {
  return join(root, `${part}-${threads}t-${rep}`);
}

/** The Node flags that make a process write its profiles into `dir`. */
export function profileNodeArgs(dir: string | undefined): string[] {
  return dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * What a process left in `dir` (after it exited). Only files written since
 * `sinceMs` (Date.now() when the process started) count, so that a directory
 * reused from an earlier run is not mistaken for this one's profiles;
 * nothing is ever deleted.
 */
export function listProfiles(
  dir: string,
  expectedSchedulers: number,
  sinceMs: number,
): ProfileInfo {
  const info: ProfileInfo = { dir, files: 0, main: false, schedulers: 0, expectedSchedulers };
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return info; // No directory: the process wrote nothing (killed, or never started).
  }
  for (const name of names) {
    const m = PROFILE_NAME.exec(name);
    const path = join(dir, name);
    // mtime has a coarse clock on some file systems: a second of slack.
    if (m === null || statSync(path).mtimeMs < sinceMs - 1000) continue;
    info.files++;
    if (m[1] === '0') info.main = true;
    else if (readFileSync(path, 'utf8').includes(SCHEDULER_ENTRY)) info.schedulers++;
  }
  return info;
}

/** Whether every thread that had to write a profile did. */
export function profilesComplete(p: ProfileInfo): boolean {
  return p.main && p.schedulers >= p.expectedSchedulers;
}

/** "c-2t-1: 3 files, main + 2 of 2 scheduler threads", "MISSING" when one is absent. */
export function describeProfiles(p: ProfileInfo): string {
  const name = p.dir.slice(p.dir.lastIndexOf('/') + 1);
  const main = p.main ? 'main' : 'no main';
  const schedulers =
    p.expectedSchedulers === 0
      ? ''
      : ` + ${p.schedulers} of ${p.expectedSchedulers} scheduler thread${p.expectedSchedulers === 1 ? '' : 's'}`;
  return `${name}: ${p.files} file${p.files === 1 ? '' : 's'}, ${main}${schedulers}${profilesComplete(p) ? '' : ', MISSING'}`;
}
