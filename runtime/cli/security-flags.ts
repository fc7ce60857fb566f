/**
 * The flags that protect the cluster channels, shared by `roo worker` and
 * the tools that speak a worker's external channel (`roo status`, `roo
 * shutdown`, `roo shrink`, `roo rebalance`): the cluster secret and TLS
 * (runtime/security/). Parsing keeps the paths; the files are read when the
 * command runs, and a file that cannot be used ends it with exit 2.
 */
import {
  loadChannelSecurity,
  SECRET_FILE_ENV,
  type ChannelSecurity,
  type SecurityFlags,
} from '../security/index.js';

/** The flags' definitions for node:util parseArgs. */
export const SECURITY_FLAG_OPTIONS = {
  'cluster-secret-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

/** The flags' lines of a usage text. */
export const SECURITY_USAGE = `      --cluster-secret-file PATH  the cluster secret (default: the file ${SECRET_FILE_ENV} names);
                                  every control, data, external and metrics connection must prove it
      --tls-cert PATH             TLS on every cluster connection: this side's certificate,
      --tls-key PATH              its private key,
      --tls-ca PATH               and the CA the other side's certificate must be signed by
`;

/** The paths given, from parseArgs values, as an optional `security` field (absent if none). */
export function securityField(values: Record<string, unknown>): { security?: SecurityFlags } {
  const flags = securityFlagsOf(values);
  return Object.values(flags).some((v) => v !== undefined) ? { security: flags } : {};
}

/**
 * What a tool's requests to a worker's external channel need: the files the
 * flags (or ROO_CLUSTER_SECRET_FILE) name, read. Throws ROO_ERR_BAD_FLAG
 * (the tool exits 2).
 */
export function toolSecurity(flags: SecurityFlags | undefined): ChannelSecurity {
  return loadChannelSecurity(flags ?? {}).security;
}

/** The paths given, from parseArgs values. */
export function securityFlagsOf(values: Record<string, unknown>): SecurityFlags {
  const path = (k: keyof typeof SECURITY_FLAG_OPTIONS): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    clusterSecretFile: path('cluster-secret-file'),
    tlsCert: path('tls-cert'),
    tlsKey: path('tls-key'),
    tlsCa: path('tls-ca'),
  };
}
