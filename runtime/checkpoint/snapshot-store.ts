/**
 * A worker's checkpoint files under `--resilience-dir`:
 * - `<app>-<worker>.checkpoint-<id>.snap`: this worker's snapshot of
 *   checkpoint id (protocols/snapshot-file.ts: checksummed), written
 *   durably before the worker acks the checkpoint;
 * - `<app>-<worker>.commits.json`: the checkpoints this worker knows to be
 *   committed, newest last (the two newest are kept, so that a corrupt newest
 *   snapshot can fall back to the one before).
 * The coordinator records a commit in its own file before it tells anyone,
 * so the commit is durable once any worker hears of it.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

import {
  checkSnapshot,
  decodeSnapshot,
  encodeSnapshotParts,
  ErrorCode,
  RooError,
  type Snapshot,
  type SnapshotHeader,
} from '../../protocols/index.js';
import { workerFileStem, writeDurably } from '../connectors/durable-file.js';

/** Committed checkpoints kept on disk: the newest and the one before it. */
export const KEEP_COMMITTED = 2;

/** One worker's checkpoint files. */
export class SnapshotStore {
  private readonly prefix: string;
  /** The resilience directory, absolute and normalised (file names are matched under it). */
  readonly dir: string;

  constructor(
    dir: string,
    readonly application: string,
    readonly applicationHash: string,
    readonly worker: string,
  ) {
    this.dir = resolve(dir);
    // The same sanitised name as the cluster information file.
    this.prefix = workerFileStem(this.dir, application, worker);
  }

  /** A shell pattern of every resilience file of this application's workers in the directory. */
  get applicationFiles(): string {
    const mine = this.prefix.slice(this.dir.length + 1);
    return join(this.dir, `${mine.slice(0, mine.length - this.worker.length - 1)}-*`);
  }

  /** A shell pattern of this worker's resilience files. */
  get workerFiles(): string {
    return `${this.prefix}.*`;
  }

  /** The file of checkpoint `id`. */
  path(id: number): string {
    return `${this.prefix}.checkpoint-${id}.snap`;
  }

  private get commitsPath(): string {
    return `${this.prefix}.commits.json`;
  }

  /** Writes this worker's snapshot of a checkpoint durably. */
  write(snapshot: Snapshot): number {
    const parts = encodeSnapshotParts(snapshot);
    writeDurably(this.path(snapshot.checkpointId), parts);
    return parts.reduce((n, p) => n + p.length, 0);
  }

  /**
   * Reads and checks this worker's snapshot of checkpoint `id`. Throws
   * RooError ROO_ERR_SNAPSHOT_CORRUPT for a missing, truncated or corrupt
   * file, or one of another application build or worker.
   */
  read(id: number): Snapshot {
    return this.load(id, decodeSnapshot);
  }

  /**
   * Checks, as {@link read} does, that checkpoint `id`'s file is whole and
   * this worker's, without decoding its state (its checksum covers it).
   * Throws as read.
   */
  check(id: number): void {
    this.load(id, checkSnapshot);
  }

  private load<T extends SnapshotHeader>(id: number, decode: (bytes: Uint8Array) => T): T {
    const path = this.path(id);
    if (!existsSync(path))
      throw new RooError(ErrorCode.SnapshotCorrupt, `snapshot file ${path} is missing`, { path });
    let snapshot: T;
    try {
      snapshot = decode(readFileSync(path));
    } catch (err) {
      throw new RooError(
        ErrorCode.SnapshotCorrupt,
        `snapshot file ${path} is refused: ${(err as Error).message}`,
        { path },
      );
    }
    if (
      snapshot.applicationHash !== this.applicationHash ||
      snapshot.worker !== this.worker ||
      snapshot.checkpointId !== id
    ) {
      throw new RooError(
        ErrorCode.SnapshotCorrupt,
        `snapshot file ${path} belongs to another build or worker (application build ${snapshot.applicationHash}, worker '${snapshot.worker}', checkpoint ${snapshot.checkpointId})`,
        { path },
      );
    }
    return snapshot;
  }

  /** Ids of the snapshot files present, ascending. */
  ids(): number[] {
    const base = this.prefix.slice(this.dir.length + 1);
    const re = new RegExp(`^${escape(base)}\\.checkpoint-(\\d+)\\.snap$`);
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .map((n) => re.exec(n)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The committed checkpoints this worker knows of, oldest first (empty when none). */
  committed(): number[] {
    if (!existsSync(this.commitsPath)) return [];
    try {
      const r = JSON.parse(readFileSync(this.commitsPath, 'utf8')) as { committed?: unknown };
      if (!Array.isArray(r.committed) || !r.committed.every((x) => Number.isSafeInteger(x)))
        throw new Error('no list of checkpoint ids');
      return (r.committed as number[]).slice(-KEEP_COMMITTED);
    } catch (err) {
      throw new RooError(
        ErrorCode.SnapshotCorrupt,
        `the record of committed checkpoints ${this.commitsPath} is unreadable (${(err as Error).message}); remove the files of ${this.prefix}.* to start afresh`,
        { path: this.commitsPath },
      );
    }
  }

  /** Records durably that checkpoint `id` committed; keeps the newest KEEP_COMMITTED. */
  recordCommit(id: number): readonly number[] {
    let known: number[];
    try {
      known = this.committed();
    } catch {
      known = [];
    }
    const committed = [...known.filter((k) => k < id), id].slice(-KEEP_COMMITTED);
    this.writeCommits(committed);
    return committed;
  }

  private writeCommits(committed: readonly number[]): void {
    writeDurably(
      this.commitsPath,
      JSON.stringify({ version: 1, worker: this.worker, committed }) + '\n',
    );
  }

  /** Deletes snapshot files older than the newest committed one and not kept. */
  prune(keep: readonly number[]): void {
    const newest = Math.max(0, ...keep);
    for (const id of this.ids())
      if (id < newest && !keep.includes(id)) rmSync(this.path(id), { force: true });
  }

  /**
   * A rollback to checkpoint `id`: deletes snapshot files newer than it and
   * forgets commits after it (a fallback to an older checkpoint abandons them).
   */
  dropAfter(id: number): void {
    for (const k of this.ids()) if (k > id) rmSync(this.path(k), { force: true });
    let known: number[];
    try {
      known = this.committed();
    } catch {
      return;
    }
    if (known.some((k) => k > id)) this.writeCommits(known.filter((k) => k <= id));
  }

  /** Removes every checkpoint file of this worker (a clean shutdown of the cluster). */
  removeAll(): void {
    for (const id of this.ids()) rmSync(this.path(id), { force: true });
    rmSync(this.commitsPath, { force: true });
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
