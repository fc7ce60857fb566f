/**
 * roo's version, as a metrics hello reports it: the `version` of the
 * nearest package.json named "roo" above this module (the same file from
 * the sources and from dist/), read once.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** roo's version, or `unknown` if no package.json of roo is found. */
export function rooVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'roo' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // No package.json here: look further up.
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return cached;
}
