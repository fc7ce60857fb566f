/** Wire formats and message types: pure functions, no I/O. */
export * from './errors.js';
export * from './frame.js';
export * from './data-message.js';
export * from './control-message.js';
export * from './control-reconfigure.js';
export * from './external-message.js';
export * from './reconfigure.js';
export * from './address.js';
export * from './snapshot-file.js';
export * from './utf8.js';
export * from './sink-txn.js';
export * from './sink-txn-parser.js';
export * from './source-ack.js';
export * from './histogram.js';
export * from './metrics-report.js';
export * from './metrics-limits.js';
