/** The metrics receiver, its store, its UI and Prometheus page (`roo metrics`, docs/metrics.md). */
export * from './cluster-map.js';
export * from './log-limiter.js';
export * from './metrics-receiver.js';
export * from './metrics-series.js';
export * from './metrics-service.js';
export * from './metrics-session.js';
export * from './metrics-store.js';
export * from './metrics-totals.js';
export * from './metrics-views.js';
export * from './prometheus.js';
export * from './ui-server.js';
