/**
 * Files a worker keeps under --resilience-dir: written durably (a crash
 * leaves the old file or the whole new one) and named after the
 * application and the worker.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The common start of a worker's file names for `application` in `dir`: `<dir>/<app>-<worker>`. */
export function workerFileStem(dir: string, application: string, worker: string): string {
  const app =
    application.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'application';
  return join(dir, `${app}-${worker}`);
}

/**
 * Writes a file so that a crash leaves either the old file or the whole new
 * one: a temp file, fsync, rename, and fsync of the directory.
 */
export function writeDurably(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const parts =
      typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
    for (const bytes of parts)
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
