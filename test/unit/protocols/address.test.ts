import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  formatAddress,
  formatAddressList,
  formatNamedAddress,
  parseAddress,
  parseAddressList,
  parseNamedAddress,
  parseNamedAddressList,
} from '../../../protocols/address.js';

/** Runs `fn`, expecting a ROO_ERR_BAD_ADDRESS naming `input`; returns its reason. */
function badAddress(fn: () => unknown, input: string): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RooError);
    const e = err as RooError;
    expect(e.code).toBe(ErrorCode.BadAddress);
    expect(e.details?.input).toBe(input);
    expect(e.message).toContain(input);
    return String(e.details?.reason);
  }
  throw new Error(`expected ${input} to be refused`);
}

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:7000', '127.0.0.1', 7000],
    ['0.0.0.0:1', '0.0.0.0', 1],
    ['255.255.255.255:65535', '255.255.255.255', 65535],
    ['localhost:5555', 'localhost', 5555],
    ['worker-1.cluster.local:80', 'worker-1.cluster.local', 80],
    ['A1:9', 'A1', 9],
    ['  10.1.2.3:8080  ', '10.1.2.3', 8080],
    ['host:080', 'host', 80],
  ])('accepts %s', (text, host, port) => {
    expect(parseAddress(text)).toEqual({ host, port });
  });

  it('accepts port 0 only when asked to (for listening)', () => {
    expect(parseAddress('127.0.0.1:0', { allowPortZero: true })).toEqual({
      host: '127.0.0.1',
      port: 0,
    });
    expect(badAddress(() => parseAddress('127.0.0.1:0'), '127.0.0.1:0')).toMatch(/port 0/);
  });

  it.each([
    ['', /nothing/],
    ['127.0.0.1', /port is missing/],
    ['127.0.0.1:', /port '' is not a number/],
    [':7000', /host is empty/],
    ['127.0.0.1:70000', /larger than 65535/],
    ['127.0.0.1:123456', /not a number/],
    ['127.0.0.1:-1', /not a number/],
    ['127.0.0.1:7x', /not a number/],
    ['127.0.0.1:0x10', /not a number/],
    ['256.0.0.1:7000', /not a valid IPv4/],
    ['1.2.3:7000', /not a valid IPv4/],
    ['1.2.3.4.5:7000', /not a valid IPv4/],
    ['01.2.3.4:7000', /not a valid IPv4/],
    ['-host:7000', /not a valid host name/],
    ['host-:7000', /not a valid host name/],
    ['ho st:7000', /not a valid host name/],
    ['a..b:7000', /not a valid host name/],
    ['under_score:7000', /not a valid host name/],
    ['::1:7000', /IPv6/],
    ['[::1]:7000', /IPv6/],
    ['w1@127.0.0.1:7000', /name@/],
    [`${'a'.repeat(254)}:1`, /longer than 253/],
    [`${'a'.repeat(64)}.b:1`, /not a valid host name/],
  ])('refuses %j', (text, reason) => {
    expect(badAddress(() => parseAddress(text), text)).toMatch(reason);
  });
});

describe('parseNamedAddress', () => {
  it('parses name@host:port', () => {
    expect(parseNamedAddress('worker1@127.0.0.1:6000')).toEqual({
      name: 'worker1',
      host: '127.0.0.1',
      port: 6000,
    });
    expect(parseNamedAddress('initializer_2.a-b@localhost:1')).toEqual({
      name: 'initializer_2.a-b',
      host: 'localhost',
      port: 1,
    });
  });

  it.each([
    ['127.0.0.1:6000', /name is missing/],
    ['@127.0.0.1:6000', /empty/],
    ['-w@127.0.0.1:6000', /may hold only/],
    ['w 1@127.0.0.1:6000', /may hold only/],
    ['w@x@127.0.0.1:6000', /more than one/],
    ['w@127.0.0.1', /port is missing/],
    ['w@999.0.0.1:1', /IPv4/],
    [`${'w'.repeat(65)}@h:1`, /longer than 64/],
  ])('refuses %j, naming the whole input', (text, reason) => {
    expect(badAddress(() => parseNamedAddress(text), text)).toMatch(reason);
  });
});

describe('address lists', () => {
  it('parses comma-separated lists, spaces around commas allowed, repeats kept', () => {
    expect(parseAddressList('127.0.0.1:1, localhost:2,127.0.0.1:1')).toEqual([
      { host: '127.0.0.1', port: 1 },
      { host: 'localhost', port: 2 },
      { host: '127.0.0.1', port: 1 },
    ]);
    expect(parseAddressList('h:3')).toEqual([{ host: 'h', port: 3 }]);
    expect(parseNamedAddressList('a@h:1,b@h:2')).toEqual([
      { name: 'a', host: 'h', port: 1 },
      { name: 'b', host: 'h', port: 2 },
    ]);
  });

  it('refuses empty lists, empty entries, bad entries and repeated names', () => {
    expect(badAddress(() => parseAddressList(''), '')).toMatch(/at least one/);
    expect(badAddress(() => parseAddressList('h:1,,h:2'), 'h:1,,h:2')).toMatch(/empty entry/);
    expect(badAddress(() => parseAddressList('h:1,'), 'h:1,')).toMatch(/empty entry/);
    expect(badAddress(() => parseAddressList('h:1,h'), 'h')).toMatch(/port is missing/);
    expect(badAddress(() => parseNamedAddressList('a@h:1,a@h:2'), 'a@h:1,a@h:2')).toMatch(
      /'a' appears twice/,
    );
  });

  it('passes allowPortZero to every entry', () => {
    expect(parseAddressList('h:0,h:1', { allowPortZero: true })).toHaveLength(2);
    expect(() => parseAddressList('h:0,h:1')).toThrow(RooError);
  });
});

describe('formatting', () => {
  it('round-trips through the parsers', () => {
    for (const text of ['127.0.0.1:7000', 'localhost:1', 'a.b.c:65535']) {
      expect(formatAddress(parseAddress(text))).toBe(text);
    }
    expect(formatNamedAddress(parseNamedAddress('w1@10.0.0.1:9'))).toBe('w1@10.0.0.1:9');
    const list = 'a@h:1,b@h:2';
    expect(formatAddressList(parseNamedAddressList(list))).toBe(list);
    expect(formatAddressList(parseAddressList('h:1, h:2'))).toBe('h:1,h:2');
  });

  it('brackets IPv6 hosts reported by the OS', () => {
    expect(formatAddress({ host: '::1', port: 7000 })).toBe('[::1]:7000');
  });
});
