/**
 * Security of the cluster channels: the cluster secret's handshake and TLS
 * on every control, data, external and metrics connection (docs/cluster.md,
 * "Securing a cluster").
 */
export * from './channel-security.js';
export * from './auth-handshake.js';
export * from './channel-socket.js';
