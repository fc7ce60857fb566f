/**
 * `roo metrics` as one object: the store, the TCP receiver the workers
 * report to, the HTTP server of the UI and `/metrics`, and the timer that
 * ages the store. The command (runtime/cli/metrics.ts) and the demo start it
 * through {@link startMetricsService}.
 */
import type { Address } from '../../protocols/address.js';
import type { ChannelSecurity } from '../security/index.js';
import { startMetricsReceiver, type MetricsReceiver } from './metrics-receiver.js';
import { MetricsStore, type MetricsStoreOptions } from './metrics-store.js';
import { prometheusRegistry } from './prometheus.js';
import { startUiServer, type UiServer } from './ui-server.js';

/** How often the store closes old points and ages out silent workers, ms. */
export const SWEEP_INTERVAL_MS = 1000;

/** Where to listen, and the bounds. */
export interface MetricsServiceOptions {
  /** Where workers report (`--metrics` of `roo worker`); port 0: any free port. */
  readonly listen: Address;
  /** Where the UI and `/metrics` are served; port 0: any free port. */
  readonly http: Address;
  readonly log: (line: string) => void;
  readonly maxClients?: number;
  readonly maxConnections?: number;
  readonly store?: MetricsStoreOptions;
  /** How often the UI pushes changes, ms (default 500). */
  readonly pushIntervalMs?: number;
  /** The cluster secret and TLS the workers' reports must pass (the UI is not covered). */
  readonly security?: ChannelSecurity;
}

/** A running service. */
export interface MetricsService {
  readonly store: MetricsStore;
  readonly receiver: MetricsReceiver;
  readonly ui: UiServer;
  /** Stops everything. */
  close(): Promise<void>;
}

/** Starts the receiver and the UI; if either cannot listen, neither runs and the error is thrown. */
export async function startMetricsService(options: MetricsServiceOptions): Promise<MetricsService> {
  const store = new MetricsStore(options.store);
  const receiver = await startMetricsReceiver({
    address: options.listen,
    store,
    log: options.log,
    maxConnections: options.maxConnections,
    ...(options.security === undefined ? {} : { security: options.security }),
  });
  let ui: UiServer;
  try {
    ui = await startUiServer({
      address: options.http,
      store,
      registry: prometheusRegistry(store, () => receiver),
      log: options.log,
      maxClients: options.maxClients,
      pushIntervalMs: options.pushIntervalMs,
    });
  } catch (e) {
    await receiver.close();
    throw e;
  }
  const timer = setInterval(() => store.sweep(Date.now()), SWEEP_INTERVAL_MS);
  return {
    store,
    receiver,
    ui,
    async close() {
      clearInterval(timer);
      await Promise.all([receiver.close(), ui.close()]);
    },
  };
}
