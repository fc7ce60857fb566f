/**
 * `roo shutdown ADDR` (Wallaroo's cluster_shutdown): asks the worker whose
 * external channel is at ADDR to stop the cluster cleanly. The worker
 * answers first, then stops as on SIGTERM (sources close, queued messages
 * drain to the sinks, threads stop) and exits 0. This command exits 0 once
 * the worker has acknowledged, 1 if nothing answered (or the worker refused),
 * 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { RooError, formatAddress, type Address } from '../../protocols/index.js';
import { DEFAULT_TIMEOUT_MS, ExternalClientError, requestExternal } from './external-client.js';
import { flagError, parseCount } from './flags.js';
import { oneAddress } from './status.js';
import {
  SECURITY_FLAG_OPTIONS,
  SECURITY_USAGE,
  securityField,
  toolSecurity,
} from './security-flags.js';
import type { SecurityFlags } from '../security/index.js';

/** Usage text of `roo shutdown`. */
export const SHUTDOWN_USAGE = `usage: roo shutdown ADDR [flags]

Stops the cluster cleanly through the external channel of one of its workers
at ADDR (its --external host:port), as Wallaroo's cluster_shutdown does.
Exits 0 once the worker has acknowledged.

  --timeout MS      how long to wait for the acknowledgement (default ${DEFAULT_TIMEOUT_MS})
${SECURITY_USAGE}  -h, --help        this text

Exit status: 0 acknowledged, 1 no acknowledgement (nothing listens, timeout, refused), 2 bad flags.
`;

/** Parsed `roo shutdown` flags. */
export interface ShutdownOptions {
  readonly address: Address;
  readonly timeoutMs: number;
  /** The cluster secret and TLS files, if any were given. */
  readonly security?: SecurityFlags;
}

/** The flags of `roo shutdown`, for parsing and for the nearest-name hint. */
const SHUTDOWN_FLAGS = {
  timeout: { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo shutdown` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseShutdownArgs(argv: string[]): ShutdownOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: SHUTDOWN_FLAGS,
    });
  } catch (err) {
    throw flagError(err, SHUTDOWN_FLAGS);
  }
  const { values: v, positionals } = parsed;
  if (v.help === true) return 'help';
  return {
    address: oneAddress(positionals),
    timeoutMs: v.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseCount('timeout', v.timeout, 1),
    ...securityField(v),
  };
}

/** The line printed for an acknowledged shutdown, from the worker's answer. */
export function describeShutdown(where: string, result: unknown): string {
  const r = (typeof result === 'object' && result !== null ? result : {}) as Record<
    string,
    unknown
  >;
  const worker = typeof r['worker'] === 'string' ? `'${r['worker']}'` : 'the worker';
  const stopping = Array.isArray(r['stopping'])
    ? r['stopping'].filter((w): w is string => typeof w === 'string')
    : [];
  const which = stopping.length > 0 ? `: stopping ${stopping.map((w) => `'${w}'`).join(', ')}` : '';
  return `shutdown acknowledged by worker ${worker} at ${where}${which}`;
}

/** Runs `roo shutdown`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let options: ShutdownOptions;
  try {
    const parsed = parseShutdownArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(SHUTDOWN_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo shutdown: ${(err as Error).message} (see 'roo shutdown --help')\n`);
    return 2;
  }
  let security;
  try {
    security = toolSecurity(options.security);
  } catch (err) {
    process.stderr.write(`roo shutdown: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const answer = await requestExternal(options.address, 'shutdown', {
      timeoutMs: options.timeoutMs,
      security,
    });
    process.stdout.write(`${describeShutdown(formatAddress(options.address), answer.result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ExternalClientError || err instanceof RooError) {
      process.stderr.write(`roo shutdown: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
