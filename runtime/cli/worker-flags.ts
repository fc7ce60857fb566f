/**
 * `roo worker` flags, as Wallaroo's worker (machida) takes them: long forms
 * with `--flag value` or `--flag=value`, Wallaroo's short forms, the names
 * older Wallaroo docs used (`--control-channel`, `--topology-initializer`,
 * `--worker-name`, `--stop-world`), and the Pony runtime's `--ponythreads`,
 * `--ponynoblock`, `--ponypinasio`. Flags roo has no use for are accepted and
 * listed by {@link flagsWithoutEffect}. Anything after `--` goes to the
 * application untouched. Parsing is pure: it returns the options or throws a
 * RooError with a message fit for the user.
 */
import { parseArgs } from 'node:util';
import {
  ErrorCode,
  RooError,
  parseAddress,
  parseAddressList,
  parseNamedAddressList,
  type Address,
} from '../../protocols/index.js';
import type { InputAddress } from '../api/args.js';
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  MAX_HEARTBEAT_TIMEOUT_MS,
  MIN_HEARTBEAT_TIMEOUT_MS,
} from '../cluster/liveness.js';
import type { SecurityFlags } from '../security/index.js';
import { SECURITY_FLAG_OPTIONS, SECURITY_USAGE, securityFlagsOf } from './security-flags.js';
import { flagError } from './flags.js';

/** Parsed `roo worker` options. */
export interface WorkerOptions {
  readonly applicationModule: string;
  readonly in: readonly InputAddress[];
  readonly out: readonly Address[];
  readonly metrics: Address | undefined;
  readonly control: Address | undefined;
  readonly data: Address | undefined;
  readonly myControl: Address | undefined;
  readonly myData: Address | undefined;
  readonly external: Address | undefined;
  readonly workerCount: number;
  readonly clusterInitializer: boolean;
  readonly name: string;
  readonly join: Address | undefined;
  /** `--cluster-id`: names the cluster this worker belongs to (letters, digits, `_.:-`). */
  readonly clusterId: string | undefined;
  readonly resilienceDir: string;
  readonly runWithResilience: boolean;
  /** Nanoseconds, as Wallaroo takes it. */
  readonly timeBetweenCheckpoints: bigint;
  /** `--stop-pause` (Wallaroo: the pause before state migration), nanoseconds. */
  readonly stopPause: bigint | undefined;
  /** `--log-rotation` (Wallaroo: rotate the event log); no effect in roo. */
  readonly logRotation: boolean;
  /** `--event-log-file-size` (Wallaroo: event log size that triggers a rotation), bytes; no effect in roo. */
  readonly eventLogFileSize: number | undefined;
  readonly ponythreads: number | undefined;
  readonly ponynoblock: boolean;
  readonly ponypinasio: boolean;
  /** `--auto-rebalance`: spread key groups over threads when one stays much busier. */
  readonly autoRebalance: boolean;
  /** `--cluster-secret-file`, `--tls-cert`, `--tls-key`, `--tls-ca`: paths, read at start-up. */
  readonly security: SecurityFlags;
  /** `--heartbeat-timeout`: a control connection silent this long (ms) is lost. */
  readonly heartbeatTimeoutMs: number;
  readonly appArgs: readonly string[];
}

/** Usage text of `roo worker`. */
export const WORKER_USAGE = `usage: roo worker --application-module PATH [flags] [-- application arguments]

Runs a worker of a roo application (Wallaroo's machida), alone or in a cluster.

  --application-module PATH     the application module (.ts or .js) (required)
  -i, --in ADDRS                source addresses: host:port or name@host:port, comma-separated
  -o, --out ADDR                sink address: host:port
  -m, --metrics ADDR            metrics receiver host:port (never blocks if nothing listens)
  -c, --control ADDR            the initializer's control address (alias --control-channel)
  -d, --data ADDR               the initializer's data address
  -x, --my-control ADDR         this worker's control address (non-initializers)
  -y, --my-data ADDR            this worker's data address (non-initializers)
  -e, --external ADDR           admin channel address (status, shutdown, shrink)
  -w, --worker-count N          workers in the cluster (initializer; default 1);
                                with --join: N joiners that join together
  -t, --cluster-initializer     this worker coordinates the cluster's start
                                (alias --topology-initializer)
  -n, --name NAME               worker name (alias --worker-name; default: initializer)
  -j, --join ADDR               join a running cluster through its control address
      --cluster-id ID           the cluster's id: letters, digits, '_', '.', ':', '-'
  -r, --resilience-dir DIR      where resilience files go (default /tmp/roo)
      --run-with-resilience     checkpoint state and recover after crashes
      --auto-rebalance          move key groups between threads when one stays much busier
                                than the mean (skewed keys); see roo rebalance
      --time-between-checkpoints NS   nanoseconds between checkpoints (default 1000000000)
      --heartbeat-timeout MS    a worker (or the initializer) silent this long on the control
                                channel is treated as lost (default ${DEFAULT_HEARTBEAT_TIMEOUT_MS})
${SECURITY_USAGE.trimEnd()}
  -u, --stop-pause NS           pause before state migration, nanoseconds (alias --stop-world);
                                accepted for Wallaroo compatibility; no effect yet
      --log-rotation            accepted for Wallaroo compatibility; no effect (logs go to stderr)
  -l, --event-log-file-size N   accepted for Wallaroo compatibility; no effect (no event log)
      --ponythreads N           scheduler threads (default: available cores)
      --ponynoblock             accepted for Wallaroo compatibility; no effect
      --ponypinasio             accepted for Wallaroo compatibility; no effect
  -h, --help                    this text
`;

/** What a worker name may be (`--name`). */
export const WORKER_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const CLUSTER_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;

function bad(message: string): RooError {
  return new RooError(ErrorCode.BadFlag, message);
}

function optionalAddress(
  flag: string,
  value: string | undefined,
  allowZero = false,
): Address | undefined {
  if (value === undefined) return undefined;
  try {
    return parseAddress(value, { allowPortZero: allowZero });
  } catch (err) {
    throw new RooError(ErrorCode.BadAddress, `--${flag}: ${(err as Error).message}`);
  }
}

function positiveInt(
  flag: string,
  value: string | undefined,
  fallback: number | undefined,
): number | undefined {
  if (value === undefined) return fallback;
  const text = value.replace(/_/g, '');
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw bad(`--${flag} takes a whole number of at least 1, got '${value}'`);
  }
  return Number(text);
}

/** The flags of `roo worker`, for parsing and for the nearest-name hint. */
const WORKER_FLAGS = {
  'application-module': { type: 'string' },
  in: { type: 'string', short: 'i' },
  out: { type: 'string', short: 'o' },
  metrics: { type: 'string', short: 'm' },
  control: { type: 'string', short: 'c' },
  'control-channel': { type: 'string' },
  data: { type: 'string', short: 'd' },
  'my-control': { type: 'string', short: 'x' },
  'my-data': { type: 'string', short: 'y' },
  external: { type: 'string', short: 'e' },
  'worker-count': { type: 'string', short: 'w' },
  'cluster-initializer': { type: 'boolean', short: 't' },
  'topology-initializer': { type: 'boolean' },
  name: { type: 'string', short: 'n' },
  'worker-name': { type: 'string' },
  join: { type: 'string', short: 'j' },
  'cluster-id': { type: 'string' },
  'resilience-dir': { type: 'string', short: 'r' },
  'run-with-resilience': { type: 'boolean' },
  'time-between-checkpoints': { type: 'string' },
  'stop-pause': { type: 'string', short: 'u' },
  'stop-world': { type: 'string' },
  'log-rotation': { type: 'boolean' },
  'event-log-file-size': { type: 'string', short: 'l' },
  ponythreads: { type: 'string' },
  ponynoblock: { type: 'boolean' },
  ponypinasio: { type: 'boolean' },
  'auto-rebalance': { type: 'boolean' },
  'heartbeat-timeout': { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo worker` arguments; returns 'help' for --help. Throws RooError on bad input. */
export function parseWorkerArgs(argv: readonly string[]): WorkerOptions | 'help' {
  const dashdash = argv.indexOf('--');
  const own = dashdash < 0 ? [...argv] : argv.slice(0, dashdash);
  const appArgs = dashdash < 0 ? [] : argv.slice(dashdash + 1);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: own,
      strict: true,
      allowPositionals: false,
      options: WORKER_FLAGS,
    }));
  } catch (err) {
    // Node's parseArgs explains at length over several lines; keep the first sentence.
    throw flagError(err, WORKER_FLAGS);
  }
  if (values['help'] === true) return 'help';
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const flag = (k: string): boolean => values[k] === true;

  const applicationModule = str('application-module');
  if (applicationModule === undefined || applicationModule === '') {
    throw bad('--application-module PATH is required');
  }
  /** The value of a flag given under either of its names; both with different values is refused. */
  const either = (flag: string, alias: string): string | undefined => {
    const a = str(flag);
    const b = str(alias);
    if (a !== undefined && b !== undefined && a !== b) {
      throw bad(`--${flag} and --${alias} are the same flag; give one`);
    }
    return a ?? b;
  };
  const name = either('name', 'worker-name') ?? 'initializer';
  if (!WORKER_NAME_PATTERN.test(name)) {
    throw bad(
      `--name '${name}': use 1 to 64 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
    );
  }
  let inputs: InputAddress[] = [];
  const inText = str('in');
  if (inText !== undefined) {
    try {
      inputs = inText.includes('@')
        ? parseNamedAddressList(inText, { allowPortZero: true })
        : parseAddressList(inText, { allowPortZero: true });
    } catch (err) {
      throw new RooError(ErrorCode.BadAddress, `--in: ${(err as Error).message}`);
    }
  }
  let out: Address[] = [];
  const outText = str('out');
  if (outText !== undefined) {
    try {
      out = parseAddressList(outText);
    } catch (err) {
      throw new RooError(ErrorCode.BadAddress, `--out: ${(err as Error).message}`);
    }
  }
  const workerCount = positiveInt('worker-count', str('worker-count'), 1) as number;
  const ponythreads = positiveInt('ponythreads', str('ponythreads'), undefined);
  if (ponythreads !== undefined && ponythreads > 256)
    throw bad(`--ponythreads ${ponythreads}: at most 256`);
  const tbcText = (str('time-between-checkpoints') ?? '1000000000').replace(/_/g, '');
  if (!/^[0-9]+$/.test(tbcText) || BigInt(tbcText) === 0n) {
    throw bad(
      `--time-between-checkpoints takes nanoseconds (a whole number above 0), got '${str('time-between-checkpoints')}'`,
    );
  }
  const resilienceDir = str('resilience-dir') ?? '/tmp/roo';
  if (resilienceDir === '') throw bad('--resilience-dir must not be empty');
  const clusterId = str('cluster-id');
  if (clusterId !== undefined && !CLUSTER_ID_PATTERN.test(clusterId)) {
    throw bad(`--cluster-id '${clusterId}': use 1 or more letters, digits, '_', '.', ':' or '-'`);
  }
  const stopPauseText = either('stop-pause', 'stop-world');
  let stopPause: bigint | undefined;
  if (stopPauseText !== undefined) {
    const digits = stopPauseText.replace(/_/g, '');
    if (!/^[0-9]+$/.test(digits)) {
      throw bad(`--stop-pause takes nanoseconds (a whole number from 0), got '${stopPauseText}'`);
    }
    stopPause = BigInt(digits);
  }
  const heartbeatText = str('heartbeat-timeout');
  const heartbeatTimeoutMs =
    positiveInt('heartbeat-timeout', heartbeatText, undefined) ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  if (
    heartbeatTimeoutMs < MIN_HEARTBEAT_TIMEOUT_MS ||
    heartbeatTimeoutMs > MAX_HEARTBEAT_TIMEOUT_MS
  ) {
    throw bad(
      `--heartbeat-timeout ${heartbeatText}: give milliseconds from ${MIN_HEARTBEAT_TIMEOUT_MS} to ${MAX_HEARTBEAT_TIMEOUT_MS}`,
    );
  }
  const initializer = flag('cluster-initializer') || flag('topology-initializer');
  const join = optionalAddress('join', str('join'));
  if (join !== undefined && initializer) {
    throw bad(
      '--cluster-initializer cannot be given with --join: a joining worker joins a running cluster, it does not start one',
    );
  }

  return {
    applicationModule,
    in: inputs,
    out,
    metrics: optionalAddress('metrics', str('metrics')),
    control: optionalAddress(
      str('control') !== undefined ? 'control' : 'control-channel',
      either('control', 'control-channel'),
      true,
    ),
    data: optionalAddress('data', str('data'), true),
    myControl: optionalAddress('my-control', str('my-control')),
    myData: optionalAddress('my-data', str('my-data'), true),
    external: optionalAddress('external', str('external'), true),
    workerCount,
    clusterInitializer: initializer,
    name,
    join,
    clusterId,
    resilienceDir,
    runWithResilience: flag('run-with-resilience'),
    timeBetweenCheckpoints: BigInt(tbcText),
    stopPause,
    logRotation: flag('log-rotation'),
    eventLogFileSize: positiveInt('event-log-file-size', str('event-log-file-size'), undefined),
    ponythreads,
    ponynoblock: flag('ponynoblock'),
    ponypinasio: flag('ponypinasio'),
    autoRebalance: flag('auto-rebalance'),
    security: securityFlagsOf(values),
    heartbeatTimeoutMs,
    appArgs,
  };
}

/**
 * The Wallaroo flags given that have no effect in roo (accepted so that
 * Wallaroo command lines run unchanged), as written on the command line;
 * the worker logs them at debug level.
 */
export function flagsWithoutEffect(o: WorkerOptions): string[] {
  const given: [boolean, string][] = [
    [o.ponynoblock, '--ponynoblock'],
    [o.ponypinasio, '--ponypinasio'],
    [o.logRotation, '--log-rotation'],
    [o.eventLogFileSize !== undefined, '--event-log-file-size'],
    [o.stopPause !== undefined, '--stop-pause'],
  ];
  return given.filter(([on]) => on).map(([, flag]) => flag);
}
