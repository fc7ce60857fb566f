// Lint rules that keep the layers of docs/architecture.md section 1: imports point down only.
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: forbidden.map((group) => ({ group: [group], message })) },
    ],
  },
});

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
      'node:net',
      'node:fs',
      'node:fs/promises',
      'node:worker_threads',
      'node:http',
      'net',
      'fs',
      'worker_threads',
    ],
    'protocols/ is pure: no I/O, no runtime',
  ),
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
