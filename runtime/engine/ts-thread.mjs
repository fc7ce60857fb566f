// Runs a scheduler thread from TypeScript sources (tests, `tsx`): registers
// tsx in this thread, then imports the entry given as the first argument.
// The built package (dist/) starts thread-main.js directly and never uses this.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
