/**
 * Logging: pino (fast, levelled, well kept), rendered by pino-pretty
 * synchronously to stderr as one plain text line per record, so that the
 * lines users grep for (Wallaroo's start-up and recovery lines) read as they
 * do in Wallaroo's docs, and lines of one thread keep their order. Every
 * thread has its own logger; each line says which worker and thread wrote it.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** A logger. */
export type Logger = PinoLogger;

/** Log level from ROO_LOG_LEVEL (default info). */
export function logLevel(): string {
  return process.env['ROO_LOG_LEVEL'] ?? 'info';
}

/** Creates a logger writing plain lines to stderr. */
export function createLogger(fields: Record<string, string | number>): Logger {
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
