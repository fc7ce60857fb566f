/**
 * `roo metrics`: the metrics receiver and its live web UI (Wallaroo's
 * metrics_reporter_ui). Workers started with `--metrics HOST:PORT` report to
 * `--listen`; the page, its live feed and `/metrics` (Prometheus) are served
 * on `--http`. Runs until SIGINT or SIGTERM. The service itself is
 * runtime/metrics/ (docs/metrics.md).
 */
import { parseArgs } from 'node:util';
import { formatAddress, parseAddress, type Address } from '../../protocols/address.js';
import {
  DEFAULT_MAX_METRICS_CONNECTIONS,
  DEFAULT_MAX_UI_CLIENTS,
  startMetricsService,
  type MetricsService,
} from '../metrics/index.js';
import { flagError, parseCount } from './flags.js';
import {
  SECURITY_FLAG_OPTIONS,
  SECURITY_USAGE,
  securityField,
  toolSecurity,
} from './security-flags.js';
import type { SecurityFlags } from '../security/index.js';

/** Where workers report unless told otherwise (Wallaroo's examples use it). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:5001';
/** Where the UI is served unless told otherwise (Wallaroo's UI port). */
export const DEFAULT_METRICS_HTTP = '127.0.0.1:4000';

/** The usage text of `roo metrics`. */
export const METRICS_USAGE = `usage: roo metrics [flags]

Receives the metrics of workers started with --metrics HOST:PORT and serves
a live web UI of them, and /metrics in the Prometheus text format
(Wallaroo: metrics_reporter_ui). Prints where it listens to stderr
('Listening for metrics on HOST:PORT', 'Metrics UI at http://HOST:PORT/';
port 0: any free port, printed). Runs until SIGINT or SIGTERM.

  --listen HOST:PORT      where workers report (default ${DEFAULT_METRICS_LISTEN})
  --http HOST:PORT        where the UI and /metrics are served (default ${DEFAULT_METRICS_HTTP})
  --max-clients N         live UI clients at once (default ${DEFAULT_MAX_UI_CLIENTS})
  --max-connections N     worker connections at once (default ${DEFAULT_MAX_METRICS_CONNECTIONS})
${SECURITY_USAGE}
The cluster secret and TLS cover the workers' reports (--listen), not the
UI and /metrics (--http): bind --http to an address only you reach.
`;

const METRICS_FLAGS = {
  listen: { type: 'string' },
  http: { type: 'string' },
  'max-clients': { type: 'string' },
  'max-connections': { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** The options of `roo metrics`. */
export interface MetricsOptions {
  readonly listen: Address;
  readonly http: Address;
  readonly maxClients: number;
  readonly maxConnections: number;
  /** The cluster secret and TLS files, if any were given. */
  readonly security?: SecurityFlags;
}

/** Parses `roo metrics` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseMetricsArgs(argv: string[]): MetricsOptions | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: METRICS_FLAGS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw flagError(err, METRICS_FLAGS);
  }
  if (v.help === true) return 'help';
  return {
    listen: parseAddress(v.listen ?? DEFAULT_METRICS_LISTEN, { allowPortZero: true }),
    http: parseAddress(v.http ?? DEFAULT_METRICS_HTTP, { allowPortZero: true }),
    maxClients:
      v['max-clients'] === undefined
        ? DEFAULT_MAX_UI_CLIENTS
        : parseCount('max-clients', v['max-clients'], 1),
    maxConnections:
      v['max-connections'] === undefined
        ? DEFAULT_MAX_METRICS_CONNECTIONS
        : parseCount('max-connections', v['max-connections'], 1),
    ...securityField(v),
  };
}

/** The lines `roo metrics` prints once it listens (the demo prints them too). */
export function metricsListeningLines(service: MetricsService): string[] {
  return [
    `Listening for metrics on ${formatAddress(service.receiver.address)}`,
    `Metrics UI at http://${formatAddress(service.ui.address)}/`,
  ];
}

/** `roo metrics [flags]`: runs until SIGINT/SIGTERM; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let options: MetricsOptions;
  try {
    const parsed = parseMetricsArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(METRICS_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo metrics: ${(err as Error).message} (see 'roo metrics --help')\n`);
    return 2;
  }
  const logLine = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  let security;
  try {
    security = toolSecurity(options.security);
  } catch (err) {
    process.stderr.write(`roo metrics: ${(err as Error).message}\n`);
    return 2;
  }
  let service: MetricsService;
  try {
    service = await startMetricsService({ ...options, security, log: logLine });
  } catch (err) {
    logLine(
      `roo metrics: cannot listen on ${formatAddress(options.listen)} and ${formatAddress(options.http)}: ${(err as Error).message}`,
    );
    return 1;
  }
  for (const line of metricsListeningLines(service)) logLine(line);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await service.close();
  return 0;
}
