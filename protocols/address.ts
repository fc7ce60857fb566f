/**
 * Network addresses on the command line: `host:port`, `name@host:port`, and
 * comma-separated lists of either (`--in`, `--out`, `--host`, `--listen`,
 * `--control`, `--data`, ...). Hosts are IPv4 dotted quads or DNS host names;
 * IPv6 literals are not accepted yet. Parsing is pure and reports a malformed
 * address as a RooError with code ROO_ERR_BAD_ADDRESS, whose `details` carry
 * the input and the reason for scripts and logs.
 */
import { ErrorCode, RooError } from './errors.js';

/** A TCP endpoint. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** A TCP endpoint with the name of the worker (or stream) that owns it. */
export interface NamedAddress extends Address {
  readonly name: string;
}

/** Options for parsing. */
export interface ParseAddressOptions {
  /**
   * Accept port 0 (listen on any free port the OS picks). Off by default:
   * port 0 cannot be connected to.
   */
  readonly allowPortZero?: boolean;
}

/** Longest accepted worker name. */
export const MAX_NAME_LENGTH = 64;

const MAX_PORT = 65535;
const MAX_HOSTNAME_LENGTH = 253;
const PORT_PATTERN = /^[0-9]{1,5}$/;
const OCTET_PATTERN = /^(0|[1-9][0-9]{0,2})$/;
// RFC 1123 label: letters, digits and hyphens; no hyphen at either end.
const LABEL_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function bad(input: string, reason: string): RooError {
  return new RooError(ErrorCode.BadAddress, `bad address '${input}': ${reason}`, {
    input,
    reason,
  });
}

/** Why `host` is not an IPv4 address or host name, or undefined if it is one. */
function hostProblem(host: string): string | undefined {
  if (host.length === 0) return 'the host is empty';
  if (host.includes(':') || host.startsWith('[')) return 'IPv6 addresses are not supported';
  if (host.length > MAX_HOSTNAME_LENGTH) {
    return `the host is longer than ${MAX_HOSTNAME_LENGTH} characters`;
  }
  const labels = host.split('.');
  // All-numeric dotted text is meant as IPv4 and must be a valid one
  // (so 300.1.1.1 or 1.2.3 are refused rather than looked up in DNS).
  if (/^[0-9.]+$/.test(host)) {
    const valid =
      labels.length === 4 && labels.every((o) => OCTET_PATTERN.test(o) && Number(o) <= 255);
    return valid ? undefined : `'${host}' is not a valid IPv4 address`;
  }
  for (const label of labels) {
    if (!LABEL_PATTERN.test(label)) return `'${host}' is not a valid host name`;
  }
  return undefined;
}

/**
 * Parses `host:port`. Surrounding whitespace is ignored.
 * @throws RooError ROO_ERR_BAD_ADDRESS when malformed.
 */
export function parseAddress(text: string, options: ParseAddressOptions = {}): Address {
  const input = text.trim();
  if (input.length === 0) throw bad(text, 'expected host:port, got nothing');
  if (input.includes('@')) throw bad(text, 'expected host:port without a name@ prefix');
  const colon = input.lastIndexOf(':');
  if (colon < 0) throw bad(text, 'expected host:port (the port is missing)');
  const host = input.slice(0, colon);
  const portText = input.slice(colon + 1);
  const problem = hostProblem(host);
  if (problem !== undefined) throw bad(text, problem);
  if (!PORT_PATTERN.test(portText)) {
    throw bad(text, `the port '${portText}' is not a number from 0 to ${MAX_PORT}`);
  }
  const port = Number(portText);
  if (port > MAX_PORT) throw bad(text, `the port ${port} is larger than ${MAX_PORT}`);
  if (port === 0 && options.allowPortZero !== true) {
    throw bad(text, 'port 0 is only valid for listening');
  }
  return { host, port };
}

/**
 * Parses `name@host:port`. Names are letters, digits, `_`, `.` and `-`,
 * starting with a letter, digit or `_`, at most {@link MAX_NAME_LENGTH} long.
 * @throws RooError ROO_ERR_BAD_ADDRESS when malformed.
 */
export function parseNamedAddress(text: string, options: ParseAddressOptions = {}): NamedAddress {
  const input = text.trim();
  const at = input.indexOf('@');
  if (at < 0) throw bad(text, 'expected name@host:port (the name is missing)');
  const name = input.slice(0, at);
  if (name.length === 0) throw bad(text, 'the name before @ is empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw bad(text, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_PATTERN.test(name)) {
    throw bad(text, `the name '${name}' may hold only letters, digits, '_', '.' and '-'`);
  }
  const rest = input.slice(at + 1);
  if (rest.includes('@')) throw bad(text, "more than one '@'");
  let address: Address;
  try {
    address = parseAddress(rest, options);
  } catch (err) {
    // Report the whole input, not just the part after the name.
    const reason = err instanceof RooError ? String(err.details?.reason) : String(err);
    throw bad(text, reason);
  }
  return { name, host: address.host, port: address.port };
}

function splitList(text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 1 && items[0] === '') throw bad(text, 'expected at least one address');
  if (items.some((s) => s.length === 0)) throw bad(text, 'empty entry in the list');
  return items;
}

/**
 * Parses a comma-separated list of `host:port` (spaces around commas are
 * allowed). Repeats are kept: two sinks may point at one receiver.
 * @throws RooError ROO_ERR_BAD_ADDRESS when the list or any entry is malformed.
 */
export function parseAddressList(text: string, options: ParseAddressOptions = {}): Address[] {
  return splitList(text).map((item) => parseAddress(item, options));
}

/**
 * Parses a comma-separated list of `name@host:port`. Names must be unique.
 * @throws RooError ROO_ERR_BAD_ADDRESS when the list or any entry is malformed.
 */
export function parseNamedAddressList(
  text: string,
  options: ParseAddressOptions = {},
): NamedAddress[] {
  const list = splitList(text).map((item) => parseNamedAddress(item, options));
  const seen = new Set<string>();
  for (const entry of list) {
    if (seen.has(entry.name)) throw bad(text, `the name '${entry.name}' appears twice`);
    seen.add(entry.name);
  }
  return list;
}

/**
 * Formats an address as `host:port`. A host containing ':' (an IPv6 address
 * reported by the OS) is bracketed, `[::1]:7000`, so the port stays separable.
 */
export function formatAddress(address: Address): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/** Formats a named address as `name@host:port`. */
export function formatNamedAddress(address: NamedAddress): string {
  return `${address.name}@${formatAddress(address)}`;
}

/** Formats a list of addresses (plain or named) as a comma-separated string. */
export function formatAddressList(addresses: readonly (Address | NamedAddress)[]): string {
  return addresses.map((a) => ('name' in a ? formatNamedAddress(a) : formatAddress(a))).join(',');
}
