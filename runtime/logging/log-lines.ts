/**
 * Log lines users and scripts look for, as Wallaroo's documentation teaches
 * them. Named constants, so a test can wait for exactly what users grep for.
 */
export const LogLine = {
  InitPhaseI: '|~~ INIT PHASE I: Initializing topology ~~|',
  InitPhaseII: '|~~ INIT PHASE II: Application is initialized! ~~|',
  InitPhaseIII: '|~~ INIT PHASE III: Application is ready to work! ~~|',
  RecoveringFromFiles: 'Recovering from recovery files!',
  AttemptingToRecover: 'Attempting to recover...',
  RecoveryComplete: '|~~ - Recovery COMPLETE - ~~|',
  ResumingProcessing: '~~~Resuming message processing.~~~',
  ShutdownComplete: 'Worker shut down cleanly.',
  /** Followed by ` host:port`: the external (admin) channel is up. */
  ExternalListening: 'external channel listening on',
} as const;
