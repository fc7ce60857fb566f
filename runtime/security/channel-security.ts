/**
 * How a worker's cluster channels (control, data, external) and the tools
 * that speak the external channel protect their connections
 * (docs/cluster.md, "Securing a cluster"):
 *  - a **cluster secret** (`--cluster-secret-file PATH`, or the file named
 *    by ROO_CLUSTER_SECRET_FILE): every connection opens with the cluster
 *    handshake (protocols/cluster-auth.ts), and one that fails it is closed
 *    before any message of its channel is read;
 *  - **TLS** (`--tls-cert`, `--tls-key`, `--tls-ca`): every connection is
 *    TLS, and both sides present a certificate the cluster's CA signed.
 * Either, both or neither. Loading reads the files once, at start-up, and
 * refuses what cannot work with a ROO_ERR_BAD_FLAG error saying which file
 * and why (the command exits 2). The result is plain data, so it crosses to
 * the scheduler threads (which own the data channels) as it is.
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ErrorCode, RooError } from '../../protocols/index.js';

/** The environment variable naming the secret file when `--cluster-secret-file` is not given. */
export const SECRET_FILE_ENV = 'ROO_CLUSTER_SECRET_FILE';

/** A secret shorter than this (bytes) is accepted with a warning: it could be guessed offline. */
export const SHORT_SECRET_BYTES = 16;

/** A secret file larger than this is refused: it is not a secret but a wrong path. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** A TLS identity and the CA both sides verify against, as PEM text. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** How the cluster channels are protected; `{}`: not at all (open to anyone who can connect). */
export interface ChannelSecurity {
  /** The cluster secret's bytes: the handshake runs on every connection. */
  readonly secret?: Uint8Array;
  /** TLS on every connection, both sides verified against `ca`. */
  readonly tls?: TlsMaterial;
}

/** No protection: connections are plain and accepted from anyone, as without the flags. */
export const OPEN_CHANNELS: ChannelSecurity = {};

/** The flags, as given (paths). */
export interface SecurityFlags {
  readonly clusterSecretFile?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly tlsCa?: string | undefined;
}

/** Loaded settings, with warnings worth a log line (a short secret). */
export interface LoadedSecurity {
  readonly security: ChannelSecurity;
  readonly warnings: readonly string[];
}

function bad(message: string): RooError {
  return new RooError(ErrorCode.BadFlag, message);
}

/**
 * Reads the secret and TLS files the flags name (the secret file may come
 * from {@link SECRET_FILE_ENV} instead). Throws ROO_ERR_BAD_FLAG for an
 * unreadable, empty or oversized secret file, for TLS flags given without
 * all three, and for TLS files Node cannot use.
 */
export function loadChannelSecurity(
  flags: SecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
): LoadedSecurity {
  const warnings: string[] = [];
  const fromEnv = env[SECRET_FILE_ENV];
  const secretFile =
    flags.clusterSecretFile ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  const via =
    flags.clusterSecretFile !== undefined ? '--cluster-secret-file' : `${SECRET_FILE_ENV}`;
  let secret: Uint8Array | undefined;
  if (secretFile !== undefined) {
    secret = readSecret(secretFile, via);
    if (secret.length < SHORT_SECRET_BYTES) {
      warnings.push(
        `the cluster secret in ${secretFile} is only ${secret.length} bytes: an eavesdropper could guess it offline; use at least ${SHORT_SECRET_BYTES} random bytes (e.g. openssl rand -hex 32 > ${secretFile})`,
      );
    }
  }
  const tls = readTls(flags);
  return {
    security: {
      ...(secret === undefined ? {} : { secret }),
      ...(tls === undefined ? {} : { tls }),
    },
    warnings,
  };
}

/** The secret's bytes: the file's content without trailing whitespace (an `echo`'s newline). */
function readSecret(path: string, via: string): Uint8Array {
  if (path === '') throw bad(`${via}: give the path of a file holding the cluster secret`);
  let raw: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_SECRET_FILE_BYTES) {
      throw bad(
        `${via} ${path}: the file is ${size} bytes; a cluster secret file holds one secret (at most ${MAX_SECRET_FILE_BYTES} bytes)`,
      );
    }
    raw = readFileSync(path);
  } catch (err) {
    if (err instanceof RooError) throw err;
    throw bad(`${via} ${path}: cannot read the cluster secret: ${(err as Error).message}`);
  }
  let end = raw.length;
  while (end > 0 && [0x20, 0x09, 0x0a, 0x0d].includes(raw[end - 1] as number)) end--;
  if (end === 0) {
    throw bad(
      `${via} ${path}: the file is empty; put the cluster secret in it (e.g. openssl rand -hex 32 > ${path})`,
    );
  }
  return new Uint8Array(raw.subarray(0, end));
}

function readTls(flags: SecurityFlags): TlsMaterial | undefined {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter((f) => f !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < 3) {
    throw bad(
      '--tls-cert, --tls-key and --tls-ca go together: this side presents its certificate and key, and verifies the other side against the CA',
    );
  }
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw bad(`--${flag} ${path}: cannot read it: ${(err as Error).message}`);
    }
  };
  const material: TlsMaterial = {
    cert: read('tls-cert', flags.tlsCert as string),
    key: read('tls-key', flags.tlsKey as string),
    ca: read('tls-ca', flags.tlsCa as string),
  };
  try {
    // What a TLS connection would do with them, now: a key that does not match the certificate fails here.
    createSecureContext(material);
  } catch (err) {
    throw bad(
      `--tls-cert ${flags.tlsCert} / --tls-key ${flags.tlsKey} / --tls-ca ${flags.tlsCa}: cannot use them for TLS: ${(err as Error).message}`,
    );
  }
  return material;
}

/** True when connections need neither a handshake nor TLS. */
export function isOpen(security: ChannelSecurity): boolean {
  return security.secret === undefined && security.tls === undefined;
}

/** A short description for the start-up log: what protects the channels. */
export function describeSecurity(security: ChannelSecurity): string {
  const parts = [
    ...(security.secret === undefined ? [] : ['a cluster secret']),
    ...(security.tls === undefined ? [] : ['TLS (certificates of the cluster CA)']),
  ];
  return parts.join(' and ');
}
