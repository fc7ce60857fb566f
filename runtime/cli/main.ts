/**
 * `roo` command dispatcher. Each subcommand is a module exporting
 * `run(argv): Promise<number>` returning the process exit code; it is
 * imported only when used so that `roo send` does not load the engine.
 */
import { didYouMean } from '../api/suggest.js';

/** A subcommand: parses its own argv, returns an exit code. */
export type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  worker: {
    summary: 'run a worker of an application (Wallaroo: machida)',
    load: async () => (await import('./worker-command.js')).run,
  },
  send: {
    summary: 'send a file as framed messages (Wallaroo: giles sender)',
    load: async () => (await import('./send.js')).run,
  },
  receive: {
    summary: 'receive and print sink output (Wallaroo: data_receiver)',
    load: async () => (await import('./receive.js')).run,
  },
  status: {
    summary: "show a worker's status through its external channel",
    load: async () => (await import('./status.js')).run,
  },
  shutdown: {
    summary: 'stop a cluster cleanly (Wallaroo: cluster_shutdown)',
    load: async () => (await import('./shutdown.js')).run,
  },
  shrink: {
    summary: 'remove workers from a running cluster (Wallaroo: cluster_shrinker)',
    load: async () => (await import('./shrink.js')).run,
  },
  rebalance: {
    summary: "spread a worker's key groups over its threads by load",
    load: async () => (await import('./rebalance.js')).run,
  },
  metrics: {
    summary:
      "receive workers' metrics; live web UI and Prometheus page (Wallaroo: metrics_reporter_ui)",
    load: async () => (await import('./metrics.js')).run,
  },
  bench: {
    summary: 'benchmark word count throughput by thread count',
    load: async () => (await import('./bench-command.js')).run,
  },
  demo: {
    summary: 'run word count on a bundled text on a local cluster',
    load: async () => (await import('./demo-command.js')).run,
  },
};

/** Usage text listing the subcommands. */
export function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  roo ${name.padEnd(9)} ${c.summary}`);
  return `usage: roo <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'roo <command> --help' for the flags of a command.\n`;
}

/** Runs `roo` with the given arguments; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    const near = didYouMean(name, Object.keys(commands));
    process.stderr.write(`roo: unknown command '${name}'${near}\n\n${usage()}`);
    return 2;
  }
  const run = await command.load();
  return run(rest);
}
