/**
 * `roo status ADDR`: asks a worker's external channel (`--external ADDR`)
 * what it is doing and prints it, as a table for people or, with `--json`,
 * the worker's answer as it came, for scripts. Three views:
 *  - default: the worker, its cluster members, threads, sources, sinks,
 *    state partitions and errors (`status`);
 *  - `--partitions`: every key group of every state partition, the worker
 *    and thread that hold it, and its keys (`partition-query`);
 *  - `--entities`: state entities per partition and thread (`entity-counts`);
 *  - `--watch`: the status redrawn every second (status-watch.ts).
 * Exits 0 with an answer, 1 without one (nothing listens, no answer in
 * time, the worker refused), 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { ErrorCode, RooError, parseAddress, type Address } from '../../protocols/index.js';
import {
  parseEntityCounts,
  parsePartitionQuery,
  parseWorkerStatus,
} from '../cluster/status-check.js';
import {
  formatEntityCounts,
  formatPartitionQuery,
  formatStatus,
} from '../cluster/status-format.js';
import { DEFAULT_KEYS_PER_GROUP, MAX_KEYS_PER_GROUP } from '../cluster/status.js';
import { DEFAULT_TIMEOUT_MS, ExternalClientError, requestExternal } from './external-client.js';
import { flagError, parseCount } from './flags.js';
import {
  SECURITY_FLAG_OPTIONS,
  SECURITY_USAGE,
  securityField,
  toolSecurity,
} from './security-flags.js';
import type { SecurityFlags } from '../security/index.js';
import { watchStatus } from './status-watch.js';

/** Usage text of `roo status`. */
export const STATUS_USAGE = `usage: roo status ADDR [flags]

Shows what the worker whose external channel is at ADDR (its --external
host:port) is doing.

  --partitions      every key group: its worker, thread and keys (first ${DEFAULT_KEYS_PER_GROUP} per group)
  --keys N          with --partitions: list up to N keys per key group (at most ${MAX_KEYS_PER_GROUP})
  --entities        state entities per partition and thread
  --json            print the worker's answer as JSON (for scripts)
  --watch           a live view, redrawn every second: throughput, latency, threads (Ctrl-C quits)
  --timeout MS      how long to wait for the answer (default ${DEFAULT_TIMEOUT_MS})
${SECURITY_USAGE}  -h, --help        this text

Exit status: 0 answered, 1 no answer (nothing listens, timeout, refused), 2 bad flags.
`;

/** Which answer `roo status` asks for. */
export type StatusView = 'status' | 'partitions' | 'entities';

/** Parsed `roo status` flags. */
export interface StatusOptions {
  readonly address: Address;
  readonly view: StatusView;
  readonly json: boolean;
  readonly timeoutMs: number;
  readonly keysPerGroup: number;
  /** The cluster secret and TLS files, if any were given. */
  readonly security?: SecurityFlags;
  /** `--watch`: the live view. */
  readonly watch: boolean;
}

/** The flags of `roo status`, for parsing and for the nearest-name hint. */
const STATUS_FLAGS = {
  partitions: { type: 'boolean' },
  entities: { type: 'boolean' },
  keys: { type: 'string' },
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  timeout: { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo status` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseStatusArgs(argv: string[]): StatusOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: STATUS_FLAGS,
    });
  } catch (err) {
    throw flagError(err, STATUS_FLAGS);
  }
  const { values: v, positionals } = parsed;
  if (v.help === true) return 'help';
  const address = oneAddress(positionals);
  if (v.partitions === true && v.entities === true) {
    throw new RooError(ErrorCode.BadFlag, '--partitions and --entities are two views; give one');
  }
  if (v.watch === true && (v.json === true || v.partitions === true || v.entities === true)) {
    throw new RooError(
      ErrorCode.BadFlag,
      '--watch is a view of its own: not with --json, --partitions or --entities',
    );
  }
  if (v.keys !== undefined && v.partitions !== true) {
    throw new RooError(ErrorCode.BadFlag, '--keys is only for --partitions');
  }
  const keysPerGroup =
    v.keys === undefined ? DEFAULT_KEYS_PER_GROUP : parseCount('keys', v.keys, 0);
  if (keysPerGroup > MAX_KEYS_PER_GROUP) {
    throw new RooError(ErrorCode.BadFlag, `--keys ${keysPerGroup}: at most ${MAX_KEYS_PER_GROUP}`);
  }
  return {
    address,
    view: v.partitions === true ? 'partitions' : v.entities === true ? 'entities' : 'status',
    json: v.json === true,
    timeoutMs: v.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseCount('timeout', v.timeout, 1),
    keysPerGroup,
    ...securityField(v),
    watch: v.watch === true,
  };
}

/**
 * The one positional argument of `roo status` / `roo shutdown`: the
 * worker's external address. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS.
 */
export function oneAddress(positionals: readonly string[]): Address {
  if (positionals.length === 0) {
    throw new RooError(
      ErrorCode.BadFlag,
      "the worker's external address ADDR (host:port) is required",
    );
  }
  if (positionals.length > 1) {
    throw new RooError(
      ErrorCode.BadFlag,
      `one address expected, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  return parseAddress(positionals[0] as string);
}

/** Runs `roo status`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let options: StatusOptions;
  try {
    const parsed = parseStatusArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(STATUS_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo status: ${(err as Error).message} (see 'roo status --help')\n`);
    return 2;
  }
  let security;
  try {
    security = toolSecurity(options.security);
  } catch (err) {
    process.stderr.write(`roo status: ${(err as Error).message}\n`);
    return 2;
  }
  if (options.watch) return watchStatus(options.address, options.timeoutMs, security);
  try {
    const timeoutMs = options.timeoutMs;
    if (options.view === 'partitions') {
      const answer = await requestExternal(options.address, 'partition-query', {
        timeoutMs,
        security,
        args: { keysPerGroup: options.keysPerGroup },
      });
      print(options.json, answer.result, () =>
        formatPartitionQuery(parsePartitionQuery(answer.result)),
      );
    } else if (options.view === 'entities') {
      const answer = await requestExternal(options.address, 'entity-counts', {
        timeoutMs,
        security,
      });
      print(options.json, answer.result, () =>
        formatEntityCounts(parseEntityCounts(answer.result)),
      );
    } else {
      const answer = await requestExternal(options.address, 'status', { timeoutMs, security });
      print(options.json, answer.result, () => formatStatus(parseWorkerStatus(answer.result)));
    }
    return 0;
  } catch (err) {
    if (err instanceof ExternalClientError || err instanceof RooError) {
      process.stderr.write(`roo status: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function print(json: boolean, result: unknown, table: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : table());
}
