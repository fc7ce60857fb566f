/**
 * `roo shrink --external ADDR (--workers a,b | --count N | --query)`
 * (Wallaroo's cluster_shrinker): asks a running cluster, through the external
 * channel of any of its workers, to remove workers, or only which workers may
 * leave. The worker passes the request to the cluster's coordinator and
 * answers with the outcome: who leaves, who may leave, the members after.
 * Prints it for people, or with `--json` as it came. Exits 0 if the request
 * was taken (the shrink ran, or the query was answered), 1 if the cluster
 * refused it or nothing answered, 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import {
  ErrorCode,
  RooError,
  formatAddress,
  parseAddress,
  shrinkArgs,
  shrinkOutcomeOf,
  validateShrinkRequest,
  type Address,
  type ShrinkOutcome,
  type ShrinkRequest,
} from '../../protocols/index.js';
import { ExternalClientError, requestExternal } from './external-client.js';
import { badFlag, flagError, parseCount } from './flags.js';
import { WORKER_NAME_PATTERN } from './worker-flags.js';
import {
  SECURITY_FLAG_OPTIONS,
  SECURITY_USAGE,
  securityField,
  toolSecurity,
} from './security-flags.js';
import type { SecurityFlags } from '../security/index.js';

/** How long `roo shrink` waits for the outcome: moving state off the leaving workers takes a while. */
export const DEFAULT_SHRINK_TIMEOUT_MS = 60_000;

/** Usage text of `roo shrink`. */
export const SHRINK_USAGE = `usage: roo shrink --external ADDR (--workers NAMES | --count N | --query) [flags]

Removes workers from a running cluster through the external channel of any
of its workers (its --external host:port), as Wallaroo's cluster_shrinker
does. The leaving workers hand their state to the others and stop.

  -e, --external ADDR   a worker's external address host:port (required)
  -w, --workers NAMES   the workers to remove, by name, comma-separated
  -c, --count N         how many workers to remove (at least 1): the cluster picks
                        them among those that may leave
  -q, --query           only list the workers that may leave; change nothing
      --json            print the cluster's answer as JSON (for scripts)
      --timeout MS      how long to wait for the answer (default ${DEFAULT_SHRINK_TIMEOUT_MS})
${SECURITY_USAGE}  -h, --help            this text

Give one of --workers, --count and --query.
Exit status: 0 done (or the query answered), 1 refused or no answer, 2 bad flags.
`;

/** Parsed `roo shrink` flags. */
export interface ShrinkOptions {
  readonly address: Address;
  readonly request: ShrinkRequest;
  readonly json: boolean;
  readonly timeoutMs: number;
  /** The cluster secret and TLS files, if any were given. */
  readonly security?: SecurityFlags;
}

/** The flags of `roo shrink`, for parsing and for the nearest-name hint. */
const SHRINK_FLAGS = {
  external: { type: 'string', short: 'e' },
  workers: { type: 'string', short: 'w' },
  count: { type: 'string', short: 'c' },
  query: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo shrink` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseShrinkArgs(argv: readonly string[]): ShrinkOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: SHRINK_FLAGS,
    });
  } catch (err) {
    throw flagError(err, SHRINK_FLAGS);
  }
  const { values: v, positionals } = parsed;
  if (v.help === true) return 'help';
  if (positionals.length > 0) {
    throw badFlag(
      `unexpected argument '${positionals[0]}': give the worker's address as --external ADDR`,
    );
  }
  if (v.external === undefined) {
    throw badFlag("--external ADDR is required: a worker's external address (host:port)");
  }
  let address: Address;
  try {
    address = parseAddress(v.external);
  } catch (err) {
    throw new RooError(ErrorCode.BadAddress, `--external: ${(err as Error).message}`);
  }
  const given = [
    v.workers !== undefined ? '--workers' : undefined,
    v.count !== undefined ? '--count' : undefined,
    v.query === true ? '--query' : undefined,
  ].filter((f): f is string => f !== undefined);
  if (given.length === 0) {
    throw badFlag('give one of --workers NAMES, --count N and --query');
  }
  if (given.length > 1) {
    throw badFlag(`${given.join(' and ')} are different requests; give one`);
  }
  const request: ShrinkRequest = {
    workers: v.workers === undefined ? [] : workerList(v.workers),
    count: v.count === undefined ? 0 : parseCount('count', v.count, 1),
    query: v.query === true,
  };
  return {
    address,
    // Checked as the worker will check it, so that a bad request never leaves.
    request: validateShrinkRequest(request),
    json: v.json === true,
    timeoutMs:
      v.timeout === undefined ? DEFAULT_SHRINK_TIMEOUT_MS : parseCount('timeout', v.timeout, 1),
    ...securityField(v),
  };
}

/** `--workers a,b`: distinct worker names. Throws ROO_ERR_BAD_FLAG. */
function workerList(text: string): string[] {
  const names = text.split(',');
  const seen = new Set<string>();
  for (const name of names) {
    if (name === '') {
      throw badFlag(`--workers '${text}': an empty name (names are comma-separated, no spaces)`);
    }
    if (!WORKER_NAME_PATTERN.test(name)) {
      throw badFlag(
        `--workers: '${name}' is not a worker name (1 to 64 letters, digits, '_', '.' or '-')`,
      );
    }
    if (seen.has(name)) throw badFlag(`--workers: '${name}' is named twice`);
    seen.add(name);
  }
  return names;
}

/** Names as a list for people: `a, b` (or `none`), with their number. */
function namesLine(label: string, names: readonly string[]): string {
  return `${label} (${names.length}): ${names.length === 0 ? 'none' : names.join(', ')}`;
}

/**
 * What `roo shrink` prints on stdout for an outcome the cluster took: the
 * query's eligible workers and the members, or who left and who remains;
 * then the cluster's own sentence.
 */
export function formatShrinkOutcome(request: ShrinkRequest, outcome: ShrinkOutcome): string {
  const lines = request.query
    ? [namesLine('may leave', outcome.eligible), namesLine('members', outcome.members)]
    : [namesLine('leaving', outcome.leaving), namesLine('remaining members', outcome.members)];
  if (outcome.message !== '') lines.push(outcome.message);
  return `${lines.join('\n')}\n`;
}

/** What `roo shrink` prints on stderr when the cluster refused: why, and who may leave. */
export function formatShrinkRefusal(outcome: ShrinkOutcome): string {
  const lines = [`refused: ${outcome.message === '' ? 'no reason given' : outcome.message}`];
  // Who may leave instead; nothing to say for a worker alone.
  if (outcome.eligible.length > 0 || outcome.members.length > 1) {
    lines.push(namesLine('may leave', outcome.eligible));
  }
  return `${lines.map((l) => `roo shrink: ${l}`).join('\n')}\n`;
}

/** Where `roo shrink` writes (process.stdout / stderr, or a test's buffers). */
export interface ShrinkIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: ShrinkIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs `roo shrink`; resolves to the exit code. */
export async function run(argv: string[], io: ShrinkIo = processIo): Promise<number> {
  let options: ShrinkOptions;
  try {
    const parsed = parseShrinkArgs(argv);
    if (parsed === 'help') {
      io.out(SHRINK_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    io.err(`roo shrink: ${(err as Error).message} (see 'roo shrink --help')\n`);
    return 2;
  }
  let security;
  try {
    security = toolSecurity(options.security);
  } catch (err) {
    io.err(`roo shrink: ${(err as Error).message}\n`);
    return 2;
  }
  let outcome: ShrinkOutcome;
  try {
    const answer = await requestExternal(options.address, 'shrink', {
      timeoutMs: options.timeoutMs,
      security,
      args: shrinkArgs(options.request),
    });
    outcome = shrinkOutcomeOf(answer.result);
  } catch (err) {
    if (err instanceof ExternalClientError || err instanceof RooError) {
      const where = formatAddress(options.address);
      const text = err instanceof RooError ? `${where}: ${err.message}` : err.message;
      io.err(`roo shrink: ${text}\n`);
      return 1;
    }
    throw err;
  }
  if (options.json) io.out(`${JSON.stringify(outcome, null, 2)}\n`);
  if (!outcome.ok) {
    io.err(formatShrinkRefusal(outcome));
    return 1;
  }
  if (!options.json) io.out(formatShrinkOutcome(options.request, outcome));
  return 0;
}
