/**
 * The deep validator of control messages' nested values (control-codec.ts):
 * addresses, worker names, directories, counts. Every failure names the
 * message kind and the field's path.
 */
import type { Address } from './address.js';
import { MAX_NAME_LENGTH } from './address.js';
import type { WorkerDirectory } from './control-message.js';
import { ErrorCode, type ErrorCodeValue, RooError } from './errors.js';
import {
  bad,
  clip,
  count,
  describe,
  field,
  isCount,
  isPlainRecord,
  nonEmptyText,
} from './validate.js';

/** Longest host accepted in an address (a DNS name's limit). */
const MAX_HOST_LENGTH = 253;
/** Hosts are ASCII without spaces or controls: host names, IPv4, or an IPv6 literal the OS reported. */
const HOST_PATTERN = /^[\x21-\x7e]+$/;
/** Worker names, as `roo worker --name` accepts them (runtime/cli/worker-flags.ts). */
const WORKER_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A record key that is an index: decimal, no sign, no leading zero. */
const INDEX_KEY_PATTERN = /^(0|[1-9][0-9]*)$/;
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * Validates nested values of one message and builds copies of them; every
 * failure names the message kind and the path of the field.
 */
export class Checker {
  constructor(private readonly what: string) {}

  fail(path: string, problem: string): RooError {
    return bad(`field '${path}' of a ${this.what} ${problem}`);
  }

  record(x: unknown, path: string): Record<string, unknown> {
    if (!isPlainRecord(x)) throw this.fail(path, `must be a map, got ${describe(x)}`);
    return x;
  }

  /** An array; callers walk it with Array.from so that a hole reads as undefined and is refused. */
  array(x: unknown, path: string): readonly unknown[] {
    if (!Array.isArray(x)) throw this.fail(path, `must be an array, got ${describe(x)}`);
    return x;
  }

  /** Refuses any own field of `r` not in `allowed`. */
  onlyFields(r: Record<string, unknown>, allowed: readonly string[], path: string): void {
    for (const key of Object.keys(r)) {
      if (!allowed.includes(key)) {
        const where = path === '' ? '' : ` in '${path}'`;
        throw bad(`unexpected field ${JSON.stringify(clip(key))}${where} of a ${this.what}`);
      }
    }
  }

  count(x: unknown, path: string): number {
    return count(x, path, `a ${this.what}`);
  }

  positive(x: unknown, path: string): number {
    if (!isCount(x) || x < 1)
      throw this.fail(path, `must be an integer of at least 1, got ${describe(x)}`);
    return x;
  }

  /** An index into a list of `length` entries. */
  index(x: unknown, path: string, length: number): number {
    const i = this.count(x, path);
    if (i >= length) throw this.fail(path, `is ${i}, but there are only ${length} workers`);
    return i;
  }

  boolean(x: unknown, path: string): boolean {
    if (typeof x !== 'boolean') throw this.fail(path, `must be a boolean, got ${describe(x)}`);
    return x;
  }

  text(x: unknown, path: string): string {
    return nonEmptyText(x, path, `a ${this.what}`);
  }

  workerName(x: unknown, path: string): string {
    const name = this.text(x, path);
    if (name.length > MAX_NAME_LENGTH || !WORKER_NAME_PATTERN.test(name)) {
      throw this.fail(
        path,
        `must be 1 to ${MAX_NAME_LENGTH} letters, digits, '_', '.' or '-', not starting with '.' or '-', got ${describe(name)}`,
      );
    }
    return name;
  }

  errorCode(x: unknown, path: string): ErrorCodeValue {
    if (typeof x !== 'string' || !ERROR_CODES.has(x)) {
      throw this.fail(path, `must be a ROO_ERR_ code, got ${describe(x)}`);
    }
    return x as ErrorCodeValue;
  }

  address(x: unknown, path: string): Address {
    const r = this.record(x, path);
    this.onlyFields(r, ['host', 'port'], path);
    const host = field(r, 'host');
    if (typeof host !== 'string' || host.length > MAX_HOST_LENGTH || !HOST_PATTERN.test(host)) {
      throw this.fail(
        `${path}.host`,
        `must be a host name or IP address (1 to ${MAX_HOST_LENGTH} ASCII characters, no spaces), got ${describe(host)}`,
      );
    }
    const port = field(r, 'port');
    if (!isCount(port) || port < 1 || port > 65535) {
      throw this.fail(`${path}.port`, `must be a port from 1 to 65535, got ${describe(port)}`);
    }
    return { host, port };
  }

  /** A record whose keys are decimal indices, each value checked by `each`. */
  indexed<T>(x: unknown, path: string, each: (v: unknown, path: string) => T): Record<string, T> {
    const r = this.record(x, path);
    const out: Record<string, T> = {};
    for (const key of Object.keys(r)) {
      if (!INDEX_KEY_PATTERN.test(key) || !Number.isSafeInteger(Number(key))) {
        throw this.fail(path, `has the key ${JSON.stringify(clip(key))}, which is not an index`);
      }
      out[key] = each(r[key], `${path}.${key}`);
    }
    return out;
  }

  directory(x: unknown, path: string): WorkerDirectory {
    const r = this.record(x, path);
    this.onlyFields(r, ['keyGroups', 'parallel', 'sinkWriters', 'sources'], path);
    const actor = (v: unknown, p: string): number => this.count(v, p);
    return {
      keyGroups: Array.from(this.array(field(r, 'keyGroups'), `${path}.keyGroups`), (groups, i) =>
        this.indexed(groups, `${path}.keyGroups[${i}]`, actor),
      ),
      parallel: this.indexed(field(r, 'parallel'), `${path}.parallel`, (v, p) =>
        Array.from(this.array(v, p), (ref, t) => this.count(ref, `${p}[${t}]`)),
      ),
      sinkWriters: this.indexed(field(r, 'sinkWriters'), `${path}.sinkWriters`, actor),
      sources: this.indexed(field(r, 'sources'), `${path}.sources`, actor),
    };
  }
}
