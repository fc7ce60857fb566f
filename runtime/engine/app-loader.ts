/**
 * Loads an application module (TypeScript or JavaScript) and builds its
 * application from the arguments. Runs on the main thread (to validate and
 * plan) and on every scheduler thread (each needs its own copy of the user's
 * functions; functions cannot be sent between threads).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { Application } from '../api/application.js';
import { makeAppArgs, type AppArgsData } from '../api/args.js';
import { checkInputs } from '../api/input-check.js';

/** The function an application module exports. */
export type ApplicationFunction = (args: ReturnType<typeof makeAppArgs>) => Application;

/** Imports the module at `path` and returns its application function. */
export async function loadApplicationModule(path: string): Promise<ApplicationFunction> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new RooError(ErrorCode.ModuleLoad, `application module not found: ${absolute}`, {
      path: absolute,
    });
  }
  const url = pathToFileURL(absolute).href;
  let mod: Record<string, unknown>;
  try {
    if (/\.[mc]?ts$/.test(absolute)) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = (await import(url)) as Record<string, unknown>;
    }
  } catch (err) {
    throw new RooError(
      ErrorCode.ModuleLoad,
      `application module ${absolute} failed to load: ${(err as Error).message}`,
      { path: absolute },
    );
  }
  // A CommonJS-compiled module arrives as { default: { default: fn } }.
  let fn: unknown = mod['default'] ?? mod['application'];
  if (typeof fn === 'object' && fn !== null && 'default' in fn)
    fn = (fn as { default: unknown }).default;
  if (typeof fn !== 'function') {
    throw new RooError(
      ErrorCode.ModuleLoad,
      `application module ${absolute} must export a default function (args) => Application`,
      { path: absolute },
    );
  }
  return fn as ApplicationFunction;
}

/**
 * Calls the application function and checks what it returned, and that
 * every `--in` address is taken by a TCP source (api/input-check.ts).
 * Throws RooError ROO_ERR_BAD_APPLICATION or ROO_ERR_BAD_FLAG.
 */
export function buildApplication(fn: ApplicationFunction, args: AppArgsData): Application {
  let app: unknown;
  try {
    app = fn(makeAppArgs(args));
  } catch (err) {
    if (err instanceof RooError) throw err;
    // The application's copy of roo's API (loaded through tsx) has its own
    // RooError class: the error is one of ours if it looks like one.
    const e = err as Partial<RooError>;
    if (e?.name === 'RooError' && typeof e.code === 'string' && typeof e.message === 'string') {
      throw new RooError(e.code, e.message, e.details);
    }
    throw new RooError(
      ErrorCode.BadApplication,
      `the application function threw: ${(err as Error).message}`,
    );
  }
  if (
    typeof app !== 'object' ||
    app === null ||
    (app as { kind?: unknown }).kind !== 'application'
  ) {
    throw new RooError(
      ErrorCode.BadApplication,
      'the application function must return a built application (application(name)...build())',
    );
  }
  checkInputs(app as Application, args.in);
  return app as Application;
}
