/**
 * `roo worker`: runs one worker of an application. With this version a
 * worker is the initializer of a one-worker cluster (as in Wallaroo's
 * single-worker examples); cluster flags are parsed and validated and refused
 * clearly until clustering lands.
 */
import { RooError } from '../../protocols/index.js';
import { engineHandlers, ExternalServer } from '../cluster/external-server.js';
import { Engine } from '../engine/engine.js';
import { createLogger } from '../logging/logger.js';
import { LogLine } from '../logging/log-lines.js';
import { parseWorkerArgs, unsupportedYet, WORKER_USAGE } from './worker-flags.js';

/** Runs `roo worker`; resolves to the exit code when the worker stops. */
export async function run(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseWorkerArgs(argv);
  } catch (err) {
    process.stderr.write(`roo worker: ${(err as Error).message}\n(see 'roo worker --help')\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(WORKER_USAGE);
    return 0;
  }
  const refused = unsupportedYet(options);
  if (refused !== undefined) {
    process.stderr.write(`roo worker: ${refused.message}\n`);
    return 2;
  }
  const log = createLogger({ worker: options.name, thread: 'main' });
  if (options.ponynoblock || options.ponypinasio) {
    log.debug(
      '--ponynoblock / --ponypinasio have no effect in roo (kept for Wallaroo compatibility)',
    );
  }
  // Signals are handled from here on, so that a SIGTERM sent the moment the
  // ready line appears (or during start-up) shuts down cleanly.
  let engine: Engine | undefined;
  let stopRequested: string | undefined;
  let stopNow: ((signal: string) => void) | undefined;
  const onSignal = (signal: string) => {
    if (stopNow !== undefined) stopNow(signal);
    else stopRequested ??= signal;
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  log.info(LogLine.InitPhaseI);
  try {
    engine = await Engine.start({
      modulePath: options.applicationModule,
      args: {
        in: options.in,
        out: options.out,
        workerName: options.name,
        threads: options.ponythreads ?? 0,
        appArgs: options.appArgs,
      },
      workerName: options.name,
      ...(options.ponythreads === undefined ? {} : { threads: options.ponythreads }),
      log,
      onFatal: () => {
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      },
    });
  } catch (err) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    const code = err instanceof RooError ? err.code : 'ROO_ERR_INTERNAL';
    log.error({ code }, (err as Error).message);
    process.stderr.write(`roo worker: ${(err as Error).message}\n`);
    return 2;
  }
  const running = engine;
  log.info(LogLine.InitPhaseII);
  for (const [name, address] of Object.entries(engine.listening)) {
    log.info(`source '${name}' listening on ${address}`);
  }
  let external: ExternalServer | undefined;
  if (options.external !== undefined) {
    try {
      external = await ExternalServer.start({
        address: options.external,
        log,
        handlers: (bound) =>
          engineHandlers({
            engine: running,
            identity: {
              worker: options.name,
              startedAtMs: Date.now() - process.uptime() * 1000,
              external: bound,
            },
            log,
          }),
        onShutdown: () => onSignal('external shutdown request'),
      });
    } catch (err) {
      log.error((err as Error).message);
      process.stderr.write(`roo worker: ${(err as Error).message}\n`);
      await running.stop().catch(() => undefined);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      return 2;
    }
  }
  log.info(LogLine.InitPhaseIII);

  return new Promise<number>((resolve) => {
    let stopping = false;
    stopNow = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: shutting down`);
      Promise.all([external?.close(), running.stop()]).then(
        () => {
          log.info(LogLine.ShutdownComplete);
          resolve(typeof process.exitCode === 'number' ? process.exitCode : 0);
        },
        (err: Error) => {
          log.error(`shutdown failed: ${err.message}`);
          resolve(1);
        },
      );
    };
    if (stopRequested !== undefined) stopNow(stopRequested);
  });
}
