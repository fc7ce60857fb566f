/**
 * What protecting the cluster channels costs in throughput: the cluster
 * benchmark's two-worker word count (bench/cluster-run.ts: `roo send
 * --repeat --no-acks` → 2 workers, `--ponythreads 1` each → a counting
 * receiver), its steady state in fresh clusters, with the channels open,
 * with a cluster secret, with TLS, and with both (docs/cluster.md,
 * "Securing a cluster"). The variants are interleaved (rep 1 of each, then
 * rep 2, ...) so that a burst of load on the shared machine falls on all
 * alike. TLS uses a throwaway CA made with the `openssl` CLI in a temporary
 * directory. Prints a markdown table: words/s by variant (median,
 * min..max), the ratio to open channels, the workers' CPU per word, the
 * load average before and after.
 *
 *   node dist/bench/cluster-tls.js [--reps 3] [--mb 10] [--warmup-seconds 3] [--seconds 6]
 *                                  [--variants open,secret,tls,tls+secret]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChannelSecurity } from '../runtime/security/index.js';
import { BenchFailure } from './bench-child.js';
import { parseClusterArgs, type ClusterOptions } from './cluster-options.js';
import { measureCluster, UNPROTECTED, type ClusterProtection } from './cluster-run.js';
import type { ClusterRun } from './cluster-summary.js';
import { DEFAULT_SEED, writeCorpusFile } from './corpus.js';
import { loadAverage } from './run-load.js';
import {
  formatMachineLine,
  formatRateRange,
  formatRatio,
  markdownTable,
  median,
  summarize,
} from './stats.js';

/** The variants a run can measure. */
const VARIANTS = ['open', 'secret', 'tls', 'tls+secret'] as const;
type Variant = (typeof VARIANTS)[number];

/** A CA and one certificate for every worker and the bench's own status requests. */
function makeCa(dir: string): { cert: string; key: string; ca: string } {
  const run = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=bench-ca',
  ]);
  run(['req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=bench-node']);
  writeFileSync(join(dir, 'ext.cnf'), 'extendedKeyUsage=serverAuth,clientAuth\n');
  run([
    ...['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-out', 'node.pem', '-days', '1', '-extfile', 'ext.cnf'],
  ]);
  return { cert: join(dir, 'node.pem'), key: join(dir, 'node.key'), ca: join(dir, 'ca.pem') };
}

/** The flags and the client-side settings of each variant. */
function protections(dir: string): Record<Variant, ClusterProtection> {
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, 'c0ffee'.repeat(8) + '\n');
  const secret = new Uint8Array(readFileSync(secretFile).subarray(0, 48));
  const files = makeCa(dir);
  const tls = {
    cert: readFileSync(files.cert, 'utf8'),
    key: readFileSync(files.key, 'utf8'),
    ca: readFileSync(files.ca, 'utf8'),
  };
  const tlsFlags = ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca];
  const of = (name: string, flags: string[], security: ChannelSecurity): ClusterProtection => ({
    name,
    workerFlags: flags,
    security,
  });
  return {
    open: UNPROTECTED,
    secret: of('secret', ['--cluster-secret-file', secretFile], { secret }),
    tls: of('tls', tlsFlags, { tls }),
    'tls+secret': of('tls+secret', [...tlsFlags, '--cluster-secret-file', secretFile], {
      tls,
      secret,
    }),
  };
}

interface Options {
  readonly cluster: ClusterOptions;
  readonly variants: readonly Variant[];
}

function parse(argv: readonly string[]): Options {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      reps: { type: 'string', default: '3' },
      mb: { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string', default: '3' },
      seconds: { type: 'string', default: '6' },
      variants: { type: 'string', default: VARIANTS.join(',') },
    },
  });
  const variants = v.variants.split(',').map((s) => s.trim());
  for (const x of variants) {
    if (!(VARIANTS as readonly string[]).includes(x)) {
      throw new Error(`--variants: unknown '${x}' (variants: ${VARIANTS.join(', ')})`);
    }
  }
  const cluster = parseClusterArgs([
    ...['--workers', '2', '--only', 'throughput', '--reps', v.reps, '--mb', v.mb],
    ...['--warmup-seconds', v['warmup-seconds'], '--seconds', v.seconds],
  ]);
  if (cluster === 'help') throw new Error('unreachable');
  return { cluster, variants: variants as Variant[] };
}

async function main(argv: string[]): Promise<number> {
  const o = parse(argv);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'roo-bench-tls-'));
  const loadBefore = loadAverage();
  const runs = new Map<Variant, ClusterRun[]>(o.variants.map((x) => [x, []]));
  const failures: string[] = [];
  try {
    const corpus = join(dir, 'corpus.txt');
    writeCorpusFile(corpus, { bytes: Math.round(o.cluster.mb * 1024 * 1024), seed: DEFAULT_SEED });
    const all = protections(dir);
    for (let rep = 1; rep <= o.cluster.reps; rep++) {
      for (const variant of o.variants) {
        try {
          const run = await measureCluster(o.cluster, corpus, 2, rep, log, all[variant]);
          runs.get(variant)?.push(run);
        } catch (err) {
          if (!(err instanceof BenchFailure)) throw err;
          failures.push(`${variant}, cluster ${rep}: ${err.message.split('\n')[0]}`);
          log(`  ${failures[failures.length - 1]}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadAverage();
  const open = runs.get('open') ?? [];
  const base = open.length > 0 ? median(open.map((r) => r.rate)) : undefined;
  const rows = o.variants.map((variant) => {
    const rs = runs.get(variant) ?? [];
    if (rs.length === 0) return [variant, '0', '-', '-', '-', '-'];
    const rate = formatRateRange(summarize(rs.map((r) => r.rate)));
    const perWord = rs.flatMap((r) => (r.cpuNsPerWord === undefined ? [] : [r.cpuNsPerWord]));
    return [
      variant,
      String(rs.length),
      rate.median,
      rate.range,
      base === undefined ? '-' : formatRatio(median(rs.map((r) => r.rate)), base),
      perWord.length === 0 ? '-' : `${median(perWord).toFixed(0)} ns`,
    ];
  });
  const lines = [
    `**Command:** \`${['node dist/bench/cluster-tls.js', ...argv].join(' ')}\``,
    '',
    `${o.cluster.reps} fresh two-worker clusters per variant, interleaved; ${o.cluster.warmupSeconds} s warm-up, then the outputs of a ${o.cluster.seconds} s window.`,
    '',
    markdownTable(
      ['channels', 'clusters', 'words/s', 'min..max', 'vs open', "workers' CPU/word"],
      rows,
    ),
    '',
    `Machine: ${formatMachineLine()}. Load average before ${loadBefore}, after ${loadAfter}.`,
    ...(failures.length === 0 ? [] : ['', `Failed: ${failures.join('; ')}`]),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  log(`median rates: ${rows.map((r) => `${r[0]} ${r[2]}`).join(', ')}`);
  return failures.length > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`bench/cluster-tls: ${err.message}\n`);
      process.exitCode = 2;
    },
  );
}
