/**
 * A headless Chromium for the browser tests: Debian's, made available by
 * scripts/ensure-chromium.sh (which installs it if missing and prints its
 * path), driven by playwright-core. And the little of the DOM that the
 * functions the tests run in the page use, since the tests' tsconfig has no
 * DOM types.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './processes.js';

declare global {
  /** An element of the page, as the functions run in the browser use it. */
  interface PageElement {
    readonly textContent: string | null;
    getAttribute(name: string): string | null;
    querySelector(selector: string): PageElement | null;
  }
  /** The page's document, in the functions run in the browser. */
  const document: {
    readonly documentElement: { readonly scrollWidth: number };
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): Iterable<PageElement> & ArrayLike<PageElement>;
  };
  /** The page's window, in the functions run in the browser. */
  const window: { readonly innerWidth: number };
}

/** Launches headless Chromium (installing Debian's first if it is missing). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = execFileSync('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], {
    encoding: 'utf8',
  }).trim();
  // As root (CI), Chromium refuses to start with its sandbox.
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}
