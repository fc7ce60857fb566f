/**
 * External messages: the admin channel every worker serves on `--external`
 * (docs/cluster.md), spoken by `roo shutdown`, `roo status` and
 * `roo shrink`. A tool sends a `request` with an id and a command; the worker
 * answers one `response` with the same id, carrying a result or a coded error.
 * One message per frame.
 *
 * Encoded with msgpackr as plain maps, like data messages (data-message.ts),
 * and validated deeply on decode. A request naming an unknown command is
 * refused with its own code, ROO_ERR_UNKNOWN_REQUEST, and every refusal of a
 * request whose id could be read carries that id in `details.id`, so the
 * server can answer it with {@link makeErrorResponse} instead of only closing
 * the connection.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, type ErrorCodeValue, RooError } from './errors.js';
import type { ShrinkOutcome, ShrinkRequest } from './reconfigure.js';
import {
  LONE_SURROGATE,
  asRecord,
  bad,
  clip,
  count,
  describe,
  field,
  isCount,
  isPlainRecord,
  supportedVersion,
  wellFormed,
  unpackWire,
} from './validate.js';

/** Version of the external-message format; a peer speaking another is refused. */
export const EXTERNAL_PROTOCOL_VERSION = 1;

/** Every command a worker serves on the external channel. */
export const EXTERNAL_COMMANDS = [
  'status', // membership, routing, throughput: what `roo status` shows
  'shutdown', // stop the whole cluster cleanly, removing resilience files (`roo shutdown`)
  'rotate-logs', // reopen log files, for logrotate
  'partition-query', // which key groups and keys live on which worker and thread
  'entity-counts', // state entities per partition
  'shrink', // remove workers from the running cluster (`roo shrink`)
  'rebalance', // spread a worker's key groups over its threads by load (`roo rebalance`)
] as const;

/** One of {@link EXTERNAL_COMMANDS}. */
export type ExternalCommand = (typeof EXTERNAL_COMMANDS)[number];

/** An argument of a request: a string, a finite number, a boolean or a list of strings. */
export type ExternalArgValue = string | number | boolean | readonly string[];

/** Arguments of a request, by name. */
export type ExternalArgs = Readonly<Record<string, ExternalArgValue>>;

/** A tool asks a worker to do `command`. */
export interface ExternalRequest {
  readonly type: 'request';
  readonly version: typeof EXTERNAL_PROTOCOL_VERSION;
  /** Chosen by the tool; the response carries it back. */
  readonly id: number;
  readonly command: ExternalCommand;
  readonly args?: ExternalArgs;
}

/**
 * A JSON-like value: null, a boolean, a finite number, a string, or arrays
 * and plain objects of these, nested at most {@link MAX_RESULT_DEPTH} deep.
 */
export type ExternalResultValue =
  | null
  | boolean
  | number
  | string
  | readonly ExternalResultValue[]
  | { readonly [key: string]: ExternalResultValue };

/** Deepest nesting of arrays and objects accepted in a result. */
export const MAX_RESULT_DEPTH = 32;

/** Why a request failed: a stable code and a message for the user. */
export interface ExternalError {
  readonly code: ErrorCodeValue;
  readonly message: string;
}

/** A request succeeded. */
export interface ExternalOkResponse {
  readonly type: 'response';
  readonly version: typeof EXTERNAL_PROTOCOL_VERSION;
  /** The id of the request answered. */
  readonly id: number;
  readonly ok: true;
  readonly result: ExternalResultValue;
}

/** A request failed (or could not be read). */
export interface ExternalErrorResponse {
  readonly type: 'response';
  readonly version: typeof EXTERNAL_PROTOCOL_VERSION;
  /** The id of the request answered. */
  readonly id: number;
  readonly ok: false;
  readonly error: ExternalError;
}

/** The answer to a request, discriminated by `ok`. */
export type ExternalResponse = ExternalOkResponse | ExternalErrorResponse;

/** Any message on the external channel, discriminated by `type` (and a response by `ok`). */
export type ExternalMessage = ExternalRequest | ExternalResponse;

/** The `type` of each kind of {@link ExternalMessage}. */
export type ExternalMessageType = ExternalMessage['type'];

/** A successful response to request `id`. */
export function makeResponse(id: number, result: ExternalResultValue): ExternalOkResponse {
  return { type: 'response', version: EXTERNAL_PROTOCOL_VERSION, id, ok: true, result };
}

/**
 * A failed response to request `id`. Takes a RooError as it is (only its code
 * and message travel, not its details) or any `{ code, message }`.
 */
export function makeErrorResponse(
  id: number,
  error: { readonly code: ErrorCodeValue; readonly message: string },
): ExternalErrorResponse {
  return {
    type: 'response',
    version: EXTERNAL_PROTOCOL_VERSION,
    id,
    ok: false,
    error: { code: error.code, message: error.message },
  };
}

const COMMANDS: ReadonlySet<string> = new Set(EXTERNAL_COMMANDS);
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes an external message (validated first, so a malformed one fails at
 * the sender). Returns a plain Uint8Array of exactly the encoding's size with
 * a buffer of its own: msgpackr packs into a shared buffer that its next call
 * overwrites.
 */
export function encodeExternalMessage(message: ExternalMessage): Uint8Array {
  const valid = validateExternalMessage(message);
  return new Uint8Array(packr.pack(valid));
}

/**
 * Decodes and validates one encoded external message. Throws RooError
 * ROO_ERR_BAD_VERSION for another protocol version, ROO_ERR_UNKNOWN_REQUEST
 * for a request naming an unknown command (details: `id`, `command`), and
 * ROO_ERR_BAD_MESSAGE for anything else malformed: bytes msgpackr cannot
 * read, a truncated or padded encoding, or a value that is not a valid
 * message. Refusals of a request with a readable id carry it in `details.id`.
 */
export function decodeExternalMessage(bytes: Uint8Array): ExternalMessage {
  const value = unpackWire((b) => unpackr.unpack(b), bytes, 'external message');
  return validateExternalMessage(value);
}

/**
 * Checks that `value` is an external message of the current version and
 * returns it as a fresh deep copy holding only its fields. Ids are
 * non-negative safe integers; a response holds `result` when `ok` and
 * `error` otherwise, never both; results are JSON-like (see
 * {@link ExternalResultValue}); strings must be well-formed UTF-16; object
 * keys may not be `__proto__` (msgpackr renames it in transit). Unknown
 * fields are refused. Throws like {@link decodeExternalMessage}.
 */
export function validateExternalMessage(value: unknown): ExternalMessage {
  const record = asRecord(value, 'external message');
  const version = supportedVersion(
    record,
    'external message',
    EXTERNAL_PROTOCOL_VERSION,
    'worker',
    (r) => {
      const id = field(r, 'id');
      return isCount(id) ? { id } : {};
    },
  );
  const type = field(record, 'type');
  if (type === 'request') return validateRequest(record, version);
  if (type === 'response') return validateResponse(record, version);
  throw bad(`unknown external message type ${describe(type)}`);
}

function validateRequest(
  record: Record<string, unknown>,
  version: typeof EXTERNAL_PROTOCOL_VERSION,
): ExternalRequest {
  const what = "a 'request' external message";
  const id = count(field(record, 'id'), 'id', what);
  try {
    onlyFields(record, ['type', 'version', 'id', 'command', 'args'], what);
    const command = field(record, 'command');
    if (typeof command !== 'string') {
      throw bad(`field 'command' of ${what} must be a string, got ${describe(command)}`);
    }
    if (!COMMANDS.has(command)) {
      throw new RooError(
        ErrorCode.UnknownRequest,
        `unknown external command ${describe(command)} (known: ${EXTERNAL_COMMANDS.join(', ')})`,
        { command: clip(command) },
      );
    }
    const request = { type: 'request', version, id, command: command as ExternalCommand } as const;
    // An args of undefined counts as none: `args: cond ? {...} : undefined` is natural to write.
    if (field(record, 'args') === undefined) return request;
    return { ...request, args: validateArgs(record['args'], what) };
  } catch (e) {
    // Tell the server which request to answer with the error.
    if (e instanceof RooError) throw new RooError(e.code, e.message, { ...e.details, id });
    throw e;
  }
}

function validateArgs(x: unknown, what: string): ExternalArgs {
  if (!isPlainRecord(x)) throw bad(`field 'args' of ${what} must be a map, got ${describe(x)}`);
  const entries: [string, ExternalArgValue][] = [];
  for (const key of Object.keys(x)) {
    const path = `args.${clip(key)}`;
    checkKey(key, `'args' of ${what}`);
    const v = x[key];
    if (typeof v === 'string') {
      entries.push([key, wellFormed(v, path, what)]);
    } else if (typeof v === 'boolean') {
      entries.push([key, v]);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw bad(`field '${path}' of ${what} must be finite, got ${v}`);
      entries.push([key, v === 0 ? 0 : v]);
    } else if (Array.isArray(v)) {
      const list = Array.from(v as unknown[], (s, i) => {
        if (typeof s !== 'string') {
          throw bad(`field '${path}[${i}]' of ${what} must be a string, got ${describe(s)}`);
        }
        return wellFormed(s, `${path}[${i}]`, what);
      });
      entries.push([key, list]);
    } else {
      throw bad(
        `field '${path}' of ${what} must be a string, a number, a boolean or a list of strings, got ${describe(v)}`,
      );
    }
  }
  // fromEntries defines own properties, whatever the keys.
  return Object.fromEntries(entries);
}

function validateResponse(
  record: Record<string, unknown>,
  version: typeof EXTERNAL_PROTOCOL_VERSION,
): ExternalResponse {
  const ok = field(record, 'ok');
  if (typeof ok !== 'boolean') {
    throw bad(`field 'ok' of a 'response' external message must be a boolean, got ${describe(ok)}`);
  }
  const what = `a 'response' external message with ok ${ok}`;
  onlyFields(record, ['type', 'version', 'id', 'ok', ok ? 'result' : 'error'], what);
  const id = count(field(record, 'id'), 'id', what);
  if (ok) {
    if (!Object.hasOwn(record, 'result')) throw bad(`${what} must have a field 'result'`);
    return { type: 'response', version, id, ok, result: result(record['result'], what) };
  }
  const error = field(record, 'error');
  if (!isPlainRecord(error)) {
    throw bad(`field 'error' of ${what} must be a map, got ${describe(error)}`);
  }
  onlyFields(error, ['code', 'message'], `the 'error' of ${what}`);
  const code = field(error, 'code');
  if (typeof code !== 'string' || !ERROR_CODES.has(code)) {
    throw bad(`field 'error.code' of ${what} must be a ROO_ERR_ code, got ${describe(code)}`);
  }
  const message = field(error, 'message');
  if (typeof message !== 'string') {
    throw bad(`field 'error.message' of ${what} must be a string, got ${describe(message)}`);
  }
  return {
    type: 'response',
    version,
    id,
    ok,
    error: { code: code as ErrorCodeValue, message: wellFormed(message, 'error.message', what) },
  };
}

/** Copies a result, checking it is JSON-like and nested at most MAX_RESULT_DEPTH deep. */
function result(x: unknown, what: string): ExternalResultValue {
  const copy = (v: unknown, path: string, depth: number): ExternalResultValue => {
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw bad(`field '${path}' of ${what} must be finite, got ${v}`);
      // msgpack carries -0 as the integer 0; normalize so a round trip is exact.
      return v === 0 ? 0 : v;
    }
    if (typeof v === 'string') return wellFormed(v, path, what);
    if (Array.isArray(v)) {
      deeper(depth);
      return Array.from(v as unknown[], (item, i) => copy(item, `${path}[${i}]`, depth + 1));
    }
    if (isPlainRecord(v)) {
      deeper(depth);
      const entries: [string, ExternalResultValue][] = [];
      for (const key of Object.keys(v)) {
        checkKey(key, `'${path}' of ${what}`);
        entries.push([key, copy(v[key], `${path}.${clip(key)}`, depth + 1)]);
      }
      return Object.fromEntries(entries);
    }
    throw bad(
      `field '${path}' of ${what} must be null, a boolean, a finite number, a string, an array or a plain object, got ${describe(v)}`,
    );
  };
  // Also stops a cycle in a caller's value before it overflows the stack.
  const deeper = (depth: number): void => {
    if (depth >= MAX_RESULT_DEPTH) {
      throw bad(`field 'result' of ${what} nests deeper than ${MAX_RESULT_DEPTH} levels`);
    }
  };
  return copy(x, 'result', 0);
}

/** Object keys must travel unchanged: well-formed, and not `__proto__`, which msgpackr renames. */
function checkKey(key: string, where: string): void {
  if (key === '__proto__') throw bad(`the key "__proto__" cannot travel in ${where}`);
  if (LONE_SURROGATE.test(key)) {
    throw bad(`a key of ${where} is not well-formed UTF-16: ${JSON.stringify(clip(key))}`);
  }
}

function onlyFields(
  record: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw bad(`unexpected field ${JSON.stringify(clip(key))} in ${what}`);
    }
  }
}

// ---------------------------------------------------------------------------
// The `shrink` command: its args are a ShrinkRequest, its result a ShrinkOutcome.
// A request's args are checked when it is answered, not when it is decoded (as
// partition-query's are), so a bad one is answered with an error and its
// connection stays open.

const SHRINK_WHAT = "a 'shrink' request";
const SHRINK_FIELDS = ['workers', 'count', 'query'] as const;

/**
 * Checks a shrink request and returns a fresh copy. Exactly one of: some
 * `workers` (distinct, non-empty names), a `count` above 0, or `query` with
 * neither. Throws ROO_ERR_BAD_MESSAGE naming what is wrong: a field missing,
 * of the wrong type or unknown; a negative or fractional count; an empty or
 * repeated name; workers and a count together; a query with either; nothing
 * asked at all.
 */
export function validateShrinkRequest(value: unknown): ShrinkRequest {
  if (!isPlainRecord(value)) {
    throw bad(`${SHRINK_WHAT} takes args { workers, count, query }, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!(SHRINK_FIELDS as readonly string[]).includes(key)) {
      throw bad(
        `unexpected field ${JSON.stringify(clip(key))} in ${SHRINK_WHAT} (fields: ${SHRINK_FIELDS.join(', ')})`,
      );
    }
  }
  const rawWorkers = field(value, 'workers');
  if (!Array.isArray(rawWorkers)) {
    throw bad(
      `field 'args.workers' of ${SHRINK_WHAT} must be a list of names, got ${describe(rawWorkers)}`,
    );
  }
  const workers = Array.from(rawWorkers as unknown[], (w, i) => {
    if (typeof w !== 'string' || w.length === 0) {
      throw bad(
        `field 'args.workers[${i}]' of ${SHRINK_WHAT} must be a non-empty worker name, got ${describe(w)}`,
      );
    }
    return wellFormed(w, `args.workers[${i}]`, SHRINK_WHAT);
  });
  const seen = new Set<string>();
  for (const w of workers) {
    if (seen.has(w)) throw bad(`${SHRINK_WHAT} names worker ${describe(w)} twice`);
    seen.add(w);
  }
  const count = field(value, 'count');
  if (!isCount(count)) {
    throw bad(
      `field 'args.count' of ${SHRINK_WHAT} must be a whole number from 0 (0: not given), got ${describe(count)}`,
    );
  }
  const query = field(value, 'query');
  if (typeof query !== 'boolean') {
    throw bad(`field 'args.query' of ${SHRINK_WHAT} must be a boolean, got ${describe(query)}`);
  }
  if (workers.length > 0 && count > 0) {
    throw bad(`${SHRINK_WHAT} gives both workers and a count; give one`);
  }
  if (query && (workers.length > 0 || count > 0)) {
    throw bad(`${SHRINK_WHAT} with query changes nothing: give it no workers and no count`);
  }
  if (!query && workers.length === 0 && count === 0) {
    throw bad(`${SHRINK_WHAT} must give workers, a count above 0, or query`);
  }
  return { workers, count: count === 0 ? 0 : count, query };
}

/** The args of a `shrink` request carrying `request` (checked first; throws like {@link validateShrinkRequest}). */
export function shrinkArgs(request: ShrinkRequest): ExternalArgs {
  const valid = validateShrinkRequest(request);
  return { workers: valid.workers, count: valid.count, query: valid.query };
}

/** Reads the ShrinkRequest a `shrink` request's args carry; throws ROO_ERR_BAD_MESSAGE. */
export function shrinkRequestOf(args: ExternalArgs | undefined): ShrinkRequest {
  return validateShrinkRequest(args);
}

/**
 * Reads a `shrink` response's result as a ShrinkOutcome, keeping only its
 * fields (a newer worker may send more). Throws ROO_ERR_BAD_MESSAGE
 * (`malformed shrink answer: ...`) if a field is missing or of another type.
 */
export function shrinkOutcomeOf(result: unknown): ShrinkOutcome {
  const malformed = (what: string) => bad(`malformed shrink answer: ${what}`);
  if (!isPlainRecord(result)) throw malformed(`expected an object, got ${describe(result)}`);
  const ok = field(result, 'ok');
  if (typeof ok !== 'boolean') throw malformed(`'ok' should be a boolean, got ${describe(ok)}`);
  const message = field(result, 'message');
  if (typeof message !== 'string') {
    throw malformed(`'message' should be a string, got ${describe(message)}`);
  }
  const names = (key: 'leaving' | 'eligible' | 'members'): string[] => {
    const list = field(result, key);
    if (!Array.isArray(list) || !(list as unknown[]).every((w) => typeof w === 'string')) {
      throw malformed(`'${key}' should be a list of worker names, got ${describe(list)}`);
    }
    return [...(list as string[])];
  };
  return {
    ok,
    message,
    leaving: names('leaving'),
    eligible: names('eligible'),
    members: names('members'),
  };
}
