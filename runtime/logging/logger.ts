/**
 * Logging: pino (fast, levelled, well kept). By default rendered by
 * pino-pretty synchronously to stderr as one plain text line per record, so
 * that the lines users grep for (Wallaroo's start-up and recovery lines)
 * read as they do in Wallaroo's docs, and lines of one thread keep their
 * order. With ROO_LOG_FORMAT=json, pino's own JSON lines go to stderr
 * instead (one object per line: `level` as a name, `time` in ISO 8601,
 * `worker`, `thread`, `msg`, and any fields such as `code`), for log
 * shippers. Every thread has its own logger; each line says which worker
 * and thread wrote it.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** A logger. */
export type Logger = PinoLogger;

/** Log level from ROO_LOG_LEVEL (default info). */
export function logLevel(): string {
  return process.env['ROO_LOG_LEVEL'] ?? 'info';
}

/** How lines are written: `text` (default) or `json` (ROO_LOG_FORMAT=json). */
export function logFormat(): 'text' | 'json' {
  return process.env['ROO_LOG_FORMAT'] === 'json' ? 'json' : 'text';
}

/** Creates a logger writing to stderr, as text lines or JSON lines (see {@link logFormat}). */
export function createLogger(fields: Record<string, string | number>): Logger {
  if (logFormat() === 'json') {
    return pino(
      {
        level: logLevel(),
        base: fields,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  const stream = pretty({
    sync: true,
    colorize: false,
    destination: 2,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,' + Object.keys(fields).join(','),
    messageFormat: Object.keys(fields)
      .map((k) => `{${k}}`)
      .join('/')
      .concat(': {msg}'),
    singleLine: true,
  });
  return pino({ level: logLevel(), base: fields }, stream);
}
