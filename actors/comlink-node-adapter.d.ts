// comlink ships its Node adapter without a resolvable declaration for this path.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  /** Adapts a Node MessagePort / Worker to comlink's Endpoint. */
  export default function nodeEndpoint(port: unknown): Endpoint;
}
