import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  describeSecurity,
  isOpen,
  loadChannelSecurity,
  SECRET_FILE_ENV,
} from '../../../runtime/security/index.js';
import { makeTestCa, type TestCa, type TlsFiles } from '../../fixtures/tls.js';

let dir: string;
let ca: TestCa;
let files: TlsFiles;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-secret-test-'));
  ca = makeTestCa();
  files = ca.issue('node');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  ca.remove();
});

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function badFlag(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RooError);
    expect((err as RooError).code).toBe(ErrorCode.BadFlag);
    return (err as Error).message;
  }
  expect.fail('expected ROO_ERR_BAD_FLAG');
}

describe('loadChannelSecurity', () => {
  it('reads the secret, without the trailing newline an echo leaves', () => {
    const path = file('secret', '0123456789abcdef0123456789abcdef\r\n');
    const { security, warnings } = loadChannelSecurity({ clusterSecretFile: path }, {});
    expect(Buffer.from(security.secret!).toString()).toBe('0123456789abcdef0123456789abcdef');
    expect(warnings).toEqual([]);
    expect(isOpen(security)).toBe(false);
    expect(describeSecurity(security)).toBe('a cluster secret');
  });

  it('takes the file from ROO_CLUSTER_SECRET_FILE when the flag is not given; the flag wins', () => {
    const a = file('a', 'secret-from-the-environment-var');
    const b = file('b', 'secret-from-the-command-line!!!');
    const env = { [SECRET_FILE_ENV]: a };
    expect(Buffer.from(loadChannelSecurity({}, env).security.secret!).toString()).toBe(
      'secret-from-the-environment-var',
    );
    expect(
      Buffer.from(loadChannelSecurity({ clusterSecretFile: b }, env).security.secret!).toString(),
    ).toBe('secret-from-the-command-line!!!');
  });

  it('nothing given: open channels', () => {
    const { security } = loadChannelSecurity({}, {});
    expect(security).toEqual({});
    expect(isOpen(security)).toBe(true);
  });

  it('refuses an empty, blank, missing or oversized secret file, naming it', () => {
    const empty = file('empty', '');
    expect(badFlag(() => loadChannelSecurity({ clusterSecretFile: empty }, {}))).toMatch(
      new RegExp(`--cluster-secret-file ${empty}: the file is empty`),
    );
    const blank = file('blank', ' \n\n');
    expect(badFlag(() => loadChannelSecurity({ clusterSecretFile: blank }, {}))).toMatch(
      /is empty/,
    );
    const missing = join(dir, 'missing');
    expect(badFlag(() => loadChannelSecurity({ clusterSecretFile: missing }, {}))).toMatch(
      /cannot read the cluster secret: ENOENT/,
    );
    expect(badFlag(() => loadChannelSecurity({}, { [SECRET_FILE_ENV]: missing }))).toMatch(
      new RegExp(`^${SECRET_FILE_ENV} ${missing}`),
    );
    const big = file('big', Buffer.alloc(70_000, 0x41));
    expect(badFlag(() => loadChannelSecurity({ clusterSecretFile: big }, {}))).toMatch(
      /holds one secret/,
    );
    expect(badFlag(() => loadChannelSecurity({ clusterSecretFile: dir }, {}))).toMatch(
      /cannot read the cluster secret/,
    );
  });

  it('warns about a short secret', () => {
    const path = file('short', 'hunter2\n');
    const { security, warnings } = loadChannelSecurity({ clusterSecretFile: path }, {});
    expect(security.secret!.length).toBe(7);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/only 7 bytes/);
  });

  it('reads TLS files, and refuses them given partly or unusable', () => {
    const { security } = loadChannelSecurity(
      { tlsCert: files.cert, tlsKey: files.key, tlsCa: files.ca },
      {},
    );
    expect(security.tls?.cert).toMatch(/BEGIN CERTIFICATE/);
    expect(describeSecurity(security)).toMatch(/TLS/);
    expect(badFlag(() => loadChannelSecurity({ tlsCert: files.cert }, {}))).toMatch(/go together/);
    const other = ca.issue('other');
    expect(
      badFlag(() =>
        loadChannelSecurity({ tlsCert: files.cert, tlsKey: other.key, tlsCa: files.ca }, {}),
      ),
    ).toMatch(/cannot use them for TLS/);
    expect(
      badFlag(() =>
        loadChannelSecurity(
          { tlsCert: join(dir, 'nope.pem'), tlsKey: files.key, tlsCa: files.ca },
          {},
        ),
      ),
    ).toMatch(/--tls-cert .*nope.pem: cannot read it/);
  });
});
