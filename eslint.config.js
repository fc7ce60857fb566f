// Lint rules that keep the layers of docs/architecture.md section 1: imports point down only.
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      // One group, so that a '!pattern' can make an exception to those before it.
      { patterns: [{ group: forbidden, message }] },
    ],
  },
});

/** Each folder of runtime/ imports only the folders below it. */
const runtimeLayers = (order) =>
  order.slice(0, -1).map((name, i) =>
    layer(
      [`runtime/${name}/**`],
      order.slice(i + 1).map((above) => `**/${above}/**`),
      `runtime/${name}/ imports only what is below it (${order.slice(0, i).join(', ') || 'nothing of runtime/'})`,
    ),
  );

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/data/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  layer(
    ['actors/**'],
    ['**/runtime/**', '**/examples/**', 'roo'],
    'actors/ knows nothing of streams',
  ),
  layer(
    ['protocols/**'],
    [
      '**/runtime/**',
      '**/actors/**',
      '**/examples/**',
      // No I/O module at all: only computation (node:crypto's hashes, node:buffer).
      'node:*',
      '!node:crypto',
      '!node:buffer',
      ...[
        'net',
        'dgram',
        'tls',
        'http',
        'https',
        'http2',
        'fs',
        'fs/*',
        'child_process',
        'worker_threads',
        'cluster',
        'dns',
        'readline',
        'os',
        'inspector',
        'ws',
      ],
    ],
    'protocols/ is pure: no I/O, no runtime',
  ),
  // runtime/, bottom up: logging, security, api, topology, routing, connectors, engine, checkpoint, cluster, metrics, cli.
  ...runtimeLayers([
    'logging',
    'security',
    'api',
    'topology',
    'routing',
    'connectors',
    'engine',
    'checkpoint',
    'cluster',
    'metrics',
    'cli',
  ]),
  layer(
    ['examples/**'],
    ['**/runtime/**', '**/actors/**', '**/protocols/**'],
    'examples use only the public API: import from "roo"',
  ),
  { files: ['runtime/cli/**', 'bench/**', 'runtime/logging/**'], rules: { 'no-console': 'off' } },
  {
    files: ['test/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
