/** Routing: the routing table's owners and the directory every thread routes with. */
export * from './directory.js';
export * from './table.js';
