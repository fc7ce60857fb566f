/**
 * `roo rebalance --external ADDR`: asks the worker whose external channel is
 * at ADDR to spread its key groups over its scheduler threads by measured
 * load (messages each group took since the last rebalance). The groups that
 * move are re-spawned on their new threads at a barrier, state and all, as
 * when key groups move between workers. Prints the worker's answer; exits 0
 * if it was done (or nothing needed to move), 1 if refused or nothing
 * answered, 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import {
  ErrorCode,
  RooError,
  formatAddress,
  parseAddress,
  type Address,
} from '../../protocols/index.js';
import { ExternalClientError, requestExternal } from './external-client.js';
import { badFlag, flagError, parseCount } from './flags.js';
import {
  SECURITY_FLAG_OPTIONS,
  SECURITY_USAGE,
  securityField,
  toolSecurity,
} from './security-flags.js';
import type { SecurityFlags } from '../security/index.js';

/** How long `roo rebalance` waits: the moving groups' state is re-spawned. */
export const DEFAULT_REBALANCE_TIMEOUT_MS = 60_000;

/** Usage text of `roo rebalance`. */
export const REBALANCE_USAGE = `usage: roo rebalance --external ADDR [flags]

Spreads a worker's key groups over its scheduler threads by measured load,
through the worker's external channel (its --external host:port). Groups
move from the busiest thread to the least busy while that narrows the gap,
until the busiest carries at most 1.1x the mean load.

  -e, --external ADDR   the worker's external address host:port (required)
      --json            print the worker's answer as JSON
      --timeout MS      how long to wait for the answer (default ${DEFAULT_REBALANCE_TIMEOUT_MS})
${SECURITY_USAGE}  -h, --help            this text

Exit status: 0 done (or balanced already), 1 refused or no answer, 2 bad flags.
`;

/** Parsed `roo rebalance` flags. */
export interface RebalanceOptions {
  readonly address: Address;
  readonly json: boolean;
  readonly timeoutMs: number;
  /** The cluster secret and TLS files, if any were given. */
  readonly security?: SecurityFlags;
}

/** The flags of `roo rebalance`, for parsing and for the nearest-name hint. */
const REBALANCE_FLAGS = {
  external: { type: 'string', short: 'e' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  ...SECURITY_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `roo rebalance` flags, or 'help'. Throws ROO_ERR_BAD_FLAG / ROO_ERR_BAD_ADDRESS. */
export function parseRebalanceArgs(argv: readonly string[]): RebalanceOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: REBALANCE_FLAGS,
    });
  } catch (err) {
    throw flagError(err, REBALANCE_FLAGS);
  }
  const { values: v, positionals } = parsed;
  if (v.help === true) return 'help';
  if (positionals.length > 0)
    throw badFlag(`unexpected argument '${positionals[0]}': give the address as --external ADDR`);
  if (v.external === undefined)
    throw badFlag("--external ADDR is required: a worker's external address (host:port)");
  let address: Address;
  try {
    address = parseAddress(v.external);
  } catch (err) {
    throw new RooError(ErrorCode.BadAddress, `--external: ${(err as Error).message}`);
  }
  return {
    address,
    json: v.json === true,
    timeoutMs:
      v.timeout === undefined ? DEFAULT_REBALANCE_TIMEOUT_MS : parseCount('timeout', v.timeout, 1),
    ...securityField(v),
  };
}

/** The worker's answer, checked: `{ ok, message }`. Throws ROO_ERR_BAD_MESSAGE. */
export function rebalanceOutcomeOf(result: unknown): { ok: boolean; message: string } {
  const r = result as Record<string, unknown> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r['ok'] !== 'boolean' ||
    typeof r['message'] !== 'string'
  )
    throw new RooError(
      ErrorCode.BadMessage,
      'malformed rebalance answer: expected { ok, message }',
    );
  return { ok: r['ok'], message: r['message'] };
}

/** Runs `roo rebalance`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let options: RebalanceOptions;
  try {
    const parsed = parseRebalanceArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(REBALANCE_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo rebalance: ${(err as Error).message} (see 'roo rebalance --help')\n`);
    return 2;
  }
  let security;
  try {
    security = toolSecurity(options.security);
  } catch (err) {
    process.stderr.write(`roo rebalance: ${(err as Error).message}\n`);
    return 2;
  }
  let outcome: { ok: boolean; message: string };
  try {
    const answer = await requestExternal(options.address, 'rebalance', {
      timeoutMs: options.timeoutMs,
      security,
    });
    outcome = rebalanceOutcomeOf(answer.result);
  } catch (err) {
    if (err instanceof ExternalClientError || err instanceof RooError) {
      process.stderr.write(`roo rebalance: ${formatAddress(options.address)}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
  if (!outcome.ok) {
    process.stderr.write(`roo rebalance: refused: ${outcome.message}\n`);
    return 1;
  }
  if (!options.json) process.stdout.write(`${outcome.message}\n`);
  return 0;
}
